//! How one Airbyte call goes: a [`Call`] (method, path, body, timeout) is sent with the current
//! credentials; on a 401 with renewable credentials the token is renewed once and the call sent
//! again; the answer is read and decoded; the outcome and latency are recorded. One flat path,
//! the same for every call.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use ureq::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use ureq::http::uri::PathAndQuery;
use ureq::http::{HeaderValue, Uri};

use super::credentials::{Credentials, TokenRequest};
use super::error::{invalid_in, message_in, Error};
use super::transport::{self, Addresses};
use crate::config::Secret;
use crate::json;
use crate::metrics::Metrics;

/// Largest Airbyte answer read, in bytes. Definition lists of large installs run to megabytes.
const MAX_ANSWER_BYTES: u64 = 64 << 20;

/// The most room made for an answer before its bytes arrive.
const PRESIZE_AT_MOST: u64 = 1 << 20;

/// The HTTP methods Airbyte's APIs use: the Config API `POST` (and `GET /health`), the public
/// API all five.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

/// One Airbyte call, as a value: what is sent, and how long to wait for the answer.
pub(super) struct Call {
    pub method: Method,
    /// What the call is, the same for every id: `sources/create`, `GET /sources/{sourceId}`. The
    /// metrics label, and the name failures give it.
    pub label: &'static str,
    /// The path below the base URL, ids and query included (the label itself for the Config API,
    /// whose paths have no ids: no allocation).
    pub path: Cow<'static, str>,
    /// The JSON body; `None` sends none (Airbyte's list calls take no body).
    pub body: Option<Vec<u8>>,
    pub timeout: Duration,
}

impl Call {
    /// A call whose path is its label: the Config API's `POST {path}` with a JSON body.
    pub fn post(path: &'static str, body: &impl Serialize, timeout: Duration) -> Call {
        Call::new(Method::Post, path, path, timeout).with_body(body)
    }

    /// `POST {path}` without a body.
    pub fn post_empty(path: &'static str, timeout: Duration) -> Call {
        Call::new(Method::Post, path, path, timeout)
    }

    /// `GET {path}`.
    pub fn get(path: &'static str, timeout: Duration) -> Call {
        Call::new(Method::Get, path, path, timeout)
    }

    /// A call to `path`, named `label`, without a body.
    pub fn new(
        method: Method,
        label: &'static str,
        path: impl Into<Cow<'static, str>>,
        timeout: Duration,
    ) -> Call {
        Call {
            method,
            label,
            path: path.into(),
            body: None,
            timeout,
        }
    }

    /// The same call with a JSON body.
    pub fn with_body(mut self, body: &impl Serialize) -> Call {
        self.body = Some(json::to_vec(body).expect("request bodies always serialize"));
        self
    }
}

/// An API's base URL (`http://airbyte:8001/api/v1`, no trailing slash), parsed once: a call's URL
/// is this one with the call's path joined to it, its scheme and host not parsed again.
pub(super) struct BaseUrl {
    text: String,
    uri: Uri,
}

