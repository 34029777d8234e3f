//! `make soak`: the service through minutes of mixed load, with Airbyte failing under it and
//! clients hanging up, its memory sampled every second; printed, with the memory targets beside
//! it. Timings are never asserted: it exits non-zero only if the service crashed or stopped
//! answering.
//!
//! `make bench` measures one kind of request at a time against a healthy Airbyte; memory that
//! grows with errors, with half-read bodies or with connections lost mid-answer shows only when
//! everything happens at once and for long. So: the same fast fake Airbyte in this process
//! (`Options::under_load()`, a current Airbyte's catalogue), the release binary against it with
//! its default settings, and `CLIENTS` threads, each on a keep-alive connection of its own,
//! sending a mix of creates, reads and deletes of what they created, lists, bodies that are not
//! JSON or have fields of the wrong type, and uploads that hang up mid-body. Meanwhile one thread
//! makes one Airbyte call fail every `FAULT_EVERY` (a 500, a slow answer, a connection closed
//! mid-answer), and heals it after as long again. The service's log goes to
//! `target/soak-service.log`, which is searched for panics afterwards.
//!
//! Settings (environment): `BENCH_BIN` the binary (default `target/release/airbyte-wrapper`),
//! `SOAK_SECONDS` (default 180). The report is Markdown on standard output, also written to
//! `target/soak-report.md`; progress goes to standard error.

mod common;
#[path = "../support/mod.rs"]
mod support;

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::{
    load_average, mib, status_kib, thousands, verdict, Connection, Service, IDLE_TARGET_KIB,
    PEAK_TARGET_KIB,
};
use support::fake_airbyte::{catalog, FakeAirbyte, Options};
use support::{Fault, MYSQL_SOURCE, S3_SINK};

/// Client threads, each with a keep-alive connection of its own.
const CLIENTS: usize = 12;
/// The catalogue, as `make bench` has it: a current Airbyte's size.
const SOURCE_DEFINITIONS: usize = 600;
const DESTINATION_DEFINITIONS: usize = 60;
/// How long each Airbyte fault lasts, and each healthy spell between two.
const FAULT_EVERY: Duration = Duration::from_millis(200);
/// The delay of a slow Airbyte answer: short of any timeout, long enough for requests to pile up.
const SLOW_ANSWER: Duration = Duration::from_millis(100);
/// The Airbyte calls the mix makes, any of which may fail.
const CALLS: [&str; 8] = [
    "sources/create",
    "destinations/create",
    "sources/get",
    "destinations/get",
    "sources/list",
    "destinations/list",
    "sources/delete",
    "destinations/delete",
];
/// Sources and destinations that exist at once, at most: past it, the oldest is deleted. A
/// workspace of that size, which keeps list answers the same size through the run, so that
/// memory that grows is the service's own doing.
const LIVE: usize = 200;
/// An upload that hangs up: the body it promises, and what it sends of it.
const HANG_UP_DECLARED: usize = 5000;
const HANG_UP_SENT: &[u8; 10] = b"{\"name\": \"";
/// Bodies `/datasource` and `/sink` refuse with a 400: not JSON, not an object, wrong types.
const BAD_BODIES: [&str; 4] = [
    r#"{"name": "soak", "type": "mysql", "config": "#,
    "[1, 2, 3]",
    r#"{"name": 5, "type": "mysql", "config": {}}"#,
    r#"{"name": "soak", "type": "mysql", "config": "host=db"}"#,
];
/// The sampling period of the service's resident memory.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

