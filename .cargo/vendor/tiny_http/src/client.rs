//! PATCH(airbyte-wrapper): one client connection, rewritten. Each request is read whole, head and
//! body, on the connection's own thread and only then handed on: to a [`Handler`] on that same
//! thread (`Server::with_handler`), or to whoever calls `recv()`. A client that stalls holds its
//! own connection thread and nothing else. Framing is decided by `framing.rs`; after any refusal
//! the connection is answered, closed, and no further byte of it is read as a request.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::connection::Connection;
use crate::framing::{self, BodyFraming, ChunkedDecoder, Head, HeadScanner, Refusal};
use crate::request::{Exchange, Paused, Request};
use crate::response::Response;
use crate::util::{MessagesQueue, SequentialWriterBuilder};
use crate::{ConnectionLimits, HTTPVersion, Handler, Message};

/// The connection buffer's size at first; it grows for a large head and shrinks back after.
const BUFFER_BYTES: usize = 4 * 1024;
/// A body is read straight into its own buffer at most this much at a time.
const BODY_READ_BYTES: usize = 64 * 1024;
/// Requests of one connection that `recv()` may hold unanswered at once (pipelining).
const MAX_QUEUED_PER_CONNECTION: usize = 16;
/// After answering on a connection it closes, what the client still sends is read and dropped for
/// at most this long (and this much), so that its unread bytes do not make the kernel reset the
/// connection before the client has read the answer.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where complete requests go.
pub(crate) enum Dispatch {
    /// Answered on the connection's thread.
    Direct(Arc<dyn Handler>),
    /// Queued for `Server::recv()`.
    Queue(Arc<MessagesQueue<Message>>),
}

/// What every connection of one server shares: its limits, where requests go, and the registry
/// that a graceful stop uses to close idle connections and to wait for busy ones.
pub(crate) struct Connections {
    pub limits: ConnectionLimits,
    pub dispatch: Dispatch,
    pub draining: Arc<AtomicBool>,
    open: Mutex<HashMap<u64, Arc<Tracked>>>,
    open_changed: Condvar,
    next_id: AtomicU64,
}

/// A connection as the registry sees it.
pub(crate) struct Tracked {
    socket: Arc<Connection>,
    /// [`IDLE`], [`BUSY`], [`WAITING`] or [`CLOSED`]: whether a stop may close the connection
    /// now. A connection claims the request that arrives on it (`IDLE` to `BUSY`), or a stop
    /// closes it for reading (`IDLE` to `CLOSED`). Either way, a request whose bytes had arrived
    /// by then is read, handled and answered; one that had not is never seen. PATCH(airbyte-wrapper):
    /// a handler that pauses (`Request::pause`) marks it `WAITING` (from `BUSY`, and back); a stop
    /// closes a `WAITING` connection for reading too (`WAITING` to `CLOSED`), which ends the pause.
    state: AtomicU8,
    /// PATCH(airbyte-wrapper): the thread serving the connection (set when it begins), which a
    /// stop unparks when it closes the connection while a handler pauses on it.
    thread: OnceLock<Thread>,
}

/// Waiting for the first byte of a next request.
const IDLE: u8 = 0;
/// Reading or handling a request.
const BUSY: u8 = 1;
/// Closed for reading by a stop while idle or while a handler paused.
const CLOSED: u8 = 2;
/// PATCH(airbyte-wrapper): a handler on the connection's thread pauses (`Request::pause`).
const WAITING: u8 = 3;
/// The least read timeout a pause sets (`set_read_timeout` refuses zero).
const MIN_PAUSE_WAIT: Duration = Duration::from_millis(1);

impl Tracked {
    /// Marks the connection idle; `false` if a stop closed it already.
    fn idle(&self) -> bool {
        match self
            .state
            .compare_exchange(BUSY, IDLE, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => true,
            Err(now) => now == IDLE,
        }
    }

