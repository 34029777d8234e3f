//! Reading Airbyte's answers, for both dialects: from a `serde_json::Value`, one field at a time
//! ([`Fields`]), and a create's answer straight into its fields ([`ActorCreated`]).
//!
//! Most answers are read through [`Fields`] rather than through a derived `Deserialize` type per
//! answer: each derived type costs a deserializer of its own in the binary (about 2 KiB each, more
//! with nested and optional members), and the static binary has a size budget (README, "Size").
//! What is read, and what a missing field is called, is the same. A create's answer (here, one type
//! for both APIs), the Config API's actor reads that keep the configuration's text, and the
//! definition lists read cold keep derived types: they are read without a tree in between.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::model::Actor;
use super::Error;

/// A create's answer, in either API (the Config API's `SourceRead` / `DestinationRead`, the public
/// API's `SourceResponse` / `DestinationResponse`), read straight into its fields rather than
/// through a `Value`: a create is the request the service answers most. It is read for what the
/// request did not say: the new id, the name, the connector type (the public API's) and the
/// configuration, kept as Airbyte's text. Its workspace and definition are the ones the request
/// named (Airbyte refuses a create it cannot make in them), so their UUIDs are skipped, not parsed
/// again. One type for both APIs, so that the binary has one deserializer for it.
#[derive(Deserialize)]
pub(super) struct ActorCreated {
    #[serde(rename = "sourceId", alias = "destinationId")]
    id: Uuid,
    name: String,
    #[serde(rename = "sourceType", alias = "destinationType", default)]
    connector: Option<String>,
    #[serde(rename = "connectionConfiguration", alias = "configuration")]
    config: Box<RawValue>,
}

impl ActorCreated {
    /// The actor created by `call` in `workspace_id` from `definition_id`.
    pub fn into_actor(
        self,
        call: &'static str,
        workspace_id: Uuid,
        definition_id: Uuid,
    ) -> Result<Actor, Error> {
        if !self.config.get().starts_with('{') {
            return Err(Error::InvalidBody {
                call,
                reason: Fields::missing("configuration", "an object"),
            });
        }
        Ok(Actor {
            id: self.id,
            workspace_id,
            definition_id,
            name: self.name,
            config: self.config,
            connector: self.connector,
        })
    }
}

/// An answer object's fields, each read as what it must be; a missing or mistyped one is named.
/// A `null` member reads as absent.
pub(super) struct Fields<'a>(&'a Map<String, Value>);

impl<'a> Fields<'a> {
    pub fn of(value: &'a Value) -> Result<Fields<'a>, String> {
        value
            .as_object()
            .map(Fields)
            .ok_or_else(|| "expected a JSON object".to_string())
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn missing(name: &str, what: &str) -> String {
        format!("field `{name}` is missing or not {what}")
    }

    /// An optional member, read with `read` when it is there.
    fn optional<T>(
        &self,
        name: &str,
        what: &str,
        read: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => read(v).map(Some).ok_or_else(|| Self::missing(name, what)),
        }
    }

    pub fn uuid(&self, name: &str) -> Result<Uuid, String> {
        self.optional_uuid(name)?
            .ok_or_else(|| Self::missing(name, "a UUID"))
    }

    pub fn optional_uuid(&self, name: &str) -> Result<Option<Uuid>, String> {
        self.optional(name, "a UUID", |v| {
            v.as_str().and_then(|s| Uuid::parse_str(s).ok())
        })
    }

    pub fn text(&self, name: &str) -> Result<String, String> {
        self.optional_text(name)?
            .ok_or_else(|| Self::missing(name, "a string"))
    }

    pub fn optional_text(&self, name: &str) -> Result<Option<String>, String> {
        self.optional(name, "a string", |v| v.as_str().map(str::to_string))
    }

    pub fn i64(&self, name: &str) -> Result<i64, String> {
        self.optional_i64(name)?
            .ok_or_else(|| Self::missing(name, "an integer"))
    }

    pub fn optional_i64(&self, name: &str) -> Result<Option<i64>, String> {
        self.optional(name, "an integer", Value::as_i64)
    }

    pub fn bool(&self, name: &str) -> Result<bool, String> {
        self.optional_bool(name)?
            .ok_or_else(|| Self::missing(name, "a boolean"))
    }

    pub fn optional_bool(&self, name: &str) -> Result<Option<bool>, String> {
        self.optional(name, "a boolean", Value::as_bool)
    }

    /// An object member's own fields.
    pub fn object(&self, name: &str) -> Result<Fields<'a>, String> {
        self.optional_object(name)?
            .ok_or_else(|| Self::missing(name, "an object"))
    }

