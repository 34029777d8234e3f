//! A fake Airbyte Config API on port 0 that follows the contract in `shared/airbyte` (paths,
//! bodies, status codes) and records every request it receives.
//!
//! It is a small HTTP/1.1 server on `std::net` rather than a library server so that tests can
//! make it misbehave at the socket level (close mid-answer, stall) as a real one might.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

pub const WORKSPACE_ID: &str = "f1ae8c33-3f7f-4d53-9a7b-2f5d2a4f6d11";
pub const MYSQL_DEFINITION_ID: &str = "435bb9a5-7887-4809-aa58-28c27df0d7ad";
pub const POSTGRES_DEFINITION_ID: &str = "decd338e-5647-4c0b-adf4-da0e75f5a750";
pub const S3_DEFINITION_ID: &str = "4816b78f-1489-44c1-9060-4b19d5fa9362";
pub const DEFAULT_ORGANIZATION_ID: &str = "00000000-0000-0000-0000-000000000000";

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The path below the API root, such as `sources/create`.
    pub call: String,
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    /// The body parsed as JSON; `Value::Null` when there was none.
    pub body: Value,
    pub raw_body: Vec<u8>,
}

/// A way for the fake to misbehave on one call.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status and JSON body instead.
    Status(u16, Value),
    /// Answer this status with an HTML body.
    Html(u16),
    /// 200 with a body that is not JSON.
    InvalidJson,
    /// 200 with valid JSON of the wrong shape.
    WrongShape,
    /// 200 with an empty body.
    EmptyBody,
    /// Promise a long body, send a little, close the connection.
    CloseMidAnswer,
    /// Answer normally, but only after this long.
    Slow(Duration),
}

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

struct State {
    record: bool,
    max_stored_actors: usize,
    auth: Auth,
    issued_tokens: Vec<String>,
    tokens_issued: usize,
    legacy_workspaces_list: bool,
    workspaces: Vec<String>,
    available: bool,
    source_definitions: Vec<Value>,
    destination_definitions: Vec<Value>,
    sources: HashMap<String, Value>,
    destinations: HashMap<String, Value>,
    streams: Vec<Value>,
    discovery_failure: Option<String>,
    check_failure: Option<String>,
    connections: HashMap<String, Value>,
    last_job_status: Option<String>,
    /// Order of creation, for listing.
    created: Vec<String>,
    faults: HashMap<String, Fault>,
    requests: Vec<Recorded>,
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
}

pub fn definition(kind: &str, id: &str, name: &str, repository: &str) -> Value {
    let slug = repository.rsplit('/').next().unwrap_or(repository);
    let mut d = json!({
        "name": name,
        "dockerRepository": repository,
        "dockerImageTag": "1.0.0",
        "documentationUrl": format!("https://docs.airbyte.com/integrations/{kind}s/{slug}"),
        "icon": format!("https://connectors.airbyte.com/files/metadata/{repository}/latest/icon.svg"),
        "protocolVersion": "0.2.0",
        "custom": false,
        "enterprise": false,
        "supportLevel": "certified",
        "releaseStage": "generally_available",
        "releaseDate": "2021-07-15",
        "resourceRequirements": {
            "jobSpecific": [{
                "jobType": "sync",
                "resourceRequirements": { "cpu_request": "1", "cpu_limit": "2", "memory_request": "1Gi", "memory_limit": "2Gi" }
            }]
        },
        "lastPublished": "2025-05-20T17:44:08.123Z",
        "cdkVersion": "java:0.48.1",
        "metrics": {
            "all": { "sync_success_rate": "high", "usage": "high", "connector_version": "1.0.0" },
            "cloud": { "sync_success_rate": "high", "usage": "high", "connector_version": "1.0.0" },
            "oss": { "sync_success_rate": "high", "usage": "medium", "connector_version": "1.0.0" }
        },
        "language": "java",
    });
    d[format!("{kind}DefinitionId")] = json!(id);
    if kind == "source" {
        d["sourceType"] = json!("database");
        d["maxSecondsBetweenMessages"] = json!(86400);
    } else {
        d["supportsDataActivation"] = json!(false);
    }
    d
}