    /// Claims the request that arrived; `false` if a stop closed the connection for reading
    /// first (the request is served all the same, from what had arrived).
    fn claim(&self) -> bool {
        self.state
            .compare_exchange(IDLE, BUSY, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// PATCH(airbyte-wrapper): closes the connection for reading if it is idle. That wakes its
    /// thread, whose read gives what the client has sent (on Linux, what has arrived stays
    /// readable after `shutdown(Read)`), then the end of the stream: a request the client sent
    /// just before is answered, with `Connection: close`, on the side still open for writing.
    /// Closing both sides here, as before, dropped such a request unanswered: a client that sent
    /// it on a kept-alive connection as the stop began (a proxy reusing a pooled connection) got
    /// a reset or an early close, and a proxy turns that into a 502 without retrying a `POST`.
    ///
    /// A connection whose handler pauses (`WAITING`) is closed for reading the same way, which
    /// ends a pause waiting in `peek` (it gives the end of the stream), and its thread is
    /// unparked, which ends a pause sleeping in `park_timeout`; the handler answers at once, with
    /// `Connection: close` (the server is draining by then).
    fn close_for_stop(&self) {
        let closed = self
            .state
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |state| {
                matches!(state, IDLE | WAITING).then_some(CLOSED)
            });
        if let Ok(was) = closed {
            let _ = self.socket.shutdown(Shutdown::Read);
            if was == WAITING {
                if let Some(thread) = self.thread.get() {
                    thread.unpark();
                }
            }
        }
    }

    /// Whether a stop has closed the connection for reading.
    fn closed_by_stop(&self) -> bool {
        self.state.load(Ordering::SeqCst) == CLOSED
    }

    /// PATCH(airbyte-wrapper): `Request::pause` for a request of this connection (see there).
    ///
    /// `BUSY` to `WAITING` and the draining flag are each written by one side and read by the
    /// other, all `SeqCst`: the stop sets the flag, then closes a `WAITING` connection; the pause
    /// marks it `WAITING`, then reads the flag. So a stop that begins as the pause does is seen by
    /// one of them at least: the flag by the pause, or `WAITING` by the stop, whose
    /// `shutdown(Read)` and unpark then end the wait whichever it is in (an unpark before the
    /// park makes the park return at once).
    pub(crate) fn pause(&self, timeout: Duration, draining: &AtomicBool) -> Paused {
        if draining.load(Ordering::SeqCst) {
            return Paused::Stopping;
        }
        // Only the connection's thread, while its handler runs, may pause on the connection: the
        // connection is then `BUSY` and read by nobody else. A request held past its handler, or
        // a request of another connection, sleeps unwatched.
        let own_thread = self
            .thread
            .get()
            .is_some_and(|t| t.id() == thread::current().id());
        if !own_thread {
            return pause_unwatched(timeout, draining);
        }
        match self
            .state
            .compare_exchange(BUSY, WAITING, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => {}
            // Only a stop closes, and it sets the flag first.
            Err(CLOSED) => return Paused::Stopping,
            Err(_) => return pause_unwatched(timeout, draining),
        }
        // `watch` reads the flag first (after `WAITING`), and after every wake-up.
        let paused = self.watch(Instant::now().checked_add(timeout), draining);
        match self
            .state
            .compare_exchange(WAITING, BUSY, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => paused,
            // A stop closed the connection for reading as the pause ended: the answer closes the
            // connection (the flag is set), and `serve_requests` reads no more from it as a
            // client's (`Wire::reading_closed`).
            Err(_) if paused == Paused::Elapsed => Paused::Stopping,
            Err(_) => paused,
        }
    }

    /// Waits until `deadline` (none: without end) in `peek`, which returns when the client sends
    /// a byte, closes or resets the connection, or a stop closes it for reading; the socket's read
    /// timeout is set to what is left and put back after. Looks at the draining flag before it
    /// waits at all and after every wake-up.
    fn watch(&self, deadline: Option<Instant>, draining: &AtomicBool) -> Paused {
        let Ok(read_timeout) = self.socket.read_timeout() else {
            return park_until(deadline, draining);
        };
        let mut byte = [0u8; 1];
        let mut timeout_set = false;
        let paused = loop {
            if draining.load(Ordering::SeqCst) {
                break Paused::Stopping;
            }
            let left = match deadline {
                None => None,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left.max(MIN_PAUSE_WAIT)),
                    _ => break Paused::Elapsed,
                },
            };
            if self.socket.set_read_timeout(left).is_err() {
                break park_until(deadline, draining);
            }
            timeout_set = true;
            match self.socket.peek(&mut byte) {
                // The client closed (or half-closed), or a stop closed the connection for reading.
                Ok(0) => break ended(draining),
                // The client has sent more (a pipelined request): `peek` would return at once
                // from now on, so sleep the rest; a stop unparks the thread.
                Ok(_) => break park_until(deadline, draining),
                // The timeout, or a signal: the loop looks at the time left.
                Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
                // A UNIX socket: it cannot be watched (`UnixStream::peek` is not stable).
                Err(e) if e.kind() == ErrorKind::Unsupported => {
                    break park_until(deadline, draining)
                }
                // Reset, or broken.
                Err(_) => break ended(draining),
            }
        };
        // What the connection's reader set, which it counts on (`Wire::timeout_set`).
        if timeout_set {
            let _ = self.socket.set_read_timeout(read_timeout);
        }
        paused
    }
}

/// PATCH(airbyte-wrapper): the connection ended under a pause: closed for reading by a stop, or by
/// the client.
fn ended(draining: &AtomicBool) -> Paused {
    match draining.load(Ordering::SeqCst) {
        true => Paused::Stopping,
        false => Paused::Gone,
    }
}

/// PATCH(airbyte-wrapper): sleeps until `deadline` (none: without end), or until the server stops
/// (a stop unparks the connection's thread after setting the flag; other wake-ups, spurious or
/// left over from an earlier unpark, only make it look again).
fn park_until(deadline: Option<Instant>, draining: &AtomicBool) -> Paused {
    loop {
        if draining.load(Ordering::SeqCst) {
            return Paused::Stopping;
        }
        match deadline {
            None => thread::park(),
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => thread::park_timeout(left),
                _ => return Paused::Elapsed,
            },
        }
    }
}

