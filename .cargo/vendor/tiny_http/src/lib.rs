//! # Simple usage
//!
//! ## Creating the server
//!
//! The easiest way to create a server is to call `Server::http()`.
//!
//! The `http()` function returns an `IoResult<Server>` which will return an error
//! in the case where the server creation fails (for example if the listening port is already
//! occupied).
//!
//! ```no_run
//! let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
//! ```
//!
//! A newly-created `Server` will immediately start listening for incoming connections and HTTP
//! requests.
//!
//! ## Receiving requests
//!
//! Calling `server.recv()` will block until the next request is available.
//! This function returns an `IoResult<Request>`, so you need to handle the possible errors.
//!
//! ```no_run
//! # let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
//!
//! loop {
//!     // blocks until the next request is received
//!     let request = match server.recv() {
//!         Ok(rq) => rq,
//!         Err(e) => { println!("error: {}", e); break }
//!     };
//!
//!     // do something with the request
//!     // ...
//! }
//! ```
//!
//! In a real-case scenario, you will probably want to spawn multiple worker tasks and call
//! `server.recv()` on all of them. Like this:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use std::thread;
//! # let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
//! let server = Arc::new(server);
//! let mut guards = Vec::with_capacity(4);
//!
//! for _ in (0 .. 4) {
//!     let server = server.clone();
//!
//!     let guard = thread::spawn(move || {
//!         loop {
//!             let rq = server.recv().unwrap();
//!
//!             // ...
//!         }
//!     });
//!
//!     guards.push(guard);
//! }
//! ```
//!
//! If you don't want to block, you can call `server.try_recv()` instead.
//!
//! ## Answering on the connection's thread (PATCH(airbyte-wrapper))
//!
//! `Server::with_handler` hands each complete request to a [`Handler`] on the thread that read it
//! instead of a queue: no hand-off between threads, and a client that stalls holds only its own
//! connection's thread. Bound how many requests are handled at once in the handler. A handler
//! that waits for something slow between calls sleeps with [`Request::pause`], which ends early
//! when its client leaves or the server begins to stop ([`Paused`]).
//!
//! ## Handling requests
//!
//! The `Request` object returned by `server.recv()` contains informations about the client's request.
//! The most useful methods are probably `request.method()` and `request.url()` which return
//! the requested method (`GET`, `POST`, etc.) and url.
//!
//! To handle a request, you need to create a `Response` object. See the docs of this object for
//! more infos. Here is an example of creating a `Response` from a file:
//!
//! ```no_run
//! # use std::fs::File;
//! # use std::path::Path;
//! let response = tiny_http::Response::from_file(File::open(&Path::new("image.png")).unwrap());
//! ```
//!
//! All that remains to do is call `request.respond()`:
//!
//! ```no_run
//! # use std::fs::File;
//! # use std::path::Path;
//! # let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
//! # let request = server.recv().unwrap();
//! # let response = tiny_http::Response::from_file(File::open(&Path::new("image.png")).unwrap());
//! let _ = request.respond(response);
//! ```
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![allow(clippy::match_like_matches_macro)]

use std::error::Error;
use std::io::Error as IoError;
use std::io::ErrorKind as IoErrorKind;
use std::io::Result as IoResult;
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use client::{Connections, Dispatch};
use connection::Connection;
use util::MessagesQueue;

pub use common::{HTTPVersion, Header, HeaderField, Method, StatusCode};
pub use connection::{ConfigListenAddr, ListenAddr, Listener};
pub use framing::Refusal;
pub use request::{Paused, Request};
pub use response::{InvalidHeader, Response, ResponseBox};
pub use test::TestRequest;

mod client;
mod common;
mod connection;
mod framing;
mod request;
mod response;
mod test;
mod util;

/// PATCH(airbyte-wrapper): the request reader and the framing rules, for fuzzing and tests.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::client::read_requests;
    pub use crate::framing::{
        parse_head, BodyFraming, ChunkedDecoder, Head, HeadScanner, MAX_HEADERS, MAX_HEAD_BYTES,
        MAX_LINE_BYTES,
    };
}

/// The main class of this library.
///
/// Destroying this object will immediately close the listening socket. Requests that have
/// already been received are still answered.
pub struct Server {
    // should be false as long as the server exists
    // when set to true, the accept thread stops
    close: Arc<AtomicBool>,

    // queue for messages received by child threads
    messages: Arc<MessagesQueue<Message>>,

    // every open connection
    connections: Arc<Connections>,

    // the accept thread, joined once it stops, so that the listening socket is closed by then
    acceptor: std::sync::Mutex<Option<thread::JoinHandle<()>>>,

    // result of TcpListener::local_addr()
    listening_addr: ListenAddr,
}

// A message is moved once, through the queue to `recv()`: boxing the request would cost an
// allocation each, for a few hundred bytes not copied.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Message {
    Error(IoError),
    NewRequest(Request),
}

impl From<IoError> for Message {
    fn from(e: IoError) -> Message {
        Message::Error(e)
    }
}

impl From<Request> for Message {
    fn from(rq: Request) -> Message {
        Message::NewRequest(rq)
    }
}

