//! Airbyte's public API (`/api/public/v1`), served over the same state as the Config API, as one
//! self-managed install serves both: a source created through one is read through the other. As
//! in Airbyte's server, the public calls are the Config API's handlers behind a translation: each
//! handler here turns its request into the Config API's, runs that call's handler, and turns the
//! answer into the public API's shape (`contract_public.txt` in `shared/airbyte`), errors into
//! its problem objects. Calls the service never makes are not served (404, as an unknown path).

use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

use super::actors::{self, Kind};
use super::replies::{answer, no_content, Reply};
use super::{connections, jobs, tokens, Recorded, State};

/// The name tests give a public call: its method and path, ids as `{id}`: `GET sources/{id}`.
pub(super) fn call_name(method: &str, path: &str) -> String {
    let segments: Vec<&str> = path
        .split('/')
        .map(|s| {
            let id = Uuid::parse_str(s).is_ok()
                || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
            if id {
                "{id}"
            } else {
                s
            }
        })
        .collect();
    format!("{method} {}", segments.join("/"))
}

/// One arm per call, by method and path.
pub(super) fn route(s: &mut State, req: &Recorded) -> Reply {
    use Kind::{Destination, Source};
    let path: Vec<&str> = req.path.split('/').collect();
    match (req.method.as_str(), path.as_slice()) {
        (_, ["applications", "token"]) => token(s, req),
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
        ("DELETE", ["sources", id]) => delete_actor(s, req, id, Source),
        ("DELETE", ["destinations", id]) => delete_actor(s, req, id, Destination),
        ("GET", ["streams"]) => streams(s, req),
        ("POST", ["connections"]) => create_connection(s, req),
        ("GET", ["connections", id]) => get_connection(s, req, id),
        ("PATCH", ["connections", id]) => patch_connection(s, req, id),
        ("DELETE", ["connections", id]) => delete_connection(s, req, id),
        ("POST", ["jobs"]) => create_job(s, req),
        ("GET", ["jobs"]) => list_jobs(s, req),
        ("GET", ["jobs", id]) => get_job(s, id),
        ("DELETE", ["jobs", id]) => cancel_job(s, req, id),
        _ => problem(
            404,
            "resource-not-found",
            &format!("no route {} {}", req.method, req.path),
        ),
    }
}

// ---- problems (api-problems.yaml: type, title and detail are each kind's constants) ----

const ERRORS: &str = "https://reference.airbyte.com/reference/errors";

/// A problem object of kind `title` (`resource-not-found`, ...), its message in `data.message`.
fn problem(status: u16, title: &str, message: &str) -> Reply {
    let (kind, detail) = match title {
        "resource-not-found" => ("#resource-not-found", "The requested resource could not be found."),
        "try-again-later" => ("#try-again-later", "Please try again later."),
        "state-conflict" => ("#409-state-conflict", "State conflict"),
        "unprocessable-entity" => ("#unprocessable-entity", "The body of the request was not understood"),
        "bad-request" => ("#bad-request", "The request could not be understood by the server due to malformed syntax."),
        "service-unavailable" => ("", "The server is currently unable to handle the request."),
        _ => ("", "An unexpected problem has occurred. If this is an error that needs to be addressed, please submit a pull request or github issue."),
    };
    answer(
        status,
        json!({ "status": status, "type": format!("{ERRORS}{kind}"), "title": title, "detail": detail, "data": { "message": message } }),
    )
}

/// 404 for an id the fake does not hold.
fn not_found(what: &str, id: &str) -> Reply {
    answer(
        404,
        json!({ "status": 404, "type": format!("{ERRORS}#resource-not-found"), "title": "resource-not-found",
                "detail": "The requested resource could not be found.", "data": { "resourceType": what, "resourceId": id } }),
    )
}

/// 400 for a body that fails bean validation: not a problem object, an error id.
fn invalid_body() -> Reply {
    answer(400, json!({ "errorId": Uuid::new_v4() }))
}

/// A Config API handler's error answer as the public API's problem.
fn translated_error(reply: Reply) -> Reply {
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let message = body["message"].as_str().unwrap_or("").to_string();
    match reply.status {
        404 => problem(404, "resource-not-found", &message),
        409 => problem(409, "try-again-later", &message),
        // Airbyte keeps only the text before the schema in a JSON schema validation's message.
        422 => problem(
            422,
            "unprocessable-entity",
            message.trim_start_matches(
                "The provided configuration does not fulfill the specification. Errors: ",
            ),
        ),
        401 | 403 => reply,
        status => problem(status, "unexpected-problem", &message),
    }
}

