//! Raw JSON walked without parsing its numbers. A client's configuration is passed to Airbyte as
//! the bytes it sent; what the service needs to know about it (where a value sits, which strings
//! it holds) is read here with every number left as its text, so that no number, however large,
//! can make that reading fail. And JSON bodies written into buffers sized for them.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// `value` as JSON text, in a buffer with room for a typical body (a create's request or answer)
/// from the start: grown from serde_json's own 128 bytes, a body of a few hundred was copied
/// twice on the way.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(512);
    serde_json::to_writer(&mut bytes, value)?;
    Ok(bytes)
}

/// One step of a path into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment<'a> {
    Key(Cow<'a, str>),
    Index(usize),
}

/// A path as the service names fields: `config.tunnel[0].port`.
pub struct Path<'p, 'a>(pub &'p [Segment<'a>]);

impl fmt::Display for Path<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A value that holds no other values: a string, number, boolean or null, as its JSON text.
pub struct Scalar<'a>(pub &'a RawValue);

impl<'a> Scalar<'a> {
    /// The string it is, unescaped; `None` for numbers, booleans and null.
    pub fn as_str(&self) -> Option<String> {
        self.is_string()
            .then(|| serde_json::from_str(self.0.get()).ok())
            .flatten()
    }

    /// Whether it is a string.
    pub fn is_string(&self) -> bool {
        self.0.get().starts_with('"')
    }

    /// Whether it is a number.
    pub fn is_number(&self) -> bool {
        self.0
            .get()
            .starts_with(|c: char| c == '-' || c.is_ascii_digit())
    }

    /// Whether it is a number a 64-bit float cannot hold (`1e400`): one that Airbyte, a JVM
    /// service, could only read as infinity or refuse.
    pub fn is_unrepresentable_number(&self) -> bool {
        self.is_number() && !self.0.get().parse::<f64>().is_ok_and(f64::is_finite)
    }
}

/// Calls `visit` with the path and value of every scalar in `raw`, in document order. `path` is
/// the path of `raw` itself (usually empty, or the field it came from).
pub fn for_each_scalar<'a>(
    raw: &'a RawValue,
    path: &mut Vec<Segment<'a>>,
    visit: &mut impl FnMut(&[Segment<'a>], Scalar<'a>),
) {
    match raw.get().as_bytes().first() {
        Some(b'{') => {
            for (key, value) in members(raw).unwrap_or_default() {
                path.push(Segment::Key(key));
                for_each_scalar(value, path, visit);
                path.pop();
            }
        }
        Some(b'[') => {
            for (i, item) in items(raw).unwrap_or_default().into_iter().enumerate() {
                path.push(Segment::Index(i));
                for_each_scalar(item, path, visit);
                path.pop();
            }
        }
        _ => visit(path, Scalar(raw)),
    }
}

/// An object's members in document order, each value left raw and each key borrowed from the
/// text unless it has escapes; `None` when `raw` is not an object.
pub fn members(raw: &RawValue) -> Option<Vec<(Cow<'_, str>, &RawValue)>> {
    let text = raw.get();
    text.starts_with('{')
        .then(|| serde_json::from_str::<Members>(text).ok())
        .flatten()
        .map(|Members(members)| members)
}

/// An array's items in order, each left raw; `None` when `raw` is not an array.
pub fn items(raw: &RawValue) -> Option<Vec<&RawValue>> {
    let text = raw.get();
    text.starts_with('[')
        .then(|| serde_json::from_str(text).ok())
        .flatten()
}

/// An object's members in order, each value left raw.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;

        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Members<'de>, M::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(Key(key)) = map.next_key()? {
                    members.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(Members(members))
            }
        }

        deserializer.deserialize_map(MembersVisitor)
    }
}

/// An object's key, borrowed from the text when it has no escapes (serde's own `Cow<str>` always
/// copies).
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }

            fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_string())))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalars(json: &str) -> Vec<(String, String)> {
        let raw: &RawValue = serde_json::from_str(json).unwrap();
        let mut found = Vec::new();
        for_each_scalar(raw, &mut Vec::new(), &mut |path, value| {
            found.push((Path(path).to_string(), value.0.get().to_string()))
        });
        found
    }

    #[test]
    fn every_scalar_is_visited_with_its_path_and_numbers_stay_text() {
        let found = scalars(
            r#"{"host":"db","port":1e400000000,"tunnel":[{"key":"k\"1"},7],"a.b":null,"n":12345678901234567890123}"#,
        );
        let found: Vec<(&str, &str)> = found
            .iter()
            .map(|(p, v)| (p.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("host", r#""db""#),
                ("port", "1e400000000"),
                ("tunnel[0].key", r#""k\"1""#),
                ("tunnel[1]", "7"),
                ("a.b", "null"),
                ("n", "12345678901234567890123"),
            ]
        );
    }

    #[test]
    fn members_keep_their_order_and_borrow_plain_keys() {
        let raw: &RawValue =
            serde_json::from_str(r#"{"b":1,"a\u0041":[2],"c":{"d":null}}"#).unwrap();
        let found = members(raw).unwrap();
        let found: Vec<(&str, bool, &str)> = found
            .iter()
            .map(|(k, v)| (k.as_ref(), matches!(k, Cow::Borrowed(_)), v.get()))
            .collect();
        assert_eq!(
            found,
            [
                ("b", true, "1"),
                ("aA", false, "[2]"),
                ("c", true, r#"{"d":null}"#)
            ]
        );
        assert!(members(&RawValue::from_string("[1]".into()).unwrap()).is_none());
        let array = RawValue::from_string(r#"[1, "x", {}]"#.into()).unwrap();
        let found: Vec<&str> = items(&array).unwrap().iter().map(|i| i.get()).collect();
        assert_eq!(found, ["1", r#""x""#, "{}"]);
        assert!(items(&RawValue::from_string("{}".into()).unwrap()).is_none());
    }

    #[test]
    fn scalars_say_what_they_are() {
        let raw = |s: &str| -> Box<RawValue> { RawValue::from_string(s.to_string()).unwrap() };
        assert_eq!(
            Scalar(&raw(r#""a\u00e9""#)).as_str().as_deref(),
            Some("a\u{e9}")
        );
        assert_eq!(Scalar(&raw("1")).as_str(), None);
        assert!(Scalar(&raw("1e400")).is_unrepresentable_number());
        assert!(Scalar(&raw("-1e400")).is_unrepresentable_number());
        assert!(!Scalar(&raw("1e300")).is_unrepresentable_number());
        assert!(
            !Scalar(&raw("1e-400")).is_unrepresentable_number(),
            "0, as near as it gets"
        );
        assert!(!Scalar(&raw(&"9".repeat(300))).is_unrepresentable_number());
        assert!(Scalar(&raw(&"9".repeat(400))).is_unrepresentable_number());
        assert!(!Scalar(&raw(r#""1e400""#)).is_unrepresentable_number());
    }
}
