//! `make bench`: what the service adds to the Airbyte calls it must make, measured side by side in
//! one run, and printed; nothing is asserted about timings, targets are printed beside what was
//! measured with "met" or "missed".
//!
//! A fast fake Airbyte (`tests/support/fake_airbyte/`: realistic definition lists, recording off,
//! a bounded store) runs inside this process; the release binary runs against it with its default
//! settings; `wrk` drives each endpoint and, in the same run, the one Airbyte call that endpoint
//! needs, with the same body the service sends, at the same concurrency for the same time. For
//! `/datasource` and `/sink` that call is also made through nginx as a plain reverse proxy
//! (`nginx.rs`): the reference for what one HTTP hop costs, at 16 connections (requests/s) and at
//! 1 (the latency each hop adds to the direct call). `/healthz` is also measured while 4 ×
//! `WORKERS` uploads stall on the service, which shows whether a slow client can hold up the rest.
//! The fake costs tens of microseconds per call, which pulls everything in front of it towards
//! each other; so `/datasource` and `/sink` are measured again against a free upstream
//! ([`Nginx::answering`]: nginx answering the Airbyte calls from memory), with nginx as a proxy in
//! front of it and a second service, and issue 18's targets printed for them. A third service
//! names the free upstream by this machine's host name where it resolves to loopback, as a
//! deployment names Airbyte: `/sink` through it shows what resolving Airbyte's host costs a call.
//! Two more stand beside `/sink` there: a fourth service with `WORKERS` equal to the connections,
//! so that no request waits for a slot (at the default 8, half of the 16 do), and two floors
//! (`floor.rs`): the blocking floor, a proxy built like the service (blocking sockets, a thread per
//! connection) that does nothing but relay, which shows what that design itself costs beside
//! nginx's event loops; and a relay on the design's packages (the tiny_http fork in front, ureq's
//! protocol core behind), which shows what parsing and writing both HTTP messages adds to that.
//! Each measurement runs `BENCH_ROUNDS` times, interleaved so that a service endpoint, nginx and
//! the direct call see the same machine, and the medians are reported. Then: binary size,
//! resident memory, start-to-ready time, the targets, and cold versus warm `/datasource` latency
//! against catalogues of growing size.
//!
//! Settings (environment): `BENCH_BIN` the binary to measure (default
//! `target/release/airbyte-wrapper`), `BENCH_SECONDS` per run (default 5), `BENCH_ROUNDS` (default
//! 3). The report is Markdown on standard output, also written to `target/bench-report.md`;
//! progress goes to standard error.

mod common;
mod floor;
mod nginx;
#[path = "../support/mod.rs"]
mod support;

use std::io::{self, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::{
    free_address, load_average, mib, spawn, stat_fields, thousands, until_ready, verdict,
    Connection, Service, IDLE_TARGET_KIB, PEAK_TARGET_KIB,
};
use floor::Floor;
use nginx::Nginx;
use support::fake_airbyte::{catalog, FakeAirbyte, Options};
use support::{MYSQL_DEFINITION_ID, MYSQL_SOURCE, S3_DEFINITION_ID, S3_SINK, WORKSPACE_ID};

/// Client connections the load generator keeps open to measure the rate of every case.
const CONNECTIONS: u32 = 16;
/// The service's worker threads at its default settings, with which it runs here.
const WORKERS: usize = 8;
/// Uploads that stall while `/healthz` is measured, and the body each of them promises.
const STALLED_UPLOADS: usize = 4 * WORKERS;
const STALLED_BODY_BYTES: usize = 100_000;
/// The project's targets (README, "Performance"): the rate of `/datasource` and `/sink` against
/// nginx's, the latency they add against what nginx adds, and `/healthz` with uploads stalled.
const RATE_OF_NGINX_TARGET: f64 = 0.6;
const ADDED_LATENCY_TARGET: f64 = 2.0;
const STALLED_HEALTHZ_P99_TARGET_MS: f64 = 5.0;
/// Against the free upstream (issue 18): requests/s at least this share of nginx's; CPU per request,
/// and p50 added at one connection, at most this many times nginx's.
const FREE_RATE_TARGET: f64 = 0.8;
const FREE_CPU_TARGET: f64 = 1.5;
/// The catalogue the load runs against: a current Airbyte's size.
const SOURCE_DEFINITIONS: usize = 600;
const DESTINATION_DEFINITIONS: usize = 60;
/// Catalogue sizes of the cold-versus-warm measurement.
const CATALOGUE_SIZES: [usize; 3] = [60, 600, 6000];
/// Fresh starts per catalogue size (each gives one cold request) and warm requests after each.
const COLD_STARTS: usize = 5;
const WARM_REQUESTS: usize = 40;
/// Starts timed from spawn to the first `200` from `/healthz`.
const READY_STARTS: usize = 20;

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if let [first, listen, upstream] = &arguments[..] {
        if first == floor::ARGUMENT {
            return floor::serve(listen, upstream);
        }
        if first == floor::RELAY_ARGUMENT {
            return floor::serve_relay(listen, upstream);
        }
    }
    let settings = Settings::from_env();
    let mut report = Report::default();
    report.machine(&settings);

    let fake = FakeAirbyte::start_with(Options::under_load());
    fake.set_source_definitions(catalog("source", SOURCE_DEFINITIONS));
    fake.set_destination_definitions(catalog("destination", DESTINATION_DEFINITIONS));
    let airbyte = fake.base_url();

    let nginx = Nginx::start(fake.port);
    let service = Service::start(&settings.bin, &airbyte, None);
    let idle_kib = service.status_kib("VmRSS");
    let mut cases = prepare(&fake, &service, &nginx);
    // The free upstream: nginx answering the Airbyte calls from memory, nginx in front of it as
    // the one-hop reference, and a second service in front of it.
    let free = Nginx::answering(&free_answers(&fake));
    let free_nginx = Nginx::start(free.port());
    let free_service = Service::start(&settings.bin, &free.api_root(), None);
    // Beside it, one whose requests never wait for a slot, and the two floors (`floor.rs`).
    let connections = CONNECTIONS.to_string();
    let wide = Service::start_with(
        &settings.bin,
        &free.api_root(),
        None,
        &[("WORKERS", &connections)],
    );
    let upstream = format!("127.0.0.1:{}", free.port());
    let floors = [
        Floor::start(floor::ARGUMENT, &upstream),
        Floor::start(floor::RELAY_ARGUMENT, &upstream),
    ];
    // And one more service that names the free upstream by this machine's host name, as a
    // deployment names Airbyte (`airbyte-server`): what a call costs when its host must be resolved
    // (nginx resolves its upstream once, at start).
    let named = host_name().map(|name| {
        let url = free.api_root().replacen("127.0.0.1", &name, 1);
        (name, Service::start(&settings.bin, &url, None))
    });
    let by_name = named
        .as_ref()
        .map(|(name, service)| (name.as_str(), service));
    cases.extend(free_cases(
        &free,
        &free_nginx,
        [&free_service, &wide],
        &floors,
        by_name,
        cases.len(),
    ));
    let results = load(&settings, &cases, &plan(&cases), &service.addr);
    report.throughput(&cases, &results);
    report.one_hop(&cases, &results, &nginx.version);
    report.stalled(&cases, &results);
    let memory = Memory {
        idle_kib,
        peak_kib: service.status_kib("VmHWM"),
        after_kib: service.status_kib("VmRSS"),
    };
    drop(service);
    drop(nginx);
    drop(free_service);
    drop(wide);
    drop(floors);
    drop(named);
    drop(free_nginx);
    drop(free);

    report.footprint(&settings, &memory, &start_to_ready(&settings.bin, &airbyte));
    report.targets(&cases, &results, &memory);
    report.catalogue(&cold_and_warm(&settings.bin, &fake));
    report.finish();
}

