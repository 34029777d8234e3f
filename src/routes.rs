//! The router: the state every handler shares, and the one `match` from method and path to handler.

use std::sync::Arc;

use uuid::Uuid;

use crate::airbyte::{Client, Kind};
use crate::auth;
use crate::config::{Config, Secret};
use crate::definitions::Directory;
use crate::error::ApiError;
use crate::http::{Incoming, Reply};
use crate::idempotency::{self, Begin};
use crate::metrics::Metrics;
use crate::{actors, health, ingestion, openapi};

/// What the handlers share: the Airbyte client, the definition cache, remembered idempotent
/// answers, the metrics and the token clients must present.
pub struct App {
    pub airbyte: Client,
    pub directory: Directory,
    pub idempotency: idempotency::Store,
    pub metrics: Arc<Metrics>,
    pub api_token: Option<Secret>,
}

impl App {
    pub fn new(config: &Config) -> App {
        let metrics = Arc::new(Metrics::default());
        App {
            airbyte: Client::new(config, metrics.clone()),
            directory: Directory::new(config.workspace_id, config.definitions_ttl),
            idempotency: idempotency::Store::new(
                config.idempotency_ttl,
                config.idempotency_max_keys,
            ),
            metrics,
            api_token: config.api_token.clone(),
        }
    }
}

/// Every route, as `(path pattern, methods)`: the source of `Allow` headers and metrics labels.
/// `src/openapi.json` documents exactly these (a test in `openapi.rs` holds the two together).
pub const ROUTES: &[(&str, &str)] = &[
    ("/healthz", "GET, HEAD"),
    ("/readyz", "GET, HEAD"),
    ("/metrics", "GET, HEAD"),
    ("/datasource", "GET, HEAD, POST"),
    ("/datasource/{id}", "GET, HEAD, DELETE"),
    ("/sink", "GET, HEAD, POST"),
    ("/sink/{id}", "GET, HEAD, DELETE"),
    ("/ingestion", "POST"),
    ("/ingestion/{id}", "GET, HEAD, DELETE"),
    ("/openapi.json", "GET, HEAD"),
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
    let path = request.path().to_string();
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(&path).split('/').collect();
    let method = request.method().to_string();
    match (method.as_str(), segments.as_slice()) {
        ("GET" | "HEAD", ["healthz"]) => Ok(health::live()),
        ("GET" | "HEAD", ["readyz"]) => health::ready(app),
        ("GET" | "HEAD", ["openapi.json"]) => Ok(openapi::document()),
        ("GET" | "HEAD", ["metrics"]) => Ok(Reply::text(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            app.metrics.render(),
        )),
        ("POST", ["datasource"]) => create(app, request, "/datasource", |body, check| {
            actors::create(app, body, Kind::Source, check)
        }),
        ("POST", ["sink"]) => create(app, request, "/sink", |body, check| {
            actors::create(app, body, Kind::Destination, check)
        }),
        ("POST", ["ingestion"]) => create(app, request, "/ingestion", |body, _| {
            ingestion::create(app, body)
        }),
        ("GET" | "HEAD", ["datasource"]) => actors::list(app, Kind::Source),
        ("GET" | "HEAD", ["sink"]) => actors::list(app, Kind::Destination),
        ("GET" | "HEAD", ["datasource", id]) if !id.is_empty() => {
            actors::get(app, Kind::Source, id)
        }
        ("GET" | "HEAD", ["sink", id]) if !id.is_empty() => actors::get(app, Kind::Destination, id),
        ("GET" | "HEAD", ["ingestion", id]) if !id.is_empty() => ingestion::get(app, id),
        ("DELETE", ["datasource", id]) if !id.is_empty() => actors::delete(app, Kind::Source, id),
        ("DELETE", ["sink", id]) if !id.is_empty() => actors::delete(app, Kind::Destination, id),
        ("DELETE", ["ingestion", id]) if !id.is_empty() => ingestion::delete(app, id),
        (method, _) => match pattern(&path) {
            Some((_, allow)) => Err(ApiError::method_not_allowed(method, &path, allow)),
            None => Err(ApiError::no_route(&path)),
        },
    }
}

/// A create route: reads the body, honours `?check=` and `Idempotency-Key`, then runs `handler`.
fn create(
    app: &App,
    request: &mut Incoming,
    route: &'static str,
    handler: impl FnOnce(&[u8], bool) -> Result<Reply, ApiError>,
) -> Result<Reply, ApiError> {
    let check = match request.query("check") {
        None | Some("false" | "0") => false,
        Some("true" | "1" | "") => true,
        Some(_) => {
            return Err(ApiError::invalid(
                "query parameter 'check' must be true or false",
            ))
        }
    };
    let body = request.json_body()?;
    let Some(key) = request.header("Idempotency-Key") else {
        return handler(&body, check);
    };
    if !idempotency::valid_key(key) {
        return Err(ApiError::invalid(
            "header 'Idempotency-Key' must be 1 to 255 printable ASCII characters",
        ));
    }
    let fingerprint = [&[u8::from(check)], body.as_slice()].concat();
    match app.idempotency.begin(route, key, &fingerprint)? {
        Begin::Replay(answer) => {
            let replayed = ("Idempotent-Replayed", "true".to_string());
            answer
                .map(|mut reply| {
                    reply.headers.push(replayed.clone());
                    reply
                })
                .map_err(|mut problem| {
                    problem.headers.push(replayed.clone());
                    problem
                })
        }
        Begin::Run(claim) => {
            let answer = handler(&body, check);
            claim.finish(&answer);
            answer
        }
    }
}

/// The route pattern a path belongs to (`/sink/{id}` for `/sink/3f1b...`).
fn pattern(path: &str) -> Option<&'static (&'static str, &'static str)> {
    ROUTES.iter().find(|(p, _)| {
        let (mut expected, mut segments) = (p.split('/'), path.split('/'));
        loop {
            match (expected.next(), segments.next()) {
                (None, None) => return true,
                (Some(e), Some(s)) if e == s || (e == "{id}" && !s.is_empty()) => {}
                _ => return false,
            }
        }
    })
}

/// The route a path belongs to, as a metrics label: one of [`ROUTES`], or `unmatched`.
pub fn label(path: &str) -> &'static str {
    pattern(path).map_or("unmatched", |(p, _)| p)
}

/// A new request id, for requests that did not bring a usable `X-Request-Id`.
pub fn new_request_id() -> String {
    Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_patterns() {
        assert_eq!(label("/sink"), "/sink");
        assert_eq!(
            label("/sink/3f1b8a7c-2d4e-4f6a-9b8c-1d2e3f4a5b6c"),
            "/sink/{id}"
        );
        assert_eq!(label("/sink/anything"), "/sink/{id}");
        assert_eq!(label("/sink/"), "unmatched");
        assert_eq!(label("/sink/a/b"), "unmatched");
        assert_eq!(label("/elsewhere"), "unmatched");
    }
}
