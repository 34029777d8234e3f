// PATCH(airbyte-wrapper): not upstream's. Tests of `Request::pause` (PATCHES.md, `src/client.rs`
// and `src/request.rs`), written for this fork; MIT OR Apache-2.0, like the rest of the crate (see
// LICENSE-MIT and LICENSE-APACHE in this directory).
//
// A handler that waits for a long job between polls pauses with `Request::pause`, which must end
// at once when the client leaves or the server begins to stop, and otherwise after its timeout.
// Over real sockets on 127.0.0.1: a handler answers the `Paused` it got, and tells the test through
// a channel how long the pause took. A pause that should end early is given 30 s and must end
// within `PROMPT`; nothing waits for readiness but on a channel.

extern crate tiny_http;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tiny_http::{ConnectionLimits, Handler, Paused, Request, Response, Server, TestRequest};

#[allow(dead_code)]
mod support;

/// Read timeouts of the server's sockets and the test's waits on channels.
const PATIENCE: Duration = Duration::from_secs(10);
/// How soon a pause of 30 s must end when the client leaves or the server stops: far more than it
/// takes (milliseconds), far less than the pause.
const PROMPT: Duration = Duration::from_secs(5);
/// A pause that nothing but the client leaving or a stop may end in time.
const LONG: &str = "30000";

/// A pause as the handler saw it.
#[derive(Debug)]
struct Seen {
    url: String,
    paused: Paused,
    took: Duration,
}

/// Pauses for the milliseconds that end the URL (`/pause/200`), first waiting to be let through
/// for `/gated/..`, and answers `<url> <Paused>`, `Content-Length` and all.
struct Pauser {
    /// The URL, sent just before the pause (or the gate).
    pausing: Mutex<Sender<String>>,
    gate: Mutex<Receiver<()>>,
    seen: Mutex<Sender<Seen>>,
}

impl Handler for Pauser {
    fn handle(&self, request: Request) {
        let url = request.url().to_owned();
        let millis: u64 = url.rsplit('/').next().unwrap().parse().unwrap();
        let _ = self.pausing.lock().unwrap().send(url.clone());
        if url.starts_with("/gated/") {
            self.gate.lock().unwrap().recv_timeout(PATIENCE).unwrap();
        }
        let start = Instant::now();
        let paused = request.pause(Duration::from_millis(millis));
        let took = start.elapsed();
        let body = format!("{url} {paused:?}");
        let _ = self.seen.lock().unwrap().send(Seen { url, paused, took });
        let _ = request.respond(Response::from_string(body));
    }
}

/// A server with a `Pauser`, and the test's ends of its channels.
struct Setup {
    server: Server,
    addr: String,
    pausing: Receiver<String>,
    gate: Sender<()>,
    seen: Receiver<Seen>,
}

impl Setup {
    fn new() -> Setup {
        let (pausing_tx, pausing) = mpsc::channel();
        let (gate, gate_rx) = mpsc::channel();
        let (seen_tx, seen) = mpsc::channel();
        let handler = Pauser {
            pausing: Mutex::new(pausing_tx),
            gate: Mutex::new(gate_rx),
            seen: Mutex::new(seen_tx),
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = Server::with_handler(listener, limits(), Arc::new(handler)).unwrap();
        Setup {
            server,
            addr,
            pausing,
            gate,
            seen,
        }
    }

    fn connect(&self) -> TcpStream {
        let conn = TcpStream::connect(&self.addr).unwrap();
        conn.set_read_timeout(Some(PATIENCE)).unwrap();
        conn
    }

    /// Waits until the handler is about to pause for `url`.
    fn pausing(&self, url: &str) {
        assert_eq!(self.pausing.recv_timeout(PATIENCE).unwrap(), url);
    }

    /// How the pause for `url` ended, waiting `within` at most.
    fn seen(&self, url: &str, within: Duration) -> Seen {
        let seen = self
            .seen
            .recv_timeout(within)
            .unwrap_or_else(|e| panic!("the pause for {url} did not end within {within:?}: {e}"));
        assert_eq!(seen.url, url);
        seen
    }
}

fn limits() -> ConnectionLimits {
    ConnectionLimits {
        read_timeout: Some(PATIENCE),
        write_timeout: Some(PATIENCE),
        max_connections: 100,
        max_body_bytes: 1024,
        request_timeout: Some(PATIENCE),
    }
}

fn request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
}

