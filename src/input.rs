//! Reading and checking request bodies. Every rejection is a 400 whose detail names the field and
//! what was expected. Values are never quoted back: a body may carry secrets.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

use crate::error::ApiError;
use crate::json;
use crate::text::{quote_list, truncate};

/// Deepest nesting of arrays and objects accepted anywhere in a body. Connector configurations
/// are shallow; the limit keeps hostile bodies from costing recursion anywhere downstream.
pub const MAX_DEPTH: usize = 64;

/// Parses a JSON object body into `T`, whose fields are usually `Option<&RawValue>` so that each
/// can be checked with the functions below. Unknown fields are ignored; duplicate fields are not.
pub fn parse_object<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        None => {
            return Err(ApiError::invalid(
                "the request body is empty; expected a JSON object",
            ))
        }
        Some(b'{') => {}
        Some(_) => return Err(ApiError::invalid("the request body must be a JSON object")),
    }
    let scan = scan(body);
    if scan.too_deep {
        return Err(ApiError::invalid(format!(
            "the request body is nested too deeply (more than {MAX_DEPTH} levels)"
        )));
    }
    // JSON is UTF-8 (RFC 8259), but serde_json checks only the strings it reads, not those of
    // unknown fields it skips: a body with any bytes there would pass.
    let text = std::str::from_utf8(body).map_err(|e| {
        ApiError::invalid(format!(
            "the request body is not valid JSON: it is not UTF-8 (byte {})",
            e.valid_up_to() + 1
        ))
    })?;
    if scan.huge_number {
        if let Some(field) = unrepresentable_number(text) {
            return Err(ApiError::invalid(format!(
                "field '{field}' holds a number that does not fit a 64-bit float or integer; send a smaller number"
            )));
        }
    }
    serde_json::from_str(text).map_err(|e| {
        let message = e.to_string();
        let detail = if let Some(field) = message
            .strip_prefix("duplicate field `")
            .and_then(|m| m.split('`').next())
        {
            format!("field '{field}' appears more than once")
        } else if let Some(rest) = message.strip_prefix("unknown field `") {
            // serde: "unknown field `x`, expected one of `a`, `b`" (fields denied on purpose).
            let field = rest.split('`').next().unwrap_or("");
            let expected: Vec<&str> = rest
                .split(" at line ")
                .next()
                .unwrap_or("")
                .split('`')
                .skip(2)
                .step_by(2)
                .collect();
            format!(
                "field '{}' is not one this request takes; it takes {}",
                truncate(field, 100),
                quote_list(&expected)
            )
        } else if message.starts_with("recursion limit exceeded") {
            "the request body is nested too deeply".to_string()
        } else if e.is_eof() {
            "the request body is not valid JSON: it ends too early".to_string()
        } else if e.is_data() {
            "the request body must be a JSON object".to_string()
        } else {
            format!(
                "the request body is not valid JSON ({} at line {} column {})",
                syntax_reason(&message),
                e.line(),
                e.column()
            )
        };
        ApiError::invalid(detail)
    })
}

/// For `#[serde(deserialize_with = "input::present")]` on an `Option<&RawValue>` field with
/// `#[serde(default)]`: a field that is there is `Some`, `null` included, so that a patch can
/// tell "set to null" from "leave alone".
pub fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// What one pass over a body's bytes found, before any parser reads it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Scan {
    /// Arrays and objects nest deeper than [`MAX_DEPTH`].
    too_deep: bool,
    /// A number too large for a 64-bit float (`1e400`): serde_json skips the numbers of raw values
    /// and unknown fields unread, so such a number would otherwise reach Airbyte.
    huge_number: bool,
}

