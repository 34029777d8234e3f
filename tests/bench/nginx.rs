//! nginx as a plain reverse proxy in front of an Airbyte: the reference for what one HTTP hop
//! costs, measured beside the service in `make bench`; and nginx as a free Airbyte
//! ([`Nginx::answering`]), which answers the calls of a warm create with fixed bodies from memory,
//! so that the service and nginx are compared with almost nothing else on the processor.
//!
//! Debian's `nginx-light` (`make bench` installs it when missing), run as `support::nginx` runs
//! it, in the foreground from a directory of its own under `target/` (configuration, pid file,
//! error log, temporary files) that is removed afterwards. Its access log goes to `/dev/null`, as
//! the service's does. `proxy_pass` to an `upstream` with `keepalive`, HTTP/1.1
//! and an empty `Connection` header: the textbook set-up that reuses upstream connections, as the
//! service's Airbyte client does.

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{free_address, stat_fields, Connection, PATIENCE};
use crate::support::nginx::{self, Process, Setup};

/// Idle upstream connections each nginx worker keeps to the fake.
const UPSTREAM_KEEPALIVE: u32 = 32;

/// nginx in front of the fake; it is stopped and its directory removed when dropped.
pub struct Nginx {
    process: Process,
    /// The master and its workers: the processes whose processor time is nginx's.
    pub pids: Vec<u32>,
    /// As `nginx -v` says it, such as `nginx/1.22.1`.
    pub version: String,
}

impl Nginx {
    /// Starts nginx in front of the fake Airbyte on `upstream_port`, and waits until an Airbyte
    /// `GET /api/v1/health` through it answers `200`.
    pub fn start(upstream_port: u16) -> Nginx {
        Nginx::run("bench-nginx", &|prefix, addr, workers| {
            config(prefix, addr, upstream_port, workers)
        })
    }

    /// An nginx that is an Airbyte answering each of `answers` (`(call, JSON body)`, such as
    /// `("sources/create", ...)`) with a `200` and that body, whatever the request, from memory;
    /// any other call gets a `404`. One worker per core, and connections kept for a million
    /// requests, so that neither a reconnection nor the upstream's work weighs on a measurement.
    pub fn answering(answers: &[(&str, String)]) -> Nginx {
        Nginx::run("bench-nginx-free", &|prefix, addr, workers| {
            fixed_config(prefix, addr, answers, workers)
        })
    }

    /// nginx with one worker per core and the configuration `config` writes (from its directory,
    /// its address and the workers), from a directory of its own named after `name`; ready once
    /// Airbyte's `GET /api/v1/health` through it answers `200`.
    fn run(name: &str, config: &dyn Fn(&Path, &str, usize) -> String) -> Nginx {
        let workers = thread::available_parallelism().map_or(2, |n| n.get());
        let process = Process::start(Setup {
            make: "make bench",
            prefix: Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target")
                .join(format!("{name}-{}", std::process::id())),
            keep_prefix: false,
            address: free_address,
            config: &|prefix, addr| config(prefix, addr, workers),
            probe: &mut health,
            // Polls the port without pause, as for the service.
            pause: Duration::ZERO,
            patience: PATIENCE,
        });
        Nginx {
            pids: until_workers(process.id(), workers),
            version: version(&process.bin),
            process,
        }
    }

    /// The same Airbyte call through nginx: `path` below the API root, such as `sources/create`.
    pub fn url(&self, call: &str) -> String {
        format!("http://{}/api/v1/{call}", self.process.addr)
    }

    /// The API root, as `AIRBYTE_BASE_URL` takes it.
    pub fn api_root(&self) -> String {
        format!("http://{}/api/v1", self.process.addr)
    }

    /// The port nginx listens on.
    pub fn port(&self) -> u16 {
        let port = self.process.addr.rsplit(':').next();
        port.and_then(|p| p.parse().ok())
            .expect("nginx listens on an address with a port")
    }
}

/// The configuration of [`Nginx::answering`]: a `return 200 '...'` per call. nginx reads `$` in
/// such a text as a variable and `'` and `\` as its own: bodies with them are refused here.
fn fixed_config(prefix: &Path, addr: &str, answers: &[(&str, String)], workers: usize) -> String {
    let mut locations = String::new();
    for (call, body) in answers {
        assert!(
            !body.contains(['$', '\'', '\\']),
            "a fixed answer for {call} holds $, ' or \\, which nginx would read: {body}"
        );
        locations.push_str(&format!(
            "        location = /api/v1/{call} {{ return 200 '{body}'; }}\n"
        ));
    }
    format!(
        "# Written by `make bench` (tests/bench/nginx.rs) for one run: a free Airbyte.
{}    keepalive_requests 1000000;
    keepalive_timeout 300s;
    default_type application/json;
    server {{
        listen {addr};
{locations}        location / {{ return 404 '{{\"message\": \"no such call\"}}'; }}
    }}
}}
",
        head(prefix, workers)
    )
}

/// What both configurations begin with: nginx in the foreground from its own directory, one worker
/// per core, no access log, up to the `http` block's own settings.
fn head(prefix: &Path, workers: usize) -> String {
    let dir = prefix.display();
    let user = nginx::user();
    format!(
        "daemon off;
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
"
    )
}

fn config(prefix: &Path, addr: &str, upstream_port: u16, workers: usize) -> String {
    format!(
        "# Written by `make bench` (tests/bench/nginx.rs) for one run.
{}    # Connections kept for a million requests, client side and upstream, as the service keeps its
    # own (nginx's default closes them after 1000).
    keepalive_requests 1000000;
    upstream airbyte {{
        server 127.0.0.1:{upstream_port};
        keepalive {UPSTREAM_KEEPALIVE};
        keepalive_requests 1000000;
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
",
        head(prefix, workers)
    )
}

/// Airbyte's `GET /health` through nginx: ready once it answers `200`.
fn health(addr: &str) -> Result<(), String> {
    let answer =
        Connection::open(addr).and_then(|mut c| c.try_exchange("GET", "/api/v1/health", None));
    match answer {
        Ok((200, _)) => Ok(()),
        _ => Err(format!("{answer:?}")),
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