struct Settings {
    bin: PathBuf,
    static_bin: PathBuf,
    seconds: u32,
    rounds: usize,
    script: PathBuf,
}

impl Settings {
    fn from_env() -> Settings {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let number =
            |name: &str, default: u32| -> u32 {
                match std::env::var(name) {
                    Ok(v) => v.parse().ok().filter(|&n| n > 0).unwrap_or_else(|| {
                        panic!("{name} must be a whole number above 0, got {v:?}")
                    }),
                    Err(_) => default,
                }
            };
        let bin = std::env::var_os("BENCH_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/release/airbyte-wrapper"));
        assert!(
            bin.is_file(),
            "no binary at {}: run `make bench`, or build with `cargo build --release`",
            bin.display()
        );
        Settings {
            bin,
            static_bin: root.join("target/x86_64-unknown-linux-gnu/release/airbyte-wrapper"),
            seconds: number("BENCH_SECONDS", 5),
            rounds: number("BENCH_ROUNDS", 3) as usize,
            script: root.join("tests/bench/wrk.lua"),
        }
    }
}

/// One thing driven by the load generator: a service endpoint, a direct Airbyte call, or the same
/// call through nginx.
struct Case {
    label: String,
    url: String,
    method: &'static str,
    body: String,
    /// For a service endpoint or a call through nginx, the index of the direct call it is
    /// compared with.
    direct: Option<usize>,
    /// For a service endpoint, the index of the same call through nginx.
    nginx: Option<usize>,
    /// For a service endpoint, the same call through the floors, if measured: each floor's name
    /// in the report, and its case's index.
    floors: Vec<(&'static str, usize)>,
    /// The processes that answer it, whose processor time is counted: the service, or nginx's
    /// master and workers; none for a direct call (the fake runs in this process).
    processes: Vec<u32>,
    /// Whether its Airbyte is the free one (nginx answering from memory), not the fake.
    free: bool,
}

impl Case {
    fn new(
        label: String,
        url: String,
        method: &'static str,
        body: String,
        processes: Vec<u32>,
    ) -> Case {
        Case {
            label,
            url,
            method,
            body,
            direct: None,
            nginx: None,
            floors: Vec::new(),
            processes,
            free: false,
        }
    }
}

/// The body the service sends Airbyte to create its seed source (`sources/create`) or sink.
fn create_body(call: &str) -> Value {
    let (seed, definition_field, definition) = match call {
        "sources/create" => (MYSQL_SOURCE, "sourceDefinitionId", MYSQL_DEFINITION_ID),
        _ => (S3_SINK, "destinationDefinitionId", S3_DEFINITION_ID),
    };
    let seed: Value = serde_json::from_str(seed).unwrap();
    json!({
        "workspaceId": WORKSPACE_ID, definition_field: definition,
        "name": seed["name"], "connectionConfiguration": seed["config"],
    })
}

/// What the free upstream answers: the calls of a warm `/datasource` and `/sink` (the creates,
/// answered as the fake answers them) and of the service's first requests (health, workspaces,
/// one definition of each kind, their specs), all from memory.
fn free_answers(fake: &FakeAirbyte) -> Vec<(&'static str, String)> {
    let mut airbyte =
        Connection::open(&format!("127.0.0.1:{}", fake.port)).expect("connect to the fake Airbyte");
    let mut answer = |call: &str| -> String {
        let body = create_body(call).to_string();
        let (status, text) = airbyte.exchange("POST", &format!("/api/v1/{call}"), Some(&body));
        assert_eq!(status, 200, "{call} for the free upstream: {text}");
        text
    };
    let created_source = answer("sources/create");
    let created_sink = answer("destinations/create");
    let secret = json!({"type": "string", "airbyte_secret": true});
    vec![
        ("health", json!({"available": true}).to_string()),
        (
            "workspaces/list",
            json!({"workspaces": [{"workspaceId": WORKSPACE_ID}]}).to_string(),
        ),
        (
            "source_definitions/list_for_workspace",
            json!({"sourceDefinitions": [{"sourceDefinitionId": MYSQL_DEFINITION_ID, "name": "MySQL", "dockerRepository": "airbyte/source-mysql"}]}).to_string(),
        ),
        (
            "destination_definitions/list_for_workspace",
            json!({"destinationDefinitions": [{"destinationDefinitionId": S3_DEFINITION_ID, "name": "S3", "dockerRepository": "airbyte/destination-s3"}]}).to_string(),
        ),
        (
            "source_definition_specifications/get",
            json!({"connectionSpecification": {"type": "object", "properties": {"password": secret}}}).to_string(),
        ),
        (
            "destination_definition_specifications/get",
            json!({"connectionSpecification": {"type": "object", "properties": {"access_key_id": secret, "secret_access_key": secret}}}).to_string(),
        ),
        ("sources/create", created_source),
        ("destinations/create", created_sink),
    ]
}

/// This machine's host name, when it resolves to loopback (as `/etc/hosts` usually has it) and is
/// not `localhost`, which the service never resolves.
fn host_name() -> Option<String> {
    use std::net::ToSocketAddrs;
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    let addresses: Vec<_> = (name, 80).to_socket_addrs().ok()?.collect();
    let loopback = !addresses.is_empty() && addresses.iter().all(|a| a.ip().is_loopback());
    (loopback && !name.eq_ignore_ascii_case("localhost")).then(|| name.to_string())
}

/// Warms a service with one create of each kind.
fn warm(service: &Service) {
    let mut client = service.connect();
    for (path, body) in [("/datasource", MYSQL_SOURCE), ("/sink", S3_SINK)] {
        let (status, text) = client.exchange("POST", path, Some(body));
        assert_eq!(
            status, 201,
            "warming the service of the free upstream: {text}"
        );
    }
}

/// `/datasource` and `/sink` against the free upstream: the service at its defaults (warmed by one
/// create each), the create made directly, and through nginx; then `/sink` beside the same direct
/// call and nginx through the service with `WORKERS` equal to the connections (`wide`), through
/// the two floors, and through a service that names the upstream by `by_name`'s host name,
/// when there is one; numbered from `first`.
fn free_cases(
    free: &Nginx,
    free_nginx: &Nginx,
    [service, wide]: [&Service; 2],
    [floor, relay]: &[Floor; 2],
    by_name: Option<(&str, &Service)>,
    first: usize,
) -> Vec<Case> {
    let mut cases = Vec::new();
    // The index the next case will have.
    let next = |cases: &Vec<Case>| first + cases.len();
    let endpoint = |label: String, service: &Service, path: &str, seed: &str, direct, nginx| {
        let mut case = Case::new(
            label,
            service.url(path),
            "POST",
            seed.to_string(),
            vec![service.pid()],
        );
        (case.direct, case.nginx) = (Some(direct), Some(nginx));
        case
    };
    let mut sink = (0, 0);
    for (path, seed, call) in [
        ("/datasource", MYSQL_SOURCE, "sources/create"),
        ("/sink", S3_SINK, "destinations/create"),
    ] {
        let at = next(&cases);
        let direct = Case::new(
            format!("↳ direct `{call}`, free upstream"),
            free.url(call),
            "POST",
            create_body(call).to_string(),
            Vec::new(),
        );
        let mut proxied = Case::new(
            format!("↳ nginx `{call}`, free upstream"),
            free_nginx.url(call),
            "POST",
            create_body(call).to_string(),
            free_nginx.pids.clone(),
        );
        proxied.direct = Some(at + 1);
        let label = format!("`POST {path}`, free upstream");
        cases.extend([
            endpoint(label, service, path, seed, at + 1, at + 2),
            direct,
            proxied,
        ]);
        sink = (at + 1, at + 2);
    }
    // `/sink` again, compared with the same direct call and nginx as above.
    let (direct, nginx) = sink;
    let at = next(&cases);
    let label = format!("`POST /sink`, free upstream, `WORKERS={CONNECTIONS}`");
    let mut wide_sink = endpoint(label, wide, "/sink", S3_SINK, direct, nginx);
    const FLOORS: [&str; 2] = ["blocking floor", "relay on tiny_http and ureq-proto"];
    wide_sink.floors = vec![(FLOORS[0], at + 1), (FLOORS[1], at + 2)];
    let call = "destinations/create";
    let floored = |way: &str, floor: &Floor| {
        let mut case = Case::new(
            format!("↳ {way} `{call}`, free upstream"),
            floor.url(&format!("/api/v1/{call}")),
            "POST",
            create_body(call).to_string(),
            vec![floor.pid()],
        );
        case.direct = Some(direct);
        case
    };
    cases.extend([
        wide_sink,
        floored(FLOORS[0], floor),
        floored(FLOORS[1], relay),
    ]);
    if let Some((name, named)) = by_name {
        let label = format!("`POST /sink`, free upstream named `{name}`");
        cases.push(endpoint(label, named, "/sink", S3_SINK, direct, nginx));
    }
    for case in &mut cases {
        case.free = true;
    }
    for service in [service, wide].into_iter().chain(by_name.map(|(_, s)| s)) {
        warm(service);
    }
    cases
}

/// Creates a source and a sink through the service (so the definition caches are warm and the
/// ingestion has real ids), records the Airbyte calls that made, and returns every case: each
/// service endpoint next to the direct call it needs, with the very body the service sent, and
/// for `/datasource` and `/sink` the same call through nginx.
fn prepare(fake: &FakeAirbyte, service: &Service, nginx: &Nginx) -> Vec<Case> {
    let mut client = service.connect();
    fake.set_recording(true);
    let created = |answer: (u16, String)| -> String {
        assert_eq!(answer.0, 201, "setting up the benchmark: {}", answer.1);
        let body: Value = serde_json::from_str(&answer.1).unwrap();
        body["id"].as_str().unwrap().to_string()
    };
    let source = created(client.exchange("POST", "/datasource", Some(MYSQL_SOURCE)));
    let sink = created(client.exchange("POST", "/sink", Some(S3_SINK)));
    let ingestion = json!({
        "sourceId": source, "sinkId": sink,
        "created": "2024-01-01T00:00:00Z", "updated": "2024-01-01T00:00:00Z"
    })
    .to_string();
    created(client.exchange("POST", "/ingestion", Some(&ingestion)));
    fake.set_recording(false);
    let sent = |call: &str| fake.last_body(call).to_string();
    let upstream = |call: &str| format!("{}/{call}", fake.base_url());
    let direct = |call: &str, method| {
        let body = if method == "GET" {
            String::new()
        } else {
            sent(call)
        };
        Case::new(
            format!("↳ direct `{call}`"),
            upstream(call),
            method,
            body,
            Vec::new(),
        )
    };
    let proxied = |call: &str| {
        Case::new(
            format!("↳ nginx `{call}`"),
            nginx.url(call),
            "POST",
            sent(call),
            nginx.pids.clone(),
        )
    };
    let endpoint = |method, path: &str, body: &str| {
        Case::new(
            format!("`{method} {path}`"),
            service.url(path),
            method,
            body.to_string(),
            vec![service.pid()],
        )
    };
    let mut cases = vec![
        endpoint("GET", "/healthz", ""),
        endpoint("GET", "/readyz", ""),
        direct("health", "GET"),
        endpoint("POST", "/datasource", MYSQL_SOURCE),
        direct("sources/create", "POST"),
        proxied("sources/create"),
        endpoint("POST", "/sink", S3_SINK),
        direct("destinations/create", "POST"),
        proxied("destinations/create"),
        endpoint("POST", "/ingestion", &ingestion),
        direct("connections/create", "POST"),
        direct("sources/discover_schema", "POST"),
    ];
    for (case, call) in [(1, 2), (3, 4), (5, 4), (6, 7), (8, 7), (9, 10)] {
        cases[case].direct = Some(call);
    }
    for (endpoint, proxied) in [(3, 5), (6, 8)] {
        cases[endpoint].nginx = Some(proxied);
    }
    fake.clear_requests();
    cases
}

/// How wrk drives a case: with how many connections, and whether uploads stall on the service
/// meanwhile.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Shape {
    connections: u32,
    stalled: bool,
}

