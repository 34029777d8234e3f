//! The HTTP server. tiny_http reads each request whole (head and body, within `MAX_BODY_BYTES`
//! and `CLIENT_TIMEOUT_SECS`) on its connection's own thread and hands it over only then, on
//! that same thread; at most `WORKERS` requests that call Airbyte are handled at once (a counting
//! gate, not a queue). A client that stalls holds its own connection's thread and nothing else.
//!
//! Every request is answered deliberately (a panicking handler fails only its own request), with
//! a request id, recorded in the metrics and logged once; so is every request tiny_http refuses
//! for its framing. The server is generic over what it serves ([`Service`]).

use std::borrow::Cow;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use log::{error, info, warn};
use tiny_http::{Refusal, Request, Response, ResponseBox};
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::{path_of, Incoming, Paused, Reply, Seat};
use crate::metrics::Metrics;
use crate::sync::lock;

/// What the server serves: the router in production.
pub trait Service: Send + Sync + 'static {
    /// Answers one complete request, whose path belongs to `route` ([`Service::route_of`]).
    fn handle(&self, request: &Incoming<'_>, route: RouteInfo) -> Result<Reply, ApiError>;

    /// For a request that waits for `100 Continue`: the problem that refuses it whatever its body
    /// (an unknown path, a wrong method, no token, not JSON), so that it is answered before the
    /// client sends the body.
    fn refuse_before_body(&self, request: &Incoming<'_>, route: RouteInfo) -> Option<ApiError>;

    /// The route a path belongs to: found once per request, and handed to the other two.
    fn route_of(&self, path: &str) -> RouteInfo;
}

/// A route, as the server sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteInfo {
    /// The metrics label: a route pattern, or `unmatched`.
    pub label: &'static str,
    /// The methods it allows (`GET, HEAD, POST`), as an `Allow` header says them; none for
    /// `unmatched`.
    pub allow: &'static str,
    /// Whether handling it calls Airbyte, and so takes one of the `WORKERS` slots. Routes that
    /// only answer from memory (`/healthz`, `/metrics`) never wait behind slow Airbyte calls.
    pub calls_airbyte: bool,
}

/// How requests are read and how many are handled at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests that call Airbyte handled at once.
    pub workers: usize,
    /// Largest request body (413 above).
    pub max_body_bytes: usize,
    /// Client socket timeout: an idle connection closes after it, and a request's head, and then
    /// its body, must arrive within it.
    pub client_timeout: Duration,
    /// Client connections served at once (503 above).
    pub max_connections: usize,
}

/// The running server.
pub struct Server {
    listener: Arc<tiny_http::Server>,
    stopped: Arc<(Mutex<bool>, Condvar)>,
}

/// Stops a [`Server`] gracefully from another thread.
#[derive(Clone)]
pub struct Stopper {
    listener: Arc<tiny_http::Server>,
    stopped: Arc<(Mutex<bool>, Condvar)>,
}

impl Stopper {
    /// Stops accepting connections and closes those that wait for a next request; requests being
    /// read or handled finish, and their answers close their connections. [`Server::wait`]
    /// returns once every connection has closed.
    pub fn stop(&self) {
        let (stopped, changed) = &*self.stopped;
        let mut stopped = lock(stopped);
        if !*stopped {
            self.listener.drain();
            *stopped = true;
            changed.notify_all();
        }
    }
}

impl Server {
    /// Starts serving `service` on `socket`.
    pub fn start(
        socket: std::net::TcpListener,
        limits: Limits,
        service: Arc<dyn Service>,
        metrics: Arc<Metrics>,
    ) -> Result<Server, String> {
        let connection_limits = tiny_http::ConnectionLimits {
            read_timeout: Some(limits.client_timeout),
            write_timeout: Some(limits.client_timeout),
            max_connections: limits.max_connections,
            max_body_bytes: limits.max_body_bytes,
            request_timeout: Some(limits.client_timeout),
        };
        let endpoint = Endpoint {
            service,
            metrics,
            gate: Gate::new(limits.workers),
        };
        let listener =
            tiny_http::Server::with_handler(socket, connection_limits, Arc::new(endpoint))
                .map_err(|e| e.to_string())?;
        Ok(Server {
            listener: Arc::new(listener),
            stopped: Arc::default(),
        })
    }

