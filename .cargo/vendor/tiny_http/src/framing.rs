//! PATCH(airbyte-wrapper): how a request is framed on the wire, decided in one place and strictly
//! (RFC 9112 §2.2, §3, §5, §6, §7.1), so that this server never reads a request's bytes
//! differently from a proxy in front of it.
//!
//! Everything here is pure: bytes in, a verdict out. [`HeadScanner`] finds where a head ends as
//! bytes arrive (refusing bare LFs and oversized lines at once, never waiting for a timeout on
//! bytes that cannot become a head); [`parse_head`] reads a complete head with `httparse` (the
//! parser hyper uses) and applies the framing rules; [`ChunkedDecoder`] decodes a chunked body
//! with `httparse::parse_chunk_size`. Any [`Refusal`] means the connection's framing can no longer
//! be trusted: it is answered and closed, and no further byte of it is read as a request.

use std::borrow::Cow;
use std::str::FromStr;

use crate::common::{is_tchar, HTTPVersion, HeaderFields, Method, StatusCode};

/// Longest request line or header line, with the CR before its LF (so 8191 bytes of text).
pub const MAX_LINE_BYTES: usize = 8 * 1024;
/// Most header fields in a head (and in a chunked body's trailer section).
pub const MAX_HEADERS: usize = 100;
/// Largest head, request line and empty lines before it included.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Longest chunk-size line, extensions included.
const MAX_CHUNK_LINE_BYTES: usize = 1024;

/// A request that cannot be accepted as framed: the status and a detail naming what is wrong and
/// what to do instead. After a refusal the connection is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub detail: Cow<'static, str>,
    /// The request's method and target, when its head could be read.
    pub method: Option<Method>,
    pub target: Option<String>,
}

impl Refusal {
    pub(crate) fn new(status: u16, detail: impl Into<Cow<'static, str>>) -> Refusal {
        Refusal {
            status: StatusCode(status),
            detail: detail.into(),
            method: None,
            target: None,
        }
    }

    fn bad(detail: impl Into<Cow<'static, str>>) -> Refusal {
        Refusal::new(400, detail)
    }
}

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (neither `Content-Length` nor `Transfer-Encoding`).
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A request head, read and checked.
#[derive(Debug, Clone)]
pub struct Head {
    pub method: Method,
    /// The target in origin form (`/path?query`), also when it was sent in absolute form.
    pub target: String,
    pub version: HTTPVersion,
    pub headers: HeaderFields,
    pub body: BodyFraming,
    /// `Expect: 100-continue` on an HTTP/1.1 request.
    pub expects_continue: bool,
    /// Whether the client keeps the connection open after this request (HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`).
    pub keep_alive: bool,
}

/// Finds the end of a request head in bytes as they arrive, looking at each byte once.
///
/// It refuses, as soon as the bytes show it: a bare LF or a bare CR (line endings are CRLF only,
/// so that a bare LF can never hide a header from a proxy that reads it differently), a first byte
/// that cannot begin a method, a line or a head over its limit.
#[derive(Debug, Default)]
pub struct HeadScanner {
    /// Bytes of the buffer already looked at.
    scanned: usize,
    /// Where the current line starts.
    line_start: usize,
    /// Lines of the head so far (the request line included), empty lines before it not counted.
    lines: usize,
}

impl HeadScanner {
    pub fn new() -> HeadScanner {
        HeadScanner::default()
    }

