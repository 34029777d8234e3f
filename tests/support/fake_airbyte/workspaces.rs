//! Workspaces: the two ways Airbyte lists them, before 1.7 and since.

use serde_json::{json, Value};
use uuid::Uuid;

use super::replies::{answer, invalid, Reply};
use super::{Recorded, State, DEFAULT_ORGANIZATION_ID};

/// `workspaces/list` (Airbyte 1.6 and older), which takes no body.
pub(super) fn list(s: &State, request: &Recorded) -> Reply {
    if !request.raw_body.is_empty() {
        return answer(415, json!({ "message": "this call takes no body" }));
    }
    all(s)
}

/// `workspaces/list_by_organization_id`: every workspace for the default organization, none for another.
pub(super) fn list_by_organization_id(s: &State, request: &Recorded) -> Reply {
    if !request.has_json_body() || request.uuid_field("organizationId").is_none() {
        return invalid("organizationId is required");
    }
    if request.body["organizationId"] != DEFAULT_ORGANIZATION_ID {
        return answer(200, json!({ "workspaces": [] }));
    }
    all(s)
}

fn all(s: &State) -> Reply {
    answer(
        200,
        json!({ "workspaces": s.workspaces.iter().map(|w| workspace(w)).collect::<Vec<_>>() }),
    )
}

fn workspace(id: &str) -> Value {
    json!({
        "workspaceId": id,
        "customerId": Uuid::new_v4(),
        "name": "Default Workspace",
        "slug": "default",
        "initialSetupComplete": true,
        "organizationId": DEFAULT_ORGANIZATION_ID,
    })
}
