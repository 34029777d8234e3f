//! An ingestion's jobs: `POST /ingestion/{id}/sync` starts a sync and `POST /ingestion/{id}/clear`
//! a clear, `GET /ingestion/{id}/jobs` and `/jobs/{jobId}` watch them (`?wait=` until one ends),
//! `DELETE /ingestion/{id}/jobs/{jobId}` cancels one.
//!
//! A job is shown in one shape wherever it appears ([`JobAnswer`]): times in RFC 3339, counts from
//! its aggregated stats and per stream, and why it failed from its last attempt's failure
//! summary, never Airbyte's internal message or stack trace (they carry internals and can carry
//! secrets; the Airbyte client never even reads them). An attempt's log is `attempts.rs`'s.
//!
//! A wait polls Airbyte, 1 s after the job was read and then twice as long each time up to 10 s,
//! and between two reads holds no `WORKERS` slot ([`Incoming::pause`]): waiting clients never
//! stand between a create and Airbyte. It ends early, with the job as last read, when the client
//! hangs up or the service begins to drain.

use std::time::{Duration, Instant};

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::airbyte::{Connection, Error, Job, JobQuery, StreamName, StreamStats};
use crate::app::App;
use crate::catalog;
use crate::error::ApiError;
use crate::http::{Incoming, Paused, Reply};
use crate::input;

/// What a client's ingestion is in Airbyte, for messages about an id.
pub const INGESTION: &str = "connection (ingestion)";

/// The ingestion `id` as Airbyte stores it; 404 when Airbyte has no such connection or has
/// deleted it: `connections/delete` only marks a connection `deprecated`, and `connections/get`
/// still answers it. (Here rather than in `ingestion.rs`, which shows its jobs through this
/// module and finds its connections with this too.)
pub fn stored_ingestion(app: &App, id: Uuid) -> Result<Connection, ApiError> {
    let connection = app
        .airbyte
        .get_connection(id)
        .map_err(|e| ApiError::for_id(e, INGESTION, &id))?;
    if connection.status == "deprecated" {
        return Err(ApiError::unknown_id(INGESTION, &id.to_string()));
    }
    Ok(connection)
}

/// Job statuses a client may filter by (Airbyte's; newer Airbyte also has `queued`, which older
/// ones refuse in a filter).
const STATUSES: [&str; 6] = [
    "pending",
    "running",
    "incomplete",
    "failed",
    "succeeded",
    "cancelled",
];

/// Jobs of a list page, by default and at most.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;
/// Largest offset into an ingestion's jobs.
const MAX_OFFSET: usize = 1_000_000;

/// How many recent jobs are looked through for the running one when Airbyte refuses a sync
/// because one is running.
const RUNNING_LOOKUP: usize = 20;

/// The first pause of a wait, and the longest: each pause is twice the one before.
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(10);

/// `Retry-After` on an answer whose job has not ended, in seconds.
const RETRY_AFTER_SECS: u64 = 5;

/// Most streams a clear may name.
const MAX_STREAMS: usize = 1000;

/// A job as clients see it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobAnswer {
    id: i64,
    ingestion_id: String,
    #[serde(rename = "type")]
    job_type: &'static str,
    status: String,
    created_at: Option<String>,
    updated_at: Option<String>,
    started_at: Option<String>,
    ended_at: Option<String>,
    /// `None` where Airbyte does not say (the public API).
    attempts: Option<usize>,
    records_emitted: Option<i64>,
    bytes_emitted: Option<i64>,
    records_committed: Option<i64>,
    bytes_committed: Option<i64>,
    failure: Option<FailureAnswer>,
    /// What each stream moved; `None` where Airbyte does not say (the public API).
    streams: Option<Vec<StreamAnswer>>,
}

/// What one stream moved in a job.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StreamAnswer {
    name: String,
    namespace: Option<String>,
    records_emitted: Option<i64>,
    bytes_emitted: Option<i64>,
    records_committed: Option<i64>,
    bytes_committed: Option<i64>,
}

impl From<StreamStats> for StreamAnswer {
    fn from(s: StreamStats) -> StreamAnswer {
        StreamAnswer {
            name: s.stream.name,
            namespace: s.stream.namespace,
            records_emitted: s.stats.records_emitted,
            bytes_emitted: s.stats.bytes_emitted,
            records_committed: s.stats.records_committed,
            bytes_committed: s.stats.bytes_committed,
        }
    }
}

