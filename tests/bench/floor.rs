//! The floors: the least a proxy built as this service is built can cost a request, measured
//! beside nginx as a reverse proxy in front of the same free upstream, apart from what the service
//! does with a request. Each runs as a process of its own, so that its processor time can be read
//! from `/proc` like nginx's and the service's: the harness starts itself again with the floor's
//! argument, the address to listen on and the upstream's.
//!
//! - The blocking floor ([`ARGUMENT`]): blocking sockets, a thread per client connection, and for
//!   each a connection upstream kept open; a request read whole (by `Content-Length`, the only
//!   framing the benchmark sends), written upstream in one write, the answer read whole and
//!   written back in one. No parsing at all, no pool, no log: what the design itself costs.
//! - The relay on the design's packages ([`RELAY_ARGUMENT`]): the service's own HTTP server (the
//!   tiny_http fork, a `Handler` on each connection's thread) in front, and each request's body
//!   sent upstream through ureq's protocol core (`ureq-proto`, which ureq drives on every call)
//!   over a connection kept per client connection, and the answer's body sent back. Both HTTP
//!   messages parsed and written as the service's are, but no JSON, no pool, no probe, no log:
//!   what the design's packages cost, without ureq's call machinery around its core.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ureq_proto::client::{Call, RecvBodyResult, RecvResponseResult, SendRequestResult};
use ureq_proto::http;

use crate::common::free_address;

/// The first argument that makes the harness the blocking floor instead of the benchmark.
pub const ARGUMENT: &str = "--blocking-floor";
/// The first argument that makes the harness the relay on the design's packages.
pub const RELAY_ARGUMENT: &str = "--design-relay";

/// A floor as a child process; killed when dropped.
pub struct Floor {
    child: Child,
    addr: String,
}

impl Floor {
    /// Starts the floor `argument` names in front of `upstream` (`host:port`); ready once it
    /// accepts connections.
    pub fn start(argument: &str, upstream: &str) -> Floor {
        let addr = free_address();
        let exe = std::env::current_exe().expect("the harness's own path");
        let child = Command::new(exe)
            .args([argument, &addr, upstream])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start a floor");
        let started = Instant::now();
        while TcpStream::connect(&addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the floor {argument} did not listen on {addr}"
            );
            thread::yield_now();
        }
        Floor { child, addr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The floor's process: serves `listen` until killed, each connection on a thread of its own.
pub fn serve(listen: &str, upstream: &str) {
    let listener = TcpListener::bind(listen).unwrap_or_else(|e| panic!("bind {listen}: {e}"));
    for client in listener.incoming().flatten() {
        let upstream = upstream.to_string();
        thread::spawn(move || {
            // A connection that fails ends its thread; the benchmark counts the errors.
            let _ = relay(client, &upstream);
        });
    }
}

/// Relays one client's requests over its own upstream connection, one at a time.
fn relay(mut client: TcpStream, upstream: &str) -> io::Result<()> {
    let mut airbyte = TcpStream::connect(upstream)?;
    client.set_nodelay(true)?;
    airbyte.set_nodelay(true)?;
    let (mut request, mut answer) = (Vec::new(), Vec::new());
    while read_message(&mut client, &mut request)? {
        airbyte.write_all(&request)?;
        if !read_message(&mut airbyte, &mut answer)? {
            return Ok(());
        }
        client.write_all(&answer)?;
    }
    Ok(())
}

/// Reads one message (head and `Content-Length` body) into `message`; false at end of stream.
fn read_message(stream: &mut TcpStream, message: &mut Vec<u8>) -> io::Result<bool> {
    message.clear();
    let mut chunk = [0; 16 * 1024];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(false);
        }
        message.extend_from_slice(&chunk[..n]);
        if let Some(length) = whole_length(message) {
            if message.len() >= length {
                return Ok(true);
            }
        }
    }
}

/// The length of the message `bytes` begins with, once its head has arrived.
fn whole_length(bytes: &[u8]) -> Option<usize> {
    let head = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let body = String::from_utf8_lossy(&bytes[..head])
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    Some(head + body)
}

