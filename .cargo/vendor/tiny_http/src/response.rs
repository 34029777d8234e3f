use crate::common::{is_field_value, is_token, HTTPVersion, Header, StatusCode};
use httpdate::HttpDate;
use std::cmp::Ordering;
use std::sync::mpsc::Receiver;

use std::borrow::Cow;
use std::io::Result as IoResult;
use std::io::{self, Cursor, Read, Write};
use std::rc::Rc;

use std::fs::File;

use std::str::FromStr;
use std::time::SystemTime;

/// Object representing an HTTP response whose purpose is to be given to a `Request`.
///
/// Some headers cannot be changed. Trying to define the value
/// of one of these will have no effect:
///
///  - `Connection`
///  - `Trailer`
///  - `Transfer-Encoding`
///  - `Upgrade`
///
/// Some headers have special behaviors:
///
///  - `Content-Encoding`: If you define this header, the library
///    will assume that the data from the `Read` object has the specified encoding
///    and will just pass-through.
///
///  - `Content-Length`: The length of the data should be set manually
///    using the `Reponse` object's API. Attempting to set the value of this
///    header will be equivalent to modifying the size of the data but the header
///    itself may not be present in the final result.
///
///  - `Content-Type`: You may only set this header to one value at a time. If you
///    try to set it more than once, the existing value will be overwritten. This
///    behavior differs from the default for most headers, which is to allow them to
///    be set multiple times in the same response.
///
pub struct Response<R> {
    reader: R,
    status_code: StatusCode,
    headers: Vec<Header>,
    /// PATCH(airbyte-wrapper): headers added with [`Response::add_named_header`], written after
    /// `headers` as they are: no `Header` (two allocations) each.
    named: Vec<(&'static str, Cow<'static, str>)>,
    data_length: Option<usize>,
    chunked_threshold: Option<usize>,
}

/// PATCH(airbyte-wrapper): a header [`Response::add_named_header`] refused: its name is not a
/// token, or its value holds a character other than visible ASCII, space and tab (a CR or LF
/// would end the header early and let the value write headers of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidHeader;

impl std::fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a header name must be a token and its value visible ASCII, spaces and tabs")
    }
}

impl std::error::Error for InvalidHeader {}

/// A `Response` without a template parameter.
pub type ResponseBox = Response<Box<dyn Read + Send>>;

/// Transfer encoding to use when sending the message.
/// Note that only *supported* encoding are listed here.
#[derive(Copy, Clone)]
enum TransferEncoding {
    Identity,
    Chunked,
}

impl FromStr for TransferEncoding {
    type Err = ();

    fn from_str(input: &str) -> Result<TransferEncoding, ()> {
        if input.eq_ignore_ascii_case("identity") {
            Ok(TransferEncoding::Identity)
        } else if input.eq_ignore_ascii_case("chunked") {
            Ok(TransferEncoding::Chunked)
        } else {
            Err(())
        }
    }
}

/// PATCH(airbyte-wrapper): the `Date` header's value for now, formatted once a second per thread
/// (hyper caches it the same way) instead of on every answer: it was over 1% of a warm request's
/// instructions. A connection's thread answers many requests, each in the second it is written.
fn http_date_now() -> Rc<str> {
    use std::cell::RefCell;
    use std::time::UNIX_EPOCH;
    thread_local! {
        static CACHED: RefCell<Option<(u64, Rc<str>)>> = const { RefCell::new(None) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        match &*cached {
            Some((at, date)) if *at == second => date.clone(),
            _ => {
                let date: Rc<str> = HttpDate::from(now).to_string().into();
                *cached = Some((second, date.clone()));
                date
            }
        }
    })
}

