//! Message framing: where one request ends and the next begins (RFC 9112 §6, §7; RFC 9110 §8.6).
//!
//! A server and a proxy in front of it that disagree on a request's length let a client hide a
//! second request inside the first ("request smuggling"). So every request whose framing is
//! ambiguous or malformed is refused with one problem answer and `Connection: close`, and the
//! server closes the connection itself, although the client keeps it open and has already sent
//! a second, complete request behind the first. That second request reads a source, so the fake
//! Airbyte shows whether it was served. Well-framed requests are served: pipelined, with
//! `Expect: 100-continue`, in absolute form, and from clients that stall or reset.
//!
//! Raw sockets, because an HTTP client library cannot send most of these bytes, and because the
//! tests count the answers on a connection and see whether the server closed it. Every read has a
//! timeout, so that a server that waits where it should answer fails the test instead of hanging.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{FakeAirbyte, Service, MYSQL_SOURCE};

/// How long a client waits for the server to answer and close; far below every stall the tests
/// set up (`CLIENT_TIMEOUT_SECS`), so that only a server that answers at once passes.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A create body of 49 bytes (0x31): `Content-Length: 49` and a chunk of size `31` both frame it.
const BODY49: &str = r#"{"name":"n","type":"mysql","config":{"host":"h"}}"#;

/// Workers for the services that take tables of refusals at once: against a server that wrongly
/// waits on some of them, the others still get a worker and fail for their own reason.
const TABLE_WORKERS: &str = "16";

const HEALTHZ_AND_CLOSE: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

// ---------------------------------------------------------------------------------------------
// Reading what the server sends.

/// One HTTP response as received.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// How reading a connection ended.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ending {
    /// The server closed the connection (EOF).
    Closed,
    /// The server reset the connection.
    Reset,
    /// Nothing more came within the read timeout; the connection is still open.
    TimedOut,
    /// The reader had what it waited for; the connection is still open.
    Enough,
}

/// Everything received on one connection.
struct Transcript {
    raw: Vec<u8>,
    responses: Vec<Response>,
    /// Bytes after the last complete response.
    rest: usize,
    ending: Ending,
    elapsed: Duration,
}

impl Transcript {
    fn statuses(&self) -> Vec<u16> {
        self.responses.iter().map(|r| r.status).collect()
    }

    /// Whether the server ended the connection (EOF, or a reset after its answer).
    fn closed(&self) -> bool {
        matches!(self.ending, Ending::Closed | Ending::Reset)
    }

    fn describe(&self) -> String {
        let shown = &self.raw[..self.raw.len().min(600)];
        format!(
            "statuses {:?}, connection {:?} after {:.1} s, {} bytes: {:?}{}",
            self.statuses(),
            self.ending,
            self.elapsed.as_secs_f64(),
            self.raw.len(),
            String::from_utf8_lossy(shown),
            if shown.len() < self.raw.len() {
                "..."
            } else {
                ""
            }
        )
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Decodes a chunked body at the start of `bytes`: the body and the bytes it took, or `None`
/// while it is incomplete.
fn dechunk(bytes: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = at + find(&bytes[at..], b"\r\n")?;
        let line = std::str::from_utf8(&bytes[at..line_end]).ok()?;
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            // Trailer fields, then an empty line.
            loop {
                let end = at + find(&bytes[at..], b"\r\n")?;
                let empty = end == at;
                at = end + 2;
                if empty {
                    return Some((body, at));
                }
            }
        }
        body.extend_from_slice(bytes.get(at..at + size)?);
        at += size + 2;
        if at > bytes.len() {
            return None;
        }
    }
}

/// The complete responses at the start of `bytes`, and how many bytes they took. A response
/// without a length runs to the end of the connection, so it is complete only when `at_eof`.
fn parse_responses(bytes: &[u8], at_eof: bool) -> (Vec<Response>, usize) {
    let mut responses = Vec::new();
    let mut at = 0;
    while let Some(head_len) = find(&bytes[at..], b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&bytes[at..at + head_len]).to_string();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let Some(status) = status_line
            .strip_prefix("HTTP/1.")
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse::<u16>().ok())
        else {
            break;
        };
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect();
        let response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        let start = at + head_len + 4;
        let rest = &bytes[start..];
        let (body, taken) = if status < 200 || status == 204 || status == 304 {
            (Vec::new(), 0)
        } else if response.has_token("Transfer-Encoding", "chunked") {
            match dechunk(rest) {
                Some(found) => found,
                None => break,
            }
        } else if let Some(length) = response.header("Content-Length") {
            match length.parse::<usize>() {
                Ok(n) if n <= rest.len() => (rest[..n].to_vec(), n),
                _ => break,
            }
        } else if at_eof {
            (rest.to_vec(), rest.len())
        } else {
            break;
        };
        responses.push(Response { body, ..response });
        at = start + taken;
    }
    (responses, at)
}

