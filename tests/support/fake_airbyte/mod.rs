//! A fake Airbyte on port 0 that follows the contract in `shared/airbyte` (paths, bodies, status
//! codes) and records every request it receives. It serves both of Airbyte's APIs on one port and
//! over one [`State`], as a self-managed install serves both from one server over one database:
//! the Config API under `/api/v1/` ([`route`] and the area files named below) and the public API
//! under `/api/public/v1/` (`public_api.rs` routes it and serves tokens, health, workspaces,
//! definitions and actors; `public_connections.rs` streams, connections and jobs). As in Airbyte's
//! server, a public call runs the Config API's handler behind a translation of its request and
//! answer, so that what one API creates the other reads. Tests name a Config API call by its path
//! (`sources/create`) and a public one by its method and path, ids as `{id}` (`GET sources/{id}`);
//! faults, recording and authentication work the same on both.
//!
//! It is a small HTTP/1.1 server on `std::net` rather than a library server so that tests can
//! make it misbehave at the socket level (close mid-answer, stall) as a real one might.
//!
//! Laid out as cargo's test registry lays out its fake: this file holds what tests drive
//! ([`FakeAirbyte`], [`Options`], [`Fault`], [`Auth`], [`Recorded`]), the server loop, and
//! [`route`], which authenticates a request and then is one `match` on its method and path; each
//! Airbyte area has a file of small handlers: `workspaces`, `definitions`, `actors` (sources and
//! destinations), `specs` (connector specs and what their secrets mean), `checks` (connection
//! checks and the scheduler's discovery), `connections`, `jobs`, `tokens` (authentication).
//! `replies` builds the bodies, the public API's problem objects among them.
//!
//! To fake another call (`jobs/list`, `connections/sync`, `scheduler/sources/check_connection`
//! are examples):
//! add one arm to [`route`] and one handler in its area's file (a new file for a new area), a
//! `fn(&mut State, &Recorded) -> Reply` (`&State` when it only reads) with a one-line doc comment
//! naming the call. What it must remember goes in [`State`], what tests set in [`FakeAirbyte`].
//! A public call is one arm in `public_api::route` and a handler that runs the Config API's
//! handler through `public_api::through`, so that both APIs keep one behaviour.

mod actors;
mod checks;
mod connections;
mod definitions;
mod jobs;
mod public_api;
mod public_connections;
mod replies;
mod specs;
mod tokens;
mod workspaces;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use actors::Kind;
use definitions::known_definitions;
use replies::{answer, invalid, not_found, Reply};

pub use actors::stream;
pub use checks::CheckEnd;
pub use definitions::{catalog, definition};
pub use jobs::{JobEnd, LOG_LINES, SECRET_IN_INTERNALS};
pub use replies::error_body;
pub use specs::MASK;

pub const WORKSPACE_ID: &str = "f1ae8c33-3f7f-4d53-9a7b-2f5d2a4f6d11";
pub const MYSQL_DEFINITION_ID: &str = "435bb9a5-7887-4809-aa58-28c27df0d7ad";
pub const POSTGRES_DEFINITION_ID: &str = "decd338e-5647-4c0b-adf4-da0e75f5a750";
pub const S3_DEFINITION_ID: &str = "4816b78f-1489-44c1-9060-4b19d5fa9362";
pub const DEFAULT_ORGANIZATION_ID: &str = "00000000-0000-0000-0000-000000000000";

/// Which of Airbyte's APIs a request was made to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `/api/v1/...`
    Config,
    /// `/api/public/v1/...`
    Public,
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// What tests name the call by: for the Config API its path below the API root
    /// (`sources/create`); for the public API its method and path with ids as `{id}`
    /// (`GET sources/{id}`).
    pub call: String,
    pub api: Api,
    /// The path below the API root, ids included, without the query.
    pub path: String,
    /// The query's parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    pub host: Option<String>,
    /// The body parsed as JSON; `Value::Null` when there was none.
    pub body: Value,
    pub raw_body: Vec<u8>,
}

