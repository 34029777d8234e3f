//! `make scale-test`: three replicas of the service (the binary `cargo test` builds) behind nginx
//! configured as the Kubernetes Ingress routes them (`hash $http_idempotency_key consistent`,
//! keep-alive upstream connections; `nginx.rs`), in front of one fake Airbyte in this process.
//! It shows, with assertions:
//!
//! 1. Twenty concurrent identical creates with one `Idempotency-Key` reach one replica and create
//!    one source; all twenty are answered the same `201` (one made it, nineteen are replays).
//! 2. Creates with distinct keys are spread over all three replicas, and a key's retry reaches
//!    the replica that remembers it.
//! 3. A rolling restart under load loses nothing. Client threads send creates, each with a name
//!    and a key of its own, while each replica in turn gets `SIGTERM`, exits 0 within
//!    `SHUTDOWN_GRACE_SECS` and is started again on its port. Every request is answered; every
//!    answer is a `201`, or a `502`/`503` that the client retries with the same key (at most
//!    `MAX_ATTEMPTS` times); Airbyte received exactly one create per name, and only for names
//!    whose client was answered `201`; and no attempt answered `502`/`503` had been handled by a
//!    replica (each replica logs the id of every request it answers). The outcomes are printed
//!    per phase, with what nginx logged about its upstreams.
//!
//! Not part of `cargo test` (`test = false` in Cargo.toml), because it needs nginx. nginx's
//! configuration and logs stay in `target/scale-nginx/`.

mod nginx;
#[path = "../support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use uuid::Uuid;

use nginx::Nginx;
use support::{FakeAirbyte, Fault, Service};

/// Waiting longer than this for one thing to happen means it is broken.
pub const PATIENCE: Duration = Duration::from_secs(20);
const REPLICAS: usize = 3;
/// The replicas' grace period; each must exit within it (and much sooner: nothing is slow).
const SHUTDOWN_GRACE_SECS: u64 = 10;
/// Client threads sending creates during the rolling restart.
const CLIENTS: usize = 6;
/// Tries per create: the first and at most four retries with the same key.
const MAX_ATTEMPTS: usize = 5;
/// Each phase of the rolling restart lasts at least this long, and until this many creates have
/// been answered `201` in it, before the next begins.
const PHASE_TIME: Duration = Duration::from_millis(1500);
const CREATES_PER_PHASE: usize = 150;
/// The whole rolling restart must be over by then.
const RESTART_DEADLINE: Duration = Duration::from_secs(120);

