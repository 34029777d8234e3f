//! What the service knows of Airbyte, in its own terms: definitions, sources and destinations
//! (actors), checks, stream catalogs, connections and jobs. Both dialects answer in these types
//! and take them as arguments; neither API's field names appear here.
//!
//! One exception is deliberate: a stream of a catalog is kept as the JSON of Airbyte's
//! `AirbyteStreamAndConfiguration` (`{stream: {name, namespace, supportedSyncModes, ...},
//! config: {selected, syncMode, destinationSyncMode, ...}}`), because the Config API takes it back
//! as it gave it, and `catalog.rs` chooses streams and sync modes on that shape. The public API's
//! dialect translates its stream properties and stream configurations to and from it.

use serde_json::value::RawValue;
use serde_json::Value;
use uuid::Uuid;

/// A connector definition: what a client's `type` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub id: Uuid,
    /// The display name (`MySQL`).
    pub name: String,
    /// `airbyte/source-mysql`; empty where Airbyte does not say (the public API's older
    /// definition list).
    pub docker_repository: String,
}

/// A stored source or destination.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub definition_id: Uuid,
    pub name: String,
    /// The configuration as Airbyte stored it, secrets masked by Airbyte: its text, which an
    /// answer masks again as it writes it, and a change parses.
    pub config: Box<RawValue>,
    /// The connector's type as Airbyte names it (`mysql`), where it says (the public API).
    pub connector: Option<String>,
}

/// What a connection check found, once it ran: `succeeded` or `failed`, Airbyte's message, and
/// how Airbyte classifies the failure when it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub succeeded: bool,
    pub message: Option<String>,
    pub failure: Option<Failure>,
}

/// Why an attempt, a check or a discovery failed, as Airbyte classifies it; never Airbyte's
/// internal message or stack trace, which carry its internals and can quote configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failure {
    /// `source`, `destination`, `replication`, `airbyte_platform`, ...
    pub failure_origin: Option<String>,
    /// `config_error`, `system_error`, `manual_cancellation`, ...
    pub failure_type: Option<String>,
    pub external_message: Option<String>,
    pub retryable: Option<bool>,
}

impl Failure {
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

/// A stored connection, as far as the service reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub connection_id: Uuid,
    pub name: String,
    pub source_id: Uuid,
    pub destination_id: Uuid,
    /// `active`, `inactive`, `deprecated` (deleted), `locked`.
    pub status: String,
    /// `manual`, `cron` or `basic`.
    pub schedule_type: String,
    /// The Quartz cron expression of a `cron` schedule, without a time zone.
    pub cron: Option<String>,
    /// The connection's streams (see the module doc): the selected ones at least.
    pub streams: Vec<Value>,
}

/// What a discovery of a source's streams found.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovery {
    /// `AirbyteStreamAndConfiguration` items (see the module doc).
    pub streams: Vec<Value>,
    pub catalog_id: Option<Uuid>,
    /// Airbyte's verdict on the change from the connection's catalog, when a connection was named.
    pub breaking_change: Option<bool>,
}

/// A job of a connection: a sync, reset, refresh or clear. What an API does not give is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub connection_id: String,
    /// `sync`, `reset_connection`, `refresh`, `clear` (or, for other jobs, what they are).
    pub config_type: String,
    /// `pending`, `queued`, `running`, `incomplete`, `failed`, `succeeded`, `cancelled`.
    pub status: String,
    /// Epoch seconds.
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// How many attempts it has had.
    pub attempts: Option<usize>,
    pub stats: JobStats,
    /// What each stream moved, where the API says (`None` where it does not).
    pub streams: Option<Vec<StreamStats>>,
    /// Why its last attempt failed, for a failed or cancelled job, when Airbyte says.
    pub failure: Option<Failure>,
}

/// Statuses of a job that has ended.
pub const ENDED: [&str; 3] = ["failed", "succeeded", "cancelled"];

impl Job {
    pub fn has_ended(&self) -> bool {
        ENDED.contains(&self.status.as_str())
    }
}

/// What a job moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobStats {
    pub records_emitted: Option<i64>,
    pub bytes_emitted: Option<i64>,
    pub records_committed: Option<i64>,
    pub bytes_committed: Option<i64>,
}

/// What one stream moved in a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStats {
    pub stream: StreamName,
    pub stats: JobStats,
}

/// A stream of a connection, as Airbyte names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamName {
    pub name: String,
    pub namespace: Option<String>,
}

/// One try at running a job; Airbyte retries a failed sync in a new attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Airbyte's number for it: 0 for a job's first attempt.
    pub number: i64,
    /// `running`, `failed` or `succeeded`.
    pub status: String,
    /// Epoch seconds.
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub stats: JobStats,
    /// Why it failed, when it did and Airbyte says.
    pub failure: Option<Failure>,
}

/// Which of a connection's jobs to list: one page, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobQuery<'a> {
    pub connection_id: Uuid,
    pub limit: usize,
    pub offset: usize,
    /// One status to filter by; `None` for all.
    pub status: Option<&'a str>,
}

/// What a connection update changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectionUpdate {
    pub name: Option<String>,
    /// `active` or `inactive`.
    pub status: Option<String>,
    /// `Some(None)`: a manual schedule; `Some(Some(cron))`: a Quartz cron expression in UTC.
    pub schedule: Option<Option<String>>,
    /// The whole catalog, replacing the stored one (see the module doc for its items).
    pub streams: Option<Vec<Value>>,
    pub source_catalog_id: Option<Uuid>,
}

/// A connection to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConnection {
    pub source_id: Uuid,
    pub destination_id: Uuid,
    pub name: Option<String>,
    /// A Quartz cron expression, evaluated in UTC; `None` is a manual schedule.
    pub cron: Option<String>,
    /// The whole catalog, the chosen streams selected (see the module doc for its items).
    pub streams: Vec<Value>,
    pub source_catalog_id: Option<Uuid>,
}
