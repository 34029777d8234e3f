//! The request and reply types handlers work with, independent of how the server is run.

use std::time::Duration;

use serde::Serialize;
pub use tiny_http::Paused;
use uuid::Uuid;

use crate::error::ApiError;
use crate::json;
use crate::text::{ends_with_any_case, holds_at};

/// One request as the router and handlers see it: complete, its body already read by the server
/// within `MAX_BODY_BYTES` and `CLIENT_TIMEOUT_SECS`.
pub struct Incoming<'a> {
    inner: &'a tiny_http::Request,
    /// The path without the query string.
    path: &'a str,
    /// What the server does while the handler pauses; `None`: the request only sleeps.
    seat: Option<&'a dyn Seat>,
}

/// A request's hold on the server's resources, which a handler that waits on Airbyte gives up
/// while it pauses between calls (the server's `WORKERS` slot).
pub trait Seat {
    /// Gives up what the request holds, pauses it (see [`Incoming::pause`]), and takes it back.
    fn pause(&self, request: &tiny_http::Request, timeout: Duration) -> Paused;
}

impl<'a> Incoming<'a> {
    pub fn new(inner: &'a tiny_http::Request) -> Incoming<'a> {
        Incoming {
            inner,
            path: path_of(inner.url()),
            seat: None,
        }
    }

    /// The same request, pausing through `seat`.
    pub fn seated(self, seat: &'a dyn Seat) -> Incoming<'a> {
        Incoming {
            seat: Some(seat),
            ..self
        }
    }

    /// Waits up to `timeout` between two calls to Airbyte, holding no `WORKERS` slot meanwhile:
    /// [`Paused::Gone`] as soon as the client has closed its connection, [`Paused::Stopping`] as
    /// soon as the service begins to drain, [`Paused::Elapsed`] otherwise.
    pub fn pause(&self, timeout: Duration) -> Paused {
        match self.seat {
            Some(seat) => seat.pause(self.inner, timeout),
            None => self.inner.pause(timeout),
        }
    }

    /// The method, exactly as sent: methods are case-sensitive (RFC 9110 §9.1).
    pub fn method(&self) -> &'a str {
        self.inner.method().as_str()
    }

    /// The path without the query string.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The target as sent (in origin form): the path and the query.
    pub fn target(&self) -> &'a str {
        self.inner.url()
    }

    /// A query parameter's value (`?check=true`), undecoded: the service's parameters are plain.
    pub fn query(&self, name: &str) -> Option<&'a str> {
        let query = self.inner.url().split_once('?')?.1;
        let query = query.split('#').next().unwrap_or("");
        query
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// The names of the query parameters, in order (`check` of `?check=true&x`, and `x`).
    pub fn query_names(&self) -> impl Iterator<Item = &'a str> {
        let query = self.inner.url().split_once('?').map_or("", |(_, q)| q);
        let query = query.split('#').next().unwrap_or("");
        query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split_once('=').map_or(pair, |(name, _)| name))
    }

    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.inner.header(name)
    }

    /// 415 unless the body is declared as JSON.
    pub fn require_json(&self) -> Result<(), ApiError> {
        let content_type = self.header("Content-Type");
        match content_type.is_some_and(is_json) {
            true => Ok(()),
            false => Err(ApiError::unsupported_media_type(content_type)),
        }
    }

    /// The body as sent (empty when there was none).
    pub fn body(&self) -> &'a [u8] {
        self.inner.body()
    }

    /// The body of a JSON request: 415 unless it is declared as JSON.
    pub fn json_body(&self) -> Result<&'a [u8], ApiError> {
        self.require_json()?;
        Ok(self.inner.body())
    }
}

/// A request target's path: without the query or fragment.
pub fn path_of(target: &str) -> &str {
    target.split(['?', '#']).next().unwrap_or("")
}

/// `application/json`, or any `application/*+json`, with or without parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let structured = essence.len() >= "application/+json".len()
        && holds_at(essence, 0, "application/")
        && ends_with_any_case(essence, "+json");
    essence.eq_ignore_ascii_case("application/json") || structured
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
        let body = json::to_vec(body).expect("reply bodies always serialize");
        Reply {
            status,
            content_type: "application/json",
            body,
            headers: Vec::new(),
        }
    }

    /// `201 Created` with `body`, naming what was created in `Location`: `{collection}/{id}`.
    /// Without it, a 201 would name the request's own URI (RFC 9110 §15.3.2), the collection.
    pub fn created(collection: &str, id: Uuid, body: &impl Serialize) -> Reply {
        let mut reply = Reply::json(201, body);
        let mut buffer = Uuid::encode_buffer();
        let id = id.hyphenated().encode_lower(&mut buffer);
        let mut location = String::with_capacity(collection.len() + 1 + id.len());
        location.push_str(collection);
        location.push('/');
        location.push_str(id);
        reply.headers.push(("Location", location));
        reply
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
        assert!(is_json("APPLICATION/VND.API+JSON"));
        assert!(!is_json("text/x+json"));
        assert!(!is_json(""));
    }
}
