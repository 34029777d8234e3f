//! `POST /datasource` and `POST /sink`: create an Airbyte source or destination (both are
//! "actors" in Airbyte) from `{name, type, config}`.
//!
//! The client's `config` is passed to Airbyte byte for byte and never logged or returned; the
//! answer carries the configuration as Airbyte stored it, with secrets masked.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::airbyte::Kind;
use crate::error::ApiError;
use crate::http::{Incoming, Reply};
use crate::input;
use crate::routes::App;

/// What Airbyte shows in place of a secret, and what the service shows too.
const MASK: &str = "**********";

#[derive(Deserialize)]
struct CreateBody<'a> {
    #[serde(borrow)]
    name: Option<&'a RawValue>,
    #[serde(borrow, rename = "type")]
    type_name: Option<&'a RawValue>,
    #[serde(borrow)]
    config: Option<&'a RawValue>,
}

/// A checked `{name, type, config}` body.
#[derive(Debug)]
pub struct NewActor<'a> {
    pub name: String,
    pub type_name: String,
    /// The client's configuration, verbatim: always a JSON object.
    pub config: &'a RawValue,
}

/// Checks a create body; every rejection is a 400 that names the field.
pub fn parse(body: &[u8]) -> Result<NewActor<'_>, ApiError> {
    let fields: CreateBody = input::parse_object(body)?;
    Ok(NewActor {
        name: input::string("name", fields.name, 256)?,
        type_name: input::string("type", fields.type_name, 256)?,
        config: input::object("config", fields.config)?,
    })
}

pub fn create(app: &App, request: &mut Incoming, kind: Kind) -> Result<Reply, ApiError> {
    let body = request.json_body()?;
    let NewActor {
        name,
        type_name,
        config,
    } = parse(&body)?;

    let workspace = app.directory.workspace(&app.airbyte)?;
    let definition = app
        .directory
        .resolve(&app.airbyte, kind, workspace, &type_name)?;
    let actor = app
        .airbyte
        .create_actor(kind, workspace, definition.id, &name, config)
        .map_err(|e| redact(ApiError::from(e), config))?;

    let connector = definition
        .docker_repository
        .strip_prefix(kind.repository_prefix())
        .unwrap_or(&definition.docker_repository);
    Ok(Reply::json(
        201,
        &json!({
            "id": actor.id,
            "name": actor.name,
            "type": connector,
            "workspaceId": actor.workspace_id,
            "definitionId": actor.definition_id,
            "config": mask(actor.config),
        }),
    ))
}

/// Whether a configuration key names a secret. Airbyte masks the fields its connector specs mark
/// secret; this catches the common names as well, in case an Airbyte does not.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let named = [
        "password",
        "passwd",
        "secret",
        "token",
        "credential",
        "private",
        "apikey",
        "access_key",
    ];
    named.iter().any(|s| key.contains(s)) || key == "key" || key.ends_with("_key")
}

/// Replaces every string or number under a secret-looking key with the mask.
fn mask(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let hidden =
                        is_secret_key(&k) && matches!(v, Value::String(_) | Value::Number(_));
                    let v = if hidden {
                        Value::String(MASK.to_string())
                    } else {
                        mask(v)
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(mask).collect()),
        other => other,
    }
}

/// Removes from an Airbyte message any string the client's configuration holds: Airbyte's
/// validation messages may quote the values they reject.
fn redact(mut error: ApiError, config: &RawValue) -> ApiError {
    fn strings(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) if s.len() >= 3 => out.push(s.clone()),
            Value::Object(map) => map.values().for_each(|v| strings(v, out)),
            Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut values = Vec::new();
    if let Ok(parsed) = serde_json::from_str::<Value>(config.get()) {
        strings(&parsed, &mut values);
    }
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    for value in values {
        if error.detail.contains(&value) {
            error.detail = error.detail.replace(&value, MASK);
        }
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secret_looking_keys_at_any_depth() {
        let masked = mask(json!({
            "host": "db", "password": "hunter2",
            "credentials": {"secret_access_key": "abc", "auth_type": "key"},
            "tunnel": [{"ssh_private_key": "-----BEGIN", "ssh_key": "k", "tunnel_method": "SSH_KEY_AUTH"}],
            "api_token": 12345
        }));
        assert_eq!(
            masked,
            json!({
                "host": "db", "password": MASK,
                "credentials": {"secret_access_key": MASK, "auth_type": "key"},
                "tunnel": [{"ssh_private_key": MASK, "ssh_key": MASK, "tunnel_method": "SSH_KEY_AUTH"}],
                "api_token": MASK
            })
        );
    }

    #[test]
    fn redacts_config_values_quoted_by_airbyte() {
        let config = RawValue::from_string(
            r#"{"password":"hunter2","nested":{"key":"hunter22"},"port":1}"#.into(),
        )
        .unwrap();
        let e = redact(
            ApiError::unprocessable("value hunter22 and hunter2 rejected"),
            &config,
        );
        assert_eq!(e.detail, format!("value {MASK} and {MASK} rejected"));
    }
}