/// Runs a Config API handler on `body` (as if `request` had sent it) and, when it succeeds,
/// shapes its answer with `shape`.
fn through(
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

fn uuid_of(id: &str) -> Result<&str, Reply> {
    Uuid::parse_str(id)
        .map(|_| id)
        .map_err(|_| problem(400, "bad-request", &format!("'{id}' is not a UUID")))
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
        number("offset", 0, 0..=usize::MAX)?,
    ))
}

/// A page of `all` as lists answer it: `next` a URL on the host Airbyte believes it has (not the
/// caller's) whenever the page is not empty, so that a client must page by offset itself.
fn page(request: &Recorded, all: Vec<Value>) -> Reply {
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

/// `POST /applications/token`: `grant-type` (the spec's property) or `grant_type` (its `required`
/// list's name) must be `client_credentials` when sent.
fn token(s: &mut State, request: &Recorded) -> Reply {
    for grant in ["grant-type", "grant_type"] {
        if let Some(value) = request.body.get(grant) {
            if value != "client_credentials" {
                return answer(400, json!({ "errorId": Uuid::new_v4() }));
            }
        }
    }
    let reply = tokens::issue(s, request);
    if reply.status == 200 {
        let mut body: Value = serde_json::from_slice(&reply.body).unwrap();
        body["token_type"] = json!("Bearer");
        body["expires_in"] = json!(900);
        return answer(200, body);
    }
    answer(401, json!({ "errorId": Uuid::new_v4() }))
}

/// `GET /health`: a text body, not the Config API's JSON.
fn health(s: &State) -> Reply {
    if !s.available {
        return problem(503, "service-unavailable", "not available");
    }
    Reply {
        status: 200,
        content_type: "text/plain",
        body: b"Successful operation".to_vec(),
    }
}

// ---- workspaces and definitions ----

fn workspaces(s: &State, request: &Recorded) -> Reply {
    let all = s
        .workspaces
        .iter()
        .map(|id| json!({ "workspaceId": id, "name": "Default Workspace", "dataResidency": "auto", "notifications": {} }))
        .collect();
    page(request, all)
}

/// `GET /workspaces/{id}/definitions/...` (Airbyte 1.6 and later): not paged.
fn definitions(s: &State, workspace: &str, kind: Kind) -> Reply {
    if !s.public_definitions_listing {
        return problem(404, "resource-not-found", "no route");
    }
    if !s.has_workspace(workspace) {
        return not_found("workspace", workspace);
    }
    let data: Vec<Value> = s
        .definitions(kind)
        .iter()
        .map(|d| json!({ "id": d[kind.definition_field()], "name": d["name"], "dockerRepository": d["dockerRepository"], "dockerImageTag": d.get("dockerImageTag").cloned().unwrap_or(json!("1.0.0")) }))
        .collect();
    answer(200, json!({ "data": data }))
}

/// `GET /connector_definitions?type=&workspaceId=` (Airbyte 1.2 and later): no docker repository.
fn connector_definitions(s: &State, request: &Recorded) -> Reply {
    let kind = match request.query_value("type") {
        Some("source") => Kind::Source,
        Some("destination") => Kind::Destination,
        _ => return problem(400, "bad-request", "type is required"),
    };
    if request.query_value("workspaceId").is_none() {
        return problem(500, "unexpected-problem", "workspaceId is required");
    }
    let data: Vec<Value> = s
        .definitions(kind)
        .iter()
        .map(|d| json!({ "id": d[kind.definition_field()], "name": d["name"], "connectorDefinitionType": kind.name(), "version": "1.0.0" }))
        .collect();
    answer(200, json!({ "data": data }))
}

// ---- sources and destinations ----

/// A stored `SourceRead` / `DestinationRead` (masked) as `SourceResponse` / `DestinationResponse`.
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
        format!("{}Type", kind.name()): repository.strip_prefix(&prefix).unwrap_or(repository),
        "definitionId": definition,
        "workspaceId": read["workspaceId"],
        "configuration": read["connectionConfiguration"],
        "createdAt": read["createdAt"],
    })
}

