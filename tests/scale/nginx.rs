//! nginx in front of the replicas, configured as ingress-nginx configures an Ingress with
//! `nginx.ingress.kubernetes.io/upstream-hash-by: "$http_idempotency_key"`: one upstream hashed
//! consistently on the key, keep-alive connections to the replicas, HTTP/1.1 with an empty
//! `Connection` header, and ingress-nginx's defaults for retries (`proxy_next_upstream error
//! timeout`, 3 tries, so a `POST` that was sent is never sent again) and for failure marking
//! (`max_fails=0`: Kubernetes' endpoints, not nginx, say which pods are ready).
//!
//! Two things only the test adds: `X-Upstream` on every answer (nginx's `$upstream_addr`, every
//! replica tried, the one that answered last), and an access log with the same, for the report.
//!
//! Debian's `nginx-light` (`make scale-test` installs it when missing), run in the foreground from
//! a directory of its own under `target/`, in its own process group, so that nothing of the
//! system's nginx set-up is read or written.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::{free_port, PATIENCE};

/// Idle connections each nginx worker keeps to the replicas (ingress-nginx keeps 320; a few
/// dozen cover the test's clients).
const UPSTREAM_KEEPALIVE: u32 = 32;

/// nginx in its own process group; the group is ended when dropped (its directory stays, for
/// its logs).
pub struct Nginx {
    child: Child,
    pub addr: String,
    prefix: PathBuf,
}

impl Nginx {
    /// Starts nginx in front of the replicas on `ports`, and waits until a `GET /healthz`
    /// through it is answered `200`.
    pub fn start(ports: &[u16]) -> Nginx {
        let bin = binary();
        let prefix = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("scale-nginx");
        let _ = std::fs::remove_dir_all(&prefix);
        std::fs::create_dir_all(&prefix)
            .unwrap_or_else(|e| panic!("create {}: {e}", prefix.display()));
        let mut attempts = 0;
        loop {
            // The port was free a moment ago; another process may take it first.
            let addr = format!("127.0.0.1:{}", free_port());
            let conf = prefix.join("nginx.conf");
            std::fs::write(&conf, config(&prefix, &addr, ports))
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
                    return Nginx {
                        child,
                        addr,
                        prefix,
                    }
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

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// nginx's error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.prefix.join("error.log")).unwrap_or_default()
    }

    /// nginx's access log so far: `status method path key=... upstream=... upstream_status=...`.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.prefix.join("access.log")).unwrap_or_default()
    }

    pub fn log_dir(&self) -> &Path {
        &self.prefix
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// `nginx` on the `PATH`, else where Debian puts it (`/usr/sbin` is not on a user's `PATH`).
fn binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|bin| bin.is_file())
        .expect(
            "no nginx on PATH nor in /usr/sbin: `make scale-test` installs Debian's nginx-light",
        )
}

fn config(prefix: &Path, addr: &str, ports: &[u16]) -> String {
    let dir = prefix.display();
    // Started as root, nginx would run its workers as `nobody`, who may not write in `target/`.
    let user = if running_as_root() {
        "user root;\n"
    } else {
        ""
    };
    let servers: String = ports
        .iter()
        .map(|port| format!("        server 127.0.0.1:{port} max_fails=0;\n"))
        .collect();
    format!(
        "# Written by `make scale-test` (tests/scale/nginx.rs) for one run.
daemon off;
{user}worker_processes 2;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 1024; }}
http {{
    log_format scale '$status $request_method $uri key=$http_idempotency_key upstream=$upstream_addr upstream_status=$upstream_status';
    access_log {dir}/access.log scale;
    client_body_temp_path {dir}/client_body_temp;
    proxy_temp_path {dir}/proxy_temp;
    fastcgi_temp_path {dir}/fastcgi_temp;
    uwsgi_temp_path {dir}/uwsgi_temp;
    scgi_temp_path {dir}/scgi_temp;
    upstream airbyte_wrapper {{
        hash $http_idempotency_key consistent;
{servers}        keepalive {UPSTREAM_KEEPALIVE};
        keepalive_requests 10000;
        # Shorter than the replicas' idle timeout (CLIENT_TIMEOUT_SECS, 15 s), so that nginx, not
        # the replica, closes an idle connection in normal operation.
        keepalive_timeout 10s;
    }}
    server {{
        listen {addr};
        location / {{
            proxy_pass http://airbyte_wrapper;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 3;
            proxy_connect_timeout 5s;
            proxy_read_timeout 60s;
            add_header X-Upstream $upstream_addr always;
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

/// Polls until `GET /healthz` through nginx answers `200` (a few milliseconds between tries, so
/// that the polling does not take the processor nginx needs to start).
fn until_ready(addr: &str, child: &mut Child) -> Result<(), String> {
    let started = Instant::now();
    let agent = crate::agent();
    loop {
        let answer = agent.get(&format!("http://{addr}/healthz")).call();
        match answer {
            Ok(answer) if answer.status() == 200 => return Ok(()),
            _ => {}
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited: {status}"));
        }
        if started.elapsed() > PATIENCE {
            return Err(format!("not ready after {PATIENCE:?}"));
        }
        thread::sleep(Duration::from_millis(5));
    }
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
