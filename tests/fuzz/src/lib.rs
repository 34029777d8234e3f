//! What the fuzz targets assert about `airbyte_wrapper`'s request parsing, whatever bytes it is
//! given: only what the service promises (src/input.rs, README "API").
//!
//! - A rejection is a 400 `invalid-request` problem with a non-empty detail that quotes none of
//!   the body's string values ("Values are never quoted back: a body may carry secrets").
//! - An accepted body is a JSON object, and each checked field follows its rule: strings trimmed,
//!   non-empty, within their length, without control characters; `config` an object passed on
//!   verbatim; UUIDs and timestamps as the client sent them, timestamps in UTC and answerable as
//!   RFC 3339; `updated` not before `created`; stream names distinct.
//!
//! Panics are the failures libFuzzer reports, so every check is an `assert!`.

pub mod framing;

use std::collections::BTreeMap;

use airbyte_wrapper::actors::NewActor;
use airbyte_wrapper::error::ApiError;
use airbyte_wrapper::ingestion::{NewIngestion, MAX_STREAMS};
use serde_json::value::RawValue;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

/// Shortest client value (in characters, trimmed) whose appearance in a detail counts as an echo.
pub const MIN_ECHO: usize = 4;

/// Longer values count as echoed when any run of this many of their characters appears.
const WINDOW: usize = 8;


/// Checks a rejection of `body`. `reparse` runs the same parse on another body and returns its
/// detail (`None` if that body is accepted); it tells an echo from a coincidence (see [`echo`]).
pub fn check_rejection(body: &[u8], error: &ApiError, reparse: impl Fn(&[u8]) -> Option<String>) {
    assert_eq!(error.status, 400, "not a 400: {error:?}");
    assert_eq!(error.slug, "invalid-request", "{error:?}");
    assert!(error.headers.is_empty(), "{error:?}");
    assert!(!error.detail.trim().is_empty(), "empty detail: {error:?}");
    if let Some(value) = echo(body, &error.detail, reparse) {
        panic!(
            "detail {:?} quotes the body's value {value:?}",
            error.detail
        );
    }
}

/// A string value of `body` that `detail` quotes, if any.
///
/// A detail is made of fixed words, field names and numbers, so a short or common value can
/// appear in it by chance (`"must be"`). To tell, the value's letters and digits are shifted by
/// one (`abc9` → `bcd0`) in a copy of the body that is parsed again: a quoted value follows the
/// shift into the new detail, a coincidence does not.
pub fn echo(
    body: &[u8],
    detail: &str,
    reparse: impl Fn(&[u8]) -> Option<String>,
) -> Option<String> {
    for token in string_tokens(body).into_iter().filter(|t| !t.key) {
        let chars: Vec<char> = token.text.trim().chars().collect();
        if chars.len() < MIN_ECHO {
            continue;
        }
        let width = chars.len().min(WINDOW);
        let window = |chars: &[char], i: usize| chars[i..i + width].iter().collect::<String>();
        let hits: Vec<usize> = (0..=chars.len() - width)
            .filter(|&i| detail.contains(&window(&chars, i)))
            .collect();
        if hits.is_empty() {
            continue;
        }
        let shifted = shift(&token.text);
        let mut encoded = serde_json::to_string(&shifted).expect("strings serialise");
        if !token.closed {
            encoded.pop();
        }
        let mut other = body[..token.start].to_vec();
        other.extend_from_slice(encoded.as_bytes());
        other.extend_from_slice(&body[token.end..]);
        let Some(other_detail) = reparse(&other) else {
            continue;
        };
        let shifted: Vec<char> = shifted.trim().chars().collect();
        let followed = hits.iter().any(|&i| {
            let moved = window(&shifted, i);
            moved != window(&chars, i) && other_detail.contains(&moved)
        });
        if followed {
            return Some(token.text);
        }
    }
    None
}

