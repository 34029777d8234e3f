//! `POST /datasource` and `POST /sink`: create an Airbyte source or destination (both are
//! "actors" in Airbyte) from `{name, type, config}`.
//!
//! The client's `config` is passed to Airbyte byte for byte and never logged or returned; the
//! answer carries the configuration as Airbyte stored it, with secrets masked.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use log::warn;
use uuid::Uuid;

use crate::airbyte::{Actor, Kind};
use crate::app::App;
use crate::error::ApiError;
use crate::http::Reply;
use crate::input;
use crate::json;

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

/// `POST /datasource`, `POST /sink`: creates the actor; with `check`, runs Airbyte's connection
/// check and deletes the actor again when it fails, so that nothing is left behind.
pub fn create(app: &App, body: &[u8], kind: Kind, check: bool) -> Result<Reply, ApiError> {
    let NewActor {
        name,
        type_name,
        config,
    } = parse(body)?;

    let workspace = app.directory.workspace(&app.airbyte)?;
    let definition = app
        .directory
        .resolve(&app.airbyte, kind, workspace, &type_name)?;
    let actor = app
        .airbyte
        .create_actor(kind, workspace, definition.id, &name, config)
        .map_err(|e| redact(ApiError::from(e), config))?;
    if check {
        check_or_delete(app, kind, actor.id).map_err(|e| redact(e, config))?;
    }
    Ok(Reply::json(
        201,
        &answer(kind, &actor, &definition.docker_repository),
    ))
}

/// Runs the connection check of a just-created actor; when it fails (or cannot run), deletes the
/// actor and explains both.
fn check_or_delete(app: &App, kind: Kind, id: Uuid) -> Result<(), ApiError> {
    let noun = kind.noun();
    let mut problem = match app.airbyte.check_actor(kind, id) {
        Ok(check) if check.succeeded() => return Ok(()),
        Ok(check) => ApiError::unprocessable(format!(
            "Airbyte's connection check of the new {noun} failed: {}",
            check
                .message
                .as_deref()
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .unwrap_or("no reason given")
        )),
        Err(e) => ApiError::from(e),
    };
    match app.airbyte.delete_actor(kind, id) {
        Ok(()) => problem
            .detail
            .push_str(&format!("; the {noun} was deleted")),
        Err(e) => {
            warn!("the {noun} {id} failed its check and could not be deleted: {e}");
            problem.detail.push_str(&format!(
                "; deleting the {noun} failed too ({e}), so {noun} {id} remains in Airbyte"
            ));
        }
    }
    Err(problem)
}

/// `GET /datasource/{id}`, `GET /sink/{id}`: the actor as Airbyte stores it, in the shape a create
/// answers.
pub fn get(app: &App, kind: Kind, id: &str) -> Result<Reply, ApiError> {
    let id = input::path_id(id)?;
    let actor = app
        .airbyte
        .get_actor(kind, id)
        .map_err(|e| ApiError::for_id(e, kind.noun(), &id))?;
    let repository = repository_of(app, kind, actor.definition_id);
    Ok(Reply::json(200, &answer(kind, &actor, &repository)))
}

/// `DELETE /datasource/{id}`, `DELETE /sink/{id}`.
pub fn delete(app: &App, kind: Kind, id: &str) -> Result<Reply, ApiError> {
    let id = input::path_id(id)?;
    app.airbyte
        .delete_actor(kind, id)
        .map_err(|e| ApiError::for_id(e, kind.noun(), &id))?;
    Ok(Reply::no_content())
}

/// `GET /datasource`, `GET /sink`: the workspace's actors of this kind, every page.
pub fn list(app: &App, kind: Kind) -> Result<Reply, ApiError> {
    let workspace = app.directory.workspace(&app.airbyte)?;
    let actors = app.airbyte.list_actors(kind, workspace)?;
    // Without the definitions, the types are the definition ids: the list is still worth answering.
    let definitions = app
        .directory
        .definitions(&app.airbyte, kind, workspace)
        .ok();
    let items: Vec<Value> = actors
        .iter()
        .map(|actor| {
            let repository = definitions
                .as_ref()
                .and_then(|c| c.get(actor.definition_id))
                .map(|d| d.docker_repository.as_str());
            json!({
                "id": actor.id,
                "name": actor.name,
                "type": connector_type(kind, repository.unwrap_or_default(), actor.definition_id),
            })
        })
        .collect();
    Ok(Reply::json(200, &json!({ "items": items })))
}

