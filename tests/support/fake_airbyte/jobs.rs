//! Jobs: what Airbyte runs for a connection (`connections/sync`, `connections/clear` and
//! `clear/stream`, `connections/reset` and `reset/stream`, `jobs/get`, `jobs/get_without_logs`,
//! `jobs/list`, `jobs/cancel`, `jobs/get_last_replication_job`, `attempt/get_for_job`; the public
//! API's resets and clears start the same way as syncs). A job starts `running`; a test fails an
//! attempt and starts the next with [`super::FakeAirbyte::retry_job`] and ends the job with
//! [`super::FakeAirbyte::finish_job`]. Failed and cancelled attempts carry a failure summary with
//! an internal message and a stack trace, which may never reach the service's clients.
//!
//! As on Airbyte 1.6 and later, `jobs/get` carries every attempt's log and no figures, and
//! `jobs/get_without_logs` the figures (per stream too) and no log; with
//! [`super::FakeAirbyte::set_legacy_job_calls`] the fake is an Airbyte before 0.57 (no
//! `get_without_logs`, `attempt/get_for_job` or clears: `jobs/get` has the figures). A log is
//! what Airbyte writes: the connector's secrets masked.

use serde_json::{json, Value};

use super::replies::{answer, invalid, not_found, Reply};
use super::{connections, Recorded, State};

/// A job the fake holds.
#[derive(Debug, Clone)]
pub(super) struct FakeJob {
    pub id: i64,
    pub connection_id: String,
    pub config_type: &'static str,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// `AttemptRead`s.
    pub attempts: Vec<Value>,
}

/// Statuses of a job that has not ended.
const ACTIVE: [&str; 4] = ["pending", "queued", "running", "incomplete"];

/// What a test makes a job end as.
#[derive(Debug, Clone)]
pub enum JobEnd {
    Succeeded,
    /// Failed, with this external message (and an internal one and a stack trace quoting
    /// `SECRET_IN_INTERNALS`).
    Failed(String),
}

/// Quoted by every internal message and stack trace the fake puts in a job: a test asserts it
/// never reaches an answer or a log line.
pub const SECRET_IN_INTERNALS: &str = "internal-secret-hunter2";

/// The lines of every attempt's log: the fake's attempt `n` logs `LOG_LINES` lines,
/// `attempt <n> line <i>`, the last one the reason it failed when it did.
pub const LOG_LINES: usize = 3;

/// What each stream of a succeeded job moved: `users` 120 records, `orders` nothing.
fn stream_stats() -> Value {
    json!([
        { "streamName": "users", "streamNamespace": "shop", "recordsEmitted": 120, "bytesEmitted": 4096,
          "recordsCommitted": 120, "bytesCommitted": 4096, "recordsRejected": 0 },
        { "streamName": "orders", "streamNamespace": "shop", "recordsEmitted": 0, "bytesEmitted": 0,
          "recordsCommitted": 0, "bytesCommitted": 0, "recordsRejected": 0 },
    ])
}

/// How a job is read: which call, and so what it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Read {
    /// `jobs/get` on Airbyte 1.6 and later: logs, no figures.
    WithLogs,
    /// `jobs/get_without_logs`, `jobs/list`: figures, no logs.
    WithFigures,
    /// `jobs/get` before Airbyte 0.57: both.
    Legacy,
}

impl FakeJob {
    pub(super) fn read(&self) -> Value {
        self.read_as(Read::WithFigures)
    }

    fn read_as(&self, how: Read) -> Value {
        let mut read = json!({
            "id": self.id,
            "configType": self.config_type,
            "configId": self.connection_id,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "startedAt": self.created_at,
            "status": self.status,
            "enabledStreams": [{ "name": "users", "namespace": "shop" }],
        });
        if self.status == "succeeded" && how != Read::WithLogs {
            read["aggregatedStats"] = json!({
                "recordsEmitted": 120, "bytesEmitted": 4096, "recordsCommitted": 120,
                "bytesCommitted": 4096, "recordsRejected": 0
            });
            if how == Read::WithFigures {
                read["streamAggregatedStats"] = stream_stats();
            }
        }
        read
    }

    /// `JobInfoRead`: attempts nested in `attempt`, with their logs unless read `WithFigures`.
    pub(super) fn info_as(&self, how: Read, structured: bool) -> Value {
        let attempts: Vec<Value> = self
            .attempts
            .iter()
            .map(|attempt| match how {
                Read::WithFigures => json!({ "attempt": attempt }),
                _ => attempt_info(attempt, structured),
            })
            .collect();
        json!({ "job": self.read_as(how), "attempts": attempts })
    }

    fn info(&self) -> Value {
        self.info_as(Read::WithLogs, false)
    }

    fn is_active(&self) -> bool {
        ACTIVE.contains(&self.status.as_str())
    }

    /// Ends the job as `end`, its last attempt with it.
    pub fn end(&mut self, end: &JobEnd, now: i64) {
        let (status, failure) = match end {
            JobEnd::Succeeded => ("succeeded", None),
            JobEnd::Failed(message) => (
                "failed",
                Some(failure("config_error", "source", message, false)),
            ),
        };
        self.finish(status, failure, now);
    }