fn main() {
    let started = Instant::now();
    let fake = FakeAirbyte::start();
    let mut replicas: Vec<Replica> = (0..REPLICAS).map(|_| Replica::start(&fake)).collect();
    let ports: Vec<u16> = replicas.iter().map(|r| r.port).collect();
    let nginx = Nginx::start(&ports);
    println!(
        "scale-test: {REPLICAS} replicas on ports {ports:?} behind nginx at {} (logs in {})",
        nginx.addr(),
        nginx.log_dir().display()
    );

    twenty_identical_creates_make_one_source(&nginx, &fake, &ports);
    distinct_keys_reach_every_replica(&nginx, &ports);
    rolling_restart_loses_nothing(&nginx, &fake, &mut replicas);

    for replica in &replicas {
        replica.assert_no_panic();
    }
    println!(
        "scale-test: passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// A replica: the service on a port of its own, kept across restarts.
struct Replica {
    port: u16,
    service: Service,
    /// Log lines of its earlier processes, for the panic check.
    earlier_logs: Vec<String>,
}

impl Replica {
    fn start(fake: &FakeAirbyte) -> Replica {
        let port = free_port();
        Replica {
            port,
            service: Replica::spawn(fake, port),
            earlier_logs: Vec::new(),
        }
    }

    /// The service on `port`, once it has logged that it listens (`Service::start_with` waits).
    fn spawn(fake: &FakeAirbyte, port: u16) -> Service {
        Service::start_with(&[
            ("LISTEN_ADDR", format!("127.0.0.1:{port}")),
            ("AIRBYTE_BASE_URL", fake.base_url()),
            ("WORKERS", "8".to_string()),
            ("SHUTDOWN_GRACE_SECS", SHUTDOWN_GRACE_SECS.to_string()),
            ("RUST_LOG", "info".to_string()),
        ])
    }

    /// `SIGTERM`, an exit with code 0 within the grace period, and the service again on the same
    /// port. Returns how long the old process took to exit.
    fn restart(&mut self, fake: &FakeAirbyte) -> Duration {
        let asked = Instant::now();
        self.service.signal("TERM");
        let code = self.service.wait_exit();
        let took = asked.elapsed();
        assert_eq!(
            code,
            Some(0),
            "replica :{} did not stop cleanly: {:?}",
            self.port,
            self.service.logs()
        );
        assert!(
            took < Duration::from_secs(SHUTDOWN_GRACE_SECS),
            "replica :{} took {took:?} to stop",
            self.port
        );
        // Its last line, so that every line before it has been read from the pipe.
        self.service.wait_for_log(": stopped");
        self.earlier_logs.extend(self.service.logs());
        self.service = Replica::spawn(fake, self.port);
        took
    }

    /// The log lines of every process of this replica so far.
    fn all_logs(&self) -> Vec<String> {
        let mut logs = self.earlier_logs.clone();
        logs.extend(self.service.logs());
        logs
    }

    fn assert_no_panic(&self) {
        let logs = self.all_logs();
        let panics: Vec<&String> = logs.iter().filter(|l| l.contains("panic")).collect();
        assert!(
            panics.is_empty(),
            "replica :{} panicked: {panics:?}",
            self.port
        );
    }
}

/// A free port below the range the kernel hands out to outgoing connections, so that while a
/// replica restarts, no connection of nginx's (or of anything else on the machine) can take its
/// port. Chosen at random, and checked by binding it.
pub fn free_port() -> u16 {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let low = ephemeral_low.saturating_sub(12000).max(1024);
    for _ in 0..100 {
        let span = u64::from(ephemeral_low - low);
        let port = low + (Uuid::new_v4().as_u64_pair().0 % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {low}..{ephemeral_low}");
}

/// A keep-alive HTTP client that takes every status as an answer, and gives up on none sooner
/// than [`PATIENCE`].
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(PATIENCE))
        .build()
        .into()
}

/// An answer through nginx, as the tests read it.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// nginx's `X-Upstream`: every replica tried, the one that answered last.
    upstream: String,
    replayed: bool,
    body: String,
}

impl Answer {
    /// The port of the replica that answered.
    fn answered_by(&self) -> Option<u16> {
        self.upstream
            .rsplit(", ")
            .next()?
            .rsplit(':')
            .next()?
            .parse()
            .ok()
    }

    fn id(&self) -> Option<String> {
        let body: Value = serde_json::from_str(&self.body).ok()?;
        Some(body["id"].as_str()?.to_string())
    }
}

/// A source create through nginx with this name and key; `Err` when no answer came.
fn create(agent: &ureq::Agent, nginx: &Nginx, name: &str, key: &str) -> Result<Answer, String> {
    create_as(agent, nginx, name, key, &Uuid::new_v4().to_string())
}

/// The same with this `X-Request-Id`, which the replica that handles it logs.
fn create_as(
    agent: &ureq::Agent,
    nginx: &Nginx,
    name: &str,
    key: &str,
    request_id: &str,
) -> Result<Answer, String> {
    let body = json!({
        "name": name,
        "type": "mysql",
        "config": {"host": "localhost", "port": 3306, "database": "db", "username": "u", "password": "p"},
    });
    let mut response = agent
        .post(&nginx.url("/datasource"))
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", key)
        .header("X-Request-Id", request_id)
        .send(body.to_string())
        .map_err(|e| e.to_string())?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (upstream, replayed) = (
        header("X-Upstream"),
        header("Idempotent-Replayed") == "true",
    );
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("reading the answer: {e}"))?;
    Ok(Answer {
        status: response.status().as_u16(),
        upstream,
        replayed,
        body,
    })
}

