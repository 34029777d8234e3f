//! The request and reply types handlers work with, independent of how the server is run.

use std::io::Read;

use serde::Serialize;

use crate::error::ApiError;

/// One request as the router and handlers see it. The body is read only when a handler asks.
pub struct Incoming<'a> {
    inner: &'a mut tiny_http::Request,
    method: String,
    path: String,
    max_body: usize,
}

impl<'a> Incoming<'a> {
    pub fn new(inner: &'a mut tiny_http::Request, max_body: usize) -> Incoming<'a> {
        let method = inner.method().as_str().to_ascii_uppercase();
        let path = inner
            .url()
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .to_string();
        Incoming {
            inner,
            method,
            path,
            max_body,
        }
    }

    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path without the query string.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner
            .headers()
            .iter()
            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The body of a JSON request: 415 unless it is declared as JSON, 413 past `MAX_BODY_BYTES`.
    pub fn json_body(&mut self) -> Result<Vec<u8>, ApiError> {
        let content_type = self.header("Content-Type");
        if !content_type.is_some_and(is_json) {
            return Err(ApiError::unsupported_media_type(content_type));
        }
        let limit = self.max_body;
        if self.inner.body_length().is_some_and(|n| n > limit) {
            return Err(ApiError::too_large(limit));
        }
        let mut body = Vec::with_capacity(self.inner.body_length().unwrap_or(0));
        self.inner
            .as_reader()
            .take(limit as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| ApiError::invalid(format!("the request body could not be read: {e}")))?;
        if body.len() > limit {
            return Err(ApiError::too_large(limit));
        }
        Ok(body)
    }
}

/// `application/json`, or any `application/*+json`, with or without parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, body: &impl Serialize) -> Reply {
        let body = serde_json::to_vec(body).expect("reply bodies always serialize");
        Reply {
            status,
            content_type: "application/json",
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
        assert!(!is_json("application/jsonx"));
        assert!(!is_json(""));
    }
}
