//! Airbyte's public API (`/api/public/v1`), served over the same state as the Config API, as one
//! self-managed install serves both: a source created through one is read through the other. As
//! in Airbyte's server, the public calls are the Config API's handlers behind a translation: each
//! handler here turns its request into the Config API's, runs that call's handler, and turns the
//! answer into the public API's shape (`contract_public.txt` in `shared/airbyte`), errors into
//! its problem objects. This file routes the calls and serves tokens, health, workspaces,
//! definitions, sources and destinations; `public_connections` serves streams, connections and
//! jobs. Calls the service never makes are not served (404, as an unknown path).

use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::actors::{self, Kind};
use super::public_connections as connections;
use super::replies::{
    answer, error_id, no_content, problem, problem_with, resource_not_found, Reply,
};
use super::specs;
use super::{tokens, Auth, Recorded, State};
use super::{MYSQL_DEFINITION_ID, POSTGRES_DEFINITION_ID, S3_DEFINITION_ID};

/// The collections whose second path segment is an id.
const COLLECTIONS: [&str; 5] = [
    "sources",
    "destinations",
    "connections",
    "jobs",
    "workspaces",
];

/// The name tests give a public call: its method and path, ids as `{id}`: `GET sources/{id}`.
/// An id is named by where it is, not by its form, so that a malformed one is the same call.
pub(super) fn call_name(method: &str, path: &str) -> String {
    let mut segments: Vec<&str> = path.split('/').collect();
    if segments.len() > 1 && !segments[1].is_empty() && COLLECTIONS.contains(&segments[0]) {
        segments[1] = "{id}";
    }
    format!("{method} {}", segments.join("/"))
}

/// One arm per call, by method and path.
pub(super) fn route(s: &mut State, req: &Recorded) -> Reply {
    use Kind::{Destination, Source};
    let path: Vec<&str> = req.path.split('/').collect();
    let token_call = path == ["applications", "token"];
    if !token_call && unreadable(req) {
        return error_id(422);
    }
    match (req.method.as_str(), path.as_slice()) {
        ("POST", ["applications", "token"]) => token(s, req),
        ("GET", ["health"]) => health(s),
        ("GET", ["workspaces"]) => workspaces(s, req),
        ("GET", ["workspaces", ws, "definitions", "sources"]) => definitions(s, ws, Source),
        ("GET", ["workspaces", ws, "definitions", "destinations"]) => {
            definitions(s, ws, Destination)
        }
        ("GET", ["connector_definitions"]) => connector_definitions(s, req),
        ("POST", ["sources"]) => create_actor(s, req, Source),
        ("POST", ["destinations"]) => create_actor(s, req, Destination),
        ("GET", ["sources"]) => list_actors(s, req, Source),
        ("GET", ["destinations"]) => list_actors(s, req, Destination),
        ("GET", ["sources", id]) => get_actor(s, req, id, Source),
        ("GET", ["destinations", id]) => get_actor(s, req, id, Destination),
        ("PUT", ["sources", id]) => put_actor(s, req, id, Source),
        ("PUT", ["destinations", id]) => put_actor(s, req, id, Destination),
        ("PATCH", ["sources", id]) => patch_actor(s, req, id, Source),
        ("PATCH", ["destinations", id]) => patch_actor(s, req, id, Destination),
        ("DELETE", ["sources", id]) => delete_actor(s, req, id, Source),
        ("DELETE", ["destinations", id]) => delete_actor(s, req, id, Destination),
        ("GET", ["streams"]) => connections::streams(s, req),
        ("POST", ["connections"]) => connections::create(s, req),
        ("GET", ["connections", id]) => connections::get(s, req, id),
        ("PATCH", ["connections", id]) => connections::patch(s, req, id),
        ("DELETE", ["connections", id]) => connections::delete(s, req, id),
        ("POST", ["jobs"]) => connections::create_job(s, req),
        ("GET", ["jobs"]) => connections::list_jobs(s, req),
        ("GET", ["jobs", id]) => connections::get_job(s, id),
        ("DELETE", ["jobs", id]) => connections::cancel_job(s, req, id),
        _ => problem(
            404,
            "resource-not-found",
            &format!("no route {} /api/public/v1/{}", req.method, req.path),
        ),
    }
}