/// Looks at a body once, outside strings: cheap and single-pass, run before parsing so that no
/// parser recurses on hostile input and no number is passed on that nobody can read.
fn scan(body: &[u8]) -> Scan {
    let mut found = Scan::default();
    let mut depth = 0usize;
    let mut number: Option<usize> = None;
    let mut i = 0;
    while i < body.len() {
        let (at, b) = (i, body[i]);
        i += 1;
        match (number, b) {
            (Some(_), b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') => continue,
            (Some(start), _) => {
                found.huge_number |= overflows(&body[start..at]);
                number = None;
            }
            (None, b'0'..=b'9' | b'-') => {
                number = Some(at);
                continue;
            }
            (None, _) => {}
        }
        match b {
            b'"' => i = after_string(body, i),
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    found.too_deep = true;
                    return found;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if let Some(start) = number {
        found.huge_number |= overflows(&body[start..]);
    }
    found
}

/// Where the string whose text begins at `at` (just past its opening quote) ends: past its
/// closing quote, or at the body's end. Most of a body is strings, so their bytes are searched for
/// the two that matter rather than looked at one turn of a loop each.
fn after_string(body: &[u8], mut at: usize) -> usize {
    while let Some(found) = body
        .get(at..)
        .and_then(|rest| rest.iter().position(|&b| b == b'"' || b == b'\\'))
    {
        let special = at + found;
        if body[special] == b'"' {
            return special + 1;
        }
        // A backslash: the byte after it is escaped, whatever it is.
        at = special + 2;
    }
    body.len()
}

/// Whether a number's text overflows a 64-bit float. Only a number with an exponent or of more
/// than 300 digits can, so most are not parsed at all.
fn overflows(number: &[u8]) -> bool {
    (number.len() > 300 || number.iter().any(|&b| b == b'e' || b == b'E'))
        && std::str::from_utf8(number)
            .ok()
            .and_then(|n| n.parse::<f64>().ok())
            .is_some_and(f64::is_infinite)
}

/// The path of the first number in `text` that a 64-bit float cannot hold, when `text` is JSON.
fn unrepresentable_number(text: &str) -> Option<String> {
    let raw: &RawValue = serde_json::from_str(text).ok()?;
    let mut found = None;
    json::for_each_scalar(raw, &mut Vec::new(), &mut |path, value| {
        if found.is_none() && value.is_unrepresentable_number() {
            found = Some(truncate(&json::Path(path).to_string(), 200));
        }
    });
    found
}

/// serde_json's reason without its position suffix (which is reported separately).
fn syntax_reason(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}

/// What type of JSON value a raw value is, for error messages (`a string`, `an object`).
fn json_type(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

fn required<'a>(field: &str, raw: Option<&'a RawValue>) -> Result<&'a RawValue, ApiError> {
    raw.ok_or_else(|| ApiError::invalid(format!("field '{field}' is required")))
}

/// A required, non-blank string of at most `max` characters, trimmed.
pub fn string<'a>(
    field: &str,
    raw: Option<&'a RawValue>,
    max: usize,
) -> Result<Cow<'a, str>, ApiError> {
    let raw = required(field, raw)?;
    let wrong = || {
        ApiError::invalid(format!(
            "field '{field}' must be a non-empty string, got {}",
            json_type(raw)
        ))
    };
    // Borrowed from the body unless it has escapes to decode.
    let decoded: Cow<'a, str> = match serde_json::from_str::<&str>(raw.get()) {
        Ok(plain) => Cow::Borrowed(plain),
        Err(_) => Cow::Owned(serde_json::from_str::<String>(raw.get()).map_err(|_| wrong())?),
    };
    let value = decoded.trim();
    if value.is_empty() {
        return Err(ApiError::invalid(format!(
            "field '{field}' must not be empty"
        )));
    }
    if value.chars().count() > max {
        return Err(ApiError::invalid(format!(
            "field '{field}' must be at most {max} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "field '{field}' must not contain control characters"
        )));
    }
    Ok(match decoded {
        Cow::Borrowed(plain) => Cow::Borrowed(plain.trim()),
        Cow::Owned(text) => Cow::Owned(text.trim().to_string()),
    })
}

/// An optional string with the same rules as [`string`].
pub fn optional_string<'a>(
    field: &str,
    raw: Option<&'a RawValue>,
    max: usize,
) -> Result<Option<Cow<'a, str>>, ApiError> {
    raw.map(|r| string(field, Some(r), max)).transpose()
}

/// A required JSON object, kept verbatim.
pub fn object<'a>(field: &str, raw: Option<&'a RawValue>) -> Result<&'a RawValue, ApiError> {
    let raw = required(field, raw)?;
    if !raw.get().starts_with('{') {
        return Err(ApiError::invalid(format!(
            "field '{field}' must be an object, got {}",
            json_type(raw)
        )));
    }
    Ok(raw)
}

/// A required UUID string.
pub fn uuid(field: &str, raw: Option<&RawValue>) -> Result<Uuid, ApiError> {
    let text = string(field, raw, 64)?;
    Uuid::parse_str(&text).map_err(|_| ApiError::invalid(format!("field '{field}' must be a UUID")))
}

