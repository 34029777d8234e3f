//! Connection checks, as Airbyte runs them: of a stored actor (`sources/check_connection`), of a
//! configuration no actor has (`scheduler/sources/check_connection`), and of a stored actor's
//! changed configuration (`sources/check_connection_for_update`); and the scheduler's discovery
//! of a configuration's streams. Each answers 200 with its outcome, as Airbyte does.

use serde_json::{json, Value};
use uuid::Uuid;

use super::actors::{self, Kind};
use super::replies::{answer, Reply};
use super::{Recorded, State};

/// How the fake's connection checks end ([`super::FakeAirbyte::fail_checks`] and its siblings).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum CheckEnd {
    #[default]
    Succeeded,
    /// The check ran and failed with this message.
    Failed(String),
    /// The check ran and failed with a message quoting the configuration's host (or bucket),
    /// user and password (or secret key), as real connectors' messages do.
    FailedQuotingConfig,
    /// Airbyte could not run the check: no `status`, and a failed job with this reason.
    NotRun(String),
}

fn job(kind: &str, succeeded: bool) -> Value {
    json!({ "id": Uuid::new_v4(), "configType": kind, "createdAt": 1, "endedAt": 2, "succeeded": succeeded })
}

/// The answer of a check of `config` as [`State::check_end`] says.
fn outcome(s: &State, kind: Kind, config: &Value) -> Reply {
    let job_type = format!("check_connection_{}", kind.name());
    let message = match &s.check_end {
        CheckEnd::Succeeded => {
            return answer(
                200,
                json!({ "status": "succeeded", "message": "", "jobInfo": job(&job_type, true) }),
            )
        }
        CheckEnd::NotRun(reason) => {
            let mut job = job(&job_type, false);
            job["failureReason"] = json!({ "failureOrigin": "airbyte_platform", "failureType": "system_error", "externalMessage": reason, "internalMessage": "io.temporal.failure.TimeoutFailure: workload timed out", "timestamp": 2 });
            return answer(200, json!({ "jobInfo": job }));
        }
        CheckEnd::Failed(message) => message.clone(),
        CheckEnd::FailedQuotingConfig => {
            let text = |keys: &[&str]| {
                keys.iter()
                    .find_map(|k| {
                        config
                            .get(*k)
                            .map(|v| v.as_str().map_or(v.to_string(), str::to_string))
                    })
                    .unwrap_or_default()
            };
            format!(
                "Could not connect to {}:{} with user '{}' and password '{}': access denied",
                text(&["host", "bucket_name"]),
                text(&["port", "bucket_region"]),
                text(&["username", "access_key_id"]),
                text(&["password", "secret_access_key"]),
            )
        }
    };
    let mut job = job(&job_type, true);
    job["failureReason"] = json!({ "failureOrigin": kind.name(), "failureType": "config_error", "externalMessage": message, "internalMessage": format!("java.sql.SQLException: {message}"), "retryable": false, "timestamp": 2 });
    answer(
        200,
        json!({ "status": "failed", "message": message, "jobInfo": job }),
    )
}

/// `sources/check_connection`, `destinations/check_connection`: of a stored actor.
pub(super) fn of_actor(s: &State, request: &Recorded, kind: Kind) -> Reply {
    let id = match actors::existing(s, request, kind) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let config = s.actors(kind)[id]["connectionConfiguration"].clone();
    outcome(s, kind, &config)
}

/// `scheduler/sources/check_connection`, `scheduler/destinations/check_connection`: of a
/// configuration, creating nothing.
pub(super) fn of_config(s: &mut State, request: &Recorded, kind: Kind) -> Reply {
    let config = match actors::core_config(s, request, kind) {
        Ok(config) => config,
        Err(refused) => return refused,
    };
    s.scheduler_checks += 1;
    outcome(s, kind, &config)
}

/// `sources/check_connection_for_update`, `destinations/check_connection_for_update`: of a
/// stored actor's changed configuration, masked values filled from the stored ones; saves
/// nothing.
pub(super) fn of_update(s: &State, request: &Recorded, kind: Kind) -> Reply {
    match actors::updated(s, request, kind) {
        Ok((_, read)) => outcome(s, kind, &read["connectionConfiguration"]),
        Err(refused) => refused,
    }
}

/// `scheduler/sources/discover_schema`: the streams a configuration offers, creating nothing.
pub(super) fn discover(s: &mut State, request: &Recorded) -> Reply {
    if let Err(refused) = actors::core_config(s, request, Kind::Source) {
        return refused;
    }
    answer(200, actors::discovery(s))
}