fn main() {
    let settings = Settings::from_env();
    let before = load_average();
    let fake = FakeAirbyte::start_with(Options::under_load());
    fake.set_source_definitions(catalog("source", SOURCE_DEFINITIONS));
    fake.set_destination_definitions(catalog("destination", DESTINATION_DEFINITIONS));
    let mut service = Service::start(&settings.bin, &fake.base_url(), Some(&settings.log));
    let idle_kib = service.status_kib("VmRSS");

    progress(&format!(
        "{CLIENTS} clients for {} s against {}",
        settings.seconds,
        service.url("")
    ));
    let deadline = Instant::now() + Duration::from_secs(settings.seconds);
    let soak = Soak {
        addr: &service.addr,
        deadline,
        live: Mutex::new(VecDeque::new()),
        gone: AtomicBool::new(false),
    };
    let (tally, faults, highest_kib) = thread::scope(|s| {
        let sampler = s.spawn(|| soak.sample(service.pid()));
        let toggler = s.spawn(|| soak.toggle_faults(&fake));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|n| {
                let soak = &soak;
                s.spawn(move || soak.client(n as u64))
            })
            .collect();
        let tally = clients
            .into_iter()
            .map(|c| c.join().expect("a client thread panicked"))
            .fold(Tally::default(), Tally::add);
        (
            tally,
            toggler.join().expect("the fault thread panicked"),
            sampler.join().expect("the sampling thread panicked"),
        )
    });
    fake.heal();

    let end = End {
        exited: service.exited().map(|status| status.to_string()),
        answers: answers_healthz(&service),
        peak_kib: status_kib(service.pid(), "VmHWM"),
        rss_kib: status_kib(service.pid(), "VmRSS"),
    };
    drop(service);
    let panics = panics(&settings.log);

    let mut report = Report::default();
    report.header(&settings, &before);
    let load = Load {
        seconds: settings.seconds,
        tally,
        faults,
    };
    report.summary(idle_kib, highest_kib, &end, &load, &panics);
    report.statuses(&load.tally);
    report.targets(idle_kib, &end);
    report.finish();
    if let Some(status) = &end.exited {
        eprintln!(
            "soak: the service crashed ({status}); its log: {}",
            settings.log.display()
        );
        std::process::exit(1);
    }
    if !end.answers {
        eprintln!("soak: the service stopped answering /healthz");
        std::process::exit(1);
    }
}

struct Settings {
    bin: PathBuf,
    seconds: u64,
    log: PathBuf,
}

impl Settings {
    fn from_env() -> Settings {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let seconds = match std::env::var("SOAK_SECONDS") {
            Ok(v) => v.parse().ok().filter(|&n| n > 0).unwrap_or_else(|| {
                panic!("SOAK_SECONDS must be a whole number above 0, got {v:?}")
            }),
            Err(_) => 180,
        };
        let bin = std::env::var_os("BENCH_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/release/airbyte-wrapper"));
        assert!(
            bin.is_file(),
            "no binary at {}: run `make soak`, or build with `cargo build --release`",
            bin.display()
        );
        Settings {
            bin,
            seconds,
            log: root.join("target/soak-service.log"),
        }
    }
}

/// What every thread of the soak shares.
struct Soak<'a> {
    addr: &'a str,
    deadline: Instant,
    /// The sources and destinations that exist, as `(route, id)`, oldest first.
    live: Mutex<VecDeque<(&'static str, String)>>,
    /// Set when the service's process is gone: everyone stops.
    gone: AtomicBool,
}

/// What a client did and got.
#[derive(Default)]
struct Tally {
    /// Answers by status.
    statuses: BTreeMap<u16, u64>,
    /// Requests sent again on a new connection after the service had closed a kept-alive one.
    resent: u64,
    /// Requests that got no answer even on a new connection.
    lost: u64,
    /// Uploads that hung up mid-body.
    hang_ups: u64,
}

impl Tally {
    fn add(mut self, other: Tally) -> Tally {
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.resent += other.resent;
        self.lost += other.lost;
        self.hang_ups += other.hang_ups;
        self
    }

    fn answers(&self) -> u64 {
        self.statuses.values().sum()
    }
}

/// One thing a client does.
#[derive(Clone, Copy)]
enum Action {
    CreateSource,
    CreateSink,
    Read,
    List,
    Delete,
    BadBody,
    HangUp,
}

