use std::io::{self, Cursor, ErrorKind, Read, Write};

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use crate::client::{self, Tracked};
use crate::common::HeaderFields;
use crate::framing::Head;
use crate::{HTTPVersion, Header, Method, Response};

/// Represents an HTTP request made by a client.
///
/// PATCH(airbyte-wrapper): a request reaches its handler whole: its body has been read (within
/// the server's size and time limits) before the handler sees it, so reading it never waits for
/// the client. Pipelined requests are answered in the order they arrived.
///
/// # Automatic cleanup
///
/// If a `Request` object is destroyed without `respond` being called, an empty response with a
/// 500 status code (internal server error) will automatically be sent back to the client. This
/// means that if your code fails during the handling of a request, this "internal server error"
/// response will automatically be sent during the stack unwinding.
///
/// # Testing
///
/// If you want to build fake requests to test your server, use [`TestRequest`](crate::test::TestRequest).
pub struct Request {
    body: Cursor<Vec<u8>>,

    // if this writer is empty, then the request has been answered
    response_writer: Option<Box<dyn Write + Send + 'static>>,

    remote_addr: Option<SocketAddr>,

    method: Method,

    path: String,

    http_version: HTTPVersion,

    /// PATCH(airbyte-wrapper): in one buffer; `Header`s made only when asked for.
    headers: HeaderFields,

    exchange: Exchange,

    // If Some, a message must be sent after responding
    notify_when_responded: Option<Sender<()>>,

    /// PATCH(airbyte-wrapper): the connection a handler on its thread watches while it pauses;
    /// `None` for requests queued for `recv()` and made up (`TestRequest`).
    watch: Option<Arc<Tracked>>,
}

/// PATCH(airbyte-wrapper): how a [`Request::pause`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paused {
    /// The whole timeout passed.
    Elapsed,
    /// The client closed or reset its connection: nobody will read the answer. (A client that
    /// only shut down its sending side, a half-close, cannot be told from one that closed
    /// without writing to it, so it counts as gone too.)
    Gone,
    /// The server began to stop (`drain`): answer now; the answer closes the connection.
    Stopping,
}

/// PATCH(airbyte-wrapper): what decides whether the answer keeps the connection open.
#[derive(Clone)]
pub(crate) struct Exchange {
    /// The client keeps the connection open after this request.
    pub keep_alive: bool,
    /// The server is stopping: every answer closes its connection.
    pub draining: Arc<AtomicBool>,
    /// Set when the answer said the connection closes, for the connection to do so.
    pub closes: Arc<AtomicBool>,
}