/// Reads one answer: its head, and its body by its `Content-Length`.
fn read_answer(conn: &mut impl Read) -> (String, String) {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(conn.read(&mut byte).unwrap(), 1, "the answer was cut off");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("Content-Length: "))
        .expect("a Content-Length")
        .parse()
        .unwrap();
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body).unwrap();
    (head, String::from_utf8(body).unwrap())
}

/// What the connection gives until it closes, which must be nothing.
fn assert_closed(conn: &mut impl Read) {
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&rest),
        "",
        "nothing after the answer"
    );
}

#[test]
fn a_pause_ends_elapsed_after_its_timeout() {
    let _bound = support::bound();
    let setup = Setup::new();
    let mut conn = setup.connect();
    let sent = Instant::now();
    conn.write_all(request("/pause/200").as_bytes()).unwrap();

    let seen = setup.seen("/pause/200", PATIENCE);
    assert_eq!(seen.paused, Paused::Elapsed);
    assert!(seen.took >= Duration::from_millis(200), "{seen:?}");
    assert!(seen.took < PROMPT, "{seen:?}");
    let (head, body) = read_answer(&mut conn);
    assert!(sent.elapsed() >= Duration::from_millis(200));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(!head.contains("Connection: close"), "{head}");
    assert_eq!(body, "/pause/200 Elapsed");
}

#[test]
fn a_pause_ends_gone_when_the_client_closes() {
    let _bound = support::bound();
    let setup = Setup::new();
    let mut conn = setup.connect();
    let url = format!("/pause/{LONG}");
    conn.write_all(request(&url).as_bytes()).unwrap();
    setup.pausing(&url);
    drop(conn);

    let seen = setup.seen(&url, PROMPT);
    assert_eq!(seen.paused, Paused::Gone, "{seen:?}");
    assert!(setup.server.wait_closed(Some(PATIENCE)));
}

/// A half-close cannot be told from a close without writing to the client: the pause ends `Gone`
/// too. The client can still read the answer.
#[test]
fn a_pause_ends_gone_when_the_client_shuts_down_its_sending_side() {
    let _bound = support::bound();
    let setup = Setup::new();
    let mut conn = setup.connect();
    let url = format!("/pause/{LONG}");
    conn.write_all(request(&url).as_bytes()).unwrap();
    setup.pausing(&url);
    conn.shutdown(Shutdown::Write).unwrap();

    let seen = setup.seen(&url, PROMPT);
    assert_eq!(seen.paused, Paused::Gone, "{seen:?}");
    let (_, body) = read_answer(&mut conn);
    assert_eq!(body, format!("{url} Gone"));
    assert_closed(&mut conn);
    // Closed by the client too, so that the server's lingering close ends at once.
    drop(conn);
    assert!(setup.server.wait_closed(Some(PATIENCE)));
}

#[test]
fn a_pause_ends_stopping_when_the_server_drains() {
    let _bound = support::bound();
    let setup = Setup::new();
    let mut conn = setup.connect();
    let url = format!("/pause/{LONG}");
    conn.write_all(request(&url).as_bytes()).unwrap();
    setup.pausing(&url);
    setup.server.drain();

    let seen = setup.seen(&url, PROMPT);
    assert_eq!(seen.paused, Paused::Stopping, "{seen:?}");
    let (head, body) = read_answer(&mut conn);
    assert!(head.contains("Connection: close"), "{head}");
    assert_eq!(body, format!("{url} Stopping"));
    assert_closed(&mut conn);
    // Closed by the client too, so that the server's lingering close ends at once.
    drop(conn);
    assert!(setup.server.wait_closed(Some(PATIENCE)));
}

#[test]
fn a_pause_begun_after_a_drain_ends_stopping_at_once() {
    let _bound = support::bound();
    let setup = Setup::new();
    let mut conn = setup.connect();
    let url = format!("/gated/{LONG}");
    conn.write_all(request(&url).as_bytes()).unwrap();
    // The handler runs (the connection is busy) when the stop begins, and pauses after.
    setup.pausing(&url);
    setup.server.drain();
    setup.gate.send(()).unwrap();

    let seen = setup.seen(&url, PROMPT);
    assert_eq!(seen.paused, Paused::Stopping, "{seen:?}");
    assert!(seen.took < Duration::from_secs(1), "{seen:?}");
    let (head, body) = read_answer(&mut conn);
    assert!(head.contains("Connection: close"), "{head}");
    assert_eq!(body, format!("{url} Stopping"));
    assert_closed(&mut conn);
    // Closed by the client too, so that the server's lingering close ends at once.
    drop(conn);
    assert!(setup.server.wait_closed(Some(PATIENCE)));
}

