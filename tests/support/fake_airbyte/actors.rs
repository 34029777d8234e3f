//! Sources and destinations, which Airbyte calls actors and the fake serves with the same code:
//! create, get, update, delete, list, and a source's discover_schema. The fake stores each
//! configuration whole and masks its secrets (as its connector's spec marks them) in every answer.

use serde_json::{json, Value};
use uuid::Uuid;

use super::replies::{answer, invalid, no_content, not_found, Reply};
use super::specs;
use super::{Recorded, State};

/// Which of the two an Airbyte call is about; its paths and fields are named after it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Source,
    Destination,
}

impl Kind {
    /// `source` or `destination`: how Airbyte's messages and field names call it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Source => "source",
            Kind::Destination => "destination",
        }
    }

    /// The field that holds an actor's id.
    pub(super) fn id_field(self) -> &'static str {
        match self {
            Kind::Source => "sourceId",
            Kind::Destination => "destinationId",
        }
    }

    /// The field that holds the id of an actor's connector definition.
    pub(super) fn definition_field(self) -> &'static str {
        match self {
            Kind::Source => "sourceDefinitionId",
            Kind::Destination => "destinationDefinitionId",
        }
    }
}

/// The configuration error Airbyte answers a `port` that is not a whole number with.
const PORT_NOT_AN_INTEGER: &str = "The provided configuration does not fulfill the specification. Errors: json schema validation failed when comparing the data to the json schema. \nErrors: $.port: string found, integer expected ";

/// 422 for a configuration that does not fit its connector's spec, as far as the fake checks:
/// a `port` must be a whole number. Airbyte names the field and quotes the value.
pub(super) fn misfit(config: &Value) -> Option<Reply> {
    let port = config.get("port")?;
    if port.is_u64() {
        return None;
    }
    let quoted = port.as_str().map_or(port.to_string(), str::to_string);
    Some(answer(
        422,
        json!({
            "message": PORT_NOT_AN_INTEGER,
            "exceptionClassName": "io.airbyte.validation.json.JsonValidationException",
            "exceptionStack": ["io.airbyte.validation.json.JsonSchemaValidator.ensure(JsonSchemaValidator.java:245)"],
            "validationErrors": [{ "propertyPath": "$.port", "invalidValue": quoted, "message": "string found, integer expected" }],
        }),
    ))
}

/// The definition the body names, of `kind`; else Airbyte's refusal.
fn definition_of<'s>(s: &'s State, request: &Recorded, kind: Kind) -> Result<&'s Value, Reply> {
    let Some(id) = request.uuid_field(kind.definition_field()) else {
        return Err(invalid(&format!("{} is required", kind.definition_field())));
    };
    s.definitions(kind)
        .iter()
        .find(|d| d[kind.definition_field()] == id)
        .ok_or_else(|| {
            not_found(
                &format!("{}_definition", kind.name()),
                &request.body[kind.definition_field()],
            )
        })
}

/// `sources/create`, `destinations/create`.
pub(super) fn create(s: &mut State, request: &Recorded, kind: Kind) -> Reply {
    let body = &request.body;
    let (Some(ws), Some(_name), Some(config)) = (
        request.uuid_field("workspaceId"),
        body.get("name").and_then(Value::as_str),
        body.get("connectionConfiguration")
            .filter(|c| c.is_object()),
    ) else {
        return invalid(
            "workspaceId, name, connectionConfiguration and the definition id are required",
        );
    };
    if !request.has_json_body() {
        return answer(
            415,
            json!({ "message": "Content-Type must be application/json" }),
        );
    }
    if !s.has_workspace(ws) {
        return not_found("workspace", &body["workspaceId"]);
    }
    let definition = match definition_of(s, request, kind) {
        Ok(definition) => definition.clone(),
        Err(refused) => return refused,
    };
    if let Some(refused) = misfit(config) {
        return refused;
    }
    let id = Uuid::new_v4().to_string();
    let read = actor_read(kind, &id, body, &definition);
    let shown = shown(s, kind, &read);
    if s.actors(kind).len() < s.max_stored_actors {
        s.created.push(id.clone());
        s.actors_mut(kind).insert(id, read);
    }
    answer(200, shown)
}

