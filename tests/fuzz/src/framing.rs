//! What the framing target asserts about tiny_http's request reader (the fork's `framing.rs` and
//! `client.rs`), whatever bytes a client sends and however they are split into reads.
//!
//! - How bytes arrive never changes what they mean: read in pieces of any sizes, the input gives
//!   the same requests and the same refusal as read whole. (A reader whose verdict depends on
//!   packet boundaries is one a proxy can be made to disagree with.)
//! - An accepted request is framed one way only: not both `Content-Length` and
//!   `Transfer-Encoding`, at most one `Content-Length` value, `chunked` alone, exactly one `Host`
//!   on HTTP/1.1, no CR, LF or NUL in a field; its body is as long as its framing says and never
//!   longer than the limit; its target is a path.
//! - A refusal is one of the statuses the server answers framing errors with, and nothing after it
//!   is read.

use tiny_http::fuzzing::{read_requests, BodyFraming, Head};

/// The body limit the target reads with: small, so that the fuzzer reaches it.
pub const MAX_BODY: u64 = 256;

/// Reads `input` whole and in `pieces`, and checks both readings.
pub fn check_framing(input: &[u8], pieces: &[usize]) {
    let (whole, whole_refusal) = read_requests(input, &[], MAX_BODY);
    let (split, split_refusal) = read_requests(input, pieces, MAX_BODY);
    let summary = |requests: &[(Head, Vec<u8>)]| -> Vec<(String, String, Vec<u8>)> {
        requests
            .iter()
            .map(|(h, b)| (h.method.to_string(), h.target.clone(), b.clone()))
            .collect()
    };
    assert_eq!(summary(&whole), summary(&split), "pieces {pieces:?} read differently");
    assert_eq!(
        whole_refusal.as_ref().map(|r| r.status),
        split_refusal.as_ref().map(|r| r.status),
        "pieces {pieces:?} refused differently"
    );
    for (head, body) in &whole {
        check_request(head, body);
    }
    if let Some(refusal) = whole_refusal {
        assert!(
            [400, 408, 413, 414, 417, 431, 501, 505].contains(&refusal.status.0),
            "{refusal:?}"
        );
        assert!(!refusal.detail.is_empty());
    }
}

fn check_request(head: &Head, body: &[u8]) {
    let values = |name: &str| {
        head.headers
            .iter()
            .filter(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str().to_string())
            .collect::<Vec<_>>()
    };
    let lengths = values("content-length");
    let codings = values("transfer-encoding");
    assert!(lengths.is_empty() || codings.is_empty(), "both: {head:?}");
    let mut distinct: Vec<u64> = lengths.iter().map(|v| v.parse().expect("digits")).collect();
    distinct.dedup();
    assert!(distinct.len() <= 1, "{lengths:?}");
    match head.body {
        BodyFraming::None => assert!(body.is_empty()),
        BodyFraming::Length(n) => {
            assert_eq!(body.len() as u64, n);
            assert_eq!(distinct, [n]);
        }
        BodyFraming::Chunked => {
            let codings: Vec<String> = codings
                .iter()
                .flat_map(|v| v.split(','))
                .map(|c| c.trim().to_ascii_lowercase())
                .filter(|c| !c.is_empty())
                .collect();
            assert_eq!(codings, ["chunked"], "{head:?}");
        }
    }
    assert!(body.len() as u64 <= MAX_BODY);
    if head.version == tiny_http::HTTPVersion(1, 1) {
        assert_eq!(values("host").len(), 1, "{head:?}");
    }
    for header in &head.headers {
        assert!(
            !header.value.as_str().bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)),
            "{header:?}"
        );
    }
    assert!(head.target.starts_with('/') || head.target == "*", "{head:?}");
}
