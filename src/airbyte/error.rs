//! How an Airbyte call can fail, said in a way that lets the service tell its client what to do.
//! The crate's `error.rs` decides the client's status for each.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::model::Failure;
use crate::text::truncate;

/// A field Airbyte's validation rejected (`InvalidInputProperty`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInput {
    /// The field, as a dotted path (`tunnel_method.ssh_key`, `port`) below what was validated.
    pub field: String,
    /// The value Airbyte quotes as rejected; may be a secret.
    pub value: Option<String>,
    pub message: Option<String>,
}

/// An Airbyte call that did not produce the answer the service needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No connection could be made (refused, host not found, TLS failure).
    Unreachable { url: String, reason: String },
    /// Airbyte was reached, but its TLS certificate was not accepted: a configuration fault on
    /// one side or the other, which waiting does not cure.
    CertificateRejected {
        url: String,
        problem: CertificateProblem,
    },
    /// Airbyte did not answer within the call's timeout.
    Timeout { call: &'static str, after: Duration },
    /// Airbyte answered with a non-2xx status; `message` is its own explanation, when it gave one.
    Status {
        call: &'static str,
        status: u16,
        message: Option<String>,
    },
    /// Airbyte refused the request as invalid (422), with its message and the fields it named.
    Rejected {
        call: &'static str,
        message: Option<String>,
        invalid: Vec<InvalidInput>,
    },
    /// Airbyte answered 2xx with a body that is not the JSON the contract promises.
    InvalidBody { call: &'static str, reason: String },
    /// A synchronous Airbyte job (a discovery) ran and failed, for the reason Airbyte gives.
    JobFailed {
        call: &'static str,
        failure: Failure,
    },
    /// A check Airbyte could not run at all: its answer has no outcome, or its job failed.
    NotRun {
        call: &'static str,
        reason: Option<String>,
    },
    /// Airbyte refused the service's own credentials (401/403, or a refused token request).
    CredentialsRefused { call: &'static str, status: u16 },
    /// Airbyte is limiting the rate of calls (429, as Airbyte Cloud's API does past its quota) and
    /// did nothing; `retry_after` is its `Retry-After` in seconds, when it gave one as a number.
    RateLimited {
        call: &'static str,
        retry_after: Option<u64>,
    },
    /// The API in use cannot do this, and the Config API that could was refused or is missing:
    /// the public API has no dry-run check, no discovery of an unsaved configuration, no connector
    /// spec and no schema diff.
    Unsupported {
        /// What is missing, in Airbyte's terms: `a dry-run connection check
        /// (scheduler/sources/check_connection)`.
        capability: &'static str,
        /// The Config API asked, and how it answered (`HTTP 404`, `unreachable`).
        config_api: String,
        refusal: String,
    },
}

/// Why Airbyte's TLS certificate was not accepted, in the terms an operator acts on. Nothing of
/// the certificate itself (names, dates) is kept: the service's answers do not show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateProblem {
    /// Issued by a CA that is neither a web PKI root nor in `AIRBYTE_CA_FILE` (or self-signed).
    UnknownIssuer,
    /// Valid, but for other host names than the one in `AIRBYTE_BASE_URL`.
    OtherHost,
    /// Past its end date.
    Expired,
    /// Before its start date.
    NotValidYet,
    /// Malformed, signed with an unsupported algorithm, or not meant for a TLS server.
    Unusable,
}

impl CertificateProblem {
    /// What the operator can do about it, as the problem detail ends.
    pub fn remedy(self) -> &'static str {
        match self {
            CertificateProblem::UnknownIssuer => {
                "if Airbyte's certificate comes from a private or corporate CA, set AIRBYTE_CA_FILE to the PEM file of that CA"
            }
            CertificateProblem::OtherHost => {
                "check that AIRBYTE_BASE_URL names a host the certificate was issued for"
            }
            CertificateProblem::Expired => "Airbyte's certificate must be renewed",
            CertificateProblem::NotValidYet => {
                "check this host's clock against the certificate's start date"
            }
            CertificateProblem::Unusable => {
                "Airbyte needs a well-formed TLS server certificate with a common signature algorithm"
            }
        }
    }
}

impl fmt::Display for CertificateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CertificateProblem::UnknownIssuer => "it is issued by a CA this service does not trust",
            CertificateProblem::OtherHost => "it is for another host name",
            CertificateProblem::Expired => "it has expired",
            CertificateProblem::NotValidYet => "it is not valid yet",
            CertificateProblem::Unusable => "it cannot identify a TLS server",
        })
    }
}

