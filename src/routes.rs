//! The router: the route table and the one `match` from method and path to handler, with what
//! every route shares (the API token, `Idempotency-Key` and `?check=` on creates).

use crate::airbyte::Kind;
use crate::app::App;
use crate::auth;
use crate::error::ApiError;
use crate::http::{Incoming, Reply};
use crate::idempotency::{self, Fingerprint, Lookup};
use crate::server::{RouteInfo, Service};
use crate::text::{quote_list, truncate};
use crate::{actors, attempts, checks, health, ingestion, input, jobs, openapi, streams};

/// Every route, as `(path pattern, methods, calls Airbyte)`: the source of `Allow` headers,
/// metrics labels and which requests take a worker. `src/openapi.json` documents exactly these (a
/// test in `openapi.rs` holds the two together).
pub const ROUTES: &[(&str, &str, bool)] = &[
    ("/healthz", "GET, HEAD", false),
    ("/readyz", "GET, HEAD", true),
    ("/metrics", "GET, HEAD", false),
    ("/datasource", "GET, HEAD, POST", true),
    // Before `/datasource/{id}`, which would also match them: the first match wins.
    ("/datasource/check", "POST", true),
    ("/datasource/streams", "POST", true),
    ("/datasource/{id}", "GET, HEAD, DELETE, PATCH", true),
    ("/datasource/{id}/streams", "GET, HEAD", true),
    ("/sink", "GET, HEAD, POST", true),
    ("/sink/check", "POST", true),
    ("/sink/{id}", "GET, HEAD, DELETE, PATCH", true),
    ("/ingestion", "POST", true),
    ("/ingestion/{id}", "GET, HEAD, DELETE, PATCH", true),
    ("/ingestion/{id}/sync", "POST", true),
    ("/ingestion/{id}/clear", "POST", true),
    ("/ingestion/{id}/refresh", "POST", true),
    ("/ingestion/{id}/jobs", "GET, HEAD", true),
    ("/ingestion/{id}/jobs/{jobId}", "GET, HEAD, DELETE", true),
    ("/ingestion/{id}/jobs/{jobId}/attempts", "GET, HEAD", true),
    ("/ingestion/{id}/jobs/{jobId}/logs", "GET, HEAD", true),
    ("/openapi.json", "GET, HEAD", false),
];

/// The query parameters each operation takes, as `(method, route, names)`: exactly those
/// `src/openapi.json` lists (a test holds the two together). Any other is refused, so that a
/// parameter a client believes in is never silently ignored.
const QUERY: &[(&str, &str, &[&str])] = &[
    ("POST", "/datasource", &["check"]),
    ("POST", "/sink", &["check"]),
    ("PATCH", "/datasource/{id}", &["check"]),
    ("PATCH", "/sink/{id}", &["check"]),
    (
        "GET",
        "/ingestion/{id}/jobs",
        &["limit", "offset", "status"],
    ),
    ("POST", "/ingestion/{id}/refresh", &["apply", "selectNew"]),
    ("POST", "/ingestion/{id}/sync", &["wait"]),
    ("POST", "/ingestion/{id}/clear", &["wait"]),
    ("GET", "/ingestion/{id}/jobs/{jobId}", &["wait"]),
    (
        "GET",
        "/ingestion/{id}/jobs/{jobId}/logs",
        &["attempt", "tail"],
    ),
];

/// The operations that take a JSON body (415 for any other media type).
const BODIES: &[(&str, &str)] = &[
    ("POST", "/datasource"),
    ("POST", "/datasource/check"),
    ("POST", "/datasource/streams"),
    ("PATCH", "/datasource/{id}"),
    ("POST", "/sink"),
    ("POST", "/sink/check"),
    ("PATCH", "/sink/{id}"),
    ("POST", "/ingestion"),
    ("PATCH", "/ingestion/{id}"),
];

/// The label of a path that belongs to no route.
const UNMATCHED: &str = "unmatched";

/// Routes a load balancer or orchestrator probes; they need no token.
const OPEN: &[&str] = &["/healthz", "/readyz"];

impl Service for App {
    fn handle(&self, request: &Incoming<'_>, route: RouteInfo) -> Result<Reply, ApiError> {
        let pattern = admit(self, request, route)?;
        dispatch(self, request).map_err(|e| e.on_route(request.method(), pattern))
    }

    fn refuse_before_body(&self, request: &Incoming<'_>, route: RouteInfo) -> Option<ApiError> {
        let route = match admit(self, request, route) {
            Ok(route) => route,
            Err(problem) => return Some(problem),
        };
        BODIES
            .contains(&(request.method(), route))
            .then(|| request.require_json().err())
            .flatten()
    }

