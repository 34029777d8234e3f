//! The replies the fake sends, and the error bodies Airbyte answers its callers' mistakes with.

use serde_json::{json, Value};

use super::Recorded;

/// What goes back on the wire: a status line, a `Content-Type` and a body.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) content_type: &'static str,
    pub(super) body: Vec<u8>,
}

/// This status with this JSON body.
pub(super) fn answer(status: u16, body: Value) -> Reply {
    Reply {
        status,
        content_type: "application/json",
        body: serde_json::to_vec(&body).unwrap(),
    }
}

/// 204 with no body, as Airbyte answers a delete.
pub(super) fn no_content() -> Reply {
    Reply {
        status: 204,
        content_type: "application/json",
        body: Vec::new(),
    }
}

/// 422, as Airbyte refuses a body that is missing a field or does not fit the schema.
pub(super) fn invalid(message: &str) -> Reply {
    answer(
        422,
        json!({ "message": message, "exceptionClassName": "io.airbyte.commons.server.errors.BadObjectSchemaKnownException", "validationErrors": [] }),
    )
}

/// 404 for an id Airbyte does not hold; `what` is its kind, such as `source`.
pub(super) fn not_found(what: &str, id: &Value) -> Reply {
    answer(
        404,
        json!({ "message": format!("Could not find configuration for {what}: {id}."), "id": id, "exceptionClassName": "io.airbyte.config.persistence.ConfigNotFoundException" }),
    )
}

/// 401, for missing or wrong credentials.
pub(super) fn unauthorized() -> Reply {
    answer(401, json!({ "message": "Unauthorized" }))
}

/// 404 for a method and path the fake does not serve.
pub(super) fn no_route(request: &Recorded) -> Reply {
    answer(
        404,
        json!({ "message": format!("no route {} /api/v1/{}", request.method, request.call) }),
    )
}