impl Exchange {
    /// An exchange on a connection that closes after it (for requests not read from a socket).
    pub fn closing() -> Exchange {
        Exchange {
            keep_alive: false,
            draining: Arc::new(AtomicBool::new(false)),
            closes: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Request {
    /// A request whose head has been read, and its body.
    pub(crate) fn from_head(
        head: Head,
        body: Vec<u8>,
        remote_addr: Option<SocketAddr>,
        writer: Box<dyn Write + Send + 'static>,
        exchange: Exchange,
    ) -> Request {
        Request {
            body: Cursor::new(body),
            response_writer: Some(writer),
            remote_addr,
            method: head.method,
            path: head.target,
            http_version: head.version,
            headers: head.headers,
            exchange,
            notify_when_responded: None,
            watch: None,
        }
    }

    /// A request made up whole (`TestRequest`).
    pub(crate) fn from_parts(
        method: Method,
        path: String,
        http_version: HTTPVersion,
        headers: HeaderFields,
        remote_addr: Option<SocketAddr>,
        body: Vec<u8>,
        writer: Box<dyn Write + Send + 'static>,
    ) -> Request {
        Request {
            body: Cursor::new(body),
            response_writer: Some(writer),
            remote_addr,
            method,
            path,
            http_version,
            headers,
            exchange: Exchange::closing(),
            notify_when_responded: None,
            watch: None,
        }
    }

    /// PATCH(airbyte-wrapper): a request handled on its connection's thread, which may pause there.
    pub(crate) fn watching(mut self, connection: Arc<Tracked>) -> Request {
        self.watch = Some(connection);
        self
    }

    /// Always `false`: this copy of tiny_http serves plain HTTP (TLS ends in front of it).
    #[inline]
    pub fn secure(&self) -> bool {
        false
    }

    /// Returns the method requested by the client (eg. `GET`, `POST`, etc.).
    #[inline]
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// Returns the resource requested by the client, as a path (a target sent in absolute form,
    /// `http://host/path`, is given as its path).
    #[inline]
    pub fn url(&self) -> &str {
        &self.path
    }

    /// Returns a list of all headers sent by the client.
    ///
    /// PATCH(airbyte-wrapper): the `Header`s are made the first time this is called; to look up a
    /// field, [`Request::header`] costs less.
    #[inline]
    pub fn headers(&self) -> &[Header] {
        self.headers.as_headers()
    }

    /// PATCH(airbyte-wrapper): the value of the first header field called `name` (in any case),
    /// without making a `Header` of every field.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Returns the HTTP version of the request.
    #[inline]
    pub fn http_version(&self) -> &HTTPVersion {
        &self.http_version
    }

    /// Returns the length of the body in bytes.
    #[inline]
    pub fn body_length(&self) -> Option<usize> {
        Some(self.body.get_ref().len())
    }

    /// PATCH(airbyte-wrapper): the body, already read whole.
    #[inline]
    pub fn body(&self) -> &[u8] {
        self.body.get_ref()
    }

    /// Returns the address of the client that sent this request.
    ///
    /// The address is `Some` for TCP listeners (unless the client had already gone when the
    /// connection was served), always `None` for UNIX listeners.
    ///
    /// Note that this is gathered from the socket. If you receive the request from a proxy,
    /// this function will return the address of the proxy and not the address of the actual
    /// user.
    #[inline]
    pub fn remote_addr(&self) -> Option<&SocketAddr> {
        self.remote_addr.as_ref()
    }

    /// PATCH(airbyte-wrapper): sleeps up to `timeout`, waking early when the client goes or the
    /// server stops; for a handler that waits between calls to something slow (polling a long
    /// job) and must neither answer a client that has left nor hold up a graceful stop.
    ///
    /// A request given to a [`Handler`](crate::Handler) (`Server::with_handler`) and paused on
    /// its connection's thread while the handler runs watches its connection: the pause ends
    /// [`Paused::Gone`] as soon as the client closes (or half-closes) or resets the connection,
    /// and [`Paused::Stopping`] as soon as the server begins to stop (`Server::drain`), or at
    /// once if it has begun; else [`Paused::Elapsed`] after `timeout`. Once the client has sent
    /// more bytes than the request (pipelining its next request) the pause can no longer see the
    /// client leave, and waits for the timeout or a stop only. A timeout too large to represent
    /// as an instant waits for the client or a stop without end.
    ///
    /// Every other request (queued for `recv()`, where another thread may be reading the
    /// connection; made up with [`TestRequest`](crate::test::TestRequest); shown to
    /// `Handler::refuse_before_body`; paused on a thread other than its connection's)
    /// has no connection to watch: it sleeps the whole `timeout` with `std::thread::sleep`, and
    /// returns [`Paused::Stopping`] if the server is stopping when the pause begins or ends,
    /// [`Paused::Elapsed`] otherwise.
    ///
    /// A UNIX-socket connection cannot be watched for the client (`UnixStream::peek` is not
    /// stable): its pause ends on the timeout or a stop only.
    pub fn pause(&self, timeout: Duration) -> Paused {
        match &self.watch {
            Some(connection) => connection.pause(timeout, &self.exchange.draining),
            None => client::pause_unwatched(timeout, &self.exchange.draining),
        }
    }

    /// Allows to read the body of the request.
    #[inline]
    pub fn as_reader(&mut self) -> &mut dyn Read {
        &mut self.body
    }

    /// Sends a response to this request.
    #[inline]
    pub fn respond<R>(mut self, response: Response<R>) -> Result<(), io::Error>
    where
        R: Read,
    {
        self.respond_in_place(response)
    }

    /// PATCH(airbyte-wrapper): [`Request::respond`], keeping the request, so that what it says
    /// (its method and path, for a log line written after the answer) is read after it has been
    /// answered without copying it first. A request is answered once: a second answer is not
    /// written.
    pub fn respond_in_place<R>(&mut self, response: Response<R>) -> Result<(), io::Error>
    where
        R: Read,
    {
        let keep_alive = self.exchange.keep_alive && !self.exchange.draining.load(Ordering::SeqCst);
        self.answer(response, keep_alive)
    }

    /// Answers and closes the connection after the answer (a request refused before its body).
    pub(crate) fn respond_and_close<R: Read>(mut self, response: Response<R>) {
        let _ = self.answer(response, false);
    }

    /// Drops a request that will not be answered (its connection answers something else).
    pub(crate) fn abandon(mut self) {
        self.response_writer = None;
    }

    fn answer<R: Read>(&mut self, response: Response<R>, keep_alive: bool) -> io::Result<()> {
        let res = self.respond_impl(response, keep_alive);
        if let Some(sender) = self.notify_when_responded.take() {
            let _ = sender.send(());
        }
        res
    }

    fn respond_impl<R>(&mut self, response: Response<R>, keep_alive: bool) -> Result<(), io::Error>
    where
        R: Read,
    {
        let Some(mut writer) = self.response_writer.take() else {
            return Ok(());
        };
        self.exchange.closes.store(!keep_alive, Ordering::SeqCst);
        let do_not_send_body = self.method == Method::Head;

        // The request's headers matter to the answer only for a `TE` (see `raw_print`): they are
        // made `Header`s only then.
        let request_headers = match self.headers.get("TE") {
            Some(_) => self.headers.as_headers(),
            None => &[],
        };
        Self::ignore_client_closing_errors(response.raw_print(
            writer.by_ref(),
            &self.http_version,
            request_headers,
            do_not_send_body,
            keep_alive,
        ))?;

        Self::ignore_client_closing_errors(writer.flush())
    }

    fn ignore_client_closing_errors(result: io::Result<()>) -> io::Result<()> {
        result.or_else(|err| match err.kind() {
            ErrorKind::BrokenPipe => Ok(()),
            ErrorKind::ConnectionAborted => Ok(()),
            ErrorKind::ConnectionRefused => Ok(()),
            ErrorKind::ConnectionReset => Ok(()),
            _ => Err(err),
        })
    }

    pub(crate) fn with_notify_sender(mut self, sender: Sender<()>) -> Self {
        self.notify_when_responded = Some(sender);
        self
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> Result<(), fmt::Error> {
        write!(
            formatter,
            "Request({} {} from {:?})",
            self.method, self.path, self.remote_addr
        )
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        if self.response_writer.is_some() {
            let _ = self.answer(Response::empty(500), false); // ignoring any potential error
        } else if let Some(sender) = self.notify_when_responded.take() {
            let _ = sender.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Request;

    #[test]
    fn must_be_send() {
        #![allow(dead_code)]
        fn f<T: Send>(_: &T) {}
        fn bar(rq: &Request) {
            f(rq);
        }
    }
}
