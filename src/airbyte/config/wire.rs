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
use crate::airbyte::fields::Fields;
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

impl From<ActorRead> for Actor {
    fn from(a: ActorRead) -> Actor {
        Actor {
            id: a.id,
            workspace_id: a.workspace_id,
            definition_id: a.definition_id,
            name: a.name,
            config: a.config,
            connector: None,
        }
    }
}

/// `SourceReadList` / `DestinationReadList`.
#[derive(Deserialize)]
pub(super) struct ActorList {
    #[serde(rename = "sources", alias = "destinations")]
    pub actors: Vec<ActorRead>,
}

/// `CheckConnectionRead`.
pub(super) struct CheckRead {
    /// `succeeded` or `failed`; absent when the check job did not run.
    status: Option<String>,
    message: Option<String>,
    job_info: Option<JobInfo>,
}

impl CheckRead {
    pub fn read(answer: &Value) -> Result<CheckRead, String> {
        let f = Fields::of(answer)?;
        Ok(CheckRead {
            status: f.optional_text("status")?,
            message: f.optional_text("message")?,
            job_info: f
                .optional_object("jobInfo")?
                .map(|j| JobInfo::read(&j))
                .transpose()?,
        })
    }

    /// The check's outcome; [`Error::NotRun`] when Airbyte could not run it: no `status`, or a
    /// job that did not succeed.
    pub fn check(self, call: &'static str) -> Result<Check, Error> {
        let job = self.job_info;
        let job_ran = job.as_ref().is_none_or(|j| j.succeeded);
        let failure = job.and_then(|j| j.failure);
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
pub(super) fn connection(answer: &Value) -> Result<Connection, String> {
    let f = Fields::of(answer)?;
    let cron = f
        .value("scheduleData")
        .and_then(|d| d.pointer("/cron/cronExpression"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(Connection {
        connection_id: f.uuid("connectionId")?,
        name: f.text("name")?,
        source_id: f.uuid("sourceId")?,
        destination_id: f.uuid("destinationId")?,
        status: f.text("status")?,
        schedule_type: f
            .optional_text("scheduleType")?
            .unwrap_or_else(|| "manual".to_string()),
        cron,
        streams: catalog_streams(&f.object("syncCatalog")?)?,
    })
}

/// A stream catalog's (`AirbyteCatalog`) streams, kept as Airbyte sent them.
fn catalog_streams(catalog: &Fields<'_>) -> Result<Vec<Value>, String> {
    Ok(catalog.array("streams")?.to_vec())
}

/// `connectionId` of a `ConnectionRead`, as far as a create's answer goes.
pub(super) fn connection_id(answer: &Value) -> Result<Uuid, String> {
    Fields::of(answer)?.uuid("connectionId")
}

/// The status of a `JobOptionalRead`'s job; `None` when there is no job.
pub(super) fn optional_job_status(answer: &Value) -> Result<Option<String>, String> {
    let read = Fields::of(answer)?.optional_object("job")?;
    Ok(read.map(|j| job(&j, &[])).transpose()?.map(|j| j.status))
}

/// A job (`JobRead`: a sync, reset, refresh or clear of one connection) and its attempts, in the
/// one shape clients see: when it ended is its last attempt's end (or its last update), why it
/// failed its last attempt's first failure. `enabledStreams` is left unread.
pub(super) fn job(f: &Fields<'_>, attempts: &[Attempt]) -> Result<Job, String> {
    // `pending`, `queued` (newer Airbyte), `running`, `incomplete`, `failed`, `succeeded`,
    // `cancelled`.
    let status = f.text("status")?;
    let updated_at = f.i64("updatedAt")?;
    let last = attempts.last();
    let ended_at = ENDED
        .contains(&status.as_str())
        .then(|| last.and_then(|a| a.ended_at).unwrap_or(updated_at));
    let failure = matches!(status.as_str(), "failed" | "cancelled")
        .then(|| last.and_then(|a| a.failure.clone()).unwrap_or_default());
    Ok(Job {
        id: f.i64("id")?,
        // The connection's id, for a connection's job.
        connection_id: f.text("configId")?,
        config_type: f.text("configType")?,
        status,
        created_at: Some(f.i64("createdAt")?),
        updated_at: Some(updated_at),
        started_at: f.optional_i64("startedAt")?,
        ended_at,
        attempts: Some(attempts.len()),
        stats: f
            .optional_object("aggregatedStats")?
            .map(|s| stats(&s))
            .transpose()?
            .unwrap_or_default(),
        // Filled by `jobs/get_without_logs` and `jobs/list`, not by `jobs/get` (Airbyte 1.6 and
        // later).
        streams: f
            .optional_array("streamAggregatedStats")?
            .map(|all| all.iter().map(stream_stats).collect())
            .transpose()?,
        failure,
    })
}

/// `JobAggregatedStats`, and an attempt's `AttemptStats`.
fn stats(f: &Fields<'_>) -> Result<JobStats, String> {
    Ok(JobStats {
        records_emitted: f.optional_i64("recordsEmitted")?,
        bytes_emitted: f.optional_i64("bytesEmitted")?,
        records_committed: f.optional_i64("recordsCommitted")?,
        bytes_committed: f.optional_i64("bytesCommitted")?,
    })
}

/// `StreamStats`: what one stream moved in a job.
fn stream_stats(item: &Value) -> Result<StreamStats, String> {
    let f = Fields::of(item)?;
    Ok(StreamStats {
        stream: StreamName {
            name: f.text("streamName")?,
            namespace: f.optional_text("streamNamespace")?,
        },
        stats: stats(&f)?,
    })
}

/// An attempt at a job (`AttemptRead`).
fn attempt(f: &Fields<'_>) -> Result<Attempt, String> {
    // Older Airbyte counts an attempt's records and bytes only as `recordsSynced` and
    // `bytesSynced`: what it committed.
    let stats = match f.optional_object("totalStats")? {
        Some(total) => stats(&total)?,
        None => JobStats {
            records_committed: f.optional_i64("recordsSynced")?,
            bytes_committed: f.optional_i64("bytesSynced")?,
            ..JobStats::default()
        },
    };
    // Its first failure (`AttemptFailureSummary`), which Airbyte reports as the reason.
    let failure = match f.optional_object("failureSummary")? {
        Some(summary) => summary
            .array("failures")?
            .first()
            .map(failure)
            .transpose()?,
        None => None,
    };
    Ok(Attempt {
        // The attempt's number within its job, from 0.
        number: f.optional_i64("id")?.unwrap_or_default(),
        // `running`, `failed`, `succeeded`.
        status: f.optional_text("status")?.unwrap_or_default(),
        created_at: f.optional_i64("createdAt")?,
        updated_at: f.optional_i64("updatedAt")?,
        ended_at: f.optional_i64("endedAt")?,
        stats,
        failure,
    })
}

/// A `FailureReason` (of an attempt, or of a synchronous job), without `internalMessage` and
/// `stacktrace`, which are never read: they carry Airbyte's internals and can quote
/// configuration (secrets).
fn failure(read: &Value) -> Result<Failure, String> {
    let f = Fields::of(read)?;
    Ok(Failure {
        // `source`, `destination`, `replication`, `airbyte_platform`, ...
        failure_origin: f.optional_text("failureOrigin")?,
        // `config_error`, `system_error`, `manual_cancellation`, ...
        failure_type: f.optional_text("failureType")?,
        external_message: f.optional_text("externalMessage")?,
        retryable: f.optional_bool("retryable")?,
    })
}

/// `JobInfoRead` (`jobs/get`, `jobs/get_without_logs`, `jobs/cancel`, `connections/sync`,
/// `connections/clear`, ...): the job, and each of its attempts (`AttemptInfoRead`s).
pub(super) fn job_info(answer: &Value) -> Result<(Job, Vec<Attempt>), String> {
    let f = Fields::of(answer)?;
    let attempts = f
        .array("attempts")?
        .iter()
        .map(|info| attempt(&Fields::of(info)?.object("attempt")?))
        .collect::<Result<Vec<_>, String>>()?;
    let job = job(&f.object("job")?, &attempts)?;
    Ok((job, attempts))
}

/// The log of attempt `number` in a `JobInfoRead` of `jobs/get`; `None` when the job has no such
/// attempt.
pub(super) fn log_of(answer: &Value, number: i64) -> Result<Option<Vec<String>>, String> {
    for info in Fields::of(answer)?.array("attempts")? {
        if attempt(&Fields::of(info)?.object("attempt")?)?.number == number {
            return attempt_log(info).map(Some);
        }
    }
    Ok(None)
}

/// An `AttemptInfoRead`'s log (`attempt/get_for_job`); none when it has none (absent from
/// `jobs/get_without_logs`). Lines of text (`LogRead`), or structured events (`LogEvents`,
/// Airbyte 1.2 and later with `logType: structured`).
pub(super) fn attempt_log(answer: &Value) -> Result<Vec<String>, String> {
    let Some(logs) = Fields::of(answer)?.optional_object("logs")? else {
        return Ok(Vec::new());
    };
    if let Some(lines) = logs.optional_array("logLines")? {
        return lines
            .iter()
            .map(|line| line.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| Fields::missing("logLines", "an array of strings"));
    }
    match logs.optional_array("events")? {
        Some(events) => events.iter().map(log_line).collect(),
        None => Err(Fields::missing("logs", "log lines or log events")),
    }
}

/// A `LogEvent` as a line, `<time> <LEVEL> <source> > <message>`, as Airbyte prints a formatted
/// log. Its `stackTrace` is not read: the service shows no stack trace.
fn log_line(event: &Value) -> Result<String, String> {
    let f = Fields::of(event)?;
    // Epoch milliseconds.
    let timestamp = f.i64("timestamp")?;
    let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(timestamp) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| timestamp.to_string());
    Ok(format!(
        "{time} {} {} > {}",
        f.text("level")?.to_ascii_uppercase(),
        f.text("logSource")?,
        f.text("message")?
    ))
}

/// `JobReadList` (`jobs/list`): `JobWithAttemptsRead`s, whose members are both optional in the
/// spec; an item without a job is left out.
pub(super) fn jobs(answer: &Value) -> Result<Vec<Job>, String> {
    let mut jobs = Vec::new();
    for item in Fields::of(answer)?.array("jobs")? {
        let f = Fields::of(item)?;
        let Some(read) = f.optional_object("job")? else {
            continue;
        };
        let attempts = f
            .items("attempts")?
            .iter()
            .map(|a| attempt(&Fields::of(a)?))
            .collect::<Result<Vec<_>, String>>()?;
        jobs.push(job(&read, &attempts)?);
    }
    Ok(jobs)
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

/// `WorkspaceReadList`'s workspace ids.
pub(super) fn workspace_ids(answer: &Value) -> Result<Vec<Uuid>, String> {
    Fields::of(answer)?
        .array("workspaces")?
        .iter()
        .map(|w| Fields::of(w)?.uuid("workspaceId"))
        .collect()
}

/// `SourceDiscoverSchemaRead`: the streams found, or why the discovery job failed.
pub(super) fn discovery(answer: &Value) -> Result<Result<Discovery, Failure>, String> {
    let f = Fields::of(answer)?;
    let job = JobInfo::read(&f.object("jobInfo")?)?;
    Ok(match f.optional_object("catalog")? {
        _ if !job.succeeded => Err(job.failure.unwrap_or_default()),
        None => Err(Failure::default()),
        Some(catalog) => Ok(Discovery {
            streams: catalog_streams(&catalog)?,
            catalog_id: f.optional_uuid("catalogId")?,
            breaking_change: f.optional_bool("breakingChange")?,
        }),
    })
}

/// `SynchronousJobRead`: whether the job succeeded, and why not.
struct JobInfo {
    succeeded: bool,
    failure: Option<Failure>,
}

impl JobInfo {
    fn read(f: &Fields<'_>) -> Result<JobInfo, String> {
        Ok(JobInfo {
            succeeded: f.bool("succeeded")?,
            failure: f.value("failureReason").map(failure).transpose()?,
        })
    }
}

/// `HealthCheckRead`'s verdict.
pub(super) fn available(answer: &Value) -> Result<bool, String> {
    Fields::of(answer)?.bool("available")
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

    fn read(status: &str) -> Value {
        json!({
            "id": 7, "configType": "sync", "configId": "c", "createdAt": 1_700_000_000,
            "updatedAt": 1_700_000_060, "startedAt": 1_700_000_001, "status": status,
            "aggregatedStats": {"recordsEmitted": 10, "bytesEmitted": 100}
        })
    }

    fn job_of(read: &Value, attempts: &[Attempt]) -> Job {
        job(&Fields::of(read).unwrap(), attempts).unwrap()
    }

    fn failed_attempt() -> Attempt {
        attempt(
            &Fields::of(&json!({
                "id": 0, "status": "failed", "createdAt": 1_700_000_001, "updatedAt": 1_700_000_050,
                "endedAt": 1_700_000_050, "recordsSynced": 3, "bytesSynced": 30,
                "failureSummary": {"failures": [{
                    "failureOrigin": "source", "failureType": "config_error",
                    "externalMessage": "Access denied", "internalMessage": "at secret.Place",
                    "retryable": false}]}
            }))
            .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn a_failed_job_says_why_from_its_last_attempt() {
        let j = job_of(&read("failed"), &[failed_attempt()]);
        assert_eq!(j.ended_at, Some(1_700_000_050));
        assert_eq!(j.attempts, Some(1));
        assert_eq!(j.stats.records_emitted, Some(10));
        assert_eq!(j.stats.records_committed, None);
        let failure = j.failure.unwrap();
        assert_eq!(failure.external_message.as_deref(), Some("Access denied"));
        assert!(failure.is_config_error());
    }

    #[test]
    fn a_running_job_has_no_end_and_no_failure() {
        let running = job_of(&read("running"), &[]);
        assert_eq!((running.ended_at, running.failure), (None, None));
        let cancelled = job_of(&read("cancelled"), &[]);
        assert_eq!(
            cancelled.ended_at,
            Some(1_700_000_060),
            "no attempt: when it changed last"
        );
        assert_eq!(cancelled.failure, Some(Failure::default()));
    }

    #[test]
    fn per_stream_figures_attempts_and_logs_are_read_in_both_shapes() {
        let info = json!({
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
        });
        let (job, attempts) = job_info(&info).unwrap();
        let streams = job.streams.unwrap();
        assert_eq!(streams.len(), 2);
        assert_eq!(streams[0].stream.namespace.as_deref(), Some("shop"));
        assert_eq!(streams[0].stats.records_committed, Some(4));
        assert_eq!(streams[1].stream.namespace, None);
        assert_eq!(job.attempts, Some(2));
        assert_eq!(
            attempts[0].stats.records_committed,
            Some(3),
            "recordsSynced: what was committed"
        );
        assert_eq!(attempts[0].stats.records_emitted, None);
        assert_eq!(
            (attempts[1].number, attempts[1].stats.records_emitted),
            (1, Some(5))
        );
        assert_eq!(
            log_of(&info, 0).unwrap(),
            Some(vec!["one".into(), "two".into()])
        );
        assert_eq!(
            log_of(&info, 1).unwrap(),
            Some(vec![
                "2023-11-14T22:13:20.123Z ERROR source > Access denied".to_string()
            ]),
            "an event is one line, its stack trace left out"
        );
    }

    #[test]
    fn a_job_without_stream_figures_says_none_and_an_unknown_attempt_has_no_log() {
        let info = json!({
            "job": {"id": 9, "configType": "sync", "configId": "c", "createdAt": 1, "updatedAt": 2, "status": "running"},
            "attempts": [{"attempt": {"id": 0, "status": "running", "createdAt": 1, "updatedAt": 2}}]
        });
        assert_eq!(job_info(&info).unwrap().0.streams, None);
        assert_eq!(log_of(&info, 3), Ok(None));
        assert_eq!(log_of(&info, 0), Ok(Some(Vec::new())), "no log yet");
    }

    #[test]
    fn an_answer_missing_what_must_be_there_says_which_field() {
        let no_status = json!({"job": {"id": 9, "configType": "sync", "configId": "c",
                                        "createdAt": 1, "updatedAt": 2}, "attempts": []});
        assert_eq!(
            job_info(&no_status).map(|_| ()),
            Err("field `status` is missing or not a string".to_string())
        );
        assert!(job_info(&json!({"job": null, "attempts": []})).is_err());
        let list = json!({"jobs": [{"attempts": []}, {"job": read("running")}]});
        assert_eq!(
            jobs(&list).unwrap().len(),
            1,
            "an item without a job is left out"
        );
        assert!(attempt_log(&json!({"logs": {"logLines": [1]}})).is_err());
        assert_eq!(attempt_log(&json!({"attempt": {}})), Ok(Vec::new()));
    }

    #[test]
    fn a_discovery_that_failed_says_why_and_one_without_catalog_failed_too() {
        let failed = json!({"jobInfo": {"succeeded": false, "failureReason":
            {"failureType": "config_error", "externalMessage": "no route", "stacktrace": "x"}},
            "catalog": {"streams": []}});
        let failure = discovery(&failed).unwrap().unwrap_err();
        assert_eq!(failure.external_message.as_deref(), Some("no route"));
        let empty = json!({"jobInfo": {"succeeded": true}});
        assert_eq!(discovery(&empty).unwrap(), Err(Failure::default()));
        let found = json!({"jobInfo": {"succeeded": true}, "catalog": {"streams": [{"stream": {"name": "a"}}]},
                           "breakingChange": false});
        let found = discovery(&found).unwrap().unwrap();
        assert_eq!(
            (found.streams.len(), found.breaking_change),
            (1, Some(false))
        );
    }
}
