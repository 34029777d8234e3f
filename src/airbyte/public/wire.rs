//! The public API's request and answer bodies, as far as the service reads or writes them (the
//! names are the schema names of Airbyte's `api.yaml`), and how each becomes the service's own
//! type. Unknown fields are ignored.
//!
//! The service keeps a catalog's streams in the Config API's shape (see `model.rs`); here the
//! public API's `StreamProperties` become such streams, and chosen streams become its
//! `StreamConfiguration`s: a sync mode there is one word for the pair the Config API keeps apart
//! (`incremental_deduped_history` for `incremental` + `append_dedup`).

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::airbyte::fields::Fields;
use crate::airbyte::model::{
    Actor, Connection, ConnectionUpdate, Definition, Failure, Job, JobStats, NewConnection, ENDED,
};

/// The items of a page of a list (`WorkspacesResponse`, `SourcesResponse`, ...). `next` is not
/// read: it is a URL on Airbyte's own idea of its host name; pages are asked for by offset.
pub(super) fn page(answer: &Value) -> Result<&[Value], String> {
    match answer.get("data") {
        Some(Value::Array(items)) => Ok(items),
        _ => Err(Fields::missing("data", "an array")),
    }
}

/// `WorkspaceResponse`'s id.
pub(super) fn workspace_id(item: &Value) -> Result<Uuid, String> {
    Fields::of(item)?.uuid("workspaceId")
}

/// `DefinitionResponse` (`GET /workspaces/{id}/definitions/...`, Airbyte 1.6 and later), or
/// `ConnectorDefinitionResponse` (`GET /connector_definitions`), which has no docker repository.
pub(super) fn definition(item: &Value) -> Result<Definition, String> {
    let f = Fields::of(item)?;
    Ok(Definition {
        id: f.uuid("id")?,
        name: f.text("name")?,
        docker_repository: f.optional_text("dockerRepository")?.unwrap_or_default(),
    })
}

/// `SourceResponse` / `DestinationResponse` of `kind`'s id field; the definition id is nil where
/// Airbyte before 1.2 does not answer it.
pub(super) fn actor(item: &Value, id_field: &str) -> Result<Actor, String> {
    let f = Fields::of(item)?;
    Ok(Actor {
        id: f.uuid(id_field)?,
        workspace_id: f.uuid("workspaceId")?,
        definition_id: f.optional_uuid("definitionId")?.unwrap_or_default(),
        name: f.text("name")?,
        config: f
            .value("configuration")
            .filter(|c| c.is_object())
            .and_then(|c| serde_json::value::to_raw_value(c).ok())
            .ok_or_else(|| Fields::missing("configuration", "an object"))?,
        connector: match id_field {
            "sourceId" => f.optional_text("sourceType")?,
            _ => f.optional_text("destinationType")?,
        },
    })
}

/// `SourceCreateRequest` / `DestinationCreateRequest`: the client's configuration byte for byte.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ActorCreate<'a> {
    pub name: &'a str,
    pub definition_id: Uuid,
    pub workspace_id: Uuid,
    pub configuration: &'a RawValue,
}

/// `SourcePutRequest` / `DestinationPutRequest`: the whole configuration, masked values standing
/// for the stored secrets (a `PATCH` would store the mask itself).
#[derive(Serialize)]
pub(super) struct ActorPut<'a> {
    pub name: &'a str,
    pub configuration: &'a Value,
}

