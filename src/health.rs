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

/// Readiness: 200 when Airbyte's `GET /health` says `available: true`, else 503 with the reason;
/// but a refused TLS certificate is the 502 every route answers, with the same detail: it is a
/// configuration fault to fix, not an outage to wait out.
pub fn ready(app: &App) -> Result<Reply, ApiError> {
    match app.airbyte.health() {
        Ok(true) => Ok(Reply::json(
            200,
            &json!({ "status": "ready", "airbyte": "available" }),
        )),
        Ok(false) => Err(ApiError::unavailable(
            "Airbyte reports that it is not available (GET /health)",
        )),
        Err(e @ airbyte::Error::CertificateRejected { .. }) => Err(e.into()),
        Err(e) => Err(ApiError::unavailable(format!(
            "Airbyte is not ready: {}",
            ApiError::from(e).detail
        ))),
    }
}