/// A boolean query parameter: absent or `false`/`0` is false; `true`, `1` or bare (`?check`)
/// is true; anything else a 400 naming it.
pub fn flag(name: &str, value: Option<&str>) -> Result<bool, ApiError> {
    match value {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1" | "") => Ok(true),
        Some(_) => Err(ApiError::invalid(format!(
            "query parameter '{name}' must be true or false"
        ))),
    }
}

/// The `{id}` of a path such as `/sink/{id}`.
pub fn path_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::invalid("the id in the path must be a UUID"))
}

/// An optional RFC 3339 timestamp, converted to UTC.
pub fn timestamp(field: &str, raw: Option<&RawValue>) -> Result<Option<OffsetDateTime>, ApiError> {
    let Some(text) = optional_string(field, raw, 64)? else {
        return Ok(None);
    };
    let parsed = OffsetDateTime::parse(&text, &Rfc3339).map_err(|_| {
        ApiError::invalid(format!(
            "field '{field}' must be an RFC 3339 timestamp such as 2024-01-01T00:00:00Z"
        ))
    })?;
    // Answered in UTC as RFC 3339, whose years run from 0000 to 9999; with an offset, a time at
    // either end falls outside them in UTC (9999-12-31T23:59:59-01:00 is in the year 10000).
    parsed
        .checked_to_offset(UtcOffset::UTC)
        .filter(|t| (0..=9999).contains(&t.year()))
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "field '{field}' must be an RFC 3339 timestamp from 0000-01-01T00:00:00Z to 9999-12-31T23:59:59Z in UTC"
            ))
        })
}

/// An optional, non-empty array of distinct non-blank strings.
pub fn string_list(
    field: &str,
    raw: Option<&RawValue>,
    max_items: usize,
) -> Result<Option<Vec<String>>, ApiError> {
    let list = string_list_or_empty(field, raw, max_items)?;
    if list.as_ref().is_some_and(Vec::is_empty) {
        return Err(ApiError::invalid(format!(
            "field '{field}' must name at least one item; leave it out for all"
        )));
    }
    Ok(list)
}