/// `GET /streams`'s answer, a list of `StreamProperties`, as catalog items (see the module doc),
/// none selected. A stream's supported sync modes are the source halves of the public API's pairs;
/// where it gave none (no destination named), full refresh, and incremental when the stream has a
/// cursor.
pub(super) fn streams(answer: &Value) -> Result<Vec<Value>, String> {
    let Value::Array(items) = answer else {
        return Err("expected a JSON array of stream properties".into());
    };
    let mut streams = Vec::with_capacity(items.len());
    for item in items {
        let f = Fields::of(item)?;
        let Some(name) = f.optional_text("streamName")? else {
            continue;
        };
        let cursor = f
            .value("defaultCursorField")
            .cloned()
            .unwrap_or_else(|| json!([]));
        let defined_cursor =
            f.value("sourceDefinedCursorField").and_then(Value::as_bool) == Some(true);
        let has_cursor = defined_cursor || cursor.as_array().is_some_and(|c| !c.is_empty());
        let mut modes: Vec<&str> = Vec::new();
        match f.value("syncModes").and_then(Value::as_array) {
            Some(pairs) => {
                let pairs: Vec<&str> = pairs.iter().filter_map(Value::as_str).collect();
                for mode in ["full_refresh", "incremental"] {
                    if pairs.iter().any(|p| p.starts_with(mode)) {
                        modes.push(mode);
                    }
                }
            }
            None => {
                modes.push("full_refresh");
                if has_cursor {
                    modes.push("incremental");
                }
            }
        }
        let mut stream = json!({
            "name": name,
            "supportedSyncModes": modes,
            "sourceDefinedCursor": defined_cursor,
            "defaultCursorField": cursor,
            "sourceDefinedPrimaryKey": f.value("sourceDefinedPrimaryKey").cloned().unwrap_or_else(|| json!([])),
        });
        if let Some(namespace) = f
            .optional_text("streamnamespace")?
            .filter(|n| !n.is_empty())
        {
            stream["namespace"] = json!(namespace);
        }
        streams.push(json!({ "stream": stream, "config": { "selected": false } }));
    }
    Ok(streams)
}

/// The public API's sync mode for a catalog item's pair; `None` for a pair it has no word for.
fn public_sync_mode(sync: &str, destination: &str) -> Option<&'static str> {
    Some(match (sync, destination) {
        ("full_refresh", "overwrite") => "full_refresh_overwrite",
        ("full_refresh", "append") => "full_refresh_append",
        ("full_refresh", "overwrite_dedup") => "full_refresh_overwrite_deduped",
        ("incremental", "append") => "incremental_append",
        ("incremental", "append_dedup") => "incremental_deduped_history",
        _ => return None,
    })
}

/// The Config API's pair for a public sync mode.
fn pair_of(mode: &str) -> (&'static str, &'static str) {
    match mode {
        "full_refresh_append" => ("full_refresh", "append"),
        "full_refresh_overwrite_deduped" => ("full_refresh", "overwrite_dedup"),
        "incremental_append" => ("incremental", "append"),
        "incremental_deduped_history" => ("incremental", "append_dedup"),
        "incremental_update" | "incremental_soft_delete" => ("incremental", "append_dedup"),
        _ => ("full_refresh", "overwrite"),
    }
}

/// The selected streams of a catalog as `StreamConfiguration`s: every one named with the sync mode
/// chosen for it, never an empty list (which would make Airbyte choose).
pub(super) fn stream_configurations(streams: &[Value]) -> Vec<Value> {
    let text = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    let non_empty = |v: Option<&Value>| {
        v.filter(|a| a.as_array().is_some_and(|a| !a.is_empty()))
            .cloned()
    };
    streams
        .iter()
        .filter(|s| s.pointer("/config/selected").and_then(Value::as_bool) == Some(true))
        .filter_map(|s| {
            let name = text(s, "/stream/name")?;
            let sync = text(s, "/config/syncMode").unwrap_or_else(|| "full_refresh".into());
            let destination =
                text(s, "/config/destinationSyncMode").unwrap_or_else(|| "overwrite".into());
            let mut item = json!({ "name": name });
            if let Some(mode) = public_sync_mode(&sync, &destination) {
                item["syncMode"] = json!(mode);
            }
            if let Some(namespace) = text(s, "/stream/namespace").filter(|n| !n.is_empty()) {
                item["namespace"] = json!(namespace);
            }
            if sync == "incremental" {
                if let Some(cursor) = non_empty(s.pointer("/config/cursorField")) {
                    item["cursorField"] = cursor;
                }
            }
            if destination.ends_with("dedup") {
                if let Some(key) = non_empty(s.pointer("/config/primaryKey")) {
                    item["primaryKey"] = key;
                }
            }
            Some(item)
        })
        .collect()
}

