//! The Config API's request and answer bodies, as far as the service reads or writes them (the
//! names are the schema names of Airbyte's `config.yaml`), and how each becomes the service's
//! own type (`model.rs`). Unknown fields are ignored; the parts passed back to Airbyte (stream
//! catalogs, configurations) are kept as opaque JSON.

use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

use super::names;
use crate::airbyte::model::{
    Actor, Attempt, Check, Connection, ConnectionUpdate, Definition, Discovery, Failure, Job,
    JobQuery, JobStats, NewConnection, StreamName, StreamStats, ENDED,
};
use crate::airbyte::{Error, Kind};

/// A connector definition (`SourceDefinitionRead` / `DestinationDefinitionRead`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DefinitionRead {
    #[serde(rename = "sourceDefinitionId", alias = "destinationDefinitionId")]
    pub id: Uuid,
    pub name: String,
    pub docker_repository: String,
}

impl From<DefinitionRead> for Definition {
    fn from(d: DefinitionRead) -> Definition {
        Definition {
            id: d.id,
            name: d.name,
            docker_repository: d.docker_repository,
        }
    }
}

/// `SourceDefinitionReadList` / `DestinationDefinitionReadList`.
#[derive(Deserialize)]
pub(super) struct DefinitionList {
    #[serde(rename = "sourceDefinitions", alias = "destinationDefinitions")]
    pub definitions: Vec<DefinitionRead>,
}

/// A stored source or destination (`SourceRead` / `DestinationRead`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ActorRead {
    #[serde(rename = "sourceId", alias = "destinationId")]
    pub id: Uuid,
    pub workspace_id: Uuid,
    #[serde(rename = "sourceDefinitionId", alias = "destinationDefinitionId")]
    pub definition_id: Uuid,
    pub name: String,
    /// The configuration as Airbyte stored it, secrets masked by Airbyte.
    #[serde(rename = "connectionConfiguration")]
    pub config: Box<RawValue>,
}

/// A create's `SourceRead` / `DestinationRead`, read for what the request did not say: the new
/// id, and the name and configuration as stored. Its workspace and definition are the ones the
/// request named (Airbyte refuses a create it cannot make in them), so their UUIDs are skipped,
/// not parsed again: three UUIDs were a tenth of reading the answer.
#[derive(Deserialize)]
pub(super) struct ActorCreated {
    #[serde(rename = "sourceId", alias = "destinationId")]
    pub id: Uuid,
    pub name: String,
    #[serde(rename = "connectionConfiguration")]
    pub config: Box<RawValue>,
}

impl ActorCreated {
    pub fn into_actor(self, workspace_id: Uuid, definition_id: Uuid) -> Actor {
        Actor {
            id: self.id,
            workspace_id,
            definition_id,
            name: self.name,
            config: self.config,
            connector: None,
        }
    }
}

impl From<ActorRead> for Actor {
    fn from(a: ActorRead) -> Actor {
        let created = ActorCreated {
            id: a.id,
            name: a.name,
            config: a.config,
        };
        created.into_actor(a.workspace_id, a.definition_id)
    }
}

/// `SourceReadList` / `DestinationReadList`.
#[derive(Deserialize)]
pub(super) struct ActorList {
    #[serde(rename = "sources", alias = "destinations")]
    pub actors: Vec<ActorRead>,
}

/// `CheckConnectionRead`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CheckRead {
    /// `succeeded` or `failed`; absent when the check job did not run.
    pub status: Option<String>,
    pub message: Option<String>,
    pub job_info: Option<JobInfo>,
}

impl CheckRead {
    /// The check's outcome; [`Error::NotRun`] when Airbyte could not run it: no `status`, or a
    /// job that did not succeed.
    pub fn check(self, call: &'static str) -> Result<Check, Error> {
        let job = self.job_info;
        let job_ran = job.as_ref().is_none_or(|j| j.succeeded);
        let failure = job.and_then(|j| j.failure_reason).map(Failure::from);
        let not_run = |failure: Option<Failure>| Error::NotRun {
            call,
            reason: failure.and_then(|f| f.external_message),
        };
        match self.status.as_deref() {
            Some(status @ ("succeeded" | "failed")) if job_ran => Ok(Check {
                succeeded: status == "succeeded",
                message: self.message,
                failure,
            }),
            _ => Err(not_run(failure)),
        }
    }
}

