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
//! Debian's `nginx-light` (`make scale-test` installs it when missing), run as `support::nginx`
//! runs it, in the foreground from a directory of its own under `target/`, in its own process
//! group, so that nothing of the system's nginx set-up is read or written.

use std::path::Path;
use std::time::Duration;

use crate::support::nginx::{self, Process, Setup};
use crate::{free_port, PATIENCE};

/// Idle connections each nginx worker keeps to the replicas (ingress-nginx keeps 320; a few
/// dozen cover the test's clients).
const UPSTREAM_KEEPALIVE: u32 = 32;

/// nginx in front of the replicas; it is stopped when dropped (its directory stays, for its
/// logs).
pub struct Nginx {
    process: Process,
}

impl Nginx {
    /// Starts nginx in front of the replicas on `ports`, and waits until a `GET /healthz`
    /// through it is answered `200`.
    pub fn start(ports: &[u16]) -> Nginx {
        let prefix = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("scale-nginx");
        let _ = std::fs::remove_dir_all(&prefix);
        let agent = crate::agent();
        let process = Process::start(Setup {
            make: "make scale-test",
            prefix,
            keep_prefix: true,
            address: || format!("127.0.0.1:{}", free_port()),
            config: &|prefix, addr| config(prefix, addr, ports),
            probe: &mut |addr| healthz(&agent, addr),
            // So that the polling does not take the processor nginx needs to start.
            pause: Duration::from_millis(5),
            patience: PATIENCE,
        });
        Nginx { process }
    }

    /// Where nginx listens, such as `127.0.0.1:40123`.
    pub fn addr(&self) -> &str {
        &self.process.addr
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.process.addr)
    }

    /// nginx's error log so far.
    pub fn error_log(&self) -> String {
        self.process.error_log()
    }

    /// nginx's access log so far: `status method path key=... upstream=... upstream_status=...`.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.process.prefix.join("access.log")).unwrap_or_default()
    }

    pub fn log_dir(&self) -> &Path {
        &self.process.prefix
    }
}

fn config(prefix: &Path, addr: &str, ports: &[u16]) -> String {
    let dir = prefix.display();
    let user = nginx::user();
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

/// `GET /healthz` through nginx: ready once it answers `200`.
fn healthz(agent: &ureq::Agent, addr: &str) -> Result<(), String> {
    match agent.get(&format!("http://{addr}/healthz")).call() {
        Ok(answer) if answer.status() == 200 => Ok(()),
        Ok(answer) => Err(answer.status().to_string()),
        Err(e) => Err(e.to_string()),
    }
}
