//! Which fields of a connector configuration are secrets, and the three things that follow from
//! it: answers show those fields masked ([`SecretFields::masked`]), Airbyte's messages lose the
//! client's secret values and keep everything else ([`Redactor`]), and a client that sends back
//! Airbyte's mask instead of a secret is told so ([`refuse_masks`]).
//!
//! A secret is a field the connector's spec marks `airbyte_secret: true`, at any depth and in any
//! `oneOf` option (the spec is `source_definition_specifications/get`, cached with the
//! definitions), or a key that looks like one (`password`, `*_key`, ...), which catches what a
//! spec forgets. When the spec could not be had, every string the client sent counts as a secret
//! for redaction: a message loses detail rather than a secret.
//!
//! None of this parses the client's configuration's numbers (see `json.rs`), so no value can turn
//! masking off; nothing here logs.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::ApiError;
use crate::json::{self, Path, Segment};
use crate::text::{ends_with_any_case, holds_at};

/// What Airbyte shows in place of a secret, and what the service shows too.
pub const MASK: &str = "**********";

/// How deep a connector spec is read: real ones nest a few levels.
const MAX_SPEC_DEPTH: usize = 32;

/// A secret value at least this long is masked wherever it appears in a message; a shorter one
/// only where it stands alone (not inside a word), so that a short value does not garble the
/// words around it.
const ANYWHERE_FROM: usize = 8;

/// The secret fields of one connector's configuration, as its spec marks them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretFields {
    root: Node,
    /// Whether the spec was read; without it, only key names say what is secret.
    known: bool,
}

/// One field of the spec: whether it is secret (and so is everything under it), and the fields
/// under it by name. Array items and `oneOf`/`anyOf`/`allOf` options are folded into the field
/// they belong to: a configuration path names no option, and its indexes say nothing about
/// secrecy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    secret: bool,
    /// Whether the field's name looks like a secret's ([`looks_secret`]), found once with the
    /// spec rather than for every answer that shows the field.
    named_secret: bool,
    /// The fields under it, sorted by name and found by a binary search: a few comparisons of
    /// names for each key of every answer's configuration, where a map's nodes are searched a key
    /// at a time.
    children: Vec<(String, Node)>,
}

impl Node {
    /// Where the field called `name` is among the children, or where it would go.
    fn search(&self, name: &str) -> Result<usize, usize> {
        self.children
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
    }

    /// The field called `name` under this one.
    fn child(&self, name: &str) -> Option<&Node> {
        self.search(name).ok().map(|i| &self.children[i].1)
    }

    /// The field called `name` under this one, added if it is not there.
    fn child_mut(&mut self, name: &str) -> &mut Node {
        let i = match self.search(name) {
            Ok(i) => i,
            Err(i) => {
                let node = Node {
                    named_secret: looks_secret(name),
                    ..Node::default()
                };
                self.children.insert(i, (name.to_string(), node));
                i
            }
        };
        &mut self.children[i].1
    }

    fn read(&mut self, schema: &Value, depth: usize) {
        let Some(schema) = schema.as_object().filter(|_| depth < MAX_SPEC_DEPTH) else {
            return;
        };
        if schema.get("airbyte_secret") == Some(&Value::Bool(true)) {
            self.secret = true;
        }
        if let Some(Value::Object(properties)) = schema.get("properties") {
            for (name, property) in properties {
                self.child_mut(name).read(property, depth + 1);
            }
        }
        for options in ["oneOf", "anyOf", "allOf"] {
            for option in schema
                .get(options)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.read(option, depth + 1);
            }
        }
        match schema.get("items") {
            Some(Value::Array(items)) => items.iter().for_each(|i| self.read(i, depth + 1)),
            Some(items) => self.read(items, depth + 1),
            None => {}
        }
    }
}

impl SecretFields {
    /// The secrets of the configuration `spec` (a `connectionSpecification`, a JSON schema)
    /// describes.
    pub fn from_spec(spec: &Value) -> SecretFields {
        let mut root = Node::default();
        root.read(spec, 0);
        SecretFields { root, known: true }
    }

    /// When the spec is not available: key names alone decide masking, and every string counts
    /// as a secret for redaction.
    pub fn unknown() -> SecretFields {
        SecretFields::default()
    }