/// The well-known definitions every fake lists, with their real ids: MySQL and Postgres sources,
/// the S3 destination.
fn known_definitions(kind: &str) -> Vec<Value> {
    if kind == "source" {
        vec![
            definition(kind, MYSQL_DEFINITION_ID, "MySQL", "airbyte/source-mysql"),
            definition(
                kind,
                POSTGRES_DEFINITION_ID,
                "Postgres",
                "airbyte/source-postgres",
            ),
        ]
    } else {
        vec![definition(
            kind,
            S3_DEFINITION_ID,
            "S3",
            "airbyte/destination-s3",
        )]
    }
}

/// A catalogue of `count` definitions of `kind` (`source` or `destination`) as large installs list
/// them: the well-known ones and made-up connectors, ordered by name as Airbyte orders them.
pub fn catalog(kind: &str, count: usize) -> Vec<Value> {
    const WORDS: [&str; 26] = [
        "Acme", "Bolt", "Cobalt", "Delta", "Echo", "Flint", "Gamma", "Helix", "Iris", "Jade",
        "Kite", "Lumen", "Maple", "Nova", "Onyx", "Pike", "Quill", "Raven", "Sable", "Tundra",
        "Umber", "Vega", "Wren", "Xenon", "Yarrow", "Zephyr",
    ];
    let mut definitions = known_definitions(kind);
    definitions.truncate(count);
    for n in 0..count.saturating_sub(definitions.len()) {
        let name = format!("{} {}", WORDS[n % WORDS.len()], n / WORDS.len() + 1);
        let repository = format!(
            "airbyte/{kind}-{}",
            name.to_ascii_lowercase().replace(' ', "-")
        );
        let id = Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0000 | n as u128);
        definitions.push(definition(kind, &id.to_string(), &name, &repository));
    }
    definitions.sort_by_key(|d| d["name"].as_str().unwrap_or("").to_ascii_lowercase());
    definitions
}

