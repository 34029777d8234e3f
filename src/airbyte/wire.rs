//! Airbyte's request and answer bodies, as far as the service reads or writes them (the names
//! are the schema names of Airbyte's OpenAPI document). Unknown fields are ignored; the parts
//! passed back to Airbyte (stream catalogs, configurations) are kept as opaque JSON.

use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{Error, Kind};

/// A connector definition (`SourceDefinitionRead` / `DestinationDefinitionRead`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Definition {
    #[serde(rename = "sourceDefinitionId", alias = "destinationDefinitionId")]
    pub id: Uuid,
    pub name: String,
    pub docker_repository: String,
}

/// `SourceDefinitionReadList` / `DestinationDefinitionReadList`.
#[derive(Deserialize)]
pub(super) struct DefinitionList {
    #[serde(rename = "sourceDefinitions", alias = "destinationDefinitions")]
    pub definitions: Vec<Definition>,
}

/// A stored source or destination (`SourceRead` / `DestinationRead`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    #[serde(rename = "sourceId", alias = "destinationId")]
    pub id: Uuid,
    pub workspace_id: Uuid,
    #[serde(rename = "sourceDefinitionId", alias = "destinationDefinitionId")]
    pub definition_id: Uuid,
    pub name: String,
    /// The configuration as Airbyte stored it, secrets masked by Airbyte.
    #[serde(rename = "connectionConfiguration")]
    pub config: Value,
}

/// `SourceReadList` / `DestinationReadList`.
#[derive(Deserialize)]
pub(super) struct ActorList {
    #[serde(rename = "sources", alias = "destinations")]
    pub actors: Vec<Actor>,
}

/// What a connection check found, once it ran: `succeeded` or `failed`, Airbyte's message, and
/// how Airbyte classifies the failure when it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub succeeded: bool,
    pub message: Option<String>,
    pub failure: Option<FailureRead>,
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
        let failure = job.and_then(|j| j.failure_reason);
        let not_run = |failure: Option<FailureRead>| Error::NotRun {
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
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub connection_id: Uuid,
    pub name: String,
    pub source_id: Uuid,
    pub destination_id: Uuid,
    pub status: String,
    pub schedule_type: Option<String>,
    pub schedule_data: Option<Value>,
    pub sync_catalog: Catalog,
}

/// A stream catalog (`AirbyteCatalog`); streams kept as Airbyte sent them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Catalog {
    pub streams: Vec<Value>,
}

/// `JobOptionalRead`.
#[derive(Deserialize)]
pub(super) struct JobOptionalRead {
    pub job: Option<JobRead>,
}

/// A job (`JobRead`): a sync, reset, refresh or clear of one connection. Only what clients are
/// shown is read; `enabledStreams` and the per-stream stats are left unread.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRead {
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
    pub aggregated_stats: Option<JobStats>,
}

/// `JobAggregatedStats`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStats {
    pub records_emitted: Option<i64>,
    pub bytes_emitted: Option<i64>,
    pub records_committed: Option<i64>,
    pub bytes_committed: Option<i64>,
}

/// An attempt at a job (`AttemptRead`), as far as when it ended and why it failed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptRead {
    pub ended_at: Option<i64>,
    pub failure_summary: Option<FailureSummary>,
}

/// `AttemptFailureSummary`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FailureSummary {
    pub failures: Vec<FailureRead>,
}

/// A `FailureReason` (of an attempt, or of a synchronous job), without `internalMessage` and
/// `stacktrace`, which are never read: they carry Airbyte's internals and can quote
/// configuration (secrets).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureRead {
    /// `source`, `destination`, `replication`, `airbyte_platform`, ...
    pub failure_origin: Option<String>,
    /// `config_error`, `system_error`, `manual_cancellation`, ...
    pub failure_type: Option<String>,
    pub external_message: Option<String>,
    pub retryable: Option<bool>,
}

impl FailureRead {
    /// Whether Airbyte blames the configuration.
    pub fn is_config_error(&self) -> bool {
        self.failure_type.as_deref() == Some("config_error")
    }

    /// Airbyte's message for it, or a note that there is none.
    pub fn reason(&self) -> &str {
        self.external_message
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .unwrap_or("Airbyte gave no reason")
    }
}

/// A job with its attempts: what `jobs/get`, `jobs/list`, `connections/sync` and `jobs/cancel`
/// answer, in one shape (their attempts are nested differently; logs are never read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub read: JobRead,
    pub attempts: Vec<AttemptRead>,
}

/// `JobInfoRead` (`jobs/get`, `jobs/cancel`, `connections/sync`).
#[derive(Deserialize)]
pub(super) struct JobInfoRead {
    pub job: JobRead,
    pub attempts: Vec<AttemptInfoRead>,
}

/// `AttemptInfoRead`: the attempt, and its logs (not read).
#[derive(Deserialize)]
pub(super) struct AttemptInfoRead {
    pub attempt: AttemptRead,
}

