//! Why a job failed, in Airbyte's words: `GET /ingestion/{id}/jobs/{jobId}/attempts` lists its
//! attempts (each with its figures and classified failure), and `.../logs?attempt=&tail=` answers
//! one attempt's log as text.
//!
//! The log is Airbyte's own, as Airbyte keeps it: Airbyte masks the secrets of the connector's
//! configuration in it, and the service adds nothing, removes nothing but the lines before the
//! tail, and could not mask more (it keeps no configurations). A structured log (Airbyte 1.2 and
//! later) is written one event a line, without the events' stack traces.

use serde::Serialize;

use crate::airbyte::{Attempt, Error};
use crate::app::App;
use crate::error::ApiError;
use crate::http::{Incoming, Reply};
use crate::jobs::{for_job, job_path, owned, query_number, rfc3339, FailureAnswer};

/// Lines of a log answered by default, and at most.
const DEFAULT_TAIL: usize = 1000;
const MAX_TAIL: usize = 1_000_000;

/// An attempt as clients see it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AttemptAnswer {
    /// Airbyte's number for it: 0 for the job's first attempt.
    number: i64,
    /// `running`, `failed` or `succeeded`.
    status: String,
    created_at: Option<String>,
    updated_at: Option<String>,
    ended_at: Option<String>,
    records_emitted: Option<i64>,
    bytes_emitted: Option<i64>,
    records_committed: Option<i64>,
    bytes_committed: Option<i64>,
    failure: Option<FailureAnswer>,
}

impl From<Attempt> for AttemptAnswer {
    fn from(a: Attempt) -> AttemptAnswer {
        AttemptAnswer {
            number: a.number,
            status: a.status,
            created_at: rfc3339(a.created_at),
            updated_at: rfc3339(a.updated_at),
            ended_at: rfc3339(a.ended_at),
            records_emitted: a.stats.records_emitted,
            bytes_emitted: a.stats.bytes_emitted,
            records_committed: a.stats.records_committed,
            bytes_committed: a.stats.bytes_committed,
            failure: a.failure.map(FailureAnswer::from),
        }
    }
}

/// The attempts of the job of a path, first to last; 404 for a job not the ingestion's.
fn attempts_of(app: &App, id: &str, job_id: &str) -> Result<(i64, Vec<Attempt>), ApiError> {
    let (id, job_id) = job_path(app, id, job_id)?;
    let (job, attempts) = app
        .airbyte
        .job_attempts(job_id)
        .map_err(|e| for_job(e, job_id))?;
    owned(id, job_id, job)?;
    Ok((job_id, attempts))
}

/// `GET /ingestion/{id}/jobs/{jobId}/attempts`.
pub fn list(app: &App, id: &str, job_id: &str) -> Result<Reply, ApiError> {
    let (_, attempts) = attempts_of(app, id, job_id)?;
    let items: Vec<AttemptAnswer> = attempts.into_iter().map(AttemptAnswer::from).collect();
    Ok(Reply::json(200, &serde_json::json!({ "items": items })))
}

/// `GET /ingestion/{id}/jobs/{jobId}/logs?attempt=&tail=`: the attempt's (by default the last
/// one's) last `tail` lines, at most `MAX_LOG_BYTES` of them, as `text/plain`.
pub fn log(app: &App, request: &Incoming<'_>, id: &str, job_id: &str) -> Result<Reply, ApiError> {
    let tail = query_number(request, "tail", 1..=MAX_TAIL)?.unwrap_or(DEFAULT_TAIL);
    // Airbyte's attempt numbers are 64-bit.
    let asked = query_number(request, "attempt", 0..=i64::MAX as usize)?.map(|n| n as i64);
    let (job_id, attempts) = attempts_of(app, id, job_id)?;
    let numbers: Vec<i64> = attempts.iter().map(|a| a.number).collect();
    let number = match asked {
        Some(n) if numbers.contains(&n) => n,
        Some(n) => return Err(no_attempt(job_id, n, &numbers)),
        None => match numbers.last() {
            Some(last) => *last,
            None => {
                return Err(ApiError::unknown_id(
                    "attempt of this job (it has not started one yet)",
                    "last",
                ))
            }
        },
    };
    let lines = match app.airbyte.attempt_log(job_id, number) {
        Ok(lines) => lines,
        Err(Error::Status { status: 404, .. }) => return Err(no_attempt(job_id, number, &numbers)),
        Err(e) => return Err(e.into()),
    };
    let text = last_lines(&lines, tail, app.max_log_bytes);
    let mut reply = Reply::text(200, "text/plain; charset=utf-8", text);
    reply.headers.push(("X-Attempt", number.to_string()));
    Ok(reply)
}

fn no_attempt(job_id: i64, asked: i64, numbers: &[i64]) -> ApiError {
    let numbers: Vec<String> = numbers.iter().map(i64::to_string).collect();
    ApiError::unknown_id(
        &format!(
            "attempt of job {job_id} (its attempts: {})",
            if numbers.is_empty() {
                "none yet".to_string()
            } else {
                numbers.join(", ")
            }
        ),
        &asked.to_string(),
    )
}

/// The last `tail` of `lines`, each ending in a newline, as many of them as fit in `max_bytes`
/// (whole lines: a line longer than that alone is cut to its last bytes, on a character boundary).
fn last_lines(lines: &[String], tail: usize, max_bytes: usize) -> String {
    let mut taken = Vec::new();
    let mut size = 0;
    for line in lines.iter().rev().take(tail) {
        let line = line.trim_end_matches(['\r', '\n']);
        if size + line.len() + 1 > max_bytes {
            if taken.is_empty() {
                let mut start = line.len().saturating_sub(max_bytes.saturating_sub(1));
                while !line.is_char_boundary(start) {
                    start += 1;
                }
                taken.push(&line[start..]);
            }
            break;
        }
        size += line.len() + 1;
        taken.push(line);
    }
    let mut text = String::with_capacity(size);
    for line in taken.into_iter().rev() {
        text.push_str(line);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::last_lines;

    fn lines(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("line {i}")).collect()
    }

    #[test]
    fn the_tail_is_the_last_lines_in_order() {
        assert_eq!(last_lines(&lines(5), 2, 1000), "line 4\nline 5\n");
        assert_eq!(last_lines(&lines(2), 10, 1000), "line 1\nline 2\n");
        assert_eq!(last_lines(&[], 10, 1000), "");
    }

    #[test]
    fn the_byte_limit_keeps_whole_lines_from_the_end() {
        // "line 5\n" and "line 4\n" are 7 bytes each.
        assert_eq!(last_lines(&lines(5), 10, 14), "line 4\nline 5\n");
        assert_eq!(last_lines(&lines(5), 10, 13), "line 5\n");
    }

    #[test]
    fn a_line_longer_than_the_limit_keeps_its_end_on_a_character_boundary() {
        let long = vec![format!("{}end", "é".repeat(10))];
        let cut = last_lines(&long, 1, 6);
        assert!(cut.ends_with("end\n"), "{cut}");
        assert!(cut.len() <= 6, "{cut}");
    }
}