/// An optional array of distinct non-blank strings, which may be empty.
pub fn string_list_or_empty(
    field: &str,
    raw: Option<&RawValue>,
    max_items: usize,
) -> Result<Option<Vec<String>>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let wrong = || {
        ApiError::invalid(format!(
            "field '{field}' must be an array of strings, got {}",
            json_type(raw)
        ))
    };
    let items: Vec<&RawValue> = serde_json::from_str(raw.get()).map_err(|_| wrong())?;
    if items.len() > max_items {
        return Err(ApiError::invalid(format!(
            "field '{field}' may name at most {max_items} items"
        )));
    }
    let mut values = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let value = string(&format!("{field}[{i}]"), Some(item), 1024)?.into_owned();
        if values.contains(&value) {
            return Err(ApiError::invalid(format!(
                "field '{field}' names '{}' twice; name each item once",
                truncate(&value, 100)
            )));
        }
        values.push(value);
    }
    Ok(Some(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body<'a> {
        #[serde(borrow)]
        name: Option<&'a RawValue>,
    }

    #[test]
    fn the_scan_skips_strings_and_finds_depth_and_huge_numbers() {
        let deep = |n: usize| "[".repeat(n) + &"]".repeat(n);
        let scan_of = |text: &str| scan(text.as_bytes());
        assert_eq!(scan_of(&deep(MAX_DEPTH)), Scan::default());
        assert!(scan_of(&deep(MAX_DEPTH + 1)).too_deep);
        // Brackets, quotes and numbers inside strings are text, escaped quotes included.
        let quoted = format!(r#"{{"a":"{}\"1e400\\","b":1}}"#, "[".repeat(100));
        assert_eq!(scan_of(&quoted), Scan::default());
        assert!(scan_of(r#"{"a":"x\\","b":1e400}"#).huge_number);
        assert!(scan_of(r#"{"a":"\"","b":[1e400]}"#).huge_number);
        assert!(scan_of("1e400").huge_number, "a number at the very end");
        assert_eq!(scan_of(r#"{"a":"unterminated [[["#), Scan::default());
        assert_eq!(scan_of(r#"{"a":"ends in a backslash \"#), Scan::default());
    }

    fn detail<T: std::fmt::Debug>(r: Result<T, ApiError>) -> String {
        let e = r.unwrap_err();
        assert_eq!(e.status, 400);
        e.detail
    }

    #[test]
    fn bodies_that_are_not_objects() {
        assert_eq!(
            detail(parse_object::<Body>(b"")),
            "the request body is empty; expected a JSON object"
        );
        assert_eq!(
            detail(parse_object::<Body>(b"[1]")),
            "the request body must be a JSON object"
        );
        assert_eq!(
            detail(parse_object::<Body>(b"\"secret\"")),
            "the request body must be a JSON object"
        );
        assert_eq!(
            detail(parse_object::<Body>(b"{\"name\": ")),
            "the request body is not valid JSON: it ends too early"
        );
        assert_eq!(
            detail(parse_object::<Body>(br#"{"name":"a","name":"b"}"#)),
            "field 'name' appears more than once"
        );
        let deep = format!(
            "{{\"name\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(
            detail(parse_object::<Body>(deep.as_bytes())),
            "the request body is nested too deeply (more than 64 levels)"
        );
        let ok = format!("{{\"name\":{}{}}}", "[".repeat(63), "]".repeat(63));
        assert!(parse_object::<Body>(ok.as_bytes()).is_ok());
        assert!(parse_object::<Body>(br#"{"name":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"["}"#).is_ok());
        assert!(detail(parse_object::<Body>(b"{name: 1}")).starts_with(
            "the request body is not valid JSON (key must be a string at line 1 column 2"
        ));
    }

    /// Found by a raw-socket review (issue 10): a number no 64-bit float holds was passed on to
    /// Airbyte, since serde_json skips the numbers of raw values and unknown fields unread.
    #[test]
    fn numbers_no_float_can_hold_are_refused_by_name() {
        for (body, field) in [
            (
                r#"{"name":"a","config":{"port":1e400000000}}"#,
                "config.port",
            ),
            (
                r#"{"name":"a","config":{"t":[1,{"x":-1E999}]}}"#,
                "config.t[1].x",
            ),
            (r#"{"name":"a","other":1e309}"#, "other"),
        ] {
            assert_eq!(
                detail(parse_object::<Body>(body.as_bytes())),
                format!("field '{field}' holds a number that does not fit a 64-bit float or integer; send a smaller number"),
                "{body}"
            );
        }
        let huge = format!(r#"{{"name":"a","n":{}}}"#, "9".repeat(400));
        assert!(detail(parse_object::<Body>(huge.as_bytes())).starts_with("field 'n' holds"));
        for fine in [
            r#"{"name":"a","config":{"port":12345678901234567890,"f":1e300,"g":-2.5e-400}}"#,
            r#"{"name":"1e400","config":{"1e400":"1e999"}}"#,
        ] {
            assert!(parse_object::<Body>(fine.as_bytes()).is_ok(), "{fine}");
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict<'a> {
        #[serde(borrow)]
        name: Option<&'a RawValue>,
        #[serde(borrow)]
        status: Option<&'a RawValue>,
    }

    #[test]
    fn an_unknown_field_where_none_is_taken_is_named_with_what_is() {
        assert_eq!(
            detail(parse_object::<Strict>(br#"{"name":"a","colour":"red"}"#)),
            "field 'colour' is not one this request takes; it takes 'name', 'status'"
        );
    }

    /// Found by fuzzing: invalid UTF-8 in an unknown field was accepted, as serde_json does not
    /// check the strings it skips.
    #[test]
    fn bodies_that_are_not_utf8() {
        for body in [
            &b"{\"name\":\"a\",\"other\":\"\xd1\xcd\"}"[..],
            b"{\"name\":\"a\",\"\xff\":1}",
            b"{\"name\":\"\xff\xfe\"}",
        ] {
            assert!(
                detail(parse_object::<Body>(body))
                    .starts_with("the request body is not valid JSON: it is not UTF-8 (byte "),
                "{body:?}"
            );
        }
        assert_eq!(
            detail(parse_object::<Body>(b"{\"\xff\": 1}")),
            "the request body is not valid JSON: it is not UTF-8 (byte 3)"
        );
        let utf8 = "{\"name\":\"\u{e9}\",\"other\":\"\u{1f600}\"}";
        assert!(parse_object::<Body>(utf8.as_bytes()).is_ok());
    }

    #[test]
    fn strings() {
        let raw = |s: &str| RawValue::from_string(s.to_string()).unwrap();
        assert_eq!(string("name", Some(&raw(r#"" a ""#)), 10).unwrap(), "a");
        assert_eq!(detail(string("name", None, 10)), "field 'name' is required");
        assert_eq!(
            detail(string("name", Some(&raw("1")), 10)),
            "field 'name' must be a non-empty string, got a number"
        );
        assert_eq!(
            detail(string("name", Some(&raw(r#""  ""#)), 10)),
            "field 'name' must not be empty"
        );
        assert_eq!(
            detail(string("name", Some(&raw(r#""abcdef""#)), 3)),
            "field 'name' must be at most 3 characters"
        );
        assert_eq!(
            detail(string("name", Some(&raw(r#""a\u0000b""#)), 10)),
            "field 'name' must not contain control characters"
        );
    }

    #[test]
    fn objects_uuids_timestamps_lists() {
        let raw = |s: &str| RawValue::from_string(s.to_string()).unwrap();
        assert!(object("config", Some(&raw("{}"))).is_ok());
        assert_eq!(
            detail(object("config", Some(&raw("[]")))),
            "field 'config' must be an object, got an array"
        );
        assert_eq!(
            detail(uuid("sourceId", Some(&raw(r#""abc""#)))),
            "field 'sourceId' must be a UUID"
        );
        let t = timestamp("created", Some(&raw(r#""2024-01-01T02:00:00+02:00""#)))
            .unwrap()
            .unwrap();
        assert_eq!(t.format(&Rfc3339).unwrap(), "2024-01-01T00:00:00Z");
        assert!(detail(timestamp("created", Some(&raw(r#""2024-13-01""#)))).contains("RFC 3339"));
        // Valid RFC 3339 whose UTC instant has no RFC 3339 form: refused, never a panic.
        for outside in ["9999-12-31T23:59:59-01:00", "0000-01-01T00:00:00+00:01"] {
            let quoted = format!("\"{outside}\"");
            assert!(
                detail(timestamp("created", Some(&raw(&quoted))))
                    .contains("to 9999-12-31T23:59:59Z"),
                "{outside}"
            );
        }
        for edge in [
            "9999-12-31T23:59:59Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999+00:00",
        ] {
            let quoted = format!("\"{edge}\"");
            let t = timestamp("created", Some(&raw(&quoted))).unwrap().unwrap();
            assert!(t.format(&Rfc3339).is_ok(), "{edge}");
        }
        assert_eq!(
            string_list("streams", Some(&raw(r#"["a","b"]"#)), 5)
                .unwrap()
                .unwrap(),
            ["a", "b"]
        );
        // The document says `uniqueItems`: a name twice is refused, not quietly dropped.
        assert_eq!(
            detail(string_list("streams", Some(&raw(r#"["a","b","a"]"#)), 5)),
            "field 'streams' names 'a' twice; name each item once"
        );
        assert_eq!(
            detail(string_list("streams", Some(&raw("[]")), 5)),
            "field 'streams' must name at least one item; leave it out for all"
        );
        assert_eq!(
            detail(string_list("streams", Some(&raw("[1]")), 5)),
            "field 'streams[0]' must be a non-empty string, got a number"
        );
    }

    /// Found by fuzzing: converting to UTC panicked past the year 9999, and a year before 0000
    /// passed here only to make the answer's RFC 3339 formatting panic.
    #[test]
    fn timestamps_beyond_rfc3339_years_in_utc() {
        let raw = |s: &str| RawValue::from_string(s.to_string()).unwrap();
        for outside in ["9999-12-31T23:59:59-00:01", "0000-01-01T00:00:00+00:01"] {
            assert_eq!(
                detail(timestamp("created", Some(&raw(&format!("\"{outside}\""))))),
                "field 'created' must be an RFC 3339 timestamp from 0000-01-01T00:00:00Z to 9999-12-31T23:59:59Z in UTC"
            );
        }
        for (edge, utc) in [
            ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z"),
            ("9999-12-31T23:59:59+01:00", "9999-12-31T22:59:59Z"),
            ("0000-01-01T00:00:00-01:00", "0000-01-01T01:00:00Z"),
            ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z"),
        ] {
            let t = timestamp("created", Some(&raw(&format!("\"{edge}\""))))
                .unwrap()
                .unwrap();
            assert_eq!(t.format(&Rfc3339).unwrap(), utc);
        }
    }
}