impl From<JobInfoRead> for Job {
    fn from(info: JobInfoRead) -> Job {
        Job {
            read: info.job,
            attempts: info.attempts.into_iter().map(|a| a.attempt).collect(),
        }
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
            .filter_map(|j| {
                Some(Job {
                    read: j.job?,
                    attempts: j.attempts,
                })
            })
            .collect()
    }
}

/// Which of a connection's jobs `jobs/list` is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobQuery<'a> {
    pub connection_id: Uuid,
    pub limit: usize,
    pub offset: usize,
    /// One status to filter by; `None` for all.
    pub status: Option<&'a str>,
}

impl JobQuery<'_> {
    /// The connection jobs' types; other jobs (checks, discoveries) are not a connection's.
    pub const TYPES: [&'static str; 4] = ["sync", "reset_connection", "refresh", "clear"];

    /// The body of `jobs/list`: the connection's jobs, newest first, one page.
    pub(super) fn body(&self) -> Value {
        let mut body = json!({
            "configTypes": Self::TYPES,
            "configId": self.connection_id,
            "pagination": { "pageSize": self.limit, "rowOffset": self.offset },
            "orderByField": "createdAt",
            "orderByMethod": "DESC",
        });
        if let Some(status) = self.status {
            body["statuses"] = json!([status]);
        }
        body
    }
}

/// What `connections/update` is asked to change; `None` leaves a field as it is (the call is
/// patch-style, but a catalog sent replaces the whole catalog).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectionUpdate {
    pub name: Option<String>,
    /// `active` or `inactive`.
    pub status: Option<String>,
    /// `Some(None)`: a manual schedule; `Some(Some(cron))`: a Quartz cron expression in UTC.
    pub schedule: Option<Option<String>>,
    pub streams: Option<Vec<Value>>,
    pub source_catalog_id: Option<Uuid>,
}

impl ConnectionUpdate {
    /// The body of `connections/update` for connection `id`: only what changes.
    pub(super) fn body(&self, id: Uuid) -> Value {
        let mut body = json!({ "connectionId": id });
        if let Some(name) = &self.name {
            body["name"] = json!(name);
        }
        if let Some(status) = &self.status {
            body["status"] = json!(status);
        }
        match &self.schedule {
            None => {}
            Some(None) => body["scheduleType"] = json!("manual"),
            Some(Some(cron)) => {
                body["scheduleType"] = json!("cron");
                body["scheduleData"] =
                    json!({ "cron": { "cronExpression": cron, "cronTimeZone": "UTC" } });
            }
        }
        if let Some(streams) = &self.streams {
            body["syncCatalog"] = json!({ "streams": streams });
        }
        if let Some(id) = self.source_catalog_id {
            body["sourceCatalogId"] = json!(id);
        }
        body
    }
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

/// What `sources/discover_schema` found.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovery {
    /// `AirbyteStreamAndConfiguration` items, kept as Airbyte sent them.
    pub streams: Vec<Value>,
    pub catalog_id: Option<Uuid>,
    /// Airbyte's verdict on the change from the connection's catalog, when a connection was named.
    pub breaking_change: Option<bool>,
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
            failure: failure.unwrap_or_default(),
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
        map.serialize_entry(self.kind.names().id_field, &self.id)?;
        map.serialize_entry("name", self.name)?;
        map.serialize_entry("connectionConfiguration", self.config)?;
        map.end()
    }
}

/// `ConnectionRead`, as far as a create's answer goes.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConnectionRead {
    pub connection_id: Uuid,
}

/// An answer whose body is ignored (204 No Content).
pub(super) struct Empty;

impl<'de> Deserialize<'de> for Empty {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Empty)
    }
}

/// `AccessTokenResponse` of `applications/token`.
#[derive(Deserialize)]
pub(super) struct AccessToken {
    pub access_token: String,
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
        map.serialize_entry(self.kind.names().definition_id_field, &self.definition_id)?;
        if let Some(name) = self.name {
            map.serialize_entry("name", name)?;
        }
        map.serialize_entry("connectionConfiguration", self.config)?;
        map.end()
    }
}

/// What `connections/create` is asked to make.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConnection {
    pub source_id: Uuid,
    pub destination_id: Uuid,
    pub name: Option<String>,
    /// A Quartz cron expression, evaluated in UTC; `None` is a manual schedule.
    pub cron: Option<String>,
    pub streams: Vec<Value>,
    pub source_catalog_id: Option<Uuid>,
}

impl NewConnection {
    /// The body of `connections/create`: an active connection syncing `streams`.
    pub(super) fn body(&self) -> Value {
        let mut body = json!({
            "sourceId": self.source_id,
            "destinationId": self.destination_id,
            "status": "active",
            "syncCatalog": { "streams": self.streams },
            "scheduleType": "manual",
        });
        if let Some(name) = &self.name {
            body["name"] = json!(name);
        }
        if let Some(cron) = &self.cron {
            body["scheduleType"] = json!("cron");
            body["scheduleData"] =
                json!({ "cron": { "cronExpression": cron, "cronTimeZone": "UTC" } });
        }
        if let Some(id) = self.source_catalog_id {
            body["sourceCatalogId"] = json!(id);
        }
        body
    }
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
}