/// The mix, in parts of 100. Reads and deletes are of what was created (a list when there is
/// nothing yet); more is created than deleted, so the live set soon holds `LIVE`.
const MIX: [(Action, u64); 7] = [
    (Action::CreateSource, 16),
    (Action::CreateSink, 12),
    (Action::Read, 22),
    (Action::List, 6),
    (Action::Delete, 12),
    (Action::BadBody, 20),
    (Action::HangUp, 12),
];

impl Soak<'_> {
    fn running(&self) -> bool {
        Instant::now() < self.deadline && !self.gone.load(Ordering::Relaxed)
    }

    /// One client until the deadline.
    fn client(&self, n: u64) -> Tally {
        let mut random = Random::new(n);
        let mut client = Client {
            addr: self.addr,
            connection: None,
            tally: Tally::default(),
        };
        while self.running() {
            let route = match random.below(2) {
                0 => "/datasource",
                _ => "/sink",
            };
            match random.pick(&MIX) {
                Action::CreateSource => self.create(&mut client, "/datasource", MYSQL_SOURCE),
                Action::CreateSink => self.create(&mut client, "/sink", S3_SINK),
                Action::Read => {
                    let path = self
                        .known(&mut random, false)
                        .map_or(route.to_string(), |(route, id)| format!("{route}/{id}"));
                    client.send("GET", &path, None);
                }
                Action::Delete => match self.known(&mut random, true) {
                    Some(known) => self.delete(&mut client, known),
                    None => {
                        client.send("GET", route, None);
                    }
                },
                Action::List => {
                    client.send("GET", route, None);
                }
                Action::BadBody => {
                    let body = BAD_BODIES[random.below(BAD_BODIES.len() as u64) as usize];
                    client.send("POST", route, Some(body));
                }
                Action::HangUp => client.tally.hang_ups += u64::from(self.hang_up()),
            }
        }
        client.tally
    }

    /// A resource created earlier, at random: taken out of the live set when `take`.
    fn known(&self, random: &mut Random, take: bool) -> Option<(&'static str, String)> {
        let mut live = self.live.lock().unwrap();
        let at = random.below(live.len().max(1) as u64) as usize;
        match take {
            true => live.remove(at),
            false => live.get(at).cloned(),
        }
    }

    /// Creates a source or destination and adds it to the live set; past `LIVE`, deletes the
    /// oldest.
    fn create(&self, client: &mut Client, route: &'static str, body: &str) {
        let Some((201, answer)) = client.send("POST", route, Some(body)) else {
            return;
        };
        let answer: Value = serde_json::from_str(&answer).unwrap_or(json!({}));
        let Some(id) = answer["id"].as_str() else {
            return;
        };
        let oldest = {
            let mut live = self.live.lock().unwrap();
            live.push_back((route, id.to_string()));
            (live.len() > LIVE).then(|| live.pop_front()).flatten()
        };
        if let Some(oldest) = oldest {
            self.delete(client, oldest);
        }
    }

    /// Deletes a resource; when Airbyte failed (or nothing answered), it goes back into the live
    /// set, to be deleted again later, as a client would.
    fn delete(&self, client: &mut Client, (route, id): (&'static str, String)) {
        match client.send("DELETE", &format!("{route}/{id}"), None) {
            Some((status, _)) if status < 500 => {}
            _ => self.live.lock().unwrap().push_back((route, id)),
        }
    }

    /// An upload that hangs up mid-body, on a connection of its own; whether it got that far.
    fn hang_up(&self) -> bool {
        let head = format!(
            "POST /datasource HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\n\
             Content-Length: {HANG_UP_DECLARED}\r\n\r\n"
        );
        let Ok(mut stream) = TcpStream::connect(self.addr) else {
            return false;
        };
        // Closed when dropped, the body unfinished.
        stream.write_all(head.as_bytes()).is_ok() && stream.write_all(HANG_UP_SENT).is_ok()
    }

    /// Every `FAULT_EVERY`: one call made to fail, then everything healed, in turn until the
    /// deadline. Returns how many faults were set.
    fn toggle_faults(&self, fake: &FakeAirbyte) -> u64 {
        let mut random = Random::new(u64::MAX);
        let mut faults = 0;
        while self.running() {
            let call = CALLS[random.below(CALLS.len() as u64) as usize];
            let fault = match random.below(3) {
                0 => Fault::Status(500, json!({ "message": "soak: Airbyte failed" })),
                1 => Fault::Slow(SLOW_ANSWER),
                _ => Fault::CloseMidAnswer,
            };
            fake.fail(call, fault);
            faults += 1;
            thread::sleep(FAULT_EVERY);
            fake.heal();
            thread::sleep(FAULT_EVERY);
        }
        faults
    }

    /// Samples the service's `VmRSS` every `SAMPLE_EVERY` until the deadline; returns the
    /// highest. Marks the service gone when its process is.
    fn sample(&self, pid: u32) -> u64 {
        let mut highest = 0;
        let started = Instant::now();
        let mut samples = 0;
        while self.running() {
            let Some(kib) = status_kib(pid, "VmRSS") else {
                self.gone.store(true, Ordering::Relaxed);
                break;
            };
            highest = highest.max(kib);
            samples += 1;
            if samples % 10 == 0 {
                progress(&format!(
                    "{} s: resident {}",
                    started.elapsed().as_secs(),
                    mib(kib)
                ));
            }
            thread::sleep(
                SAMPLE_EVERY.min(self.deadline.saturating_duration_since(Instant::now())),
            );
        }
        highest
    }
}