/// `AirbyteApiConnectionSchedule` for a cron expression (UTC), or a manual schedule.
fn schedule(cron: Option<&str>) -> Value {
    match cron {
        Some(cron) => json!({ "scheduleType": "cron", "cronExpression": cron }),
        None => json!({ "scheduleType": "manual" }),
    }
}

/// `ConnectionCreateRequest`: active, the chosen streams, and the source's namespaces as the
/// Config API's default keeps them (the public API's default is the destination's).
pub(super) fn connection_create_body(new: &NewConnection) -> Value {
    let mut body = json!({
        "sourceId": new.source_id,
        "destinationId": new.destination_id,
        "configurations": { "streams": stream_configurations(&new.streams) },
        "schedule": schedule(new.cron.as_deref()),
        "namespaceDefinition": "source",
        "status": "active",
    });
    if let Some(name) = &new.name {
        body["name"] = json!(name);
    }
    body
}

/// `ConnectionPatchRequest`: only what changes.
pub(super) fn connection_patch_body(update: &ConnectionUpdate) -> Value {
    let mut body = json!({});
    if let Some(name) = &update.name {
        body["name"] = json!(name);
    }
    if let Some(status) = &update.status {
        body["status"] = json!(status);
    }
    if let Some(cron) = &update.schedule {
        body["schedule"] = schedule(cron.as_deref());
    }
    if let Some(streams) = &update.streams {
        body["configurations"] = json!({ "streams": stream_configurations(streams) });
    }
    body
}

/// `ConnectionResponse`.
pub(super) fn connection(answer: &Value) -> Result<Connection, String> {
    let f = Fields::of(answer)?;
    let schedule = f.object("schedule")?;
    // Airbyte answers the cron expression with its time zone after it: `0 0 2 * * ? UTC`.
    let cron = schedule.optional_text("cronExpression")?.map(|e| {
        let e = e.trim();
        e.strip_suffix(" UTC").unwrap_or(e).trim().to_string()
    });
    let configured = match f.optional_object("configurations")? {
        Some(c) => c.items("streams")?,
        None => &[],
    };
    Ok(Connection {
        connection_id: f.uuid("connectionId")?,
        name: f.text("name")?,
        source_id: f.uuid("sourceId")?,
        destination_id: f.uuid("destinationId")?,
        status: f.text("status")?,
        schedule_type: schedule.text("scheduleType")?,
        cron,
        streams: configured.iter().filter_map(catalog_item).collect(),
    })
}

/// A connection's `StreamConfiguration` (a selected stream) as a catalog item.
fn catalog_item(configured: &Value) -> Option<Value> {
    let name = configured.get("name")?.as_str()?;
    let (sync, destination) = pair_of(
        configured
            .get("syncMode")
            .and_then(Value::as_str)
            .unwrap_or(""),
    );
    let mut stream = json!({ "name": name });
    if let Some(namespace) = configured.get("namespace").filter(|n| n.is_string()) {
        stream["namespace"] = namespace.clone();
    }
    let mut config =
        json!({ "selected": true, "syncMode": sync, "destinationSyncMode": destination });
    for field in ["cursorField", "primaryKey"] {
        if let Some(value) = configured.get(field).filter(|v| v.is_array()) {
            config[field] = value.clone();
        }
    }
    Some(json!({ "stream": stream, "config": config }))
}

