//! How one Airbyte call goes: a [`Call`] (method, path, body, timeout) is sent with the current
//! credentials; on a 401 with renewable credentials the token is renewed once and the call sent
//! again; the answer is read and decoded; the outcome and latency are recorded. One flat path,
//! the same for every call.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

use super::credentials::{Credentials, TokenRequest};
use super::error::{invalid_in, message_in, Error};
use super::transport;
use super::wire::AccessToken;
use crate::config::Secret;
use crate::metrics::Metrics;

/// Largest Airbyte answer read, in bytes. Definition lists of large installs run to megabytes.
const MAX_ANSWER_BYTES: u64 = 64 << 20;

/// The two HTTP methods Airbyte's Config API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Post,
}

/// One Airbyte call, as a value: what is sent, and how long to wait for the answer.
pub(super) struct Call {
    pub method: Method,
    /// The path below `AIRBYTE_BASE_URL`, such as `sources/create`; also the metrics label.
    pub path: &'static str,
    /// The JSON body; `None` sends none (Airbyte's list calls take no body).
    pub body: Option<Vec<u8>>,
    pub timeout: Duration,
}

impl Call {
    /// `POST {path}` with a JSON body.
    pub fn post(path: &'static str, body: &impl Serialize, timeout: Duration) -> Call {
        let body = serde_json::to_vec(body).expect("request bodies always serialize");
        Call {
            method: Method::Post,
            path,
            body: Some(body),
            timeout,
        }
    }

    /// `POST {path}` without a body.
    pub fn post_empty(path: &'static str, timeout: Duration) -> Call {
        Call {
            method: Method::Post,
            path,
            body: None,
            timeout,
        }
    }

    /// `GET {path}`.
    pub fn get(path: &'static str, timeout: Duration) -> Call {
        Call {
            method: Method::Get,
            path,
            body: None,
            timeout,
        }
    }
}

/// What came back: a status and the body's bytes.
struct Received {
    status: u16,
    body: Vec<u8>,
}

/// Sends calls to one Airbyte and records them in the metrics.
pub(super) struct Exchange {
    pub agent: ureq::Agent,
    pub base_url: String,
    /// The agent's own timeout; calls with another one configure their request.
    pub timeout: Duration,
    pub credentials: Credentials,
    pub metrics: Arc<Metrics>,
}

impl Exchange {
    /// Makes `call` and reads its answer as `T`.
    pub fn run<T: DeserializeOwned>(&self, call: &Call) -> Result<T, Error> {
        self.observed(call.path, || {
            let received = self.authorized(call)?;
            decode(call.path, received)
        })
    }

    /// Sends with the current credentials; on a 401 with renewable credentials, renews once and
    /// sends again. Refused credentials are [`Error::CredentialsRefused`].
    fn authorized(&self, call: &Call) -> Result<Received, Error> {
        let header = self.credentials.header(None, |r| self.fetch_token(r))?;
        let mut received = self.send(call, header.as_ref())?;
        if received.status == 401 && self.credentials.renewable() {
            let header = self
                .credentials
                .header(header.as_ref(), |r| self.fetch_token(r))?;
            received = self.send(call, header.as_ref())?;
        }
        match received.status {
            status @ (401 | 403) => Err(Error::CredentialsRefused {
                call: call.path,
                status,
            }),
            _ => Ok(received),
        }
    }

    /// `POST /applications/token`: exchanges the client id and secret for an access token. A
    /// 4xx means the credentials themselves are refused.
    fn fetch_token(&self, request: TokenRequest<'_>) -> Result<String, Error> {
        let body =
            json!({ "client_id": request.client_id, "client_secret": request.client_secret });
        let call = Call::post("applications/token", &body, self.timeout);
        let token: AccessToken = self.observed(call.path, || {
            let received = self.send(&call, None)?;
            match received.status {
                status @ 400..=499 => Err(Error::CredentialsRefused {
                    call: call.path,
                    status,
                }),
                _ => decode(call.path, received),
            }
        })?;
        Ok(token.access_token)
    }