    /// Looks at `buf` (which starts at the request's first byte and only grows between calls):
    /// `Ok(Some(end))` when the head is complete in `buf[..end]`, `Ok(None)` when more is needed.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, Refusal> {
        while self.scanned < buf.len() {
            let i = self.scanned;
            let b = buf[i];
            self.scanned += 1;
            if i == self.line_start && self.lines == 0 && b != b'\r' && !is_tchar(b) {
                return Err(Refusal::bad(
                    "the request does not begin with an HTTP method: this server speaks HTTP/1.1 (no TLS, no HTTP/2 preface)",
                ));
            }
            if i > 0 && buf[i - 1] == b'\r' && b != b'\n' {
                return Err(bare("CR"));
            }
            if b != b'\n' {
                // PATCH(airbyte-wrapper): the bytes up to the next CR or LF (none of which can be
                // a bare CR or LF) are taken at once rather than one turn of this loop each,
                // which cost more than parsing the head; the limits are judged at the first byte
                // over them, as before.
                let ordinary = match b {
                    b'\r' => 0,
                    _ => buf[i + 1..]
                        .iter()
                        .position(|&c| c == b'\r' || c == b'\n')
                        .unwrap_or(buf.len() - i - 1),
                };
                let last = i + ordinary;
                // The first byte over a limit decides which; the line's, when both are at once.
                let line_over_at = self.line_start + MAX_LINE_BYTES;
                if last >= line_over_at.min(MAX_HEAD_BYTES) {
                    return Err(match line_over_at <= MAX_HEAD_BYTES {
                        true => self.too_long(),
                        false => head_too_large(),
                    });
                }
                self.scanned = last + 1;
                continue;
            }
            if i == 0 || buf[i - 1] != b'\r' {
                return Err(bare("LF"));
            }
            let empty = i - 1 == self.line_start;
            self.line_start = i + 1;
            match (empty, self.lines) {
                (true, 0) => {} // an empty line before the request line is ignored (§2.2)
                (true, _) => return Ok(Some(i + 1)),
                (false, n) if n > MAX_HEADERS => return Err(too_many_headers()),
                (false, _) => self.lines += 1,
            }
        }
        Ok(None)
    }

    fn too_long(&self) -> Refusal {
        if self.lines == 0 {
            Refusal::new(
                414,
                format!(
                    "the request line is longer than {MAX_LINE_BYTES} bytes; send a shorter target"
                ),
            )
        } else {
            Refusal::new(
                431,
                format!("a header line is longer than {MAX_LINE_BYTES} bytes"),
            )
        }
    }
}

fn bare(what: &str) -> Refusal {
    Refusal::bad(format!(
        "the request has a bare {what}: lines of a request head must end with CRLF (RFC 9112 §2.2)"
    ))
}

fn head_too_large() -> Refusal {
    Refusal::new(
        431,
        format!("the request head is larger than {MAX_HEAD_BYTES} bytes"),
    )
}

fn too_many_headers() -> Refusal {
    Refusal::new(
        431,
        format!("the request has more than {MAX_HEADERS} header fields"),
    )
}

/// Reads a complete head (as [`HeadScanner`] found it) and decides the request's framing.
pub fn parse_head(bytes: &[u8]) -> Result<Head, Refusal> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut fields);
    match request.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(Refusal::bad("the request head is incomplete"))
        }
        Err(e) => return Err(refusal_for(e, bytes)),
    }
    let method = Method::from_str(request.method.unwrap_or_default())
        .map_err(|_| Refusal::bad("the method is not a token"))?;
    let version = match request.version {
        Some(0) => HTTPVersion(1, 0),
        _ => HTTPVersion(1, 1),
    };
    let target = origin_form(request.path.unwrap_or_default(), &method)?;

    let bytes = request
        .headers
        .iter()
        .map(|f| f.name.len() + f.value.len())
        .sum();
    let mut headers = HeaderFields::with_capacity(request.headers.len(), bytes);
    let mut fields = Fields::default();
    for field in request.headers.iter() {
        if !field.name.is_ascii() {
            return Err(Refusal::bad("a field name is not ASCII"));
        }
        let value = ascii_value(field.value);
        fields.note(field.name, field.value, &value)?;
        headers.push(field.name, &value);
    }
    let body = fields.body_framing(&version)?;
    fields.check_host(&version)?;
    let expects_continue = match fields.expect {
        None => false,
        Some(Expectation::Continue) => version == HTTPVersion(1, 1),
        Some(Expectation::Other) => {
            return Err(Refusal::new(
                417,
                "the only expectation this server meets is 'Expect: 100-continue'",
            ))
        }
    };
    let keep_alive = match version {
        HTTPVersion(1, 0) => fields.keep_alive && !fields.close,
        _ => !fields.close,
    };
    Ok(Head {
        method,
        target,
        version,
        headers,
        body,
        expects_continue,
        keep_alive,
    })
}

