// PATCH(airbyte-wrapper): not upstream's. A test of `Request::respond_in_place` (PATCHES.md,
// `src/request.rs`), written for this fork; MIT OR Apache-2.0, like the rest of the crate (see
// LICENSE-MIT and LICENSE-APACHE in this directory).

extern crate tiny_http;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use tiny_http::{ConnectionLimits, Handler, Request, Response, Server};

const PATIENCE: Duration = Duration::from_secs(10);

/// Answers in place, tries to answer again, then reads the request: the second answer must not
/// be written, and the request must still say what it was.
struct Twice;

impl Handler for Twice {
    fn handle(&self, mut request: Request) {
        request
            .respond_in_place(Response::from_string(request.url().to_owned()))
            .unwrap();
        request
            .respond_in_place(Response::from_string("again"))
            .unwrap();
        assert!(request.url().starts_with("/first") || request.url().starts_with("/second"));
    }
}

#[test]
fn a_request_answered_in_place_is_answered_once_and_kept() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = ConnectionLimits {
        read_timeout: Some(PATIENCE),
        write_timeout: Some(PATIENCE),
        max_connections: 10,
        max_body_bytes: 1024,
        request_timeout: Some(PATIENCE),
    };
    let server = Server::with_handler(listener, limits, Arc::new(Twice)).unwrap();
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(PATIENCE)).unwrap();
    conn.write_all(
        b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut answers = String::new();
    conn.read_to_string(&mut answers).unwrap();
    assert_eq!(
        answers.matches("HTTP/1.1 200 OK\r\n").count(),
        2,
        "{answers}"
    );
    assert!(answers.contains("\r\n\r\n/first"), "{answers}");
    assert!(answers.ends_with("\r\n\r\n/second"), "{answers}");
    assert!(!answers.contains("again"), "{answers}");
    drop(server);
}
