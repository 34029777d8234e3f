//! The router: the state every handler shares, and the one `match` from method and path to handler.

use std::sync::Arc;

use uuid::Uuid;

use crate::airbyte::{Client, Kind};
use crate::auth;
use crate::config::{Config, Secret};
use crate::definitions::Directory;
use crate::error::ApiError;
use crate::http::{Incoming, Reply};
use crate::metrics::Metrics;
use crate::{actors, health, ingestion};

/// What the handlers share: the Airbyte client, the definition cache, the metrics and the token
/// clients must present.
pub struct App {
    pub airbyte: Client,
    pub directory: Directory,
    pub metrics: Arc<Metrics>,
    pub api_token: Option<Secret>,
}

impl App {
    pub fn new(config: &Config) -> App {
        let metrics = Arc::new(Metrics::default());
        App {
            airbyte: Client::new(config, metrics.clone()),
            directory: Directory::new(config.workspace_id, config.definitions_ttl),
            metrics,
            api_token: config.api_token.clone(),
        }
    }
}

/// Every route, as `(path, methods)`: the source of `Allow` headers and of metrics labels.
pub const ROUTES: &[(&str, &str)] = &[
    ("/healthz", "GET, HEAD"),
    ("/readyz", "GET, HEAD"),
    ("/metrics", "GET, HEAD"),
    ("/datasource", "POST"),
    ("/sink", "POST"),
    ("/ingestion", "POST"),
];

/// Routes a load balancer or orchestrator probes; they need no token.
const OPEN: &[&str] = &["/healthz", "/readyz"];

pub fn route(app: &App, request: &mut Incoming) -> Result<Reply, ApiError> {
    if let Some(token) = &app.api_token {
        if !OPEN.contains(&request.path())
            && !auth::bearer_matches(request.header("Authorization"), token)
        {
            return Err(ApiError::unauthorized());
        }
    }
    match (request.method(), request.path()) {
        ("GET" | "HEAD", "/healthz") => Ok(health::live()),
        ("GET" | "HEAD", "/readyz") => health::ready(app),
        ("GET" | "HEAD", "/metrics") => Ok(Reply::text(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            app.metrics.render(),
        )),
        ("POST", "/datasource") => actors::create(app, request, Kind::Source),
        ("POST", "/sink") => actors::create(app, request, Kind::Destination),
        ("POST", "/ingestion") => ingestion::create(app, request),
        (method, path) => match ROUTES.iter().find(|(p, _)| *p == path) {
            Some((_, allow)) => Err(ApiError::method_not_allowed(method, path, allow)),
            None => Err(ApiError::no_route(path)),
        },
    }
}

/// The route a path belongs to, as a metrics label: one of [`ROUTES`], or `unmatched`.
pub fn label(path: &str) -> &'static str {
    ROUTES
        .iter()
        .find(|(p, _)| *p == path)
        .map_or("unmatched", |(p, _)| p)
}

/// A new request id, for requests that did not bring a usable `X-Request-Id`.
pub fn new_request_id() -> String {
    Uuid::new_v4().to_string()
}