/// Why a job or an attempt failed or was cancelled, as Airbyte classifies it.
#[derive(Debug, Serialize)]
pub struct FailureAnswer {
    #[serde(rename = "type")]
    failure_type: Option<String>,
    origin: Option<String>,
    message: Option<String>,
    retryable: Option<bool>,
}

impl From<crate::airbyte::Failure> for FailureAnswer {
    fn from(f: crate::airbyte::Failure) -> FailureAnswer {
        FailureAnswer {
            failure_type: f.failure_type,
            origin: f.failure_origin,
            message: f.external_message,
            retryable: f.retryable,
        }
    }
}

impl JobAnswer {
    /// The shape of `job`.
    pub fn of(job: Job) -> JobAnswer {
        JobAnswer {
            id: job.id,
            job_type: job_type(&job.config_type),
            created_at: rfc3339(job.created_at),
            updated_at: rfc3339(job.updated_at),
            started_at: rfc3339(job.started_at),
            ended_at: rfc3339(job.ended_at),
            attempts: job.attempts,
            records_emitted: job.stats.records_emitted,
            bytes_emitted: job.stats.bytes_emitted,
            records_committed: job.stats.records_committed,
            bytes_committed: job.stats.bytes_committed,
            failure: job.failure.map(FailureAnswer::from),
            streams: job
                .streams
                .map(|all| all.into_iter().map(StreamAnswer::from).collect()),
            status: job.status,
            ingestion_id: job.connection_id,
        }
    }
}

/// Where a job is watched: `/ingestion/{id}/jobs/{jobId}`.
fn location(ingestion: impl std::fmt::Display, job_id: i64) -> String {
    format!("/ingestion/{ingestion}/jobs/{job_id}")
}

/// Airbyte's job config type as clients name it.
fn job_type(config_type: &str) -> &'static str {
    match config_type {
        "sync" => "sync",
        "reset_connection" => "reset",
        "refresh" => "refresh",
        "clear" => "clear",
        _ => "other",
    }
}

/// Epoch seconds as RFC 3339 in UTC; `None` when unknown or out of range.
pub fn rfc3339(seconds: Option<i64>) -> Option<String> {
    let time = OffsetDateTime::from_unix_timestamp(seconds?).ok()?;
    time.format(&Rfc3339).ok()
}

/// `POST /ingestion/{id}/sync[?wait=]`: `202` with the new job; `200` with the running one when
/// Airbyte refuses because a sync is already running (the client asked for a sync, and one is
/// running); `200` with a job that ended while the client waited.
pub fn sync(app: &App, request: &Incoming<'_>, id: &str) -> Result<Reply, ApiError> {
    let id = input::path_id(id)?;
    let wait = wait(app, request)?;
    let connection = stored_ingestion(app, id)?;
    let (status, job) = match app.airbyte.sync_connection(id) {
        Ok(job) => (202, job),
        // A paused connection is refused with the same 409 (the public API's state-conflict):
        // no job is running then, and waiting will not help.
        Err(Error::Status { status: 409, .. }) if connection.status == "inactive" => {
            match running(app, id)? {
                Some(job) => (200, job),
                None => {
                    return Err(ApiError::conflict(
                        "the ingestion is paused (status inactive), and Airbyte syncs no paused connection; resume it with PATCH {\"status\": \"active\"} first",
                    ))
                }
            }
        }
        Err(Error::Status { status: 409, .. }) => (200, running_job(app, id)?),
        Err(e) => return Err(ApiError::for_id(e, INGESTION, &id)),
    };
    started(app, request, status, job, wait)
}

/// `POST /ingestion/{id}/clear[?wait=]` with an optional `{"streams": [...]}`: starts a job that
/// deletes what the ingestion has written (of the named streams, or all) and resets their state;
/// `202` with the job, as a sync. A job running on the ingestion is a 409 naming it: Airbyte
/// would cancel a running sync to clear.
pub fn clear(app: &App, request: &Incoming<'_>, id: &str) -> Result<Reply, ApiError> {
    let id = input::path_id(id)?;
    let wait = wait(app, request)?;
    let named = cleared_streams(request)?;
    let connection = stored_ingestion(app, id)?;
    let streams = match &named {
        Some(named) => streams_of(&connection, named)?,
        None => Vec::new(),
    };
    if let Some(job) = running(app, id)? {
        return Err(busy(id, &job));
    }
    let job = match app.airbyte.clear_connection(id, &streams) {
        Ok(job) => job,
        Err(Error::Status { status: 409, .. }) => {
            return Err(match running(app, id)? {
                Some(job) => busy(id, &job),
                None => ApiError::conflict(
                    "Airbyte refused to clear the ingestion because a job is running, but none of its recent jobs is running; try again in a moment",
                ),
            })
        }
        Err(e) => return Err(ApiError::for_id(e, INGESTION, &id)),
    };
    started(app, request, 202, job, wait)
}

