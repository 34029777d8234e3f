//! The public API's streams, connections and jobs, over the Config API's handlers as
//! `public_api` explains: a connection is stored as `connections/create` stores it (its catalog
//! built here from the streams listed, as the server builds it), and its jobs are the Config
//! fake's, so that `jobs/get` and [`super::FakeAirbyte::finish_job`] see them.

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::actors::{self, Kind};
use super::public_api::{page, query_values, through, uuid_of};
use super::replies::{answer, error_id, problem, resource_not_found, Reply};
use super::{connections, jobs, Recorded, State, WORKSPACE_ID};

// ---- streams ----

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

/// The paths of a stream's top-level fields (the server lists fields, not their types).
fn property_fields(stream: &Value) -> Vec<Value> {
    stream
        .pointer("/jsonSchema/properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, _)| json!([name]))
        .collect()
}

/// `GET /streams?sourceId=&destinationId=`: a discovery of the source; sync modes only when a
/// destination is named. A failed discovery is a 500 with the connector's message after `logs:`.
pub(super) fn streams(s: &mut State, request: &Recorded) -> Reply {
    let Some(source) = request.query_value("sourceId").map(str::to_string) else {
        return problem(400, "bad-request", "sourceId is required");
    };
    if !s.actors(Kind::Source).contains_key(&source) {
        return resource_not_found("source", &source);
    }
    let destination = request.query_value("destinationId").map(str::to_string);
    if let Some(destination) = &destination {
        if !s.actors(Kind::Destination).contains_key(destination) {
            return resource_not_found("destination", destination);
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
                "propertyFields": property_fields(stream),
            })
        })
        .collect();
    answer(200, json!(properties))
}

// ---- connections ----

/// The public API's sync modes, each with the Config API's pair.
const MODES: [(&str, (&str, &str)); 5] = [
    ("full_refresh_overwrite", ("full_refresh", "overwrite")),
    ("full_refresh_append", ("full_refresh", "append")),
    (
        "full_refresh_overwrite_deduped",
        ("full_refresh", "overwrite_dedup"),
    ),
    ("incremental_append", ("incremental", "append")),
    (
        "incremental_deduped_history",
        ("incremental", "append_dedup"),
    ),
];

/// The catalog a connection stores for `configurations.streams`, from the streams a discovery
/// finds (the last one's, as the server's cache would have them; not counted as a discovery):
/// the listed streams selected with their modes, the others not; nothing listed keeps Airbyte's
/// default, which selects only the first stream here (a suggested stream, as Airbyte's default
/// would), in `full_refresh_overwrite`.
fn catalog(s: &State, listed: &[Value]) -> Result<Vec<Value>, Reply> {
    let mut catalog = s.streams.clone();
    for item in &mut catalog {
        item["config"]["selected"] = json!(false);
    }
    if listed.is_empty() {
        if let Some(first) = catalog.first_mut() {
            first["config"]["selected"] = json!(true);
            first["config"]["syncMode"] = json!("full_refresh");
            first["config"]["destinationSyncMode"] = json!("overwrite");
        }
        return Ok(catalog);
    }
    for configured in listed {
        let Some(name) = configured.get("name").and_then(Value::as_str) else {
            return Err(error_id(400));
        };
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
        let pair = MODES.iter().find(|(m, _)| *m == mode).map(|(_, p)| *p);
        let Some((sync, destination)) =
            pair.filter(|_| sync_modes(&item["stream"]).contains(&mode))
        else {
            return Err(problem(
                400,
                "bad-request",
                &format!("Cannot set sync mode to {mode} for stream {name}"),
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

/// `schedule` as the Config API's `scheduleType` and `scheduleData` in `body`: a Quartz cron
/// whose seconds and minutes are numbers, a trailing ` UTC` dropped, its time zone always UTC.
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
                    "A cron expression is required for a cron schedule",
                ));
            };
            let cron = cron.trim().trim_end_matches("UTC").trim_end();
            let fields: Vec<&str> = cron.split_whitespace().collect();
            let number = |f: &&str| f.bytes().all(|b| b.is_ascii_digit());
            if !(6..=7).contains(&fields.len()) || !fields[..2].iter().all(number) {
                return Err(problem(
                    400,
                    "bad-request",
                    &format!("The cron expression {cron} is not valid or is less than the one hour minimum. The seconds and minutes values cannot be `*`."),
                ));
            }
            body["scheduleType"] = json!("cron");
            body["scheduleData"] =
                json!({ "cron": { "cronExpression": cron, "cronTimeZone": "UTC" } });
        }
        _ => return Err(error_id(400)),
    }
    Ok(())
}

