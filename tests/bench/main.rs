//! `make bench`: what the service adds to the Airbyte calls it must make, measured side by side in
//! one run, and printed; nothing is asserted about timings.
//!
//! A fast fake Airbyte (`tests/support/fake_airbyte.rs`: realistic definition lists, recording off,
//! a bounded store) runs inside this process; the release binary runs against it with its default
//! settings; `wrk` drives each endpoint and, in the same run, the one Airbyte call that endpoint
//! needs, with the same body the service sends, at the same concurrency for the same time. Each
//! case runs `BENCH_ROUNDS` times, the cases interleaved so that a service endpoint and its direct
//! call see the same machine, and the medians are reported. Then: binary size, resident memory,
//! start-to-ready time, and cold versus warm `/datasource` latency against catalogues of growing
//! size.
//!
//! Settings (environment): `BENCH_BIN` the binary to measure (default
//! `target/release/airbyte-wrapper`), `BENCH_SECONDS` per run (default 5), `BENCH_ROUNDS` (default
//! 3). The report is Markdown on standard output, also written to `target/bench-report.md`;
//! progress goes to standard error.

mod common;
#[path = "../support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::{free_address, load_average, mib, spawn, thousands, until_ready, Service};
use support::fake_airbyte::{catalog, FakeAirbyte, Options};
use support::{MYSQL_SOURCE, S3_SINK};

/// Client connections the load generator keeps open, for every case.
const CONNECTIONS: u32 = 16;
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
    let settings = Settings::from_env();
    let mut report = Report::default();
    report.machine(&settings);

    let fake = FakeAirbyte::start_with(Options::under_load());
    fake.set_source_definitions(catalog("source", SOURCE_DEFINITIONS));
    fake.set_destination_definitions(catalog("destination", DESTINATION_DEFINITIONS));
    let airbyte = fake.base_url();

    let service = Service::start(&settings.bin, &airbyte, None);
    let idle_kib = service.status_kib("VmRSS");
    let cases = prepare(&fake, &service);
    let results = load(&settings, &cases, service.pid());
    report.throughput(&cases, &results);
    let memory = Memory {
        idle_kib,
        peak_kib: service.status_kib("VmHWM"),
        after_kib: service.status_kib("VmRSS"),
    };
    drop(service);

    report.footprint(&settings, &memory, &start_to_ready(&settings.bin, &airbyte));
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

/// One thing driven by the load generator: a service endpoint or a direct Airbyte call.
struct Case {
    label: String,
    url: String,
    method: &'static str,
    body: String,
    /// For a service endpoint, the index of the direct call it is compared with.
    direct: Option<usize>,
}

impl Case {
    fn new(label: String, url: String, method: &'static str, body: String) -> Case {
        Case {
            label,
            url,
            method,
            body,
            direct: None,
        }
    }
}

/// Creates a source and a sink through the service (so the definition caches are warm and the
/// ingestion has real ids), records the Airbyte calls that made, and returns every case: each
/// service endpoint next to the direct call it needs, with the very body the service sent.
fn prepare(fake: &FakeAirbyte, service: &Service) -> Vec<Case> {
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
        Case::new(format!("↳ direct `{call}`"), upstream(call), method, body)
    };
    let endpoint = |method, path: &str, body: &str| {
        Case::new(
            format!("`{method} {path}`"),
            service.url(path),
            method,
            body.to_string(),
        )
    };
    let mut cases = vec![
        endpoint("GET", "/healthz", ""),
        endpoint("GET", "/readyz", ""),
        direct("health", "GET"),
        endpoint("POST", "/datasource", MYSQL_SOURCE),
        direct("sources/create", "POST"),
        endpoint("POST", "/sink", S3_SINK),
        direct("destinations/create", "POST"),
        endpoint("POST", "/ingestion", &ingestion),
        direct("connections/create", "POST"),
        direct("sources/discover_schema", "POST"),
    ];
    for (service, call) in [(1, 2), (3, 4), (5, 6), (7, 8)] {
        cases[service].direct = Some(call);
    }
    fake.clear_requests();
    cases
}

/// What one run measured: wrk's numbers, and the processor time the service and the fake Airbyte
/// spent per request.
#[derive(Clone, Copy, Debug, Default)]
struct Run {
    per_second: f64,
    p50_us: f64,
    p99_us: f64,
    errors: u64,
    service_us: f64,
    airbyte_us: f64,
}

/// Processor time (user and system) a process has used so far, all its threads, in microseconds.
/// `/proc` counts it in clock ticks of 10 ms (`USER_HZ` is 100 on Linux): over a run of seconds,
/// a fraction of a percent.
fn cpu_us(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) * 10_000.0
}

fn wrk(settings: &Settings, case: &Case, seconds: u32, service: u32) -> Run {
    let before = (cpu_us(service), cpu_us(std::process::id()));
    let output = Command::new("wrk")
        .args(["-t2", &format!("-c{CONNECTIONS}"), &format!("-d{seconds}s")])
        .args(["--timeout", "5s", "-s"])
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
    let requests = field("requests").max(1.0);
    Run {
        per_second: requests / (field("duration_us") / 1e6),
        p50_us: field("p50_us"),
        p99_us: field("p99_us"),
        errors: (field("socket_errors") + field("bad_status")) as u64,
        service_us: (cpu_us(service) - before.0) / requests,
        airbyte_us: (cpu_us(std::process::id()) - before.1) / requests,
    }
}

/// Every case once for a second to warm up, then `rounds` times in turn; the median of each.
fn load(settings: &Settings, cases: &[Case], service: u32) -> Vec<Run> {
    for case in cases {
        progress(&format!("warming up {}", case.label));
        wrk(settings, case, 1, service);
    }
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); cases.len()];
    for round in 1..=settings.rounds {
        for (case, runs) in cases.iter().zip(&mut runs) {
            progress(&format!(
                "round {round}/{}: {} for {} s",
                settings.rounds, case.label, settings.seconds
            ));
            runs.push(wrk(settings, case, settings.seconds, service));
        }
    }
    runs.iter()
        .map(|runs| Run {
            per_second: median(runs.iter().map(|r| r.per_second)),
            p50_us: median(runs.iter().map(|r| r.p50_us)),
            p99_us: median(runs.iter().map(|r| r.p99_us)),
            errors: runs.iter().map(|r| r.errors).sum(),
            service_us: median(runs.iter().map(|r| r.service_us)),
            airbyte_us: median(runs.iter().map(|r| r.airbyte_us)),
        })
        .collect()
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
            let mut child = spawn(bin, &addr, airbyte, Stdio::null());
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

    fn throughput(&mut self, cases: &[Case], runs: &[Run]) {
        self.line(
            "| endpoint | requests/s | p50 | p99 | errors | of the direct upstream call \
             | CPU per request: service | fake Airbyte |",
        );
        self.line("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |");
        for (case, run) in cases.iter().zip(runs) {
            let ratio = match case.direct {
                Some(d) => format!(
                    "{:.2} of `{}`",
                    run.per_second / runs[d].per_second,
                    cases[d].url.rsplit("/api/v1/").next().unwrap_or("")
                ),
                None if case.url.contains("/api/v1/") => "(the limit)".to_string(),
                None => "(calls nothing)".to_string(),
            };
            let service_cpu = match case.url.contains("/api/v1/") {
                true => "—".to_string(),
                false => format!("{:.0} µs", run.service_us),
            };
            self.line(&format!(
                "| {} | {} | {:.2} ms | {:.2} ms | {} | {ratio} | {service_cpu} | {:.0} µs |",
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
