//! Hostile clients: each gets a 4xx or a closed connection, never a crash or a stuck worker.
//! Raw sockets, because a well-behaved HTTP client cannot send most of these.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use support::{FakeAirbyte, Service};

fn connect(service: &Service) -> TcpStream {
    let conn = TcpStream::connect(service.url.trim_start_matches("http://")).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    conn
}

/// Sends `head` and `body` (best effort: the service may close early), returns the status line
/// of the answer, or `None` when the connection was closed without one.
fn exchange(service: &Service, head: &str, body: &[u8]) -> Option<String> {
    let mut conn = connect(service);
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body);
    let _ = conn.shutdown(Shutdown::Write);
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).to_string();
    answer
        .lines()
        .next()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
}

fn post_head(length: usize) -> String {
    format!("POST /datasource HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n")
}

fn assert_4xx_or_closed(status: Option<String>, what: &str) {
    if let Some(line) = status {
        let code: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        assert!((400..500).contains(&code), "{what}: {line}");
    }
}

fn assert_still_serving(service: &mut Service) {
    assert!(service.is_running(), "the service is still running");
    assert_eq!(service.get("/healthz").status, 200);
}

#[test]
fn hostile_requests_get_4xx_or_a_closed_connection() {
    let fake = FakeAirbyte::start();
    let mut service = Service::start(&fake, &[("WORKERS", "2"), ("CLIENT_TIMEOUT_SECS", "2")]);
    let huge_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let many_headers = format!("GET /healthz HTTP/1.1\r\n{}\r\n", "X-H: 1\r\n".repeat(1000));
    let deep = format!(
        r#"{{"name":"n","type":"mysql","config":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let huge_number = format!(
        r#"{{"name":1{},"type":"mysql","config":{{}}}}"#,
        "0".repeat(5000)
    );
    let ten_mb_type = format!(
        r#"{{"name":"n","type":"{}","config":{{}}}}"#,
        "t".repeat(10 << 20)
    );
    let body = br#"{"name":"n","type":"nope","config":{}}"#;
    let cases: Vec<(&str, String, Vec<u8>)> = vec![
        ("header line over the limit", huge_header, vec![]),
        ("too many headers", many_headers, vec![]),
        ("body longer than Content-Length", post_head(10), body.to_vec()),
        ("Content-Length far beyond memory", post_head(1_000_000_000_000_000), b"{".to_vec()),
        ("Content-Length beyond usize", "POST /datasource HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999999999999999999\r\n\r\n".into(), b"{}".to_vec()),
        ("invalid UTF-8", post_head(8), b"{\"\xff\xfe\": 1}".to_vec()),
        ("nesting 100k levels deep", post_head(deep.len()), deep.into_bytes()),
        ("a number of 5000 digits", post_head(huge_number.len()), huge_number.into_bytes()),
        ("duplicate keys", post_head(30), br#"{"name":"a","name":"b","c":1}"#.to_vec()),
        ("a type of 10 MB", post_head(ten_mb_type.len()), ten_mb_type.into_bytes()),
        ("garbage request line", "\x16\x03\x01\x02\x00\x01\x00\r\n\r\n".into(), vec![]),
        ("unknown transfer encoding", "POST /datasource HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n".into(), b"zzzz".to_vec()),
        ("bad chunk sizes", "POST /datasource HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".into(), b"zz\r\nabc\r\n0\r\n\r\n".to_vec()),
    ];
    // Header values that are not ASCII are answered, not dropped; one the service reads is refused.
    for (head, status) in [
        ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Name: caf\u{e9}\r\nConnection: close\r\n\r\n", "HTTP/1.1 200"),
        ("POST /sink HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k\u{e9}y\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n", "HTTP/1.1 400"),
    ] {
        let mut conn = connect(&service);
        conn.write_all(head.as_bytes()).unwrap();
        conn.write_all(b"{}").unwrap();
        let mut answer = Vec::new();
        let _ = conn.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with(status), "{text}");
        if status.ends_with("400") {
            assert!(text.contains("Idempotency-Key"), "{text}");
        }
    }
    for (what, head, body) in cases {
        let status = exchange(&service, &head, &body);
        assert_4xx_or_closed(status, what);
        assert_still_serving(&mut service);
    }
    let preface = exchange(&service, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"");
    assert!(
        preface
            .as_deref()
            .is_some_and(|l| l.starts_with("HTTP/1.1 505")),
        "the HTTP/2 preface: {preface:?}"
    );
    assert_still_serving(&mut service);
    assert!(
        fake.calls().iter().all(|c| !c.ends_with("/create")),
        "nothing hostile was created: {:?}",
        fake.calls()
    );
}