/// The rate of every case.
const LOADED: Shape = Shape {
    connections: CONNECTIONS,
    stalled: false,
};
/// Latency with nothing queued: one request at a time.
const ALONE: Shape = Shape {
    connections: 1,
    stalled: false,
};
/// `/healthz` with `STALLED_UPLOADS` uploads stalled, one request at a time and under load.
const STALLED: [Shape; 2] = [
    Shape {
        connections: 1,
        stalled: true,
    },
    Shape {
        connections: CONNECTIONS,
        stalled: true,
    },
];

impl Shape {
    /// wrk's threads: two, as there are two cores, unless there is one connection.
    fn threads(self) -> u32 {
        self.connections.min(2)
    }

    /// wrk's timeout, in seconds: shorter with stalled uploads, where answers may never come.
    fn timeout_s(self) -> u32 {
        if self.stalled {
            2
        } else {
            5
        }
    }

    fn describe(self) -> String {
        let connections = match self.connections {
            1 => "1 connection".to_string(),
            n => format!("{n} connections"),
        };
        if self.stalled {
            format!("{connections}, {STALLED_UPLOADS} uploads stalled")
        } else {
            connections
        }
    }
}

/// One measurement: a case driven in one shape.
#[derive(Clone, Copy, PartialEq)]
struct Measure {
    case: usize,
    shape: Shape,
}