    fn route_of(&self, path: &str) -> RouteInfo {
        match pattern(path) {
            Some((label, allow, calls_airbyte)) => RouteInfo {
                label,
                allow,
                calls_airbyte: *calls_airbyte,
            },
            None => RouteInfo {
                label: UNMATCHED,
                allow: "",
                calls_airbyte: false,
            },
        }
    }
}

/// With `API_TOKEN` set, every route but the probes needs it.
fn authorize(app: &App, request: &Incoming<'_>) -> Result<(), ApiError> {
    match &app.api_token {
        Some(token)
            if !OPEN.contains(&request.path())
                && !auth::bearer_matches(request.header("Authorization"), token) =>
        {
            Err(ApiError::unauthorized())
        }
        _ => Ok(()),
    }
}

/// What every request passes before its handler, in this order: the token, a route for its path,
/// a method the route allows, query parameters the operation takes. Returns the route's pattern.
/// The same whether the body is still to come (`Expect: 100-continue`) or already read, so a
/// request is refused for the same reason either way.
fn admit(app: &App, request: &Incoming<'_>, route: RouteInfo) -> Result<&'static str, ApiError> {
    authorize(app, request)?;
    let path = request.path();
    if route.label == UNMATCHED {
        return Err(ApiError::no_route(path));
    }
    let method = request.method();
    if !route.allow.split(',').any(|m| m.trim_start() == method) {
        return Err(ApiError::method_not_allowed(method, path, route.allow));
    }
    check_query(request, route.label)?;
    Ok(route.label)
}

/// The one `match` from method and path to handler, for a request [`admit`] let through.
fn dispatch(app: &App, request: &Incoming<'_>) -> Result<Reply, ApiError> {
    let path = request.path();
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let method = request.method();
    match (method, segments.as_slice()) {
        ("GET" | "HEAD", ["healthz"]) => Ok(health::live()),
        ("GET" | "HEAD", ["readyz"]) => health::ready(app),
        ("GET" | "HEAD", ["openapi.json"]) => Ok(openapi::document()),
        ("GET" | "HEAD", ["metrics"]) => Ok(Reply::text(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            app.metrics.render(),
        )),
        ("POST", ["datasource"]) => writes(app, request, |body, check| {
            actors::create(app, body, Kind::Source, check)
        }),
        ("POST", ["sink"]) => writes(app, request, |body, check| {
            actors::create(app, body, Kind::Destination, check)
        }),
        ("POST", ["ingestion"]) => writes(app, request, |body, _| ingestion::create(app, body)),
        // Checks and previews create nothing: a retry runs them again, with no key needed.
        ("POST", ["datasource", "check"]) => checks::check(app, Kind::Source, request.json_body()?),
        ("POST", ["sink", "check"]) => checks::check(app, Kind::Destination, request.json_body()?),
        ("POST", ["datasource", "streams"]) => streams::preview(app, request.json_body()?),
        ("GET" | "HEAD", ["datasource", id, "streams"]) if !id.is_empty() => {
            streams::of_source(app, id)
        }
        ("PATCH", ["datasource", id]) if !id.is_empty() => writes(app, request, |body, check| {
            actors::patch(app, Kind::Source, id, body, check)
        }),
        ("PATCH", ["sink", id]) if !id.is_empty() => writes(app, request, |body, check| {
            actors::patch(app, Kind::Destination, id, body, check)
        }),
        ("POST", ["ingestion", id, "sync"]) if !id.is_empty() => {
            idempotent(app, request, &[], || jobs::sync(app, request, id))
        }
        ("POST", ["ingestion", id, "clear"]) if !id.is_empty() => {
            idempotent(app, request, &[request.body()], || {
                jobs::clear(app, request, id)
            })
        }
        ("POST", ["ingestion", id, "refresh"]) if !id.is_empty() => {
            idempotent(app, request, &[], || ingestion::refresh(app, request, id))
        }
        ("GET" | "HEAD", ["datasource"]) => actors::list(app, Kind::Source),
        ("GET" | "HEAD", ["sink"]) => actors::list(app, Kind::Destination),
        ("GET" | "HEAD", ["datasource", id]) if !id.is_empty() => {
            actors::get(app, Kind::Source, id)
        }
        ("GET" | "HEAD", ["sink", id]) if !id.is_empty() => actors::get(app, Kind::Destination, id),
        ("GET" | "HEAD", ["ingestion", id]) if !id.is_empty() => ingestion::get(app, id),
        ("GET" | "HEAD", ["ingestion", id, "jobs"]) if !id.is_empty() => {
            jobs::list(app, request, id)
        }
        ("GET" | "HEAD", ["ingestion", id, "jobs", job]) if !id.is_empty() && !job.is_empty() => {
            jobs::get(app, request, id, job)
        }
        ("GET" | "HEAD", ["ingestion", id, "jobs", job, "attempts"])
            if !id.is_empty() && !job.is_empty() =>
        {
            attempts::list(app, id, job)
        }
        ("GET" | "HEAD", ["ingestion", id, "jobs", job, "logs"])
            if !id.is_empty() && !job.is_empty() =>
        {
            attempts::log(app, request, id, job)
        }
        ("PATCH", ["ingestion", id]) if !id.is_empty() => {
            ingestion::patch(app, id, request.json_body()?)
        }
        ("DELETE", ["datasource", id]) if !id.is_empty() => actors::delete(app, Kind::Source, id),
        ("DELETE", ["sink", id]) if !id.is_empty() => actors::delete(app, Kind::Destination, id),
        ("DELETE", ["ingestion", id]) if !id.is_empty() => ingestion::delete(app, id),
        ("DELETE", ["ingestion", id, "jobs", job]) if !id.is_empty() && !job.is_empty() => {
            jobs::cancel(app, id, job)
        }
        // An allowed method on a route, with a path the arms above do not take (an empty id).
        _ => Err(ApiError::no_route(path)),
    }
}

/// 400 for a query parameter the operation does not take.
fn check_query(request: &Incoming<'_>, route: &str) -> Result<(), ApiError> {
    let mut names = request.query_names().peekable();
    if names.peek().is_none() {
        return Ok(());
    }
    let method = request.method();
    let as_method = if method == "HEAD" { "GET" } else { method };
    let taken = QUERY
        .iter()
        .find(|(m, r, _)| *m == as_method && *r == route)
        .map_or(&[][..], |(_, _, names)| *names);
    match names.find(|name| !taken.contains(name)) {
        None => Ok(()),
        Some(name) => Err(ApiError::invalid(format!(
            "query parameter '{}' is not one {method} {route} takes; it takes {}",
            truncate(name, 100),
            match taken {
                [] => "none".to_string(),
                names => quote_list(names),
            }
        ))),
    }
}

/// A create (or change) route: reads the body, honours `?check=` and `Idempotency-Key`, then
/// runs `handler`.
fn writes(
    app: &App,
    request: &Incoming<'_>,
    handler: impl FnOnce(&[u8], bool) -> Result<Reply, ApiError>,
) -> Result<Reply, ApiError> {
    let check = input::flag("check", request.query("check"))?;
    let body = request.json_body()?;
    idempotent(app, request, &[&[u8::from(check)], body], || {
        handler(body, check)
    })
}

/// Runs `handler` once per `Idempotency-Key` (when the request carries one): a retry with the
/// same key and the same request (its path and query, and `parts`: the body and what else
/// decides the outcome) is answered what the first one was, with `Idempotent-Replayed: true`.
fn idempotent(
    app: &App,
    request: &Incoming<'_>,
    parts: &[&[u8]],
    handler: impl FnOnce() -> Result<Reply, ApiError>,
) -> Result<Reply, ApiError> {
    let Some(key) = request.header("Idempotency-Key") else {
        return handler();
    };
    if !idempotency::valid_key(key) {
        return Err(ApiError::invalid(
            "header 'Idempotency-Key' must be 1 to 255 printable ASCII characters",
        ));
    }
    let route = pattern(request.path()).map_or("unmatched", |(route, _, _)| route);
    let target = request.target().as_bytes();
    let fingerprint = Fingerprint::of(&[&[target], parts].concat());
    match app.idempotency.look_up(route, key, fingerprint)? {
        Lookup::Replay(answer) => {
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
        Lookup::Run(claim) => {
            let answer = handler();
            claim.finish(&answer);
            answer
        }
    }
}

/// The route a path belongs to (`/sink/{id}` for `/sink/3f1b...`); `{...}` is any non-empty
/// segment.
fn pattern(path: &str) -> Option<&'static (&'static str, &'static str, bool)> {
    ROUTES.iter().find(|(p, _, _)| matches(p, path))
}

/// Whether `path` is one of `pattern`'s paths: the two compared a byte at a time, a `{name}` in
/// the pattern taking one non-empty segment of the path. Every request is matched against the
/// table, and most patterns differ from its path in their first bytes, so most comparisons end
/// there.
fn matches(pattern: &str, path: &str) -> bool {
    let (mut pattern, mut path) = (pattern.as_bytes(), path.as_bytes());
    loop {
        match (pattern.first(), path.first()) {
            (Some(b'{'), _) => {
                let segment = path.iter().position(|&b| b == b'/').unwrap_or(path.len());
                if segment == 0 {
                    return false;
                }
                path = &path[segment..];
                let name = pattern
                    .iter()
                    .position(|&b| b == b'}')
                    .unwrap_or(pattern.len());
                pattern = pattern.get(name + 1..).unwrap_or_default();
            }
            (Some(p), Some(c)) if p == c => {
                pattern = &pattern[1..];
                path = &path[1..];
            }
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// The route a path belongs to, as a metrics label: one of [`ROUTES`], or `unmatched`.
#[cfg(test)]
fn label(path: &str) -> &'static str {
    pattern(path).map_or(UNMATCHED, |(p, _, _)| p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::tests::{document, documented, Operations, METHODS};
    use serde_json::Value;

    /// `(METHOD, path, query parameter names)` of every operation the document has.
    fn documented_query() -> std::collections::BTreeSet<(String, String, Vec<String>)> {
        let doc = document();
        let resolve = |p: &Value| match p.get("$ref").and_then(Value::as_str) {
            Some(r) => doc.pointer(r.strip_prefix('#').unwrap()).unwrap().clone(),
            None => p.clone(),
        };
        let mut found = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                // HEAD takes what GET takes (`check_query`).
                if !METHODS.contains(&method.as_str()) || method == "head" {
                    continue;
                }
                let names: Vec<String> = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(resolve)
                    .filter(|p| p["in"] == "query")
                    .map(|p| p["name"].as_str().unwrap().to_string())
                    .collect();
                if !names.is_empty() {
                    found.insert((method.to_ascii_uppercase(), path.clone(), names));
                }
            }
        }
        found
    }

    /// The 405 is not an operation's answer, so each path says it in prose: with the `Allow` the
    /// router sends.
    #[test]
    fn every_path_names_the_allow_the_router_sends() {
        let doc = document();
        for (path, methods, _) in ROUTES {
            let description = doc["paths"][path]["description"]
                .as_str()
                .unwrap_or_default();
            assert!(
                description.contains(&format!("`Allow: {methods}`")),
                "{path}'s description does not name `Allow: {methods}`: {description:?}"
            );
        }
    }

    #[test]
    fn the_query_parameters_taken_are_the_documented_ones() {
        let taken: std::collections::BTreeSet<(String, String, Vec<String>)> = QUERY
            .iter()
            .map(|(m, r, names)| {
                let names = names.iter().map(|n| n.to_string()).collect();
                (m.to_string(), r.to_string(), names)
            })
            .collect();
        assert_eq!(taken, documented_query());
    }

    fn routed() -> Operations {
        ROUTES
            .iter()
            .flat_map(|(path, methods, _)| {
                methods
                    .split(',')
                    .map(|m| (path.to_string(), m.trim().to_string()))
            })
            .collect()
    }

    #[test]
    fn every_route_and_method_is_documented_and_nothing_else() {
        let (documented, routed) = (documented(), routed());
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            undocumented.is_empty() && unrouted.is_empty(),
            "routes::ROUTES and src/openapi.json disagree\n  routed, not documented: {undocumented:?}\n  documented, not routed: {unrouted:?}"
        );
    }

    #[test]
    fn the_comparison_sees_a_difference() {
        let mut routed = routed();
        routed.insert(("/sink".into(), "PATCH".into()));
        assert_ne!(routed, documented());
        let mut routed = self::routed();
        routed.remove(&("/healthz".into(), "HEAD".into()));
        assert_ne!(routed, documented());
    }

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
        for (path, route) in [
            ("/ingestion/a/jobs/b", "/ingestion/{id}/jobs/{jobId}"),
            ("/ingestion/a/jobs/", "unmatched"),
            ("/ingestion//jobs/b", "unmatched"),
            ("/ingestion/a/jobsx/b", "unmatched"),
            ("/ingestion/a/sync", "/ingestion/{id}/sync"),
            ("/ingestion/a/sync/", "unmatched"),
            ("/datasource/check", "/datasource/check"),
            ("/datasourcex", "unmatched"),
            ("/datasourc", "unmatched"),
            ("/datasource/a/streams", "/datasource/{id}/streams"),
            ("/datasource/a/stream", "unmatched"),
            ("", "unmatched"),
            ("/", "unmatched"),
        ] {
            assert_eq!(label(path), route, "{path}");
        }
    }
}