    /// Whether the field at `path` (keys, `None` for an array index) is a secret: the spec marks
    /// it or a field it is under, or its key looks like a secret's.
    fn is_secret<'k>(&self, path: impl IntoIterator<Item = Option<&'k str>>) -> bool {
        let mut node = Some(&self.root);
        let mut last_key = None;
        for key in path {
            let Some(key) = key else { continue };
            node = node.and_then(|n| n.child(key));
            if node.is_some_and(|n| n.secret) {
                return true;
            }
            last_key = Some(key);
        }
        last_key.is_some_and(looks_secret)
    }

    /// `config` as an answer shows it: every secret masked.
    pub fn masked<'a>(&'a self, config: &'a RawValue) -> Masked<'a> {
        Masked {
            value: config,
            node: Some(&self.root),
            key: None,
        }
    }

    /// What must not reach a client of the secrets in `config`, the configuration the client
    /// sent.
    pub fn redactor(&self, config: &RawValue) -> Redactor {
        let mut values = Vec::new();
        json::for_each_scalar(config, &mut Vec::new(), &mut |path, value| {
            let by_field = self.is_secret(path.iter().map(key_of));
            let secret = by_field || !self.known;
            // A number is redacted only where it is a secret's: not every port of an unknown spec.
            let text = value
                .as_str()
                .or_else(|| (by_field && value.is_number()).then(|| value.0.get().to_string()));
            match text {
                Some(text) if secret && text != MASK && !text.is_empty() => values.push(text),
                _ => {}
            }
        });
        Redactor::new(values, self)
    }
}

fn key_of<'p>(segment: &'p Segment<'_>) -> Option<&'p str> {
    match segment {
        Segment::Key(key) => Some(key),
        Segment::Index(_) => None,
    }
}

/// Words that make a configuration key a secret's wherever they appear in it, in any case.
const SECRET_WORDS: [&str; 8] = [
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "private",
    "apikey",
    "access_key",
];

/// Whether a configuration key names a secret by its look: the fallback for what a spec does not
/// mark. Every key of every answer's configuration is looked at, so the key is read once, and a
/// word is compared only where the key holds its first letter.
fn looks_secret(key: &str) -> bool {
    let word_at = |at: usize| {
        let first = key.as_bytes()[at].to_ascii_lowercase();
        SECRET_WORDS
            .iter()
            .any(|word| word.as_bytes()[0] == first && holds_at(key, at, word))
    };
    key.eq_ignore_ascii_case("key")
        || ends_with_any_case(key, "_key")
        || (0..key.len()).any(word_at)
}

/// A configuration as an answer writes it: a field the spec marks secret shows the mask whatever
/// its value (unless it is null), a field whose key looks secret when it is a string or a number.
/// Masking happens as it is serialised, so no answer can forget it. The configuration stays the
/// text Airbyte sent: objects and arrays are read a level at a time as they are written, keys
/// borrowed, and every other value is written as it came, numbers included.
pub struct Masked<'a> {
    value: &'a RawValue,
    /// Where `value` sits in the spec, while it is in it.
    node: Option<&'a Node>,
    key: Option<&'a str>,
}

impl Serialize for Masked<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self.value.get();
        let by_spec = || self.node.is_some_and(|n| n.secret) && text != "null";
        let by_name = || {
            let value = json::Scalar(self.value);
            (value.is_string() || value.is_number())
                && match self.node {
                    Some(node) => node.named_secret,
                    None => self.key.is_some_and(looks_secret),
                }
        };
        if by_spec() || by_name() {
            return serializer.serialize_str(MASK);
        }
        // An object or array that cannot be read a level down (it always can: it was read whole
        // with Airbyte's answer) shows the mask rather than its text, unmasked.
        match text.as_bytes().first() {
            Some(b'{') => {
                let Some(members) = json::members(self.value) else {
                    return serializer.serialize_str(MASK);
                };
                let mut out = serializer.serialize_map(Some(members.len()))?;
                for (key, value) in &members {
                    let node = self.node.and_then(|n| n.child(key));
                    let masked = Masked {
                        value,
                        node,
                        key: Some(key),
                    };
                    out.serialize_entry(key, &masked)?;
                }
                out.end()
            }
            Some(b'[') => {
                let Some(items) = json::items(self.value) else {
                    return serializer.serialize_str(MASK);
                };
                serializer.collect_seq(items.iter().map(|value| Masked {
                    value,
                    node: self.node,
                    key: self.key,
                }))
            }
            _ => self.value.serialize(serializer),
        }
    }
}