/// What httparse's error means for this head, with the fix in the detail.
fn refusal_for(error: httparse::Error, bytes: &[u8]) -> Refusal {
    use httparse::Error as E;
    match error {
        E::Version if names_a_later_version(bytes) => Refusal::new(
            505,
            "this server speaks HTTP/1.1 and HTTP/1.0 only; send the request as HTTP/1.1",
        ),
        E::Version => Refusal::bad("the request line must end with HTTP/1.1 or HTTP/1.0"),
        E::HeaderName => Refusal::bad(
            "a header field is malformed: its name must be a token followed directly by ':' (no whitespace before the colon), and a line must not begin with whitespace (obs-fold is not accepted, RFC 9112 §5.2)",
        ),
        E::HeaderValue => Refusal::bad(
            "a header value holds a control character (such as NUL, CR or LF); field values may hold visible characters, spaces and tabs only",
        ),
        E::TooManyHeaders => too_many_headers(),
        E::Token | E::NewLine | E::Status => Refusal::bad(
            "the request line is malformed: it must be 'METHOD target HTTP/1.1' separated by single spaces",
        ),
    }
}

/// Whether the request line ends with `HTTP/<major>.<minor>` for a major version above 1.
fn names_a_later_version(bytes: &[u8]) -> bool {
    let line = bytes
        .split(|&b| b == b'\r')
        .find(|l| !l.is_empty() && l != b"\n");
    let Some(line) = line else { return false };
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] => {
            major.is_ascii_digit() && minor.is_ascii_digit() && *major >= b'2'
        }
        _ => false,
    }
}

/// The request target as the path (and query) the server routes by (RFC 9112 §3.2): origin form
/// as it is, absolute form (`http://host/path`, which a server must accept) reduced to its path,
/// `*` for OPTIONS. Other forms (a CONNECT authority) are refused.
fn origin_form(target: &str, method: &Method) -> Result<String, Refusal> {
    if !target.is_ascii() {
        return Err(Refusal::bad(
            "the request target holds a byte that is not ASCII; percent-encode it (RFC 3986)",
        ));
    }
    if target.starts_with('/') || (target == "*" && *method == Method::Options) {
        return Ok(target.to_string());
    }
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &target[7..]
    } else if lower.starts_with("https://") {
        &target[8..]
    } else {
        return Err(Refusal::bad(
            "the request target must be a path such as /datasource, or an absolute http:// URI",
        ));
    };
    let path_at = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(path_at);
    if authority.is_empty() || authority.contains('@') || path.starts_with('#') {
        return Err(Refusal::bad(
            "the absolute request target must name a host and no user information",
        ));
    }
    Ok(match path.strip_prefix('?') {
        Some(_) => format!("/{path}"),
        None if path.is_empty() => "/".to_string(),
        None => path.to_string(),
    })
}

/// A field's value as the request keeps it: ASCII (as `Header`s hold values), each byte above
/// 0x7F (obs-text, which RFC 9110 allows) becoming DEL, a character no header the service reads
/// accepts, so that it is refused with a clear answer where it matters and ignored where it does
/// not. Made once per field, for the framing and for the request.
fn ascii_value(value: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(value) {
        Ok(text) if text.is_ascii() => Cow::Borrowed(text),
        _ => Cow::Owned(
            value
                .iter()
                .map(|&b| {
                    if b.is_ascii() {
                        char::from(b)
                    } else {
                        '\u{7f}'
                    }
                })
                .collect(),
        ),
    }
}

enum Expectation {
    Continue,
    Other,
}

/// The fields that decide framing and connection handling, gathered from every header line.
#[derive(Default)]
struct Fields {
    content_length: Option<u64>,
    /// Transfer codings in order, over all `Transfer-Encoding` lines, lower case.
    transfer_codings: Vec<String>,
    transfer_encoding_lines: usize,
    hosts: usize,
    host_is_valid: bool,
    expect: Option<Expectation>,
    close: bool,
    keep_alive: bool,
}