/// The `SourceRead` or `DestinationRead` Airbyte stores for a create it accepts: the body's
/// fields, the configuration whole (answers mask it: [`shown`]).
fn actor_read(kind: Kind, id: &str, body: &Value, definition: &Value) -> Value {
    json!({
        kind.definition_field(): body[kind.definition_field()],
        kind.id_field(): id,
        "workspaceId": body["workspaceId"],
        "connectionConfiguration": body["connectionConfiguration"],
        "name": body["name"],
        format!("{}Name", kind.name()): definition["name"],
        "icon": "",
        "createdAt": 1_700_000_000,
        "status": "active",
        "isVersionOverrideApplied": false,
        "supportState": "supported",
    })
}

/// A stored actor as Airbyte answers it: its secrets masked as its connector's spec marks them.
pub(super) fn shown(s: &State, kind: Kind, read: &Value) -> Value {
    let mut shown = read.clone();
    let definition = read[kind.definition_field()].as_str().unwrap_or_default();
    if let Some(config) = shown.get_mut("connectionConfiguration") {
        *config = specs::mask(config, &specs::spec_of(s, definition));
    }
    shown
}

/// The configuration of a `SourceCoreConfig` / `DestinationCoreConfig` body (a check or
/// discovery of a configuration no actor has), checked as Airbyte checks it.
pub(super) fn core_config(s: &State, request: &Recorded, kind: Kind) -> Result<Value, Reply> {
    let Some(ws) = request.uuid_field("workspaceId") else {
        return Err(invalid("workspaceId is required"));
    };
    if !s.has_workspace(ws) {
        return Err(not_found("workspace", &request.body["workspaceId"]));
    }
    definition_of(s, request, kind)?;
    let Some(config) = request
        .body
        .get("connectionConfiguration")
        .filter(|c| c.is_object())
    else {
        return Err(invalid("connectionConfiguration is required"));
    };
    if let Some(refused) = misfit(config) {
        return Err(refused);
    }
    Ok(config.clone())
}

/// A `SourceUpdate` / `DestinationUpdate` body applied to the stored actor it names: its id and
/// the actor as it would be stored, masked values filled from the stored configuration.
pub(super) fn updated(s: &State, request: &Recorded, kind: Kind) -> Result<(String, Value), Reply> {
    let id = existing(s, request, kind)?.to_string();
    let body = &request.body;
    let (Some(name), Some(config)) = (
        body.get("name").and_then(Value::as_str),
        body.get("connectionConfiguration")
            .filter(|c| c.is_object()),
    ) else {
        return Err(invalid("name and connectionConfiguration are required"));
    };
    let mut read = s.actors(kind)[&id].clone();
    let stored = read.get("connectionConfiguration");
    let config = specs::fill(config, stored, "$")
        .map_err(|path| invalid(&format!("{path} is masked, but no secret is stored for it")))?;
    if let Some(refused) = misfit(&config) {
        return Err(refused);
    }
    read["name"] = json!(name);
    read["connectionConfiguration"] = config;
    Ok((id, read))
}

/// `sources/update`, `destinations/update`: replaces the name and the whole configuration.
pub(super) fn update(s: &mut State, request: &Recorded, kind: Kind) -> Reply {
    match updated(s, request, kind) {
        Ok((id, read)) => {
            let shown = shown(s, kind, &read);
            s.actors_mut(kind).insert(id, read);
            answer(200, shown)
        }
        Err(refused) => refused,
    }
}

/// The id the request names, of an actor the fake holds; else the answer Airbyte refuses it with.
pub(super) fn existing<'r>(s: &State, request: &'r Recorded, kind: Kind) -> Result<&'r str, Reply> {
    request.id_in(kind.id_field(), s.actors(kind), kind.name())
}

/// `sources/get`, `destinations/get`.
pub(super) fn get(s: &State, request: &Recorded, kind: Kind) -> Reply {
    match existing(s, request, kind) {
        Ok(id) => answer(200, shown(s, kind, &s.actors(kind)[id])),
        Err(refused) => refused,
    }
}

