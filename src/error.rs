//! The one error type of the HTTP API and the one place that turns it into a status code and an
//! RFC 9457 problem body (`application/problem+json`).
//!
//! Handlers return `Result<Reply, ApiError>`; nothing else in the service decides a status code
//! for a failure. Upstream (Airbyte) failures arrive as [`airbyte::Error`] and are mapped here so
//! that every route reports them the same way.

use std::fmt;

use serde_json::json;

use crate::airbyte;
use crate::text::truncate;

/// `Retry-After` on a 503 for Airbyte's 429 when Airbyte did not say, in seconds. Airbyte's own
/// value is passed on, within 1 s and an hour.
const RATE_LIMITED_RETRY_SECS: u64 = 5;

/// A failure that is answered to the client with a problem body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// Short machine-readable slug; the problem `type` is derived from it.
    pub slug: &'static str,
    /// Human-readable summary of the problem type.
    pub title: &'static str,
    /// What went wrong with this request, and what the client can do about it.
    pub detail: String,
    /// Extra response headers (`Allow` on 405).
    pub headers: Vec<(&'static str, String)>,
    /// The fields Airbyte's validation rejected, each with its reason (the `errors` member).
    pub errors: Vec<FieldError>,
}

/// One field a request was refused for: `config.port` and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
    /// The value Airbyte says it rejected: never answered, only used to mask it in `message`
    /// when the field is a secret.
    pub rejected: Option<String>,
}

impl ApiError {
    fn new(
        status: u16,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            slug,
            title,
            detail: detail.into(),
            headers: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// 400: the request body or one of its fields is not what the route expects.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(400, "invalid-request", "Invalid request", detail)
    }

    /// 401: `API_TOKEN` is set and the request did not carry it.
    pub fn unauthorized() -> Self {
        let mut e = Self::new(
            401,
            "unauthorized",
            "Unauthorized",
            "this service requires 'Authorization: Bearer <token>' with its API token",
        );
        e.headers.push(("WWW-Authenticate", "Bearer".to_string()));
        e
    }

