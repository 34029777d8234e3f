//! The streams a source offers: `POST /datasource/streams` for a configuration before any source
//! exists, `GET /datasource/{id}/streams` for a stored
//! source. Both run a discovery under `AIRBYTE_DISCOVER_TIMEOUT_SECS`;
//! one that fails because of the configuration is a 422 with Airbyte's message, any other a 502.

use serde_json::{json, Value};

use crate::actors;
use crate::airbyte::{Discovery, Kind};
use crate::app::App;
use crate::catalog;
use crate::error::ApiError;
use crate::http::Reply;
use crate::input;

/// `POST /datasource/streams` with `{type, config}` (`name` taken and ignored).
pub fn preview(app: &App, body: &[u8]) -> Result<Reply, ApiError> {
    let new = actors::prepare(app, Kind::Source, body, false)?;
    let discovery = app
        .airbyte
        .discover_config(new.workspace, new.definition.id, new.config)
        .map_err(|e| new.problem(e))?;
    Ok(Reply::json(200, &answer(&discovery)))
}

/// `GET /datasource/{id}/streams`.
pub fn of_source(app: &App, id: &str) -> Result<Reply, ApiError> {
    let id = input::path_id(id)?;
    let discovery = app
        .airbyte
        .discover_source(id, None)
        .map_err(|e| ApiError::for_id(e, "source", &id))?;
    Ok(Reply::json(200, &answer(&discovery)))
}

fn answer(discovery: &Discovery) -> Value {
    let streams: Vec<Value> = discovery.streams.iter().map(catalog::summary).collect();
    json!({ "streams": streams })
}