/// Every case's rate at 16 connections; direct, nginx and the service at 1 connection, for each
/// endpoint compared with nginx; `/healthz` with uploads stalled.
fn plan(cases: &[Case]) -> Vec<Measure> {
    let measure = |shape| move |case| Measure { case, shape };
    let mut plan: Vec<Measure> = (0..cases.len()).map(measure(LOADED)).collect();
    for (i, case) in cases.iter().enumerate() {
        if let (Some(direct), Some(nginx)) = (case.direct, case.nginx) {
            // Cases compared with the same direct call and nginx measure those once.
            let floors = case.floors.iter().map(|&(_, f)| f);
            for m in [direct, nginx, i]
                .into_iter()
                .chain(floors)
                .map(measure(ALONE))
            {
                if !plan.contains(&m) {
                    plan.push(m);
                }
            }
        }
    }
    plan.extend(STALLED.map(|shape| Measure {
        case: healthz(cases),
        shape,
    }));
    plan
}

/// What one run measured: wrk's numbers, and the processor time the answering processes (the
/// service or nginx) and the fake Airbyte spent per request.
#[derive(Clone, Copy, Debug, Default)]
struct Run {
    /// Answers received, slow ones included.
    requests: u64,
    per_second: f64,
    p50_us: f64,
    p99_us: f64,
    /// Socket errors, timeouts and statuses other than 2xx and 3xx.
    errors: u64,
    /// Requests not answered within wrk's timeout (counted again every 2 s while they wait).
    timeouts: u64,
    /// For a run with stalled uploads: how many the service still held open at its end.
    stalled_left: usize,
    server_us: f64,
    /// Of `server_us`, the time the kernel spent on the service's or nginx's behalf (system
    /// calls, wake-ups): where a blocking thread per connection pays and an event loop does not.
    server_kernel_us: f64,
    airbyte_us: f64,
}

impl Run {
    /// The kernel's share of the answering processes' time, in percent.
    fn kernel_percent(&self) -> f64 {
        100.0 * self.server_kernel_us / self.server_us.max(f64::MIN_POSITIVE)
    }
}

/// Processor time (user and system) some processes have used so far, all their threads, in
/// microseconds. `/proc` counts it in clock ticks of 10 ms (`USER_HZ` is 100 on Linux): over a run
/// of seconds, a fraction of a percent.
fn cpu_us(pids: &[u32]) -> f64 {
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    stat_us(pids, &[11, 12])
}

/// Of [`cpu_us`], the system time: the kernel's, on the processes' behalf.
fn kernel_us(pids: &[u32]) -> f64 {
    stat_us(pids, &[12])
}