/// `POST /sources`, `POST /destinations`.
fn create_actor(s: &mut State, request: &Recorded, kind: Kind) -> Reply {
    let body = &request.body;
    let (Some(name), Some(workspace), Some(configuration)) = (
        body.get("name").and_then(Value::as_str),
        request.uuid_field("workspaceId"),
        body.get("configuration").and_then(Value::as_object),
    ) else {
        return invalid_body();
    };
    let Some(definition) = body.get("definitionId") else {
        return problem(
            422,
            "unprocessable-entity",
            &format!("{}Type is required without a definitionId", kind.name()),
        );
    };
    if !s
        .definitions(kind)
        .iter()
        .any(|d| d[kind.definition_field()] == *definition)
    {
        return not_found(
            &format!("{}_definition", kind.name()),
            definition.as_str().unwrap_or(""),
        );
    }
    // The server takes a top-level `sourceType` / `destinationType` out of every configuration.
    let mut configuration: Map<String, Value> = configuration.clone();
    configuration.remove(&format!("{}Type", kind.name()));
    let translated = json!({
        "workspaceId": workspace,
        kind.definition_field(): definition,
        "name": name,
        "connectionConfiguration": configuration,
    });
    through(
        s,
        request,
        translated,
        |s, r| actors::create(s, r, kind),
        |s, read| actor_response(s, kind, &read),
    )
}

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

/// `PUT /sources/{id}`: the whole configuration; masked values keep the stored secrets.
fn put_actor(s: &mut State, request: &Recorded, id: &str, kind: Kind) -> Reply {
    let id = match uuid_of(id) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let (Some(name), Some(configuration)) = (
        request.body.get("name").and_then(Value::as_str),
        request.body.get("configuration").filter(|c| c.is_object()),
    ) else {
        return invalid_body();
    };
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
    let workspace = request.query_value("workspaceIds");
    let store = s.actors(kind);
    let all = s
        .created
        .iter()
        .filter_map(|id| store.get(id))
        .filter(|a| workspace.is_none_or(|w| a["workspaceId"] == w))
        .map(|a| actor_response(s, kind, &actors::shown(s, kind, a)))
        .collect();
    page(request, all)
}

// ---- streams and connections ----

/// The public sync modes a discovered stream supports (towards any destination here).
fn sync_modes(stream: &Value) -> Vec<&'static str> {
    let supported = |mode: &str| {
        stream["supportedSyncModes"]
            .as_array()
            .is_some_and(|m| m.iter().any(|x| x == mode))
    };
    let keyed = stream["sourceDefinedPrimaryKey"]
        .as_array()
        .is_some_and(|k| !k.is_empty());
    let mut modes = Vec::new();
    if supported("full_refresh") {
        modes.extend(["full_refresh_overwrite", "full_refresh_append"]);
        if keyed {
            modes.push("full_refresh_overwrite_deduped");
        }
    }
    if supported("incremental") {
        modes.push("incremental_append");
        if keyed {
            modes.push("incremental_deduped_history");
        }
    }
    modes
}

/// `GET /streams?sourceId=&destinationId=`: a discovery of the source; sync modes only when a
/// destination is named. A failed discovery is a 500 with the connector's message after `logs:`.
fn streams(s: &mut State, request: &Recorded) -> Reply {
    let Some(source) = request.query_value("sourceId").map(str::to_string) else {
        return problem(400, "bad-request", "sourceId is required");
    };
    if !s.actors(Kind::Source).contains_key(&source) {
        return not_found("source", &source);
    }
    let destination = request.query_value("destinationId").map(str::to_string);
    if let Some(destination) = &destination {
        if !s.actors(Kind::Destination).contains_key(destination) {
            return not_found("destination", destination);
        }
    }
    let discovered = actors::discovery(s);
    let Some(streams) = discovered
        .pointer("/catalog/streams")
        .and_then(Value::as_array)
    else {
        let message = discovered
            .pointer("/jobInfo/failureReason/externalMessage")
            .and_then(Value::as_str)
            .unwrap_or("");
        return problem(
            500,
            "unexpected-problem",
            &format!("Something went wrong in the connector. logs:{message}"),
        );
    };
    let properties: Vec<Value> = streams
        .iter()
        .map(|item| {
            let stream = &item["stream"];
            json!({
                "streamName": stream["name"],
                "streamnamespace": stream.get("namespace"),
                "syncModes": destination.as_ref().map(|_| sync_modes(stream)),
                "defaultCursorField": stream["defaultCursorField"],
                "sourceDefinedCursorField": stream["sourceDefinedCursor"],
                "sourceDefinedPrimaryKey": stream["sourceDefinedPrimaryKey"],
                "propertyFields": [["id"]],
            })
        })
        .collect();
    answer(200, json!(properties))
}