/// Both requests in one write: the connection has read the second ahead, into its buffer, and the
/// socket has nothing more to show. The pause waits its whole time all the same.
#[test]
fn pipelined_requests_sent_at_once_wait_for_the_first_ones_pause() {
    let _bound = support::bound();
    let setup = Setup::new();
    let mut conn = setup.connect();
    let both = request("/pause/300") + &request("/pause/0");
    conn.write_all(both.as_bytes()).unwrap();

    let seen = setup.seen("/pause/300", PATIENCE);
    assert_eq!(seen.paused, Paused::Elapsed, "{seen:?}");
    assert!(seen.took >= Duration::from_millis(300), "{seen:?}");
    assert_eq!(setup.seen("/pause/0", PATIENCE).paused, Paused::Elapsed);
    assert_eq!(read_answer(&mut conn).1, "/pause/300 Elapsed");
    assert_eq!(read_answer(&mut conn).1, "/pause/0 Elapsed");
}

/// The second request arrives during the first one's pause: the socket has bytes to show, so the
/// pause can no longer wait in `peek`, and sleeps; it still waits its whole time.
#[test]
fn a_request_pipelined_during_a_pause_waits_for_it() {
    let _bound = support::bound();
    let setup = Setup::new();
    let mut conn = setup.connect();
    conn.write_all(request("/pause/300").as_bytes()).unwrap();
    setup.pausing("/pause/300");
    conn.write_all(request("/pause/0").as_bytes()).unwrap();

    let seen = setup.seen("/pause/300", PATIENCE);
    assert_eq!(seen.paused, Paused::Elapsed, "{seen:?}");
    assert!(seen.took >= Duration::from_millis(300), "{seen:?}");
    assert_eq!(setup.seen("/pause/0", PATIENCE).paused, Paused::Elapsed);
    assert_eq!(read_answer(&mut conn).1, "/pause/300 Elapsed");
    assert_eq!(read_answer(&mut conn).1, "/pause/0 Elapsed");
}

/// A stop wakes a pause that sleeps because a pipelined request has arrived; that request is not
/// served (the answer before it closed the connection), as a stop does with any request behind a
/// closing answer.
#[test]
fn a_drain_ends_a_pause_with_a_pipelined_request_behind_it() {
    let _bound = support::bound();
    let setup = Setup::new();
    let mut conn = setup.connect();
    let url = format!("/pause/{LONG}");
    conn.write_all(request(&url).as_bytes()).unwrap();
    setup.pausing(&url);
    conn.write_all(request("/pause/0").as_bytes()).unwrap();
    setup.server.drain();

    let seen = setup.seen(&url, PROMPT);
    assert_eq!(seen.paused, Paused::Stopping, "{seen:?}");
    let (head, body) = read_answer(&mut conn);
    assert!(head.contains("Connection: close"), "{head}");
    assert_eq!(body, format!("{url} Stopping"));
    assert_closed(&mut conn);
    // Closed by the client too, so that the server's lingering close ends at once.
    drop(conn);
    assert!(setup.server.wait_closed(Some(PATIENCE)));
}

/// As above, with the pipelined request sent with the first, so read ahead into the connection's
/// buffer: the pause waits in `peek`, which the stop ends.
#[test]
fn a_drain_ends_a_pause_with_a_pipelined_request_read_ahead() {
    let _bound = support::bound();
    let setup = Setup::new();
    let mut conn = setup.connect();
    let url = format!("/pause/{LONG}");
    let both = request(&url) + &request("/pause/0");
    conn.write_all(both.as_bytes()).unwrap();
    setup.pausing(&url);
    setup.server.drain();

    let seen = setup.seen(&url, PROMPT);
    assert_eq!(seen.paused, Paused::Stopping, "{seen:?}");
    let (head, body) = read_answer(&mut conn);
    assert!(head.contains("Connection: close"), "{head}");
    assert_eq!(body, format!("{url} Stopping"));
    assert_closed(&mut conn);
    // Closed by the client too, so that the server's lingering close ends at once.
    drop(conn);
    assert!(setup.server.wait_closed(Some(PATIENCE)));
}