    /// Fails the running attempt with `message` and starts the next, as Airbyte retries a sync.
    pub fn retry(&mut self, message: &str, now: i64) {
        if let Some(attempt) = self.attempts.last_mut() {
            attempt["status"] = json!("failed");
            attempt["endedAt"] = json!(now);
            attempt["updatedAt"] = json!(now);
            attempt["failureSummary"] = json!({
                "failures": [failure("system_error", "source", message, true)],
                "partialSuccess": false
            });
        }
        let n = self.attempts.len();
        self.attempts
            .push(json!({ "id": n, "status": "running", "createdAt": now, "updatedAt": now }));
        self.updated_at = now;
    }

    fn finish(&mut self, status: &str, failure: Option<Value>, now: i64) {
        self.status = status.to_string();
        self.updated_at = now;
        if let Some(attempt) = self.attempts.last_mut() {
            attempt["status"] = json!(if status == "succeeded" {
                "succeeded"
            } else {
                "failed"
            });
            attempt["endedAt"] = json!(now);
            attempt["updatedAt"] = json!(now);
            if let Some(failure) = failure {
                attempt["failureSummary"] =
                    json!({ "failures": [failure], "partialSuccess": false });
            }
        }
    }
}

/// An `AttemptInfoRead`: the attempt and its log, as lines or as structured events.
fn attempt_info(attempt: &Value, structured: bool) -> Value {
    let n = attempt["id"].as_i64().unwrap_or(0);
    let reason = attempt
        .pointer("/failureSummary/failures/0/externalMessage")
        .and_then(Value::as_str);
    let mut lines: Vec<String> = (1..LOG_LINES)
        .map(|i| format!("attempt {n} line {i}: connecting with password **********"))
        .collect();
    lines.push(match reason {
        Some(reason) => format!("attempt {n} line {LOG_LINES}: {reason}"),
        None => format!("attempt {n} line {LOG_LINES}: still going"),
    });
    if structured {
        let events: Vec<Value> = lines
            .iter()
            .map(|line| json!({ "timestamp": 1_700_000_000_000i64, "message": line, "level": "info",
                                "logSource": "source", "stackTrace": format!("at {SECRET_IN_INTERNALS}") }))
            .collect();
        json!({ "attempt": attempt, "logType": "structured", "logs": { "events": events, "version": "1" } })
    } else {
        json!({ "attempt": attempt, "logType": "formatted", "logs": { "logLines": lines } })
    }
}

/// A `FailureReason` as Airbyte writes it, internals included.
fn failure(kind: &str, origin: &str, message: &str, retryable: bool) -> Value {
    json!({
        "failureOrigin": origin,
        "failureType": kind,
        "externalMessage": message,
        "internalMessage": format!("java.sql.SQLException: login failed with {SECRET_IN_INTERNALS}"),
        "stacktrace": format!("at io.airbyte.Source.check({SECRET_IN_INTERNALS})\n\tat ..."),
        "retryable": retryable,
        "timestamp": 1_700_000_050_000i64,
    })
}

/// `connections/sync`: a new running sync job, or 409 while one is running.
pub(super) fn sync(s: &mut State, request: &Recorded) -> Reply {
    start(s, request, "sync")
}

/// A new running job of `config_type` (`sync`, `reset_connection`, `clear`) for the request's
/// connection, or 409 while one of any type is running: Airbyte runs one job at a time per
/// connection. `connections/clear` and `connections/reset` are this, of all its streams.
pub(super) fn start(s: &mut State, request: &Recorded, config_type: &'static str) -> Reply {
    let id = match connections::existing(s, request) {
        Ok(id) => id.to_string(),
        Err(refused) => return refused,
    };
    if s.jobs
        .iter()
        .any(|j| j.connection_id == id && j.is_active())
    {
        return answer(
            409,
            json!({ "message": format!("A sync is already running for: {id}"), "exceptionClassName": "io.airbyte.commons.server.errors.ValueConflictKnownException" }),
        );
    }
    s.next_job_id += 1;
    let now = s.now();
    let job = FakeJob {
        id: s.next_job_id,
        connection_id: id,
        config_type,
        status: "running".into(),
        created_at: now,
        updated_at: now,
        attempts: vec![json!({ "id": 0, "status": "running", "createdAt": now, "updatedAt": now })],
    };
    let info = job.info();
    s.jobs.push(job);
    answer(200, info)
}

/// `connections/clear/stream` (or `reset/stream`): the streams named, each one the connection
/// has; 422 without any, 404 for one it does not have.
pub(super) fn clear_streams(s: &mut State, request: &Recorded, config_type: &'static str) -> Reply {
    let Some(streams) = request.body.get("streams").and_then(Value::as_array) else {
        return invalid("streams is required");
    };
    if let Ok(id) = connections::existing(s, request) {
        let catalog = &s.connections[id]["syncCatalog"]["streams"];
        for wanted in streams {
            let Some(name) = wanted.get("streamName").and_then(Value::as_str) else {
                return invalid("streamName is required");
            };
            let known = catalog.as_array().into_iter().flatten().any(|item| {
                item["stream"]["name"] == name
                    && item["stream"].get("namespace").and_then(Value::as_str)
                        == wanted.get("streamNamespace").and_then(Value::as_str)
            });
            if !known {
                return not_found("stream", &json!(name));
            }
        }
    }
    start(s, request, config_type)
}