    pub fn optional_object(&self, name: &str) -> Result<Option<Fields<'a>>, String> {
        self.optional(name, "an object", |v| v.as_object().map(Fields))
    }

    /// An array member's items.
    pub fn array(&self, name: &str) -> Result<&'a [Value], String> {
        self.optional_array(name)?
            .ok_or_else(|| Self::missing(name, "an array"))
    }

    pub fn optional_array(&self, name: &str) -> Result<Option<&'a [Value]>, String> {
        self.optional(name, "an array", |v| v.as_array().map(Vec::as_slice))
    }

    /// An array member's items; none when it is absent.
    pub fn items(&self, name: &str) -> Result<&'a [Value], String> {
        Ok(self.optional_array(name)?.unwrap_or_default())
    }

    /// A member of any type, as it is.
    pub fn value(&self, name: &str) -> Option<&'a Value> {
        self.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_create_s_answer_keeps_the_configuration_as_airbyte_wrote_it() {
        let id = "5d7b1f30-1c5e-4a46-9d2b-2a6e0f1c3b4d";
        let answer = format!(
            r#"{{"destinationId": "{id}", "name": "lake", "destinationType": "s3", "workspaceId": "x",
                "configuration": {{"z": 1.10, "a": 12345678901234567890, "secret": "**********"}}}}"#
        );
        let created: ActorCreated = serde_json::from_str(&answer).unwrap();
        let actor = created
            .into_actor("destinations", Uuid::nil(), Uuid::max())
            .unwrap();
        assert_eq!(actor.id.to_string(), id);
        assert_eq!(actor.connector.as_deref(), Some("s3"));
        assert_eq!(
            (actor.workspace_id, actor.definition_id),
            (Uuid::nil(), Uuid::max())
        );
        assert_eq!(
            actor.config.get(),
            r#"{"z": 1.10, "a": 12345678901234567890, "secret": "**********"}"#,
            "numbers, order and spacing as Airbyte wrote them"
        );
        let not_an_object =
            format!(r#"{{"sourceId": "{id}", "name": "db", "configuration": "x"}}"#);
        let created: ActorCreated = serde_json::from_str(&not_an_object).unwrap();
        assert!(matches!(
            created.into_actor("sources", Uuid::nil(), Uuid::nil()),
            Err(Error::InvalidBody { reason, .. }) if reason == "field `configuration` is missing or not an object"
        ));
        let config_api = format!(
            r#"{{"sourceId": "{id}", "name": "db", "connectionConfiguration": {{"a": 1}}}}"#
        );
        let created: ActorCreated = serde_json::from_str(&config_api).unwrap();
        let actor = created
            .into_actor("sources/create", Uuid::nil(), Uuid::nil())
            .unwrap();
        assert_eq!((actor.config.get(), actor.connector), (r#"{"a": 1}"#, None));
    }

    #[test]
    fn a_member_is_read_as_what_it_must_be_and_named_when_it_is_not() {
        let answer = json!({"id": 7, "name": "x", "gone": null, "on": true, "list": [1], "inner": {"a": "b"}});
        let f = Fields::of(&answer).unwrap();
        assert_eq!(f.i64("id"), Ok(7));
        assert_eq!(f.optional_text("gone"), Ok(None), "null reads as absent");
        assert_eq!(
            f.text("id"),
            Err("field `id` is missing or not a string".into())
        );
        assert_eq!(
            f.uuid("name"),
            Err("field `name` is missing or not a UUID".into())
        );
        assert_eq!(f.bool("on"), Ok(true));
        assert_eq!(f.items("absent").map(<[Value]>::len), Ok(0));
        assert!(f.array("absent").is_err(), "a required array");
        assert_eq!(f.array("list").map(<[Value]>::len), Ok(1));
        assert_eq!(f.object("inner").and_then(|i| i.text("a")), Ok("b".into()));
        assert!(f.optional_object("list").is_err());
        assert!(Fields::of(&json!([])).is_err());
    }
}
