//! `GET /healthz` (the process is serving) and `GET /readyz` (Airbyte is available too).

use serde_json::json;

use crate::airbyte;
use crate::app::App;
use crate::error::ApiError;
use crate::http::Reply;

/// Liveness: answers without touching Airbyte.
pub fn live() -> Reply {
    Reply::json(200, &json!({ "status": "ok" }))
}

/// Readiness: 200 when Airbyte's `GET /health` says it is available, with which of its APIs the
/// service speaks (`api`: `config` or `public`), else 503 with the reason and the API;
/// but a refused TLS certificate is the 502 every route answers, with the same detail: it is a
/// configuration fault to fix, not an outage to wait out.
pub fn ready(app: &App) -> Result<Reply, ApiError> {
    let api = app.airbyte.api().name();
    match app.airbyte.health() {
        Ok(true) => Ok(Reply::json(
            200,
            &json!({ "status": "ready", "airbyte": "available", "api": api }),
        )),
        Ok(false) => Err(ApiError::unavailable(format!(
            "Airbyte ({}) reports that it is not available (GET /health)",
            app.airbyte.describe()
        ))),
        Err(e @ airbyte::Error::CertificateRejected { .. }) => Err(e.into()),
        Err(e) => Err(ApiError::unavailable(format!(
            "Airbyte ({}) is not ready: {}",
            app.airbyte.describe(),
            ApiError::from(e).detail
        ))),
    }
}
