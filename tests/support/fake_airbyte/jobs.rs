//! Jobs: what Airbyte ran for a connection.

use serde_json::json;

use super::replies::{answer, Reply};
use super::{connections, Recorded, State};

/// `jobs/get_last_replication_job`: a sync job in the status a test set
/// ([`super::FakeAirbyte::set_last_job_status`]), or no job.
pub(super) fn get_last_replication_job(s: &State, request: &Recorded) -> Reply {
    let id = match connections::existing(s, request) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    match &s.last_job_status {
        Some(status) => answer(
            200,
            json!({ "job": { "id": 7, "configType": "sync", "configId": id, "createdAt": 1, "updatedAt": 2, "status": status } }),
        ),
        None => answer(200, json!({})),
    }
}
