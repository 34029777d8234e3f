//! nginx as a plain reverse proxy in front of the fake Airbyte: the reference for what one HTTP
//! hop costs, measured beside the service in `make bench`.
//!
//! Debian's `nginx-light` (`make bench` installs it when missing), run in the foreground from a
//! directory of its own under `target/` (configuration, pid file, error log, temporary files), so
//! that nothing of the system's nginx set-up is read or written. Its access log goes to
//! `/dev/null`, as the service's does. `proxy_pass` to an `upstream` with `keepalive`, HTTP/1.1
//! and an empty `Connection` header: the textbook set-up that reuses upstream connections, as the
//! service's Airbyte client does.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{free_address, stat_fields, Connection, PATIENCE};

/// Idle upstream connections each nginx worker keeps to the fake.
const UPSTREAM_KEEPALIVE: u32 = 32;

/// nginx started in its own process group; the group is ended and its directory removed when
/// dropped.
pub struct Nginx {
    child: Child,
    pub addr: String,
    /// The master and its workers: the processes whose processor time is nginx's.
    pub pids: Vec<u32>,
    /// As `nginx -v` says it, such as `nginx/1.22.1`.
    pub version: String,
    prefix: PathBuf,
}

impl Nginx {
    /// Starts nginx in front of the fake Airbyte on `upstream_port`, and waits until an Airbyte
    /// `GET /api/v1/health` through it answers `200`.
    pub fn start(upstream_port: u16) -> Nginx {
        let bin = binary();
        let prefix = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join(format!("bench-nginx-{}", std::process::id()));
        std::fs::create_dir_all(&prefix)
            .unwrap_or_else(|e| panic!("create {}: {e}", prefix.display()));
        let workers = thread::available_parallelism().map_or(2, |n| n.get());
        let mut attempts = 0;
        loop {
            // As for the service: the port was free a moment ago, another process may take it.
            let addr = free_address();
            let conf = prefix.join("nginx.conf");
            std::fs::write(&conf, config(&prefix, &addr, upstream_port, workers))
                .unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
            let mut child = Command::new(&bin)
                .arg("-p")
                .arg(&prefix)
                .arg("-c")
                .arg(&conf)
                .arg("-e")
                .arg(prefix.join("error.log"))
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            match until_ready(&addr, &mut child) {
                Ok(()) => {
                    let pids = until_workers(child.id(), workers);
                    return Nginx {
                        child,
                        addr,
                        pids,
                        version: version(&bin),
                        prefix,
                    };
                }
                Err(e) => {
                    stop(&mut child);
                    attempts += 1;
                    assert!(
                        attempts < 3,
                        "nginx did not start ({e}); its log: {}",
                        std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default()
                    );
                }
            }
        }
    }

    /// The same Airbyte call through nginx: `path` below the API root, such as `sources/create`.
    pub fn url(&self, call: &str) -> String {
        format!("http://{}/api/v1/{call}", self.addr)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        stop(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.prefix);
    }
}

/// `nginx` on the `PATH`, else where Debian puts it (`/usr/sbin` is not on a user's `PATH`).
fn binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|bin| bin.is_file())
        .expect("no nginx on PATH nor in /usr/sbin: `make bench` installs Debian's nginx-light")
}

fn config(prefix: &Path, addr: &str, upstream_port: u16, workers: usize) -> String {
    let dir = prefix.display();
    // Started as root, nginx would run its workers as `nobody`, who may not write in `target/`.
    let user = if running_as_root() {
        "user root;\n"
    } else {
        ""
    };
    format!(
        "# Written by `make bench` (tests/bench/nginx.rs) for one run.
daemon off;
{user}worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log /dev/null;
    client_body_temp_path {dir}/client_body_temp;
    proxy_temp_path {dir}/proxy_temp;
    fastcgi_temp_path {dir}/fastcgi_temp;
    uwsgi_temp_path {dir}/uwsgi_temp;
    scgi_temp_path {dir}/scgi_temp;
    upstream airbyte {{
        server 127.0.0.1:{upstream_port};
        keepalive {UPSTREAM_KEEPALIVE};
    }}
    server {{
        listen {addr};
        location / {{
            proxy_pass http://airbyte;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }}
    }}
}}
"
    )
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|ids| ids.split_whitespace().next() == Some("0"))
        })
        .unwrap_or(false)
}

/// Polls the port without pause until Airbyte's `GET /health` through nginx answers `200`.
fn until_ready(addr: &str, child: &mut Child) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let answer =
            Connection::open(addr).and_then(|mut c| c.try_exchange("GET", "/api/v1/health", None));
        if let Ok((200, _)) = answer {
            return Ok(());
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

/// The master and its workers, once all `workers` have been started (the first can answer before
/// the master has started the last).
fn until_workers(master: u32, workers: usize) -> Vec<u32> {
    let started = Instant::now();
    loop {
        let children = children(master);
        if children.len() >= workers || started.elapsed() > PATIENCE {
            return [master].into_iter().chain(children).collect();
        }
        thread::yield_now();
    }
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        // The parent's pid is the second field after the command name.
        .filter(|&p| stat_fields(p).get(1).and_then(|f| f.parse().ok()) == Some(pid))
        .collect()
}

fn version(bin: &Path) -> String {
    Command::new(bin)
        .arg("-v")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stderr).into_owned();
            Some(text.split_whitespace().last()?.to_string())
        })
        .unwrap_or_else(|| "nginx".to_string())
}

/// Ends nginx's process group: `TERM` (the master stops its workers, waits for them, then exits),
/// and `KILL` to the whole group if the master is still there after a while.
fn stop(child: &mut Child) {
    let group = format!("-{}", child.id());
    let signal = |name: &str| {
        let _ = Command::new("kill")
            .args([name, "--", &group])
            .stderr(Stdio::null())
            .status();
    };
    signal("-TERM");
    let started = Instant::now();
    while matches!(child.try_wait(), Ok(None)) {
        if started.elapsed() > PATIENCE {
            signal("-KILL");
            let _ = child.wait();
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
}
