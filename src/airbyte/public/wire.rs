//! The public API's request and answer bodies, as far as the service reads or writes them (the
//! names are the schema names of Airbyte's `api.yaml`), and how each becomes the service's own
//! type. Unknown fields are ignored.
//!
//! The service keeps a catalog's streams in the Config API's shape (see `model.rs`); here the
//! public API's `StreamProperties` become such streams, and chosen streams become its
//! `StreamConfiguration`s: a sync mode there is one word for the pair the Config API keeps apart
//! (`incremental_deduped_history` for `incremental` + `append_dedup`).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::airbyte::model::{
    Actor, Connection, ConnectionUpdate, Definition, Failure, Job, JobStats, NewConnection, ENDED,
};

/// A page of a list (`WorkspacesResponse`, `SourcesResponse`, ...): `next` is not read, since it
/// is a URL on Airbyte's own idea of its host name; pages are asked for by offset.
#[derive(Deserialize)]
pub(super) struct Page<T> {
    pub data: Vec<T>,
}

/// `WorkspaceResponse`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Workspace {
    pub workspace_id: Uuid,
}

/// `DefinitionResponse` (`GET /workspaces/{id}/definitions/...`, Airbyte 1.6 and later), and
/// `ConnectorDefinitionResponse` (`GET /connector_definitions`), which has no docker repository.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DefinitionResponse {
    pub id: Uuid,
    pub name: String,
    #[serde(default)]
    pub docker_repository: String,
}

impl From<DefinitionResponse> for Definition {
    fn from(d: DefinitionResponse) -> Definition {
        Definition {
            id: d.id,
            name: d.name,
            docker_repository: d.docker_repository,
        }
    }
}

/// `SourceResponse` / `DestinationResponse`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ActorResponse {
    #[serde(alias = "destinationId")]
    pub source_id: Uuid,
    pub name: String,
    /// In answers since Airbyte 1.2.
    pub definition_id: Option<Uuid>,
    pub workspace_id: Uuid,
    pub configuration: Value,
}

impl ActorResponse {
    /// The actor; `definition` stands in for a definition id older Airbyte does not answer.
    pub fn actor(self, definition: Option<Uuid>) -> Actor {
        Actor {
            id: self.source_id,
            workspace_id: self.workspace_id,
            definition_id: self.definition_id.or(definition).unwrap_or_default(),
            name: self.name,
            config: self.configuration,
        }
    }
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

/// `StreamProperties` (`GET /streams`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StreamProperties {
    pub stream_name: Option<String>,
    #[serde(rename = "streamnamespace")]
    pub namespace: Option<String>,
    /// `null` unless a destination was named.
    pub sync_modes: Option<Vec<String>>,
    #[serde(default)]
    pub default_cursor_field: Vec<String>,
    pub source_defined_cursor_field: Option<bool>,
    #[serde(default)]
    pub source_defined_primary_key: Vec<Vec<String>>,
}