/// The answer for one actor: `{id, name, type, workspaceId, definitionId, config}`.
fn answer<'a>(kind: Kind, actor: &'a Actor, repository: &str) -> ActorAnswer<'a> {
    ActorAnswer {
        id: actor.id,
        name: &actor.name,
        type_name: connector_type(kind, repository, actor.definition_id),
        workspace_id: actor.workspace_id,
        definition_id: actor.definition_id,
        config: Masked(&actor.config),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActorAnswer<'a> {
    id: Uuid,
    name: &'a str,
    #[serde(rename = "type")]
    type_name: String,
    workspace_id: Uuid,
    definition_id: Uuid,
    config: Masked<'a>,
}

/// `mysql` for `airbyte/source-mysql`; the whole repository for other connectors; the
/// definition id when the definition is not known.
fn connector_type(kind: Kind, repository: &str, definition_id: Uuid) -> String {
    if repository.is_empty() {
        return definition_id.to_string();
    }
    repository
        .strip_prefix(kind.repository_prefix())
        .unwrap_or(repository)
        .to_string()
}

/// The docker repository of a definition, or empty when it is not in the definition list (from
/// the cache; a definition missing there is not worth a refresh on every read).
fn repository_of(app: &App, kind: Kind, definition_id: Uuid) -> String {
    let index = app
        .directory
        .workspace(&app.airbyte)
        .and_then(|ws| app.directory.definitions(&app.airbyte, kind, ws))
        .ok();
    index
        .and_then(|index| {
            index
                .get(definition_id)
                .map(|d| d.docker_repository.clone())
        })
        .unwrap_or_default()
}

/// Whether a configuration key names a secret. Airbyte masks the fields its connector specs mark
/// secret; this catches the common names as well, in case an Airbyte does not.
fn is_secret_key(key: &str) -> bool {
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
    let key = key.as_bytes();
    let contains = |part: &str| {
        key.windows(part.len())
            .any(|w| w.eq_ignore_ascii_case(part.as_bytes()))
    };
    let ends_with = |part: &str| {
        key.len() >= part.len()
            && key[key.len() - part.len()..].eq_ignore_ascii_case(part.as_bytes())
    };
    named.into_iter().any(contains) || key.eq_ignore_ascii_case(b"key") || ends_with("_key")
}

/// A configuration as it is written into an answer: every string or number under a
/// secret-looking key replaced with the mask, at any depth.
struct Masked<'a>(&'a Value);

impl Serialize for Masked<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut out = serializer.serialize_map(Some(map.len()))?;
                for (key, value) in map {
                    if is_secret_key(key) && matches!(value, Value::String(_) | Value::Number(_)) {
                        out.serialize_entry(key, MASK)?;
                    } else {
                        out.serialize_entry(key, &Masked(value))?;
                    }
                }
                out.end()
            }
            Value::Array(items) => serializer.collect_seq(items.iter().map(Masked)),
            other => other.serialize(serializer),
        }
    }
}

/// Removes from an Airbyte message any string the client's configuration holds: Airbyte's
/// validation messages may quote the values they reject. The strings are found without parsing
/// the configuration's numbers, so that no value the service cannot represent turns masking off.
fn redact(mut error: ApiError, config: &RawValue) -> ApiError {
    let mut values = Vec::new();
    json::for_each_scalar(config, &mut Vec::new(), &mut |_, value| {
        values.extend(value.as_str().filter(|s| s.len() >= 3));
    });
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
        let masked = serde_json::to_value(Masked(&json!({
            "host": "db", "password": "hunter2",
            "credentials": {"secret_access_key": "abc", "auth_type": "key"},
            "tunnel": [{"ssh_private_key": "-----BEGIN", "ssh_key": "k", "tunnel_method": "SSH_KEY_AUTH"}],
            "api_token": 12345, "Private_Key_Id": 7, "monkey": "not a secret"
        })))
        .unwrap();
        assert_eq!(
            masked,
            json!({
                "host": "db", "password": MASK,
                "credentials": {"secret_access_key": MASK, "auth_type": "key"},
                "tunnel": [{"ssh_private_key": MASK, "ssh_key": MASK, "tunnel_method": "SSH_KEY_AUTH"}],
                "api_token": MASK, "Private_Key_Id": MASK, "monkey": "not a secret"
            })
        );
    }

    /// The configuration used to be parsed whole to find its strings: a number too large for a
    /// float made that fail, and the message went out unmasked.
    #[test]
    fn redacting_never_depends_on_reading_the_numbers() {
        let config =
            RawValue::from_string(r#"{"password":"hunter2","port":1e400000000}"#.into()).unwrap();
        let e = redact(ApiError::unprocessable("bad password hunter2"), &config);
        assert_eq!(e.detail, format!("bad password {MASK}"));
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