impl Error {
    /// How a call ended, as a metrics label.
    pub(super) fn outcome<T>(result: &Result<T, Error>) -> &'static str {
        match result {
            Ok(_) => "success",
            Err(Error::Unreachable { .. }) => "unreachable",
            Err(Error::CertificateRejected { .. }) => "certificate_rejected",
            Err(Error::Timeout { .. }) => "timeout",
            Err(Error::Status {
                status: 400..=499, ..
            }) => "client_error",
            Err(Error::Status { .. }) => "server_error",
            Err(Error::Rejected { .. }) => "client_error",
            Err(Error::InvalidBody { .. }) => "invalid_body",
            Err(Error::JobFailed { .. } | Error::NotRun { .. }) => "job_failed",
            Err(Error::CredentialsRefused { .. }) => "credentials_refused",
            Err(Error::RateLimited { .. }) => "rate_limited",
            Err(Error::Unsupported { .. }) => "unsupported",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unreachable { url, reason } => write!(f, "{url} unreachable: {reason}"),
            Error::CertificateRejected { url, problem } => {
                write!(f, "{url}: TLS certificate not accepted: {problem}")
            }
            Error::Timeout { call, after } => write!(f, "{call} timed out after {after:?}"),
            Error::Status { call, status, .. } => write!(f, "{call} answered HTTP {status}"),
            Error::InvalidBody { call, reason } => {
                write!(f, "{call} answered an unreadable body: {reason}")
            }
            Error::Rejected { call, .. } => write!(f, "{call} answered HTTP 422"),
            Error::JobFailed { call, .. } => write!(f, "{call} job failed"),
            Error::NotRun { call, .. } => write!(f, "{call} job did not run"),
            Error::CredentialsRefused { call, status } => {
                write!(f, "{call} refused the credentials (HTTP {status})")
            }
            Error::RateLimited { call, .. } => write!(f, "{call} answered HTTP 429"),
            Error::Unsupported {
                capability,
                config_api,
                refusal,
            } => write!(
                f,
                "{capability} is not in the public API, and the Config API at {config_api} refused it ({refusal})"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Airbyte's validation errors in a 422 body (`InvalidInputExceptionInfo.validationErrors`).
pub(super) fn invalid_in(body: &[u8]) -> Vec<InvalidInput> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Info {
        #[serde(default)]
        validation_errors: Vec<Property>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Property {
        property_path: String,
        invalid_value: Option<Value>,
        message: Option<String>,
    }
    let Ok(info) = serde_json::from_slice::<Info>(body) else {
        return Vec::new();
    };
    if info.validation_errors.is_empty() {
        return message_in(body).map_or_else(Vec::new, |m| listed_in(&m));
    }
    info.validation_errors
        .into_iter()
        .take(100)
        .map(|p| InvalidInput {
            field: dotted(&p.property_path),
            value: p.invalid_value.map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            }),
            message: p.message.map(|m| truncate(m.trim(), 500)),
        })
        .collect()
}

/// The fields a JSON schema validation message lists after `Errors:`, one `$.path: reason` each
/// (the public API's 422 has only this text: `... Errors: $.port: string found, integer expected`).
fn listed_in(message: &str) -> Vec<InvalidInput> {
    let Some((_, list)) = message.rsplit_once("Errors:") else {
        return Vec::new();
    };
    // Items are separated by new lines or by ", $" (a reason may hold a comma of its own).
    let mut items = Vec::new();
    for line in list.lines() {
        let mut rest = line.trim();
        while let Some(at) = rest.find(", $") {
            items.push(&rest[..at]);
            rest = &rest[at + 2..];
        }
        items.push(rest);
    }
    items
        .into_iter()
        .filter_map(|item| {
            let (path, why) = item.trim().split_once(": ")?;
            path.starts_with('$').then(|| InvalidInput {
                field: dotted(path),
                value: None,
                message: Some(truncate(why.trim(), 500)),
            })
        })
        .take(100)
        .collect()
}

/// A property path as Airbyte writes it (`$.tunnel_method.ssh_key`, `/port`, `port`) as a
/// dotted path.
fn dotted(path: &str) -> String {
    let path = path.trim();
    let path = path
        .strip_prefix("$.")
        .or_else(|| path.strip_prefix('$'))
        .unwrap_or(path);
    let path = path.trim_start_matches('/').replace('/', ".");
    truncate(&path, 200)
}

/// Airbyte's own explanation in an error body: `data.message` (the public API's problems, whose
/// `detail` is the same for every error of a type), `message` (the Config API) or `detail`,
/// cut to a readable length.
pub(super) fn message_in(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let text = value
        .pointer("/data/message")
        .and_then(Value::as_str)
        .or_else(|| {
            ["message", "detail", "title"]
                .iter()
                .find_map(|k| value.get(*k)?.as_str())
        })?;
    let text = text.trim();
    (!text.is_empty()).then(|| truncate(text, 500))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_from_message_or_detail() {
        assert_eq!(
            message_in(br#"{"message":" bad port "}"#).as_deref(),
            Some("bad port")
        );
        assert_eq!(
            message_in(br#"{"type":"x","detail":"nope"}"#).as_deref(),
            Some("nope")
        );
        assert_eq!(message_in(br#"{"errorId":"1"}"#), None);
        assert_eq!(
            message_in(br#"{"title":"try-again-later","detail":"Please try again later.","data":{"message":"A sync is already running"}}"#).as_deref(),
            Some("A sync is already running")
        );
        assert_eq!(message_in(b"<html>"), None);
    }

    #[test]
    fn validation_errors_name_their_fields_as_dotted_paths() {
        let body = br#"{"message":"invalid","validationErrors":[
            {"propertyPath":"$.tunnel_method.ssh_key","invalidValue":"k","message":"too short"},
            {"propertyPath":"/port","invalidValue":70000},
            {"propertyPath":"name"}]}"#;
        let found = invalid_in(body);
        let fields: Vec<&str> = found.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["tunnel_method.ssh_key", "port", "name"]);
        assert_eq!(found[0].value.as_deref(), Some("k"));
        assert_eq!(found[1].value.as_deref(), Some("70000"));
        assert_eq!(found[2].message, None);
        assert!(invalid_in(br#"{"message":"x"}"#).is_empty());
        let public = br#"{"type":"https://reference.airbyte.com/reference/errors#unprocessable-entity","title":"unprocessable-entity","data":{"message":"json schema validation failed when comparing the data to the json schema. \nErrors: $.port: string found, integer expected, $.tunnel.ssh_key: is missing "}}"#;
        let found = invalid_in(public);
        let fields: Vec<&str> = found.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["port", "tunnel.ssh_key"]);
        assert_eq!(
            found[0].message.as_deref(),
            Some("string found, integer expected")
        );
        assert!(invalid_in(b"<html>").is_empty());
    }
}