/// A way for the fake to misbehave on one call.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Reply this status and JSON body instead.
    Status(u16, Value),
    /// Reply this status with an HTML body.
    Html(u16),
    /// 200 with a body that is not JSON.
    InvalidJson,
    /// 200 with valid JSON of the wrong shape.
    WrongShape,
    /// 200 with an empty body.
    EmptyBody,
    /// Promise a long body, send a little, close the connection.
    CloseMidAnswer,
    /// Reply normally, but only after this long.
    Slow(Duration),
    /// 429 Too Many Requests in the error body of the call's API, as Airbyte Cloud's API answers
    /// past its quota, with this `Retry-After` (none when `None`).
    RateLimited(Option<&'static str>),
}

impl Fault {
    /// The faults every Airbyte call of the service is tried under, each with the status the
    /// service must answer: a 500 in the error body of `call`'s API, an HTML 503, a body that is
    /// not JSON, an empty body, a connection closed mid-answer (502 each), an answer later
    /// than a suite's one-second `AIRBYTE_TIMEOUT_SECS` (504), and a rate limit (503).
    pub fn matrix(call: &str) -> [(Fault, u16); 7] {
        [
            (Fault::RateLimited(Some("7")), 503),
            (Fault::Status(500, error_body(call, 500, "boom")), 502),
            (Fault::Html(503), 502),
            (Fault::InvalidJson, 502),
            (Fault::EmptyBody, 502),
            (Fault::CloseMidAnswer, 502),
            (Fault::Slow(Duration::from_millis(2500)), 504),
        ]
    }
}

/// The service's Airbyte timeouts for a suite that runs [`Fault::matrix`]: one second, so that its
/// slow answer is a timeout.
pub const FAULT_TIMEOUTS: [(&str, &str); 2] = [
    ("AIRBYTE_TIMEOUT_SECS", "1"),
    ("AIRBYTE_DISCOVER_TIMEOUT_SECS", "1"),
];

/// What the fake requires of callers.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    None,
    /// Tokens from `POST /applications/token` for this client id and secret, valid for `lifetime_secs`.
    ClientCredentials {
        client_id: String,
        client_secret: String,
        lifetime_secs: u64,
    },
    /// This exact `Authorization` header value.
    Header(String),
}

/// How the fake runs; [`Options::default`] is what the tests use.
#[derive(Debug, Clone)]
pub struct Options {
    /// Port to listen on; 0 picks a free one.
    pub port: u16,
    /// Whether every request is recorded for [`FakeAirbyte::requests`]; off for long benchmark runs.
    pub record: bool,
    /// Created sources and destinations kept (each kind); creates past it are answered as usual
    /// but not kept, so that a long run does not grow the fake's memory.
    pub max_stored_actors: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            port: 0,
            record: true,
            max_stored_actors: usize::MAX,
        }
    }
}

impl Options {
    /// For long runs under load (`make bench`, profiling by hand): nothing recorded, and at most
    /// 1000 created sources and destinations kept; creates past that are answered but forgotten.
    pub fn under_load() -> Options {
        Options {
            record: false,
            max_stored_actors: 1000,
            ..Options::default()
        }
    }
}

/// What the fake holds and what tests set; [`route`]'s handlers share it under one lock.
struct State {
    record: bool,
    max_stored_actors: usize,
    auth: Auth,
    issued_tokens: Vec<String>,
    tokens_issued: usize,
    legacy_workspaces_list: bool,
    /// Whether the Config API answers (false: every Config API call is a 404, as on an install
    /// that opens only the public API).
    config_api_reachable: bool,
    /// Whether the public API has `GET /workspaces/{id}/definitions/...` (Airbyte 1.6 and later).
    public_definitions_listing: bool,
    workspaces: Vec<String>,
    available: bool,
    source_definitions: Vec<Value>,
    destination_definitions: Vec<Value>,
    sources: HashMap<String, Value>,
    destinations: HashMap<String, Value>,
    streams: Vec<Value>,
    /// The failure type (`config_error`, ...) and message of a failing discovery.
    discovery_failure: Option<(Option<String>, String)>,
    check_end: CheckEnd,
    /// Connector specs by definition id ([`specs::known_specs`] and what tests set).
    specs: HashMap<String, Value>,
    /// `..._definition_specifications/get` calls answered.
    spec_reads: usize,
    /// `scheduler/.../check_connection` calls answered.
    scheduler_checks: usize,
    connections: HashMap<String, Value>,
    last_job_status: Option<String>,
    jobs: Vec<jobs::FakeJob>,
    /// An Airbyte before 0.57: no `jobs/get_without_logs`, `attempt/get_for_job`, clears.
    legacy_job_calls: bool,
    /// Attempt logs as structured events (`logType: structured`, Airbyte 1.2 and later).
    structured_logs: bool,
    next_job_id: i64,
    /// `sources/discover_schema` calls answered.
    discoveries: usize,
    /// Order of creation, for listing.
    created: Vec<String>,
    faults: HashMap<String, Fault>,
    requests: Vec<Recorded>,
}