/// The streams a clear names: `None` for all (no body, or no `streams`).
fn cleared_streams(request: &Incoming<'_>) -> Result<Option<Vec<String>>, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ClearBody<'a> {
        #[serde(borrow, default, deserialize_with = "input::present")]
        streams: Option<&'a serde_json::value::RawValue>,
    }
    if request.body().is_empty() {
        return Ok(None);
    }
    let body: ClearBody = input::parse_object(request.json_body()?)?;
    input::string_list("streams", body.streams, MAX_STREAMS)
}

/// The connection's streams that `named` names (`name` or `namespace.name`, as elsewhere); a
/// name it does not sync is a 422 listing those it does.
fn streams_of(connection: &Connection, named: &[String]) -> Result<Vec<StreamName>, ApiError> {
    let synced: Vec<&serde_json::Value> = connection
        .streams
        .iter()
        .filter(|s| catalog::is_selected(s))
        .collect();
    let missing: Vec<&str> = named
        .iter()
        .filter(|n| !synced.iter().any(|s| catalog::matches(s, n)))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        let available = synced
            .iter()
            .filter_map(|s| catalog::stream_name(s))
            .collect();
        return Err(catalog::unknown_streams(
            "the ingestion syncs no stream named",
            &missing,
            available,
        ));
    }
    Ok(synced
        .into_iter()
        .filter(|s| named.iter().any(|n| catalog::matches(s, n)))
        .filter_map(|s| {
            Some(StreamName {
                name: catalog::stream_name(s)?.to_string(),
                namespace: catalog::stream_namespace(s).map(str::to_string),
            })
        })
        .collect())
}

/// The 409 for a clear under job `job` of ingestion `id`, naming it and what the client can do.
fn busy(id: Uuid, job: &Job) -> ApiError {
    let location = location(id, job.id);
    ApiError::conflict(format!(
        "job {} ({}, {}) is running on this ingestion, and clearing under it would cancel it; wait for it to end (GET {location}?wait=300) or cancel it (DELETE {location}), then clear",
        job.id,
        job_type(&job.config_type),
        job.status
    ))
}

/// The answer to a request that started a job (or found one running): the job, after waiting
/// for it to end when the client asked; `200` once it has ended.
fn started(
    app: &App,
    request: &Incoming<'_>,
    status: u16,
    job: Job,
    wait: Option<Duration>,
) -> Result<Reply, ApiError> {
    let job = wait_for_end(app, request, job, wait)?;
    let status = if job.has_ended() { 200 } else { status };
    let location = location(&job.connection_id, job.id);
    let mut reply = job_reply(status, job);
    reply.headers.push(("Location", location));
    Ok(reply)
}

/// A job's answer; one that has not ended says when to ask again (`Retry-After`).
fn job_reply(status: u16, job: Job) -> Reply {
    let running = !job.has_ended();
    let mut reply = Reply::json(status, &JobAnswer::of(job));
    if running {
        reply
            .headers
            .push(("Retry-After", RETRY_AFTER_SECS.to_string()));
    }
    reply
}

/// `?wait=SECONDS`, from 1 to `MAX_WAIT_SECS`; `?wait` alone waits `MAX_WAIT_SECS`.
fn wait(app: &App, request: &Incoming<'_>) -> Result<Option<Duration>, ApiError> {
    let most = app.max_wait.as_secs();
    match request.query("wait") {
        None => Ok(None),
        Some("") => Ok(Some(app.max_wait)),
        Some(value) => value
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=most).contains(n))
            .map(|n| Some(Duration::from_secs(n)))
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "query parameter 'wait' must be a whole number of seconds from 1 to {most} (MAX_WAIT_SECS)"
                ))
            }),
    }
}

