//! An ingestion's jobs: `POST /ingestion/{id}/sync` starts one, `GET /ingestion/{id}/jobs` and
//! `/jobs/{jobId}` watch them, `DELETE /ingestion/{id}/jobs/{jobId}` cancels one.
//!
//! A job is shown in one shape wherever it appears ([`JobAnswer`]): times in RFC 3339, counts from
//! its aggregated stats, and why it failed from its last attempt's failure summary, never
//! Airbyte's internal message, stack trace or logs (they carry internals and can carry secrets;
//! the Airbyte client never even reads them).

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::airbyte::{Connection, Error, Job, JobQuery};
use crate::app::App;
use crate::error::ApiError;
use crate::http::{Incoming, Reply};
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
}

/// Why a job failed or was cancelled, as Airbyte classifies it.
#[derive(Debug, Serialize)]
struct FailureAnswer {
    #[serde(rename = "type")]
    failure_type: Option<String>,
    origin: Option<String>,
    message: Option<String>,
    retryable: Option<bool>,
}

impl JobAnswer {
    /// The shape of `job`.
    pub fn of(job: Job) -> JobAnswer {
        let failure = job.failure.map(|f| FailureAnswer {
            failure_type: f.failure_type,
            origin: f.failure_origin,
            message: f.external_message,
            retryable: f.retryable,
        });
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
            failure,
            status: job.status,
            ingestion_id: job.connection_id,
        }
    }

    fn location(&self) -> String {
        format!("/ingestion/{}/jobs/{}", self.ingestion_id, self.id)
    }
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
fn rfc3339(seconds: Option<i64>) -> Option<String> {
    let time = OffsetDateTime::from_unix_timestamp(seconds?).ok()?;
    time.format(&Rfc3339).ok()
}

/// `POST /ingestion/{id}/sync`: `202` with the new job; `200` with the running one when Airbyte
/// refuses because a sync is already running (the client asked for a sync, and one is running).
pub fn sync(app: &App, id: &str) -> Result<Reply, ApiError> {
    let id = input::path_id(id)?;
    let connection = stored_ingestion(app, id)?;
    let (status, job) = match app.airbyte.sync_connection(id) {
        Ok(job) => (202, JobAnswer::of(job)),
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
    let mut reply = Reply::json(status, &job);
    reply.headers.push(("Location", job.location()));
    Ok(reply)
}

/// The job Airbyte refused a second sync for: the newest of the ingestion's jobs that has not
/// ended. Only when there is none is the refusal the client's 409.
fn running_job(app: &App, id: Uuid) -> Result<JobAnswer, ApiError> {
    running(app, id)?.ok_or_else(|| {
        ApiError::conflict(
            "Airbyte refused to start a sync because one is running, but none of the ingestion's recent jobs is running; try again in a moment",
        )
    })
}

/// The newest of the ingestion's recent jobs that has not ended, if any.
fn running(app: &App, id: Uuid) -> Result<Option<JobAnswer>, ApiError> {
    let query = JobQuery {
        connection_id: id,
        limit: RUNNING_LOOKUP,
        offset: 0,
        status: None,
    };
    let jobs = app.airbyte.list_jobs(&query)?;
    Ok(jobs
        .into_iter()
        .find(|job| !job.has_ended())
        .map(JobAnswer::of))
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

/// `GET /ingestion/{id}/jobs/{jobId}`.
pub fn get(app: &App, id: &str, job_id: &str) -> Result<Reply, ApiError> {
    let (_, job) = owned_job(app, id, job_id)?;
    Ok(Reply::json(200, &JobAnswer::of(job)))
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
    Ok(Reply::json(200, &JobAnswer::of(cancelled)))
}

/// The job `job_id` of ingestion `id`: a job of another connection is as unknown as one Airbyte
/// does not have, so that one ingestion's path never shows another's job.
fn owned_job(app: &App, id: &str, job_id: &str) -> Result<(i64, Job), ApiError> {
    let id = input::path_id(id)?;
    let job_id: i64 = job_id
        .parse()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| ApiError::invalid("the job id in the path must be a whole number"))?;
    stored_ingestion(app, id)?;
    let job = app
        .airbyte
        .get_job(job_id)
        .map_err(|e| for_job(e, job_id))?;
    if job.connection_id != id.to_string() {
        return Err(unknown_job(job_id));
    }
    Ok((job_id, job))
}

fn for_job(err: Error, job_id: i64) -> ApiError {
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
    let Some(value) = request.query(name) else {
        return Ok(default);
    };
    value
        .parse()
        .ok()
        .filter(|n| range.contains(n))
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
                "failure": {"type": "config_error", "origin": "source", "message": "Access denied", "retryable": false}
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