/// A stored `ConnectionRead` as `ConnectionResponse`: its selected streams only, in the public
/// sync modes, the cron expression with its time zone after it.
fn connection_response(s: &State, read: &Value) -> Value {
    let streams: Vec<Value> = read
        .pointer("/syncCatalog/streams")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|item| item["config"]["selected"] == true)
        .map(|item| {
            let pair = (
                item["config"]["syncMode"].as_str().unwrap_or(""),
                item["config"]["destinationSyncMode"].as_str().unwrap_or(""),
            );
            let mode = MODES
                .iter()
                .find(|(_, p)| *p == pair)
                .map_or("full_refresh_overwrite", |(m, _)| *m);
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
        Some("cron") => {
            let cron = read.pointer("/scheduleData/cron");
            let part = |field: &str| {
                cron.and_then(|c| c[field].as_str())
                    .unwrap_or("")
                    .to_string()
            };
            json!({
                "scheduleType": "cron",
                "cronExpression": format!("{} {}", part("cronExpression"), part("cronTimeZone")),
            })
        }
        other => json!({ "scheduleType": other.unwrap_or("manual") }),
    };
    let source = read["sourceId"].as_str().unwrap_or("");
    let workspace = s
        .actors(Kind::Source)
        .get(source)
        .map_or(json!(WORKSPACE_ID), |a| a["workspaceId"].clone());
    json!({
        "connectionId": read["connectionId"],
        "name": read["name"],
        "sourceId": read["sourceId"],
        "destinationId": read["destinationId"],
        "workspaceId": workspace,
        "status": read["status"],
        "schedule": schedule,
        "namespaceDefinition": read.get("namespaceDefinition").cloned().unwrap_or(json!("destination")),
        "configurations": { "streams": streams },
        "createdAt": 1_700_000_000,
        "tags": [],
    })
}

