//! What `make bench` (`main.rs`) and `make soak` (`soak.rs`) share: the service binary as a child
//! process, a keep-alive HTTP/1.1 client connection, `/proc` readings and report formatting.
//!
//! Each harness is a crate of its own that uses part of this, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Waiting longer than this for the service to do something means it is broken.
pub const PATIENCE: Duration = Duration::from_secs(20);
/// The project's memory targets for the service: resident idle, and at its peak under load.
pub const IDLE_TARGET_KIB: u64 = 4 * 1024;
pub const PEAK_TARGET_KIB: u64 = 16 * 1024;

/// The service binary as a child process with its default settings; killed when dropped. Its log
/// (one access line per request at the default `info`) goes to `/dev/null` unless a file is
/// named: the service pays for writing it, and no reader's wake-ups are counted against it.
pub struct Service {
    child: Child,
    pub addr: String,
}

impl Service {
    pub fn start(bin: &Path, airbyte: &str, log: Option<&Path>) -> Service {
        Service::start_with(bin, airbyte, log, &[])
    }

    /// [`Service::start`] with settings of its own (`WORKERS`), the rest at their defaults.
    pub fn start_with(
        bin: &Path,
        airbyte: &str,
        log: Option<&Path>,
        settings: &[(&str, &str)],
    ) -> Service {
        let mut attempts = 0;
        loop {
            // The port is chosen here so that readiness can be polled without reading the log;
            // another process may take it first, hence the second try.
            let addr = free_address();
            let started = Instant::now();
            let stderr = match log {
                Some(path) => File::create(path)
                    .unwrap_or_else(|e| panic!("create {}: {e}", path.display()))
                    .into(),
                None => Stdio::null(),
            };
            let mut child = spawn(bin, &addr, airbyte, stderr, settings);
            match until_ready(&addr, &mut child, started) {
                Ok(_) => return Service { child, addr },
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    attempts += 1;
                    assert!(
                        attempts < 3,
                        "the service did not start ({e}); run {} by hand to see its log",
                        bin.display()
                    );
                }
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn connect(&self) -> Connection {
        Connection::open(&self.addr).unwrap_or_else(|e| panic!("connect to the service: {e}"))
    }

    /// A size from `/proc/PID/status` (`VmRSS`, `VmHWM`), in KiB.
    pub fn status_kib(&self, field: &str) -> u64 {
        status_kib(self.pid(), field)
            .unwrap_or_else(|| panic!("no {field} in the service's /proc status"))
    }

    /// How the process ended, if it has.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A size from `/proc/PID/status` (`VmRSS`, `VmHWM`), in KiB; `None` once the process is gone.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The fields of `/proc/PID/stat` after the command name (which is in parentheses and may hold
/// spaces): the state is the first. Empty once the process is gone.
pub fn stat_fields(pid: u32) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_default()
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// A keep-alive HTTP/1.1 client connection that times nothing itself: enough for answers with a
/// `Content-Length` or in chunks (the service sends long lists that way), which is all the service
/// and the fake send.
pub struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    host: String,
    /// Whether the last answer said `Connection: close`.
    pub closing: bool,
}

impl Connection {
    pub fn open(addr: &str) -> io::Result<Connection> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(PATIENCE))?;
        Ok(Connection {
            writer: stream.try_clone()?,
            reader: BufReader::new(stream),
            host: addr.to_string(),
            closing: false,
        })
    }

    /// Sends one request and reads its answer: `(status, body)`.
    pub fn exchange(&mut self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        self.try_exchange(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub fn try_exchange(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> io::Result<(u16, String)> {
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        if let Some(body) = body {
            request += &format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            );
        }
        request += "\r\n";
        request += body.unwrap_or("");
        self.writer.write_all(request.as_bytes())?;

        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("not an HTTP answer: {line:?}")))?;
        let mut length = 0;
        let mut chunked = false;
        self.closing = false;
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if name.eq_ignore_ascii_case("connection") {
                    self.closing = value.trim().eq_ignore_ascii_case("close");
                }
                if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.trim().eq_ignore_ascii_case("chunked");
                }
            }
        }
        let body = match chunked {
            true => self.chunks()?,
            false => {
                let mut body = vec![0; length];
                self.reader.read_exact(&mut body)?;
                body
            }
        };
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// A body sent in chunks: each a hexadecimal size line and that many bytes, until size 0 and
    /// the (empty) trailer.
    fn chunks(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| io::Error::other(format!("not a chunk size: {line:?}")))?;
            if size == 0 {
                loop {
                    line.clear();
                    if self.reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                        return Ok(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size, 0);
            self.reader.read_exact(&mut body[start..])?;
            line.clear();
            self.reader.read_line(&mut line)?;
        }
    }
}

/// A loopback address with a port that was free a moment ago.
pub fn free_address() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free port")
        .port();
    format!("127.0.0.1:{port}")
}

/// Starts the binary on `addr` against `airbyte`, with `settings` and all else at its defaults, its
/// log to `stderr`.
pub fn spawn(
    bin: &Path,
    addr: &str,
    airbyte: &str,
    stderr: Stdio,
    settings: &[(&str, &str)],
) -> Child {
    Command::new(bin)
        .env_clear()
        .env("LISTEN_ADDR", addr)
        .env("AIRBYTE_BASE_URL", airbyte)
        .envs(settings.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()))
}

/// Polls `/healthz` without pause until it answers `200`; returns the time since `started`.
pub fn until_ready(addr: &str, child: &mut Child, started: Instant) -> Result<Duration, String> {
    loop {
        let answer =
            Connection::open(addr).and_then(|mut c| c.try_exchange("GET", "/healthz", None));
        if let Ok((200, _)) = answer {
            return Ok(started.elapsed());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited: {status}"));
        }
        if started.elapsed() > PATIENCE {
            return Err(format!("not ready after {PATIENCE:?}: {answer:?}"));
        }
        thread::yield_now();
    }
}

/// The machine in one sentence's worth: cores and processor model.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                Some(
                    l.strip_prefix("model name")?
                        .split(':')
                        .nth(1)?
                        .trim()
                        .to_string(),
                )
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores ({cpu})")
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string())
}

pub fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// `met` or `missed`, for the targets tables.
pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "missed"
    }
}

/// Writes a report to `target/NAME` beside the sources; returns where, if it could.
pub fn write_report(name: &str, text: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(name);
    std::fs::write(&path, text).ok().map(|_| path)
}