impl State {
    /// The time as Airbyte writes it: epoch seconds.
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }

    /// A fresh Airbyte: one workspace, the well-known definitions, two streams to discover.
    fn new(options: &Options) -> State {
        State {
            record: options.record,
            max_stored_actors: options.max_stored_actors,
            auth: Auth::None,
            issued_tokens: Vec::new(),
            tokens_issued: 0,
            legacy_workspaces_list: false,
            config_api_reachable: true,
            public_definitions_listing: true,
            workspaces: vec![WORKSPACE_ID.to_string()],
            available: true,
            source_definitions: known_definitions("source"),
            destination_definitions: known_definitions("destination"),
            sources: HashMap::new(),
            destinations: HashMap::new(),
            streams: vec![
                stream("users", &["full_refresh", "incremental"]),
                stream("orders", &["full_refresh"]),
            ],
            discovery_failure: None,
            check_end: CheckEnd::Succeeded,
            specs: specs::known_specs().into_iter().collect(),
            spec_reads: 0,
            scheduler_checks: 0,
            connections: HashMap::new(),
            last_job_status: None,
            jobs: Vec::new(),
            legacy_job_calls: false,
            structured_logs: false,
            next_job_id: 0,
            discoveries: 0,
            created: Vec::new(),
            faults: HashMap::new(),
            requests: Vec::new(),
        }
    }

    fn has_workspace(&self, id: &str) -> bool {
        self.workspaces.iter().any(|w| w == id)
    }

    /// The sources or the destinations held, by id.
    fn actors(&self, kind: Kind) -> &HashMap<String, Value> {
        match kind {
            Kind::Source => &self.sources,
            Kind::Destination => &self.destinations,
        }
    }

    fn actors_mut(&mut self, kind: Kind) -> &mut HashMap<String, Value> {
        match kind {
            Kind::Source => &mut self.sources,
            Kind::Destination => &mut self.destinations,
        }
    }

    /// The connector definitions listed for sources or for destinations.
    fn definitions(&self, kind: Kind) -> &[Value] {
        match kind {
            Kind::Source => &self.source_definitions,
            Kind::Destination => &self.destination_definitions,
        }
    }
}

/// The fake; it stops when dropped.
pub struct FakeAirbyte {
    pub port: u16,
    state: Arc<Mutex<State>>,
    received: Arc<Condvar>,
    stop: Arc<AtomicBool>,
    /// The connections being served, by the number of their accept, so that dropping the fake
    /// can end them; each is forgotten when it ends, and its socket closed with it.
    connections: Arc<Mutex<HashMap<usize, TcpStream>>>,
    /// The thread that accepts connections; it owns the listener, so once it has ended, a
    /// connection to the port is refused rather than accepted and then reset.
    accepting: Option<thread::JoinHandle<()>>,
}

impl FakeAirbyte {
    /// A current Airbyte (1.7 and later): `/workspaces/list` answers 404.
    pub fn start() -> FakeAirbyte {
        FakeAirbyte::start_on(0)
    }

    /// The same on a given port (0: a free one).
    pub fn start_on(port: u16) -> FakeAirbyte {
        FakeAirbyte::start_with(Options {
            port,
            ..Options::default()
        })
    }