/// `POST /connections`: `connections/create` with the catalog built from the streams listed,
/// the destination's namespaces unless told otherwise.
pub(super) fn create(s: &mut State, request: &Recorded) -> Reply {
    let body = &request.body;
    let (Some(source), Some(destination)) = (
        request.uuid_field("sourceId"),
        request.uuid_field("destinationId"),
    ) else {
        return error_id(400);
    };
    if !s.actors(Kind::Source).contains_key(source) {
        return resource_not_found("source", source);
    }
    if !s.actors(Kind::Destination).contains_key(destination) {
        return resource_not_found("destination", destination);
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
    let namespaces = match namespace_definition(body) {
        Ok(namespaces) => namespaces,
        Err(refused) => return refused,
    };
    let mut translated = json!({
        "sourceId": source,
        "destinationId": destination,
        "status": body.get("status").cloned().unwrap_or(json!("active")),
        "syncCatalog": { "streams": streams },
        "scheduleType": "manual",
        // The public API's default is the destination's namespaces, the Config API's the source's.
        "namespaceDefinition": namespaces.unwrap_or("destination"),
    });
    if let Some(name) = body.get("name") {
        translated["name"] = name.clone();
    }
    if let Some(given) = body.get("schedule") {
        if let Err(refused) = schedule(&mut translated, given) {
            return refused;
        }
    }
    through(s, request, translated, connections::create, |s, read| {
        connection_response(s, &read)
    })
}

/// `GET /connections/{id}`: a deleted connection too, `deprecated`, as `connections/get` answers it.
pub(super) fn get(s: &mut State, request: &Recorded, id: &str) -> Reply {
    let id = match uuid_of(id) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    through(
        s,
        request,
        json!({ "connectionId": id }),
        |s, r| connections::get(s, r),
        |s, read| connection_response(s, &read),
    )
}

/// `PATCH /connections/{id}`: what is sent changes; streams sent rebuild the whole catalog.
pub(super) fn patch(s: &mut State, request: &Recorded, id: &str) -> Reply {
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
    let namespaces = match namespace_definition(body) {
        Ok(namespaces) => namespaces,
        Err(refused) => return refused,
    };
    let updated = through(s, request, translated, connections::update, |_, read| read);
    if updated.status != 200 {
        return updated;
    }
    // `connections/update` keeps the namespaces; the public API's patch may change them.
    let stored = s
        .connections
        .get_mut(id)
        .expect("a connection just updated");
    if let Some(namespaces) = namespaces {
        stored["namespaceDefinition"] = json!(namespaces);
    }
    answer(200, connection_response(s, &s.connections[id]))
}

/// The body's `namespaceDefinition`, if it sends one the server knows.
fn namespace_definition(body: &Value) -> Result<Option<&str>, Reply> {
    match body.get("namespaceDefinition") {
        None => Ok(None),
        Some(given) => given
            .as_str()
            .filter(|n| ["source", "destination", "custom_format"].contains(n))
            .map(Some)
            .ok_or_else(|| error_id(400)),
    }
}

/// `DELETE /connections/{id}`: 204; the connection is kept, `deprecated`.
pub(super) fn delete(s: &mut State, request: &Recorded, id: &str) -> Reply {
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

/// Epoch seconds as ISO-8601 in UTC: `2026-12-05T07:00:00Z`.
fn iso(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Seconds as an ISO-8601 duration, as Java's `Duration` writes it: `PT0S`, `PT1M5S`, `PT2H`.
fn iso_duration(seconds: i64) -> String {
    let (hours, minutes, secs) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut out = String::from("PT");
    if hours != 0 {
        out += &format!("{hours}H");
    }
    if minutes != 0 {
        out += &format!("{minutes}M");
    }
    if secs != 0 || out.len() == 2 {
        out += &format!("{secs}S");
    }
    out
}

/// A Config API `JobRead` as `JobResponse` (JobResponseMapper: `startTime` is when the job was
/// created, `lastUpdatedAt` only once it has ended, the committed counts as rows and bytes synced).
fn job_response(read: &Value) -> Value {
    let status = read["status"].as_str().unwrap_or("");
    let created = read["createdAt"].as_i64().unwrap_or(0);
    let updated = read["updatedAt"].as_i64().unwrap_or(created);
    let job_type = match read["configType"].as_str() {
        Some("reset_connection") => "reset",
        other => other.unwrap_or("sync"),
    };
    let mut job = json!({
        "jobId": read["id"],
        "status": status,
        "jobType": job_type,
        "startTime": iso(created),
        "connectionId": read["configId"],
    });
    if ["failed", "cancelled", "succeeded"].contains(&status) {
        job["lastUpdatedAt"] = json!(iso(updated));
    }
    if status != "pending" {
        job["duration"] = json!(iso_duration(updated - created));
    }
    if let Some(stats) = read.get("aggregatedStats") {
        job["bytesSynced"] = stats["bytesCommitted"].clone();
        job["rowsSynced"] = stats["recordsCommitted"].clone();
    }
    job
}

/// `POST /jobs {connectionId, jobType}`: a sync (`connections/sync`: 409 `try-again-later` while
/// a job runs; 409 `state-conflict` for an inactive connection), a reset or a clear; a refresh
/// is refused, as the server does.
pub(super) fn create_job(s: &mut State, request: &Recorded) -> Reply {
    let Some(connection) = request.uuid_field("connectionId").map(str::to_string) else {
        return error_id(400);
    };
    let config_type = match request.body["jobType"].as_str() {
        Some("sync") => "sync",
        Some("reset") => "reset_connection",
        Some("clear") if s.legacy_job_calls => return error_id(400),
        Some("clear") => "clear",
        Some("refresh") => {
            return problem(
                422,
                "unprocessable-entity",
                "Refreshes are not supported in the public API",
            )
        }
        _ => return error_id(400),
    };
    let Some(stored) = s.connections.get(&connection) else {
        return resource_not_found("connection", &connection);
    };
    if config_type == "sync" && stored["status"] != "active" {
        return problem(409, "state-conflict", "Could not fulfill request");
    }
    through(
        s,
        request,
        json!({ "connectionId": connection }),
        |s, r| jobs::start(s, r, config_type),
        |_, info| job_response(&info["job"]),
    )
}

/// `GET /jobs?connectionId=&status=&jobType=&orderBy=`: oldest first unless `orderBy=createdAt|DESC`.
pub(super) fn list_jobs(s: &State, request: &Recorded) -> Reply {
    let connection = request.query_value("connectionId");
    let statuses = query_values(request, "status");
    let job_type = request.query_value("jobType");
    let mut all: Vec<Value> = s
        .jobs
        .iter()
        .map(|j| job_response(&j.read()))
        .filter(|j| connection.is_none_or(|c| j["connectionId"] == c))
        .filter(|j| statuses.is_empty() || statuses.iter().any(|st| j["status"] == *st))
        .filter(|j| job_type.is_none_or(|t| j["jobType"] == t))
        .collect();
    match request.query_value("orderBy") {
        None | Some("createdAt|ASC") => {}
        Some("createdAt|DESC") => all.reverse(),
        Some(other) => return problem(400, "bad-request", &format!("cannot order by {other}")),
    }
    page(request, all)
}

/// The job id of a path, a whole number; else 400.
fn job_id(id: &str) -> Result<i64, Reply> {
    id.parse()
        .map_err(|_| problem(400, "bad-request", "the job id must be a whole number"))
}

/// What the server answers for a job it does not hold: not a 404.
fn no_such_job() -> Reply {
    problem(409, "state-conflict", "Job is not currently running")
}

/// `GET /jobs/{id}`: an unknown id is a 409 `Job is not currently running`, as the server answers.
pub(super) fn get_job(s: &State, id: &str) -> Reply {
    let id = match job_id(id) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    match s.jobs.iter().find(|j| j.id == id) {
        Some(job) => answer(200, job_response(&job.read())),
        None => no_such_job(),
    }
}

/// `DELETE /jobs/{id}`: `jobs/cancel`, answered with the job re-read.
pub(super) fn cancel_job(s: &mut State, request: &Recorded, id: &str) -> Reply {
    let id = match job_id(id) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    if !s.jobs.iter().any(|j| j.id == id) {
        return no_such_job();
    }
    through(s, request, json!({ "id": id }), jobs::cancel, |_, info| {
        job_response(&info["job"])
    })
}