/// The names Airbyte was asked to create sources with, each with how often.
fn created_names(fake: &FakeAirbyte) -> HashMap<String, usize> {
    let mut names = HashMap::new();
    for request in fake.requests() {
        if request.call == "sources/create" {
            let name = request.body["name"].as_str().unwrap_or("").to_string();
            *names.entry(name).or_insert(0) += 1;
        }
    }
    names
}

/// 1. One key, twenty clients at once: one replica, one source, twenty identical `201`s.
fn twenty_identical_creates_make_one_source(nginx: &Nginx, fake: &FakeAirbyte, ports: &[u16]) {
    // Slow enough that all twenty arrive while the first is still creating.
    fake.fail("sources/create", Fault::Slow(Duration::from_millis(300)));
    let key = Uuid::new_v4().to_string();
    let start = Barrier::new(20);
    let answers: Vec<Answer> = thread::scope(|scope| {
        let clients: Vec<_> = (0..20)
            .map(|_| {
                scope.spawn(|| {
                    let agent = agent();
                    start.wait();
                    create(&agent, nginx, "scale-twins", &key).expect("an answer")
                })
            })
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });
    fake.heal();

    for answer in &answers {
        assert_eq!(answer.status, 201, "{answer:?}");
    }
    assert!(answers[0].id().is_some(), "{:?}", answers[0]);
    assert!(
        answers.iter().all(|a| a.body == answers[0].body),
        "the same answer, one source, for all twenty: {answers:?}"
    );
    let replicas: HashSet<Option<u16>> = answers.iter().map(Answer::answered_by).collect();
    assert_eq!(replicas.len(), 1, "one replica answered all: {replicas:?}");
    assert!(ports.contains(&answers[0].answered_by().unwrap()));
    let replays = answers.iter().filter(|a| a.replayed).count();
    assert_eq!(replays, 19, "one created, nineteen replayed");
    assert_eq!(created_names(fake).get("scale-twins"), Some(&1));
    println!(
        "1. twenty concurrent creates, one key: one source created, 20 × 201 (19 replays), all from :{}",
        answers[0].answered_by().unwrap()
    );
}

/// 2. Sixty keys over three replicas: each answers some, and each key's retry comes back to the
///    replica that answered it first (a replay).
fn distinct_keys_reach_every_replica(nginx: &Nginx, ports: &[u16]) {
    let agent = agent();
    let mut by_replica: BTreeMap<u16, usize> = ports.iter().map(|&p| (p, 0)).collect();
    for n in 0..60 {
        let (name, key) = (format!("scale-spread-{n}"), Uuid::new_v4().to_string());
        let first = create(&agent, nginx, &name, &key).expect("an answer");
        assert_eq!(first.status, 201, "{first:?}");
        let replica = first.answered_by().expect("X-Upstream");
        *by_replica.get_mut(&replica).expect("one of the replicas") += 1;
        let again = create(&agent, nginx, &name, &key).expect("an answer");
        assert_eq!(
            (
                again.status,
                again.replayed,
                again.answered_by(),
                again.id()
            ),
            (201, true, Some(replica), first.id()),
            "the retry of {key} reaches the replica that remembers it: {again:?}"
        );
    }
    assert!(
        by_replica.values().all(|&n| n > 0),
        "every replica answers some keys: {by_replica:?}"
    );
    println!("2. sixty distinct keys, answered per replica: {by_replica:?}; each retry replayed by the same replica");
}