/// One client thread: its keep-alive connection and what it got.
struct Client<'a> {
    addr: &'a str,
    connection: Option<Connection>,
    tally: Tally,
}

impl Client<'_> {
    /// Sends on the keep-alive connection, opening one when there is none or when the service
    /// closed the one there was (then the request is sent once more); counts the answer.
    fn send(&mut self, method: &str, path: &str, body: Option<&str>) -> Option<(u16, String)> {
        let reused = self.connection.is_some();
        for again in [reused, false] {
            let mut c = match self.connection.take() {
                Some(c) => c,
                None => match Connection::open(self.addr) {
                    Ok(c) => c,
                    Err(_) => break,
                },
            };
            match c.try_exchange(method, path, body) {
                Ok(answer) => {
                    if !c.closing {
                        self.connection = Some(c);
                    }
                    *self.tally.statuses.entry(answer.0).or_default() += 1;
                    return Some(answer);
                }
                Err(_) if again => self.tally.resent += 1,
                Err(_) => break,
            }
        }
        self.tally.lost += 1;
        None
    }
}

/// A small xorshift generator: the mix needs no more, and no crate.
struct Random(u64);

impl Random {
    fn new(seed: u64) -> Random {
        Random((seed + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }

    fn pick<T: Copy>(&mut self, weighted: &[(T, u64)]) -> T {
        let mut at = self.below(weighted.iter().map(|(_, w)| w).sum());
        for &(item, weight) in weighted {
            if at < weight {
                return item;
            }
            at -= weight;
        }
        weighted[0].0
    }
}

/// What the soak did.
struct Load {
    seconds: u64,
    tally: Tally,
    /// Airbyte faults set.
    faults: u64,
}

/// The service after the load.
struct End {
    /// How it ended, if it did.
    exited: Option<String>,
    /// Whether `/healthz` answered `200`.
    answers: bool,
    peak_kib: Option<u64>,
    rss_kib: Option<u64>,
}

fn answers_healthz(service: &Service) -> bool {
    Connection::open(&service.addr)
        .and_then(|mut c| c.try_exchange("GET", "/healthz", None))
        .is_ok_and(|(status, _)| status == 200)
}

/// The lines of the service's log that speak of a panic.
fn panics(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("panic"))
        .map(str::to_string)
        .collect()
}

fn progress(what: &str) {
    eprintln!("soak: {what}");
}

/// The report, printed at the end and written to `target/soak-report.md`.
#[derive(Default)]
struct Report {
    text: String,
}

impl Report {
    fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    fn header(&mut self, settings: &Settings, load_before: &str) {
        self.line("## airbyte-wrapper soak");
        self.line("");
        self.line(&format!(
            "Machine: {}, load average before the run {load_before}. Service: `{}`, default \
             settings, in front of the fake Airbyte ({SOURCE_DEFINITIONS} source and \
             {DESTINATION_DEFINITIONS} destination definitions). {CLIENTS} clients for {} s: \
             creates, reads and deletes of what they created (at most {LIVE} exist at once), \
             lists, bad bodies, uploads that hang up after {} of {HANG_UP_DECLARED} bytes. Every {} ms one Airbyte call fails (a \
             500, an answer {} ms late, a connection closed mid-answer), then all are healed for \
             as long. Resident memory sampled every {} s.",
            common::machine(),
            settings.bin.display(),
            settings.seconds,
            HANG_UP_SENT.len(),
            FAULT_EVERY.as_millis(),
            SLOW_ANSWER.as_millis(),
            SAMPLE_EVERY.as_secs(),
        ));
        self.line("");
    }