/// The public API's sync mode as the Config API's pair.
fn pair_of(mode: &str) -> Option<(&'static str, &'static str)> {
    Some(match mode {
        "full_refresh_overwrite" => ("full_refresh", "overwrite"),
        "full_refresh_append" => ("full_refresh", "append"),
        "full_refresh_overwrite_deduped" => ("full_refresh", "overwrite_dedup"),
        "incremental_append" => ("incremental", "append"),
        "incremental_deduped_history" => ("incremental", "append_dedup"),
        _ => return None,
    })
}

/// The catalog a connection stores for `configurations.streams`: the listed streams selected with
/// their modes, the others not; nothing listed keeps Airbyte's default, which selects only the
/// first stream here (a suggested stream, as Airbyte's default would).
fn catalog(s: &State, listed: &[Value]) -> Result<Vec<Value>, Reply> {
    let mut catalog = s.streams.clone();
    for item in &mut catalog {
        item["config"]["selected"] = json!(false);
    }
    if listed.is_empty() {
        if let Some(first) = catalog.first_mut() {
            first["config"]["selected"] = json!(true);
        }
        return Ok(catalog);
    }
    for configured in listed {
        let name = configured["name"].as_str().unwrap_or("");
        let namespace = configured.get("namespace").and_then(Value::as_str);
        let Some(item) = catalog.iter_mut().find(|c| {
            c["stream"]["name"] == name && namespace.is_none_or(|ns| c["stream"]["namespace"] == ns)
        }) else {
            return Err(problem(
                400,
                "bad-request",
                &format!(
                    "No streams found with name [{name}] and namespace [{}]",
                    namespace.unwrap_or("")
                ),
            ));
        };
        let mode = configured["syncMode"]
            .as_str()
            .unwrap_or("full_refresh_overwrite");
        let Some((sync, destination)) =
            pair_of(mode).filter(|_| sync_modes(&item["stream"]).contains(&mode))
        else {
            return Err(problem(
                400,
                "bad-request",
                &format!("Cannot set sync mode {mode} for stream {name}"),
            ));
        };
        item["config"]["selected"] = json!(true);
        item["config"]["syncMode"] = json!(sync);
        item["config"]["destinationSyncMode"] = json!(destination);
        for field in ["cursorField", "primaryKey"] {
            if let Some(value) = configured.get(field) {
                item["config"][field] = value.clone();
            }
        }
    }
    Ok(catalog)
}

/// `schedule` as the Config API's `scheduleType` and `scheduleData`.
fn schedule(body: &mut Value, schedule: &Value) -> Result<(), Reply> {
    match schedule["scheduleType"].as_str() {
        Some("manual") => {
            body["scheduleType"] = json!("manual");
        }
        Some("cron") => {
            let Some(cron) = schedule["cronExpression"].as_str() else {
                return Err(problem(
                    400,
                    "bad-request",
                    "a cron schedule needs a cronExpression",
                ));
            };
            body["scheduleType"] = json!("cron");
            body["scheduleData"] = json!({ "cron": { "cronExpression": cron.trim_end_matches(" UTC"), "cronTimeZone": "UTC" } });
        }
        _ => return Err(invalid_body()),
    }
    Ok(())
}