fn stat_us(pids: &[u32], fields: &[usize]) -> f64 {
    let ticks = |pid: u32| {
        let values = stat_fields(pid);
        fields
            .iter()
            .filter_map(|&i| values.get(i)?.parse::<f64>().ok())
            .sum::<f64>()
    };
    pids.iter().map(|&pid| ticks(pid)).sum::<f64>() * 10_000.0
}

fn wrk(settings: &Settings, case: &Case, shape: Shape, seconds: u32) -> Run {
    let this = [std::process::id()];
    let before = (
        cpu_us(&case.processes),
        cpu_us(&this),
        kernel_us(&case.processes),
    );
    let output = Command::new("wrk")
        .arg(format!("-t{}", shape.threads()))
        .arg(format!("-c{}", shape.connections))
        .arg(format!("-d{seconds}s"))
        .arg(format!("--timeout={}s", shape.timeout_s()))
        .arg("-s")
        .arg(&settings.script)
        .arg(&case.url)
        .env("BENCH_METHOD", case.method)
        .env("BENCH_BODY", &case.body)
        .stdin(Stdio::null())
        .output()
        .expect("run wrk (make bench installs it; or apt-get install wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    let Some(summary) = text.lines().find_map(|l| l.strip_prefix("BENCH ")) else {
        panic!(
            "wrk gave no summary for {}: {text}{}",
            case.label,
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let field = |name: &str| -> f64 {
        summary
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("wrk summary without {name}: {summary}"))
    };
    let requests = field("requests");
    // Per request, with a floor of one so that a run without answers divides by something.
    let per_request = |us: f64| us / requests.max(1.0);
    Run {
        requests: requests as u64,
        per_second: requests / (field("duration_us") / 1e6),
        p50_us: field("p50_us"),
        p99_us: field("p99_us"),
        errors: (field("socket_errors") + field("timeouts") + field("bad_status")) as u64,
        timeouts: field("timeouts") as u64,
        stalled_left: 0,
        server_us: per_request(cpu_us(&case.processes) - before.0),
        server_kernel_us: per_request(kernel_us(&case.processes) - before.2),
        airbyte_us: per_request(cpu_us(&this) - before.1),
    }
}

/// Uploads that stall: connections that send the head of a `POST /datasource` promising
/// `STALLED_BODY_BYTES`, the first byte of that body, and then nothing. Closed when dropped.
struct Stalls(Vec<TcpStream>);

impl Stalls {
    fn open(addr: &str) -> Stalls {
        let head = format!(
            "POST /datasource HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {STALLED_BODY_BYTES}\r\n\r\n{{"
        );
        let stall = |_| {
            let mut stream = TcpStream::connect(addr)?;
            stream.write_all(head.as_bytes())?;
            Ok(stream)
        };
        let streams: io::Result<Vec<TcpStream>> = (0..STALLED_UPLOADS).map(stall).collect();
        Stalls(streams.unwrap_or_else(|e| panic!("open a stalled upload to the service: {e}")))
    }

    /// How many the service still holds open: it has neither answered nor closed them.
    fn still_open(&self) -> usize {
        let waiting = |s: &TcpStream| {
            s.set_nonblocking(true).is_ok()
                && matches!(s.peek(&mut [0]), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
        };
        self.0.iter().filter(|s| waiting(s)).count()
    }
}

/// One measurement once; stalled uploads, when its shape has them, are opened before and closed
/// after, so that each run sees them fresh (the service may drop one after `CLIENT_TIMEOUT_SECS`).
fn run(settings: &Settings, case: &Case, shape: Shape, seconds: u32, service: &str) -> Run {
    if !shape.stalled {
        return wrk(settings, case, shape, seconds);
    }
    let stalls = Stalls::open(service);
    let run = wrk(settings, case, shape, seconds);
    Run {
        stalled_left: stalls.still_open(),
        ..run
    }
}

/// The medians of each measurement of the plan, in its order.
struct Results {
    plan: Vec<Measure>,
    runs: Vec<Run>,
}

impl Results {
    fn of(&self, case: usize, shape: Shape) -> Run {
        self.plan
            .iter()
            .zip(&self.runs)
            .find(|(m, _)| m.case == case && m.shape == shape)
            .map(|(_, run)| *run)
            .expect("every case in the report was measured")
    }
}

/// Every case once for a second at 16 connections to warm up, then the plan `rounds` times in
/// turn; the median of each measurement. `service` is the address stalled uploads go to.
fn load(settings: &Settings, cases: &[Case], plan: &[Measure], service: &str) -> Results {
    for case in cases {
        progress(&format!("warming up {}", case.label));
        wrk(settings, case, LOADED, 1);
    }
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); plan.len()];
    for round in 1..=settings.rounds {
        for (m, runs) in plan.iter().zip(&mut runs) {
            let case = &cases[m.case];
            progress(&format!(
                "round {round}/{}: {} at {} for {} s",
                settings.rounds,
                case.label,
                m.shape.describe(),
                settings.seconds
            ));
            runs.push(run(settings, case, m.shape, settings.seconds, service));
        }
    }
    let runs = runs
        .iter()
        .map(|runs| Run {
            requests: runs.iter().map(|r| r.requests).sum(),
            per_second: median(runs.iter().map(|r| r.per_second)),
            p50_us: median(runs.iter().map(|r| r.p50_us)),
            p99_us: median(runs.iter().map(|r| r.p99_us)),
            errors: runs.iter().map(|r| r.errors).sum(),
            timeouts: runs.iter().map(|r| r.timeouts).sum(),
            stalled_left: runs.iter().map(|r| r.stalled_left).min().unwrap_or(0),
            server_us: median(runs.iter().map(|r| r.server_us)),
            server_kernel_us: median(runs.iter().map(|r| r.server_kernel_us)),
            airbyte_us: median(runs.iter().map(|r| r.airbyte_us)),
        })
        .collect();
    Results {
        plan: plan.to_vec(),
        runs,
    }
}

struct Memory {
    idle_kib: u64,
    peak_kib: u64,
    after_kib: u64,
}