/// A stored connection (`ConnectionRead`), as far as the service reports it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConnectionRead {
    pub connection_id: Uuid,
    pub name: String,
    pub source_id: Uuid,
    pub destination_id: Uuid,
    pub status: String,
    pub schedule_type: Option<String>,
    pub schedule_data: Option<Value>,
    pub sync_catalog: Catalog,
}

impl From<ConnectionRead> for Connection {
    fn from(c: ConnectionRead) -> Connection {
        let cron = c
            .schedule_data
            .as_ref()
            .and_then(|d| d.pointer("/cron/cronExpression"))
            .and_then(Value::as_str)
            .map(str::to_string);
        Connection {
            connection_id: c.connection_id,
            name: c.name,
            source_id: c.source_id,
            destination_id: c.destination_id,
            status: c.status,
            schedule_type: c.schedule_type.unwrap_or_else(|| "manual".to_string()),
            cron,
            streams: c.sync_catalog.streams,
        }
    }
}

/// A stream catalog (`AirbyteCatalog`); streams kept as Airbyte sent them.
#[derive(Deserialize)]
pub(super) struct Catalog {
    pub streams: Vec<Value>,
}

/// `JobOptionalRead`.
#[derive(Deserialize)]
pub(super) struct JobOptionalRead {
    pub job: Option<JobRead>,
}

/// A job (`JobRead`): a sync, reset, refresh or clear of one connection. Only what clients are
/// shown is read; `enabledStreams` is left unread.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JobRead {
    pub id: i64,
    /// `sync`, `reset_connection`, `refresh`, `clear` (or, for other jobs, what they are).
    pub config_type: String,
    /// The connection's id, for a connection's job.
    pub config_id: String,
    /// Epoch seconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    /// `pending`, `queued` (newer Airbyte), `running`, `incomplete`, `failed`, `succeeded`,
    /// `cancelled`.
    pub status: String,
    pub aggregated_stats: Option<StatsRead>,
    /// Filled by `jobs/get_without_logs` and `jobs/list`, not by `jobs/get` (Airbyte 1.6 and later).
    pub stream_aggregated_stats: Option<Vec<StreamStatsRead>>,
}

/// `JobAggregatedStats`, and an attempt's `AttemptStats`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StatsRead {
    pub records_emitted: Option<i64>,
    pub bytes_emitted: Option<i64>,
    pub records_committed: Option<i64>,
    pub bytes_committed: Option<i64>,
}

impl From<StatsRead> for JobStats {
    fn from(s: StatsRead) -> JobStats {
        JobStats {
            records_emitted: s.records_emitted,
            bytes_emitted: s.bytes_emitted,
            records_committed: s.records_committed,
            bytes_committed: s.bytes_committed,
        }
    }
}

/// `StreamStats`: what one stream moved in a job.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StreamStatsRead {
    pub stream_name: String,
    pub stream_namespace: Option<String>,
    #[serde(flatten)]
    pub stats: StatsRead,
}

impl From<StreamStatsRead> for StreamStats {
    fn from(s: StreamStatsRead) -> StreamStats {
        StreamStats {
            stream: StreamName {
                name: s.stream_name,
                namespace: s.stream_namespace,
            },
            stats: s.stats.into(),
        }
    }
}

/// An attempt at a job (`AttemptRead`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AttemptRead {
    /// The attempt's number within its job, from 0.
    #[serde(default)]
    pub id: i64,
    /// `running`, `failed`, `succeeded`.
    #[serde(default)]
    pub status: String,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub records_synced: Option<i64>,
    pub bytes_synced: Option<i64>,
    pub total_stats: Option<StatsRead>,
    pub failure_summary: Option<FailureSummary>,
}

