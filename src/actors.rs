//! `/datasource` and `/sink`: create, read, change, list and delete Airbyte sources and
//! destinations (both are "actors" in Airbyte) from `{name, type, config}`.
//!
//! The client's `config` is passed to Airbyte byte for byte and never logged; answers carry the
//! configuration as Airbyte stored it, with its secrets masked (`secrets.rs`). A configuration is
//! also what `checks.rs` and `streams.rs` try out before anything is created: [`prepare`] is
//! where all three read and resolve it.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::airbyte::{Actor, Check, Definition, Kind};
use crate::app::App;
use crate::error::ApiError;
use crate::http::Reply;
use crate::input;
use crate::json::{Path, Segment};
use crate::secrets::{self, Masked, Redactor, SecretFields, MASK};

#[derive(Deserialize)]
struct CreateBody<'a> {
    /// `present`: `"name": null` is a name of the wrong type, not an absent one.
    #[serde(borrow, default, deserialize_with = "input::present")]
    name: Option<&'a RawValue>,
    #[serde(borrow, rename = "type")]
    type_name: Option<&'a RawValue>,
    #[serde(borrow)]
    config: Option<&'a RawValue>,
}

/// A checked `{name, type, config}` body.
#[derive(Debug)]
pub struct NewActor<'a> {
    /// Required on create; checks and stream previews take it and ignore it.
    pub name: Option<Cow<'a, str>>,
    pub type_name: Cow<'a, str>,
    /// The client's configuration, verbatim: always a JSON object, with no masked value in it.
    pub config: &'a RawValue,
}

/// Checks a `{name, type, config}` body; every rejection is a 400 that names the field.
pub fn parse(body: &[u8], name_required: bool) -> Result<NewActor<'_>, ApiError> {
    let fields: CreateBody = input::parse_object(body)?;
    let name = match name_required {
        true => Some(input::string("name", fields.name, 256)?),
        false => input::optional_string("name", fields.name, 256)?,
    };
    let actor = NewActor {
        name,
        type_name: input::string("type", fields.type_name, 256)?,
        config: input::object("config", fields.config)?,
    };
    secrets::refuse_masks("config", actor.config)?;
    Ok(actor)
}

/// A configuration for a connector type, resolved: where it goes, what its connector is, and
/// which of its fields are secrets.
pub struct Prepared<'a> {
    pub name: Option<Cow<'a, str>>,
    pub config: &'a RawValue,
    pub workspace: Uuid,
    pub definition: Arc<Definition>,
    pub secrets: Arc<SecretFields>,
}

impl Prepared<'_> {
    /// What of the configuration must not reach the client in Airbyte's messages; found when
    /// there is a message, not on every request.
    pub fn redactor(&self) -> Redactor {
        self.secrets.redactor(self.config)
    }

    /// An Airbyte failure about this configuration, as the client is told it.
    pub fn problem(&self, failure: impl Into<ApiError>) -> ApiError {
        self.redactor().problem(failure.into())
    }
}

/// Reads a `{name, type, config}` body and resolves its workspace, definition and secret fields.
pub fn prepare<'a>(
    app: &App,
    kind: Kind,
    body: &'a [u8],
    name_required: bool,
) -> Result<Prepared<'a>, ApiError> {
    let NewActor {
        name,
        type_name,
        config,
    } = parse(body, name_required)?;
    let workspace = app.directory.workspace(&*app.airbyte)?;
    let definition = app
        .directory
        .resolve(&*app.airbyte, kind, workspace, &type_name)?;
    let secrets = app
        .directory
        .secrets(&*app.airbyte, kind, workspace, definition.id);
    Ok(Prepared {
        name,
        config,
        workspace,
        definition,
        secrets,
    })
}

/// `POST /datasource`, `POST /sink`: creates the actor; with `check`, first has Airbyte check
/// the configuration without creating anything, and creates only when the check succeeds.
pub fn create(app: &App, body: &[u8], kind: Kind, check: bool) -> Result<Reply, ApiError> {
    let new = prepare(app, kind, body, true)?;
    if check {
        let outcome = app
            .airbyte
            .check_config(kind, new.workspace, new.definition.id, new.config)
            .map_err(|e| new.problem(e))?;
        require_success(&outcome, || new.redactor(), "nothing was created")?;
    }
    let actor = app
        .airbyte
        .create_actor(
            kind,
            new.workspace,
            new.definition.id,
            new.name.as_deref().unwrap_or_default(),
            new.config,
        )
        .map_err(|e| new.problem(e))?;
    Ok(Reply::created(
        collection(kind),
        actor.id,
        &answer(
            kind,
            &actor,
            &new.definition.docker_repository,
            &new.secrets,
        ),
    ))
}