/// Times from spawning the binary to its first `200` from `/healthz`.
fn start_to_ready(bin: &Path, airbyte: &str) -> Vec<Duration> {
    progress(&format!("start to ready, {READY_STARTS} starts"));
    (0..READY_STARTS)
        .map(|_| {
            let addr = free_address();
            let started = Instant::now();
            let mut child = spawn(bin, &addr, airbyte, Stdio::null(), &[]);
            let ready = until_ready(&addr, &mut child, started);
            let _ = child.kill();
            let _ = child.wait();
            ready.unwrap_or_else(|e| panic!("the service did not start: {e}"))
        })
        .collect()
}

/// One catalogue size of the cold-versus-warm measurement.
struct Catalogue {
    definitions: usize,
    list_bytes: usize,
    cold: Vec<Duration>,
    warm: Vec<Duration>,
    rss_kib: Vec<u64>,
}

/// For each catalogue size: fresh services, each timing its first `/datasource` (workspace list,
/// definition list, create) and then warm ones (the create alone), one request at a time.
fn cold_and_warm(bin: &Path, fake: &FakeAirbyte) -> Vec<Catalogue> {
    CATALOGUE_SIZES
        .iter()
        .map(|&definitions| {
            progress(&format!(
                "cold and warm /datasource, {definitions} source definitions"
            ));
            let list = catalog("source", definitions);
            let list_bytes = json!({ "sourceDefinitions": list }).to_string().len();
            fake.set_source_definitions(list);
            let mut result = Catalogue {
                definitions,
                list_bytes,
                cold: Vec::new(),
                warm: Vec::new(),
                rss_kib: Vec::new(),
            };
            for _ in 0..COLD_STARTS {
                let service = Service::start(bin, &fake.base_url(), None);
                let mut client = service.connect();
                let mut timed = || {
                    let started = Instant::now();
                    let answer = client.exchange("POST", "/datasource", Some(MYSQL_SOURCE));
                    assert_eq!(answer.0, 201, "/datasource: {}", answer.1);
                    started.elapsed()
                };
                result.cold.push(timed());
                for _ in 0..WARM_REQUESTS {
                    result.warm.push(timed());
                }
                result.rss_kib.push(service.status_kib("VmRSS"));
            }
            result
        })
        .collect()
}