fn address(service: &Service) -> &str {
    service.url.trim_start_matches("http://")
}

fn connect(addr: &str) -> TcpStream {
    let conn = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    conn.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    conn
}

/// Reads until the server closes the connection, `enough` says so, or the read timeout passes.
fn read_until(conn: &mut TcpStream, enough: impl Fn(&[u8]) -> bool) -> Transcript {
    let started = Instant::now();
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let ending = loop {
        if enough(&raw) {
            break Ending::Enough;
        }
        match conn.read(&mut buf) {
            Ok(0) => break Ending::Closed,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break Ending::TimedOut
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break Ending::Reset,
            Err(e) => panic!("reading the answer: {e}"),
        }
    };
    let at_eof = matches!(ending, Ending::Closed | Ending::Reset);
    let (responses, used) = parse_responses(&raw, at_eof);
    Transcript {
        rest: raw.len() - used,
        raw,
        responses,
        ending,
        elapsed: started.elapsed(),
    }
}

/// Reads until `count` complete responses have arrived (or the connection ends or times out).
fn read_responses(conn: &mut TcpStream, count: usize) -> Transcript {
    read_until(conn, |raw| parse_responses(raw, false).0.len() >= count)
}

/// Sends `bytes` on a fresh connection, keeps it open, and reads until the server closes it or
/// `timeout` passes.
fn exchange_within(addr: &str, bytes: &[u8], timeout: Duration) -> Transcript {
    let mut conn = connect(addr);
    conn.set_read_timeout(Some(timeout)).unwrap();
    // The server may close before it has read everything; what it answered is what counts.
    let _ = conn.write_all(bytes);
    read_until(&mut conn, |_| false)
}

fn exchange(addr: &str, bytes: &[u8]) -> Transcript {
    exchange_within(addr, bytes, READ_TIMEOUT)
}

// ---------------------------------------------------------------------------------------------
// Writing requests.