/// Reads `job` again until it has ended or `wait` is over (none: `job` as it is), pausing between
/// reads; stops at once when the client hangs up or the service begins to drain. The job as last
/// read.
fn wait_for_end(
    app: &App,
    request: &Incoming<'_>,
    mut job: Job,
    wait: Option<Duration>,
) -> Result<Job, ApiError> {
    let Some(wait) = wait else { return Ok(job) };
    let deadline = Instant::now() + wait;
    let mut pause = FIRST_PAUSE;
    while !job.has_ended() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match request.pause(pause.min(left)) {
            Paused::Elapsed => {}
            Paused::Gone => {
                log::debug!("job {}: the client stopped waiting", job.id);
                break;
            }
            Paused::Stopping => {
                log::debug!(
                    "job {}: answered as it stands, the service is stopping",
                    job.id
                );
                break;
            }
        }
        job = app
            .airbyte
            .get_job(job.id)
            .map_err(|e| for_job(e, job.id))?;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
    Ok(job)
}

/// The job Airbyte refused a second sync for: the newest of the ingestion's jobs that has not
/// ended. Only when there is none is the refusal the client's 409.
fn running_job(app: &App, id: Uuid) -> Result<Job, ApiError> {
    running(app, id)?.ok_or_else(|| {
        ApiError::conflict(
            "Airbyte refused to start a sync because one is running, but none of the ingestion's recent jobs is running; try again in a moment",
        )
    })
}

/// The newest of the ingestion's recent jobs that has not ended, if any.
fn running(app: &App, id: Uuid) -> Result<Option<Job>, ApiError> {
    let query = JobQuery {
        connection_id: id,
        limit: RUNNING_LOOKUP,
        offset: 0,
        status: None,
    };
    let jobs = app.airbyte.list_jobs(&query)?;
    Ok(jobs.into_iter().find(|job| !job.has_ended()))
}

/// `GET /ingestion/{id}/jobs?limit=&offset=&status=`: the ingestion's jobs, newest first.
pub fn list(app: &App, request: &Incoming<'_>, id: &str) -> Result<Reply, ApiError> {
    let id = input::path_id(id)?;
    let query = JobQuery {
        connection_id: id,
        limit: number(request, "limit", DEFAULT_LIMIT, 1..=MAX_LIMIT)?,
        offset: number(request, "offset", 0, 0..=MAX_OFFSET)?,
        status: status(request)?,
    };
    stored_ingestion(app, id)?;
    let jobs = app.airbyte.list_jobs(&query)?;
    let mut items: Vec<JobAnswer> = jobs.into_iter().map(JobAnswer::of).collect();
    items.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    Ok(Reply::json(200, &serde_json::json!({ "items": items })))
}

/// `GET /ingestion/{id}/jobs/{jobId}[?wait=]`: the job, once it has ended or the wait is over.
pub fn get(app: &App, request: &Incoming<'_>, id: &str, job_id: &str) -> Result<Reply, ApiError> {
    let wait = wait(app, request)?;
    let (_, job) = owned_job(app, id, job_id)?;
    Ok(job_reply(200, wait_for_end(app, request, job, wait)?))
}

/// `DELETE /ingestion/{id}/jobs/{jobId}`: cancels the job; one that has ended is a 409 and
/// Airbyte is not asked.
pub fn cancel(app: &App, id: &str, job_id: &str) -> Result<Reply, ApiError> {
    let (job_id, job) = owned_job(app, id, job_id)?;
    let status = job.status.as_str();
    if job.has_ended() {
        return Err(ApiError::conflict(format!(
            "job {job_id} has already ended ({status}); there is nothing to cancel"
        )));
    }
    let cancelled = app
        .airbyte
        .cancel_job(job_id)
        .map_err(|e| for_job(e, job_id))?;
    Ok(job_reply(200, cancelled))
}

/// The job `job_id` of ingestion `id`: a job of another connection is as unknown as one Airbyte
/// does not have, so that one ingestion's path never shows another's job.
fn owned_job(app: &App, id: &str, job_id: &str) -> Result<(i64, Job), ApiError> {
    let (id, job_id) = job_path(app, id, job_id)?;
    let job = app
        .airbyte
        .get_job(job_id)
        .map_err(|e| for_job(e, job_id))?;
    owned(id, job_id, job).map(|job| (job_id, job))
}

/// The ids of a job's path, once the ingestion is known to exist.
pub fn job_path(app: &App, id: &str, job_id: &str) -> Result<(Uuid, i64), ApiError> {
    let id = input::path_id(id)?;
    let job_id: i64 = job_id
        .parse()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| ApiError::invalid("the job id in the path must be a whole number"))?;
    stored_ingestion(app, id)?;
    Ok((id, job_id))
}