/// PATCH(airbyte-wrapper): `Request::pause` for a request with no connection to watch: sleeps the
/// whole `timeout`, and tells of a stop begun before or during it only at the end.
pub(crate) fn pause_unwatched(timeout: Duration, draining: &AtomicBool) -> Paused {
    if draining.load(Ordering::SeqCst) {
        return Paused::Stopping;
    }
    thread::sleep(timeout);
    match draining.load(Ordering::SeqCst) {
        true => Paused::Stopping,
        false => Paused::Elapsed,
    }
}

impl Connections {
    pub fn new(limits: ConnectionLimits, dispatch: Dispatch) -> Connections {
        Connections {
            limits,
            dispatch,
            draining: Arc::new(AtomicBool::new(false)),
            open: Mutex::new(HashMap::new()),
            open_changed: Condvar::new(),
            next_id: AtomicU64::new(0),
        }
    }

    pub fn count(&self) -> usize {
        lock(&self.open).len()
    }

    /// From now on every answer closes its connection; connections waiting for a next request
    /// are closed for reading now (a request that had arrived on one is still answered), and so
    /// are connections whose handler pauses (PATCH(airbyte-wrapper): the pause ends `Stopping`).
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        for tracked in lock(&self.open).values() {
            tracked.close_for_stop();
        }
    }

    /// Waits until no connection is open, or `timeout` has passed; whether none is.
    pub fn wait_closed(&self, timeout: Option<Duration>) -> bool {
        let open = lock(&self.open);
        let open = match timeout {
            Some(t) => {
                self.open_changed
                    .wait_timeout_while(open, t, |o| !o.is_empty())
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
            None => self
                .open_changed
                .wait_while(open, |o| !o.is_empty())
                .unwrap_or_else(|p| p.into_inner()),
        };
        open.is_empty()
    }

    /// Counts a connection as open (from when it is accepted) until the registration is dropped.
    pub fn register(self: &Arc<Self>, socket: Connection) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let tracked = Arc::new(Tracked {
            socket: Arc::new(socket),
            state: AtomicU8::new(BUSY),
            thread: OnceLock::new(),
        });
        lock(&self.open).insert(id, tracked.clone());
        Registration {
            connections: self.clone(),
            id,
            tracked,
        }
    }
}

/// A connection's place in the registry, for as long as it is served.
pub(crate) struct Registration {
    connections: Arc<Connections>,
    id: u64,
    tracked: Arc<Tracked>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.connections.open).remove(&self.id);
        self.connections.open_changed.notify_all();
    }
}

/// Serves one accepted connection until it closes.
pub(crate) fn serve(registration: Registration) {
    let connections = &*registration.connections;
    // PATCH(airbyte-wrapper): for a stop to wake a handler pausing on this thread.
    let _ = registration.tracked.thread.set(thread::current());
    let socket = registration.tracked.socket.clone();
    // A client that has already reset the connection has no address any more; it is served as
    // far as its bytes go (this was a panic: tiny_http unwrapped the address).
    let remote_addr = socket.peer_addr().ok().flatten();
    let limits = &connections.limits;
    let mut wire = Wire::new(&*socket, limits.read_timeout, limits.request_timeout);
    let mut writers = match connections.dispatch {
        Dispatch::Direct(_) => Writers::Direct(socket.clone()),
        Dispatch::Queue(_) => Writers::Queue(Box::new(Queued::new(socket.clone()))),
    };
    let outcome = serve_requests(
        &mut wire,
        &mut writers,
        connections,
        &registration,
        remote_addr,
    );
    if let Writers::Queue(queued) = &mut writers {
        queued.wait_answered(0);
    }
    if outcome == End::Close {
        let _ = socket.shutdown(Shutdown::Write);
        wire.linger();
    }
}

/// How a connection's requests ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// Answered; close gracefully.
    Close,
    /// The client left, timed out while idle, or the connection broke: nothing more to send.
    Gone,
}