impl AttemptRead {
    /// Its first failure, which Airbyte reports as the reason.
    fn failure(&self) -> Option<Failure> {
        let first = self.failure_summary.as_ref()?.failures.first()?;
        Some(first.clone().into())
    }
}

impl From<AttemptRead> for Attempt {
    fn from(a: AttemptRead) -> Attempt {
        let failure = a.failure();
        // Older Airbyte counts an attempt's records and bytes only as `recordsSynced` and
        // `bytesSynced`: what it committed.
        let stats = a.total_stats.map_or_else(
            || JobStats {
                records_committed: a.records_synced,
                bytes_committed: a.bytes_synced,
                ..JobStats::default()
            },
            JobStats::from,
        );
        Attempt {
            number: a.id,
            status: a.status,
            created_at: a.created_at,
            updated_at: a.updated_at,
            ended_at: a.ended_at,
            stats,
            failure,
        }
    }
}

/// `AttemptFailureSummary`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(super) struct FailureSummary {
    pub failures: Vec<FailureRead>,
}

/// A `FailureReason` (of an attempt, or of a synchronous job), without `internalMessage` and
/// `stacktrace`, which are never read: they carry Airbyte's internals and can quote
/// configuration (secrets).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FailureRead {
    /// `source`, `destination`, `replication`, `airbyte_platform`, ...
    pub failure_origin: Option<String>,
    /// `config_error`, `system_error`, `manual_cancellation`, ...
    pub failure_type: Option<String>,
    pub external_message: Option<String>,
    pub retryable: Option<bool>,
}

impl From<FailureRead> for Failure {
    fn from(f: FailureRead) -> Failure {
        Failure {
            failure_origin: f.failure_origin,
            failure_type: f.failure_type,
            external_message: f.external_message,
            retryable: f.retryable,
        }
    }
}

/// A job and its attempts, in the one shape clients see: when it ended is its last attempt's end
/// (or its last update), why it failed its last attempt's first failure.
pub(super) fn job(read: JobRead, attempts: &[AttemptRead]) -> Job {
    let ended = ENDED.contains(&read.status.as_str());
    let ended_at = ended.then(|| {
        attempts
            .last()
            .and_then(|a| a.ended_at)
            .unwrap_or(read.updated_at)
    });
    let failure = matches!(read.status.as_str(), "failed" | "cancelled").then(|| {
        attempts
            .last()
            .and_then(AttemptRead::failure)
            .unwrap_or_default()
    });
    Job {
        id: read.id,
        connection_id: read.config_id,
        config_type: read.config_type,
        status: read.status,
        created_at: Some(read.created_at),
        updated_at: Some(read.updated_at),
        started_at: read.started_at,
        ended_at,
        attempts: Some(attempts.len()),
        stats: read
            .aggregated_stats
            .map(JobStats::from)
            .unwrap_or_default(),
        streams: read
            .stream_aggregated_stats
            .map(|all| all.into_iter().map(StreamStats::from).collect()),
        failure,
    }
}

/// `JobInfoRead` (`jobs/get`, `jobs/get_without_logs`, `jobs/cancel`, `connections/sync`,
/// `connections/clear`, ...).
#[derive(Deserialize)]
pub(super) struct JobInfoRead {
    pub job: JobRead,
    pub attempts: Vec<AttemptInfoRead>,
}

/// `AttemptInfoRead` (`jobs/get`'s attempts, `attempt/get_for_job`): the attempt and its log.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AttemptInfoRead {
    pub attempt: AttemptRead,
    /// Absent from `jobs/get_without_logs`.
    pub logs: Option<LogsRead>,
}

/// An attempt's log: lines of text (`LogRead`), or structured events (`LogEvents`, Airbyte 1.2
/// and later with `logType: structured`).
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum LogsRead {
    Lines {
        #[serde(rename = "logLines")]
        log_lines: Vec<String>,
    },
    Events {
        events: Vec<LogEventRead>,
    },
}