#[test]
fn chunked_bodies_are_read() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[]);
    let body = br#"{"name":"n","type":"mysql","config":{"host":"h"}}"#;
    let (a, b) = body.split_at(20);
    let chunked = [
        format!("{:x}\r\n", a.len()).into_bytes(),
        a.to_vec(),
        b"\r\n".to_vec(),
        format!("{:x}\r\n", b.len()).into_bytes(),
        b.to_vec(),
        b"\r\n0\r\n\r\n".to_vec(),
    ]
    .concat();
    let head = "POST /datasource HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let status = exchange(&service, head, &chunked).unwrap();
    assert!(status.contains(" 201 "), "{status}");
    assert_eq!(
        fake.last_body("sources/create")["connectionConfiguration"]["host"],
        "h"
    );
}

#[test]
fn chunked_bodies_over_the_limit_are_413() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[("MAX_BODY_BYTES", "1000")]);
    let chunk = vec![b' '; 4000];
    let body = [
        format!("{:x}\r\n", chunk.len()).into_bytes(),
        chunk,
        b"\r\n0\r\n\r\n".to_vec(),
    ]
    .concat();
    let head = "POST /sink HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let status = exchange(&service, head, &body).unwrap();
    assert!(status.contains(" 413 "), "{status}");
}

#[test]
fn a_client_that_stalls_mid_body_does_not_hold_a_worker() {
    let fake = FakeAirbyte::start();
    let mut service = Service::start(&fake, &[("WORKERS", "1"), ("CLIENT_TIMEOUT_SECS", "1")]);
    let mut stalled = connect(&service);
    stalled.write_all(post_head(5000).as_bytes()).unwrap();
    stalled.write_all(b"{\"name\":").unwrap();

    let started = Instant::now();
    let mut answer = String::new();
    let _ = stalled.read_to_string(&mut answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the stalled request was given up"
    );
    assert_still_serving(&mut service);
}

#[test]
fn a_client_trickling_its_body_is_cut_off_and_does_not_hold_the_worker() {
    let fake = FakeAirbyte::start();
    let mut service = Service::start(&fake, &[("WORKERS", "1"), ("CLIENT_TIMEOUT_SECS", "1")]);
    let mut slow = connect(&service);
    slow.write_all(post_head(5000).as_bytes()).unwrap();
    let mut reader = slow.try_clone().unwrap();
    // The client keeps trickling a byte every 100 ms for as long as the connection lets it.
    let trickler = std::thread::spawn(move || {
        for _ in 0..100 {
            if slow.write_all(b" ").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let started = Instant::now();
    let mut line = [0u8; 12];
    reader.read_exact(&mut line).unwrap();
    assert_eq!(&line, b"HTTP/1.1 408");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered once the body timeout passed"
    );

    assert_still_serving(&mut service);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the only worker was freed while the client still trickled"
    );
    drop(reader);
    trickler.join().unwrap();
}

#[test]
fn idle_connections_are_closed_after_the_client_timeout() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[("CLIENT_TIMEOUT_SECS", "1")]);
    let mut idle = connect(&service);
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = idle.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn connections_over_the_limit_are_refused_with_503() {
    let fake = FakeAirbyte::start();
    let service = Service::start(
        &fake,
        &[("MAX_CONNECTIONS", "3"), ("CLIENT_TIMEOUT_SECS", "30")],
    );
    let held: Vec<TcpStream> = (0..3).map(|_| connect(&service)).collect();
    // The three are registered once each has been accepted: show it by a request on each.
    for mut conn in &held {
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 12];
        conn.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
    }
    let status = exchange(&service, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", b"").unwrap();
    assert!(status.starts_with("HTTP/1.1 503"), "{status}");
    drop(held);
}

#[test]
fn header_lines_are_read_whole_however_they_arrive_and_up_to_the_limit() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[]);
    // One byte per write: the request line, each header and the CRLFs between them arrive split
    // at every possible place.
    let mut conn = connect(&service);
    conn.set_nodelay(true).unwrap();
    let request = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Split: a b\r\nConnection: close\r\n\r\n";
    for byte in request.as_bytes() {
        conn.write_all(std::slice::from_ref(byte)).unwrap();
    }
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // A header line (without its CRLF) of up to 8191 bytes is read; one byte more is refused.
    let with_line_of = |length: usize| {
        let name = "X-Pad: ";
        let line = format!("{name}{}", "p".repeat(length - name.len()));
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{line}\r\nConnection: close\r\n\r\n")
    };
    let status = exchange(&service, &with_line_of(8191), b"").unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let status = exchange(&service, &with_line_of(8192), b"").unwrap();
    assert!(status.starts_with("HTTP/1.1 431"), "{status}");
}