/// Removes a client's secret values from what Airbyte says, and nothing else: the host that could
/// not be reached and the bucket that does not exist stay, for they are what the client must fix.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// Longest first, so that a secret containing another is masked whole.
    values: Vec<String>,
    fields: SecretFields,
}

impl Redactor {
    fn new(mut values: Vec<String>, fields: &SecretFields) -> Redactor {
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Redactor {
            values,
            fields: fields.clone(),
        }
    }

    /// `text` with every secret value masked. Airbyte's messages arrive cut to a readable
    /// length (ending in `…`): a secret cut there is masked too, from its first three characters.
    pub fn text(&self, text: &str) -> String {
        let mut text = text.to_string();
        for value in &self.values {
            if text.contains(value.as_str()) {
                text = mask_in(&text, value);
            }
        }
        if let Some(cut) = text.strip_suffix('…') {
            let tail = self.values.iter().find_map(|value| {
                (3..value.len())
                    .rev()
                    .filter(|&n| value.is_char_boundary(n))
                    .find(|&n| cut.ends_with(&value[..n]))
            });
            if let Some(n) = tail {
                text = format!("{}{MASK}…", &cut[..cut.len() - n]);
            }
        }
        text
    }

    /// A problem about the configuration the client sent: its detail and field messages
    /// redacted, and its fields named as the client names them (`config.port`). A field that is
    /// a secret loses the value Airbyte rejected from its message.
    pub fn problem(&self, mut problem: ApiError) -> ApiError {
        problem.detail = self.text(&problem.detail);
        for error in &mut problem.errors {
            let path: Vec<&str> = error.field.split('.').collect();
            let secret = self
                .fields
                .is_secret(path.iter().map(|p| Some(p.split('[').next().unwrap_or(p))));
            if let Some(rejected) = error.rejected.take().filter(|r| secret && !r.is_empty()) {
                error.message = mask_in(&error.message, &rejected);
            }
            error.message = self.text(&error.message);
            error.field = format!("config.{}", error.field);
        }
        problem
    }
}