/// Whether the request has a body that is not JSON (the server's 422 `{"errorId"}`).
fn unreadable(request: &Recorded) -> bool {
    !request.raw_body.is_empty() && serde_json::from_slice::<Value>(&request.raw_body).is_err()
}

// ---- translation to and from the Config API's handlers ----

/// A Config API handler's error answer as the public API's problem (ConfigClientErrorHandler).
pub(super) fn translated_error(reply: Reply) -> Reply {
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let message = body["message"].as_str().unwrap_or("");
    match reply.status {
        // The Config fake says "Could not find configuration for <what>: <id>."
        404 => {
            let what = message
                .strip_prefix("Could not find configuration for ")
                .and_then(|m| m.split_once(':'))
                .map_or("", |(what, _)| what);
            let id = body["id"]
                .as_str()
                .map_or_else(|| body["id"].to_string(), str::to_string);
            resource_not_found(what, &id)
        }
        409 => problem(409, "try-again-later", message),
        // Airbyte keeps only the text after the Config API's preamble, up to the schema.
        422 => problem(
            422,
            "unprocessable-entity",
            message.trim_start_matches(
                "The provided configuration does not fulfill the specification. Errors: ",
            ),
        ),
        401 | 403 => reply,
        status => problem(status, "unexpected-problem", message),
    }
}

/// Runs a Config API handler on `body` (as if `request` had sent it) and, when it succeeds,
/// shapes its answer with `shape`; its errors become problems.
pub(super) fn through(
    s: &mut State,
    request: &Recorded,
    body: Value,
    handler: impl FnOnce(&mut State, &Recorded) -> Reply,
    shape: impl FnOnce(&State, Value) -> Value,
) -> Reply {
    let translated = Recorded {
        body,
        content_type: Some("application/json".into()),
        ..request.clone()
    };
    let reply = handler(s, &translated);
    match reply.status {
        204 => no_content(),
        200..=299 => {
            let read = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
            answer(200, shape(s, read))
        }
        _ => translated_error(reply),
    }
}

/// A path id that must be a UUID; else 400.
pub(super) fn uuid_of(id: &str) -> Result<&str, Reply> {
    Uuid::parse_str(id)
        .map(|_| id)
        .map_err(|_| problem(400, "bad-request", &format!("'{id}' is not a UUID")))
}

/// Every value of the query parameter `name`, repeated or comma-separated.
pub(super) fn query_values<'r>(request: &'r Recorded, name: &str) -> Vec<&'r str> {
    request
        .query
        .iter()
        .filter(|(k, _)| k == name)
        .flat_map(|(_, v)| v.split(','))
        .filter(|v| !v.is_empty())
        .collect()
}

/// `limit` (1 to 100, default 20) and `offset` (default 0) of a list; 400 otherwise.
fn paging(request: &Recorded) -> Result<(usize, usize), Reply> {
    let number = |name: &str, default: usize, range: std::ops::RangeInclusive<usize>| match request
        .query_value(name)
    {
        None => Ok(default),
        Some(v) => v
            .parse()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| problem(400, "bad-request", &format!("{name} is out of range"))),
    };
    Ok((
        number("limit", 20, 1..=100)?,
        number("offset", 0, 0..=i32::MAX as usize)?,
    ))
}