impl Fields {
    /// Notes one field, its value as sent (`value`) and as the request keeps it (`text`).
    fn note(&mut self, name: &str, value: &[u8], text: &str) -> Result<(), Refusal> {
        if name.eq_ignore_ascii_case("content-length") {
            let length = content_length(value)?;
            if self.content_length.is_some_and(|known| known != length) {
                return Err(Refusal::bad(
                    "the request has Content-Length headers with different values; send exactly one",
                ));
            }
            self.content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            self.transfer_encoding_lines += 1;
            self.transfer_codings
                .extend(list(text).map(|coding| coding.to_ascii_lowercase()));
        } else if name.eq_ignore_ascii_case("host") {
            self.hosts += 1;
            self.host_is_valid = is_valid_host(value);
        } else if name.eq_ignore_ascii_case("expect") {
            let wanted = if text.trim().eq_ignore_ascii_case("100-continue") {
                Expectation::Continue
            } else {
                Expectation::Other
            };
            if !matches!(self.expect, Some(Expectation::Other)) {
                self.expect = Some(wanted);
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for option in list(text) {
                self.close |= option.eq_ignore_ascii_case("close");
                self.keep_alive |= option.eq_ignore_ascii_case("keep-alive");
            }
        }
        Ok(())
    }

    /// RFC 9112 §6: `Transfer-Encoding` wins only when it is exactly `chunked`, and never together
    /// with `Content-Length` or on HTTP/1.0, where the two could be read differently by a proxy.
    fn body_framing(&self, version: &HTTPVersion) -> Result<BodyFraming, Refusal> {
        if self.transfer_encoding_lines == 0 {
            return Ok(match self.content_length {
                None | Some(0) => BodyFraming::None,
                Some(n) => BodyFraming::Length(n),
            });
        }
        if self.content_length.is_some() {
            return Err(Refusal::bad(
                "the request has both Content-Length and Transfer-Encoding; send only one of them (RFC 9112 §6.1)",
            ));
        }
        if *version == HTTPVersion(1, 0) {
            return Err(Refusal::bad(
                "Transfer-Encoding is not part of HTTP/1.0; send Content-Length, or the request as HTTP/1.1",
            ));
        }
        let codings = &self.transfer_codings;
        if codings.last().map(String::as_str) != Some("chunked") {
            return Err(Refusal::bad(
                "Transfer-Encoding must end with 'chunked': this server reads only chunked bodies or bodies with a Content-Length",
            ));
        }
        if codings.iter().filter(|c| *c == "chunked").count() > 1 {
            return Err(Refusal::bad(
                "Transfer-Encoding names 'chunked' more than once",
            ));
        }
        if codings.len() > 1 {
            return Err(Refusal::new(
                501,
                format!(
                    "this server does not implement the transfer coding '{}'; send the body with 'Transfer-Encoding: chunked' alone",
                    codings[0].escape_debug()
                ),
            ));
        }
        Ok(BodyFraming::Chunked)
    }

    /// RFC 9112 §3.2: an HTTP/1.1 request has exactly one valid `Host`; HTTP/1.0 at most one.
    fn check_host(&self, version: &HTTPVersion) -> Result<(), Refusal> {
        match self.hosts {
            0 if *version == HTTPVersion(1, 1) => Err(Refusal::bad(
                "an HTTP/1.1 request must carry a Host header (RFC 9112 §3.2)",
            )),
            0 => Ok(()),
            1 if self.host_is_valid => Ok(()),
            1 => Err(Refusal::bad(
                "the Host header must be a host name or address with an optional port",
            )),
            _ => Err(Refusal::bad(
                "the request has more than one Host header; send exactly one",
            )),
        }
    }
}

/// The elements of a comma-separated field value, without surrounding whitespace, empty ones
/// skipped (RFC 9110 §5.6.1).
fn list(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(|e| e.trim_matches([' ', '\t']))
        .filter(|e| !e.is_empty())
}

/// `Content-Length = 1*DIGIT` (RFC 9110 §8.6): anything else (a sign, a separator, hex, a list) is
/// refused; a value too large for 64 bits reads as the largest, so that it is refused as too large.
fn content_length(value: &[u8]) -> Result<u64, Refusal> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(Refusal::bad(
            "Content-Length must be a decimal number of bytes, digits only",
        ));
    }
    Ok(value.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// `Host = uri-host [ ":" port ]`, or empty (RFC 9112 §3.2): a registered name, an IPv4 address or
/// a bracketed IP literal.
fn is_valid_host(value: &[u8]) -> bool {
    let (host, port) = match value.iter().rposition(|&b| b == b':') {
        Some(i) if !value[i..].contains(&b']') => (&value[..i], Some(&value[i + 1..])),
        _ => (value, None),
    };
    let host_ok = match host {
        [b'[', inner @ .., b']'] => {
            !inner.is_empty()
                && inner
                    .iter()
                    .all(|&b| b.is_ascii_hexdigit() || b":.vV".contains(&b))
        }
        _ => host
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b)),
    };
    host_ok && port.is_none_or(|p| p.iter().all(u8::is_ascii_digit))
}