/// The relay's process: serves `listen` until killed, each connection on a thread of its own.
pub fn serve_relay(listen: &str, upstream: &str) {
    let socket = TcpListener::bind(listen).unwrap_or_else(|e| panic!("bind {listen}: {e}"));
    let relay = Relay {
        upstream: upstream.to_string(),
    };
    let _server = tiny_http::Server::with_handler(
        socket,
        tiny_http::ConnectionLimits::default(),
        Arc::new(relay),
    )
    .expect("serve the relay");
    loop {
        thread::park();
    }
}

struct Relay {
    upstream: String,
}

/// The connection upstream of the client connection a thread serves, with the buffers ureq-proto
/// writes the request into and reads the answer from, kept for its next request.
struct Upstream {
    stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
}

thread_local! {
    static UPSTREAM: RefCell<Option<Upstream>> = const { RefCell::new(None) };
}

impl tiny_http::Handler for Relay {
    fn handle(&self, mut request: tiny_http::Request) {
        let target = format!("http://{}{}", self.upstream, request.url());
        let answer = UPSTREAM.with(|kept| {
            let mut kept = kept.borrow_mut();
            let result = exchange(&mut kept, &self.upstream, &target, request.body());
            if result.is_err() {
                *kept = None;
            }
            result
        });
        let response = match answer {
            Ok((status, body)) => tiny_http::Response::from_data(body)
                .with_status_code(status)
                .boxed(),
            Err(e) => tiny_http::Response::from_string(e.to_string())
                .with_status_code(502)
                .boxed(),
        };
        let _ = request.respond_in_place(response);
    }
}

/// One `POST` of `body` to `target` through ureq-proto's state machine, on the kept connection
/// (opened if there is none): its status and body.
fn exchange(
    kept: &mut Option<Upstream>,
    upstream: &str,
    target: &str,
    body: &[u8],
) -> io::Result<(u16, Vec<u8>)> {
    let failed = |e: ureq_proto::Error| io::Error::other(e.to_string());
    if kept.is_none() {
        let stream = TcpStream::connect(upstream)?;
        stream.set_nodelay(true)?;
        *kept = Some(Upstream {
            stream,
            input: vec![0; 16 * 1024],
            output: vec![0; 16 * 1024],
        });
    }
    let Upstream {
        stream,
        input,
        output,
    } = kept.as_mut().expect("a connection");
    let request = http::Request::post(target)
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .body(())
        .map_err(io::Error::other)?;
    // The head and the body in one write, as the service sends them.
    let mut call = Call::new(request).map_err(failed)?.proceed();
    let mut used = call.write(output).map_err(failed)?;
    let Some(SendRequestResult::SendBody(mut call)) = call.proceed().map_err(failed)? else {
        return Err(io::Error::other("no body to send"));
    };
    used += call.write(body, &mut output[used..]).map_err(failed)?.1;
    stream.write_all(&output[..used])?;
    let mut call = call
        .proceed()
        .ok_or_else(|| io::Error::other("the body was not sent whole"))?;
    let mut filled = 0;
    let (mut start, response) = loop {
        let n = stream.read(&mut input[filled..])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        filled += n;
        if let (consumed, Some(response)) =
            call.try_response(&input[..filled], false).map_err(failed)?
        {
            break (consumed, response);
        }
    };
    let Some(RecvResponseResult::RecvBody(mut call)) = call.proceed() else {
        return Err(io::Error::other("an answer without a body"));
    };
    let mut answer = Vec::with_capacity(1024);
    while !call.can_proceed() {
        if start == filled {
            (start, filled) = (0, stream.read(input)?);
            if filled == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        let (consumed, produced) = call.read(&input[start..filled], output).map_err(failed)?;
        answer.extend_from_slice(&output[..produced]);
        start += consumed;
    }
    if let Some(RecvBodyResult::Cleanup(done)) = call.proceed() {
        if done.must_close_connection() {
            *kept = None;
        }
    }
    Ok((response.status().as_u16(), answer))
}