/// What happened in one phase of the rolling restart, counted per attempt (the phase is the one
/// in which the attempt was sent).
#[derive(Debug, Default, Clone)]
struct Tally {
    /// Creates that ended in a `201` made by Airbyte, and those answered with a replay.
    created: usize,
    replayed: usize,
    bad_gateway: usize,
    unavailable: usize,
    /// Any other status: a failure of the test.
    other: usize,
    /// Attempts after a create's first.
    retries: usize,
    /// Attempts that got no answer at all.
    connection_errors: usize,
    /// `201`s per replica port.
    by_replica: BTreeMap<u16, usize>,
}

/// What the client threads share with the thread that restarts the replicas.
struct Load {
    phase: AtomicUsize,
    stop: AtomicBool,
    next: AtomicUsize,
    tallies: Mutex<Vec<Tally>>,
    changed: Condvar,
    /// Each create's final outcome: the id it was answered, or the last status (`0`: no answer).
    outcomes: Mutex<HashMap<String, Result<String, u16>>>,
    /// Answers other than 201, 502 and 503, and connection errors, for the failure message.
    surprises: Mutex<Vec<String>>,
    /// The request ids of the attempts answered 502 or 503, with the replicas nginx tried.
    failed_attempts: Mutex<Vec<(String, String)>>,
}

impl Load {
    fn count(&self, phase: usize, update: impl FnOnce(&mut Tally)) {
        let mut tallies = lock(&self.tallies);
        update(&mut tallies[phase]);
        self.changed.notify_all();
    }

    /// Waits until `done` holds for the current tallies, at most until `deadline`.
    fn wait_until(&self, deadline: Instant, what: &str, done: impl Fn(&[Tally]) -> bool) {
        let tallies = lock(&self.tallies);
        let left = deadline.saturating_duration_since(Instant::now());
        let (tallies, timeout) = self
            .changed
            .wait_timeout_while(tallies, left, |t| !done(t))
            .unwrap_or_else(|p| p.into_inner());
        assert!(
            !timeout.timed_out(),
            "the rolling restart did not get to {what} by its deadline: {tallies:#?}"
        );
    }

    /// One client: creates, one after another, each with a name and key of its own, retried on a
    /// 502, a 503 or no answer, until told to stop.
    fn client(&self, nginx: &Nginx) {
        let agent = agent();
        while !self.stop.load(Ordering::SeqCst) {
            let n = self.next.fetch_add(1, Ordering::SeqCst);
            let (name, key) = (format!("scale-roll-{n}"), Uuid::new_v4().to_string());
            let mut outcome = Err(0);
            for attempt in 0..MAX_ATTEMPTS {
                let phase = self.phase.load(Ordering::SeqCst);
                if attempt > 0 {
                    self.count(phase, |t| t.retries += 1);
                }
                let request_id = format!("{key}/{attempt}");
                match create_as(&agent, nginx, &name, &key, &request_id) {
                    Ok(answer) if answer.status == 201 => {
                        let replica = answer.answered_by().unwrap_or(0);
                        self.count(phase, |t| {
                            match answer.replayed {
                                true => t.replayed += 1,
                                false => t.created += 1,
                            }
                            *t.by_replica.entry(replica).or_insert(0) += 1;
                        });
                        outcome = answer.id().ok_or(201);
                        break;
                    }
                    Ok(answer) if matches!(answer.status, 502 | 503) => {
                        self.count(phase, |t| match answer.status {
                            502 => t.bad_gateway += 1,
                            _ => t.unavailable += 1,
                        });
                        lock(&self.failed_attempts).push((request_id, answer.upstream));
                        outcome = Err(answer.status);
                    }
                    Ok(answer) => {
                        self.count(phase, |t| t.other += 1);
                        lock(&self.surprises).push(format!("{name}: {answer:?}"));
                        outcome = Err(answer.status);
                        break;
                    }
                    Err(e) => {
                        self.count(phase, |t| t.connection_errors += 1);
                        lock(&self.surprises).push(format!("{name}: no answer: {e}"));
                        outcome = Err(0);
                    }
                }
            }
            lock(&self.outcomes).insert(name, outcome);
        }
    }
}