/// A request head: the request line, the header lines as given (they may hold stray bytes), and
/// the empty line.
fn head(request_line: &str, lines: &[&str]) -> Vec<u8> {
    let mut head = format!("{request_line}\r\n");
    for line in lines {
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// `POST /datasource` with `Host` and a JSON content type, then `lines`, then `body`.
fn create(version: &str, lines: &[&str], body: &[u8]) -> Vec<u8> {
    let mut all = vec!["Host: x", "Content-Type: application/json"];
    all.extend_from_slice(lines);
    [
        head(&format!("POST /datasource {version}"), &all),
        body.to_vec(),
    ]
    .concat()
}

/// `body` as one chunk and the last chunk.
fn chunked(body: &[u8]) -> Vec<u8> {
    [
        format!("{:x}\r\n", body.len()).into_bytes(),
        body.to_vec(),
        b"\r\n0\r\n\r\n".to_vec(),
    ]
    .concat()
}

/// A complete, valid request that reads a source the fake knows: what a smuggler hides.
fn smuggled(source_id: &str) -> Vec<u8> {
    format!("GET /datasource/{source_id} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

/// `POST /datasource` with `lines`, the `Content-Length` of `body`, and `body`.
fn with_length(lines: &[&str], body: &str) -> Vec<u8> {
    let length = format!("Content-Length: {}", body.len());
    let mut all = lines.to_vec();
    all.push(&length);
    create("HTTP/1.1", &all, body.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// What a refusal looks like.

struct Refusal {
    what: &'static str,
    request: Vec<u8>,
    /// The statuses allowed (the spec names one, but for the HTTP/2 preface).
    statuses: &'static [u16],
}

fn refusal(what: &'static str, request: Vec<u8>, statuses: &'static [u16]) -> Refusal {
    Refusal {
        what,
        request,
        statuses,
    }
}

/// What is wrong with `transcript` as a refusal: it must be exactly one problem answer with one
/// of `statuses`, marked `Connection: close`, after which the server closed the connection.
fn refusal_faults(transcript: &Transcript, statuses: &[u16]) -> Vec<String> {
    let mut wrong = Vec::new();
    match transcript.responses.first() {
        None => wrong.push("no answer".to_string()),
        Some(first) => {
            if !statuses.contains(&first.status) {
                wrong.push(format!("status {} instead of {statuses:?}", first.status));
            }
            let content_type = first.header("Content-Type");
            if content_type != Some("application/problem+json") {
                wrong.push(format!(
                    "Content-Type {content_type:?} instead of application/problem+json"
                ));
            } else {
                match serde_json::from_slice::<Value>(&first.body) {
                    Ok(body) => {
                        if body["status"] != first.status {
                            wrong.push(format!("problem status {}", body["status"]));
                        }
                        if body["detail"].as_str().is_none_or(str::is_empty) {
                            wrong.push("no problem detail".to_string());
                        }
                    }
                    Err(e) => wrong.push(format!("the problem is not JSON ({e})")),
                }
            }
            if !first.has_token("Connection", "close") {
                wrong.push("no Connection: close".to_string());
            }
        }
    }
    if transcript.responses.len() > 1 {
        wrong.push(format!(
            "{} answers on the connection instead of one",
            transcript.responses.len()
        ));
    }
    if transcript.rest > 0 {
        wrong.push(format!(
            "{} bytes that are not a complete answer",
            transcript.rest
        ));
    }
    if !transcript.closed() {
        wrong.push(format!(
            "the server left the connection open ({:?})",
            transcript.ending
        ));
    }
    wrong
}

/// Asserts that `transcript` is a refusal as [`refusal_faults`] says.
fn assert_refused(what: &str, transcript: &Transcript, statuses: &[u16]) {
    let wrong = refusal_faults(transcript, statuses);
    assert!(
        wrong.is_empty(),
        "{what}: {}\n  received {}",
        wrong.join("; "),
        transcript.describe()
    );
}

/// Whether a `GET /healthz` on a new connection is answered 200; what was received if not.
fn still_serving(addr: &str) -> Result<(), String> {
    let transcript = exchange(addr, HEALTHZ_AND_CLOSE);
    if transcript.statuses() == [200] {
        Ok(())
    } else {
        Err(transcript.describe())
    }
}

/// Cases sent at once. A server whose connection threads are all held by connections it wrongly
/// keeps open would otherwise show later cases as hangs that are not theirs.
const AT_ONCE: usize = 4;

/// Sends each request on its own connection, with a smuggled request behind it when `smuggle`,
/// and asserts that each is refused as [`refusal_faults`] says, that the service answers
/// `/healthz` afterwards, and that no smuggled request reached Airbyte and nothing was created.
/// Every case is run, so that one failure lists all that are wrong.
fn assert_refusals(service: &Service, fake: &FakeAirbyte, cases: Vec<Refusal>, smuggle: bool) {
    let addr = address(service);
    let sources: Vec<String> = cases.iter().map(|_| fake.seed_source()).collect();
    let mut faults: Vec<(Vec<String>, String)> = Vec::new();
    for batch in cases.chunks(AT_ONCE).zip(sources.chunks(AT_ONCE)) {
        thread::scope(|scope| {
            let running: Vec<_> = batch
                .0
                .iter()
                .zip(batch.1)
                .map(|(case, source)| {
                    scope.spawn(move || {
                        let mut bytes = case.request.clone();
                        if smuggle {
                            bytes.extend_from_slice(&smuggled(source));
                        }
                        let transcript = exchange(addr, &bytes);
                        let mut wrong = refusal_faults(&transcript, case.statuses);
                        if let Err(answer) = still_serving(addr) {
                            wrong.push(format!("GET /healthz afterwards got {answer}"));
                        }
                        (wrong, transcript.describe())
                    })
                })
                .collect();
            faults.extend(running.into_iter().map(|r| r.join().unwrap()));
        });
    }
    let mut creates = 0;
    for request in fake.requests() {
        if request.call == "sources/get" {
            let source = request.body["sourceId"].as_str().unwrap_or("");
            if let Some(i) = sources.iter().position(|s| s == source) {
                faults[i]
                    .0
                    .push("the smuggled request reached Airbyte".to_string());
            }
        }
        creates += usize::from(request.call.ends_with("/create"));
    }
    let mut report: Vec<String> = cases
        .iter()
        .zip(&faults)
        .filter(|(_, (wrong, _))| !wrong.is_empty())
        .map(|(case, (wrong, received))| {
            format!(
                "{}: {}\n      received {received}",
                case.what,
                wrong.join("; ")
            )
        })
        .collect();
    let failed = report.len();
    if creates > 0 {
        report.push(format!("Airbyte was asked for {creates} creates"));
    }
    assert!(
        report.is_empty(),
        "{failed} of {} cases went wrong:\n  {}",
        cases.len(),
        report.join("\n  ")
    );
}

fn start(fake: &FakeAirbyte, env: &[(&str, &str)]) -> Service {
    let mut all = vec![("WORKERS", TABLE_WORKERS)];
    all.extend_from_slice(env);
    Service::start(fake, &all)
}

// ---------------------------------------------------------------------------------------------
// Ambiguous lengths.

#[test]
fn content_length_together_with_transfer_encoding_is_refused_with_400() {
    let fake = FakeAirbyte::start();
    let service = start(&fake, &[]);
    let body = chunked(BODY49.as_bytes());
    assert_refusals(
        &service,
        &fake,
        vec![
            refusal(
                "Content-Length, then Transfer-Encoding: chunked",
                create(
                    "HTTP/1.1",
                    &["Content-Length: 49", "Transfer-Encoding: chunked"],
                    &body,
                ),
                &[400],
            ),
            refusal(
                "Transfer-Encoding: chunked, then Content-Length",
                create(
                    "HTTP/1.1",
                    &["Transfer-Encoding: chunked", "Content-Length: 49"],
                    &body,
                ),
                &[400],
            ),
        ],
        true,
    );
}

#[test]
fn content_lengths_that_are_not_one_decimal_number_are_refused_with_400() {
    let fake = FakeAirbyte::start();
    let service = start(&fake, &[]);
    let length = |value: &'static str, body: &str| {
        create(
            "HTTP/1.1",
            &[&format!("Content-Length: {value}")],
            body.as_bytes(),
        )
    };
    assert_refusals(
        &service,
        &fake,
        vec![
            refusal(
                "Content-Length 5 and Content-Length 6",
                create(
                    "HTTP/1.1",
                    &["Content-Length: 5", "Content-Length: 6"],
                    b"{}   ",
                ),
                &[400],
            ),
            refusal("Content-Length +49", length("+49", BODY49), &[400]),
            refusal("Content-Length 4_9", length("4_9", BODY49), &[400]),
            refusal("Content-Length 0x31", length("0x31", BODY49), &[400]),
            refusal("Content-Length -1", length("-1", BODY49), &[400]),
            refusal("Content-Length '4 9'", length("4 9", BODY49), &[400]),
            refusal("Content-Length 1,1", length("1,1", "{"), &[400]),
            refusal("an empty Content-Length", length("", BODY49), &[400]),
        ],
        true,
    );
}

#[test]
fn two_identical_content_lengths_are_accepted() {
    let fake = FakeAirbyte::start();
    let service = start(&fake, &[]);
    let length = format!("Content-Length: {}", MYSQL_SOURCE.len());
    // A request behind it on the same connection shows that the body was read to its end.
    let request = [
        create("HTTP/1.1", &[&length, &length], MYSQL_SOURCE.as_bytes()),
        HEALTHZ_AND_CLOSE.to_vec(),
    ]
    .concat();
    let transcript = exchange(address(&service), &request);
    assert_eq!(
        transcript.statuses(),
        [201, 200],
        "{}",
        transcript.describe()
    );
    fake.wait_for_call("sources/create");
}

// ---------------------------------------------------------------------------------------------
// Transfer codings and chunks.

#[test]
fn transfer_codings_other_than_a_single_final_chunked_are_refused_with_400() {
    let fake = FakeAirbyte::start();
    let service = start(&fake, &[]);
    let body = chunked(BODY49.as_bytes());
    let coding = |value: &str, body: &[u8]| {
        create("HTTP/1.1", &[&format!("Transfer-Encoding: {value}")], body)
    };
    assert_refusals(
        &service,
        &fake,
        vec![
            refusal(
                "Transfer-Encoding: xchunked",
                coding("xchunked", &body),
                &[400],
            ),
            refusal("Transfer-Encoding: gzip", coding("gzip", &body), &[400]),
            refusal(
                "Transfer-Encoding: chunked, identity",
                coding("chunked, identity", &body),
                &[400],
            ),
            refusal(
                "Transfer-Encoding: chunked, chunked",
                coding("chunked, chunked", &chunked(&body)),
                &[400],
            ),
            refusal(
                "Transfer-Encoding: chunked on HTTP/1.0",
                create(
                    "HTTP/1.0",
                    &["Connection: keep-alive", "Transfer-Encoding: chunked"],
                    &body,
                ),
                &[400],
            ),
        ],
        true,
    );
}

#[test]
fn an_unknown_coding_before_chunked_is_refused_with_501() {
    let fake = FakeAirbyte::start();
    let service = start(&fake, &[]);
    assert_refusals(
        &service,
        &fake,
        vec![refusal(
            "Transfer-Encoding: gzip, chunked",
            create(
                "HTTP/1.1",
                &["Transfer-Encoding: gzip, chunked"],
                &chunked(BODY49.as_bytes()),
            ),
            &[501],
        )],
        true,
    );
}

#[test]
fn malformed_chunks_are_refused_with_400() {
    let fake = FakeAirbyte::start();
    let service = start(&fake, &[]);
    let chunks = |body: &[u8]| create("HTTP/1.1", &["Transfer-Encoding: chunked"], body);
    let no_crlf_after_data = [b"31\r\n", BODY49.as_bytes(), b"0\r\n\r\n"].concat();
    assert_refusals(
        &service,
        &fake,
        vec![
            refusal("chunk size zz", chunks(b"zz\r\nabc\r\n0\r\n\r\n"), &[400]),
            refusal(
                "chunk size beyond 64 bits",
                chunks(b"fffffffffffffffffff\r\nabc\r\n0\r\n\r\n"),
                &[400],
            ),
            refusal(
                "chunk data not followed by CRLF",
                chunks(&no_crlf_after_data),
                &[400],
            ),
        ],
        true,
    );
}

#[test]
fn chunked_bodies_of_a_normal_size_are_read_on_a_connection_that_stays_open() {
    let fake = FakeAirbyte::start();
    let service = start(&fake, &[]);
    let request = [
        create(
            "HTTP/1.1",
            &["Transfer-Encoding: chunked"],
            &chunked(MYSQL_SOURCE.as_bytes()),
        ),
        HEALTHZ_AND_CLOSE.to_vec(),
    ]
    .concat();
    let transcript = exchange(address(&service), &request);
    assert_eq!(
        transcript.statuses(),
        [201, 200],
        "{}",
        transcript.describe()
    );
}

// ---------------------------------------------------------------------------------------------
// Header lines and the request line.

#[test]
fn malformed_header_lines_are_refused_with_400() {
    let fake = FakeAirbyte::start();
    let service = start(&fake, &[]);
    let healthz = |line: &str| head("GET /healthz HTTP/1.1", &["Host: x", line]);
    assert_refusals(
        &service,
        &fake,
        vec![
            refusal(
                "an obs-fold line continuing X-A with Transfer-Encoding: chunked",
                create(
                    "HTTP/1.1",
                    &["X-A: 1", " Transfer-Encoding: chunked"],
                    &chunked(BODY49.as_bytes()),
                ),
                &[400],
            ),
            refusal(
                "a bare LF inside a header line, before Content-Length",
                create("HTTP/1.1", &["X-A: 1\nContent-Length: 5"], b"{}   "),
                &[400],
            ),
            refusal("a NUL in a header value", healthz("X-A: a\0b"), &[400]),
            refusal("a bare CR in a header value", healthz("X-A: a\rb"), &[400]),
            refusal(
                "a space between the header name and the colon",
                create("HTTP/1.1", &["Content-Length : 5"], b"{}   "),
                &[400],
            ),
        ],
        true,
    );
}

#[test]
fn a_request_with_bare_lf_line_endings_is_refused_at_once() {
    let fake = FakeAirbyte::start();
    // Idle clients are waited for 30 s: an answer within 5 s is not the idle timeout.
    let service = start(&fake, &[("CLIENT_TIMEOUT_SECS", "30")]);
    let request = b"GET /healthz HTTP/1.1\nHost: x\n\n";
    let transcript = exchange_within(address(&service), request, Duration::from_secs(5));
    assert_refused("bare LF only, and nothing after it", &transcript, &[400]);
    assert_refusals(
        &service,
        &fake,
        vec![refusal(
            "bare LF only, and a request after it",
            request.to_vec(),
            &[400],
        )],
        true,
    );
}

#[test]
fn http_1_1_requests_without_exactly_one_host_are_refused_with_400() {
    let fake = FakeAirbyte::start();
    let service = start(&fake, &[]);
    assert_refusals(
        &service,
        &fake,
        vec![
            refusal(
                "HTTP/1.1 without Host",
                head("GET /healthz HTTP/1.1", &[]),
                &[400],
            ),
            refusal(
                "HTTP/1.1 with two Host headers",
                head("GET /healthz HTTP/1.1", &["Host: x", "Host: y"]),
                &[400],
            ),
        ],
        true,
    );
}

#[test]
fn http_1_0_requests_without_host_are_served() {
    let fake = FakeAirbyte::start();
    let service = start(&fake, &[]);
    let transcript = exchange(address(&service), b"GET /healthz HTTP/1.0\r\n\r\n");
    assert_eq!(transcript.statuses(), [200], "{}", transcript.describe());
    assert!(
        transcript.closed(),
        "an HTTP/1.0 connection without keep-alive is closed after the answer: {}",
        transcript.describe()
    );
}

#[test]
fn malformed_request_lines_are_refused_with_400() {
    let fake = FakeAirbyte::start();
    let service = start(&fake, &[]);
    // The start of a TLS ClientHello, as from a client that speaks HTTPS to this port.
    let tls = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n".to_vec();
    let mut raw_byte = b"GET /healthz".to_vec();
    raw_byte.push(0xff);
    raw_byte.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_refusals(
        &service,
        &fake,
        vec![
            refusal("a garbage request line", tls, &[400]),
            refusal("a raw byte 0xFF in the request target", raw_byte, &[400]),
        ],
        true,
    );
}

#[test]
fn http_2_requests_are_refused_with_505_and_the_preface_with_400_or_505() {
    let fake = FakeAirbyte::start();
    let service = start(&fake, &[]);
    assert_refusals(
        &service,
        &fake,
        vec![
            refusal(
                "GET /healthz HTTP/2.0",
                head("GET /healthz HTTP/2.0", &["Host: x"]),
                &[505],
            ),
            refusal(
                "the HTTP/2 connection preface",
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
                &[400, 505],
            ),
        ],
        true,
    );
}

// ---------------------------------------------------------------------------------------------
// Sizes.

#[test]
fn request_heads_over_the_limits_are_refused_with_431_or_414() {
    let fake = FakeAirbyte::start();
    let service = start(&fake, &[]);
    let long_line = format!("X-Big: {}", "a".repeat(9000));
    let many: Vec<String> = (0..150).map(|i| format!("X-H-{i}: 1")).collect();
    let mut many_lines = vec!["Host: x"];
    many_lines.extend(many.iter().map(String::as_str));
    let long_target = format!("GET /healthz?pad={} HTTP/1.1", "a".repeat(9000));

    // At the limit: a hundred header lines are served (and the request behind them).
    let hundred = [
        head("GET /healthz HTTP/1.1", &many_lines[..100]),
        HEALTHZ_AND_CLOSE.to_vec(),
    ]
    .concat();
    let transcript = exchange(address(&service), &hundred);
    assert_eq!(
        transcript.statuses(),
        [200, 200],
        "100 header lines are within the limit: {}",
        transcript.describe()
    );

    assert_refusals(
        &service,
        &fake,
        vec![
            refusal(
                "a header line of 9000 bytes",
                head("GET /healthz HTTP/1.1", &["Host: x", &long_line]),
                &[431],
            ),
            refusal(
                "151 header lines",
                head("GET /healthz HTTP/1.1", &many_lines),
                &[431],
            ),
            refusal(
                "a request target of 9000 bytes",
                head(&long_target, &["Host: x"]),
                &[414],
            ),
        ],
        true,
    );
}

#[test]
fn bodies_over_max_body_bytes_are_refused_with_413_without_being_read() {
    let fake = FakeAirbyte::start();
    let service = start(&fake, &[("MAX_BODY_BYTES", "1000")]);
    // The declared body is never sent: the answer must come from the head alone.
    assert_refusals(
        &service,
        &fake,
        vec![
            refusal(
                "Content-Length 5000, body not sent",
                create("HTTP/1.1", &["Content-Length: 5000"], b""),
                &[413],
            ),
            refusal(
                "a chunked body of 4000 bytes",
                create(
                    "HTTP/1.1",
                    &["Transfer-Encoding: chunked"],
                    &chunked(&[b' '; 4000]),
                ),
                &[413],
            ),
        ],
        true,
    );
}

// ---------------------------------------------------------------------------------------------
// Request targets.

#[test]
fn absolute_form_targets_are_served() {
    let fake = FakeAirbyte::start();
    let service = start(&fake, &[]);
    let addr = address(&service);
    let request = [
        head(
            &format!("POST http://{addr}/datasource HTTP/1.1"),
            &[
                &format!("Host: {addr}"),
                "Content-Type: application/json",
                &format!("Content-Length: {}", MYSQL_SOURCE.len()),
                "Connection: close",
            ],
        ),
        MYSQL_SOURCE.as_bytes().to_vec(),
    ]
    .concat();
    let transcript = exchange(addr, &request);
    assert_eq!(transcript.statuses(), [201], "{}", transcript.describe());
    fake.wait_for_call("sources/create");

    let transcript = exchange(
        addr,
        &head(
            "GET http://x/healthz HTTP/1.1",
            &["Host: x", "Connection: close"],
        ),
    );
    assert_eq!(transcript.statuses(), [200], "{}", transcript.describe());
}

// ---------------------------------------------------------------------------------------------
// Expect: 100-continue.

fn expecting(target: &str, content_type: &str, length: usize) -> Vec<u8> {
    head(
        &format!("POST {target} HTTP/1.1"),
        &[
            "Host: x",
            &format!("Content-Type: {content_type}"),
            &format!("Content-Length: {length}"),
            "Expect: 100-continue",
            "Connection: close",
        ],
    )
}

#[test]
fn expect_100_continue_is_answered_with_100_before_the_body_is_sent() {
    let fake = FakeAirbyte::start();
    let service = start(&fake, &[("MAX_BODY_BYTES", "1000")]);
    let mut conn = connect(address(&service));
    conn.write_all(&expecting(
        "/datasource",
        "application/json",
        MYSQL_SOURCE.len(),
    ))
    .unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let interim = read_responses(&mut conn, 1);
    let statuses = interim.statuses();
    assert_eq!(
        statuses,
        [100],
        "100 Continue within 5 s of the head, before the body: {}",
        interim.describe()
    );
    let continue_ = &interim.responses[0];
    assert!(
        interim.raw.starts_with(b"HTTP/1.1 100 "),
        "{}",
        interim.describe()
    );
    assert_eq!(
        continue_.header("Content-Length"),
        None,
        "1xx has no length"
    );
    assert_eq!(
        continue_.header("Transfer-Encoding"),
        None,
        "1xx has no coding"
    );

    conn.write_all(MYSQL_SOURCE.as_bytes()).unwrap();
    conn.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let rest = read_until(&mut conn, |_| false);
    assert_eq!(rest.statuses(), [201], "{}", rest.describe());
    fake.wait_for_call("sources/create");
}

#[test]
fn expect_100_continue_gets_the_final_answer_without_100_when_the_request_is_refused() {
    let fake = FakeAirbyte::start();
    let service = start(&fake, &[("MAX_BODY_BYTES", "1000")]);
    let length = MYSQL_SOURCE.len();
    // Only the heads are sent; a client that expects 100 sends no body before it.
    assert_refusals(
        &service,
        &fake,
        vec![
            refusal(
                "Content-Length 5000 over MAX_BODY_BYTES",
                expecting("/datasource", "application/json", 5000),
                &[413],
            ),
            refusal(
                "an unknown path",
                expecting("/nowhere", "application/json", length),
                &[404],
            ),
            refusal(
                "Content-Type text/plain",
                expecting("/datasource", "text/plain", length),
                &[415],
            ),
        ],
        false,
    );
}

#[test]
fn unknown_expectations_are_refused_with_417() {
    let fake = FakeAirbyte::start();
    let service = start(&fake, &[]);
    let request = with_length(
        &["Expect: something-else", "Connection: close"],
        MYSQL_SOURCE,
    );
    let transcript = exchange(address(&service), &request);
    assert_eq!(transcript.statuses(), [417], "{}", transcript.describe());
    let answer = &transcript.responses[0];
    assert_eq!(
        answer.header("Content-Type"),
        Some("application/problem+json"),
        "{}",
        transcript.describe()
    );
    let body: Value = serde_json::from_slice(&answer.body).expect("a JSON problem");
    assert_eq!(body["status"], 417, "{body}");
    assert!(
        fake.calls().iter().all(|c| !c.ends_with("/create")),
        "{:?}",
        fake.calls()
    );
    if let Err(answer) = still_serving(address(&service)) {
        panic!("GET /healthz afterwards got {answer}");
    }
}

// ---------------------------------------------------------------------------------------------
// Keep-alive.

#[test]
fn pipelined_requests_are_answered_in_order_on_a_connection_that_stays_open() {
    let fake = FakeAirbyte::start();
    let service = start(&fake, &[]);
    let mut conn = connect(address(&service));
    let three = [
        head("GET /healthz HTTP/1.1", &["Host: x"]),
        with_length(&[], MYSQL_SOURCE),
        head("GET /readyz HTTP/1.1", &["Host: x"]),
    ]
    .concat();
    conn.write_all(&three).unwrap();
    let answers = read_responses(&mut conn, 3);
    assert_eq!(
        answers.statuses(),
        [200, 201, 200],
        "{}",
        answers.describe()
    );
    assert_eq!(
        answers.responses[1].header("Content-Type"),
        Some("application/json")
    );
    assert!(
        answers
            .responses
            .iter()
            .all(|r| !r.has_token("Connection", "close")),
        "{}",
        answers.describe()
    );

    conn.write_all(&head("GET /healthz HTTP/1.1", &["Host: x"]))
        .unwrap();
    let fourth = read_responses(&mut conn, 1);
    assert_eq!(
        fourth.statuses(),
        [200],
        "a request after the pipelined three: {}",
        fourth.describe()
    );
}

#[test]
fn no_content_answers_carry_no_content_length() {
    let fake = FakeAirbyte::start();
    let service = start(&fake, &[]);
    let source = fake.seed_source();
    // A request behind it shows that the 204 ended at its head.
    let request = [
        head(
            &format!("DELETE /datasource/{source} HTTP/1.1"),
            &["Host: x"],
        ),
        HEALTHZ_AND_CLOSE.to_vec(),
    ]
    .concat();
    let transcript = exchange(address(&service), &request);
    assert_eq!(
        transcript.statuses(),
        [204, 200],
        "{}",
        transcript.describe()
    );
    let no_content = &transcript.responses[0];
    assert_eq!(
        no_content.header("Content-Length"),
        None,
        "{}",
        transcript.describe()
    );
    assert_eq!(
        no_content.header("Transfer-Encoding"),
        None,
        "{}",
        transcript.describe()
    );
    fake.wait_for_call("sources/delete");
}

// ---------------------------------------------------------------------------------------------
// Clients that misbehave at the socket.

/// Closes `conn` with SO_LINGER 0: the kernel sends a reset instead of a FIN.
fn reset(conn: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket, and a pointer to a `linger` of the length given.
    let rc = unsafe {
        libc::setsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(
        rc,
        0,
        "setsockopt SO_LINGER: {}",
        std::io::Error::last_os_error()
    );
    drop(conn);
}

#[test]
fn clients_that_reset_the_connection_do_not_harm_the_service() {
    let fake = FakeAirbyte::start();
    let mut service = Service::start(&fake, &[]);
    let addr = address(&service).to_string();
    let request = with_length(&[], MYSQL_SOURCE);
    for _ in 0..200 {
        let mut conn = connect(&addr);
        conn.write_all(&request).unwrap();
        reset(conn);
    }
    let transcript = exchange(&addr, HEALTHZ_AND_CLOSE);
    assert_eq!(transcript.statuses(), [200], "{}", transcript.describe());
    assert!(service.is_running(), "the service is still running");
    let panics: Vec<String> = service
        .logs()
        .into_iter()
        .filter(|l| l.to_ascii_lowercase().contains("panic"))
        .collect();
    assert!(panics.is_empty(), "{panics:#?}");
}

#[test]
fn stalled_clients_do_not_keep_others_waiting() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[("WORKERS", "4"), ("CLIENT_TIMEOUT_SECS", "30")]);
    let addr = address(&service);
    let mut stalled = Vec::new();
    for _ in 0..16 {
        let mut conn = connect(addr);
        conn.write_all(&create("HTTP/1.1", &["Content-Length: 100000"], b"{"))
            .unwrap();
        stalled.push(conn);
    }
    for _ in 0..16 {
        let mut conn = connect(addr);
        conn.write_all(b"POST /datasource HTTP/1.1\r\nHost: x\r\nContent-Ty")
            .unwrap();
        stalled.push(conn);
    }

    // The stalls last 30 s; an answer within READ_TIMEOUT (10 s) did not wait for them.
    let health = exchange(addr, HEALTHZ_AND_CLOSE);
    assert_eq!(
        health.statuses(),
        [200],
        "GET /healthz while 32 clients stall: {}",
        health.describe()
    );
    let created = exchange(addr, &with_length(&["Connection: close"], MYSQL_SOURCE));
    assert_eq!(
        created.statuses(),
        [201],
        "POST /datasource while 32 clients stall: {}",
        created.describe()
    );
    drop(stalled);
}