/// A page of `all` as lists answer it: `next` a URL on the host Airbyte believes it has (not the
/// caller's) whenever the page is not empty, `""` when it is, so that a client must page by
/// offset itself.
pub(super) fn page(request: &Recorded, all: Vec<Value>) -> Reply {
    let (limit, offset) = match paging(request) {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    let data: Vec<Value> = all.into_iter().skip(offset).take(limit).collect();
    let next = if data.is_empty() {
        String::new()
    } else {
        format!(
            "https://airbyte.internal:8443/api/public/v1/{}?limit={limit}&offset={}",
            request.path,
            offset + limit
        )
    };
    answer(200, json!({ "data": data, "next": next, "previous": "" }))
}

// ---- authentication and health ----

/// `POST /applications/token`: the Config API's token call (one token serves both APIs), with
/// `grant-type` (the spec's property) or `grant_type` (its `required` list's name), when sent,
/// `client_credentials`; JSON or a form.
fn token(s: &mut State, request: &Recorded) -> Reply {
    let form = request
        .content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let body = if form {
        let text = String::from_utf8_lossy(&request.raw_body);
        let fields: Map<String, Value> = super::query_pairs(&text)
            .into_iter()
            .map(|(k, v)| (k, json!(v)))
            .collect();
        Value::Object(fields)
    } else if unreadable(request) {
        return error_id(422);
    } else {
        request.body.clone()
    };
    for grant in ["grant-type", "grant_type"] {
        if body.get(grant).is_some_and(|g| g != "client_credentials") {
            return error_id(400);
        }
    }
    if !body["client_id"].is_string() || !body["client_secret"].is_string() {
        return error_id(400);
    }
    let lifetime = match &s.auth {
        Auth::ClientCredentials { lifetime_secs, .. } => *lifetime_secs,
        _ => 900,
    };
    let issued = tokens::issue(
        s,
        &Recorded {
            body,
            ..request.clone()
        },
    );
    if issued.status != 200 {
        return error_id(401);
    }
    let mut body: Value = serde_json::from_slice(&issued.body).unwrap_or_default();
    body["token_type"] = json!("Bearer");
    body["expires_in"] = json!(lifetime);
    answer(200, body)
}

/// `GET /health`: a text body, not the Config API's JSON.
fn health(s: &State) -> Reply {
    if !s.available {
        return problem_with(503, "service-unavailable", json!({}));
    }
    Reply {
        status: 200,
        content_type: "text/plain",
        body: b"Successful operation".to_vec(),
    }
}

// ---- workspaces and definitions ----

/// `GET /workspaces?workspaceIds=`: the fake's workspaces, paged.
fn workspaces(s: &State, request: &Recorded) -> Reply {
    let wanted = query_values(request, "workspaceIds");
    let all = s
        .workspaces
        .iter()
        .filter(|id| wanted.is_empty() || wanted.contains(&id.as_str()))
        .map(|id| json!({ "workspaceId": id, "name": "Default Workspace", "dataResidency": "auto", "notifications": {} }))
        .collect();
    page(request, all)
}

/// `GET /workspaces/{id}/definitions/...` (Airbyte 1.6 and later): the whole list, not paged.
fn definitions(s: &State, workspace: &str, kind: Kind) -> Reply {
    if !s.public_definitions_listing {
        return problem(
            404,
            "resource-not-found",
            &format!(
                "no route GET /api/public/v1/workspaces/{workspace}/definitions/{}s",
                kind.name()
            ),
        );
    }
    if let Err(refused) = uuid_of(workspace) {
        return refused;
    }
    if !s.has_workspace(workspace) {
        return resource_not_found("workspace", workspace);
    }
    let data: Vec<Value> = s
        .definitions(kind)
        .iter()
        .map(|d| {
            json!({
                "id": d[kind.definition_field()],
                "name": d["name"],
                "dockerRepository": d["dockerRepository"],
                "dockerImageTag": d.get("dockerImageTag").cloned().unwrap_or(json!("1.0.0")),
                "documentationUrl": d.get("documentationUrl").cloned().unwrap_or(json!("")),
            })
        })
        .collect();
    answer(200, json!({ "data": data }))
}

/// `GET /connector_definitions?type=&workspaceId=` (Airbyte 1.2 and later): no docker repository.
fn connector_definitions(s: &State, request: &Recorded) -> Reply {
    let kind = match request.query_value("type") {
        Some("source") => Kind::Source,
        Some("destination") => Kind::Destination,
        _ => return problem(400, "bad-request", "type must be source or destination"),
    };
    // The server needs the workspace in practice (an IllegalArgumentException without it).
    let Some(workspace) = request.query_value("workspaceId") else {
        return problem(500, "unexpected-problem", "workspaceId is required");
    };
    if !s.has_workspace(workspace) {
        return resource_not_found("workspace", workspace);
    }
    let data: Vec<Value> = s
        .definitions(kind)
        .iter()
        .map(|d| {
            json!({
                "id": d[kind.definition_field()],
                "name": d["name"],
                "connectorDefinitionType": kind.name(),
                "version": d.get("dockerImageTag").cloned().unwrap_or(json!("1.0.0")),
            })
        })
        .collect();
    answer(200, json!({ "data": data }))
}

// ---- sources and destinations ----

/// A stored or answered `SourceRead` / `DestinationRead` as `SourceResponse` /
/// `DestinationResponse`; its type is the connector's name (`mysql` for `airbyte/source-mysql`).
fn actor_response(s: &State, kind: Kind, read: &Value) -> Value {
    let definition = read[kind.definition_field()].clone();
    let repository = s
        .definitions(kind)
        .iter()
        .find(|d| d[kind.definition_field()] == definition)
        .and_then(|d| d["dockerRepository"].as_str())
        .unwrap_or("");
    let prefix = format!("airbyte/{}-", kind.name());
    json!({
        kind.id_field(): read[kind.id_field()],
        "name": read["name"],
        type_key(kind): repository.strip_prefix(&prefix).unwrap_or(repository),
        "definitionId": definition,
        "workspaceId": read["workspaceId"],
        "configuration": read["connectionConfiguration"],
        "createdAt": read["createdAt"],
    })
}

/// `sourceType` or `destinationType`: the key the server takes out of every configuration.
fn type_key(kind: Kind) -> String {
    format!("{}Type", kind.name())
}

/// A configuration sent, without its top-level `sourceType` / `destinationType` (the server
/// removes it from every POST, PUT and PATCH).
fn without_type(kind: Kind, configuration: &Map<String, Value>) -> Value {
    let mut configuration = configuration.clone();
    configuration.remove(&type_key(kind));
    Value::Object(configuration)
}

/// The first value of `key` anywhere in `node`, as Jackson's `JsonNode.findValue` finds it.
fn find_value<'v>(node: &'v Value, key: &str) -> Option<&'v Value> {
    match node {
        Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            if k == key {
                Some(v)
            } else {
                find_value(v, key)
            }
        }),
        Value::Array(items) => items.iter().find_map(|v| find_value(v, key)),
        _ => None,
    }
}