/// Where the service serves actors of `kind`: `/datasource`, `/sink`.
fn collection(kind: Kind) -> &'static str {
    match kind {
        Kind::Source => "/datasource",
        Kind::Destination => "/sink",
    }
}

/// 422 for a connection check that ran and failed, with Airbyte's message (secrets masked) and
/// what did not happen because of it (`outcome`).
pub fn require_success(
    check: &Check,
    redactor: impl FnOnce() -> Redactor,
    outcome: &str,
) -> Result<(), ApiError> {
    if check.succeeded {
        return Ok(());
    }
    let message = check
        .message
        .as_deref()
        .or(check
            .failure
            .as_ref()
            .and_then(|f| f.external_message.as_deref()))
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .unwrap_or("Airbyte gave no reason");
    Err(ApiError::unprocessable(format!(
        "Airbyte's connection check failed: {}; {outcome}",
        redactor().text(message)
    )))
}

/// `GET /datasource/{id}`, `GET /sink/{id}`: the actor as Airbyte stores it, in the shape a create
/// answers.
pub fn get(app: &App, kind: Kind, id: &str) -> Result<Reply, ApiError> {
    let id = input::path_id(id)?;
    let actor = app
        .airbyte
        .get_actor(kind, id)
        .map_err(|e| ApiError::for_id(e, kind.noun(), &id))?;
    Ok(stored(app, kind, &actor))
}

/// A `PATCH /datasource/{id}` body: a new name, a merge patch of the configuration, or both.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody<'a> {
    #[serde(borrow, default, deserialize_with = "input::present")]
    name: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "input::present")]
    config: Option<&'a RawValue>,
}

/// A checked `PATCH` body.
#[derive(Debug)]
pub struct Change<'a> {
    pub name: Option<Cow<'a, str>>,
    /// A JSON merge patch (RFC 7396) of the stored configuration, as sent and as read.
    pub config: Option<(&'a RawValue, Value)>,
}

/// Checks a `PATCH` body; every rejection is a 400 that names the field.
pub fn parse_change(body: &[u8]) -> Result<Change<'_>, ApiError> {
    let fields: PatchBody = input::parse_object(body)?;
    let name = input::optional_string("name", fields.name, 256)?;
    let config = match fields.config {
        None => None,
        Some(raw) => {
            let raw = input::object("config", Some(raw))?;
            // The body has passed `parse_object`: every number in it fits a float.
            let value = serde_json::from_str(raw.get())
                .map_err(|_| ApiError::invalid("field 'config' must be a JSON object"))?;
            Some((raw, value))
        }
    };
    if name.is_none() && config.is_none() {
        return Err(ApiError::invalid(
            "the request body changes nothing; send 'name', 'config' (a merge patch of the stored configuration) or both",
        ));
    }
    Ok(Change { name, config })
}