/// `sources/delete`, `destinations/delete`.
pub(super) fn delete(s: &mut State, request: &Recorded, kind: Kind) -> Reply {
    match existing(s, request, kind) {
        Ok(id) => {
            s.actors_mut(kind).remove(id);
            no_content()
        }
        Err(refused) => refused,
    }
}

/// `sources/list`, `destinations/list`: a workspace's, in the order of creation, paged by
/// `cursor` (the last id seen) and `pageSize`.
pub(super) fn list(s: &State, request: &Recorded, kind: Kind) -> Reply {
    let Some(ws) = request.uuid_field("workspaceId") else {
        return invalid("workspaceId is required");
    };
    let store = s.actors(kind);
    let mut all: Vec<&Value> = s
        .created
        .iter()
        .filter_map(|id| store.get(id))
        .filter(|a| a["workspaceId"] == ws)
        .collect();
    if let Some(cursor) = request.body.get("cursor").and_then(Value::as_str) {
        if let Some(at) = all.iter().position(|a| a[kind.id_field()] == cursor) {
            all.drain(..=at);
        }
    }
    if let Some(size) = request.body.get("pageSize").and_then(Value::as_u64) {
        all.truncate(size as usize);
    }
    let all: Vec<Value> = all.into_iter().map(|a| shown(s, kind, a)).collect();
    answer(200, json!({ format!("{}s", kind.name()): all }))
}

/// `sources/discover_schema`: the streams a test set ([`super::FakeAirbyte::set_streams`]), or
/// the failed job of [`super::FakeAirbyte::fail_discovery`]; compared with a connection's
/// catalog when one is named.
pub(super) fn discover_schema(s: &mut State, request: &Recorded) -> Reply {
    if let Err(refused) = existing(s, request, Kind::Source) {
        return refused;
    }
    let mut read = discovery(s);
    if read.get("catalog").is_none() {
        return answer(200, read);
    }
    // For a connection's source, Airbyte compares with the connection's catalog.
    let catalog = request
        .body
        .get("connectionId")
        .and_then(Value::as_str)
        .and_then(|id| s.connections.get(id))
        .and_then(|c| c.pointer("/syncCatalog/streams"))
        .and_then(Value::as_array);
    if let Some(before) = catalog {
        let name = |v: &Value| v.pointer("/stream/name").cloned();
        let now: Vec<Option<Value>> = s.streams.iter().map(name).collect();
        let removed = before.iter().any(|b| !now.contains(&name(b)));
        read["breakingChange"] = json!(removed);
        read["catalogDiff"] = json!({ "transforms": [] });
    }
    answer(200, read)
}

/// A discovery's answer: the streams a test set, or the failed job of
/// [`super::FakeAirbyte::fail_discovery`] (`catalog` absent).
pub(super) fn discovery(s: &mut State) -> Value {
    s.discoveries += 1;
    let job = |succeeded: bool| json!({ "id": Uuid::new_v4(), "configType": "discover_schema", "createdAt": 1, "endedAt": 2, "succeeded": succeeded });
    if let Some((failure_type, message)) = &s.discovery_failure {
        let mut job = job(false);
        job["failureReason"] = json!({ "failureOrigin": "source", "externalMessage": message, "internalMessage": "java.lang.RuntimeException: discover failed", "timestamp": 2 });
        if let Some(failure_type) = failure_type {
            job["failureReason"]["failureType"] = json!(failure_type);
        }
        return json!({ "jobInfo": job });
    }
    json!({ "catalog": { "streams": s.streams }, "jobInfo": job(true), "catalogId": Uuid::new_v4() })
}

/// A stream as `sources/discover_schema` lists it: an `id` primary key, not selected.
pub fn stream(name: &str, modes: &[&str]) -> Value {
    json!({
        "stream": {
            "name": name,
            "jsonSchema": { "type": "object", "properties": { "id": { "type": "integer" } } },
            "supportedSyncModes": modes,
            "sourceDefinedCursor": false,
            "defaultCursorField": [],
            "sourceDefinedPrimaryKey": [["id"]],
            "namespace": "shop",
        },
        "config": {
            "syncMode": "full_refresh",
            "destinationSyncMode": "overwrite",
            "selected": false,
            "suggested": true,
            "cursorField": [],
            "primaryKey": [["id"]],
            "aliasName": name,
        }
    })
}