    pub fn stopper(&self) -> Stopper {
        Stopper {
            listener: self.listener.clone(),
            stopped: self.stopped.clone(),
        }
    }

    /// Serves until stopped (see [`Stopper::stop`]), then until every connection has closed.
    pub fn wait(&self) {
        let (stopped, changed) = &*self.stopped;
        let stopped = lock(stopped);
        drop(
            changed
                .wait_while(stopped, |s| !*s)
                .unwrap_or_else(|p| p.into_inner()),
        );
        self.listener.wait_closed(None);
    }
}

/// Counts the requests in a handler: at most `limit` at once; more wait for a slot.
struct Gate {
    state: Mutex<GateState>,
    freed: Condvar,
}

struct GateState {
    free: usize,
    waiting: usize,
}

/// One of the gate's slots, until dropped.
struct Slot<'a>(&'a Gate);

/// A request's place at the gate: a slot while its handler runs, none while it pauses (counted
/// in the metrics as waiting).
struct Place<'a> {
    gate: &'a Gate,
    slot: RefCell<Option<Slot<'a>>>,
    metrics: &'a Metrics,
}

impl<'a> Place<'a> {
    fn new(gate: &'a Gate, metrics: &'a Metrics) -> Place<'a> {
        Place {
            gate,
            slot: RefCell::new(None),
            metrics,
        }
    }

    fn enter(&self) {
        let slot = self.gate.enter();
        *self.slot.borrow_mut() = Some(slot);
    }

    fn leave(&self) {
        self.slot.borrow_mut().take();
    }
}

impl Seat for Place<'_> {
    /// Gives the slot back for the pause, so that a request waiting on a job never holds one a
    /// create needs, and takes one again before the handler calls Airbyte.
    fn pause(&self, request: &Request, timeout: Duration) -> Paused {
        let held = self.slot.borrow_mut().take().is_some();
        let waiting = self.metrics.start_waiting();
        let paused = request.pause(timeout);
        drop(waiting);
        if held {
            self.enter();
        }
        paused
    }
}

impl Gate {
    fn new(limit: usize) -> Gate {
        Gate {
            state: Mutex::new(GateState {
                free: limit,
                waiting: 0,
            }),
            freed: Condvar::new(),
        }
    }

    fn enter(&self) -> Slot<'_> {
        let mut state = lock(&self.state);
        while state.free == 0 {
            state.waiting += 1;
            state = self.freed.wait(state).unwrap_or_else(|p| p.into_inner());
            state.waiting -= 1;
        }
        state.free -= 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.0.state);
        state.free += 1;
        let waiting = state.waiting > 0;
        // The lock is let go before the wake-up: woken while it is still held, the waiter would
        // run only to sleep again on the lock, and be woken a second time when it is let go.
        drop(state);
        // A wake-up is a system call even with nobody to wake: only when someone waits.
        if waiting {
            self.0.freed.notify_one();
        }
    }
}

/// What tiny_http calls on a connection's thread.
struct Endpoint {
    service: Arc<dyn Service>,
    metrics: Arc<Metrics>,
    gate: Gate,
}

impl tiny_http::Handler for Endpoint {
    /// Answers one request, records it and writes its access-log line.
    fn handle(&self, mut request: Request) {
        let started = Instant::now();
        let _in_flight = self.metrics.start_request();
        let request_id = request_id(&request);
        let place = Place::new(&self.gate, &self.metrics);
        let incoming = Incoming::new(&request).seated(&place);
        let route = self.service.route_of(incoming.path());
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            if route.calls_airbyte {
                place.enter();
            }
            self.service.handle(&incoming, route)
        }));
        place.leave();
        let result = outcome.unwrap_or_else(|_| {
            error!("request {request_id} failed: its handler panicked");
            Err(ApiError::internal())
        });
        let status = match result {
            Ok(ref reply) => reply.status,
            Err(ref problem) => problem.status,
        };
        // Answered in place: the request's method and path are logged after the answer.
        if let Err(e) = request.respond_in_place(response(result, &request_id)) {
            warn!("request {request_id}: the answer could not be sent: {e}");
        }
        self.record(
            request.method().as_str(),
            path_of(request.url()),
            route.label,
            status,
            started,
            &request_id,
        );
    }

    fn refuse_before_body(&self, request: &Request) -> Option<ResponseBox> {
        let incoming = Incoming::new(request);
        let route = self.service.route_of(incoming.path());
        let problem = self.service.refuse_before_body(&incoming, route)?;
        let request_id = request_id(request);
        let status = problem.status;
        let answer = response(Err(problem), &request_id);
        self.record(
            incoming.method(),
            incoming.path(),
            route.label,
            status,
            Instant::now(),
            &request_id,
        );
        Some(answer)
    }

    fn refused(&self, refusal: &Refusal) -> ResponseBox {
        let request_id = new_request_id();
        let problem = ApiError::refused(refusal.status.0, &refusal.detail);
        let status = problem.status;
        let method = refusal.method.as_ref().map_or("-", |m| m.as_str());
        let path = refusal.target.as_deref().map_or("-", |t| path_of(t));
        let label = self.service.route_of(path).label;
        let answer = response(Err(problem), &request_id);
        self.record(method, path, label, status, Instant::now(), &request_id);
        answer
    }
}