/// Decodes a chunked body (RFC 9112 §7.1) as its bytes arrive: sizes with httparse, nothing lenient
/// (a size that is not hex or overflows, data without its CRLF, a control character in a chunk
/// extension, a malformed trailer field all refuse the request), the total bounded.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: ChunkState,
    total: u64,
    max: u64,
    /// Where the trailer section ends, as far as it has arrived.
    trailer: HeadScanner,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

impl ChunkedDecoder {
    /// A decoder that refuses bodies longer than `max` bytes with 413.
    pub fn new(max: u64) -> ChunkedDecoder {
        ChunkedDecoder {
            state: ChunkState::Size,
            total: 0,
            max,
            // Its request line is behind it: an empty line ends the section.
            trailer: HeadScanner {
                lines: 1,
                ..HeadScanner::default()
            },
        }
    }

    /// Whether the last chunk and the trailer section have been read.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes what it can of `input`, appending the body's bytes to `body`; returns how many
    /// bytes of `input` it used. Fewer than all of them (without being done) means that it needs
    /// more input to go on.
    pub fn decode(&mut self, input: &[u8], body: &mut Vec<u8>) -> Result<usize, Refusal> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            let step = match self.state {
                ChunkState::Done => return Ok(used),
                ChunkState::Size => self.size(rest)?,
                ChunkState::Data(left) => {
                    let n = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    body.extend_from_slice(&rest[..n]);
                    self.state = match left - n as u64 {
                        0 => ChunkState::DataEnd,
                        left => ChunkState::Data(left),
                    };
                    Some(n)
                }
                ChunkState::DataEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        self.state = ChunkState::Size;
                        Some(2)
                    }
                    [] | [b'\r'] => None,
                    _ => {
                        return Err(Refusal::bad(
                            "a chunk's data is not followed by CRLF: the chunk size does not match its data",
                        ))
                    }
                },
                ChunkState::Trailers => self.trailers(rest)?,
            };
            match step {
                Some(0) if !matches!(self.state, ChunkState::Done) => return Ok(used),
                Some(n) => used += n,
                None => return Ok(used),
            }
        }
    }

    /// A chunk-size line; `None` when it is not complete yet.
    fn size(&mut self, rest: &[u8]) -> Result<Option<usize>, Refusal> {
        // Parsed once its line has arrived, so that a line arriving a byte at a time costs one
        // parse; whether it is too long is decided by its first bytes alone, so that the verdict
        // never depends on how the bytes arrived.
        let window = &rest[..rest.len().min(MAX_CHUNK_LINE_BYTES)];
        let Some(lf) = window.iter().position(|&b| b == b'\n') else {
            return match rest.len() >= MAX_CHUNK_LINE_BYTES {
                true => Err(Refusal::bad("a chunk-size line is too long")),
                false => Ok(None),
            };
        };
        let (end, size) = match httparse::parse_chunk_size(&rest[..=lf]) {
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) | Err(_) => return Err(Refusal::bad(
                "a chunk size is not a hexadecimal number of at most 15 digits followed by CRLF",
            )),
        };
        // httparse takes any byte in a chunk extension, a bare LF among them: refuse control
        // characters there, as in a field value.
        if rest[..end - 2]
            .iter()
            .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
        {
            return Err(Refusal::bad("a chunk extension holds a control character"));
        }
        self.total = self.total.saturating_add(size);
        if self.total > self.max {
            return Err(body_too_large(self.max));
        }
        self.state = if size == 0 {
            ChunkState::Trailers
        } else {
            ChunkState::Data(size)
        };
        Ok(Some(end))
    }

    /// The trailer section after the last chunk (fields, then an empty line), checked and dropped.
    /// `rest` starts at the section's first byte each time until it is complete.
    fn trailers(&mut self, rest: &[u8]) -> Result<Option<usize>, Refusal> {
        if rest.starts_with(b"\r\n") {
            self.state = ChunkState::Done;
            return Ok(Some(2));
        }
        let Some(end) = self.trailer.scan(rest)? else {
            return Ok(None);
        };
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        match httparse::parse_headers(&rest[..end], &mut fields) {
            Ok(httparse::Status::Complete(_)) => {
                self.state = ChunkState::Done;
                Ok(Some(end))
            }
            _ => Err(Refusal::bad(
                "a trailer field after the last chunk is malformed",
            )),
        }
    }
}