fn serve_requests(
    wire: &mut Wire<&Connection>,
    writers: &mut Writers,
    connections: &Connections,
    registration: &Registration,
    remote_addr: Option<SocketAddr>,
) -> End {
    let limits = &connections.limits;
    let tracked = &registration.tracked;
    // Set by an answer that closes the connection.
    let closes = Arc::new(AtomicBool::new(false));
    loop {
        // Only a connection with nothing buffered is idle: a pipelined request is already claimed.
        if wire.is_empty() {
            if !tracked.idle() {
                return End::Gone;
            }
            if connections.draining.load(Ordering::SeqCst) {
                // PATCH(airbyte-wrapper): a stop began after the last answer was written, so that
                // answer kept the connection open, and the client may have sent its next request
                // already. Closed for reading, as the stop closes idle connections, the
                // connection still answers what has arrived; it used to close unread, and the
                // kernel reset it under that request.
                tracked.close_for_stop();
            }
            if !wire.await_request() {
                return End::Gone;
            }
            if !tracked.claim() {
                // PATCH(airbyte-wrapper): closed for reading by a stop after this request began to
                // arrive: it is served from what had arrived, and its answer closes.
                wire.reading_closed = true;
            }
        }
        let deadline = limits.request_timeout.map(|t| Instant::now() + t);
        let head = match wire.read_head(deadline) {
            Ok(head) => head,
            Err(Failure::Gone) => return End::Gone,
            Err(Failure::Refused(refusal)) => return refuse(writers, connections, refusal, None),
        };
        let max_body = limits.max_body_bytes as u64;
        if let BodyFraming::Length(n) = head.body {
            if n > max_body {
                return refuse(
                    writers,
                    connections,
                    framing::body_too_large(max_body),
                    Some(&head),
                );
            }
        }
        let exchange = Exchange {
            keep_alive: head.keep_alive,
            draining: connections.draining.clone(),
            closes: closes.clone(),
        };
        if head.expects_continue {
            if let Dispatch::Direct(handler) = &connections.dispatch {
                let probe = Request::from_head(
                    head.clone(),
                    Vec::new(),
                    remote_addr,
                    writers.next(),
                    exchange.clone(),
                );
                if let Some(answer) = handler.refuse_before_body(&probe) {
                    probe.respond_and_close(answer);
                    return End::Close;
                }
                probe.abandon();
            }
            writers.wait_answered(0);
            if writers.write_now(b"HTTP/1.1 100 Continue\r\n\r\n").is_err() {
                return End::Gone;
            }
        }
        let deadline = limits.request_timeout.map(|t| Instant::now() + t);
        let body = match wire.read_body(head.body, max_body, deadline) {
            Ok(body) => body,
            Err(Failure::Gone) => return End::Gone,
            Err(Failure::Refused(refusal)) => {
                return refuse(writers, connections, refusal, Some(&head))
            }
        };
        let keep_alive = head.keep_alive;
        let request = Request::from_head(head, body, remote_addr, writers.next(), exchange);
        match &connections.dispatch {
            Dispatch::Direct(handler) => {
                // PATCH(airbyte-wrapper): the handler may pause on this connection.
                let request = request.watching(registration.tracked.clone());
                // A panicking handler drops the request, which answers 500; the connection, whose
                // state is then unknown, is closed.
                let handled = panic::catch_unwind(AssertUnwindSafe(|| handler.handle(request)));
                if tracked.closed_by_stop() {
                    // PATCH(airbyte-wrapper): a stop closed the connection for reading while the
                    // handler paused. Its answer closed the connection (the server is draining),
                    // and the connection ends as after any closing answer; if it reads again
                    // (a handler that kept its request unanswered), the end of the stream is the
                    // stop's, not the client's.
                    wire.reading_closed = true;
                }
                if handled.is_err() || closes.load(Ordering::SeqCst) {
                    return End::Close;
                }
            }
            Dispatch::Queue(queue) => {
                writers.wait_answered(MAX_QUEUED_PER_CONNECTION - 1);
                let request = request.with_notify_sender(writers.notify());
                queue.push(Message::NewRequest(request));
                if !keep_alive {
                    return End::Close;
                }
            }
        }
        wire.request_done();
    }
}

/// Answers a refused request (the handler's answer, or an empty one for `recv()`), and closes.
fn refuse(
    writers: &mut Writers,
    connections: &Connections,
    mut refusal: Refusal,
    head: Option<&Head>,
) -> End {
    if let Some(head) = head {
        refusal.method = Some(head.method.clone());
        refusal.target = Some(head.target.clone());
    }
    let response = match &connections.dispatch {
        Dispatch::Direct(handler) => handler.refused(&refusal),
        Dispatch::Queue(_) => Response::empty(refusal.status).boxed(),
    };
    writers.wait_answered(0);
    let mut writer = writers.next();
    let written = response.raw_print(&mut writer, &HTTPVersion(1, 1), &[], false, false);
    let _ = written.and_then(|()| writer.flush());
    End::Close
}

/// The writers a connection's answers are written through.
enum Writers {
    /// Straight to the socket: one request is handled at a time.
    Direct(Arc<Connection>),
    /// Through writers that take turns, since queued requests may be answered out of order.
    Queue(Box<Queued>),
}

impl Writers {
    fn next(&mut self) -> Box<dyn Write + Send> {
        match self {
            Writers::Direct(socket) => Box::new(SocketWriter(socket.clone())),
            Writers::Queue(queued) => Box::new(queued.writers.next().expect("an endless iterator")),
        }
    }

    /// Writes bytes once every earlier answer has been written (a `100 Continue`).
    fn write_now(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut writer = self.next();
        writer.write_all(bytes)?;
        writer.flush()
    }

    /// A sender for a queued request to signal on once answered.
    fn notify(&mut self) -> Sender<()> {
        match self {
            Writers::Queue(queued) => {
                queued.outstanding += 1;
                queued.answered_tx.clone()
            }
            Writers::Direct(_) => unreachable!("only queued requests are waited for"),
        }
    }

