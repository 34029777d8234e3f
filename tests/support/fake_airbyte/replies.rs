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

// The public API's errors are problem objects (`api-problems.yaml`; contract_public.txt, section
// 6): each kind's `type`, `title` and `detail` are constants, and what explains this error is in
// `data`.

const ERRORS: &str = "https://reference.airbyte.com/reference/errors";

/// A problem object of kind `title` (`resource-not-found`, ...) with this `data`.
pub(super) fn problem_with(status: u16, title: &str, data: Value) -> Reply {
    answer(status, problem_body(status, title, data))
}

/// Airbyte's error answer to `call` (the fake's name for it) with `message`, for a test's
/// [`super::Fault::Status`], as the API of that call says it: the Config API's `{message}`, or the
/// public API's problem object of the kind its status has (409 `try-again-later`, 422
/// `unprocessable-entity`, else `unexpected-problem`), the explanation in `data.message`. A Config
/// API call the public dialect makes beside it answers as the Config API.
pub fn error_body(call: &str, status: u16, message: &str) -> Value {
    if !call.contains(' ') {
        return json!({ "message": message });
    }
    let title = match status {
        409 => "try-again-later",
        422 => "unprocessable-entity",
        _ => "unexpected-problem",
    };
    problem_body(status, title, json!({ "message": message }))
}

/// The body of a problem object of kind `title`: its type, title and detail are the kind's
/// constants.
fn problem_body(status: u16, title: &str, data: Value) -> Value {
    let (anchor, detail) = match title {
        "resource-not-found" => ("#resource-not-found", "The requested resource could not be found."),
        "try-again-later" => ("#try-again-later", "Please try again later."),
        "state-conflict" => ("#409-state-conflict", "State conflict"),
        "unprocessable-entity" => ("#unprocessable-entity", "The body of the request was not understood"),
        "value-not-found" => ("", "The submitted value could not be found."),
        "bad-request" => ("#bad-request", "The request could not be understood by the server due to malformed syntax."),
        "service-unavailable" => ("", "The server is currently unable to handle the request."),
        _ => ("", "An unexpected problem has occurred. If this is an error that needs to be addressed, please submit a pull request or github issue."),
    };
    json!({ "status": status, "type": format!("{ERRORS}{anchor}"), "title": title, "detail": detail, "data": data })
}

/// A problem object of kind `title` whose explanation is `message` (`data.message`).
pub(super) fn problem(status: u16, title: &str, message: &str) -> Reply {
    problem_with(status, title, json!({ "message": message }))
}

/// The public API's 404 for an id it does not hold; `what` is its kind, such as `source`.
pub(super) fn resource_not_found(what: &str, id: &str) -> Reply {
    problem_with(
        404,
        "resource-not-found",
        json!({ "resourceType": what, "resourceId": id }),
    )
}

/// The public API's 400 for a body that fails bean validation, or 422 for one it cannot read:
/// not a problem object, an error id.
pub(super) fn error_id(status: u16) -> Reply {
    answer(status, json!({ "errorId": uuid::Uuid::new_v4() }))
}