/// `PATCH /datasource/{id}`, `PATCH /sink/{id}`: renames the actor and changes its configuration
/// by a merge patch; a masked value keeps the stored secret. With `check`, Airbyte checks the
/// changed configuration first (its stored secrets filled in), and nothing is saved unless the
/// check succeeds.
pub fn patch(app: &App, kind: Kind, id: &str, body: &[u8], check: bool) -> Result<Reply, ApiError> {
    let id = input::path_id(id)?;
    let change = parse_change(body)?;
    let noun = kind.noun();
    let actor = app
        .airbyte
        .get_actor(kind, id)
        .map_err(|e| ApiError::for_id(e, noun, &id))?;
    let secrets =
        app.directory
            .secrets(&*app.airbyte, kind, actor.workspace_id, actor.definition_id);
    // Only the client's own secrets can be recognised in a message: the stored ones it never saw.
    let sent = match &change.config {
        Some((raw, _)) => *raw,
        None => serde_json::from_str("{}").expect("an empty object is JSON"),
    };
    let redactor = || secrets.redactor(sent);
    // Parsed only here, to be changed: every other answer writes the stored text as it came.
    let mut config: Value = serde_json::from_str(actor.config.get()).map_err(|_| {
        ApiError::bad_gateway(format!(
            "the {noun}'s stored configuration holds a number this service cannot read, so it cannot be changed here; change it in Airbyte"
        ))
    })?;
    if let Some((_, patch)) = &change.config {
        merge(&mut config, patch, &mut vec![Segment::Key("config".into())])?;
    }
    let name = change.name.as_deref().unwrap_or(&actor.name);
    let problem = |e| redactor().problem(ApiError::for_id(e, noun, &id));
    if check {
        let outcome = app
            .airbyte
            .check_update(kind, id, name, &config)
            .map_err(problem)?;
        require_success(&outcome, redactor, "nothing was saved")?;
    }
    let updated = app
        .airbyte
        .update_actor(kind, id, name, &config)
        .map_err(problem)?;
    Ok(stored(app, kind, &updated))
}

/// Applies a JSON merge patch (RFC 7396) to `target`: keys sent replace, `null` removes, keys
/// not sent stay. A value equal to Airbyte's mask keeps what `target` holds there (a client
/// sending back what `GET` showed it); one where `target` holds nothing is a 400, since there is
/// no stored secret to keep.
fn merge(target: &mut Value, patch: &Value, path: &mut Vec<Segment<'_>>) -> Result<(), ApiError> {
    let Value::Object(changes) = patch else {
        unmasked_without_value(patch, Some(target), path)?;
        if !is_mask(patch) {
            *target = patch.clone();
        }
        return Ok(());
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(fields) = target else {
        unreachable!("made an object above")
    };
    for (key, change) in changes {
        path.push(Segment::Key(Cow::Owned(key.clone())));
        if change.is_null() {
            fields.remove(key);
        } else {
            let slot = fields.entry(key.clone()).or_insert(Value::Null);
            merge(slot, change, path)?;
        }
        path.pop();
    }
    Ok(())
}

fn is_mask(value: &Value) -> bool {
    value.as_str() == Some(MASK)
}

/// 400 when `new` holds a mask (at any depth in an array sent whole) where `old` holds nothing.
fn unmasked_without_value(
    new: &Value,
    old: Option<&Value>,
    path: &mut Vec<Segment<'_>>,
) -> Result<(), ApiError> {
    let old = old.filter(|v| !v.is_null());
    match new {
        _ if is_mask(new) && old.is_none() => Err(ApiError::invalid(format!(
            "field '{}' is Airbyte's mask '{MASK}', which keeps a stored secret, but nothing is stored there; send the value itself",
            Path(path)
        ))),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Segment::Index(i));
                unmasked_without_value(item, old.and_then(|o| o.get(i)), path)?;
                path.pop();
            }
            Ok(())
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                path.push(Segment::Key(Cow::Owned(key.clone())));
                unmasked_without_value(item, old.and_then(|o| o.get(key)), path)?;
                path.pop();
            }
            Ok(())
        }
        _ => Ok(()),
    }
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
    let workspace = app.directory.workspace(&*app.airbyte)?;
    let actors = app.airbyte.list_actors(kind, workspace)?;
    // Without the definitions, the types are the definition ids: the list is still worth answering.
    let definitions = app
        .directory
        .definitions(&*app.airbyte, kind, workspace)
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
                "type": connector_type(kind, repository.unwrap_or_default(), actor),
            })
        })
        .collect();
    Ok(Reply::json(200, &json!({ "items": items })))
}

/// The `200` answer for a stored actor, its type and secret fields looked up from the caches.
fn stored(app: &App, kind: Kind, actor: &Actor) -> Reply {
    let repository = repository_of(app, kind, actor.definition_id);
    let secrets =
        app.directory
            .secrets(&*app.airbyte, kind, actor.workspace_id, actor.definition_id);
    Reply::json(200, &answer(kind, actor, &repository, &secrets))
}