/// Tells the clients to stop when dropped, also when a panic unwinds.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A lock that a panicking client thread does not poison for the others.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// 3. Each replica in turn stopped and started again while clients send creates: nothing lost.
fn rolling_restart_loses_nothing(nginx: &Nginx, fake: &FakeAirbyte, replicas: &mut [Replica]) {
    let mut phases = vec!["steady".to_string()];
    for replica in replicas.iter() {
        phases.push(format!("restart :{}", replica.port));
    }
    phases.push("after".to_string());
    let load = Load {
        phase: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        next: AtomicUsize::new(0),
        tallies: Mutex::new(vec![Tally::default(); phases.len()]),
        changed: Condvar::new(),
        outcomes: Mutex::new(HashMap::new()),
        surprises: Mutex::new(Vec::new()),
        failed_attempts: Mutex::new(Vec::new()),
    };
    let deadline = Instant::now() + RESTART_DEADLINE;
    let started = Instant::now();
    let mut stop_times = Vec::new();
    let answered = |t: &Tally| t.created + t.replayed;
    // The condition variable is notified with every answer, so the time is looked at often.
    let long_enough = |since: Instant| since.elapsed() >= PHASE_TIME;
    thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| scope.spawn(|| load.client(nginx)))
            .collect();
        // Should an assertion below fail, the scope waits for the clients: they must stop then too.
        let _stop = StopOnDrop(&load.stop);
        let since = Instant::now();
        load.wait_until(deadline, "the steady phase", |t| {
            answered(&t[0]) >= CREATES_PER_PHASE && long_enough(since)
        });
        for (i, replica) in replicas.iter_mut().enumerate() {
            let phase = i + 1;
            let since = Instant::now();
            load.phase.store(phase, Ordering::SeqCst);
            stop_times.push(replica.restart(fake));
            // As a Deployment's rolling update waits for the new pod to be ready: the next
            // replica stops only once this one answers creates again. The old process answered
            // all it had before it exited, so a 201 from this port now is the new one's.
            let port = replica.port;
            let by_old = |t: &[Tally]| t[phase].by_replica.get(&port).copied().unwrap_or(0);
            let old = by_old(&lock(&load.tallies));
            load.wait_until(deadline, &phases[phase], |t| {
                answered(&t[phase]) >= CREATES_PER_PHASE && by_old(t) > old && long_enough(since)
            });
        }
        let last = phases.len() - 1;
        let since = Instant::now();
        load.phase.store(last, Ordering::SeqCst);
        load.wait_until(deadline, "the end", |t| {
            answered(&t[last]) >= CREATES_PER_PHASE && long_enough(since)
        });
        load.stop.store(true, Ordering::SeqCst);
        for client in clients {
            client.join().unwrap();
        }
    });
    let elapsed = started.elapsed();

    let tallies = lock(&load.tallies).clone();
    report(&phases, &tallies, &stop_times, elapsed, nginx);

    // A request that a replica handled, but whose answer nginx replaced with a 502 or 503, would be
    // one the client may have to retry on another replica: each replica logs every request it
    // answers with its id, so none of the failed attempts may be in a replica's log.
    let logs: Vec<String> = replicas.iter().flat_map(Replica::all_logs).collect();
    let failed_attempts = lock(&load.failed_attempts).clone();
    let handled: Vec<_> = failed_attempts
        .iter()
        .filter(|(id, _)| logs.iter().any(|l| l.contains(&format!("id={id}"))))
        .collect();
    println!(
        "   attempts answered 502/503: {}; of them handled by a replica: {}",
        failed_attempts.len(),
        handled.len()
    );
    assert!(
        handled.is_empty(),
        "a replica handled a request whose answer was lost: {handled:?}"
    );

    let surprises = lock(&load.surprises).clone();
    let outcomes = lock(&load.outcomes).clone();
    let total: Tally = tallies.iter().fold(Tally::default(), |mut sum, t| {
        sum.other += t.other;
        sum.connection_errors += t.connection_errors;
        sum
    });
    assert_eq!(
        (total.other, total.connection_errors),
        (0, 0),
        "every attempt is answered, with a 201, 502 or 503: {surprises:#?}"
    );
    let failed: Vec<_> = outcomes.iter().filter(|(_, o)| o.is_err()).collect();
    assert!(
        failed.is_empty(),
        "every create ends in a 201 within {MAX_ATTEMPTS} attempts: {failed:?}"
    );
    let names = created_names(fake);
    let twice: Vec<_> = names.iter().filter(|(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "no name is created twice: {twice:?}");
    let unanswered: Vec<_> = names
        .keys()
        .filter(|name| name.starts_with("scale-roll-"))
        .filter(|name| !matches!(outcomes.get(*name), Some(Ok(_))))
        .collect();
    assert!(
        unanswered.is_empty(),
        "Airbyte created only what a client was answered 201 for: {unanswered:?}"
    );
    let made = names
        .keys()
        .filter(|n| n.starts_with("scale-roll-"))
        .count();
    assert_eq!(
        made,
        outcomes.len(),
        "every create answered 201 reached Airbyte once"
    );
}