    /// 404: no route has this path.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            404,
            "not-found",
            "Not found",
            format!("no route for path '{path}'"),
        )
    }

    /// 404: Airbyte does not know an id the client gave.
    pub fn unknown_id(what: &str, id: &str) -> Self {
        Self::new(
            404,
            "not-found",
            "Not found",
            format!("Airbyte has no {what} with id '{id}'"),
        )
    }

    /// An Airbyte failure on a call about an id the client gave (`what` names it: `source`,
    /// `connection (ingestion)`): Airbyte's 404 is the client's 404; anything else maps as usual.
    pub fn for_id(err: airbyte::Error, what: &str, id: &uuid::Uuid) -> Self {
        match err {
            airbyte::Error::Status { status: 404, .. } => Self::unknown_id(what, &id.to_string()),
            other => other.into(),
        }
    }

    /// 405: the path exists but not for this method.
    pub fn method_not_allowed(method: &str, path: &str, allow: &'static str) -> Self {
        let mut e = Self::new(
            405,
            "method-not-allowed",
            "Method not allowed",
            format!("{method} is not supported on '{path}'; use {allow}"),
        );
        e.headers.push(("Allow", allow.to_string()));
        e
    }

    /// 409: the request conflicts with the state of what it is about (a job that has ended).
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(409, "conflict", "Conflict", detail)
    }

    /// 413: the body is larger than `MAX_BODY_BYTES`.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "payload-too-large",
            "Payload too large",
            format!("the request body exceeds the limit of {limit} bytes"),
        )
    }

    /// 415: the body is not declared as JSON.
    pub fn unsupported_media_type(got: Option<&str>) -> Self {
        let got = match got {
            Some(ct) => format!("'{}'", truncate(ct, 100)),
            None => "no Content-Type".to_string(),
        };
        Self::new(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            format!(
                "the request body must be JSON with 'Content-Type: application/json'; got {got}"
            ),
        )
    }

    /// A request the server refused for its framing, before any handler saw it (400, 408, 413,
    /// 414, 417, 431, 501, 505); the detail names what is wrong and what to send instead.
    pub fn refused(status: u16, detail: &str) -> Self {
        let (slug, title) = match status {
            408 => ("request-timeout", "Request timeout"),
            413 => ("payload-too-large", "Payload too large"),
            414 => ("uri-too-long", "URI too long"),
            417 => ("expectation-failed", "Expectation failed"),
            431 => ("headers-too-large", "Request header fields too large"),
            501 => ("not-implemented", "Not implemented"),
            505 => ("http-version-not-supported", "HTTP version not supported"),
            _ => ("invalid-request", "Invalid request"),
        };
        let status = if slug == "invalid-request" {
            400
        } else {
            status
        };
        Self::new(status, slug, title, detail.to_string())
    }

    /// 422: the request is well-formed but cannot be carried out as asked.
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(422, "unprocessable", "Unprocessable request", detail)
    }

    /// 500: a bug in this service (a handler panicked). Never used for upstream faults.
    pub fn internal() -> Self {
        Self::new(
            500,
            "internal",
            "Internal error",
            "the service failed while handling this request; it has been logged",
        )
    }

    /// 502: Airbyte answered, but not with something this service can use.
    pub fn bad_gateway(detail: impl Into<String>) -> Self {
        Self::new(502, "upstream-error", "Airbyte error", detail)
    }

    /// 503: the service cannot serve this now (Airbyte unreachable or not ready).
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(503, "upstream-unavailable", "Airbyte unavailable", detail)
    }

    /// The same failure, said of the route it happened on: a 501 names the route that cannot be
    /// served (the others name the call or field at fault already).
    pub fn on_route(mut self, method: &str, route: &str) -> Self {
        if self.slug == "airbyte-capability-missing" {
            self.detail = format!("{method} {route} is not available: {}", self.detail);
        }
        self
    }

    /// The problem `type` URI.
    pub fn type_uri(&self) -> String {
        format!("urn:airbyte-wrapper:problem:{}", self.slug)
    }

    /// The problem body; `errors` only when there are field errors.
    pub fn body(&self, request_id: &str) -> Vec<u8> {
        let mut body = json!({
            "type": self.type_uri(),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "requestId": request_id,
        });
        if !self.errors.is_empty() {
            let errors: Vec<_> = self
                .errors
                .iter()
                .map(|e| json!({ "field": e.field, "message": e.message }))
                .collect();
            body["errors"] = json!(errors);
        }
        serde_json::to_vec(&body).expect("a JSON value always serializes")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.slug, self.detail)
    }
}