impl Endpoint {
    fn record(
        &self,
        method: &str,
        path: &str,
        label: &'static str,
        status: u16,
        started: Instant,
        request_id: &str,
    ) {
        let elapsed = started.elapsed();
        self.metrics.observe_request(label, status, elapsed);
        let line = AccessLine {
            method,
            path,
            status,
            elapsed,
            request_id,
        };
        info!(target: "access", "{line}");
    }
}

/// An access-log line's message: `METHOD PATH STATUS 12.3ms id=ID`. Written a piece at a time:
/// through a format string each piece would be padded and aligned for nothing, and a float
/// formatted costs more than the rest of the line.
struct AccessLine<'a> {
    method: &'a str,
    path: &'a str,
    status: u16,
    elapsed: Duration,
    request_id: &'a str,
}

impl std::fmt::Display for AccessLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tenths of a millisecond, in whole numbers.
        let tenths = u64::try_from(self.elapsed.as_micros() / 100).unwrap_or(u64::MAX);
        let mut number = itoa::Buffer::new();
        Printable(self.method).fmt(f)?;
        f.write_str(" ")?;
        Printable(self.path).fmt(f)?;
        f.write_str(" ")?;
        f.write_str(number.format(self.status))?;
        f.write_str(" ")?;
        f.write_str(number.format(tenths / 10))?;
        f.write_str(".")?;
        f.write_str(number.format(tenths % 10))?;
        f.write_str("ms id=")?;
        f.write_str(self.request_id)
    }
}

/// A client's text in the access log: as it is when it is printable ASCII (every well-formed
/// method and path), escaped otherwise, so that no client can write a line of its own.
struct Printable<'a>(&'a str);

impl std::fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.bytes().all(|b| b.is_ascii_graphic()) {
            f.write_str(self.0)
        } else {
            std::fmt::Display::fmt(&self.0.escape_debug(), f)
        }
    }
}

/// The answer to a request, success or problem, with the headers every answer carries.
fn response(result: Result<Reply, ApiError>, request_id: &str) -> ResponseBox {
    let (status, content_type, body, extra) = match result {
        Ok(reply) => (reply.status, reply.content_type, reply.body, reply.headers),
        Err(problem) => {
            let body = problem.body(request_id);
            (
                problem.status,
                "application/problem+json",
                body,
                problem.headers,
            )
        }
    };
    let mut response = Response::from_data(body)
        .with_status_code(status)
        .with_chunked_threshold(usize::MAX);
    // Named headers: no `Header` (two allocations) each. Their values are ours: a request id is
    // checked printable, the rest are made by the service.
    let mut add = |name, value| {
        response
            .add_named_header(name, value)
            .expect("header names and values are checked ASCII")
    };
    add("X-Request-Id", Cow::Owned(request_id.to_string()));
    add("Cache-Control", Cow::Borrowed("no-store"));
    if status != 204 {
        add("Content-Type", Cow::Borrowed(content_type));
    }
    for (name, value) in extra {
        add(name, Cow::Owned(value));
    }
    response.boxed()
}

/// The client's request id when it sent a usable one, else a new one.
fn request_id(request: &Request) -> String {
    request
        .header("X-Request-Id")
        .filter(|id| is_usable_request_id(id))
        .map_or_else(new_request_id, str::to_string)
}