    /// Runs one call and records its outcome and latency in the metrics.
    fn observed<T>(
        &self,
        path: &'static str,
        run: impl FnOnce() -> Result<T, Error>,
    ) -> Result<T, Error> {
        let started = Instant::now();
        let result = run();
        self.metrics
            .observe_airbyte(path, Error::outcome(&result), started.elapsed());
        result
    }

    /// One HTTP exchange: the request sent, the answer's status and body read.
    fn send(&self, call: &Call, authorization: Option<&Secret>) -> Result<Received, Error> {
        let url = format!("{}/{}", self.base_url, call.path);
        // The agent's own timeout is the usual one; only discoveries and checks, whose jobs take
        // longer, pay for a configuration of their own.
        let custom = (call.timeout != self.timeout).then_some(call.timeout);
        let sent = match call.method {
            Method::Get => {
                let mut request = self.agent.get(url);
                if let Some(timeout) = custom {
                    request = request.config().timeout_global(Some(timeout)).build();
                }
                match authorization {
                    Some(value) => request.header("Authorization", value.expose()).call(),
                    None => request.call(),
                }
            }
            Method::Post => {
                let mut request = self.agent.post(url);
                if let Some(timeout) = custom {
                    request = request.config().timeout_global(Some(timeout)).build();
                }
                if let Some(value) = authorization {
                    request = request.header("Authorization", value.expose());
                }
                match &call.body {
                    Some(bytes) => request
                        .header("Content-Type", "application/json")
                        .send(bytes),
                    None => request.send_empty(),
                }
            }
        };
        let mut response = sent.map_err(|e| self.failure(call, e))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec();
        let body = match body {
            Ok(body) => body,
            // An error answer's body is only its explanation: without it, the status says enough.
            Err(_) if !(200..300).contains(&status) => Vec::new(),
            Err(e) => {
                return Err(match self.failure(call, e) {
                    timeout @ Error::Timeout { .. } => timeout,
                    other => Error::InvalidBody {
                        call: call.path,
                        reason: other.to_string(),
                    },
                })
            }
        };
        Ok(Received { status, body })
    }

    /// What a failed exchange means.
    fn failure(&self, call: &Call, err: ureq::Error) -> Error {
        use ureq::Error as U;
        let timeout = Error::Timeout {
            call: call.path,
            after: call.timeout,
        };
        let unreachable = |reason: String| Error::Unreachable {
            url: self.base_url.clone(),
            reason,
        };
        if let Some(problem) = transport::certificate_problem(&err) {
            return Error::CertificateRejected {
                url: self.base_url.clone(),
                problem,
            };
        }
        match err {
            U::Timeout(_) => timeout,
            U::Io(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                timeout
            }
            U::Io(e) if is_connect_failure(&e) => unreachable(e.to_string()),
            U::ConnectionFailed | U::HostNotFound | U::Tls(_) | U::Rustls(_) => {
                unreachable(err.to_string())
            }
            other => Error::InvalidBody {
                call: call.path,
                reason: other.to_string(),
            },
        }
    }
}

/// A 2xx answer's body as `T` (a 204 reads as `null`: fine for calls that expect nothing, an
/// error otherwise); anything else as [`Error::Status`], with Airbyte's explanation.
fn decode<T: DeserializeOwned>(call: &'static str, received: Received) -> Result<T, Error> {
    let Received { status, body } = received;
    if status == 422 {
        return Err(Error::Rejected {
            call,
            message: message_in(&body),
            invalid: invalid_in(&body),
        });
    }
    if !(200..300).contains(&status) {
        return Err(Error::Status {
            call,
            status,
            message: message_in(&body),
        });
    }
    let body: &[u8] = if status == 204 { b"null" } else { &body };
    serde_json::from_slice(body).map_err(|e| Error::InvalidBody {
        call,
        reason: e.to_string(),
    })
}

fn is_connect_failure(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::NotFound
    )
}