/// `a`→`b`, …, `z`→`a`, likewise for capitals and digits; everything else (whitespace included)
/// unchanged, so trimming and character counts line up with the original.
fn shift(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'z' => 'a',
            'Z' => 'A',
            '9' => '0',
            'a'..='y' | 'A'..='Y' | '0'..='8' => char::from(c as u8 + 1),
            other => other,
        })
        .collect()
}

/// A JSON string in a body, found by a lenient scan that also works on broken JSON.
#[derive(Debug, PartialEq)]
pub struct Token {
    /// Offset of the opening quote.
    pub start: usize,
    /// Offset just past the closing quote, or the body's length for a string left open.
    pub end: usize,
    pub closed: bool,
    /// Whether a `:` follows, as after an object key.
    pub key: bool,
    /// The decoded text; for a string that does not decode, its bytes when they hold no escape.
    pub text: String,
}

/// Every string in `body` that can be read as one.
pub fn string_tokens(body: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'"' {
            i += 1;
            continue;
        }
        let start = i;
        let (mut j, mut escaped) = (i + 1, false);
        while j < body.len() {
            match (escaped, body[j]) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => break,
                _ => {}
            }
            j += 1;
        }
        let closed = j < body.len();
        let end = if closed { j + 1 } else { body.len() };
        let inner = &body[start + 1..j];
        let decoded = if closed {
            serde_json::from_slice::<String>(&body[start..end]).ok()
        } else {
            None
        };
        let text = decoded.or_else(|| {
            (!inner.contains(&b'\\')).then(|| String::from_utf8_lossy(inner).into_owned())
        });
        let key = body[end..]
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b':');
        if let Some(text) = text {
            tokens.push(Token {
                start,
                end,
                closed,
                key,
                text,
            });
        }
        i = end;
    }
    tokens
}

/// A string field's rule ([`airbyte_wrapper::input::string`]).
pub fn check_text(field: &str, value: &str, max: usize) {
    assert!(!value.is_empty(), "{field} is empty");
    assert_eq!(value, value.trim(), "{field} is not trimmed");
    assert!(value.chars().count() <= max, "{field} is longer than {max}");
    assert!(
        !value.chars().any(char::is_control),
        "{field} has a control character"
    );
}

/// The accepted body's fields. It must be a JSON object; values are kept raw because valid JSON
/// may hold numbers beyond `f64` (`1e999`), which `config` passes on untouched.
type Fields<'a> = BTreeMap<String, &'a RawValue>;

fn object(body: &[u8]) -> Fields<'_> {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("accepted a body that is not a JSON object: {e}"))
}

/// The body's string field, trimmed, as the parsed value must be.
fn sent(body: &Fields<'_>, field: &str) -> Option<String> {
    body.get(field).map(|raw| {
        let text: String = serde_json::from_str(raw.get())
            .unwrap_or_else(|_| panic!("accepted field '{field}' that is not a string: {raw}"));
        text.trim().to_string()
    })
}

/// A timestamp's rule ([`airbyte_wrapper::input::timestamp`]): the instant the client sent, in
/// UTC, and formattable as RFC 3339 (the answer formats it so).
pub fn check_timestamp(field: &str, sent: Option<&str>, parsed: Option<OffsetDateTime>) {
    match (sent, parsed) {
        (None, None) => {}
        (Some(text), Some(t)) => {
            let original = OffsetDateTime::parse(text, &Rfc3339)
                .unwrap_or_else(|e| panic!("accepted {field} that is not RFC 3339: {e}"));
            assert_eq!(original, t, "{field} is not the instant sent");
            assert_eq!(t.offset(), UtcOffset::UTC, "{field} is not in UTC");
            t.format(&Rfc3339)
                .unwrap_or_else(|e| panic!("{field} {t} cannot be answered as RFC 3339: {e}"));
        }
        (sent, parsed) => panic!("{field}: sent {sent:?}, parsed {parsed:?}"),
    }
}

/// A stream list's rule ([`airbyte_wrapper::input::string_list`]).
pub fn check_list(field: &str, items: &[String], max_items: usize) {
    assert!(!items.is_empty(), "{field} is an empty list");
    assert!(items.len() <= max_items, "{field} has too many items");
    for (i, item) in items.iter().enumerate() {
        check_text(field, item, 1024);
        assert!(!items[..i].contains(item), "{field} repeats {item:?}");
    }
}