impl StreamProperties {
    /// The stream as a catalog item, not selected. Its supported sync modes are the source halves
    /// of the public API's pairs; where it gave none (no destination named), full refresh, and
    /// incremental when the stream has a cursor.
    pub fn into_stream(self) -> Option<Value> {
        let name = self.stream_name?;
        let has_cursor =
            self.source_defined_cursor_field == Some(true) || !self.default_cursor_field.is_empty();
        let mut modes: Vec<&str> = Vec::new();
        match &self.sync_modes {
            Some(pairs) => {
                for (prefix, mode) in [
                    ("full_refresh", "full_refresh"),
                    ("incremental", "incremental"),
                ] {
                    if pairs.iter().any(|p| p.starts_with(prefix)) {
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
            "sourceDefinedCursor": self.source_defined_cursor_field.unwrap_or(false),
            "defaultCursorField": self.default_cursor_field,
            "sourceDefinedPrimaryKey": self.source_defined_primary_key,
        });
        if let Some(namespace) = self.namespace.filter(|n| !n.is_empty()) {
            stream["namespace"] = json!(namespace);
        }
        Some(json!({ "stream": stream, "config": { "selected": false } }))
    }
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
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConnectionResponse {
    pub connection_id: Uuid,
    pub name: String,
    pub source_id: Uuid,
    pub destination_id: Uuid,
    pub status: String,
    pub schedule: ScheduleResponse,
    pub configurations: Option<StreamConfigurations>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ScheduleResponse {
    pub schedule_type: String,
    pub cron_expression: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct StreamConfigurations {
    #[serde(default)]
    pub streams: Vec<Value>,
}

impl From<ConnectionResponse> for Connection {
    fn from(c: ConnectionResponse) -> Connection {
        // Airbyte answers the cron expression with its time zone after it: `0 0 2 * * ? UTC`.
        let cron = c.schedule.cron_expression.map(|e| {
            let e = e.trim();
            e.strip_suffix(" UTC").unwrap_or(e).trim().to_string()
        });
        let streams = c
            .configurations
            .map(|c| c.streams)
            .unwrap_or_default()
            .iter()
            .filter_map(catalog_item)
            .collect();
        Connection {
            connection_id: c.connection_id,
            name: c.name,
            source_id: c.source_id,
            destination_id: c.destination_id,
            status: c.status,
            schedule_type: c.schedule.schedule_type,
            cron,
            streams,
        }
    }
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
    // The sync mode it has is one it supports: so that choosing streams again keeps it.
    let mut stream = json!({ "name": name, "supportedSyncModes": [sync] });
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

/// `ConnectionResponse`, as far as a create's answer goes.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConnectionCreated {
    pub connection_id: Uuid,
}

/// `JobResponse`. It has no attempts, no start of running, no emitted counts and no reason for a
/// failure; `startTime` is when the job was created.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JobResponse {
    pub job_id: i64,
    pub status: String,
    pub job_type: String,
    pub start_time: Option<String>,
    pub connection_id: String,
    /// Only once the job has ended.
    pub last_updated_at: Option<String>,
    pub bytes_synced: Option<i64>,
    pub rows_synced: Option<i64>,
}

impl From<JobResponse> for Job {
    fn from(j: JobResponse) -> Job {
        let seconds = |t: Option<&String>| {
            t.and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                .map(OffsetDateTime::unix_timestamp)
        };
        let ended = ENDED.contains(&j.status.as_str());
        let updated_at = seconds(j.last_updated_at.as_ref());
        let config_type = match j.job_type.as_str() {
            "reset" => "reset_connection".to_string(),
            other => other.to_string(),
        };
        Job {
            id: j.job_id,
            connection_id: j.connection_id,
            config_type,
            created_at: seconds(j.start_time.as_ref()),
            updated_at,
            started_at: None,
            ended_at: updated_at.filter(|_| ended),
            attempts: None,
            stats: JobStats {
                records_committed: j.rows_synced,
                bytes_committed: j.bytes_synced,
                ..JobStats::default()
            },
            failure: matches!(j.status.as_str(), "failed" | "cancelled").then(Failure::default),
            status: j.status,
        }
    }
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
        let job: Job = serde_json::from_value::<JobResponse>(json!({
            "jobId": 7, "status": "failed", "jobType": "reset", "startTime": "2026-12-05T07:00:00Z",
            "connectionId": "c", "lastUpdatedAt": "2026-12-05T07:01:05Z", "duration": "PT1M5S",
            "bytesSynced": 10, "rowsSynced": 2
        }))
        .unwrap()
        .into();
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
        let c: Connection = serde_json::from_value::<ConnectionResponse>(json!({
            "connectionId": Uuid::nil(), "name": "n", "sourceId": Uuid::nil(), "destinationId": Uuid::nil(),
            "workspaceId": Uuid::nil(), "status": "active", "createdAt": 1, "tags": [],
            "schedule": {"scheduleType": "cron", "cronExpression": "0 0 2 * * ? UTC"},
            "configurations": {"streams": [{"name": "users", "syncMode": "full_refresh_append"}]}
        }))
        .unwrap()
        .into();
        assert_eq!(c.cron.as_deref(), Some("0 0 2 * * ?"));
        assert_eq!(c.streams[0]["config"]["destinationSyncMode"], "append");
    }
}
