//! The request and reply types handlers work with, independent of how the server is run.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::ApiError;

/// The most of a request body read at once when its length is not declared (chunked).
const READ_CHUNK: usize = 16 * 1024;

/// How much of a request body is read, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Larger bodies are answered 413.
    pub max_bytes: usize,
    /// A body still arriving after this long is abandoned (400): a client trickling bytes must
    /// not hold a worker.
    pub timeout: Duration,
}

/// One request as the router and handlers see it. The body is read only when a handler asks.
pub struct Incoming<'a> {
    inner: &'a mut tiny_http::Request,
    method: String,
    path: String,
    limits: BodyLimits,
}

impl<'a> Incoming<'a> {
    pub fn new(inner: &'a mut tiny_http::Request, limits: BodyLimits) -> Incoming<'a> {
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
            limits,
        }
    }

    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path without the query string.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// A query parameter's value (`?check=true`), undecoded: the service's parameters are plain.
    pub fn query(&self, name: &str) -> Option<&str> {
        let query = self.inner.url().split_once('?')?.1;
        query
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
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
        let limit = self.limits.max_bytes;
        let declared = self.inner.body_length();
        if declared.is_some_and(|n| n > limit) {
            return Err(ApiError::too_large(limit));
        }
        let deadline = Instant::now() + self.limits.timeout;
        let mut body = Vec::new();
        let reader = self.inner.as_reader();
        loop {
            // Read straight into the body: room for what is declared (then one byte, to see the
            // end), or a chunk at a time when the length is not known in advance.
            let start = body.len();
            let room = declared.map_or(READ_CHUNK, |n| n.saturating_sub(start));
            body.resize(start + room.clamp(1, READ_CHUNK), 0);
            let n = match reader.read(&mut body[start..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    body.truncate(start);
                    continue;
                }
                Err(e) => {
                    return Err(ApiError::invalid(format!(
                        "the request body could not be read: {e}"
                    )))
                }
            };
            body.truncate(start + n);
            if n == 0 {
                break;
            }
            if body.len() > limit {
                return Err(ApiError::too_large(limit));
            }
            if Instant::now() > deadline {
                return Err(ApiError::invalid(format!(
                    "the request body did not arrive within {} s",
                    self.limits.timeout.as_secs()
                )));
            }
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
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn text(status: u16, content_type: &'static str, body: String) -> Reply {
        Reply {
            status,
            content_type,
            body: body.into_bytes(),
            headers: Vec::new(),
        }
    }

    pub fn json(status: u16, body: &impl Serialize) -> Reply {
        let body = serde_json::to_vec(body).expect("reply bodies always serialize");
        Reply {
            status,
            content_type: "application/json",
            body,
            headers: Vec::new(),
        }
    }

    /// 204 No Content.
    pub fn no_content() -> Reply {
        Reply {
            status: 204,
            content_type: "application/json",
            body: Vec::new(),
            headers: Vec::new(),
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