    pub fn start_with(options: Options) -> FakeAirbyte {
        let port = options.port;
        let state = State::new(&options);
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the fake Airbyte");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(state));
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(HashMap::new()));
        let received = Arc::new(Condvar::new());
        let (s, st, open, rx) = (
            state.clone(),
            stop.clone(),
            connections.clone(),
            received.clone(),
        );
        let accepting = thread::spawn(move || {
            for (n, conn) in listener.incoming().enumerate() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                if let Ok(clone) = conn.try_clone() {
                    open.lock().unwrap().insert(n, clone);
                }
                let s = s.clone();
                let (st, rx, open) = (st.clone(), rx.clone(), open.clone());
                thread::spawn(move || {
                    serve_connection(conn, &s, &st, &rx);
                    open.lock().unwrap_or_else(|p| p.into_inner()).remove(&n);
                });
            }
        });
        FakeAirbyte {
            port,
            state,
            received,
            stop,
            connections,
            accepting: Some(accepting),
        }
    }

    /// An Airbyte 1.6 or older, which still has `/workspaces/list`.
    pub fn start_legacy() -> FakeAirbyte {
        let fake = FakeAirbyte::start();
        fake.state().legacy_workspaces_list = true;
        fake
    }

    /// The Config API root, as `AIRBYTE_BASE_URL` takes it.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1", self.port)
    }

    /// The public API root, as `AIRBYTE_BASE_URL` takes it.
    pub fn public_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/public/v1", self.port)
    }

    /// Whether the Config API answers at all; off, every call to it is a 404, as on an install
    /// whose platform team opens only the public API.
    pub fn config_api_reachable(&self, reachable: bool) {
        self.state().config_api_reachable = reachable;
    }

    /// Whether the public API lists a workspace's definitions (Airbyte 1.6 and later); off, only
    /// `GET /connector_definitions` does.
    pub fn set_public_definitions_listing(&self, listed: bool) {
        self.state().public_definitions_listing = listed;
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state().requests.clone()
    }

    /// The calls received, in order, as `sources/create` and so on.
    pub fn calls(&self) -> Vec<String> {
        self.state()
            .requests
            .iter()
            .map(|r| r.call.clone())
            .collect()
    }

    /// Waits (at most 20 s) until the fake has received a request for `call`.
    pub fn wait_for_call(&self, call: &str) {
        let state = self.state();
        let (state, timeout) = self
            .received
            .wait_timeout_while(state, Duration::from_secs(20), |s| {
                !s.requests.iter().any(|r| r.call == call)
            })
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "the fake received no {call}: {:?}",
            state.requests.iter().map(|r| &r.call).collect::<Vec<_>>()
        );
    }

    /// Waits until the fake receives a request or changes, or `timeout` has passed.
    pub fn wait_for_change(&self, timeout: Duration) {
        let state = self.state();
        drop(self.received.wait_timeout(state, timeout));
    }

    pub fn clear_requests(&self) {
        self.state().requests.clear();
    }

    /// The body of the last request to `call`.
    pub fn last_body(&self, call: &str) -> Value {
        let state = self.state();
        let found = state.requests.iter().rev().find(|r| r.call == call);
        found
            .unwrap_or_else(|| {
                panic!(
                    "the fake received no {call}; it received {:?}",
                    state.requests.iter().map(|r| &r.call).collect::<Vec<_>>()
                )
            })
            .body
            .clone()
    }

    pub fn fail(&self, call: &str, fault: Fault) {
        self.state().faults.insert(call.to_string(), fault);
    }

    pub fn heal(&self) {
        self.state().faults.clear();
    }

    /// Requires authentication on every call but `health` and `applications/token`.
    pub fn require(&self, auth: Auth) {
        self.state().auth = auth;
    }

    /// Forgets every token issued so far: the next call with one gets a 401.
    pub fn revoke_tokens(&self) {
        self.state().issued_tokens.clear();
    }

    pub fn set_workspaces(&self, ids: &[&str]) {
        self.state().workspaces = ids.iter().map(|s| s.to_string()).collect();
    }

    pub fn set_available(&self, available: bool) {
        self.state().available = available;
    }

    pub fn add_source_definition(&self, definition: Value) {
        self.state().source_definitions.push(definition);
    }

    pub fn set_source_definitions(&self, definitions: Vec<Value>) {
        self.state().source_definitions = definitions;
    }

    pub fn set_destination_definitions(&self, definitions: Vec<Value>) {
        self.state().destination_definitions = definitions;
    }

    /// Switches recording of requests on or off.
    pub fn set_recording(&self, record: bool) {
        self.state().record = record;
    }

    pub fn set_streams(&self, streams: Vec<Value>) {
        self.state().streams = streams;
    }

    /// Makes every connection check report a failure with this message.
    pub fn fail_checks(&self, message: &str) {
        self.end_checks(CheckEnd::Failed(message.to_string()));
    }

    /// How every connection check ends from now on.
    pub fn end_checks(&self, end: CheckEnd) {
        self.state().check_end = end;
    }

    /// The spec `..._definition_specifications/get` answers for a definition.
    pub fn set_spec(&self, definition_id: &str, spec: Value) {
        self.state().specs.insert(definition_id.to_string(), spec);
    }

    /// How many spec reads the fake has answered.
    pub fn spec_reads(&self) -> usize {
        self.state().spec_reads
    }

    /// The configuration of a stored source or destination, unmasked, as the fake keeps it.
    pub fn stored_config(&self, id: &str) -> Value {
        let s = self.state();
        let read = s.sources.get(id).or_else(|| s.destinations.get(id));
        read.unwrap_or_else(|| panic!("the fake holds no actor {id}"))["connectionConfiguration"]
            .clone()
    }

    /// The status `jobs/get_last_replication_job` reports (none by default).
    pub fn set_last_job_status(&self, status: &str) {
        self.state().last_job_status = Some(status.to_string());
    }

    /// Ends job `id` (started through `connections/sync` or the public `POST jobs`) as `end`.
    pub fn finish_job(&self, id: i64, end: JobEnd) {
        let mut s = self.state();
        let now = s.now();
        let job = s.jobs.iter_mut().find(|j| j.id == id);
        job.unwrap_or_else(|| panic!("the fake has no job {id}"))
            .end(&end, now);
    }

    /// Fails job `id`'s running attempt with `message` and starts its next attempt.
    pub fn retry_job(&self, id: i64, message: &str) {
        let mut s = self.state();
        let now = s.now();
        let job = s.jobs.iter_mut().find(|j| j.id == id);
        job.unwrap_or_else(|| panic!("the fake has no job {id}"))
            .retry(message, now);
    }

    /// An Airbyte before 0.57: `jobs/get_without_logs`, `attempt/get_for_job` and the clears
    /// answer 404, `jobs/get` carries the figures, and the public `POST /jobs` refuses `clear`.
    pub fn set_legacy_job_calls(&self, legacy: bool) {
        self.state().legacy_job_calls = legacy;
    }

    /// Attempt logs as structured events rather than lines.
    pub fn set_structured_logs(&self, structured: bool) {
        self.state().structured_logs = structured;
    }

    /// Every job the fake holds, as `(id, connection id, status)`.
    pub fn jobs(&self) -> Vec<(i64, String, String)> {
        let s = self.state();
        s.jobs
            .iter()
            .map(|j| (j.id, j.connection_id.clone(), j.status.clone()))
            .collect()
    }

    /// How many discoveries the fake has run (`sources/discover_schema`, the public `GET streams`).
    pub fn discoveries(&self) -> usize {
        self.state().discoveries
    }

    /// The connection `id` as the fake stores it (`ConnectionRead`).
    pub fn connection(&self, id: &str) -> Value {
        self.state().connections[id].clone()
    }

    /// How many sources and destinations the fake holds.
    pub fn actor_count(&self) -> (usize, usize) {
        let s = self.state();
        (s.sources.len(), s.destinations.len())
    }

    /// Makes discoveries fail with this message, for no reason Airbyte classifies.
    pub fn fail_discovery(&self, message: &str) {
        self.state().discovery_failure = Some((None, message.to_string()));
    }

    /// Makes discoveries fail with this message, as Airbyte classifies it (`config_error`, ...).
    pub fn fail_discovery_as(&self, failure_type: &str, message: &str) {
        self.state().discovery_failure =
            Some((Some(failure_type.to_string()), message.to_string()));
    }

    /// Stores a source as if created earlier; returns its id.
    pub fn seed_source(&self) -> String {
        self.seed_source_with_id(&Uuid::new_v4().to_string())
    }

    pub fn seed_destination(&self) -> String {
        self.seed_destination_with_id(&Uuid::new_v4().to_string())
    }

    /// The same with a given id: a MySQL source in the fake's workspace.
    pub fn seed_source_with_id(&self, id: &str) -> String {
        let read = json!({
            "sourceId": id, "workspaceId": WORKSPACE_ID, "sourceDefinitionId": MYSQL_DEFINITION_ID,
            "name": "seeded source", "connectionConfiguration": { "host": "db.internal" },
            "createdAt": 1_700_000_000,
        });
        let mut s = self.state();
        s.sources.insert(id.to_string(), read);
        s.created.push(id.to_string());
        id.to_string()
    }

    /// An S3 destination in the fake's workspace.
    pub fn seed_destination_with_id(&self, id: &str) -> String {
        let read = json!({
            "destinationId": id, "workspaceId": WORKSPACE_ID, "destinationDefinitionId": S3_DEFINITION_ID,
            "name": "seeded destination", "connectionConfiguration": { "bucket_name": "b" },
            "createdAt": 1_700_000_000,
        });
        let mut s = self.state();
        s.destinations.insert(id.to_string(), read);
        s.created.push(id.to_string());
        id.to_string()
    }
}