/// After a pause the connection is as before: it keeps its read timeout (10 s, not the pause's
/// 200 ms, which would close it while idle), serves the next request, and a stop closes it once
/// idle.
#[test]
fn after_a_pause_the_connection_serves_the_next_request_and_a_stop_closes_it() {
    let _bound = support::bound();
    let setup = Setup::new();
    let mut conn = setup.connect();
    conn.write_all(request("/pause/200").as_bytes()).unwrap();
    assert_eq!(read_answer(&mut conn).1, "/pause/200 Elapsed");

    // Idle for three times the pause: the connection stays open.
    conn.set_read_timeout(Some(Duration::from_millis(600)))
        .unwrap();
    let idle = conn.read(&mut [0u8; 1]);
    assert!(
        matches!(&idle, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "the idle connection stays open: {idle:?}"
    );
    conn.set_read_timeout(Some(PATIENCE)).unwrap();

    conn.write_all(request("/pause/0").as_bytes()).unwrap();
    let (head, body) = read_answer(&mut conn);
    assert!(!head.contains("Connection: close"), "{head}");
    assert_eq!(body, "/pause/0 Elapsed");

    setup.server.drain();
    assert_closed(&mut conn);
    // Closed by the client too, so that the server's lingering close ends at once.
    drop(conn);
    assert!(setup.server.wait_closed(Some(PATIENCE)));
}

/// A request queued for `recv()` has no connection to watch: it sleeps, and tells of a stop begun
/// before.
#[test]
fn a_queued_request_sleeps_its_pause() {
    let _bound = support::bound();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::from_listener_with_limits(listener, limits()).unwrap();
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(PATIENCE)).unwrap();
    let both = request("/a") + &request("/b");
    conn.write_all(both.as_bytes()).unwrap();

    let first = server.recv_timeout(PATIENCE).unwrap().unwrap();
    let start = Instant::now();
    assert_eq!(first.pause(Duration::from_millis(100)), Paused::Elapsed);
    assert!(start.elapsed() >= Duration::from_millis(100));
    first.respond(Response::from_string("a")).unwrap();

    let second = server.recv_timeout(PATIENCE).unwrap().unwrap();
    server.drain();
    let start = Instant::now();
    assert_eq!(second.pause(Duration::from_secs(30)), Paused::Stopping);
    assert!(start.elapsed() < PROMPT);
    second.respond(Response::from_string("b")).unwrap();
    assert_eq!(read_answer(&mut conn).1, "a");
    let (head, body) = read_answer(&mut conn);
    assert!(head.contains("Connection: close"), "{head}");
    assert_eq!(body, "b");
}

#[test]
fn a_made_up_request_sleeps_its_pause() {
    let request: Request = TestRequest::new().into();
    let start = Instant::now();
    assert_eq!(request.pause(Duration::from_millis(50)), Paused::Elapsed);
    assert!(start.elapsed() >= Duration::from_millis(50));
}

/// A UNIX socket cannot be watched for the client, but a stop still ends its pause at once.
#[cfg(unix)]
#[test]
fn a_pause_on_a_unix_socket_ends_on_its_timeout_or_a_stop() {
    use std::os::unix::net::{UnixListener, UnixStream};

    let _bound = support::bound();
    let socket =
        std::env::temp_dir().join(format!("tiny-http-pause-test-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let (pausing_tx, pausing) = mpsc::channel();
    let (_gate, gate_rx) = mpsc::channel();
    let (seen_tx, seen) = mpsc::channel();
    let handler = Pauser {
        pausing: Mutex::new(pausing_tx),
        gate: Mutex::new(gate_rx),
        seen: Mutex::new(seen_tx),
    };
    let listener = UnixListener::bind(&socket).unwrap();
    let server = Server::with_handler(listener, limits(), Arc::new(handler)).unwrap();
    let mut conn = UnixStream::connect(&socket).unwrap();
    conn.set_read_timeout(Some(PATIENCE)).unwrap();

    conn.write_all(request("/pause/100").as_bytes()).unwrap();
    let first: Seen = seen.recv_timeout(PATIENCE).unwrap();
    assert_eq!(first.paused, Paused::Elapsed, "{first:?}");
    assert!(first.took >= Duration::from_millis(100), "{first:?}");
    assert_eq!(read_answer(&mut conn).1, "/pause/100 Elapsed");

    let url = format!("/pause/{LONG}");
    conn.write_all(request(&url).as_bytes()).unwrap();
    assert_eq!(pausing.recv_timeout(PATIENCE).unwrap(), "/pause/100");
    assert_eq!(pausing.recv_timeout(PATIENCE).unwrap(), url);
    server.drain();
    let second: Seen = seen.recv_timeout(PROMPT).unwrap();
    assert_eq!(second.paused, Paused::Stopping, "{second:?}");
    let (head, body) = read_answer(&mut conn);
    assert!(head.contains("Connection: close"), "{head}");
    assert_eq!(body, format!("{url} Stopping"));
    drop(conn);
    assert!(server.wait_closed(Some(PATIENCE)));
}