    /// Waits until at most `most` queued requests are unanswered.
    fn wait_answered(&mut self, most: usize) {
        if let Writers::Queue(queued) = self {
            queued.wait_answered(most);
        }
    }
}

/// The connection's side of requests queued for `recv()`.
struct Queued {
    writers: SequentialWriterBuilder<SocketWriter>,
    outstanding: usize,
    answered_tx: Sender<()>,
    answered_rx: Receiver<()>,
}

impl Queued {
    fn new(socket: Arc<Connection>) -> Queued {
        let (answered_tx, answered_rx) = mpsc::channel();
        Queued {
            writers: SequentialWriterBuilder::new(SocketWriter(socket)),
            outstanding: 0,
            answered_tx,
            answered_rx,
        }
    }

    fn wait_answered(&mut self, most: usize) {
        while self.outstanding > most {
            // Each queued request signals once, when answered or dropped.
            if self.answered_rx.recv().is_err() {
                break;
            }
            self.outstanding -= 1;
        }
    }
}

/// Writes to the shared socket; every write of an answer goes out whole (see `Response`).
pub(crate) struct SocketWriter(Arc<Connection>);

impl Write for SocketWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Why a request could not be read.
pub(crate) enum Failure {
    /// Answer this and close.
    Refused(Refusal),
    /// Nothing to answer: the client closed or the connection broke.
    Gone,
}

impl From<Refusal> for Failure {
    fn from(refusal: Refusal) -> Failure {
        Failure::Refused(refusal)
    }
}

/// A socket whose read timeout can be changed (real sockets; byte slices in tests and fuzzing).
pub(crate) trait Socket: Read {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Socket for &Connection {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Connection::set_read_timeout(self, timeout)
    }
}

/// A connection's incoming bytes, buffered, read under deadlines.
pub(crate) struct Wire<S: Socket> {
    socket: S,
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// The socket's read timeout between requests, and the one set now.
    idle_timeout: Option<Duration>,
    timeout_set: Option<Duration>,
    /// How long a head, or a body, may take to arrive (for the 408's detail).
    request_timeout: Option<Duration>,
    /// PATCH(airbyte-wrapper): whether a stop has closed the socket for reading, so that the end
    /// of the stream means the rest of a request never came, not that the client broke off.
    reading_closed: bool,
}

impl<S: Socket> Wire<S> {
    pub fn new(
        socket: S,
        idle_timeout: Option<Duration>,
        request_timeout: Option<Duration>,
    ) -> Wire<S> {
        Wire {
            socket,
            buf: vec![0; BUFFER_BYTES],
            start: 0,
            end: 0,
            idle_timeout,
            timeout_set: idle_timeout,
            request_timeout,
            reading_closed: false,
        }
    }

    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The stream ended in the middle of a request (`nothing` read of it: the client just left).
    /// When a stop closed it for reading, the rest never came: the request goes unanswered, as
    /// one that had not arrived at all, rather than refused as cut off by the client.
    fn ended_early(&self, nothing: bool, part: &str) -> Failure {
        match self.reading_closed {
            true => Failure::Gone,
            false => ended_early(nothing, part),
        }
    }

    /// PATCH(airbyte-wrapper): the 408 for a `part` that did not arrive within `request_timeout`.
    /// Made only when it happens: built ahead of every body, its two `format!`s were 1% of a
    /// request's instructions.
    fn timed_out(request_timeout: Option<Duration>, part: &str) -> Failure {
        let within = match request_timeout {
            Some(t) => format!(" within {} s", t.as_secs_f64()),
            None => String::new(),
        };
        Failure::Refused(Refusal::new(
            408,
            format!(
                "the request {part} did not arrive{within}; send the whole request without pausing"
            ),
        ))
    }

    /// Waits for a next request's first byte (one may be buffered already): `false` when the
    /// client closed, the connection broke or stayed idle past the idle timeout.
    pub fn await_request(&mut self) -> bool {
        if !self.is_empty() {
            return true;
        }
        matches!(self.fill(None), Ok(n) if n > 0)
    }

    /// Reads a head; bytes after it stay buffered.
    pub fn read_head(&mut self, deadline: Option<Instant>) -> Result<Head, Failure> {
        let mut scanner = HeadScanner::new();
        loop {
            if let Some(length) = scanner.scan(&self.buf[self.start..self.end])? {
                let head = framing::parse_head(&self.buf[self.start..self.start + length])?;
                self.start += length;
                return Ok(head);
            }
            match self.fill(deadline) {
                Ok(0) => return Err(self.ended_early(self.is_empty(), "head")),
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {
                    return Err(Self::timed_out(self.request_timeout, "head"))
                }
                Err(_) => return Err(Failure::Gone),
            }
        }
    }