impl Drop for FakeAirbyte {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        // Tests drop the fake to make Airbyte unreachable: the port must be closed when this returns.
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.join();
        }
        for conn in self
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, conn)| conn)
        {
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Recorded {
    /// The first value of the query parameter `name`.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the request says its body is JSON.
    fn has_json_body(&self) -> bool {
        self.content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/json"))
    }

    /// The body's `field`, when it is a string that reads as a UUID.
    fn uuid_field(&self, field: &str) -> Option<&str> {
        self.body
            .get(field)
            .and_then(Value::as_str)
            .filter(|s| Uuid::parse_str(s).is_ok())
    }

    /// The id in the body's `field` of one of the `what`s (`source`, `connection`) in `store`;
    /// else Airbyte's refusal: 422 without an id, 404 for one it does not hold.
    fn id_in(
        &self,
        field: &str,
        store: &HashMap<String, Value>,
        what: &str,
    ) -> Result<&str, Reply> {
        let Some(id) = self.uuid_field(field) else {
            return Err(invalid(&format!("{field} is required")));
        };
        if !store.contains_key(id) {
            return Err(not_found(what, &self.body[field]));
        }
        Ok(id)
    }
}

/// Authenticates the request, then hands it to the handler of its call: one arm per call.
fn route(state: &Mutex<State>, req: &Recorded) -> Reply {
    use Kind::{Destination, Source};
    let mut guard = state.lock().unwrap_or_else(|p| p.into_inner());
    let s = &mut *guard;
    let path: Vec<&str> = req.path.split('/').collect();
    // An install that does not open the Config API does not reach Airbyte's authentication either.
    if req.api == Api::Config && !s.config_api_reachable {
        return answer(404, json!({ "message": "Not Found" }));
    }
    // Getting a token, and asking whether Airbyte is up, take no credentials, on either API.
    let open = matches!(path.as_slice(), ["applications", "token"] | ["health"]);
    if !open && !tokens::admits(s, req) {
        return replies::unauthorized();
    }
    if req.api == Api::Public {
        return public_api::route(s, req);
    }
    match (req.method.as_str(), path.as_slice()) {
        (_, ["applications", "token"]) => tokens::issue(s, req),
        ("GET", ["health"]) => health(s),
        ("POST", ["workspaces", "list"]) if s.legacy_workspaces_list => workspaces::list(s, req),
        ("POST", ["workspaces", "list_by_organization_id"]) => {
            workspaces::list_by_organization_id(s, req)
        }
        ("POST", ["source_definitions", "list_for_workspace"]) => {
            definitions::list_for_workspace(s, req, Source)
        }
        ("POST", ["destination_definitions", "list_for_workspace"]) => {
            definitions::list_for_workspace(s, req, Destination)
        }
        ("POST", ["sources", "create"]) => actors::create(s, req, Source),
        ("POST", ["sources", "get"]) => actors::get(s, req, Source),
        ("POST", ["sources", "delete"]) => actors::delete(s, req, Source),
        ("POST", ["sources", "update"]) => actors::update(s, req, Source),
        ("POST", ["sources", "check_connection"]) => checks::of_actor(s, req, Source),
        ("POST", ["sources", "check_connection_for_update"]) => checks::of_update(s, req, Source),
        ("POST", ["scheduler", "sources", "check_connection"]) => checks::of_config(s, req, Source),
        ("POST", ["scheduler", "sources", "discover_schema"]) => checks::discover(s, req),
        ("POST", ["scheduler", "destinations", "check_connection"]) => {
            checks::of_config(s, req, Destination)
        }
        ("POST", ["source_definition_specifications", "get"]) => specs::get(s, req, Source),
        ("POST", ["destination_definition_specifications", "get"]) => {
            specs::get(s, req, Destination)
        }
        ("POST", ["sources", "list"]) => actors::list(s, req, Source),
        ("POST", ["sources", "discover_schema"]) => actors::discover_schema(s, req),
        ("POST", ["connections", "sync"]) => jobs::sync(s, req),
        ("POST", ["connections", "update"]) => connections::update(s, req),
        ("POST", ["jobs", "get"]) if s.legacy_job_calls => jobs::get(s, req, jobs::Read::Legacy),
        ("POST", ["jobs", "get"]) => jobs::get(s, req, jobs::Read::WithLogs),
        ("POST", ["jobs", "get_without_logs"]) if !s.legacy_job_calls => {
            jobs::get(s, req, jobs::Read::WithFigures)
        }
        ("POST", ["attempt", "get_for_job"]) if !s.legacy_job_calls => {
            jobs::attempt_for_job(s, req)
        }
        ("POST", ["connections", "clear"]) if !s.legacy_job_calls => jobs::start(s, req, "clear"),
        ("POST", ["connections", "clear", "stream"]) if !s.legacy_job_calls => {
            jobs::clear_streams(s, req, "clear")
        }
        ("POST", ["connections", "reset"]) => jobs::start(s, req, "reset_connection"),
        ("POST", ["connections", "reset", "stream"]) => {
            jobs::clear_streams(s, req, "reset_connection")
        }
        ("POST", ["jobs", "list"]) => jobs::list(s, req),
        ("POST", ["jobs", "cancel"]) => jobs::cancel(s, req),
        ("POST", ["destinations", "create"]) => actors::create(s, req, Destination),
        ("POST", ["destinations", "get"]) => actors::get(s, req, Destination),
        ("POST", ["destinations", "delete"]) => actors::delete(s, req, Destination),
        ("POST", ["destinations", "update"]) => actors::update(s, req, Destination),
        ("POST", ["destinations", "check_connection"]) => checks::of_actor(s, req, Destination),
        ("POST", ["destinations", "check_connection_for_update"]) => {
            checks::of_update(s, req, Destination)
        }
        ("POST", ["destinations", "list"]) => actors::list(s, req, Destination),
        ("POST", ["connections", "create"]) => connections::create(s, req),
        ("POST", ["connections", "get"]) => connections::get(s, req),
        ("POST", ["connections", "delete"]) => connections::delete(s, req),
        ("POST", ["jobs", "get_last_replication_job"]) => jobs::get_last_replication_job(s, req),
        _ => replies::no_route(req),
    }
}

/// `health`: whether Airbyte is available ([`FakeAirbyte::set_available`]).
fn health(s: &State) -> Reply {
    answer(200, json!({ "available": s.available }))
}

/// Serves a connection's requests one after another until it closes or the fake stops.
fn serve_connection(conn: TcpStream, state: &Mutex<State>, stop: &AtomicBool, received: &Condvar) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = conn.set_nodelay(true);
    let mut writer = conn.try_clone().expect("clone the socket");
    let mut reader = BufReader::new(conn);
    while let Some(request) = read_request(&mut reader, stop) {
        // Header lines an answer carries beyond the usual ones.
        let mut extra = String::new();
        let answer = match record(state, received, &request) {
            Some(Fault::Slow(delay)) => {
                thread::sleep(delay);
                route(state, &request)
            }
            Some(Fault::Status(status, body)) => answer(status, body),
            Some(Fault::Html(status)) => Reply {
                status,
                content_type: "text/html",
                body: b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
                    .to_vec(),
            },
            Some(Fault::InvalidJson) => Reply {
                status: 200,
                content_type: "application/json",
                body: b"{\"sourceId\": ".to_vec(),
            },
            Some(Fault::WrongShape) => answer(200, json!({ "unexpected": [1, 2, 3] })),
            Some(Fault::EmptyBody) => Reply {
                status: 200,
                content_type: "application/json",
                body: Vec::new(),
            },
            Some(Fault::RateLimited(retry_after)) => {
                if let Some(seconds) = retry_after {
                    extra = format!("Retry-After: {seconds}\r\n");
                }
                answer(429, error_body(&request.call, 429, "Too many requests"))
            }
            Some(Fault::CloseMidAnswer) => {
                let _ = writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{\"sour");
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return;
            }
            None => route(state, &request),
        };
        if write_answer(&mut writer, &answer, &extra).is_err() {
            return;
        }
    }
}