/// The answer for one actor: `{id, name, type, workspaceId, definitionId, config}`.
fn answer<'a>(
    kind: Kind,
    actor: &'a Actor,
    repository: &'a str,
    secrets: &'a SecretFields,
) -> ActorAnswer<'a> {
    ActorAnswer {
        id: actor.id,
        name: &actor.name,
        type_name: connector_type(kind, repository, actor),
        workspace_id: actor.workspace_id,
        definition_id: actor.definition_id,
        config: secrets.masked(&actor.config),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActorAnswer<'a> {
    id: Uuid,
    name: &'a str,
    #[serde(rename = "type")]
    type_name: Cow<'a, str>,
    workspace_id: Uuid,
    definition_id: Uuid,
    config: Masked<'a>,
}

/// `mysql` for `airbyte/source-mysql`; the whole repository for other connectors; where the
/// repository is not known, the type Airbyte names the actor by (the public API's), else the
/// definition id.
fn connector_type<'a>(kind: Kind, repository: &'a str, actor: &'a Actor) -> Cow<'a, str> {
    if repository.is_empty() {
        return match &actor.connector {
            Some(named) if !named.is_empty() => Cow::Borrowed(named),
            _ => Cow::Owned(actor.definition_id.to_string()),
        };
    }
    Cow::Borrowed(
        repository
            .strip_prefix(kind.repository_prefix())
            .unwrap_or(repository),
    )
}

/// The docker repository of a definition, or empty when it is not in the definition list (from
/// the cache; a definition missing there is not worth a refresh on every read).
fn repository_of(app: &App, kind: Kind, definition_id: Uuid) -> String {
    let index = app
        .directory
        .workspace(&*app.airbyte)
        .and_then(|ws| app.directory.definitions(&*app.airbyte, kind, ws))
        .ok();
    index
        .and_then(|index| {
            index
                .get(definition_id)
                .map(|d| d.docker_repository.clone())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(stored: Value, patch: Value) -> Result<Value, ApiError> {
        let mut target = stored;
        merge(
            &mut target,
            &patch,
            &mut vec![Segment::Key("config".into())],
        )?;
        Ok(target)
    }

    /// RFC 7396's own examples (appendix A), as far as objects go.
    #[test]
    fn merge_patch_follows_rfc_7396() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (stored, patch, expected) in cases {
            assert_eq!(
                merged(stored.clone(), patch.clone()).unwrap(),
                expected,
                "{stored} + {patch}"
            );
        }
    }

    #[test]
    fn a_masked_value_keeps_the_stored_one() {
        let stored = json!({"host":"db","password":"**********","api_token":"t0k3n","tunnel":{"ssh_key":"**********"}});
        let patch =
            json!({"host":"db2","password":MASK,"api_token":MASK,"tunnel":{"ssh_key":MASK}});
        assert_eq!(
            merged(stored.clone(), patch).unwrap(),
            json!({"host":"db2","password":"**********","api_token":"t0k3n","tunnel":{"ssh_key":"**********"}})
        );
        let e = merged(stored.clone(), json!({"tunnel":{"password":MASK}})).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.detail
                .starts_with("field 'config.tunnel.password' is Airbyte's mask"),
            "{}",
            e.detail
        );
        let e = merged(stored, json!({"replicas":[{"password":MASK}]})).unwrap_err();
        assert!(
            e.detail.starts_with("field 'config.replicas[0].password'"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn a_patch_changes_nothing_or_something() {
        assert!(parse_change(b"{}")
            .unwrap_err()
            .detail
            .contains("changes nothing"));
        assert!(parse_change(br#"{"config":null}"#)
            .unwrap_err()
            .detail
            .contains("'config' must be an object"));
        assert!(parse_change(br#"{"config":[1]}"#)
            .unwrap_err()
            .detail
            .contains("'config' must be an object"));
        assert!(parse_change(br#"{"name":null}"#)
            .unwrap_err()
            .detail
            .contains("'name'"));
        assert!(parse_change(br#"{"type":"mysql"}"#)
            .unwrap_err()
            .detail
            .contains("field 'type' is not one this request takes"));
        let change = parse_change(br#"{"name":" n ","config":{"port":3307}}"#).unwrap();
        assert_eq!(change.name.as_deref(), Some("n"));
        assert_eq!(change.config.unwrap().1, json!({"port":3307}));
    }
}