/// An accepted `/datasource` or `/sink` body.
pub fn check_actor(body: &[u8], actor: &NewActor<'_>) {
    let fields = object(body);
    check_text("name", &actor.name, 256);
    check_text("type", &actor.type_name, 256);
    assert_eq!(sent(&fields, "name").as_deref(), Some(actor.name.as_str()));
    assert_eq!(
        sent(&fields, "type").as_deref(),
        Some(actor.type_name.as_str())
    );
    check_verbatim_object(body, actor.config);
    assert_eq!(
        fields.get("config").map(|c| c.get()),
        Some(actor.config.get())
    );
}

/// `config` is an object and is the body's own bytes, to be sent on byte for byte.
fn check_verbatim_object(body: &[u8], raw: &RawValue) {
    let text = raw.get();
    assert!(text.starts_with('{'), "config is not an object: {text}");
    let range = body.as_ptr_range();
    let inside = range.start <= text.as_ptr() && text.as_bytes().as_ptr_range().end <= range.end;
    assert!(inside, "config is not a slice of the body");
}

/// An accepted `/ingestion` body.
pub fn check_ingestion(body: &[u8], ingestion: &NewIngestion) {
    let fields = object(body);
    let uuid = |field: &str| sent(&fields, field).map(|s| Uuid::parse_str(&s).expect("a UUID"));
    assert_eq!(uuid("sourceId"), Some(ingestion.source_id));
    assert_eq!(uuid("sinkId"), Some(ingestion.sink_id));
    check_timestamp(
        "created",
        sent(&fields, "created").as_deref(),
        ingestion.created,
    );
    check_timestamp(
        "updated",
        sent(&fields, "updated").as_deref(),
        ingestion.updated,
    );
    if let (Some(created), Some(updated)) = (ingestion.created, ingestion.updated) {
        assert!(created <= updated, "updated is earlier than created");
    }
    for (field, value) in [("name", &ingestion.name), ("schedule", &ingestion.cron)] {
        assert_eq!(sent(&fields, field), *value);
        if let Some(value) = value {
            check_text(field, value, 256);
        }
    }
    match (&ingestion.streams, fields.get("streams")) {
        (None, None) => {}
        (Some(streams), Some(raw)) => {
            check_list("streams", streams, MAX_STREAMS);
            let items: Vec<String> = serde_json::from_str(raw.get()).expect("streams are strings");
            for item in &items {
                let name = item.trim();
                assert!(streams.iter().any(|s| s == name), "lost stream {name:?}");
            }
        }
        (parsed, sent) => panic!("streams: sent {sent:?}, parsed {parsed:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_strings_in_broken_json() {
        let tokens = string_tokens(br#"{"name": "a\"b", "x":"open"#);
        let texts: Vec<(&str, bool, bool)> = tokens
            .iter()
            .map(|t| (t.text.as_str(), t.key, t.closed))
            .collect();
        assert_eq!(
            texts,
            [
                ("name", true, true),
                ("a\"b", false, true),
                ("x", true, true),
                ("open", false, false)
            ]
        );
    }

    #[test]
    fn tells_an_echo_from_a_coincidence() {
        // A parser that quotes the value is caught...
        let quoting = |b: &[u8]| {
            let value = string_tokens(b).pop().map(|t| t.text).unwrap_or_default();
            Some(format!("field 'name' is bad: {value}"))
        };
        let body = br#"{"name": "hunter22"}"#;
        let detail = quoting(body).unwrap();
        assert_eq!(echo(body, &detail, quoting), Some("hunter22".into()));
        // ...one whose fixed words match the value is not.
        let fixed = |_: &[u8]| Some("field 'name' must be at most 3 characters".to_string());
        let body = br#"{"name": "must be at most"}"#;
        assert_eq!(echo(body, &fixed(body).unwrap(), fixed), None);
    }
}