/// A stored `ConnectionRead` as `ConnectionResponse`: its selected streams only, the cron
/// expression with its time zone after it.
fn connection_response(read: &Value) -> Value {
    let streams: Vec<Value> = read
        .pointer("/syncCatalog/streams")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|item| item["config"]["selected"] == true)
        .map(|item| {
            let (sync, destination) = (
                item["config"]["syncMode"].as_str().unwrap_or(""),
                item["config"]["destinationSyncMode"].as_str().unwrap_or(""),
            );
            let mode = [
                "full_refresh_overwrite",
                "full_refresh_append",
                "full_refresh_overwrite_deduped",
                "incremental_append",
                "incremental_deduped_history",
            ]
            .into_iter()
            .find(|m| pair_of(m) == Some((sync, destination)))
            .unwrap_or("full_refresh_overwrite");
            json!({
                "name": item["stream"]["name"],
                "namespace": item["stream"]["namespace"],
                "syncMode": mode,
                "cursorField": item["config"].get("cursorField").cloned().unwrap_or(json!([])),
                "primaryKey": item["config"].get("primaryKey").cloned().unwrap_or(json!([])),
            })
        })
        .collect();
    let schedule = match read["scheduleType"].as_str() {
        Some("cron") => json!({
            "scheduleType": "cron",
            "cronExpression": format!("{} UTC", read.pointer("/scheduleData/cron/cronExpression").and_then(Value::as_str).unwrap_or("")),
        }),
        other => json!({ "scheduleType": other.unwrap_or("manual") }),
    };
    json!({
        "connectionId": read["connectionId"],
        "name": read["name"],
        "sourceId": read["sourceId"],
        "destinationId": read["destinationId"],
        "workspaceId": super::WORKSPACE_ID,
        "status": read["status"],
        "schedule": schedule,
        "namespaceDefinition": read.get("namespaceDefinition").cloned().unwrap_or(json!("destination")),
        "configurations": { "streams": streams },
        "createdAt": 1_700_000_000,
        "tags": [],
    })
}

/// `POST /connections`.
fn create_connection(s: &mut State, request: &Recorded) -> Reply {
    let body = &request.body;
    let (Some(source), Some(destination)) = (
        request.uuid_field("sourceId"),
        request.uuid_field("destinationId"),
    ) else {
        return invalid_body();
    };
    if !s.actors(Kind::Source).contains_key(source) {
        return not_found("source", source);
    }
    if !s.actors(Kind::Destination).contains_key(destination) {
        return not_found("destination", destination);
    }
    let listed = body
        .pointer("/configurations/streams")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let streams = match catalog(s, &listed) {
        Ok(streams) => streams,
        Err(refused) => return refused,
    };
    let mut translated = json!({
        "sourceId": source,
        "destinationId": destination,
        "status": body.get("status").cloned().unwrap_or(json!("active")),
        "syncCatalog": { "streams": streams },
        "scheduleType": "manual",
    });
    if let Some(name) = body.get("name") {
        translated["name"] = name.clone();
    }
    if let Some(given) = body.get("schedule") {
        if let Err(refused) = schedule(&mut translated, given) {
            return refused;
        }
    }
    // The public API's default is the destination's namespaces, the Config API's the source's.
    translated["namespaceDefinition"] = body
        .get("namespaceDefinition")
        .cloned()
        .unwrap_or(json!("destination"));
    through(s, request, translated, connections::create, |_, read| {
        connection_response(&read)
    })
}

fn get_connection(s: &mut State, request: &Recorded, id: &str) -> Reply {
    let id = match uuid_of(id) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    through(
        s,
        request,
        json!({ "connectionId": id }),
        |s, r| connections::get(s, r),
        |_, read| connection_response(&read),
    )
}

/// `PATCH /connections/{id}`: what is sent changes; streams sent rebuild the whole catalog.
fn patch_connection(s: &mut State, request: &Recorded, id: &str) -> Reply {
    let id = match uuid_of(id) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let body = &request.body;
    let mut translated = json!({ "connectionId": id });
    for field in ["name", "status"] {
        if let Some(value) = body.get(field) {
            translated[field] = value.clone();
        }
    }
    if let Some(given) = body.get("schedule") {
        if let Err(refused) = schedule(&mut translated, given) {
            return refused;
        }
    }
    if let Some(listed) = body
        .pointer("/configurations/streams")
        .and_then(Value::as_array)
    {
        match catalog(s, listed) {
            Ok(streams) => translated["syncCatalog"] = json!({ "streams": streams }),
            Err(refused) => return refused,
        }
    }
    through(s, request, translated, connections::update, |_, read| {
        connection_response(&read)
    })
}

fn delete_connection(s: &mut State, request: &Recorded, id: &str) -> Reply {
    let id = match uuid_of(id) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    through(
        s,
        request,
        json!({ "connectionId": id }),
        connections::delete,
        |_, read| read,
    )
}