impl BaseUrl {
    /// `text` with any trailing slash left off; `None` when it is not a URL.
    pub fn new(text: &str) -> Option<BaseUrl> {
        let text = text.trim_end_matches('/').to_string();
        let uri = text.parse().ok()?;
        Some(BaseUrl { text, uri })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The URL of the call at `path` (relative to this one).
    fn join(&self, path: &str) -> Result<Uri, ureq::http::Error> {
        let mut parts = self.uri.clone().into_parts();
        let base = parts.path_and_query.as_ref().map_or("", |p| p.path());
        let mut joined = String::with_capacity(base.len() + 1 + path.len());
        joined.push_str(base.trim_end_matches('/'));
        joined.push('/');
        joined.push_str(path);
        parts.path_and_query = Some(PathAndQuery::try_from(joined)?);
        Ok(Uri::from_parts(parts)?)
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Where access tokens come from, for every exchange that shares the credentials: the public
/// API's token call on a public install, so that its Config API companion presents the same token.
pub(super) struct TokenEndpoint {
    pub base_url: BaseUrl,
    /// Whether to send the OAuth grant type (the public API's token call takes it).
    pub with_grant: bool,
}

/// The answer of `applications/token` (`AccessTokenResponse`, `PublicAccessTokenResponse`).
#[derive(serde::Deserialize)]
struct AccessToken {
    access_token: String,
}

/// What came back: a status and the body's bytes.
pub(super) struct Received {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Sends calls to one Airbyte and records them in the metrics.
pub(super) struct Exchange {
    pub agent: ureq::Agent,
    /// The addresses the agent's resolver remembers (`transport.rs`), forgotten when a call fails.
    pub addresses: Arc<Addresses>,
    pub base_url: BaseUrl,
    /// The agent's own timeout; calls with another one configure their request.
    pub timeout: Duration,
    pub credentials: Arc<Credentials>,
    pub token: Arc<TokenEndpoint>,
    pub metrics: Arc<Metrics>,
}

impl Exchange {
    /// Makes `call` and reads its answer as `T`.
    pub fn run<T: DeserializeOwned>(&self, call: &Call) -> Result<T, Error> {
        let started = Instant::now();
        let result = self
            .successful(call)
            .and_then(|body| parse(call.label, &body));
        self.metrics
            .observe_airbyte(call.label, Error::outcome(&result), started.elapsed());
        result
    }

    /// Makes `call` and reads its answer with `read`, one field at a time (see `fields.rs`); an
    /// answer `read` cannot make sense of is [`Error::InvalidBody`].
    pub fn read<T>(
        &self,
        call: &Call,
        read: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Result<T, Error> {
        let answer: Value = self.run(call)?;
        read(&answer).map_err(|reason| Error::InvalidBody {
            call: call.label,
            reason,
        })
    }

    /// The body of a 2xx answer to `call` (`null` for a 204). Kept out of line: it is the same
    /// for every answer type, and [`Exchange::run`] is compiled once per type.
    #[inline(never)]
    fn successful(&self, call: &Call) -> Result<Vec<u8>, Error> {
        successful(call.label, self.authorized(call)?)
    }

    /// Makes `call` and returns what came back, whatever its status, for the caller to read
    /// (refused credentials are still [`Error::CredentialsRefused`]).
    pub fn exchange(&self, call: &Call) -> Result<Received, Error> {
        self.observed(call.label, || self.authorized(call))
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
                call: call.label,
                status,
            }),
            _ => Ok(received),
        }
    }

    /// `POST /applications/token`: exchanges the client id and secret for an access token. A
    /// 4xx means the credentials themselves are refused.
    fn fetch_token(&self, request: TokenRequest<'_>) -> Result<String, Error> {
        let mut body =
            json!({ "client_id": request.client_id, "client_secret": request.client_secret });
        if self.token.with_grant {
            // The public API's spec requires `grant_type` where its property is `grant-type`: a
            // strict validator takes one spelling, a lenient server the other; both are sent.
            body["grant-type"] = json!("client_credentials");
            body["grant_type"] = json!("client_credentials");
        }
        let call = Call::post("applications/token", &body, self.timeout);
        let token: AccessToken = self.observed(call.label, || {
            let received = self.send_to(&self.token.base_url, &call, None)?;
            match received.status {
                status @ 400..=499 => Err(Error::CredentialsRefused {
                    call: call.label,
                    status,
                }),
                _ => decode(call.label, received),
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
        self.send_to(&self.base_url, call, authorization)
    }

    /// [`Exchange::send`] to another base URL (the token call of shared credentials).
    fn send_to(
        &self,
        base_url: &BaseUrl,
        call: &Call,
        authorization: Option<&Secret>,
    ) -> Result<Received, Error> {
        let url = base_url.join(&call.path).map_err(|e| Error::Unreachable {
            url: base_url.to_string(),
            reason: e.to_string(),
        })?;
        // The agent's own timeout is the usual one; only discoveries and checks, whose jobs take
        // longer, pay for a configuration of their own.
        let custom = (call.timeout != self.timeout).then_some(call.timeout);
        let sent = match call.method {
            Method::Get | Method::Delete => {
                let mut request = match call.method {
                    Method::Get => self.agent.get(url),
                    _ => self.agent.delete(url),
                };
                if let Some(timeout) = custom {
                    request = request.config().timeout_global(Some(timeout)).build();
                }
                match authorization {
                    Some(value) => request.header(AUTHORIZATION, value.expose()).call(),
                    None => request.call(),
                }
            }
            Method::Post | Method::Put | Method::Patch => {
                let mut request = match call.method {
                    Method::Post => self.agent.post(url),
                    Method::Put => self.agent.put(url),
                    _ => self.agent.patch(url),
                };
                if let Some(timeout) = custom {
                    request = request.config().timeout_global(Some(timeout)).build();
                }
                if let Some(value) = authorization {
                    request = request.header(AUTHORIZATION, value.expose());
                }
                // The header as ureq's own types: from strings, it parses both on every call.
                match &call.body {
                    Some(bytes) => request
                        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                        .send(bytes),
                    None => request.send_empty(),
                }
            }
        };
        let mut response = sent.map_err(|e| self.failure(call, e))?;
        let status = response.status().as_u16();
        if status == 429 {
            // Whatever the call, nothing was done: the caller may try again later. The body, only
            // an explanation, is left unread (the connection is closed rather than reused).
            let retry_after = response.headers().get(RETRY_AFTER);
            return Err(Error::RateLimited {
                call: call.label,
                retry_after: retry_after.and_then(|v| v.to_str().ok()?.trim().parse().ok()),
            });
        }
        // Read into room for the length Airbyte declares (up to a bound, since that is only a
        // claim until the bytes arrive): grown from nothing, a small answer took six reads through
        // ureq's readers.
        let declared = response.body().content_length().unwrap_or(0);
        let mut body = Vec::with_capacity(declared.min(PRESIZE_AT_MOST) as usize);
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .reader()
            .read_to_end(&mut body)
            .map(|_| body)
            .map_err(ureq::Error::from);
        let body = match body {
            Ok(body) => body,
            // An error answer's body is only its explanation: without it, the status says enough.
            Err(_) if !(200..300).contains(&status) => Vec::new(),
            Err(e) => {
                return Err(match self.failure(call, e) {
                    timeout @ Error::Timeout { .. } => timeout,
                    other => Error::InvalidBody {
                        call: call.label,
                        reason: other.to_string(),
                    },
                })
            }
        };
        Ok(Received { status, body })
    }

    /// What a failed exchange means. Airbyte's addresses are forgotten, so that the next call
    /// looks them up again: Airbyte may have moved.
    fn failure(&self, call: &Call, err: ureq::Error) -> Error {
        use ureq::Error as U;
        self.addresses.forget();
        let timeout = Error::Timeout {
            call: call.label,
            after: call.timeout,
        };
        let unreachable = |reason: String| Error::Unreachable {
            url: self.base_url.to_string(),
            reason,
        };
        if let Some(problem) = transport::certificate_problem(&err) {
            return Error::CertificateRejected {
                url: self.base_url.to_string(),
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
                call: call.label,
                reason: other.to_string(),
            },
        }
    }
}

/// A 2xx answer's body as `T` (a 204 reads as `null`: fine for calls that expect nothing, an
/// error otherwise); anything else as [`Error::Status`], with Airbyte's explanation.
pub(super) fn decode<T: DeserializeOwned>(
    call: &'static str,
    received: Received,
) -> Result<T, Error> {
    parse(call, &successful(call, received)?)
}

/// `body` as `T`. Checked as UTF-8 whole first (JSON is UTF-8, RFC 8259), then parsed as text:
/// parsed as bytes, every string in it is checked on its own, at a cost of its own each.
fn parse<T: DeserializeOwned>(call: &'static str, body: &[u8]) -> Result<T, Error> {
    let invalid = |reason: String| Error::InvalidBody { call, reason };
    let text = std::str::from_utf8(body).map_err(|e| invalid(format!("not UTF-8: {e}")))?;
    serde_json::from_str(text).map_err(|e| invalid(e.to_string()))
}

/// The body of a 2xx answer (`null` for a 204); anything else as [`Error::Rejected`] or
/// [`Error::Status`], with Airbyte's explanation.
fn successful(call: &'static str, received: Received) -> Result<Vec<u8>, Error> {
    let Received { status, body } = received;
    if status == 422 || (status == 400 && is_bad_request_problem(&body)) {
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
    Ok(if status == 204 {
        b"null".to_vec()
    } else {
        body
    })
}

/// A 400 that refuses what was sent, like the Config API's 422: the public API's `bad-request`
/// problem (a stream Airbyte does not have, a cron expression it cannot read), or a body that
/// failed validation with its fields listed (`validationErrors`, the public API of Airbyte 1.8).
fn is_bad_request_problem(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Refusal<'a> {
        #[serde(borrow)]
        title: Option<&'a str>,
        #[serde(default)]
        validation_errors: Vec<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Refusal>(body)
        .is_ok_and(|r| r.title == Some("bad-request") || !r.validation_errors.is_empty())
}

fn is_connect_failure(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::NotFound
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(status: u16, body: &str) -> Result<serde::de::IgnoredAny, Error> {
        let received = Received {
            status,
            body: body.as_bytes().to_vec(),
        };
        decode("call", received)
    }

    #[test]
    fn refusals_of_what_was_sent_are_rejections_other_failures_statuses() {
        let rejected = |r: Result<_, Error>| matches!(r, Err(Error::Rejected { .. }));
        assert!(rejected(decoded(422, r#"{"message":"no"}"#)));
        assert!(rejected(decoded(
            400,
            r#"{"type":"https://reference.airbyte.com/reference/errors#bad-request","title":"bad-request","data":{"message":"No streams found with name [x]"}}"#
        )));
        assert!(rejected(decoded(
            400,
            r#"{"message":"invalid","validationErrors":[{"propertyPath":"name"}]}"#
        )));
        assert_eq!(
            decoded(400, r#"{"title":"Bad Request","detail":"bad"}"#).unwrap_err(),
            Error::Status {
                call: "call",
                status: 400,
                message: Some("bad".into())
            }
        );
        assert!(decoded(204, "").is_ok());
    }

    #[test]
    fn an_answer_that_is_not_utf8_is_an_invalid_body() {
        let received = Received {
            status: 200,
            body: b"{\"name\":\"caf\xe9\"}".to_vec(),
        };
        match decode::<serde::de::IgnoredAny>("call", received) {
            Err(Error::InvalidBody { call, reason }) => {
                assert_eq!(call, "call");
                assert!(reason.starts_with("not UTF-8"), "{reason}");
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}