/// The definition a create names: its `definitionId`, else the `sourceType` / `destinationType`
/// found in its configuration through the server's table of names (here only the fake's
/// well-known connectors); else the server's refusal.
fn definition_named(s: &State, body: &Value, kind: Kind) -> Result<String, Reply> {
    let id = match body.get("definitionId") {
        Some(id) => match id.as_str().filter(|i| Uuid::parse_str(i).is_ok()) {
            Some(id) => id.to_string(),
            None => return Err(error_id(400)),
        },
        None => {
            let key = type_key(kind);
            let Some(name) = find_value(&body["configuration"], &key) else {
                return Err(problem(
                    422,
                    "unprocessable-entity",
                    &format!("{key} is required in the configuration when definitionId is absent"),
                ));
            };
            let known = match (kind, name.as_str().unwrap_or("")) {
                (Kind::Source, "mysql") => MYSQL_DEFINITION_ID,
                (Kind::Source, "postgres") => POSTGRES_DEFINITION_ID,
                (Kind::Destination, "s3") => S3_DEFINITION_ID,
                _ => {
                    let value = name.as_str().map_or(name.to_string(), str::to_string);
                    return Err(problem_with(
                        400,
                        "value-not-found",
                        json!({ "value": value }),
                    ));
                }
            };
            known.to_string()
        }
    };
    if !s
        .definitions(kind)
        .iter()
        .any(|d| d[kind.definition_field()] == id.as_str())
    {
        return Err(resource_not_found(
            &format!("{}_definition", kind.name()),
            &id,
        ));
    }
    Ok(id)
}

/// `POST /sources`, `POST /destinations`: `sources/create` and its twin, with a 200.
fn create_actor(s: &mut State, request: &Recorded, kind: Kind) -> Reply {
    let body = &request.body;
    let (Some(name), Some(workspace), Some(configuration)) = (
        body.get("name").and_then(Value::as_str),
        request.uuid_field("workspaceId"),
        body.get("configuration").and_then(Value::as_object),
    ) else {
        return error_id(400);
    };
    if !s.has_workspace(workspace) {
        return resource_not_found("workspace", workspace);
    }
    let definition = match definition_named(s, body, kind) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let translated = json!({
        "workspaceId": workspace,
        kind.definition_field(): definition,
        "name": name,
        "connectionConfiguration": without_type(kind, configuration),
    });
    through(
        s,
        request,
        translated,
        |s, r| actors::create(s, r, kind),
        |s, read| actor_response(s, kind, &read),
    )
}