/// Prints the outcomes per phase, and what nginx logged about its upstreams.
fn report(
    phases: &[String],
    tallies: &[Tally],
    stop_times: &[Duration],
    elapsed: Duration,
    nginx: &Nginx,
) {
    println!(
        "3. rolling restart under load: {CLIENTS} clients, {:.1} s; each replica stopped in {}",
        elapsed.as_secs_f64(),
        stop_times
            .iter()
            .map(|t| format!("{} ms", t.as_millis()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "   {:<15} {:>7} {:>8} {:>5} {:>5} {:>7} {:>11}  201s per replica",
        "phase", "created", "replayed", "502", "503", "retries", "conn errors"
    );
    let mut sum = Tally::default();
    for (phase, t) in phases.iter().zip(tallies) {
        println!(
            "   {phase:<15} {:>7} {:>8} {:>5} {:>5} {:>7} {:>11}  {:?}",
            t.created,
            t.replayed,
            t.bad_gateway,
            t.unavailable,
            t.retries,
            t.connection_errors,
            t.by_replica
        );
        sum.created += t.created;
        sum.replayed += t.replayed;
        sum.bad_gateway += t.bad_gateway;
        sum.unavailable += t.unavailable;
        sum.retries += t.retries;
        sum.connection_errors += t.connection_errors;
    }
    println!(
        "   {:<15} {:>7} {:>8} {:>5} {:>5} {:>7} {:>11}",
        "total",
        sum.created,
        sum.replayed,
        sum.bad_gateway,
        sum.unavailable,
        sum.retries,
        sum.connection_errors
    );
    // What nginx says about each upstream failure, by kind (`[error] ... *N <what> while ...`).
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for line in nginx.error_log().lines() {
        if !line.contains("upstream") || line.contains("[notice]") {
            continue;
        }
        let what = line
            .split_once(": *")
            .and_then(|(_, rest)| rest.split_once(' '))
            .map_or(line, |(_, rest)| rest);
        let what = what.split(", client:").next().unwrap_or(what);
        *kinds.entry(what.to_string()).or_insert(0) += 1;
    }
    if kinds.is_empty() {
        println!("   nginx logged no upstream error");
    }
    for (what, n) in kinds {
        println!("   nginx: {n} × {what}");
    }
    // The access log says which replicas were tried for each answer, and what each gave.
    let access = nginx.access_log();
    let moved_on = access
        .lines()
        .filter(|l| l.starts_with("201 ") && l.contains(", "))
        .count();
    println!(
        "   nginx: {moved_on} × 201 from the next replica after one that refused the connection"
    );
    for line in access.lines() {
        if line.starts_with("502 ") || line.starts_with("503 ") {
            println!("   nginx access log: {line}");
        }
    }
}