    /// Reads a body framed as `framing`, refusing one over `max` bytes.
    pub fn read_body(
        &mut self,
        framing: BodyFraming,
        max: u64,
        deadline: Option<Instant>,
    ) -> Result<Vec<u8>, Failure> {
        let (request_timeout, reading_closed) = (self.request_timeout, self.reading_closed);
        let ended = |e: io::Error| match e {
            e if is_timeout(&e) => Self::timed_out(request_timeout, "body"),
            e if e.kind() == ErrorKind::UnexpectedEof && !reading_closed => {
                ended_early(false, "body")
            }
            _ => Failure::Gone,
        };
        match framing {
            BodyFraming::None => Ok(Vec::new()),
            BodyFraming::Length(n) if n > max => Err(framing::body_too_large(max).into()),
            BodyFraming::Length(n) => self.read_exact_body(n as usize, deadline).map_err(ended),
            BodyFraming::Chunked => {
                let mut decoder = ChunkedDecoder::new(max);
                let mut body = Vec::new();
                loop {
                    let used = decoder.decode(&self.buf[self.start..self.end], &mut body)?;
                    self.start += used;
                    if decoder.is_done() {
                        return Ok(body);
                    }
                    match self.fill(deadline) {
                        Ok(0) => return Err(self.ended_early(false, "body")),
                        Ok(_) => {}
                        Err(e) => return Err(ended(e)),
                    }
                }
            }
        }
    }

    /// `length` bytes: what is buffered, then the rest read straight into the body.
    fn read_exact_body(&mut self, length: usize, deadline: Option<Instant>) -> io::Result<Vec<u8>> {
        let buffered = (self.end - self.start).min(length);
        let mut body = Vec::with_capacity(length.min(BODY_READ_BYTES).max(buffered));
        body.extend_from_slice(&self.buf[self.start..self.start + buffered]);
        self.start += buffered;
        while body.len() < length {
            let filled = body.len();
            body.resize(filled + (length - filled).min(BODY_READ_BYTES), 0);
            let n = self.read_until(deadline, |socket| socket.read(&mut body[filled..]));
            body.truncate(filled + *n.as_ref().unwrap_or(&0));
            if n? == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(body)
    }

    /// Reads more into the buffer; `Ok(0)` at the end of the stream.
    fn fill(&mut self, deadline: Option<Instant>) -> io::Result<usize> {
        if self.is_empty() {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < 2 * framing::MAX_HEAD_BYTES {
                self.buf.resize(self.buf.len() * 2, 0);
            } else {
                // Unreachable: heads, chunk lines and trailers are refused before this size.
                return Err(ErrorKind::InvalidData.into());
            }
        }
        let (buf, end) = (&mut self.buf, self.end);
        let socket = &mut self.socket;
        let n = read_with_deadline(
            socket,
            &mut self.timeout_set,
            self.idle_timeout,
            deadline,
            |s| s.read(&mut buf[end..]),
        )?;
        self.end += n;
        Ok(n)
    }

    fn read_until(
        &mut self,
        deadline: Option<Instant>,
        read: impl FnMut(&mut S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        read_with_deadline(
            &mut self.socket,
            &mut self.timeout_set,
            self.idle_timeout,
            deadline,
            read,
        )
    }

    /// Between requests: the idle timeout again, and the buffer back to its size after a large head.
    fn request_done(&mut self) {
        if self.timeout_set != self.idle_timeout
            && self.socket.set_read_timeout(self.idle_timeout).is_ok()
        {
            self.timeout_set = self.idle_timeout;
        }
        if self.buf.len() > BUFFER_BYTES && self.end - self.start <= BUFFER_BYTES {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            self.buf.truncate(BUFFER_BYTES);
            self.buf.shrink_to_fit();
        }
    }

    /// Reads and drops what the client still sends, for a bounded time, until it closes.
    fn linger(&mut self) {
        let deadline = Some(Instant::now() + LINGER_TIME);
        let mut dropped = 0;
        while dropped < LINGER_BYTES {
            let end = self.buf.len();
            let buf = &mut self.buf;
            match read_with_deadline(
                &mut self.socket,
                &mut self.timeout_set,
                self.idle_timeout,
                deadline,
                |s| s.read(&mut buf[..end]),
            ) {
                Ok(n) if n > 0 => dropped += n,
                _ => return,
            }
        }
    }
}

/// One read that ends by `deadline` at the latest: the socket's timeout is lowered to what is left
/// when that is less than the idle timeout (a system call only when it changes).
fn read_with_deadline<S: Socket>(
    socket: &mut S,
    timeout_set: &mut Option<Duration>,
    idle_timeout: Option<Duration>,
    deadline: Option<Instant>,
    mut read: impl FnMut(&mut S) -> io::Result<usize>,
) -> io::Result<usize> {
    loop {
        let wanted = match deadline {
            None => idle_timeout,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(ErrorKind::TimedOut.into());
                }
                Some(idle_timeout.map_or(steady(left), |idle| idle.min(steady(left))))
            }
        };
        if wanted != *timeout_set {
            socket.set_read_timeout(wanted)?;
            *timeout_set = wanted;
        }
        match read(socket) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// What is left of a deadline, rounded up to a whole 10 ms so that the socket's timeout does not
/// change on every read, and never zero (which `set_read_timeout` refuses: this rounding once
/// made a read with less than a millisecond left fail, and the connection close unanswered).
fn steady(left: Duration) -> Duration {
    let tens = left.as_micros().div_ceil(10_000).max(1);
    Duration::from_millis(u64::try_from(tens).unwrap_or(u64::MAX / 10) * 10)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock)
}

/// The client closed in the middle of a request (`nothing` read of it: it just left).
fn ended_early(nothing: bool, part: &str) -> Failure {
    if nothing {
        return Failure::Gone;
    }
    Failure::Refused(Refusal::new(
        400,
        format!("the connection ended in the middle of the request {part}"),
    ))
}

/// For tests and fuzzing: every request that `input`, arriving in pieces of the given sizes, holds,
/// read as a connection reads them, and the refusal that ends it if any.
#[doc(hidden)]
pub fn read_requests(
    input: &[u8],
    pieces: &[usize],
    max_body: u64,
) -> (Vec<(Head, Vec<u8>)>, Option<Refusal>) {
    let mut wire = Wire::new(Pieces::new(input, pieces), None, None);
    let mut requests = Vec::new();
    loop {
        if !wire.await_request() {
            return (requests, None);
        }
        let read = wire.read_head(None).and_then(|head| {
            wire.read_body(head.body, max_body, None)
                .map(|body| (head, body))
        });
        match read {
            Ok((head, body)) => {
                let keep_alive = head.keep_alive;
                requests.push((head, body));
                if !keep_alive {
                    return (requests, None);
                }
            }
            Err(Failure::Refused(refusal)) => return (requests, Some(refusal)),
            Err(Failure::Gone) => return (requests, None),
        }
    }
}

/// Bytes that arrive in pieces of given sizes (cycling), as a socket would deliver them.
struct Pieces<'a> {
    input: &'a [u8],
    pieces: &'a [usize],
    next: usize,
}