/// `text` with `value` masked: everywhere when it is long, where it stands alone when short.
fn mask_in(text: &str, value: &str) -> String {
    if value.len() >= ANYWHERE_FROM {
        return text.replace(value, MASK);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(value) {
        let (before, after) = (&rest[..at], &rest[at + value.len()..]);
        let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        out.push_str(before);
        if word(before.chars().next_back()) || word(after.chars().next()) {
            out.push_str(value);
        } else {
            out.push_str(MASK);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// 400 when a value in `config` (the client's, under field `field`) is Airbyte's mask: the client
/// is sending back a masked value it read instead of the secret, and Airbyte would store the mask.
pub fn refuse_masks(field: &str, config: &RawValue) -> Result<(), ApiError> {
    // Walked only when the text may hold the mask (written as it is, or with escapes); a byte
    // search first, since most configurations have neither a '*' nor a '\\'.
    let text = config.get();
    let has = |byte: u8, part: &str| text.as_bytes().contains(&byte) && text.contains(part);
    if !has(b'*', MASK) && !has(b'\\', "\\u") {
        return Ok(());
    }
    let mut found = None;
    let mut path = vec![Segment::Key(field.into())];
    json::for_each_scalar(config, &mut path, &mut |path, value| {
        if found.is_none() && value.as_str().as_deref() == Some(MASK) {
            found = Some(Path(path).to_string());
        }
    });
    match found {
        None => Ok(()),
        Some(field) => Err(ApiError::invalid(format!(
            "field '{field}' is Airbyte's mask '{MASK}', not a value: a configuration read back \
             from this service or Airbyte shows its secrets masked; send the secret itself"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FieldError;
    use serde_json::json;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).unwrap()
    }

    /// A spec shaped like source-mysql's: a top-level secret, secrets inside `oneOf` options,
    /// an array of objects with a secret, and a secret whose name does not look like one.
    fn spec() -> Value {
        json!({
            "type": "object",
            "properties": {
                "host": { "type": "string" },
                "password": { "type": "string", "airbyte_secret": true },
                // Not marked, but named like a secret.
                "access_token": { "type": "string" },
                "tunnel_method": { "type": "object", "oneOf": [
                    { "properties": { "tunnel_method": { "const": "NO_TUNNEL" } } },
                    { "properties": { "ssh_key": { "type": "string", "airbyte_secret": true } } },
                    { "properties": { "tunnel_user_password": { "airbyte_secret": true } } }
                ] },
                "replicas": { "type": "array", "items": { "properties": {
                    "host": { "type": "string" },
                    "sas": { "type": "string", "airbyte_secret": true }
                } } },
                "credentials": { "type": "object", "airbyte_secret": true }
            }
        })
    }

    fn masked(fields: &SecretFields, config: Value) -> Value {
        let config = serde_json::value::to_raw_value(&config).unwrap();
        serde_json::to_value(fields.masked(&config)).unwrap()
    }

    #[test]
    fn the_spec_marks_secrets_at_any_depth_and_in_options() {
        let fields = SecretFields::from_spec(&spec());
        let answer = masked(
            &fields,
            json!({
                "host": "db.internal", "password": "hunter2",
                "tunnel_method": { "tunnel_method": "SSH_PASSWORD_AUTH", "tunnel_user_password": "pw1" },
                "replicas": [{ "host": "r1", "sas": "sv=2020" }, { "host": "r2" }],
                "credentials": { "client_id": "abc", "nested": [1] },
                "note": null
            }),
        );
        assert_eq!(
            answer,
            json!({
                "host": "db.internal", "password": MASK,
                "tunnel_method": { "tunnel_method": "SSH_PASSWORD_AUTH", "tunnel_user_password": MASK },
                "replicas": [{ "host": "r1", "sas": MASK }, { "host": "r2" }],
                "credentials": MASK,
                "note": null
            })
        );
    }

    #[test]
    fn key_names_still_mask_what_a_spec_forgets() {
        for fields in [SecretFields::unknown(), SecretFields::from_spec(&spec())] {
            let answer = masked(
                &fields,
                json!({
                    "credentials_json": { "secret_access_key": "abc", "auth_type": "key" },
                    "tunnel": [{ "ssh_private_key": "-----BEGIN", "ssh_key": "k", "tunnel_method": "SSH_KEY_AUTH" }],
                    "api_token": 12345, "Private_Key_Id": 7, "monkey": "not a secret",
                    "access_token": "t", "host": "h"
                }),
            );
            assert_eq!(
                answer,
                json!({
                    "credentials_json": { "secret_access_key": MASK, "auth_type": "key" },
                    "tunnel": [{ "ssh_private_key": MASK, "ssh_key": MASK, "tunnel_method": "SSH_KEY_AUTH" }],
                    "api_token": MASK, "Private_Key_Id": MASK, "monkey": "not a secret",
                    "access_token": MASK, "host": "h"
                })
            );
        }
    }

    #[test]
    fn messages_keep_the_host_and_lose_the_password() {
        let fields = SecretFields::from_spec(&spec());
        let config = raw(
            r#"{"host":"db.internal","password":"hunter2secret","tunnel_method":{"tunnel_user_password":"tun-pass"},"port":3306}"#,
        );
        let redactor = fields.redactor(&config);
        assert_eq!(
            redactor.text("Could not connect to db.internal:3306 as root with password hunter2secret (tunnel tun-pass)"),
            format!("Could not connect to db.internal:3306 as root with password {MASK} (tunnel {MASK})")
        );
    }

    #[test]
    fn without_a_spec_every_string_is_redacted() {
        let config = raw(r#"{"host":"db.internal","sas":"sv-2020-x","port":3306}"#);
        let redactor = SecretFields::unknown().redactor(&config);
        assert_eq!(
            redactor.text("db.internal refused sv-2020-x on 3306"),
            format!("{MASK} refused {MASK} on 3306")
        );
    }

    #[test]
    fn short_secrets_are_masked_only_where_they_stand_alone() {
        let fields = SecretFields::from_spec(&spec());
        let redactor = fields.redactor(&raw(r#"{"password":"pw"}"#));
        assert_eq!(
            redactor.text("password 'pw' rejected: pwned? user:pw@db"),
            format!("password '{MASK}' rejected: pwned? user:{MASK}@db")
        );
    }

    #[test]
    fn a_secret_cut_off_at_the_end_of_a_long_message_is_masked_too() {
        let fields = SecretFields::from_spec(&spec());
        let redactor = fields.redactor(&raw(r#"{"password":"hunter2secret"}"#));
        assert_eq!(
            redactor.text("login failed with hunter2s…"),
            format!("login failed with {MASK}…")
        );
        assert_eq!(
            redactor.text("login failed with hu…"),
            "login failed with hu…"
        );
    }

    /// The configuration used to be parsed whole to find its strings: a number too large for a
    /// float made that fail, and the message went out unmasked.
    #[test]
    fn redacting_never_depends_on_reading_the_numbers() {
        let config = raw(r#"{"password":"hunter2","port":1e400000000}"#);
        let redactor = SecretFields::from_spec(&spec()).redactor(&config);
        assert_eq!(
            redactor.text("bad password hunter2"),
            format!("bad password {MASK}")
        );
    }

    #[test]
    fn field_errors_are_named_as_the_client_names_them_and_lose_secret_values() {
        let fields = SecretFields::from_spec(&spec());
        let redactor = fields.redactor(&raw(r#"{"password":"x","port":"abc"}"#));
        let mut problem = ApiError::unprocessable("Airbyte rejected sources/create");
        problem.errors = vec![
            FieldError {
                field: "password".into(),
                message: "value 'x' is too short".into(),
                rejected: Some("x".into()),
            },
            FieldError {
                field: "port".into(),
                message: "'abc' is not an integer".into(),
                rejected: Some("abc".into()),
            },
        ];
        let problem = redactor.problem(problem);
        assert_eq!(problem.errors[0].field, "config.password");
        assert_eq!(
            problem.errors[0].message,
            format!("value '{MASK}' is too short")
        );
        assert_eq!(problem.errors[1].field, "config.port");
        assert_eq!(problem.errors[1].message, "'abc' is not an integer");
    }

    #[test]
    fn a_mask_sent_as_a_value_is_refused_by_its_field() {
        let e = refuse_masks(
            "config",
            &raw(r#"{"host":"db","tunnel":[{"ssh_key":"**********"}]}"#),
        )
        .unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.detail
                .starts_with("field 'config.tunnel[0].ssh_key' is Airbyte's mask"),
            "{}",
            e.detail
        );
        assert!(refuse_masks("config", &raw(r#"{"password":"*********"}"#)).is_ok());
        let escaped =
            r#"{"password":"\u002a\u002a\u002a\u002a\u002a\u002a\u002a\u002a\u002a\u002a"}"#;
        assert!(
            refuse_masks("config", &raw(escaped)).is_err(),
            "escaped, still the mask"
        );
    }

    #[test]
    fn a_deep_spec_is_read_to_a_bounded_depth() {
        let mut deep = json!({ "airbyte_secret": true });
        for _ in 0..100 {
            deep = json!({ "properties": { "a": deep } });
        }
        let fields = SecretFields::from_spec(&deep);
        assert!(!fields.is_secret(std::iter::repeat_n(Some("a"), 101)));
    }

    #[test]
    fn keys_look_secret_by_their_words_in_any_case_and_place() {
        for key in [
            "password",
            "DB_PASSWORD",
            "passwd",
            "client_secret",
            "accessToken",
            "credentials_json",
            "Private_Key",
            "apiKey",
            "aws_access_key_id",
            "key",
            "KEY",
            "ssh_key",
            "tokens",
        ] {
            assert!(looks_secret(key), "{key}");
        }
        for key in [
            "",
            "k",
            "ke",
            "keys",
            "keyboard",
            "host",
            "port",
            "username",
            "bucket_name",
            "monkey",
            "pass",
            "secre",
            "acces_key_id",
            "tok",
            "_ke",
        ] {
            assert!(!looks_secret(key), "{key}");
        }
    }
}