/// A `LogEvent`. Its `stackTrace` is not read: the service shows no stack trace.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LogEventRead {
    /// Epoch milliseconds.
    pub timestamp: i64,
    pub message: String,
    pub level: String,
    pub log_source: String,
}

impl LogsRead {
    /// The log as lines of text; an event becomes `<time> <LEVEL> <source> > <message>`, as
    /// Airbyte prints a formatted log.
    pub fn lines(self) -> Vec<String> {
        match self {
            LogsRead::Lines { log_lines } => log_lines,
            LogsRead::Events { events } => events.into_iter().map(LogEventRead::line).collect(),
        }
    }
}

impl LogEventRead {
    fn line(self) -> String {
        let time =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.timestamp) * 1_000_000)
                .ok()
                .and_then(|t| t.format(&Rfc3339).ok())
                .unwrap_or_else(|| self.timestamp.to_string());
        format!(
            "{time} {} {} > {}",
            self.level.to_ascii_uppercase(),
            self.log_source,
            self.message
        )
    }
}

impl From<JobInfoRead> for Job {
    fn from(info: JobInfoRead) -> Job {
        let attempts: Vec<AttemptRead> = info.attempts.into_iter().map(|a| a.attempt).collect();
        job(info.job, &attempts)
    }
}

impl JobInfoRead {
    /// The job, and each of its attempts.
    pub fn with_attempts(self) -> (Job, Vec<Attempt>) {
        let attempts: Vec<AttemptRead> = self.attempts.into_iter().map(|a| a.attempt).collect();
        let job = job(self.job, &attempts);
        (job, attempts.into_iter().map(Attempt::from).collect())
    }

    /// The log of attempt `number`; `None` when the job has no such attempt.
    pub fn log_of(self, number: i64) -> Option<Vec<String>> {
        let attempt = self.attempts.into_iter().find(|a| a.attempt.id == number)?;
        Some(attempt.logs.map(LogsRead::lines).unwrap_or_default())
    }
}

/// `JobReadList` (`jobs/list`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JobReadList {
    pub jobs: Vec<JobWithAttemptsRead>,
}

/// `JobWithAttemptsRead`: both members are optional in the spec.
#[derive(Deserialize)]
pub(super) struct JobWithAttemptsRead {
    pub job: Option<JobRead>,
    #[serde(default)]
    pub attempts: Vec<AttemptRead>,
}

impl JobReadList {
    pub fn jobs(self) -> Vec<Job> {
        self.jobs
            .into_iter()
            .filter_map(|j| Some(job(j.job?, &j.attempts)))
            .collect()
    }
}

/// The connection jobs' types; other jobs (checks, discoveries) are not a connection's.
pub(super) const JOB_TYPES: [&str; 4] = ["sync", "reset_connection", "refresh", "clear"];

/// The body of `jobs/list`: the connection's jobs, newest first, one page.
pub(super) fn jobs_list_body(query: &JobQuery<'_>) -> Value {
    let mut body = json!({
        "configTypes": JOB_TYPES,
        "configId": query.connection_id,
        "pagination": { "pageSize": query.limit, "rowOffset": query.offset },
        "orderByField": "createdAt",
        "orderByMethod": "DESC",
    });
    if let Some(status) = query.status {
        body["statuses"] = json!([status]);
    }
    body
}

/// The body of `connections/clear/stream` (and `reset/stream`): `ConnectionStreamRequestBody`.
pub(super) fn connection_streams_body(connection: Uuid, streams: &[StreamName]) -> Value {
    let streams: Vec<Value> = streams
        .iter()
        .map(|s| match &s.namespace {
            Some(namespace) => json!({ "streamName": s.name, "streamNamespace": namespace }),
            None => json!({ "streamName": s.name }),
        })
        .collect();
    json!({ "connectionId": connection, "streams": streams })
}