/// The job the request's `id` names; else Airbyte's refusal.
fn existing<'s>(s: &'s mut State, request: &Recorded) -> Result<&'s mut FakeJob, Reply> {
    let Some(id) = request.body.get("id").and_then(Value::as_i64) else {
        return Err(invalid("id is required"));
    };
    s.jobs
        .iter_mut()
        .find(|j| j.id == id)
        .ok_or_else(|| not_found("job", &request.body["id"]))
}

/// `jobs/get` (`Read::WithLogs`, or `Read::Legacy`) and `jobs/get_without_logs`
/// (`Read::WithFigures`).
pub(super) fn get(s: &mut State, request: &Recorded, how: Read) -> Reply {
    let structured = s.structured_logs;
    match existing(s, request) {
        Ok(job) => answer(200, job.info_as(how, structured)),
        Err(refused) => refused,
    }
}

/// `attempt/get_for_job {jobId, attemptNumber}`: the attempt and its log.
pub(super) fn attempt_for_job(s: &State, request: &Recorded) -> Reply {
    let (Some(job_id), Some(number)) = (
        request.body.get("jobId").and_then(Value::as_i64),
        request.body.get("attemptNumber").and_then(Value::as_i64),
    ) else {
        return invalid("jobId and attemptNumber are required");
    };
    let Some(job) = s.jobs.iter().find(|j| j.id == job_id) else {
        return not_found("job", &json!(job_id));
    };
    match job.attempts.iter().find(|a| a["id"] == number) {
        Some(attempt) => answer(200, attempt_info(attempt, s.structured_logs)),
        None => not_found("attempt", &json!(number)),
    }
}

/// `jobs/cancel`: a job that has not ended is cancelled (its attempt fails as a manual
/// cancellation); one that has is answered as it is.
pub(super) fn cancel(s: &mut State, request: &Recorded) -> Reply {
    let now = s.now();
    match existing(s, request) {
        Ok(job) => {
            if job.is_active() {
                let cancelled = failure(
                    "manual_cancellation",
                    "airbyte_platform",
                    "The job was cancelled.",
                    false,
                );
                job.finish("cancelled", Some(cancelled), now);
            }
            answer(200, job.info())
        }
        Err(refused) => refused,
    }
}

/// `jobs/list`: the jobs of `configId` of the `configTypes`, in the `statuses` (all when absent),
/// ordered by `createdAt` (newest first unless `orderByMethod` is `ASC`), one page.
pub(super) fn list(s: &State, request: &Recorded) -> Reply {
    let body = &request.body;
    let Some(types) = body.get("configTypes").and_then(Value::as_array) else {
        return invalid("configTypes is required");
    };
    let types: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
    let statuses: Option<Vec<&str>> = body
        .get("statuses")
        .and_then(Value::as_array)
        .map(|s| s.iter().filter_map(Value::as_str).collect());
    let config_id = body.get("configId").and_then(Value::as_str);
    let mut jobs: Vec<&FakeJob> = s
        .jobs
        .iter()
        .filter(|j| types.contains(&j.config_type))
        .filter(|j| config_id.is_none_or(|c| c == j.connection_id))
        .filter(|j| {
            statuses
                .as_ref()
                .is_none_or(|s| s.contains(&j.status.as_str()))
        })
        .collect();
    jobs.sort_by_key(|j| std::cmp::Reverse((j.created_at, j.id)));
    if body["orderByMethod"] == "ASC" {
        jobs.reverse();
    }
    let total = jobs.len();
    let page = &body["pagination"];
    let offset = page["rowOffset"].as_u64().unwrap_or(0) as usize;
    let size = page["pageSize"].as_u64().map_or(usize::MAX, |n| n as usize);
    let items: Vec<Value> = jobs
        .into_iter()
        .skip(offset)
        .take(size)
        .map(|j| json!({ "job": j.read(), "attempts": j.attempts }))
        .collect();
    answer(200, json!({ "jobs": items, "totalJobCount": total }))
}

/// `jobs/get_last_replication_job`: the connection's newest sync job, or the status a test set
/// ([`super::FakeAirbyte::set_last_job_status`]), or no job.
pub(super) fn get_last_replication_job(s: &State, request: &Recorded) -> Reply {
    let id = match connections::existing(s, request) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    if let Some(job) = s.jobs.iter().rev().find(|j| j.connection_id == id) {
        return answer(200, json!({ "job": job.read() }));
    }
    match &s.last_job_status {
        Some(status) => answer(
            200,
            json!({ "job": { "id": 7, "configType": "sync", "configId": id, "createdAt": 1, "updatedAt": 2, "status": status } }),
        ),
        None => answer(200, json!({})),
    }
}