/// `GET /sources/{id}`, `GET /destinations/{id}`.
fn get_actor(s: &mut State, request: &Recorded, id: &str, kind: Kind) -> Reply {
    let id = match uuid_of(id) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    through(
        s,
        request,
        json!({ kind.id_field(): id }),
        |s, r| actors::get(s, r, kind),
        |s, read| actor_response(s, kind, &read),
    )
}

/// `PUT /sources/{id}`: `sources/update`, the whole configuration; masked values keep the stored
/// secrets, and a mask with nothing stored behind it is refused.
fn put_actor(s: &mut State, request: &Recorded, id: &str, kind: Kind) -> Reply {
    let id = match uuid_of(id) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let (Some(name), Some(configuration)) = (
        request.body.get("name").and_then(Value::as_str),
        request.body.get("configuration").and_then(Value::as_object),
    ) else {
        return error_id(400);
    };
    let configuration = without_type(kind, configuration);
    if let Some(stored) = s.actors(kind).get(id) {
        let stored = stored.get("connectionConfiguration");
        if let Err(path) = specs::fill(&configuration, stored, "$") {
            return problem(
                400,
                "bad-request",
                &format!("{path} is masked, but no secret is stored for it"),
            );
        }
    }
    let translated =
        json!({ kind.id_field(): id, "name": name, "connectionConfiguration": configuration });
    through(
        s,
        request,
        translated,
        |s, r| actors::update(s, r, kind),
        |s, read| actor_response(s, kind, &read),
    )
}

/// `PATCH /sources/{id}`: the keys sent merged into the stored configuration, as they are: a
/// mask sent is stored as the secret, as the server does.
fn patch_actor(s: &mut State, request: &Recorded, id: &str, kind: Kind) -> Reply {
    let id = match uuid_of(id) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let body = &request.body;
    let name = body.get("name");
    let configuration = body.get("configuration");
    if name.is_some_and(|n| !n.is_string()) || configuration.is_some_and(|c| !c.is_object()) {
        return error_id(400);
    }
    let Some(stored) = s.actors(kind).get(id) else {
        return resource_not_found(kind.name(), id);
    };
    let mut read = stored.clone();
    if let Some(name) = name {
        read["name"] = name.clone();
    }
    if let Some(configuration) = configuration.and_then(Value::as_object) {
        merge(
            &mut read["connectionConfiguration"],
            &without_type(kind, configuration),
        );
        if let Some(refused) = actors::misfit(&read["connectionConfiguration"]) {
            return translated_error(refused);
        }
    }
    let shown = actors::shown(s, kind, &read);
    s.actors_mut(kind).insert(id.to_string(), read);
    answer(200, actor_response(s, kind, &shown))
}

/// `sent` merged into `stored`: objects key by key, anything else (null included) replaced.
fn merge(stored: &mut Value, sent: &Value) {
    match (stored, sent) {
        (Value::Object(stored), Value::Object(sent)) => {
            for (key, value) in sent {
                merge(stored.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (stored, sent) => *stored = sent.clone(),
    }
}

/// `DELETE /sources/{id}`, `DELETE /destinations/{id}`: 204.
fn delete_actor(s: &mut State, request: &Recorded, id: &str, kind: Kind) -> Reply {
    let id = match uuid_of(id) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    through(
        s,
        request,
        json!({ kind.id_field(): id }),
        |s, r| actors::delete(s, r, kind),
        |_, read| read,
    )
}

/// `GET /sources?workspaceIds=`: in the order of creation here; Airbyte's has none.
fn list_actors(s: &State, request: &Recorded, kind: Kind) -> Reply {
    let workspaces = query_values(request, "workspaceIds");
    let store = s.actors(kind);
    let all = s
        .created
        .iter()
        .filter_map(|id| store.get(id))
        .filter(|a| workspaces.is_empty() || workspaces.iter().any(|w| a["workspaceId"] == *w))
        .map(|a| actor_response(s, kind, &actors::shown(s, kind, a)))
        .collect();
    page(request, all)
}