/// The body of `connections/update` for connection `id`: only what changes.
pub(super) fn connection_update_body(update: &ConnectionUpdate, id: Uuid) -> Value {
    let mut body = json!({ "connectionId": id });
    if let Some(name) = &update.name {
        body["name"] = json!(name);
    }
    if let Some(status) = &update.status {
        body["status"] = json!(status);
    }
    match &update.schedule {
        None => {}
        Some(None) => body["scheduleType"] = json!("manual"),
        Some(Some(cron)) => {
            body["scheduleType"] = json!("cron");
            body["scheduleData"] =
                json!({ "cron": { "cronExpression": cron, "cronTimeZone": "UTC" } });
        }
    }
    if let Some(streams) = &update.streams {
        body["syncCatalog"] = json!({ "streams": streams });
    }
    if let Some(id) = update.source_catalog_id {
        body["sourceCatalogId"] = json!(id);
    }
    body
}

/// `WorkspaceReadList`.
#[derive(Deserialize)]
pub(super) struct WorkspaceList {
    pub workspaces: Vec<Workspace>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Workspace {
    pub workspace_id: Uuid,
}

impl WorkspaceList {
    pub fn ids(self) -> Vec<Uuid> {
        self.workspaces
            .into_iter()
            .map(|w| w.workspace_id)
            .collect()
    }
}

/// `SourceDiscoverSchemaRead`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DiscoverRead {
    pub catalog: Option<Catalog>,
    pub job_info: JobInfo,
    pub catalog_id: Option<Uuid>,
    pub breaking_change: Option<bool>,
}

impl DiscoverRead {
    /// The streams found, or why the discovery job failed.
    pub fn discovery(self, call: &'static str) -> Result<Discovery, Error> {
        let failed = |failure: Option<FailureRead>| Error::JobFailed {
            call,
            failure: failure.map(Failure::from).unwrap_or_default(),
        };
        let job = self.job_info;
        match self.catalog {
            _ if !job.succeeded => Err(failed(job.failure_reason)),
            None => Err(failed(None)),
            Some(catalog) => Ok(Discovery {
                streams: catalog.streams,
                catalog_id: self.catalog_id,
                breaking_change: self.breaking_change,
            }),
        }
    }
}

/// `SynchronousJobRead`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JobInfo {
    pub succeeded: bool,
    pub failure_reason: Option<FailureRead>,
}

/// `SourceDefinitionSpecificationRead` / `DestinationDefinitionSpecificationRead`, as far as
/// its connector spec (a JSON schema of the configuration).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SpecificationRead {
    pub connection_specification: Option<Value>,
}

/// The body of `{sources,destinations}/update` and `.../check_connection_for_update`
/// (`SourceUpdate` / `DestinationUpdate`): the whole configuration, masked values standing for
/// the stored secrets.
pub(super) struct ActorUpdate<'a> {
    pub kind: Kind,
    pub id: Uuid,
    pub name: &'a str,
    pub config: &'a Value,
}

impl Serialize for ActorUpdate<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry(names(self.kind).id_field, &self.id)?;
        map.serialize_entry("name", self.name)?;
        map.serialize_entry("connectionConfiguration", self.config)?;
        map.end()
    }
}

/// `ConnectionRead`, as far as a create's answer goes.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConnectionCreated {
    pub connection_id: Uuid,
}

/// An answer whose body is ignored (204 No Content).
pub(super) struct Empty;

impl<'de> Deserialize<'de> for Empty {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Empty)
    }
}

/// `HealthCheckRead`.
#[derive(Deserialize)]
pub(super) struct HealthRead {
    pub available: bool,
}

/// The body of `sources/create` / `destinations/create`, and without a name that of
/// `scheduler/{sources,destinations}/check_connection` and `scheduler/sources/discover_schema`
/// (`SourceCoreConfig` / `DestinationCoreConfig`: a configuration no stored actor has). The
/// client's configuration is passed through byte for byte, never re-encoded.
pub(super) struct ActorCreate<'a> {
    pub kind: Kind,
    pub workspace_id: Uuid,
    pub definition_id: Uuid,
    pub name: Option<&'a str>,
    pub config: &'a RawValue,
}

