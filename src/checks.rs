//! `POST /datasource/check` and `POST /sink/check`: has Airbyte check a configuration without
//! creating anything (`scheduler/{sources,destinations}/check_connection`, run by Airbyte's own
//! workers, so it tests what Airbyte can reach). A check that ran answers 200 whether it
//! succeeded or failed; one Airbyte could not run is a 502.

use serde_json::{json, Value};

use crate::actors;
use crate::airbyte::{Check, Kind};
use crate::app::App;
use crate::error::ApiError;
use crate::http::Reply;
use crate::secrets::Redactor;

/// `POST /datasource/check`, `POST /sink/check` with `{type, config}` (`name` taken and ignored).
pub fn check(app: &App, kind: Kind, body: &[u8]) -> Result<Reply, ApiError> {
    let new = actors::prepare(app, kind, body, false)?;
    let outcome = app
        .airbyte
        .check_config(kind, new.workspace, new.definition.id, new.config)
        .map_err(|e| new.problem(e))?;
    Ok(Reply::json(200, &answer(&outcome, &new.redactor())))
}

/// `{status, message, failure}`, Airbyte's messages with the client's secrets masked.
fn answer(check: &Check, redactor: &Redactor) -> Value {
    let failure = check.failure.as_ref().map(|f| {
        json!({
            "type": f.failure_type,
            "origin": f.failure_origin,
            "message": f.external_message.as_deref().map(|m| redactor.text(m)),
            "retryable": f.retryable,
        })
    });
    json!({
        "status": if check.succeeded { "succeeded" } else { "failed" },
        "message": check.message.as_deref().map(|m| redactor.text(m)),
        "failure": failure,
    })
}
