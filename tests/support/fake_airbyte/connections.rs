//! Connections between a source and a destination: create, get, update, delete.

use serde_json::{json, Value};
use uuid::Uuid;

use super::actors::Kind;
use super::replies::{answer, invalid, no_content, not_found, Reply};
use super::{Recorded, State};

/// `connections/create`.
pub(super) fn create(s: &mut State, request: &Recorded) -> Reply {
    let body = &request.body;
    let (Some(source), Some(destination)) = (
        request.uuid_field("sourceId"),
        request.uuid_field("destinationId"),
    ) else {
        return invalid("sourceId and destinationId are required");
    };
    if !["active", "inactive", "deprecated", "locked"]
        .contains(&body["status"].as_str().unwrap_or(""))
    {
        return invalid("status is required");
    }
    if !s.actors(Kind::Source).contains_key(source) {
        return not_found("source", &body["sourceId"]);
    }
    if !s.actors(Kind::Destination).contains_key(destination) {
        return not_found("destination", &body["destinationId"]);
    }
    if !streams_have_sync_modes(body) {
        return invalid("syncMode and destinationSyncMode are required in each stream's config");
    }
    let id = Uuid::new_v4().to_string();
    let read = json!({
        "connectionId": id,
        "name": body.get("name").cloned().unwrap_or(json!("source <> destination")),
        "sourceId": source,
        "destinationId": destination,
        "syncCatalog": body.get("syncCatalog").cloned().unwrap_or(json!({ "streams": [] })),
        "status": body["status"],
        "breakingChange": false,
        "scheduleType": body.get("scheduleType").cloned().unwrap_or(json!("manual")),
        "scheduleData": body.get("scheduleData").cloned().unwrap_or(Value::Null),
        "namespaceDefinition": body.get("namespaceDefinition").cloned().unwrap_or(json!("source")),
    });
    s.connections.insert(id, read.clone());
    answer(200, read)
}

/// Whether every stream of the body's `syncCatalog` (if any) says how to read and write it.
fn streams_have_sync_modes(body: &Value) -> bool {
    body.pointer("/syncCatalog/streams")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .all(|item| {
            let config = &item["config"];
            config["syncMode"].is_string() && config["destinationSyncMode"].is_string()
        })
}

/// The id the request names, of a connection the fake holds; else the answer Airbyte refuses it with.
pub(super) fn existing<'r>(s: &State, request: &'r Recorded) -> Result<&'r str, Reply> {
    request.id_in("connectionId", &s.connections, "connection")
}

/// `connections/get`.
pub(super) fn get(s: &State, request: &Recorded) -> Reply {
    match existing(s, request) {
        Ok(id) => answer(200, s.connections[id].clone()),
        Err(refused) => refused,
    }
}

/// `connections/delete`: as Airbyte does, marks the connection `deprecated` and keeps it, so that
/// `connections/get` still answers it.
pub(super) fn delete(s: &mut State, request: &Recorded) -> Reply {
    match existing(s, request) {
        Ok(id) => {
            let id = id.to_string();
            s.connections.get_mut(&id).expect("an existing connection")["status"] =
                json!("deprecated");
            no_content()
        }
        Err(refused) => refused,
    }
}

/// `connections/update`: patch-style (what is absent stays), but a `syncCatalog` sent replaces the
/// whole catalog.
pub(super) fn update(s: &mut State, request: &Recorded) -> Reply {
    let id = match existing(s, request) {
        Ok(id) => id.to_string(),
        Err(refused) => return refused,
    };
    let body = &request.body;
    if let Some(status) = body.get("status") {
        if !["active", "inactive", "deprecated", "locked"].contains(&status.as_str().unwrap_or(""))
        {
            return invalid("status must be active, inactive, deprecated or locked");
        }
    }
    if !streams_have_sync_modes(body) {
        return invalid("syncMode and destinationSyncMode are required in each stream's config");
    }
    let connection = s.connections.get_mut(&id).expect("an existing connection");
    for field in [
        "name",
        "status",
        "scheduleType",
        "scheduleData",
        "syncCatalog",
        "sourceCatalogId",
    ] {
        if let Some(value) = body.get(field).filter(|v| !v.is_null()) {
            connection[field] = value.clone();
        }
    }
    if body["scheduleType"] == "manual" {
        connection["scheduleData"] = Value::Null;
    }
    answer(200, connection.clone())
}