impl<'a> Pieces<'a> {
    fn new(input: &'a [u8], pieces: &'a [usize]) -> Pieces<'a> {
        Pieces {
            input,
            pieces,
            next: 0,
        }
    }
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let piece = match self.pieces {
            [] => usize::MAX,
            pieces => pieces[self.next % pieces.len()].max(1),
        };
        self.next += 1;
        let n = piece.min(buf.len()).min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

impl Socket for Pieces<'_> {
    fn set_read_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{read_requests, steady};
    use std::time::Duration;

    /// Found when a request body's deadline had less than a millisecond left: the timeout came
    /// out as zero, which the socket refuses, and the client got no 408.
    #[test]
    fn a_deadline_leaves_a_timeout_of_at_least_10_ms() {
        assert_eq!(
            steady(Duration::from_micros(300)),
            Duration::from_millis(10)
        );
        assert_eq!(steady(Duration::from_nanos(1)), Duration::from_millis(10));
        assert_eq!(steady(Duration::from_millis(10)), Duration::from_millis(10));
        assert_eq!(
            steady(Duration::from_micros(10_001)),
            Duration::from_millis(20)
        );
        assert_eq!(steady(Duration::from_secs(15)), Duration::from_secs(15));
    }

    #[test]
    fn pipelined_requests_are_read_in_order_however_they_arrive() {
        let input = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloPOST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\n\r\n";
        for pieces in [&[][..], &[1], &[3, 7], &[64]] {
            let (requests, refusal) = read_requests(input, pieces, 100);
            let seen: Vec<(String, Vec<u8>)> =
                requests.into_iter().map(|(h, b)| (h.target, b)).collect();
            assert_eq!(
                seen,
                [
                    ("/a".to_string(), vec![]),
                    ("/b".to_string(), b"hello".to_vec()),
                    ("/c".to_string(), b"abc".to_vec()),
                    ("/d".to_string(), vec![]),
                ],
                "{pieces:?}"
            );
            assert_eq!(refusal, None, "nothing is read after Connection: close");
        }
    }

    #[test]
    fn nothing_after_a_refusal_is_read() {
        let smuggled = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 49\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hidden HTTP/1.1\r\nHost: x\r\n\r\n";
        let (requests, refusal) = read_requests(smuggled, &[], 100);
        assert!(requests.is_empty());
        assert_eq!(refusal.unwrap().status.0, 400);

        let (requests, refusal) = read_requests(
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n",
            &[],
            100,
        );
        assert!(requests.is_empty());
        assert_eq!(refusal.unwrap().status.0, 413);

        let (_, refusal) = read_requests(
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
            &[],
            100,
        );
        assert_eq!(refusal.unwrap().status.0, 400, "the client left mid-body");
        let (requests, refusal) = read_requests(b"", &[], 100);
        assert!(
            requests.is_empty() && refusal.is_none(),
            "an idle client that leaves"
        );
    }
}

/// A stop that begins just as requests arrive on idle kept-alive connections: found by the
/// service's `make scale-test`, where nginx sent a request on a pooled connection as the stopping
/// replica closed it, and got no answer (a 502 to its client).
#[cfg(test)]
mod stopping {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::mpsc::{self, Receiver, Sender};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use crate::{ConnectionLimits, Handler, Request, Response, Server};