/// An endpoint measured against nginx: the indexes of its case, its direct call's and nginx's.
struct Hop {
    endpoint: usize,
    direct: usize,
    nginx: usize,
    floors: Vec<(&'static str, usize)>,
}

fn hops(cases: &[Case]) -> Vec<Hop> {
    (0..cases.len())
        .filter_map(|endpoint| {
            Some(Hop {
                endpoint,
                direct: cases[endpoint].direct?,
                nginx: cases[endpoint].nginx?,
                floors: cases[endpoint].floors.clone(),
            })
        })
        .collect()
}

fn healthz(cases: &[Case]) -> usize {
    cases
        .iter()
        .position(|c| c.label.contains("/healthz"))
        .expect("a /healthz case")
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn median_ms(values: &[Duration]) -> f64 {
    median(values.iter().map(|d| d.as_secs_f64() * 1000.0))
}

/// Microseconds with a sign, as they are: what a hop adds, where a target is judged by it.
fn signed_us(us: f64) -> String {
    format!("{}{:.0} µs", if us < 0.0 { "−" } else { "+" }, us.abs())
}

/// Microseconds as milliseconds with a sign: what a hop adds.
fn signed_ms(us: f64) -> String {
    format!(
        "{}{:.2} ms",
        if us < 0.0 { "−" } else { "+" },
        us.abs() / 1000.0
    )
}

fn progress(what: &str) {
    eprintln!("bench: {what}");
}

/// The report, printed at the end and written to `target/bench-report.md`.
#[derive(Default)]
struct Report {
    text: String,
}

impl Report {
    fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    fn machine(&mut self, settings: &Settings) {
        let wrk_version = Command::new("wrk")
            .arg("--version")
            .output()
            .map(|o| {
                let text = String::from_utf8_lossy(&o.stdout).into_owned()
                    + &String::from_utf8_lossy(&o.stderr);
                text.split_whitespace().nth(1).unwrap_or("?").to_string()
            })
            .unwrap_or_else(|_| "missing".to_string());
        self.line("## airbyte-wrapper benchmark");
        self.line("");
        self.line(&format!(
            "Machine: {}, load average before the run {}. wrk {wrk_version}, \
             {CONNECTIONS} connections, 2 threads; load generator, fake Airbyte and service share \
             the cores. Each case {} × {} s, medians. Catalogue: {SOURCE_DEFINITIONS} source and \
             {DESTINATION_DEFINITIONS} destination definitions. Service: `{}`, default settings.",
            common::machine(),
            load_average(),
            settings.rounds,
            settings.seconds,
            settings.bin.display()
        ));
        self.line("");
    }

    fn throughput(&mut self, cases: &[Case], results: &Results) {
        let runs: Vec<Run> = (0..cases.len()).map(|i| results.of(i, LOADED)).collect();
        self.line(
            "| endpoint | requests/s | p50 | p99 | errors | of the direct upstream call \
             | CPU per request: service or nginx | fake Airbyte |",
        );
        self.line("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |");
        for (case, run) in cases.iter().zip(&runs) {
            let ratio = match case.direct {
                Some(d) => format!(
                    "{:.2} of `{}`",
                    run.per_second / runs[d].per_second,
                    cases[d].url.rsplit("/api/v1/").next().unwrap_or("")
                ),
                None if case.url.contains("/api/v1/") => "(the limit)".to_string(),
                None => "(calls nothing)".to_string(),
            };
            let server_cpu = match case.processes.is_empty() {
                true => "—".to_string(),
                false => format!(
                    "{:.0} µs ({:.0}% kernel)",
                    run.server_us,
                    run.kernel_percent()
                ),
            };
            self.line(&format!(
                "| {} | {} | {:.2} ms | {:.2} ms | {} | {ratio} | {server_cpu} | {:.0} µs |",
                case.label,
                thousands(run.per_second),
                run.p50_us / 1000.0,
                run.p99_us / 1000.0,
                run.errors,
                run.airbyte_us,
            ));
        }
        // /ingestion makes two calls in turn: its limit is both of them one after the other.
        if let (Some(i), Some(c), Some(d)) = (
            cases.iter().position(|c| c.label.contains("/ingestion")),
            cases
                .iter()
                .position(|c| c.label.contains("connections/create")),
            cases
                .iter()
                .position(|c| c.label.contains("discover_schema")),
        ) {
            let both = 1.0 / (1.0 / runs[c].per_second + 1.0 / runs[d].per_second);
            self.line("");
            self.line(&format!(
                "`/ingestion` calls `sources/discover_schema` then `connections/create`: both in \
                 turn allow {} requests/s, of which it reaches {:.2}.",
                thousands(both),
                runs[i].per_second / both
            ));
        }
        self.line("");
    }

    /// Direct, nginx and the service side by side, for each endpoint measured against nginx.
    fn one_hop(&mut self, cases: &[Case], results: &Results, nginx: &str) {
        self.line(&format!(
            "One HTTP hop: the Airbyte call an endpoint needs made directly, through {nginx} as a \
             plain reverse proxy (`proxy_pass`, upstream keep-alive, one worker per core), and \
             through the service; for one `/sink` against the free upstream, also through the \
             blocking floor (a proxy built as the service is, a blocking thread per connection, \
             that only relays) and a relay on the design's packages (the service's tiny_http in \
             front, ureq's protocol core behind, no JSON). Requests/s at {CONNECTIONS} connections; p50 and p99 at 1 \
             connection (one request at a time), and what each hop adds to the direct call's."
        ));
        self.line("");
        self.line(
            "| endpoint | way | requests/s | of nginx's | p50 | p99 | p50 added | p99 added \
             | errors |",
        );
        self.line("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for hop in hops(cases) {
            let direct = results.of(hop.direct, ALONE);
            let nginx_rate = results.of(hop.nginx, LOADED).per_second;
            let floors = hop.floors.iter().map(|&(way, f)| (way.to_string(), f));
            for (way, case) in [
                (cases[hop.direct].label.replace("↳ ", ""), hop.direct),
                ("nginx".to_string(), hop.nginx),
            ]
            .into_iter()
            .chain(floors)
            .chain([("service".to_string(), hop.endpoint)])
            {
                let (loaded, alone) = (results.of(case, LOADED), results.of(case, ALONE));
                let (endpoint, added) = match case == hop.direct {
                    true => (
                        cases[hop.endpoint].label.as_str(),
                        ["—".to_string(), "—".to_string()],
                    ),
                    false => (
                        "",
                        [
                            signed_ms(alone.p50_us - direct.p50_us),
                            signed_ms(alone.p99_us - direct.p99_us),
                        ],
                    ),
                };
                self.line(&format!(
                    "| {endpoint} | {way} | {} | {:.2} | {:.2} ms | {:.2} ms | {} | {} | {} |",
                    thousands(loaded.per_second),
                    loaded.per_second / nginx_rate,
                    alone.p50_us / 1000.0,
                    alone.p99_us / 1000.0,
                    added[0],
                    added[1],
                    loaded.errors + alone.errors,
                ));
            }
        }
        self.line("");
    }

    /// `/healthz` while uploads stall.
    fn stalled(&mut self, cases: &[Case], results: &Results) {
        self.line(&format!(
            "`GET /healthz` while {STALLED_UPLOADS} uploads stall (4 × the default `WORKERS`): \
             before each run, {STALLED_UPLOADS} connections send the head of a \
             `POST /datasource` with `Content-Length: {STALLED_BODY_BYTES}` and the body's first \
             byte, then nothing; they are closed after it. A request that waits {} s counts as a \
             timeout, and again every 2 s it goes on waiting (none are counted in a run shorter \
             than that: see the answers).",
            STALLED[0].timeout_s()
        ));
        self.line("");
        self.line(
            "| connections | requests/s | p50 | p99 | answers | timeouts | other errors \
             | uploads still stalled at the end |",
        );
        self.line("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        let healthz = healthz(cases);
        for shape in STALLED {
            let run = results.of(healthz, shape);
            let ms = |us: f64| match run.requests {
                0 => "–".to_string(),
                _ => format!("{:.2} ms", us / 1000.0),
            };
            self.line(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} of {STALLED_UPLOADS} |",
                shape.connections,
                thousands(run.per_second),
                ms(run.p50_us),
                ms(run.p99_us),
                thousands(run.requests as f64),
                run.timeouts,
                run.errors - run.timeouts,
                run.stalled_left,
            ));
        }
        self.line("");
    }

    /// The project's targets next to what this run measured.
    fn targets(&mut self, cases: &[Case], results: &Results, memory: &Memory) {
        self.line("| target | measured | |");
        self.line("| --- | ---: | --- |");
        let (free, hops): (Vec<Hop>, Vec<Hop>) = hops(cases)
            .into_iter()
            .partition(|h| cases[h.endpoint].free);
        for hop in &hops {
            let ratio = results.of(hop.endpoint, LOADED).per_second
                / results.of(hop.nginx, LOADED).per_second;
            self.line(&format!(
                "| {} requests/s at {CONNECTIONS} connections, at least {RATE_OF_NGINX_TARGET} × \
                 nginx's | {ratio:.2} | {} |",
                cases[hop.endpoint].label,
                verdict(ratio >= RATE_OF_NGINX_TARGET),
            ));
        }
        for hop in &hops {
            let p50 = |case| results.of(case, ALONE).p50_us;
            let nginx = p50(hop.nginx) - p50(hop.direct);
            let service = p50(hop.endpoint) - p50(hop.direct);
            let ratio = match nginx > 0.0 {
                true => format!("{:.1} ×", service / nginx),
                false => "–".to_string(),
            };
            self.line(&format!(
                "| {} at 1 connection: p50 added to the direct call, at most \
                 {ADDED_LATENCY_TARGET} × what nginx adds | {ratio} ({} against {}) | {} |",
                cases[hop.endpoint].label,
                signed_ms(service),
                signed_ms(nginx),
                verdict(service <= ADDED_LATENCY_TARGET * nginx),
            ));
        }
        // Issue 18's targets, against the free upstream: the service's own cost beside nginx's.
        for hop in &free {
            let (service, nginx) = (
                results.of(hop.endpoint, LOADED),
                results.of(hop.nginx, LOADED),
            );
            let rate = service.per_second / nginx.per_second;
            let cpu = service.server_us / nginx.server_us;
            let p50 = |case| results.of(case, ALONE).p50_us;
            let (added, nginx_added) = (
                p50(hop.endpoint) - p50(hop.direct),
                p50(hop.nginx) - p50(hop.direct),
            );
            let label = &cases[hop.endpoint].label;
            self.line(&format!(
                "| {label}: requests/s at {CONNECTIONS} connections, at least {FREE_RATE_TARGET} × \
                 nginx's | {rate:.2} | {} |",
                verdict(rate >= FREE_RATE_TARGET),
            ));
            self.line(&format!(
                "| {label}: CPU per request at most {FREE_CPU_TARGET} × nginx's | {cpu:.2} × \
                 ({:.0} µs, {:.0}% in the kernel, against {:.0} µs, {:.0}%) | {} |",
                service.server_us,
                service.kernel_percent(),
                nginx.server_us,
                nginx.kernel_percent(),
                verdict(cpu <= FREE_CPU_TARGET),
            ));
            // In microseconds, as wrk measures them: rounded to a hundredth of a millisecond, a
            // verdict could read as the opposite of the figures beside it.
            self.line(&format!(
                "| {label}: p50 added at 1 connection at most {FREE_CPU_TARGET} × nginx's | \
                 {} against {}{} | {} |",
                signed_us(added),
                signed_us(nginx_added),
                if nginx_added > 0.0 {
                    format!(" ({:.2} ×)", added / nginx_added)
                } else {
                    String::new()
                },
                verdict(added <= FREE_CPU_TARGET * nginx_added),
            ));
        }
        let healthz = healthz(cases);
        for shape in STALLED {
            let run = results.of(healthz, shape);
            let p99_ms = run.p99_us / 1000.0;
            let measured = match (run.requests, run.timeouts) {
                (0, _) => "no answer".to_string(),
                (_, 0) => format!("{p99_ms:.2} ms"),
                (_, t) => format!("{p99_ms:.2} ms, and {t} timeouts"),
            };
            self.line(&format!(
                "| `GET /healthz` p99 at {}, under {STALLED_HEALTHZ_P99_TARGET_MS} ms | {measured} \
                 | {} |",
                shape.describe(),
                verdict(
                    run.requests > 0
                        && run.errors == 0
                        && p99_ms < STALLED_HEALTHZ_P99_TARGET_MS
                ),
            ));
        }
        for (what, kib, target) in [
            ("idle (`VmRSS`)", memory.idle_kib, IDLE_TARGET_KIB),
            (
                "peak under load (`VmHWM`)",
                memory.peak_kib,
                PEAK_TARGET_KIB,
            ),
        ] {
            self.line(&format!(
                "| resident memory {what}, under {} | {} | {} |",
                mib(target),
                mib(kib),
                verdict(kib < target),
            ));
        }
        self.line("");
    }

    fn footprint(&mut self, settings: &Settings, memory: &Memory, ready: &[Duration]) {
        self.line("| measure | value |");
        self.line("| --- | ---: |");
        let mut bins = vec![&settings.bin, &settings.static_bin];
        bins.dedup();
        for bin in bins {
            if let Ok(meta) = std::fs::metadata(bin) {
                self.line(&format!(
                    "| binary size, `{}` | {} ({} bytes) |",
                    bin.display(),
                    mib(meta.len() / 1024),
                    thousands(meta.len() as f64)
                ));
            }
        }
        self.line(&format!(
            "| resident memory idle, started (`VmRSS`) | {} |",
            mib(memory.idle_kib)
        ));
        self.line(&format!(
            "| resident memory peak under load (`VmHWM`) | {} |",
            mib(memory.peak_kib)
        ));
        self.line(&format!(
            "| resident memory idle, after the load (`VmRSS`) | {} |",
            mib(memory.after_kib)
        ));
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        self.line(&format!(
            "| start to first `200` from `/healthz`, median of {} (min–max) | {:.1} ms ({:.1}–{:.1}) |",
            ready.len(),
            median_ms(ready),
            ready.iter().copied().map(ms).fold(f64::INFINITY, f64::min),
            ready.iter().copied().map(ms).fold(0.0, f64::max),
        ));
        self.line("");
    }

    fn catalogue(&mut self, results: &[Catalogue]) {
        self.line(&format!(
            "`/datasource` one request at a time: cold is the first request after start \
             (workspace list, definition list, create; median of {COLD_STARTS} starts), warm the \
             {WARM_REQUESTS} after it (the create alone; median)."
        ));
        self.line("");
        self.line("| source definitions | list answer | cold | warm | resident memory after |");
        self.line("| ---: | ---: | ---: | ---: | ---: |");
        for r in results {
            self.line(&format!(
                "| {} | {:.0} KiB | {:.2} ms | {:.2} ms | {} |",
                thousands(r.definitions as f64),
                r.list_bytes as f64 / 1024.0,
                median_ms(&r.cold),
                median_ms(&r.warm),
                mib(median(r.rss_kib.iter().map(|&k| k as f64)) as u64),
            ));
        }
        self.line("");
    }

    fn finish(&mut self) {
        self.line(&format!("Load average after the run: {}.", load_average()));
        print!("{}", self.text);
        if let Some(path) = common::write_report("bench-report.md", &self.text) {
            progress(&format!("report written to {}", path.display()));
        }
    }
}