/// `JobResponse`. It has no attempts, no start of running, no emitted counts and no reason for a
/// failure; `startTime` is when the job was created, `lastUpdatedAt` is there once it has ended.
pub(super) fn job(answer: &Value) -> Result<Job, String> {
    let f = Fields::of(answer)?;
    let seconds = |name: &str| -> Result<Option<i64>, String> {
        Ok(f.optional_text(name)?
            .and_then(|t| OffsetDateTime::parse(&t, &Rfc3339).ok())
            .map(OffsetDateTime::unix_timestamp))
    };
    let status = f.text("status")?;
    let updated_at = seconds("lastUpdatedAt")?;
    let config_type = match f.text("jobType")?.as_str() {
        "reset" => "reset_connection".to_string(),
        other => other.to_string(),
    };
    Ok(Job {
        id: f.i64("jobId")?,
        connection_id: f.text("connectionId")?,
        config_type,
        created_at: seconds("startTime")?,
        updated_at,
        started_at: None,
        ended_at: updated_at.filter(|_| ENDED.contains(&status.as_str())),
        attempts: None,
        stats: JobStats {
            records_committed: f.optional_i64("rowsSynced")?,
            bytes_committed: f.optional_i64("bytesSynced")?,
            ..JobStats::default()
        },
        streams: None,
        failure: matches!(status.as_str(), "failed" | "cancelled").then(Failure::default),
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chosen_streams_become_stream_configurations_and_back() {
        let streams = vec![
            json!({"stream": {"name": "users", "namespace": "shop"}, "config": {"selected": true, "syncMode": "incremental", "destinationSyncMode": "append_dedup", "cursorField": ["updated_at"], "primaryKey": [["id"]]}}),
            json!({"stream": {"name": "orders"}, "config": {"selected": false}}),
            json!({"stream": {"name": "items"}, "config": {"selected": true, "syncMode": "full_refresh", "destinationSyncMode": "overwrite"}}),
        ];
        let configured = stream_configurations(&streams);
        assert_eq!(
            configured,
            vec![
                json!({"name": "users", "namespace": "shop", "syncMode": "incremental_deduped_history", "cursorField": ["updated_at"], "primaryKey": [["id"]]}),
                json!({"name": "items", "syncMode": "full_refresh_overwrite"}),
            ]
        );
        let back = catalog_item(&configured[0]).unwrap();
        assert_eq!(back["config"]["syncMode"], "incremental");
        assert_eq!(back["config"]["destinationSyncMode"], "append_dedup");
        assert_eq!(back["stream"]["namespace"], "shop");
    }

    #[test]
    fn jobs_keep_what_the_public_api_gives_and_nothing_more() {
        let job = job(&json!({
            "jobId": 7, "status": "failed", "jobType": "reset", "startTime": "2026-12-05T07:00:00Z",
            "connectionId": "c", "lastUpdatedAt": "2026-12-05T07:01:05Z", "duration": "PT1M5S",
            "bytesSynced": 10, "rowsSynced": 2
        }))
        .unwrap();
        assert_eq!(job.config_type, "reset_connection");
        assert_eq!(job.created_at, Some(1_796_454_000));
        assert_eq!(job.ended_at, Some(1_796_454_065));
        assert_eq!(job.attempts, None);
        assert_eq!(job.stats.records_committed, Some(2));
        assert_eq!(job.stats.records_emitted, None);
        assert_eq!(job.failure, Some(Failure::default()));
    }

    #[test]
    fn cron_expressions_lose_the_time_zone_airbyte_appends() {
        let c = connection(&json!({
            "connectionId": Uuid::nil(), "name": "n", "sourceId": Uuid::nil(), "destinationId": Uuid::nil(),
            "workspaceId": Uuid::nil(), "status": "active", "createdAt": 1, "tags": [],
            "schedule": {"scheduleType": "cron", "cronExpression": "0 0 2 * * ? UTC"},
            "configurations": {"streams": [{"name": "users", "syncMode": "full_refresh_append"}]}
        }))
        .unwrap();
        assert_eq!(c.cron.as_deref(), Some("0 0 2 * * ?"));
        assert_eq!(c.streams[0]["config"]["destinationSyncMode"], "append");
    }

    #[test]
    fn a_missing_field_is_named() {
        assert_eq!(
            job(&json!({"jobId": 1, "status": "running", "jobType": "sync"})).unwrap_err(),
            "field `connectionId` is missing or not a string"
        );
        assert_eq!(
            actor(&json!({"sourceId": "x"}), "sourceId").unwrap_err(),
            "field `sourceId` is missing or not a UUID"
        );
        assert!(page(&json!({"next": ""})).is_err());
        let stream = streams(&json!([{"streamName": "users", "syncModes": ["incremental_append", "full_refresh_overwrite"], "streamnamespace": "shop"}])).unwrap();
        assert_eq!(
            stream[0]["stream"]["supportedSyncModes"],
            json!(["full_refresh", "incremental"])
        );
        assert_eq!(stream[0]["stream"]["namespace"], "shop");
    }
}