// this trait is to make sure that Server implements Share and Send
#[doc(hidden)]
trait MustBeShareDummy: Sync + Send {}
#[doc(hidden)]
impl MustBeShareDummy for Server {}

pub struct IncomingRequests<'a> {
    server: &'a Server,
}

/// Represents the parameters required to create a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The addresses to try to listen to.
    pub addr: ConfigListenAddr,
}

/// PATCH(airbyte-wrapper): limits on client connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Timeout of each read from a client socket; an idle keep-alive connection is closed after it.
    pub read_timeout: Option<Duration>,
    /// Timeout of each write to a client socket.
    pub write_timeout: Option<Duration>,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Largest request body read; a larger one is answered 413.
    pub max_body_bytes: usize,
    /// How long a request's head, and then its body, may take to arrive once begun (408 after).
    pub request_timeout: Option<Duration>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            read_timeout: None,
            write_timeout: None,
            max_connections: usize::MAX,
            max_body_bytes: usize::MAX,
            request_timeout: None,
        }
    }
}

/// PATCH(airbyte-wrapper): answers requests on the threads that read them (`Server::with_handler`).
pub trait Handler: Send + Sync + 'static {
    /// Answers a complete request, its body read, on its connection's thread.
    fn handle(&self, request: Request);

    /// For a request that waits for `100 Continue` before sending its body: a final answer that
    /// refuses it now (its connection is closed after), or `None` to let the body come.
    fn refuse_before_body(&self, request: &Request) -> Option<ResponseBox> {
        let _ = request;
        None
    }

    /// The answer to a request refused for its framing, before any handler saw it; its
    /// connection is closed after it.
    fn refused(&self, refusal: &Refusal) -> ResponseBox {
        Response::empty(refusal.status).boxed()
    }
}

/// Answers a connection over the limit and closes it.
fn refuse(sock: Connection) {
    use std::io::Write;
    let _ = (&sock).write_all(
        b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\nRetry-After: 1\r\n\r\n",
    );
    let _ = sock.shutdown(Shutdown::Both);
}

impl Server {
    /// Shortcut for a simple server on a specific address.
    #[inline]
    pub fn http<A>(addr: A) -> Result<Server, Box<dyn Error + Send + Sync + 'static>>
    where
        A: ToSocketAddrs,
    {
        Server::new(ServerConfig {
            addr: ConfigListenAddr::from_socket_addrs(addr)?,
        })
    }

    #[cfg(unix)]
    #[inline]
    /// Shortcut for a UNIX socket server at a specific path
    pub fn http_unix(
        path: &std::path::Path,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        Server::new(ServerConfig {
            addr: ConfigListenAddr::unix_from_path(path),
        })
    }