impl Serialize for ActorCreate<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(3 + usize::from(self.name.is_some())))?;
        map.serialize_entry("workspaceId", &self.workspace_id)?;
        map.serialize_entry(names(self.kind).definition_id_field, &self.definition_id)?;
        if let Some(name) = self.name {
            map.serialize_entry("name", name)?;
        }
        map.serialize_entry("connectionConfiguration", self.config)?;
        map.end()
    }
}

/// The body of `connections/create`: an active connection syncing `new.streams`.
pub(super) fn connection_create_body(new: &NewConnection) -> Value {
    let mut body = json!({
        "sourceId": new.source_id,
        "destinationId": new.destination_id,
        "status": "active",
        "syncCatalog": { "streams": new.streams },
        "scheduleType": "manual",
    });
    if let Some(name) = &new.name {
        body["name"] = json!(name);
    }
    if let Some(cron) = &new.cron {
        body["scheduleType"] = json!("cron");
        body["scheduleData"] = json!({ "cron": { "cronExpression": cron, "cronTimeZone": "UTC" } });
    }
    if let Some(id) = new.source_catalog_id {
        body["sourceCatalogId"] = json!(id);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_uses_the_kind_field_names_and_keeps_config_verbatim() {
        let config =
            RawValue::from_string(r#"{"port": 12345678901234567890, "b":1,"a":2}"#.to_string())
                .unwrap();
        let id = Uuid::nil();
        let body = ActorCreate {
            kind: Kind::Destination,
            workspace_id: id,
            definition_id: id,
            name: Some("s3"),
            config: &config,
        };
        let text = serde_json::to_string(&body).unwrap();
        assert_eq!(
            text,
            r#"{"workspaceId":"00000000-0000-0000-0000-000000000000","destinationDefinitionId":"00000000-0000-0000-0000-000000000000","name":"s3","connectionConfiguration":{"port": 12345678901234567890, "b":1,"a":2}}"#
        );
    }

    #[test]
    fn definitions_parse_for_both_kinds() {
        let s: DefinitionList = serde_json::from_str(
            r#"{"sourceDefinitions":[{"sourceDefinitionId":"435bb9a5-7887-4809-aa58-28c27df0d7ad","name":"MySQL","dockerRepository":"airbyte/source-mysql","dockerImageTag":"3.0.0"}]}"#,
        )
        .unwrap();
        assert_eq!(s.definitions[0].docker_repository, "airbyte/source-mysql");
        let d: DefinitionList = serde_json::from_str(
            r#"{"destinationDefinitions":[{"destinationDefinitionId":"4816b78f-1489-44c1-9060-4b19d5fa9362","name":"S3","dockerRepository":"airbyte/destination-s3"}]}"#,
        )
        .unwrap();
        assert_eq!(d.definitions[0].name, "S3");
    }

    fn stats() -> Option<StatsRead> {
        Some(StatsRead {
            records_emitted: Some(10),
            bytes_emitted: Some(100),
            records_committed: None,
            bytes_committed: None,
        })
    }

    fn read(status: &str) -> JobRead {
        JobRead {
            id: 7,
            config_type: "sync".into(),
            config_id: "c".into(),
            created_at: 1_700_000_000,
            updated_at: 1_700_000_060,
            started_at: Some(1_700_000_001),
            status: status.into(),
            aggregated_stats: stats(),
            stream_aggregated_stats: None,
        }
    }

    fn failed_attempt() -> AttemptRead {
        AttemptRead {
            id: 0,
            status: "failed".into(),
            created_at: Some(1_700_000_001),
            updated_at: Some(1_700_000_050),
            ended_at: Some(1_700_000_050),
            records_synced: Some(3),
            bytes_synced: Some(30),
            total_stats: None,
            failure_summary: Some(FailureSummary {
                failures: vec![FailureRead {
                    failure_origin: Some("source".into()),
                    failure_type: Some("config_error".into()),
                    external_message: Some("Access denied".into()),
                    retryable: Some(false),
                }],
            }),
        }
    }

    #[test]
    fn a_failed_job_says_why_from_its_last_attempt() {
        let j = job(read("failed"), &[failed_attempt()]);
        assert_eq!(j.ended_at, Some(1_700_000_050));
        assert_eq!(j.attempts, Some(1));
        assert_eq!(j.stats.records_emitted, Some(10));
        let failure = j.failure.unwrap();
        assert_eq!(failure.external_message.as_deref(), Some("Access denied"));
        assert!(failure.is_config_error());
    }

    #[test]
    fn a_running_job_has_no_end_and_no_failure() {
        let running = job(read("running"), &[]);
        assert_eq!((running.ended_at, running.failure), (None, None));
        let cancelled = job(read("cancelled"), &[]);
        assert_eq!(
            cancelled.ended_at,
            Some(1_700_000_060),
            "no attempt: when it changed last"
        );
        assert_eq!(cancelled.failure, Some(Failure::default()));
    }

    #[test]
    fn per_stream_figures_attempts_and_logs_are_read_in_both_shapes() {
        let info: JobInfoRead = serde_json::from_value(json!({
            "job": {"id": 9, "configType": "sync", "configId": "c", "createdAt": 1, "updatedAt": 2,
                    "status": "failed",
                    "streamAggregatedStats": [
                        {"streamName": "users", "streamNamespace": "shop", "recordsEmitted": 5,
                         "bytesEmitted": 50, "recordsCommitted": 4, "bytesCommitted": 40, "recordsRejected": 0},
                        {"streamName": "orders", "recordsEmitted": 0, "bytesEmitted": 0,
                         "recordsCommitted": 0, "bytesCommitted": 0}]},
            "attempts": [
                {"attempt": {"id": 0, "status": "failed", "createdAt": 1, "updatedAt": 2, "recordsSynced": 3, "bytesSynced": 30},
                 "logType": "formatted", "logs": {"logLines": ["one", "two"]}},
                {"attempt": {"id": 1, "status": "failed", "createdAt": 3, "updatedAt": 4,
                             "totalStats": {"recordsEmitted": 5, "bytesCommitted": 40}},
                 "logType": "structured",
                 "logs": {"events": [{"timestamp": 1700000000123i64, "message": "Access denied", "level": "error",
                                      "logSource": "source", "stackTrace": "at secret.Place"}]}}
            ]
        }))
        .unwrap();
        let streams = job(info.job.clone(), &[]).streams.unwrap();
        assert_eq!(streams.len(), 2);
        assert_eq!(streams[0].stream.namespace.as_deref(), Some("shop"));
        assert_eq!(streams[0].stats.records_committed, Some(4));
        assert_eq!(streams[1].stream.namespace, None);
        let (_, attempts) = JobInfoRead {
            job: info.job.clone(),
            attempts: Vec::new(),
        }
        .with_attempts();
        assert!(attempts.is_empty());
        let first = Attempt::from(info.attempts[0].attempt.clone());
        assert_eq!(
            first.stats.records_committed,
            Some(3),
            "recordsSynced: what was committed"
        );
        assert_eq!(first.stats.records_emitted, None);
        let second = Attempt::from(info.attempts[1].attempt.clone());
        assert_eq!((second.number, second.stats.records_emitted), (1, Some(5)));
        let structured = info.log_of(1).unwrap();
        assert_eq!(
            structured,
            vec!["2023-11-14T22:13:20.123Z ERROR source > Access denied".to_string()],
            "an event is one line, its stack trace left out"
        );
    }

    #[test]
    fn a_job_without_stream_figures_says_none_and_an_unknown_attempt_has_no_log() {
        let info: JobInfoRead = serde_json::from_value(json!({
            "job": {"id": 9, "configType": "sync", "configId": "c", "createdAt": 1, "updatedAt": 2, "status": "running"},
            "attempts": [{"attempt": {"id": 0, "status": "running", "createdAt": 1, "updatedAt": 2}}]
        }))
        .unwrap();
        assert_eq!(job(info.job.clone(), &[]).streams, None);
        assert_eq!(info.log_of(3), None);
    }
}