/// PATCH(airbyte-wrapper): the head, put together in memory so that it leaves in one write (with
/// the body, when that is small). Written piece by piece with `write!` it cost four formatted
/// writes per header, each through the sequential writer's mutex. The status line always says
/// HTTP/1.1, the version this server implements (RFC 9110 §6.2), also to HTTP/1.0 clients. The
/// headers the server adds (`first`, then the response's own, then `last`) are written as they
/// are, without a `Header` (two allocations each) made for them.
fn message_head(
    status_code: &StatusCode,
    first: &[Option<(&str, &str)>],
    headers: &[Header],
    named: &[(&'static str, Cow<'static, str>)],
    last: &[Option<(&str, &str)>],
    body_room: usize,
) -> Vec<u8> {
    let mut code = itoa::Buffer::new();
    let code = code.format(status_code.0);
    let reason = status_code.default_reason_phrase();
    let own = headers
        .iter()
        .map(|h| (h.field.as_str().as_str(), h.value.as_str()));
    let named = named.iter().map(|(name, value)| (*name, value.as_ref()));
    let first = first.iter().flatten().copied();
    let last = last.iter().flatten().copied();
    let fields = first.chain(own).chain(named).chain(last);
    // Room for exactly the head, and the body after it: grown on the way, the buffer was copied.
    let length = "HTTP/1.1 ".len()
        + code.len()
        + " ".len()
        + reason.len()
        + "\r\n\r\n".len()
        + fields
            .clone()
            .map(|(field, value)| field.len() + ": \r\n".len() + value.len())
            .sum::<usize>();
    let mut head = Vec::with_capacity(length + body_room);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(code.as_bytes());
    head.push(b' ');
    head.extend_from_slice(reason.as_bytes());
    head.extend_from_slice(b"\r\n");
    for (field, value) in fields {
        head.extend_from_slice(field.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// PATCH(airbyte-wrapper): bodies up to this size leave in the same write as the head.
const ONE_WRITE_BYTES: usize = 64 * 1024;

fn choose_transfer_encoding(
    status_code: StatusCode,
    request_headers: &[Header],
    http_version: &HTTPVersion,
    entity_length: &Option<usize>,
    has_additional_headers: bool,
    chunked_threshold: usize,
) -> TransferEncoding {
    use crate::util;

    // HTTP 1.0 doesn't support other encoding
    if *http_version <= (1, 0) {
        return TransferEncoding::Identity;
    }

    // Per section 3.3.1 of RFC7230:
    // A server MUST NOT send a Transfer-Encoding header field in any response with a status code
    // of 1xx (Informational) or 204 (No Content).
    if status_code.0 < 200 || status_code.0 == 204 {
        return TransferEncoding::Identity;
    }

    // parsing the request's TE header
    let user_request = request_headers
        .iter()
        // finding TE
        .find(|h| h.field.equiv("TE"))
        // getting its value
        .map(|h| h.value.clone())
        // getting the corresponding TransferEncoding
        .and_then(|value| {
            // getting list of requested elements
            let mut parse = util::parse_header_value(value.as_str()); // TODO: remove conversion

            // sorting elements by most priority
            parse.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(Ordering::Equal));

            // trying to parse each requested encoding
            for value in parse.iter() {
                // q=0 are ignored
                if value.1 <= 0.0 {
                    continue;
                }

                if let Ok(te) = TransferEncoding::from_str(value.0) {
                    return Some(te);
                }
            }

            // encoding not found
            None
        });

    if let Some(user_request) = user_request {
        return user_request;
    }

    // if we have additional headers, using chunked
    if has_additional_headers {
        return TransferEncoding::Chunked;
    }

    // if we don't have a Content-Length, or if the Content-Length is too big, using chunks writer
    if entity_length
        .as_ref()
        .is_none_or(|val| *val >= chunked_threshold)
    {
        return TransferEncoding::Chunked;
    }

    // Identity by default
    TransferEncoding::Identity
}

impl<R> Response<R>
where
    R: Read,
{
    /// Creates a new Response object.
    ///
    /// The `additional_headers` argument is a receiver that
    ///  may provide headers even after the response has been sent.
    ///
    /// All the other arguments are straight-forward.
    pub fn new(
        status_code: StatusCode,
        headers: Vec<Header>,
        data: R,
        data_length: Option<usize>,
        additional_headers: Option<Receiver<Header>>,
    ) -> Response<R> {
        let mut response = Response {
            reader: data,
            status_code,
            // PATCH(airbyte-wrapper): allocated when a header is added, not ahead of it.
            headers: Vec::new(),
            named: Vec::new(),
            data_length,
            chunked_threshold: None,
        };

        for h in headers {
            response.add_header(h)
        }

        // dummy implementation
        if let Some(additional_headers) = additional_headers {
            for h in additional_headers.iter() {
                response.add_header(h)
            }
        }

        response
    }

    /// Set a threshold for `Content-Length` where we chose chunked
    /// transfer. Notice that chunked transfer might happen regardless of
    /// this threshold, for instance when the request headers indicate
    /// it is wanted or when there is no `Content-Length`.
    pub fn with_chunked_threshold(mut self, length: usize) -> Response<R> {
        self.chunked_threshold = Some(length);
        self
    }

    /// Convert the response into the underlying `Read` type.
    ///
    /// This is mainly useful for testing as it must consume the `Response`.
    pub fn into_reader(self) -> R {
        self.reader
    }

    /// The current `Content-Length` threshold for switching over to
    /// chunked transfer. The default is 32768 bytes. Notice that
    /// chunked transfer is mutually exclusive with sending a
    /// `Content-Length` header as per the HTTP spec.
    pub fn chunked_threshold(&self) -> usize {
        self.chunked_threshold.unwrap_or(32768)
    }

    /// Adds a header to the list.
    /// Does all the checks.
    pub fn add_header<H>(&mut self, header: H)
    where
        H: Into<Header>,
    {
        let header = header.into();

        // ignoring forbidden headers
        if header.field.equiv("Connection")
            || header.field.equiv("Trailer")
            || header.field.equiv("Transfer-Encoding")
            || header.field.equiv("Upgrade")
        {
            return;
        }

        // if the header is Content-Length, setting the data length
        if header.field.equiv("Content-Length") {
            if let Ok(val) = usize::from_str(header.value.as_str()) {
                self.data_length = Some(val)
            }

            return;
        // if the header is Content-Type and it's already set, overwrite it
        } else if header.field.equiv("Content-Type") {
            // PATCH(airbyte-wrapper): one added by name is replaced too.
            self.named
                .retain(|(name, _)| !name.eq_ignore_ascii_case("Content-Type"));
            if let Some(content_type_header) = self
                .headers
                .iter_mut()
                .find(|h| h.field.equiv("Content-Type"))
            {
                content_type_header.value = header.value;
                return;
            }
        }

        self.headers.push(header);
    }

    /// PATCH(airbyte-wrapper): adds a header whose name the program knows when it is written, with
    /// the rules of [`Response::add_header`], without making a [`Header`] of it (two allocations
    /// and an ASCII check each, for what is usually a constant name and value). The value must be
    /// visible ASCII, spaces and tabs, and the name a token; anything else is refused, and nothing
    /// is added. Headers added this way are written after those added as `Header`s, and are not
    /// listed by [`Response::headers`].
    pub fn add_named_header(
        &mut self,
        name: &'static str,
        value: impl Into<Cow<'static, str>>,
    ) -> Result<(), InvalidHeader> {
        let value = value.into();
        if !is_token(name) || !is_field_value(&value) {
            return Err(InvalidHeader);
        }
        let special = [
            "Connection",
            "Trailer",
            "Transfer-Encoding",
            "Upgrade",
            "Content-Length",
        ];
        if special.iter().any(|s| name.eq_ignore_ascii_case(s)) {
            // Rare: their rules are `add_header`'s.
            let header = Header::from_bytes(name, value.as_bytes()).map_err(|()| InvalidHeader)?;
            self.add_header(header);
            return Ok(());
        }
        if name.eq_ignore_ascii_case("Content-Type") {
            self.headers.retain(|h| !h.field.equiv("Content-Type"));
            self.named
                .retain(|(name, _)| !name.eq_ignore_ascii_case("Content-Type"));
        }
        self.named.push((name, value));
        Ok(())
    }

    /// Whether a header named `name` was added, either way.
    fn has_header(&self, name: &'static str) -> bool {
        self.headers.iter().any(|h| h.field.equiv(name))
            || self.named.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// Returns the same request, but with an additional header.
    ///
    /// Some headers cannot be modified and some other have a
    ///  special behavior. See the documentation above.
    #[inline]
    pub fn with_header<H>(mut self, header: H) -> Response<R>
    where
        H: Into<Header>,
    {
        self.add_header(header.into());
        self
    }

    /// Returns the same request, but with a different status code.
    #[inline]
    pub fn with_status_code<S>(mut self, code: S) -> Response<R>
    where
        S: Into<StatusCode>,
    {
        self.status_code = code.into();
        self
    }

    /// Returns the same request, but with different data.
    pub fn with_data<S>(self, reader: S, data_length: Option<usize>) -> Response<S>
    where
        S: Read,
    {
        Response {
            reader,
            headers: self.headers,
            named: self.named,
            status_code: self.status_code,
            data_length,
            chunked_threshold: self.chunked_threshold,
        }
    }

    /// Prints the HTTP response to a writer.
    ///
    /// This function is the one used to send the response to the client's socket.
    /// Therefore you shouldn't expect anything pretty-printed or even readable.
    ///
    /// The HTTP version and headers passed as arguments are used to
    ///  decide which features (most notably, encoding) to use.
    ///
    /// PATCH(airbyte-wrapper): `keep_alive` says whether the connection stays open after this
    /// response; the `Connection` header says so when it is not the version's default. A 1xx,
    /// 204 or 304 response carries neither `Content-Length` nor `Transfer-Encoding` (RFC 9110
    /// §8.6, RFC 9112 §6.1), and no body.
    ///
    /// Note: does not flush the writer.
    pub fn raw_print<W: Write>(
        mut self,
        mut writer: W,
        http_version: &HTTPVersion,
        request_headers: &[Header],
        do_not_send_body: bool,
        keep_alive: bool,
    ) -> IoResult<()> {
        let bodiless = matches!(self.status_code.0, 100..=199 | 204 | 304);
        let transfer_encoding = choose_transfer_encoding(
            self.status_code,
            request_headers,
            http_version,
            &self.data_length,
            false, /* TODO */
            self.chunked_threshold(),
        );

        // PATCH(airbyte-wrapper): `Server` and `Date` unless the response has them, written ahead
        // of the response's own headers, as before; `Content-Length` or `Transfer-Encoding` and
        // `Connection` after them. None of them is made a `Header`, nor held in a `Vec`.
        let date = match self.has_header("Date") {
            true => None,
            false => Some(http_date_now()),
        };
        let server = match self.has_header("Server") {
            true => None,
            false => Some(("Server", "tiny-http (Rust)")),
        };
        let first = [server, date.as_deref().map(|date| ("Date", date))];

        // if the transfer encoding is identity, the content length must be known ; therefore if
        // we don't know it, we buffer the entire response first here
        // while this is an expensive operation, it is only ever needed for clients using HTTP 1.0
        let mut buffered = None;
        let data_length = match (self.data_length, transfer_encoding) {
            (Some(l), _) => Some(l),
            (None, TransferEncoding::Identity) if !bodiless => {
                let mut buf = Vec::new();
                self.reader.read_to_end(&mut buf)?;
                let l = buf.len();
                buffered = Some(Cursor::new(buf));
                Some(l)
            }
            _ => None,
        };
        // PATCH(airbyte-wrapper): borrowed, not boxed again (a `ResponseBox`'s reader is boxed).
        let mut reader: &mut dyn Read = match &mut buffered {
            Some(buffered) => buffered,
            None => &mut self.reader,
        };

        let do_not_send_body = do_not_send_body || bodiless;

        // preparing headers for transfer
        let mut length = itoa::Buffer::new();
        let length = length.format(data_length.unwrap_or(0));
        let framing = match transfer_encoding {
            _ if bodiless => None,
            TransferEncoding::Chunked => Some(("Transfer-Encoding", "chunked")),
            TransferEncoding::Identity => Some(("Content-Length", length)),
        };
        let connection = match (http_version, keep_alive) {
            (HTTPVersion(1, 0), true) => "keep-alive",
            (_, false) => "close",
            (_, true) => "",
        };
        let connection = (!connection.is_empty() && self.status_code.0 >= 200)
            .then_some(("Connection", connection));
        let last = [framing, connection];

        // The body is read into the head's buffer when it leaves in the same write.
        let one_write = matches!(transfer_encoding, TransferEncoding::Identity)
            && !do_not_send_body
            && data_length.unwrap_or(0) <= ONE_WRITE_BYTES;
        let body_room = if one_write {
            data_length.unwrap_or(0)
        } else {
            0
        };
        let mut head = message_head(
            &self.status_code,
            &first,
            &self.headers,
            &self.named,
            &last,
            body_room,
        );
        if do_not_send_body {
            return writer.write_all(&head);
        }
        match transfer_encoding {
            TransferEncoding::Chunked => {
                use chunked_transfer::Encoder;

                writer.write_all(&head)?;
                let mut writer = Encoder::new(writer);
                io::copy(&mut reader, &mut writer)?;
            }
            TransferEncoding::Identity => {
                let length = data_length.unwrap_or(0);
                if length <= ONE_WRITE_BYTES {
                    reader.take(length as u64).read_to_end(&mut head)?;
                    writer.write_all(&head)?;
                } else {
                    writer.write_all(&head)?;
                    io::copy(&mut reader.take(length as u64), &mut writer)?;
                }
            }
        }

        Ok(())
    }

    /// Retrieves the current value of the `Response` status code
    pub fn status_code(&self) -> StatusCode {
        self.status_code
    }

    /// Retrieves the current value of the `Response` data length
    pub fn data_length(&self) -> Option<usize> {
        self.data_length
    }

    /// Retrieves the current list of `Response` headers
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }
}

impl<R> Response<R>
where
    R: Read + Send + 'static,
{
    /// Turns this response into a `Response<Box<Read + Send>>`.
    pub fn boxed(self) -> ResponseBox {
        Response {
            reader: Box::new(self.reader) as Box<dyn Read + Send>,
            status_code: self.status_code,
            headers: self.headers,
            named: self.named,
            data_length: self.data_length,
            chunked_threshold: self.chunked_threshold,
        }
    }
}

impl Response<File> {
    /// Builds a new `Response` from a `File`.
    ///
    /// The `Content-Type` will **not** be automatically detected,
    ///  you must set it yourself.
    pub fn from_file(file: File) -> Response<File> {
        let file_size = file.metadata().ok().map(|v| v.len() as usize);

        Response::new(
            StatusCode(200),
            Vec::with_capacity(0),
            file,
            file_size,
            None,
        )
    }
}

impl Response<Cursor<Vec<u8>>> {
    pub fn from_data<D>(data: D) -> Response<Cursor<Vec<u8>>>
    where
        D: Into<Vec<u8>>,
    {
        let data = data.into();
        let data_len = data.len();

        Response::new(
            StatusCode(200),
            Vec::with_capacity(0),
            Cursor::new(data),
            Some(data_len),
            None,
        )
    }

    pub fn from_string<S>(data: S) -> Response<Cursor<Vec<u8>>>
    where
        S: Into<String>,
    {
        let data = data.into();
        let data_len = data.len();

        Response::new(
            StatusCode(200),
            vec![
                Header::from_bytes(&b"Content-Type"[..], &b"text/plain; charset=UTF-8"[..])
                    .unwrap(),
            ],
            Cursor::new(data.into_bytes()),
            Some(data_len),
            None,
        )
    }
}

impl Response<io::Empty> {
    /// Builds an empty `Response` with the given status code.
    pub fn empty<S>(status_code: S) -> Response<io::Empty>
    where
        S: Into<StatusCode>,
    {
        Response::new(
            status_code.into(),
            Vec::with_capacity(0),
            io::empty(),
            Some(0),
            None,
        )
    }

    /// DEPRECATED. Use `empty` instead.
    pub fn new_empty(status_code: StatusCode) -> Response<io::Empty> {
        Response::empty(status_code)
    }
}

impl Clone for Response<io::Empty> {
    fn clone(&self) -> Response<io::Empty> {
        Response {
            reader: io::empty(),
            status_code: self.status_code,
            headers: self.headers.clone(),
            named: self.named.clone(),
            data_length: self.data_length,
            chunked_threshold: self.chunked_threshold,
        }
    }
}

/// PATCH(airbyte-wrapper): headers added by name.
#[cfg(test)]
mod tests {
    use super::*;

    fn written<R: Read>(response: Response<R>) -> String {
        let mut out = Vec::new();
        response
            .raw_print(&mut out, &HTTPVersion(1, 1), &[], false, true)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_head_is_made_in_room_for_exactly_itself_and_the_body() {
        let named = [
            ("X-Request-Id", Cow::Borrowed("abc")),
            ("Location", Cow::Owned("/sink/1".repeat(40))),
        ];
        let first = [Some(("Server", "tiny-http (Rust)"))];
        let last = [Some(("Content-Length", "2")), None];
        let head = message_head(&StatusCode(201), &first, &[], &named, &last, 2);
        let text = std::str::from_utf8(&head).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 201 Created\r\nServer: "),
            "{text}"
        );
        assert!(text.ends_with("Content-Length: 2\r\n\r\n"), "{text}");
        assert_eq!(
            head.capacity(),
            head.len() + 2,
            "no growth, and the body's room"
        );
    }

    #[test]
    fn named_headers_are_written_after_the_others_as_given() {
        let mut response =
            Response::from_string("hi").with_header(Header::from_bytes("X-First", "1").unwrap());
        response
            .add_named_header("X-Request-Id", String::from("abc"))
            .unwrap();
        response
            .add_named_header("Cache-Control", "no-store")
            .unwrap();
        let text = written(response);
        let first = text.find("X-First: 1\r\n").unwrap();
        let id = text.find("X-Request-Id: abc\r\n").unwrap();
        let cache = text.find("Cache-Control: no-store\r\n").unwrap();
        assert!(first < id && id < cache, "{text}");
        assert!(text.ends_with("Content-Length: 2\r\n\r\nhi"), "{text}");
    }

    #[test]
    fn a_name_that_is_not_a_token_or_a_value_with_a_line_break_is_refused() {
        let mut response = Response::from_string("");
        for (name, value) in [
            ("X-Id", "a\r\nSet-Cookie: x=1"),
            ("X-Id", "a\nb"),
            ("X-Id", "a\0"),
            ("X-Id", "caf\u{e9}"),
            ("X Id", "a"),
            ("X-Id:", "a"),
            ("", "a"),
        ] {
            assert_eq!(response.add_named_header(name, value), Err(InvalidHeader));
        }
        assert_eq!(response.add_named_header("X-Id", "a\tb c~"), Ok(()));
        let text = written(response);
        assert!(
            !text.contains("Set-Cookie") && !text.contains("caf"),
            "{text}"
        );
        assert!(text.contains("X-Id: a\tb c~\r\n"), "{text}");
    }

    #[test]
    fn named_headers_keep_the_rules_of_added_ones() {
        let mut response = Response::from_string("four")
            .with_header(Header::from_bytes("Content-Type", "text/plain").unwrap());
        for (name, value) in [
            ("Content-Type", "application/json"),
            ("content-type", "application/problem+json"),
            ("Connection", "upgrade"),
            ("Transfer-Encoding", "chunked"),
            ("Date", "Thu, 01 Jan 1970 00:00:00 GMT"),
            ("Server", "ours"),
        ] {
            response.add_named_header(name, value).unwrap();
        }
        let text = written(response);
        assert_eq!(
            text.matches("ontent-Type").count() + text.matches("ontent-type").count(),
            1,
            "{text}"
        );
        assert!(
            text.contains("content-type: application/problem+json\r\n"),
            "{text}"
        );
        assert!(
            !text.contains("upgrade") && !text.contains("chunked"),
            "{text}"
        );
        assert!(text.contains("Content-Length: 4\r\n"), "{text}");
        assert_eq!(text.matches("Date: ").count(), 1, "{text}");
        assert!(
            text.contains("Server: ours\r\n") && !text.contains("tiny-http"),
            "{text}"
        );
    }
}
