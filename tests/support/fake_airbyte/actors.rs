//! Sources and destinations, which Airbyte calls actors and the fake serves with the same code:
//! create, get, delete, check_connection, list, and a source's discover_schema.

use serde_json::{json, Value};
use uuid::Uuid;

use super::replies::{answer, invalid, no_content, not_found, Reply};
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

/// `sources/create`, `destinations/create`.
pub(super) fn create(s: &mut State, request: &Recorded, kind: Kind) -> Reply {
    let body = &request.body;
    let (Some(ws), Some(definition_id), Some(_name), Some(config)) = (
        request.uuid_field("workspaceId"),
        request.uuid_field(kind.definition_field()),
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
    let Some(definition) = s
        .definitions(kind)
        .iter()
        .find(|d| d[kind.definition_field()] == definition_id)
    else {
        let what = format!("{}_definition", kind.name());
        return not_found(&what, &body[kind.definition_field()]);
    };
    if config.get("port").is_some_and(|p| !p.is_u64()) {
        return invalid(PORT_NOT_AN_INTEGER);
    }
    let id = Uuid::new_v4().to_string();
    let read = actor_read(kind, &id, body, definition);
    if s.actors(kind).len() < s.max_stored_actors {
        s.created.push(id.clone());
        s.actors_mut(kind).insert(id, read.clone());
    }
    answer(200, read)
}

/// The `SourceRead` or `DestinationRead` Airbyte stores for a create it accepts and answers it
/// with: the body's fields, the connector's secrets masked.
fn actor_read(kind: Kind, id: &str, body: &Value, definition: &Value) -> Value {
    json!({
        kind.definition_field(): body[kind.definition_field()],
        kind.id_field(): id,
        "workspaceId": body["workspaceId"],
        "connectionConfiguration": mask(&body["connectionConfiguration"]),
        "name": body["name"],
        format!("{}Name", kind.name()): definition["name"],
        "icon": "",
        "createdAt": 1_700_000_000,
        "status": "active",
        "isVersionOverrideApplied": false,
        "supportState": "supported",
    })
}

/// Airbyte masks connector secrets in what it returns.
fn mask(config: &Value) -> Value {
    match config {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let secret = ["password", "secret_access_key"].contains(&k.as_str());
                    (
                        k.clone(),
                        if secret { json!("**********") } else { mask(v) },
                    )
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The id the request names, of an actor the fake holds; else the answer Airbyte refuses it with.
fn existing<'r>(s: &State, request: &'r Recorded, kind: Kind) -> Result<&'r str, Reply> {
    request.id_in(kind.id_field(), s.actors(kind), kind.name())
}

/// `sources/get`, `destinations/get`.
pub(super) fn get(s: &State, request: &Recorded, kind: Kind) -> Reply {
    match existing(s, request, kind) {
        Ok(id) => answer(200, s.actors(kind)[id].clone()),
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

/// `sources/check_connection`, `destinations/check_connection`: succeeded, unless a test set a
/// failure ([`super::FakeAirbyte::fail_checks`]).
pub(super) fn check_connection(s: &State, request: &Recorded, kind: Kind) -> Reply {
    if let Err(refused) = existing(s, request, kind) {
        return refused;
    }
    let job = json!({ "id": Uuid::new_v4(), "configType": format!("check_connection_{}", kind.name()), "createdAt": 1, "endedAt": 2, "succeeded": true });
    match &s.check_failure {
        Some(message) => answer(
            200,
            json!({ "status": "failed", "message": message, "jobInfo": job }),
        ),
        None => answer(200, json!({ "status": "succeeded", "jobInfo": job })),
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
    answer(200, json!({ format!("{}s", kind.name()): all }))
}

/// `sources/discover_schema`: the streams a test set ([`super::FakeAirbyte::set_streams`]), or
/// the failed job of [`super::FakeAirbyte::fail_discovery`].
pub(super) fn discover_schema(s: &mut State, request: &Recorded) -> Reply {
    if let Err(refused) = existing(s, request, Kind::Source) {
        return refused;
    }
    s.discoveries += 1;
    let job = |succeeded: bool| json!({ "id": Uuid::new_v4(), "configType": "discover_schema", "createdAt": 1, "endedAt": 2, "succeeded": succeeded });
    if let Some(message) = &s.discovery_failure {
        let mut job = job(false);
        job["failureReason"] = json!({ "externalMessage": message, "timestamp": 2 });
        return answer(200, json!({ "jobInfo": job }));
    }
    let mut read = json!({ "catalog": { "streams": s.streams }, "jobInfo": job(true), "catalogId": Uuid::new_v4() });
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
