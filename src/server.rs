//! The HTTP server: a fixed pool of worker threads over one tiny_http listener, each request
//! answered deliberately (a panicking handler fails only its own request) and logged once.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use log::{error, info, warn};
use tiny_http::{Header, Response};

use crate::error::ApiError;
use crate::http::{BodyLimits, Incoming, Reply};
use crate::metrics::Metrics;
use crate::routes;

/// What answers a request: the router in production.
pub type Handler = dyn Fn(&mut Incoming) -> Result<Reply, ApiError> + Send + Sync;

/// A fixed pool of workers over one listener.
pub struct Server {
    listener: Arc<tiny_http::Server>,
    workers: usize,
    limits: BodyLimits,
    metrics: Arc<Metrics>,
    draining: Arc<AtomicBool>,
}

/// Stops a [`Server`] gracefully from another thread.
#[derive(Clone)]
pub struct Stopper {
    listener: Arc<tiny_http::Server>,
    workers: usize,
    draining: Arc<AtomicBool>,
}

impl Stopper {
    /// Stops accepting connections; each worker finishes the request it has (and the ones already
    /// received), then stops. [`Server::serve`] returns when all have.
    pub fn stop(&self) {
        if self.draining.swap(true, Ordering::SeqCst) {
            return;
        }
        self.listener.stop_accepting();
        for _ in 0..self.workers {
            self.listener.unblock();
        }
    }
}

impl Server {
    pub fn new(
        listener: tiny_http::Server,
        workers: usize,
        limits: BodyLimits,
        metrics: Arc<Metrics>,
    ) -> Server {
        Server {
            listener: Arc::new(listener),
            workers,
            limits,
            metrics,
            draining: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn stopper(&self) -> Stopper {
        Stopper {
            listener: self.listener.clone(),
            workers: self.workers,
            draining: self.draining.clone(),
        }
    }

    /// Answers requests with `handler` on `workers` threads until stopped.
    pub fn serve(&self, handler: Arc<Handler>) {
        let handles: Vec<_> = (0..self.workers)
            .map(|n| {
                let worker = Worker {
                    handler: handler.clone(),
                    limits: self.limits,
                    metrics: self.metrics.clone(),
                    draining: self.draining.clone(),
                };
                let listener = self.listener.clone();
                thread::Builder::new()
                    .name(format!("worker-{n}"))
                    .spawn(move || {
                        for request in listener.incoming_requests() {
                            worker.handle(request);
                        }
                    })
                    .expect("the operating system refused to start a worker thread")
            })
            .collect();
        for handle in handles {
            if handle.join().is_err() {
                error!("a worker thread stopped unexpectedly");
            }
        }
    }
}

struct Worker {
    handler: Arc<Handler>,
    limits: BodyLimits,
    metrics: Arc<Metrics>,
    draining: Arc<AtomicBool>,
}

impl Worker {
    /// Answers one request, records it and writes its access-log line.
    fn handle(&self, mut request: tiny_http::Request) {
        let started = Instant::now();
        let _in_flight = self.metrics.start_request();
        let request_id = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("X-Request-Id"))
            .map(|h| h.value.as_str())
            .filter(|id| is_usable_request_id(id))
            .map(str::to_string)
            .unwrap_or_else(routes::new_request_id);

        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut incoming = Incoming::new(&mut request, self.limits);
            let result = (self.handler)(&mut incoming);
            (
                incoming.method().to_string(),
                incoming.path().to_string(),
                result,
            )
        }));
        let (method, path, result) = outcome.unwrap_or_else(|_| {
            error!("request {request_id} failed: its handler panicked");
            let path = request.url().split('?').next().unwrap_or("").to_string();
            (
                request.method().to_string(),
                path,
                Err(ApiError::internal()),
            )
        });

        let (status, content_type, body, extra) = match result {
            Ok(reply) => (reply.status, reply.content_type, reply.body, reply.headers),
            Err(problem) => {
                let body = problem.body(&request_id);
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
            .with_header(header("X-Request-Id", &request_id))
            .with_header(header("Cache-Control", "no-store"));
        if status != 204 {
            response.add_header(header("Content-Type", content_type));
        }
        for (name, value) in extra {
            response.add_header(header(name, &value));
        }
        if self.draining.load(Ordering::SeqCst) {
            response.add_header(header("Connection", "close"));
        }
        if let Err(e) = request.respond(response) {
            warn!("request {request_id}: the answer could not be sent: {e}");
        }
        let elapsed = started.elapsed();
        self.metrics
            .observe_request(routes::label(&path), status, elapsed);
        info!(
            target: "access",
            "{method} {} {status} {:.1}ms id={request_id}",
            path.escape_debug(),
            elapsed.as_secs_f64() * 1000.0
        );
    }
}

/// A client's request id is echoed and logged, so it must be short and printable.
fn is_usable_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes())
        .expect("header names and values are checked ASCII")
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

    #[test]
    fn a_panicking_handler_fails_only_its_own_request() {
        let listener = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = listener.server_addr().to_ip().unwrap().port();
        let handler: Arc<Handler> = Arc::new(|request: &mut Incoming| {
            if request.path() == "/boom" {
                panic!("a bug");
            }
            Ok(Reply::json(200, &"fine"))
        });
        let limits = BodyLimits {
            max_bytes: 1024,
            timeout: std::time::Duration::from_secs(5),
        };
        let server = Server::new(listener, 1, limits, Arc::new(Metrics::default()));
        let stopper = server.stopper();
        let serving = thread::spawn(move || server.serve(handler));

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
                "the only worker survived: {answer}"
            );
        }
        stopper.stop();
        serving.join().unwrap();
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "a stopped server accepts nothing"
        );
    }

    #[test]
    fn request_ids() {
        assert!(is_usable_request_id("abc-123"));
        assert!(!is_usable_request_id(""));
        assert!(!is_usable_request_id("a b"));
        assert!(!is_usable_request_id("a\nb"));
        assert!(!is_usable_request_id(&"x".repeat(129)));
    }
}