/// A client's request id is echoed and logged, so it must be short and printable.
fn is_usable_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// A new request id, for requests that did not bring a usable `X-Request-Id`: a version-4 UUID
/// made from a random seed drawn once and a counter, mixed (SplitMix64, a bijection, so no two
/// requests of a process share an id), rather than from the system's random source: that is a
/// system call per request.
fn new_request_id() -> String {
    static SEED: OnceLock<(u64, u64)> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let (high, low) = *SEED.get_or_init(|| Uuid::new_v4().as_u64_pair());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&split_mix(high ^ n).to_be_bytes());
    bytes[8..].copy_from_slice(&split_mix(low.wrapping_add(n)).to_be_bytes());
    let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
    // Encoded directly and copied: `to_string` goes through the formatting machinery.
    uuid.hyphenated()
        .encode_lower(&mut Uuid::encode_buffer())
        .to_owned()
}

/// SplitMix64's finaliser: a bijection on 64-bit numbers that scatters neighbours.
fn split_mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    fn get(port: u16, path: &str) -> String {
        let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            conn,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        answer
    }

    /// Answers `/ok`, panics on `/boom`; both take a worker slot.
    struct Panicky;

    impl Service for Panicky {
        fn handle(&self, request: &Incoming<'_>, _: RouteInfo) -> Result<Reply, ApiError> {
            if request.path() == "/boom" {
                panic!("a bug");
            }
            Ok(Reply::json(200, &"fine"))
        }
        fn refuse_before_body(&self, _: &Incoming<'_>, _: RouteInfo) -> Option<ApiError> {
            None
        }
        fn route_of(&self, _: &str) -> RouteInfo {
            RouteInfo {
                label: "/",
                allow: "GET",
                calls_airbyte: true,
            }
        }
    }

    #[test]
    fn a_panicking_handler_fails_only_its_own_request() {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        let limits = Limits {
            workers: 1,
            max_body_bytes: 1024,
            client_timeout: Duration::from_secs(5),
            max_connections: 10,
        };
        let server = Server::start(
            socket,
            limits,
            Arc::new(Panicky),
            Arc::new(Metrics::default()),
        )
        .unwrap();
        let stopper = server.stopper();

        let answer = get(port, "/boom");
        assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
        assert!(
            answer.contains("application/problem+json") && answer.contains("\"status\":500"),
            "{answer}"
        );
        for _ in 0..3 {
            let answer = get(port, "/ok");
            assert!(
                answer.starts_with("HTTP/1.1 200"),
                "the only worker slot was given back: {answer}"
            );
        }
        stopper.stop();
        server.wait();
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "a stopped server accepts nothing"
        );
    }

    #[test]
    fn the_gate_lets_at_most_its_limit_in() {
        let gate = Arc::new(Gate::new(2));
        let inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (gate, inside, most) = (gate.clone(), inside.clone(), most.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let _slot = gate.enter();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert_eq!(gate.state.lock().unwrap().free, 2);
    }

    #[test]
    fn new_request_ids_are_distinct_version_4_uuids() {
        let ids: std::collections::HashSet<String> =
            (0..10_000).map(|_| new_request_id()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(100) {
            let uuid = Uuid::parse_str(id).unwrap();
            assert_eq!(uuid.get_version_num(), 4, "{id}");
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{id}");
        }
    }

    #[test]
    fn request_ids() {
        assert!(is_usable_request_id("abc-123"));
        assert!(!is_usable_request_id(""));
        assert!(!is_usable_request_id("a b"));
        assert!(!is_usable_request_id("a\nb"));
        assert!(!is_usable_request_id(&"x".repeat(129)));
    }

    #[test]
    fn the_access_log_escapes_what_is_not_printable() {
        assert_eq!(Printable("/sink").to_string(), "/sink");
        assert_eq!(Printable("/a\nb c").to_string(), "/a\\nb c");
        assert_eq!(Printable("/é").to_string(), "/é");
    }

    #[test]
    fn paths_lose_their_query() {
        assert_eq!(path_of("/sink?check=true"), "/sink");
        assert_eq!(path_of("/a#f"), "/a");
        assert_eq!(path_of("/a"), "/a");
    }
}