    fn summary(
        &mut self,
        idle_kib: u64,
        highest_kib: u64,
        end: &End,
        load: &Load,
        panics: &[String],
    ) {
        let tally = &load.tally;
        let kib = |k: Option<u64>| k.map_or("(gone)".to_string(), mib);
        let panicked = match panics {
            [] => "none".to_string(),
            [first, ..] => format!("{}, the first: `{first}`", panics.len()),
        };
        let rows = [
            (
                "resident memory idle, before the load (`VmRSS`)",
                mib(idle_kib),
            ),
            ("resident memory peak (`VmHWM`)", kib(end.peak_kib)),
            ("highest of the samples (`VmRSS`)", mib(highest_kib)),
            ("resident memory at the end (`VmRSS`)", kib(end.rss_kib)),
            (
                "answers",
                format!(
                    "{} ({}/s)",
                    thousands(tally.answers() as f64),
                    thousands(tally.answers() as f64 / load.seconds as f64)
                ),
            ),
            (
                "requests sent again after a closed keep-alive connection",
                tally.resent.to_string(),
            ),
            ("requests without an answer", tally.lost.to_string()),
            (
                "uploads that hung up mid-body",
                thousands(tally.hang_ups as f64),
            ),
            ("Airbyte faults set", load.faults.to_string()),
            ("panics in the service's log", panicked),
            (
                "the service at the end",
                match (&end.exited, end.answers) {
                    (Some(status), _) => format!("crashed: {status}"),
                    (None, true) => "running, `/healthz` answers 200".to_string(),
                    (None, false) => "running, `/healthz` does not answer".to_string(),
                },
            ),
        ];
        self.line("| measure | value |");
        self.line("| --- | ---: |");
        for (what, value) in rows {
            self.line(&format!("| {what} | {value} |"));
        }
        self.line("");
    }

    fn statuses(&mut self, tally: &Tally) {
        self.line("| status | answers |");
        self.line("| ---: | ---: |");
        for (status, n) in &tally.statuses {
            self.line(&format!("| {status} | {} |", thousands(*n as f64)));
        }
        self.line("");
    }

    fn targets(&mut self, idle_kib: u64, end: &End) {
        self.line("| target | measured | |");
        self.line("| --- | ---: | --- |");
        let peak = end.peak_kib.unwrap_or(u64::MAX);
        for (what, kib, target) in [
            ("idle (`VmRSS`)", idle_kib, IDLE_TARGET_KIB),
            ("peak through the soak (`VmHWM`)", peak, PEAK_TARGET_KIB),
        ] {
            let measured = match kib {
                u64::MAX => "(gone)".to_string(),
                k => mib(k),
            };
            self.line(&format!(
                "| resident memory {what}, under {} | {measured} | {} |",
                mib(target),
                verdict(kib < target),
            ));
        }
        self.line("");
    }

    fn finish(&mut self) {
        self.line(&format!("Load average after the run: {}.", load_average()));
        print!("{}", self.text);
        if let Some(path) = common::write_report("soak-report.md", &self.text) {
            progress(&format!("report written to {}", path.display()));
        }
    }
}