    const PATIENCE: Duration = Duration::from_secs(10);

    fn server(handler: impl Handler) -> (Server, String) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let limits = ConnectionLimits {
            read_timeout: Some(PATIENCE),
            write_timeout: Some(PATIENCE),
            max_connections: 1000,
            max_body_bytes: 1024,
            request_timeout: Some(PATIENCE),
        };
        let server = Server::with_handler(listener, limits, Arc::new(handler)).unwrap();
        (server, addr)
    }

    fn connect(addr: &str) -> TcpStream {
        let conn = TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(PATIENCE)).unwrap();
        conn
    }

    /// Sends a request in one write, as a proxy does: what a closed-for-reading socket gives is
    /// what had arrived, so a request written in pieces could be cut off at any of them.
    fn send(conn: &mut TcpStream, path: &str) {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        conn.write_all(request.as_bytes()).unwrap();
    }

    /// Reads one answer with `Content-Length: 2`, the only kind these handlers give.
    fn read_answer(conn: &mut TcpStream) -> String {
        let mut answer = Vec::new();
        let mut byte = [0u8];
        while !answer.ends_with(b"\r\n\r\n") {
            assert_eq!(conn.read(&mut byte).unwrap(), 1, "the answer was cut off");
            answer.push(byte[0]);
        }
        let mut body = [0u8; 2];
        conn.read_exact(&mut body).unwrap();
        answer.extend_from_slice(&body);
        String::from_utf8(answer).unwrap()
    }

    /// What the connection gives until it closes; a reset is told as such.
    fn rest(conn: &mut TcpStream) -> String {
        let mut rest = Vec::new();
        let ended = conn.read_to_end(&mut rest);
        let mut text = String::from_utf8_lossy(&rest).into_owned();
        if let Err(e) = ended {
            text += &format!(" (then {e})");
        }
        text
    }

    /// Answers "ok"; after answering `/first`, says so and waits to be told to return.
    struct Pausing {
        answered: Mutex<Sender<()>>,
        resume: Mutex<Receiver<()>>,
    }

    impl Handler for Pausing {
        fn handle(&self, request: Request) {
            let first = request.url() == "/first";
            let _ = request.respond(Response::from_string("ok"));
            if first {
                let _ = self.answered.lock().unwrap().send(());
                let _ = self.resume.lock().unwrap().recv_timeout(PATIENCE);
            }
        }
    }

    struct Ok;

    impl Handler for Ok {
        fn handle(&self, request: Request) {
            let _ = request.respond(Response::from_string("ok"));
        }
    }

    /// The answer to `/first` was written before the stop, so it kept the connection open, and
    /// the client sent `/second` on it at once: that request has arrived and is answered, and
    /// that answer closes the connection.
    #[test]
    fn a_request_sent_right_after_a_kept_alive_answer_is_answered_when_a_stop_begins() {
        let (answered_tx, answered) = mpsc::channel();
        let (resume, resume_rx) = mpsc::channel();
        let (server, addr) = server(Pausing {
            answered: Mutex::new(answered_tx),
            resume: Mutex::new(resume_rx),
        });
        let mut conn = connect(&addr);
        send(&mut conn, "/first");
        answered.recv_timeout(PATIENCE).unwrap();
        let first = read_answer(&mut conn);
        assert!(first.starts_with("HTTP/1.1 200"), "{first}");
        assert!(!first.contains("Connection: close"), "{first}");

        send(&mut conn, "/second");
        // The stop begins while the connection's thread is still in /first's handler.
        server.drain();
        resume.send(()).unwrap();

        let second = rest(&mut conn);
        assert!(
            second.starts_with("HTTP/1.1 200"),
            "/second is answered: {second:?}"
        );
        assert!(second.contains("Connection: close"), "{second}");
        // Closed by the client too, so that the server's lingering close ends at once.
        drop(conn);
        assert!(server.wait_closed(Some(PATIENCE)));
    }

    /// Many idle connections, a request on each, and a stop right after: whether a connection's
    /// thread had taken its request before the stop closed the connection or not, each request
    /// is answered, and each connection then closed.
    #[test]
    fn requests_that_arrived_on_idle_connections_as_a_stop_closes_them_are_answered() {
        let (server, addr) = server(Ok);
        let mut conns: Vec<TcpStream> = (0..50).map(|_| connect(&addr)).collect();
        for conn in &mut conns {
            send(conn, "/a");
            let answer = read_answer(conn);
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        }
        for conn in &mut conns {
            send(conn, "/b");
        }
        server.drain();

        for (i, mut conn) in conns.into_iter().enumerate() {
            let rest = rest(&mut conn);
            assert!(
                rest.starts_with("HTTP/1.1 200") && rest.matches("HTTP/1.1").count() == 1,
                "connection {i}: /b is answered once, then the connection closed: {rest:?}"
            );
        }
        assert!(server.wait_closed(Some(PATIENCE)));
    }
}
