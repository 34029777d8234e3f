//! The blocking floor: the least a proxy built as this service is built can cost a request. Blocking
//! sockets, a thread per client connection, and for each a connection upstream kept open; a
//! request read whole (by `Content-Length`, the only framing the benchmark sends), written
//! upstream in one write, the answer read whole and written back in one. No parsing of bodies, no
//! pool, no log. Measured beside nginx as a reverse proxy in front of the same free upstream, it
//! shows what the design itself costs, apart from what the service does with a request.
//!
//! It runs as a process of its own, so that its processor time can be read from `/proc` like
//! nginx's and the service's: the harness starts itself again with [`ARGUMENT`], the address to
//! listen on and the upstream's.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::free_address;

/// The first argument that makes the harness the floor instead of the benchmark.
pub const ARGUMENT: &str = "--blocking-floor";

/// The floor as a child process; killed when dropped.
pub struct Floor {
    child: Child,
    addr: String,
}

impl Floor {
    /// Starts the floor in front of `upstream` (`host:port`); ready once it accepts connections.
    pub fn start(upstream: &str) -> Floor {
        let addr = free_address();
        let exe = std::env::current_exe().expect("the harness's own path");
        let child = Command::new(exe)
            .args([ARGUMENT, &addr, upstream])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the blocking floor");
        let started = Instant::now();
        while TcpStream::connect(&addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the blocking floor did not listen on {addr}"
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