/// The next request on the connection; `None` once it closes or breaks off, or the fake stops.
fn read_request(reader: &mut BufReader<TcpStream>, stop: &AtomicBool) -> Option<Recorded> {
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let headers = read_headers(reader)?;
    if stop.load(Ordering::SeqCst) {
        return None;
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut raw_body = vec![0; length];
    reader.read_exact(&mut raw_body).ok()?;
    let (api, below) = match target.strip_prefix("/api/public/v1/") {
        Some(below) => (Api::Public, below),
        None => (
            Api::Config,
            target
                .trim_start_matches("/api/v1/")
                .trim_start_matches('/'),
        ),
    };
    let (path, query) = below.split_once('?').unwrap_or((below, ""));
    let query = query_pairs(query);
    let call = match api {
        Api::Config => below.to_string(),
        Api::Public => public_api::call_name(&method, path),
    };
    Some(Recorded {
        method,
        call,
        api,
        path: path.to_string(),
        query,
        content_type: headers.get("content-type").cloned(),
        authorization: headers.get("authorization").cloned(),
        host: headers.get("host").cloned(),
        body: serde_json::from_slice(&raw_body).unwrap_or(Value::Null),
        raw_body,
    })
}

/// The `name=value` pairs of a query (or a form body), decoded, in order.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// A query component with its percent escapes decoded (`%7C` is `|`).
fn decode(part: &str) -> String {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The header lines up to the blank one, by lowercase name; `None` if the connection ends first.
fn read_headers(reader: &mut BufReader<TcpStream>) -> Option<HashMap<String, String>> {
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            return Some(headers);
        }
        // A field sent twice is kept as one list (RFC 9110, section 5.3), so that a test sees it.
        if let Some((k, v)) = h.split_once(':') {
            let value = v.trim();
            headers
                .entry(k.trim().to_ascii_lowercase())
                .and_modify(|listed: &mut String| {
                    listed.push_str(", ");
                    listed.push_str(value);
                })
                .or_insert_with(|| value.to_string());
        }
    }
}

/// Records the request (when recording is on) and returns the fault set for its call, if any.
fn record(state: &Mutex<State>, received: &Condvar, request: &Recorded) -> Option<Fault> {
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    if s.record {
        s.requests.push(request.clone());
        received.notify_all();
    }
    s.faults.get(&request.call).cloned()
}

/// Writes `answer`, with `extra` header lines (each ending in CRLF) after its `Content-Type`.
fn write_answer(writer: &mut TcpStream, answer: &Reply, extra: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} X\r\nContent-Type: {}\r\n{extra}Content-Length: {}\r\n\r\n",
        answer.status,
        answer.content_type,
        answer.body.len()
    );
    // One write for head and body: two would meet Nagle's algorithm and the client's delayed
    // ACK, and every answer would wait 40 ms.
    let mut out = head.into_bytes();
    out.extend_from_slice(&answer.body);
    writer.write_all(&out)
}
