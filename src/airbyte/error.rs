//! How an Airbyte call can fail, said in a way that lets the service tell its client what to do.
//! The crate's `error.rs` decides the client's status for each.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::text::truncate;

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
    /// Airbyte answered 2xx with a body that is not the JSON the contract promises.
    InvalidBody { call: &'static str, reason: String },
    /// A synchronous Airbyte job (discovery) ran and failed.
    JobFailed { call: &'static str, message: String },
    /// Airbyte refused the service's own credentials (401/403, or a refused token request).
    CredentialsRefused { call: &'static str, status: u16 },
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
            Err(Error::InvalidBody { .. }) => "invalid_body",
            Err(Error::JobFailed { .. }) => "job_failed",
            Err(Error::CredentialsRefused { .. }) => "credentials_refused",
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
            Error::JobFailed { call, .. } => write!(f, "{call} job failed"),
            Error::CredentialsRefused { call, status } => {
                write!(f, "{call} refused the credentials (HTTP {status})")
            }
        }
    }
}

impl std::error::Error for Error {}

/// Airbyte's own explanation in an error body: `message` (most versions) or `detail` (problem
/// bodies), cut to a readable length.
pub(super) fn message_in(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let text = ["message", "detail", "title"]
        .iter()
        .find_map(|k| value.get(*k)?.as_str())?;
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
        assert_eq!(message_in(b"<html>"), None);
    }
}