/// `job` if it is ingestion `id`'s; else as unknown as a job Airbyte does not have.
pub fn owned(id: Uuid, job_id: i64, job: Job) -> Result<Job, ApiError> {
    if job.connection_id != id.to_string() {
        return Err(unknown_job(job_id));
    }
    Ok(job)
}

pub fn for_job(err: Error, job_id: i64) -> ApiError {
    match err {
        Error::Status { status: 404, .. } => unknown_job(job_id),
        other => other.into(),
    }
}

fn unknown_job(job_id: i64) -> ApiError {
    ApiError::unknown_id("job of this ingestion", &job_id.to_string())
}

/// A whole-number query parameter within `range`, or its default.
fn number(
    request: &Incoming<'_>,
    name: &str,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, ApiError> {
    Ok(query_number(request, name, range)?.unwrap_or(default))
}

/// A whole-number query parameter within `range`, if given.
pub fn query_number(
    request: &Incoming<'_>,
    name: &str,
    range: std::ops::RangeInclusive<usize>,
) -> Result<Option<usize>, ApiError> {
    let Some(value) = request.query(name) else {
        return Ok(None);
    };
    value
        .parse()
        .ok()
        .filter(|n| range.contains(n))
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "query parameter '{name}' must be a whole number from {} to {}",
                range.start(),
                range.end()
            ))
        })
}

/// `?status=`, one of [`STATUSES`].
fn status<'a>(request: &Incoming<'a>) -> Result<Option<&'a str>, ApiError> {
    match request.query("status") {
        None => Ok(None),
        Some(s) if STATUSES.contains(&s) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(format!(
            "query parameter 'status' must be one of {}",
            STATUSES.join(", ")
        ))),
    }
}

/// The ingestion's newest job, for `GET /ingestion/{id}`; `None` when it has had none or the
/// list could not be read (the rest of the answer is still worth giving).
pub fn latest(app: &App, connection_id: Uuid) -> Option<JobAnswer> {
    let query = JobQuery {
        connection_id,
        limit: 1,
        offset: 0,
        status: None,
    };
    match app.airbyte.list_jobs(&query) {
        Ok(jobs) => jobs.into_iter().next().map(JobAnswer::of),
        Err(e) => {
            log::debug!("no latest job for connection {connection_id}: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::airbyte::{Failure, JobStats};

    fn job(status: &str, failure: Option<Failure>) -> Job {
        Job {
            id: 7,
            connection_id: "c".into(),
            config_type: "reset_connection".into(),
            status: status.into(),
            created_at: Some(1_700_000_000),
            updated_at: Some(1_700_000_060),
            started_at: None,
            ended_at: Some(1_700_000_050),
            attempts: None,
            stats: JobStats {
                records_committed: Some(3),
                ..JobStats::default()
            },
            streams: None,
            failure,
        }
    }

    #[test]
    fn a_job_answers_what_airbyte_said_and_null_for_the_rest() {
        let failure = Failure {
            failure_origin: Some("source".into()),
            failure_type: Some("config_error".into()),
            external_message: Some("Access denied".into()),
            retryable: Some(false),
        };
        let answer = serde_json::to_value(JobAnswer::of(job("failed", Some(failure)))).unwrap();
        assert_eq!(
            answer,
            serde_json::json!({
                "id": 7, "ingestionId": "c", "type": "reset", "status": "failed",
                "createdAt": "2023-11-14T22:13:20Z", "updatedAt": "2023-11-14T22:14:20Z",
                "startedAt": null, "endedAt": "2023-11-14T22:14:10Z",
                "attempts": null, "recordsEmitted": null, "bytesEmitted": null,
                "recordsCommitted": 3, "bytesCommitted": null,
                "failure": {"type": "config_error", "origin": "source", "message": "Access denied", "retryable": false},
                "streams": null
            })
        );
        let running = serde_json::to_value(JobAnswer::of(job("running", None))).unwrap();
        assert_eq!(running["failure"], serde_json::Value::Null);
    }

    #[test]
    fn times_out_of_range_are_null() {
        assert_eq!(rfc3339(Some(i64::MAX)), None);
        assert_eq!(rfc3339(None), None);
        assert_eq!(rfc3339(Some(0)).as_deref(), Some("1970-01-01T00:00:00Z"));
    }
}
