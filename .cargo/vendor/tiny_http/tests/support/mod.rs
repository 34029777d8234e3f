// tiny_http 0.12.0's own test suite: tests/support/mod.rs as of the 0.12.0 tag of
// https://github.com/tiny-http/tiny-http (the release this fork started from).
// Copyright (c) 2014-2019 The tiny-http contributors; MIT OR Apache-2.0, like the rest of the
// crate (see LICENSE-MIT and LICENSE-APACHE in this directory).
// Every change made for this fork is marked PATCH(airbyte-wrapper), with why (PATCHES.md, "Tests").

use std::io::Write;
use std::net::TcpStream;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

/// PATCH(airbyte-wrapper): how long a test client waits for any one read. Upstream's tests read
/// without a bound (their `client.set_keepalive(..)` lines are FIXMEs): a server that never
/// answers or never closes would hang them. 10 s is far beyond what any answer here takes.
pub const CLIENT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// PATCH(airbyte-wrapper): how long any one test may run (they take 2 s at most).
pub const TEST_BOUND: Duration = Duration::from_secs(60);

/// PATCH(airbyte-wrapper): a bound on the test that holds it, so that `make test` fails instead of
/// hanging when the fork stops delivering or answering something a test waits for: upstream's
/// tests also wait without a bound in `recv()`, `incoming_requests()`, `join()` and channel
/// receives, which nothing else can interrupt. Dropped when the test ends (or panics); if the test
/// is still running after `TEST_BOUND`, the test binary exits, naming it.
#[must_use = "the bound lasts as long as the value is held"]
pub struct Bound(#[allow(dead_code)] mpsc::Sender<()>);

pub fn bound() -> Bound {
    // libtest names each test's thread after the test.
    let name = thread::current().name().unwrap_or("a test").to_owned();
    let (done, ended) = mpsc::channel::<()>();
    thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = ended.recv_timeout(TEST_BOUND) {
            // Straight to stderr: `eprintln!` in a test's thread (and in those it starts) is
            // captured, and would be lost with the process.
            let _ = writeln!(
                std::io::stderr(),
                "{name} still runs after {TEST_BOUND:?}: it hangs; ending this test binary"
            );
            std::process::exit(101);
        }
    });
    Bound(done)
}

/// Creates a server and a client connected to the server.
pub fn new_one_server_one_client() -> (tiny_http::Server, TcpStream) {
    let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // PATCH(airbyte-wrapper): reads bounded (CLIENT_READ_TIMEOUT).
    client.set_read_timeout(Some(CLIENT_READ_TIMEOUT)).unwrap();
    (server, client)
}

/// Creates a "hello world" server with a client connected to the server.
///
/// The server will automatically close after 3 seconds.
pub fn new_client_to_hello_world_server() -> TcpStream {
    let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // PATCH(airbyte-wrapper): reads bounded (CLIENT_READ_TIMEOUT).
    client.set_read_timeout(Some(CLIENT_READ_TIMEOUT)).unwrap();

    thread::spawn(move || {
        let mut cycles = 3 * 1000 / 20;

        loop {
            if let Some(rq) = server.try_recv().unwrap() {
                let response = tiny_http::Response::from_string("hello world".to_string());
                rq.respond(response).unwrap();
            }

            thread::sleep(Duration::from_millis(20));

            cycles -= 1;
            if cycles == 0 {
                break;
            }
        }
    });

    client
}