pub fn stream(name: &str, modes: &[&str]) -> Value {
    json!({
        "stream": {
            "name": name,
            "jsonSchema": { "type": "object", "properties": { "id": { "type": "integer" } } },
            "supportedSyncModes": modes,
            "sourceDefinedCursor": false,
            "defaultCursorField": [],
            "sourceDefinedPrimaryKey": [["id"]],
            "namespace": "shop",
        },
        "config": {
            "syncMode": "full_refresh",
            "destinationSyncMode": "overwrite",
            "selected": false,
            "suggested": true,
            "cursorField": [],
            "primaryKey": [["id"]],
            "aliasName": name,
        }
    })
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
        let state = State {
            record: options.record,
            max_stored_actors: options.max_stored_actors,
            auth: Auth::None,
            issued_tokens: Vec::new(),
            tokens_issued: 0,
            legacy_workspaces_list: false,
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
            check_failure: None,
            connections: HashMap::new(),
            last_job_status: None,
            created: Vec::new(),
            faults: HashMap::new(),
            requests: Vec::new(),
        };
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
        thread::spawn(move || {
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

    /// Makes `check_connection` report a failure with this message.
    pub fn fail_checks(&self, message: &str) {
        self.state().check_failure = Some(message.to_string());
    }

    /// The status `jobs/get_last_replication_job` reports (none by default).
    pub fn set_last_job_status(&self, status: &str) {
        self.state().last_job_status = Some(status.to_string());
    }

    /// How many sources and destinations the fake holds.
    pub fn actor_count(&self) -> (usize, usize) {
        let s = self.state();
        (s.sources.len(), s.destinations.len())
    }

    pub fn fail_discovery(&self, message: &str) {
        self.state().discovery_failure = Some(message.to_string());
    }

    /// Stores a source as if created earlier; returns its id.
    pub fn seed_source(&self) -> String {
        self.seed_source_with_id(&Uuid::new_v4().to_string())
    }

    pub fn seed_destination(&self) -> String {
        self.seed_destination_with_id(&Uuid::new_v4().to_string())
    }

    /// The same with a given id.
    pub fn seed_source_with_id(&self, id: &str) -> String {
        self.state()
            .sources
            .insert(id.to_string(), json!({ "sourceId": id }));
        id.to_string()
    }

    pub fn seed_destination_with_id(&self, id: &str) -> String {
        self.state()
            .destinations
            .insert(id.to_string(), json!({ "destinationId": id }));
        id.to_string()
    }
}

impl Drop for FakeAirbyte {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
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

struct Answer {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

fn answer(status: u16, body: Value) -> Answer {
    Answer {
        status,
        content_type: "application/json",
        body: serde_json::to_vec(&body).unwrap(),
    }
}

fn serve_connection(conn: TcpStream, state: &Mutex<State>, stop: &AtomicBool, received: &Condvar) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = conn.set_nodelay(true);
    let mut writer = conn.try_clone().expect("clone the socket");
    let mut reader = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut raw_body = vec![0; length];
        if reader.read_exact(&mut raw_body).is_err() {
            return;
        }
        let call = target
            .trim_start_matches("/api/v1/")
            .trim_start_matches('/')
            .to_string();
        let recorded = Recorded {
            method: method.clone(),
            call: call.clone(),
            content_type: headers.get("content-type").cloned(),
            authorization: headers.get("authorization").cloned(),
            body: serde_json::from_slice(&raw_body).unwrap_or(Value::Null),
            raw_body,
        };
        let fault = {
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            if s.record {
                s.requests.push(recorded.clone());
                received.notify_all();
            }
            s.faults.get(&call).cloned()
        };
        let answer = match fault {
            Some(Fault::Slow(delay)) => {
                thread::sleep(delay);
                route(state, &recorded)
            }
            Some(Fault::Status(status, body)) => answer(status, body),
            Some(Fault::Html(status)) => Answer {
                status,
                content_type: "text/html",
                body: b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
                    .to_vec(),
            },
            Some(Fault::InvalidJson) => Answer {
                status: 200,
                content_type: "application/json",
                body: b"{\"sourceId\": ".to_vec(),
            },
            Some(Fault::WrongShape) => answer(200, json!({ "unexpected": [1, 2, 3] })),
            Some(Fault::EmptyBody) => Answer {
                status: 200,
                content_type: "application/json",
                body: Vec::new(),
            },
            Some(Fault::CloseMidAnswer) => {
                let _ = writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{\"sour");
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return;
            }
            None => route(state, &recorded),
        };
        let head = format!(
            "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
            answer.status,
            answer.content_type,
            answer.body.len()
        );
        // One write for head and body: two would meet Nagle's algorithm and the client's delayed
        // ACK, and every answer would wait 40 ms.
        let mut out = head.into_bytes();
        out.extend_from_slice(&answer.body);
        if writer.write_all(&out).is_err() {
            return;
        }
    }
}

fn invalid(message: &str) -> Answer {
    answer(
        422,
        json!({ "message": message, "exceptionClassName": "io.airbyte.commons.server.errors.BadObjectSchemaKnownException", "validationErrors": [] }),
    )
}

fn not_found(what: &str, id: &Value) -> Answer {
    answer(
        404,
        json!({ "message": format!("Could not find configuration for {what}: {id}."), "id": id, "exceptionClassName": "io.airbyte.config.persistence.ConfigNotFoundException" }),
    )
}

fn uuid_field<'a>(body: &'a Value, field: &str) -> Option<&'a str> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|s| Uuid::parse_str(s).is_ok())
}