/// 413 for a body over the limit.
pub fn body_too_large(max: u64) -> Refusal {
    Refusal::new(
        413,
        format!("the request body exceeds the limit of {max} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans `bytes` whole and parses the head found.
    fn head(bytes: &str) -> Result<Head, Refusal> {
        let end = HeadScanner::new()
            .scan(bytes.as_bytes())?
            .expect("a complete head");
        parse_head(&bytes.as_bytes()[..end])
    }

    fn refused(bytes: &str) -> u16 {
        head(bytes).expect_err(bytes).status.0
    }

    fn framing(headers: &str) -> Result<BodyFraming, Refusal> {
        head(&format!("POST / HTTP/1.1\r\nHost: x\r\n{headers}\r\n")).map(|h| h.body)
    }

    #[test]
    fn a_plain_head_is_read_whole() {
        let h = head("GET /a?b=c HTTP/1.1\r\nHost: example.com:8080\r\nX-A: 1\r\n\r\n").unwrap();
        assert_eq!(h.method, Method::Get);
        assert_eq!(h.target, "/a?b=c");
        assert_eq!(h.version, HTTPVersion(1, 1));
        assert_eq!(h.headers.len(), 2);
        assert_eq!(h.body, BodyFraming::None);
        assert!(h.keep_alive && !h.expects_continue);
    }

    #[test]
    fn the_scanner_finds_the_end_however_the_bytes_arrive() {
        let text = b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\nBODY";
        for split in 0..text.len() {
            let mut scanner = HeadScanner::new();
            let first = scanner.scan(&text[..split]).unwrap();
            let end = first.or_else(|| scanner.scan(text).unwrap());
            assert_eq!(end, Some(text.len() - 4), "split at {split}");
        }
    }

    #[test]
    fn bare_line_endings_are_refused_at_once() {
        let mut scanner = HeadScanner::new();
        assert_eq!(scanner.scan(b"GET / HTTP/1.1\n").unwrap_err().status.0, 400);
        let mut scanner = HeadScanner::new();
        assert_eq!(
            scanner
                .scan(b"GET / HTTP/1.1\r\nX-A: 1\nContent-Length: 5")
                .unwrap_err()
                .status
                .0,
            400
        );
        let mut scanner = HeadScanner::new();
        assert_eq!(
            scanner
                .scan(b"GET / HTTP/1.1\r\nX-A: a\rb\r\n")
                .unwrap_err()
                .status
                .0,
            400
        );
        let mut scanner = HeadScanner::new();
        assert!(
            scanner.scan(b"\x16\x03\x01\x02\x00").is_err(),
            "a TLS hello"
        );
    }

    /// PATCH(airbyte-wrapper): a head is scanned a run of bytes at a time; the refusal still names
    /// the limit its first byte over crosses, whole or in pieces.
    #[test]
    fn the_limit_crossed_first_is_the_one_named() {
        let field = |n: usize| format!("X: {}\r\n", "a".repeat(n - 5));
        let refused = |fields: usize, last: usize| {
            let text = format!(
                "GET / HTTP/1.1\r\n{}{}",
                field(7000).repeat(fields),
                field(last)
            );
            let whole = HeadScanner::new().scan(text.as_bytes()).unwrap_err();
            let mut scanner = HeadScanner::new();
            let pieces = (1..=text.len())
                .step_by(997)
                .chain([text.len()])
                .find_map(|end| scanner.scan(&text.as_bytes()[..end]).err())
                .unwrap();
            assert_eq!(whole.detail, pieces.detail);
            whole.detail
        };
        // Lines within their limit that add up to more than a head may hold.
        assert!(refused(9, 7000).contains("head is larger"));
        // A long line that starts early enough crosses its own limit first...
        assert!(refused(8, 9000).contains("header line is longer"));
        // ...and one that starts late crosses the head's first.
        assert!(refused(9, 9000).contains("head is larger"));
    }

    #[test]
    fn lines_and_heads_have_limits() {
        let line = |n: usize| {
            format!(
                "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
                "a".repeat(n - 3)
            )
        };
        assert!(head(&line(MAX_LINE_BYTES - 1)).is_ok());
        assert_eq!(
            HeadScanner::new()
                .scan(line(MAX_LINE_BYTES).as_bytes())
                .unwrap_err()
                .status
                .0,
            431
        );
        let target = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_LINE_BYTES));
        assert_eq!(
            HeadScanner::new()
                .scan(target.as_bytes())
                .unwrap_err()
                .status
                .0,
            414
        );
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "X: 1\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(
            HeadScanner::new()
                .scan(many.as_bytes())
                .unwrap_err()
                .status
                .0,
            431
        );
        let enough = format!(
            "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
            "X: 1\r\n".repeat(MAX_HEADERS - 1)
        );
        assert!(head(&enough).is_ok());
    }

    #[test]
    fn content_length_is_digits_and_one_value() {
        assert_eq!(
            framing("Content-Length: 49\r\n"),
            Ok(BodyFraming::Length(49))
        );
        assert_eq!(framing("Content-Length: 0\r\n"), Ok(BodyFraming::None));
        assert_eq!(
            framing("Content-Length: 5\r\nContent-Length: 005\r\n"),
            Ok(BodyFraming::Length(5))
        );
        assert_eq!(
            framing("Content-Length: 99999999999999999999999\r\n"),
            Ok(BodyFraming::Length(u64::MAX))
        );
        for bad in [
            "+49",
            "4_9",
            "0x31",
            "-1",
            "4 9",
            "1,1",
            "",
            "5\r\nContent-Length: 6",
        ] {
            let e = framing(&format!("Content-Length: {bad}\r\n")).unwrap_err();
            assert_eq!(e.status.0, 400, "{bad:?}");
        }
    }

    #[test]
    fn transfer_encoding_is_exactly_chunked() {
        assert_eq!(
            framing("Transfer-Encoding: chunked\r\n"),
            Ok(BodyFraming::Chunked)
        );
        assert_eq!(
            framing("Transfer-Encoding: Chunked \r\n"),
            Ok(BodyFraming::Chunked)
        );
        for (value, status) in [
            ("xchunked", 400),
            ("gzip", 400),
            ("chunked, identity", 400),
            ("chunked, chunked", 400),
            ("chunked;x=1", 400),
            ("", 400),
            ("gzip, chunked", 501),
        ] {
            let e = framing(&format!("Transfer-Encoding: {value}\r\n")).unwrap_err();
            assert_eq!(e.status.0, status, "{value:?}");
        }
        let e = framing("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n").unwrap_err();
        assert_eq!(e.status.0, 501, "codings are a list over every line");
        for both in [
            "Content-Length: 49\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked\r\nContent-Length: 49\r\n",
        ] {
            assert_eq!(framing(both).unwrap_err().status.0, 400);
        }
        assert_eq!(
            refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
    }

    #[test]
    fn fields_that_could_be_read_two_ways_are_refused() {
        for bad in [
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\tfolded\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: user@x\r\n\r\n",
            "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET / HTTP/1.2x\r\nHost: x\r\n\r\n",
            "GET example.com HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET http://u@x/ HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            assert_eq!(refused(bad), 400, "{bad:?}");
        }
        assert_eq!(refused("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
        assert_eq!(refused("PRI * HTTP/2.0\r\n\r\n"), 505);
        assert_eq!(
            refused("POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n"),
            417
        );
        assert_eq!(
            parse_head("GET /\u{e9} HTTP/1.1\r\nHost: x\r\n\r\n".as_bytes())
                .unwrap_err()
                .status
                .0,
            400
        );
    }

    #[test]
    fn hosts_targets_and_connections() {
        assert!(
            head("GET / HTTP/1.0\r\n\r\n").is_ok(),
            "HTTP/1.0 needs no Host"
        );
        assert!(
            head("GET / HTTP/1.1\r\nHost:\r\n\r\n").is_ok(),
            "an empty Host is valid"
        );
        for host in ["[::1]:8080", "10.0.0.1", "airbyte.example.com", "x:1"] {
            assert!(
                head(&format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n")).is_ok(),
                "{host}"
            );
        }
        let absolute =
            |t: &str| head(&format!("POST {t} HTTP/1.1\r\nHost: x\r\n\r\n")).map(|h| h.target);
        assert_eq!(
            absolute("http://127.0.0.1:8080/datasource").unwrap(),
            "/datasource"
        );
        assert_eq!(
            absolute("HTTPS://x/sink?check=true").unwrap(),
            "/sink?check=true"
        );
        assert_eq!(absolute("http://x").unwrap(), "/");
        assert_eq!(absolute("http://x?a").unwrap(), "/?a");
        assert!(head("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").is_ok());
        assert_eq!(refused("GET * HTTP/1.1\r\nHost: x\r\n\r\n"), 400);

        let alive = |h: &str| head(h).unwrap().keep_alive;
        assert!(alive("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(!alive(
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n"
        ));
        assert!(!alive("GET / HTTP/1.0\r\n\r\n"));
        assert!(alive("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        let expects = |h: &str| head(h).unwrap().expects_continue;
        assert!(expects(
            "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\n\r\n"
        ));
        assert!(
            !expects("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"),
            "ignored on 1.0"
        );
    }

    #[test]
    fn header_values_beyond_ascii_become_del() {
        let h = parse_head("GET / HTTP/1.1\r\nHost: x\r\nX-Name: caf\u{e9}\r\n\r\n".as_bytes())
            .unwrap();
        assert_eq!(h.headers.as_headers()[1].value.as_str(), "caf\u{7f}\u{7f}");
        assert_eq!(h.headers.get("x-name"), Some("caf\u{7f}\u{7f}"));
    }

    #[test]
    fn header_fields_are_kept_in_order_and_found_by_name_in_any_case() {
        let h = parse_head(
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Id: first\r\nx-id: second\r\nEmpty:\r\nAccept: */*\r\n\r\n",
        )
        .unwrap();
        let fields: Vec<_> = h.headers.iter().collect();
        assert_eq!(
            fields,
            [
                ("Host", "x"),
                ("X-Id", "first"),
                ("x-id", "second"),
                ("Empty", ""),
                ("Accept", "*/*")
            ]
        );
        assert_eq!(h.headers.get("X-ID"), Some("first"));
        assert_eq!(h.headers.get("empty"), Some(""));
        assert_eq!(h.headers.get("X-Other"), None);
        let headers = h.headers.as_headers();
        assert_eq!(headers.len(), 5);
        assert!(headers[2].field.equiv("X-Id") && headers[2].value.as_str() == "second");
        assert!(headers[3].value.as_str().is_empty());
    }

    /// Decodes `input` fed in pieces of `step` bytes, as a connection would.
    fn chunked(input: &[u8], step: usize, max: u64) -> Result<(Vec<u8>, usize), Refusal> {
        let mut decoder = ChunkedDecoder::new(max);
        let (mut body, mut used, mut available) = (Vec::new(), 0, 0);
        while !decoder.is_done() {
            if available == input.len() && used == available {
                return Err(Refusal::bad("ran out of input"));
            }
            available = (available + step).min(input.len());
            used += decoder.decode(&input[used..available], &mut body)?;
        }
        Ok((body, used))
    }

    #[test]
    fn chunked_bodies_decode_in_any_pieces() {
        let input = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
        for step in [1, 2, 3, 7, input.len()] {
            let (body, used) = chunked(input, step, 100).unwrap();
            assert_eq!(body, b"hello world", "pieces of {step}");
            assert_eq!(used, input.len() - 4, "stops before the next request");
        }
        assert_eq!(chunked(b"0\r\n\r\n", 1, 0).unwrap().0, b"");
    }

    /// Found by the request_framing fuzz target: a chunk-size line over the limit was refused as
    /// too long (400) when it arrived in pieces, but judged by its size (413) when it arrived whole.
    #[test]
    fn a_long_chunk_line_is_refused_alike_however_it_arrives() {
        let mut input = b"66666;".to_vec();
        input.extend(std::iter::repeat_n(b'6', MAX_CHUNK_LINE_BYTES));
        input.extend_from_slice(b"\r\n");
        for step in [1, 3, 17, input.len()] {
            assert_eq!(
                chunked(&input, step, 10).unwrap_err().status.0,
                400,
                "pieces of {step}"
            );
        }
    }

    #[test]
    fn malformed_or_oversized_chunks_are_refused() {
        for (input, status) in [
            (&b"zz\r\nabc\r\n0\r\n\r\n"[..], 400),
            (b"fffffffffffffffffff\r\n", 400),
            (b"3\r\nabcd\r\n0\r\n\r\n", 400),
            (b"3\nabc\r\n0\r\n\r\n", 400),
            (b"3;a\nb\r\nabc\r\n0\r\n\r\n", 400),
            (b"0\r\nbad trailer\r\n\r\n", 400),
            (b"0\r\nX: 1\n\r\n", 400),
            (b"b\r\nhello world\r\n0\r\n\r\n", 413),
        ] {
            let e = chunked(input, 1, 10).unwrap_err();
            assert_eq!(e.status.0, status, "{:?}", String::from_utf8_lossy(input));
        }
    }
}