    /// Builds a new server that listens on the specified address.
    pub fn new(config: ServerConfig) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        let listener = config.addr.bind()?;
        Self::from_listener(listener)
    }

    /// Builds a new server using the specified TCP listener.
    ///
    /// This is useful if you've constructed TcpListener using some less usual method
    /// such as from systemd. For other cases, you probably want the `new()` function.
    pub fn from_listener<L: Into<Listener>>(
        listener: L,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        Self::from_listener_with_limits(listener, ConnectionLimits::default())
    }

    /// PATCH(airbyte-wrapper): builds a server whose client sockets get read and write timeouts
    /// and of which at most `limits.max_connections` are served at once (more are answered 503
    /// and closed); requests are taken with `recv()`.
    pub fn from_listener_with_limits<L: Into<Listener>>(
        listener: L,
        limits: ConnectionLimits,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        let messages = MessagesQueue::with_capacity(8);
        Self::build(
            listener.into(),
            limits,
            messages.clone(),
            Dispatch::Queue(messages),
        )
    }

    /// PATCH(airbyte-wrapper): builds a server that answers each complete request with
    /// `handler`, on the thread of the connection that brought it (`recv()` gets nothing).
    pub fn with_handler<L: Into<Listener>>(
        listener: L,
        limits: ConnectionLimits,
        handler: Arc<dyn Handler>,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        let messages = MessagesQueue::with_capacity(0);
        Self::build(listener.into(), limits, messages, Dispatch::Direct(handler))
    }

    fn build(
        listener: Listener,
        limits: ConnectionLimits,
        messages: Arc<MessagesQueue<Message>>,
        dispatch: Dispatch,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        let close_trigger = Arc::new(AtomicBool::new(false));
        let local_addr = listener.local_addr()?;
        log::debug!("Server listening on {}", local_addr);
        let connections = Arc::new(Connections::new(limits, dispatch));

        let inside_close_trigger = close_trigger.clone();
        let inside_connections = connections.clone();
        let acceptor = thread::Builder::new()
            .name("accept".into())
            .spawn(move || accept(&listener, &inside_close_trigger, &inside_connections))?;

        Ok(Server {
            messages,
            close: close_trigger,
            connections,
            acceptor: std::sync::Mutex::new(Some(acceptor)),
            listening_addr: local_addr,
        })
    }

    /// Returns an iterator for all the incoming requests.
    ///
    /// The iterator will return `None` if the server socket is shutdown.
    #[inline]
    pub fn incoming_requests(&self) -> IncomingRequests<'_> {
        IncomingRequests { server: self }
    }

    /// Returns the address the server is listening to.
    #[inline]
    pub fn server_addr(&self) -> ListenAddr {
        self.listening_addr.clone()
    }

    /// Returns the number of clients currently connected to the server.
    pub fn num_connections(&self) -> usize {
        self.connections.count()
    }

    /// Blocks until an HTTP request has been submitted and returns it.
    pub fn recv(&self) -> IoResult<Request> {
        match self.messages.pop() {
            Some(Message::Error(err)) => Err(err),
            Some(Message::NewRequest(rq)) => Ok(rq),
            None => Err(IoError::other("thread unblocked")),
        }
    }

    /// Same as `recv()` but doesn't block longer than timeout
    pub fn recv_timeout(&self, timeout: Duration) -> IoResult<Option<Request>> {
        match self.messages.pop_timeout(timeout) {
            Some(Message::Error(err)) => Err(err),
            Some(Message::NewRequest(rq)) => Ok(Some(rq)),
            None => Ok(None),
        }
    }

    /// Same as `recv()` but doesn't block.
    pub fn try_recv(&self) -> IoResult<Option<Request>> {
        match self.messages.try_pop() {
            Some(Message::Error(err)) => Err(err),
            Some(Message::NewRequest(rq)) => Ok(Some(rq)),
            None => Ok(None),
        }
    }

    /// PATCH(airbyte-wrapper): stops accepting connections (the listening socket is closed when
    /// it returns) while requests already received can still be taken with `recv()`; for a
    /// graceful shutdown.
    pub fn stop_accepting(&self) {
        if !self.close.swap(true, Relaxed) {
            self.wake_acceptor();
        }
        let acceptor = self
            .acceptor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(acceptor) = acceptor {
            let _ = acceptor.join();
        }
    }

    fn wake_acceptor(&self) {
        // Connect briefly to ourselves to unblock the accept thread
        let maybe_stream = match &self.listening_addr {
            ListenAddr::IP(addr) => TcpStream::connect(addr).map(Connection::from),
            #[cfg(unix)]
            ListenAddr::Unix(addr) => match addr.as_pathname() {
                Some(path) => std::os::unix::net::UnixStream::connect(path).map(Connection::from),
                None => return,
            },
        };
        if let Ok(stream) = maybe_stream {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// PATCH(airbyte-wrapper): a graceful stop: accepts no more connections, closes the ones that
    /// wait for a next request, and makes every answer from now on close its connection. Requests
    /// being read or handled finish, and so does a request that has already arrived on a
    /// connection being closed (on Linux: such a connection is closed for reading, and what had
    /// arrived is still read); `wait_closed` waits for them. PATCH(airbyte-wrapper): a handler
    /// pausing in [`Request::pause`] wakes at once, with [`Paused::Stopping`].
    pub fn drain(&self) {
        self.stop_accepting();
        self.connections.drain();
    }

    /// PATCH(airbyte-wrapper): waits until no connection is open (at most `timeout`); whether
    /// none is.
    pub fn wait_closed(&self, timeout: Option<Duration>) -> bool {
        self.connections.wait_closed(timeout)
    }

    /// Unblock thread stuck in recv() or incoming_requests().
    /// If there are several such threads, only one is unblocked.
    /// This method allows graceful shutdown of server.
    pub fn unblock(&self) {
        self.messages.unblock();
    }
}

/// The accept loop: sockets get their timeouts, connections over the limit a 503, the others a
/// thread of the pool.
fn accept(listener: &Listener, close: &AtomicBool, connections: &Arc<Connections>) {
    // a tasks pool is used to dispatch the connections into threads
    let tasks_pool = util::TaskPool::new();
    let limits = connections.limits;
    log::debug!("Running accept thread");
    while !close.load(Relaxed) {
        match listener.accept() {
            Ok((sock, _)) => {
                if close.load(Relaxed) {
                    break;
                }
                let _ = sock.set_read_timeout(limits.read_timeout);
                let _ = sock.set_write_timeout(limits.write_timeout);
                if let Connection::Tcp(ref tcp) = sock {
                    let _ = tcp.set_nodelay(true);
                }
                if connections.count() >= limits.max_connections {
                    refuse(sock);
                    continue;
                }
                let mut registration = Some(connections.register(sock));
                tasks_pool.spawn(Box::new(move || {
                    if let Some(registration) = registration.take() {
                        client::serve(registration);
                    }
                }));
            }
            // PATCH(airbyte-wrapper): the original stopped accepting for good on any accept
            // error, such as running out of file descriptors for a moment.
            Err(e) => {
                if close.load(Relaxed) {
                    break;
                }
                log::warn!("Error accepting new client: {}", e);
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
    log::debug!("Terminating accept thread");
}

impl Iterator for IncomingRequests<'_> {
    type Item = Request;
    fn next(&mut self) -> Option<Request> {
        self.server.recv().ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_accepting();
        #[cfg(unix)]
        if let ListenAddr::Unix(addr) = &self.listening_addr {
            if let Some(path) = addr.as_pathname() {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}