// ---- jobs ----

fn iso(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// A Config API `JobRead` as `JobResponse` (JobResponseMapper: `startTime` is when the job was
/// created, `lastUpdatedAt` only once it has ended, the committed counts as rows and bytes synced).
fn job_response(read: &Value) -> Value {
    let status = read["status"].as_str().unwrap_or("");
    let created = read["createdAt"].as_i64().unwrap_or(0);
    let updated = read["updatedAt"].as_i64().unwrap_or(created);
    let mut job = json!({
        "jobId": read["id"],
        "status": status,
        "jobType": match read["configType"].as_str() { Some("reset_connection") => "reset", other => other.unwrap_or("sync") },
        "startTime": iso(created),
        "connectionId": read["configId"],
    });
    if ["failed", "cancelled", "succeeded"].contains(&status) {
        job["lastUpdatedAt"] = json!(iso(updated));
    }
    if status != "pending" {
        job["duration"] = json!(format!("PT{}S", updated - created));
    }
    if let Some(stats) = read.get("aggregatedStats") {
        job["bytesSynced"] = stats["bytesCommitted"].clone();
        job["rowsSynced"] = stats["recordsCommitted"].clone();
    }
    job
}

/// `POST /jobs {connectionId, jobType}`: a sync (409 `try-again-later` while one runs, 409
/// `state-conflict` for an inactive connection); a refresh is refused, as the server does.
fn create_job(s: &mut State, request: &Recorded) -> Reply {
    let Some(connection) = request.uuid_field("connectionId").map(str::to_string) else {
        return invalid_body();
    };
    let Some(stored) = s.connections.get(&connection) else {
        return not_found("connection", &connection);
    };
    match request.body["jobType"].as_str() {
        Some("sync") => {}
        Some("refresh") => {
            return problem(
                422,
                "unprocessable-entity",
                "Refreshes are not supported in the public API",
            )
        }
        Some("reset" | "clear") => return problem(400, "bad-request", "the fake runs syncs only"),
        _ => return invalid_body(),
    }
    if stored["status"] != "active" {
        return problem(409, "state-conflict", "Could not fulfill request");
    }
    through(
        s,
        request,
        json!({ "connectionId": connection }),
        jobs::sync,
        |_, info| job_response(&info["job"]),
    )
}

/// `GET /jobs?connectionId=&status=&jobType=&orderBy=`: oldest first unless `orderBy=createdAt|DESC`.
fn list_jobs(s: &State, request: &Recorded) -> Reply {
    let connection = request.query_value("connectionId");
    let status = request.query_value("status");
    let job_type = request.query_value("jobType");
    let mut all: Vec<Value> = s
        .jobs
        .iter()
        .map(|j| job_response(&j.read()))
        .filter(|j| connection.is_none_or(|c| j["connectionId"] == c))
        .filter(|j| status.is_none_or(|st| j["status"] == st))
        .filter(|j| job_type.is_none_or(|t| j["jobType"] == t))
        .collect();
    match request.query_value("orderBy") {
        None | Some("createdAt|ASC") => {}
        Some("createdAt|DESC") => all.reverse(),
        Some(other) => return problem(400, "bad-request", &format!("cannot order by {other}")),
    }
    page(request, all)
}

/// `GET /jobs/{id}`: an unknown id is a 409 `Job is not currently running`, as the server answers.
fn get_job(s: &State, id: &str) -> Reply {
    let Ok(id) = id.parse::<i64>() else {
        return problem(400, "bad-request", "the job id must be a whole number");
    };
    match s.jobs.iter().find(|j| j.id == id) {
        Some(job) => answer(200, job_response(&job.read())),
        None => problem(409, "state-conflict", "Job is not currently running"),
    }
}

/// `DELETE /jobs/{id}`: cancels, and answers the job re-read.
fn cancel_job(s: &mut State, request: &Recorded, id: &str) -> Reply {
    let Ok(id) = id.parse::<i64>() else {
        return problem(400, "bad-request", "the job id must be a whole number");
    };
    if !s.jobs.iter().any(|j| j.id == id) {
        return problem(409, "state-conflict", "Job is not currently running");
    }
    through(s, request, json!({ "id": id }), jobs::cancel, |_, info| {
        job_response(&info["job"])
    })
}