/// How Airbyte failures map to client-facing statuses. The handler only has to say which
/// client-given id a 404 refers to (if any); everything else is the same for every route.
impl From<airbyte::Error> for ApiError {
    fn from(err: airbyte::Error) -> Self {
        use airbyte::Error as E;
        match err {
            E::Unreachable { url, reason } => ApiError::unavailable(format!(
                "Airbyte at {url} is unreachable ({reason}); check AIRBYTE_BASE_URL and that Airbyte is running"
            )),
            E::CertificateRejected { url, problem } => ApiError::bad_gateway(format!(
                "Airbyte's TLS certificate at {url} was not accepted: {problem}; {}", problem.remedy()
            )),
            E::Timeout { call, after } => ApiError::new(
                504,
                "upstream-timeout",
                "Airbyte timed out",
                format!("Airbyte did not answer {call} within {} s", after.as_secs()),
            ),
            E::Rejected { call, message, invalid } => {
                let mut e = ApiError::new(
                    422,
                    "rejected-by-airbyte",
                    "Rejected by Airbyte",
                    format!("Airbyte rejected {call}: {}", message.as_deref().unwrap_or("no reason given")),
                );
                e.errors = invalid
                    .into_iter()
                    .map(|i| FieldError {
                        message: i.message.unwrap_or_else(|| "rejected".to_string()),
                        field: i.field,
                        rejected: i.value,
                    })
                    .collect();
                e
            }
            E::CredentialsRefused { call, status } => ApiError::bad_gateway(format!(
                "Airbyte refused the service's credentials on {call} (HTTP {status}); the operator must fix the Airbyte authentication settings"
            )),
            E::Status { call, status, message } => ApiError::bad_gateway(match message {
                Some(m) => format!("Airbyte answered {call} with HTTP {status}: {m}"),
                None => format!("Airbyte answered {call} with HTTP {status}"),
            }),
            E::InvalidBody { call, reason } => ApiError::bad_gateway(format!(
                "Airbyte's answer to {call} could not be read: {reason}"
            )),
            E::JobFailed { call, failure } if failure.is_config_error() => ApiError::unprocessable(format!(
                "Airbyte's {call} job found a problem with the configuration: {}", failure.reason()
            )),
            E::JobFailed { call, failure } => ApiError::bad_gateway(format!("Airbyte's {call} job failed: {}", failure.reason())),
            E::NotRun { call, reason } => ApiError::bad_gateway(format!(
                "Airbyte could not run the {call} job: {}", reason.as_deref().unwrap_or("it gave no reason")
            )),
            E::RateLimited { call, retry_after } => {
                let seconds = retry_after.map_or(RATE_LIMITED_RETRY_SECS, |s| s.clamp(1, 3600));
                let mut e = ApiError::unavailable(format!(
                    "Airbyte is limiting the rate of calls: it answered {call} with HTTP 429 (Too Many Requests) and did nothing; try again after {seconds} s"
                ));
                e.headers.push(("Retry-After", seconds.to_string()));
                e
            }
            E::Unsupported { capability, config_api, refusal } => ApiError::new(
                501,
                "airbyte-capability-missing",
                "Not available with this Airbyte API",
                format!(
                    "this needs {capability}, which Airbyte's public API does not have, and the Config API at {config_api} refused it ({refusal}); set AIRBYTE_CONFIG_API_URL to a Config API these credentials may use, or AIRBYTE_API=config with AIRBYTE_BASE_URL at the Config API"
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn problem_body_has_the_rfc_9457_members() {
        let body: serde_json::Value =
            serde_json::from_slice(&ApiError::invalid("field 'name' is missing").body("r1"))
                .unwrap();
        assert_eq!(body["type"], "urn:airbyte-wrapper:problem:invalid-request");
        assert_eq!(body["title"], "Invalid request");
        assert_eq!(body["status"], 400);
        assert_eq!(body["detail"], "field 'name' is missing");
        assert_eq!(body["requestId"], "r1");
    }

    #[test]
    fn upstream_faults_map_to_gateway_statuses() {
        let status = |e| ApiError::from(e).status;
        let call = "sources/create";
        assert_eq!(
            status(airbyte::Error::Rejected {
                call,
                message: None,
                invalid: Vec::new()
            }),
            422
        );
        assert_eq!(
            status(airbyte::Error::Status {
                call,
                status: 500,
                message: None
            }),
            502
        );
        assert_eq!(
            status(airbyte::Error::Status {
                call,
                status: 404,
                message: None
            }),
            502
        );
        assert_eq!(
            status(airbyte::Error::Status {
                call,
                status: 401,
                message: None
            }),
            502
        );
        assert_eq!(
            status(airbyte::Error::Timeout {
                call,
                after: Duration::from_secs(3)
            }),
            504
        );
        assert_eq!(
            status(airbyte::Error::Unreachable {
                url: "http://x".into(),
                reason: "refused".into()
            }),
            503
        );
        assert_eq!(
            status(airbyte::Error::InvalidBody {
                call,
                reason: "eof".into()
            }),
            502
        );
        assert_eq!(
            status(airbyte::Error::CertificateRejected {
                url: "https://x".into(),
                problem: airbyte::CertificateProblem::UnknownIssuer
            }),
            502,
            "a configuration fault: not the 503 of an outage"
        );
    }

    #[test]
    fn method_not_allowed_carries_allow() {
        let e = ApiError::method_not_allowed("GET", "/sink", "POST");
        assert_eq!(e.status, 405);
        assert_eq!(e.headers, vec![("Allow", "POST".to_string())]);
    }
}