/// Airbyte masks connector secrets in what it returns.
fn mask(config: &Value) -> Value {
    match config {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let secret = ["password", "secret_access_key"].contains(&k.as_str());
                    (
                        k.clone(),
                        if secret { json!("**********") } else { mask(v) },
                    )
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A JWT-shaped token (unsigned) whose `exp` is `lifetime_secs` from now.
fn jwt(n: usize, lifetime_secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let b64 = |s: String| {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let bytes = s.into_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(A[(v >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    };
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(r#"{"alg":"HS256","typ":"JWT"}"#.to_string()),
        b64(format!(
            r#"{{"sub":"fake","n":{n},"iat":{now},"exp":{}}}"#,
            now + lifetime_secs
        ))
    )
}

fn unauthorized() -> Answer {
    answer(401, json!({ "message": "Unauthorized" }))
}

fn route(state: &Mutex<State>, request: &Recorded) -> Answer {
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    let body = &request.body;
    let json_body = request
        .content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/json"));
    if request.call == "applications/token" {
        return match &s.auth {
            Auth::ClientCredentials {
                client_id,
                client_secret,
                lifetime_secs,
            } => {
                if body["client_id"] != json!(client_id)
                    || body["client_secret"] != json!(client_secret)
                {
                    return unauthorized();
                }
                let token = jwt(s.tokens_issued + 1, *lifetime_secs);
                s.tokens_issued += 1;
                s.issued_tokens.push(token.clone());
                answer(200, json!({ "access_token": token }))
            }
            _ => answer(
                404,
                json!({ "message": "no route POST /api/v1/applications/token" }),
            ),
        };
    }
    if request.call != "health" {
        let presented = request.authorization.as_deref().unwrap_or("");
        let allowed = match &s.auth {
            Auth::None => true,
            Auth::Header(expected) => presented == expected,
            Auth::ClientCredentials { .. } => presented
                .strip_prefix("Bearer ")
                .is_some_and(|t| s.issued_tokens.iter().any(|i| i == t)),
        };
        if !allowed {
            return unauthorized();
        }
    }
    match (request.method.as_str(), request.call.as_str()) {
        ("GET", "health") => answer(200, json!({ "available": s.available })),
        ("POST", "workspaces/list") if s.legacy_workspaces_list => {
            if !request.raw_body.is_empty() {
                return answer(415, json!({ "message": "this call takes no body" }));
            }
            answer(
                200,
                json!({ "workspaces": s.workspaces.iter().map(|w| workspace(w)).collect::<Vec<_>>() }),
            )
        }
        ("POST", "workspaces/list_by_organization_id") => {
            if !json_body || uuid_field(body, "organizationId").is_none() {
                return invalid("organizationId is required");
            }
            if body["organizationId"] != DEFAULT_ORGANIZATION_ID {
                return answer(200, json!({ "workspaces": [] }));
            }
            answer(
                200,
                json!({ "workspaces": s.workspaces.iter().map(|w| workspace(w)).collect::<Vec<_>>() }),
            )
        }
        (
            "POST",
            call @ ("source_definitions/list_for_workspace"
            | "destination_definitions/list_for_workspace"),
        ) => {
            let Some(ws) = uuid_field(body, "workspaceId").filter(|_| json_body) else {
                return invalid("workspaceId is required");
            };
            if !s.workspaces.iter().any(|w| w == ws) {
                return not_found("workspace", &body["workspaceId"]);
            }
            if call.starts_with("source") {
                answer(200, json!({ "sourceDefinitions": s.source_definitions }))
            } else {
                answer(
                    200,
                    json!({ "destinationDefinitions": s.destination_definitions }),
                )
            }
        }
        ("POST", call @ ("sources/create" | "destinations/create")) => {
            let kind = if call.starts_with("sources") {
                "source"
            } else {
                "destination"
            };
            let definition_field = format!("{kind}DefinitionId");
            let (Some(ws), Some(definition_id), Some(name), Some(config)) = (
                uuid_field(body, "workspaceId"),
                uuid_field(body, &definition_field),
                body.get("name").and_then(Value::as_str),
                body.get("connectionConfiguration")
                    .filter(|c| c.is_object()),
            ) else {
                return invalid(
                    "workspaceId, name, connectionConfiguration and the definition id are required",
                );
            };
            if !json_body {
                return answer(
                    415,
                    json!({ "message": "Content-Type must be application/json" }),
                );
            }
            if !s.workspaces.iter().any(|w| w == ws) {
                return not_found("workspace", &body["workspaceId"]);
            }
            let definitions = if kind == "source" {
                &s.source_definitions
            } else {
                &s.destination_definitions
            };
            let Some(definition) = definitions
                .iter()
                .find(|d| d[&definition_field] == definition_id)
            else {
                return not_found(&format!("{kind}_definition"), &body[&definition_field]);
            };
            if config.get("port").is_some_and(|p| !p.is_u64()) {
                return invalid("The provided configuration does not fulfill the specification. Errors: json schema validation failed when comparing the data to the json schema. \nErrors: $.port: string found, integer expected ");
            }
            let id = Uuid::new_v4().to_string();
            let read = json!({
                format!("{kind}DefinitionId"): definition_id,
                format!("{kind}Id"): id,
                "workspaceId": ws,
                "connectionConfiguration": mask(config),
                "name": name,
                format!("{kind}Name"): definition["name"],
                "icon": "",
                "createdAt": 1_700_000_000,
                "status": "active",
                "isVersionOverrideApplied": false,
                "supportState": "supported",
            });
            let stored = if kind == "source" {
                s.sources.len()
            } else {
                s.destinations.len()
            };
            if stored < s.max_stored_actors {
                s.created.push(id.clone());
                if kind == "source" {
                    s.sources.insert(id, read.clone());
                } else {
                    s.destinations.insert(id, read.clone());
                }
            }
            answer(200, read)
        }
        ("POST", "sources/discover_schema") => {
            let Some(id) = uuid_field(body, "sourceId") else {
                return invalid("sourceId is required");
            };
            if !s.sources.contains_key(id) {
                return not_found("source", &body["sourceId"]);
            }
            let job = |succeeded: bool| json!({ "id": Uuid::new_v4(), "configType": "discover_schema", "createdAt": 1, "endedAt": 2, "succeeded": succeeded });
            if let Some(message) = &s.discovery_failure {
                let mut job = job(false);
                job["failureReason"] = json!({ "externalMessage": message, "timestamp": 2 });
                return answer(200, json!({ "jobInfo": job }));
            }
            answer(
                200,
                json!({ "catalog": { "streams": s.streams }, "jobInfo": job(true), "catalogId": Uuid::new_v4() }),
            )
        }
        ("POST", "connections/create") => {
            let (Some(source), Some(destination)) = (
                uuid_field(body, "sourceId"),
                uuid_field(body, "destinationId"),
            ) else {
                return invalid("sourceId and destinationId are required");
            };
            if !["active", "inactive", "deprecated", "locked"]
                .contains(&body["status"].as_str().unwrap_or(""))
            {
                return invalid("status is required");
            }
            if !s.sources.contains_key(source) {
                return not_found("source", &body["sourceId"]);
            }
            if !s.destinations.contains_key(destination) {
                return not_found("destination", &body["destinationId"]);
            }
            for item in body
                .pointer("/syncCatalog/streams")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let config = &item["config"];
                if !config["syncMode"].is_string() || !config["destinationSyncMode"].is_string() {
                    return invalid(
                        "syncMode and destinationSyncMode are required in each stream's config",
                    );
                }
            }
            let id = Uuid::new_v4().to_string();
            let read = json!({
                "connectionId": id,
                "name": body.get("name").cloned().unwrap_or(json!("source <> destination")),
                "sourceId": source,
                "destinationId": destination,
                "syncCatalog": body.get("syncCatalog").cloned().unwrap_or(json!({ "streams": [] })),
                "status": body["status"],
                "breakingChange": false,
                "scheduleType": body.get("scheduleType").cloned().unwrap_or(json!("manual")),
                "scheduleData": body.get("scheduleData").cloned().unwrap_or(Value::Null),
            });
            s.connections.insert(id, read.clone());
            answer(200, read)
        }
        (
            "POST",
            call @ ("sources/get"
            | "destinations/get"
            | "sources/delete"
            | "destinations/delete"
            | "sources/check_connection"
            | "destinations/check_connection"),
        ) => {
            let source = call.starts_with("sources");
            let field = if source { "sourceId" } else { "destinationId" };
            let Some(id) = uuid_field(body, field).map(str::to_string) else {
                return invalid(&format!("{field} is required"));
            };
            let store = if source {
                &mut s.sources
            } else {
                &mut s.destinations
            };
            if !store.contains_key(&id) {
                return not_found(if source { "source" } else { "destination" }, &body[field]);
            }
            if call.ends_with("/delete") {
                store.remove(&id);
                return Answer {
                    status: 204,
                    content_type: "application/json",
                    body: Vec::new(),
                };
            }
            if call.ends_with("/check_connection") {
                let job = json!({ "id": Uuid::new_v4(), "configType": if source { "check_connection_source" } else { "check_connection_destination" }, "createdAt": 1, "endedAt": 2, "succeeded": true });
                return match &s.check_failure {
                    Some(message) => answer(
                        200,
                        json!({ "status": "failed", "message": message, "jobInfo": job }),
                    ),
                    None => answer(200, json!({ "status": "succeeded", "jobInfo": job })),
                };
            }
            answer(200, store[&id].clone())
        }
        ("POST", call @ ("sources/list" | "destinations/list")) => {
            let source = call.starts_with("sources");
            let Some(ws) = uuid_field(body, "workspaceId") else {
                return invalid("workspaceId is required");
            };
            let ws = ws.to_string();
            let store = if source { &s.sources } else { &s.destinations };
            let mut all: Vec<&Value> = s
                .created
                .iter()
                .filter_map(|id| store.get(id))
                .filter(|a| a["workspaceId"] == ws.as_str())
                .collect();
            if let Some(cursor) = body.get("cursor").and_then(Value::as_str) {
                let field = if source { "sourceId" } else { "destinationId" };
                if let Some(at) = all.iter().position(|a| a[field] == cursor) {
                    all.drain(..=at);
                }
            }
            if let Some(size) = body.get("pageSize").and_then(Value::as_u64) {
                all.truncate(size as usize);
            }
            let key = if source { "sources" } else { "destinations" };
            answer(200, json!({ key: all }))
        }
        (
            "POST",
            call @ ("connections/get" | "connections/delete" | "jobs/get_last_replication_job"),
        ) => {
            let Some(id) = uuid_field(body, "connectionId").map(str::to_string) else {
                return invalid("connectionId is required");
            };
            if !s.connections.contains_key(&id) {
                return not_found("connection", &body["connectionId"]);
            }
            match call {
                "connections/delete" => {
                    s.connections.remove(&id);
                    Answer {
                        status: 204,
                        content_type: "application/json",
                        body: Vec::new(),
                    }
                }
                "connections/get" => answer(200, s.connections[&id].clone()),
                _ => match &s.last_job_status {
                    Some(status) => answer(
                        200,
                        json!({ "job": { "id": 7, "configType": "sync", "configId": id, "createdAt": 1, "updatedAt": 2, "status": status } }),
                    ),
                    None => answer(200, json!({})),
                },
            }
        }
        _ => answer(
            404,
            json!({ "message": format!("no route {} /api/v1/{}", request.method, request.call) }),
        ),
    }
}

fn workspace(id: &str) -> Value {
    json!({
        "workspaceId": id,
        "customerId": Uuid::new_v4(),
        "name": "Default Workspace",
        "slug": "default",
        "initialSetupComplete": true,
        "organizationId": DEFAULT_ORGANIZATION_ID,
    })
}
