//! The router: the state every handler shares, and the one `match` from method and path to handler.

use uuid::Uuid;

use crate::airbyte::{Client, Kind};
use crate::config::Config;
use crate::definitions::Directory;
use crate::error::ApiError;
use crate::http::{Incoming, Reply};
use crate::{actors, health, ingestion, openapi};

/// What the handlers share: the Airbyte client and the definition cache.
pub struct App {
    pub airbyte: Client,
    pub directory: Directory,
}

impl App {
    pub fn new(config: &Config) -> App {
        let airbyte = Client::new(
            &config.airbyte_base_url,
            config.airbyte_timeout,
            config.discover_timeout,
            config.workers,
        );
        let directory = Directory::new(config.workspace_id, config.definitions_ttl);
        App { airbyte, directory }
    }
}

/// Every route, as `(path, methods)`: the source of `Allow` headers. `src/openapi.json` documents
/// exactly these (a test in `openapi.rs` holds the two together).
pub const ROUTES: &[(&str, &str)] = &[
    ("/healthz", "GET, HEAD"),
    ("/readyz", "GET, HEAD"),
    ("/datasource", "POST"),
    ("/sink", "POST"),
    ("/ingestion", "POST"),
    ("/openapi.json", "GET, HEAD"),
];

pub fn route(app: &App, request: &mut Incoming) -> Result<Reply, ApiError> {
    match (request.method(), request.path()) {
        ("GET" | "HEAD", "/healthz") => Ok(health::live()),
        ("GET" | "HEAD", "/readyz") => health::ready(app),
        ("POST", "/datasource") => actors::create(app, request, Kind::Source),
        ("POST", "/sink") => actors::create(app, request, Kind::Destination),
        ("POST", "/ingestion") => ingestion::create(app, request),
        ("GET" | "HEAD", "/openapi.json") => Ok(openapi::document()),
        (method, path) => match ROUTES.iter().find(|(p, _)| *p == path) {
            Some((_, allow)) => Err(ApiError::method_not_allowed(method, path, allow)),
            None => Err(ApiError::no_route(path)),
        },
    }
}

/// A new request id, for requests that did not bring a usable `X-Request-Id`.
pub fn new_request_id() -> String {
    Uuid::new_v4().to_string()
}
