//! Failures are part of the interface: every client mistake and every Airbyte fault gets the
//! documented status and a problem body, the service keeps serving, and no secret is ever logged.

mod support;

use std::time::Duration;

use serde_json::json;
use support::fake_airbyte::{error_body, FAULT_TIMEOUTS};
use support::{Dialect, FakeAirbyte, Fault, Service, MYSQL_SOURCE, S3_SINK};

// Airbyte's faults, once per API (`config::...`, `public::...`); the client's own mistakes,
// which never reach Airbyte, once.
dialects!(
    airbyte_rejecting_the_config_is_422_with_its_message_and_no_secret,
    airbyte_schema_validation_failure_is_422,
    airbyte_faults_on_every_call_map_to_gateway_statuses_and_the_service_recovers,
    airbyte_unreachable_is_503,
    airbyte_rate_limiting_is_503_with_its_retry_after,
    airbyte_without_workspaces_is_502,
    configured_workspace_unknown_to_airbyte_is_502,
    no_secret_reaches_any_log_line_at_trace,
    airbyte_faults_on_the_other_calls_map_the_same_way,
);

/// Whether a problem's detail names `call` (the fake's name for it) as the service names calls:
/// the Config API's path, or the public API's method and path (`GET /sources/{sourceId}`).
fn names_call(d: Dialect, call: &str, detail: &str) -> bool {
    match d {
        Dialect::Config => detail.contains(call),
        Dialect::Public => match call.split_once(' ') {
            Some((method, path)) => {
                let first = path.split('/').next().unwrap_or(path);
                detail.contains(&format!("{method} /{first}"))
            }
            // A Config API call the public dialect makes beside the public API.
            None => detail.contains(call),
        },
    }
}

const UUID_A: &str = "3f1b8a7c-2d4e-4f6a-9b8c-1d2e3f4a5b6c";

#[test]
fn malformed_requests_are_4xx_problems_that_name_the_fault() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[("MAX_BODY_BYTES", "4096")]);
    let deep = format!(
        r#"{{"name":"n","type":"mysql","config":{}{}}}"#,
        "{\"a\":".repeat(100),
        "}".repeat(100)
    );
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("/datasource", "".into(), 400, "empty"),
        ("/datasource", "   ".into(), 400, "empty"),
        ("/datasource", "not json".into(), 400, "JSON object"),
        ("/datasource", "[]".into(), 400, "JSON object"),
        ("/datasource", "null".into(), 400, "JSON object"),
        (
            "/datasource",
            r#"{"name":"n","type":"mysql","config":{}"#.into(),
            400,
            "ends too early",
        ),
        (
            "/datasource",
            r#"{"name":"n","type":"mysql","config":{},}"#.into(),
            400,
            "not valid JSON",
        ),
        (
            "/datasource",
            r#"{"type":"mysql","config":{}}"#.into(),
            400,
            "field 'name' is required",
        ),
        (
            "/ingestion?check=true",
            r#"{"sourceId":"2be9b924-9c06-492d-a807-1a281a356bd7","sinkId":"cc441a71-65c4-40f3-b917-dcc87ce211b1"}"#.into(),
            400,
            "query parameter 'check' is not one POST /ingestion takes; it takes none",
        ),
        (
            "/datasource?check=true&verbose=1",
            r#"{"name":"n","type":"mysql","config":{}}"#.into(),
            400,
            "query parameter 'verbose' is not one POST /datasource takes; it takes 'check'",
        ),
        (
            "/datasource",
            r#"{"name":"n","type":"mysql","config":{"host":"h","port":1e400000000}}"#.into(),
            400,
            "field 'config.port' holds a number that does not fit a 64-bit float or integer",
        ),
        (
            "/datasource",
            r#"{"name":null,"type":"mysql","config":{}}"#.into(),
            400,
            "field 'name' must be a non-empty string, got null",
        ),
        (
            "/datasource",
            r#"{"name":"","type":"mysql","config":{}}"#.into(),
            400,
            "field 'name' must not be empty",
        ),
        (
            "/datasource",
            r#"{"name":7,"type":"mysql","config":{}}"#.into(),
            400,
            "field 'name' must be a non-empty string, got a number",
        ),
        (
            "/datasource",
            r#"{"name":"n","config":{}}"#.into(),
            400,
            "field 'type' is required",
        ),
        (
            "/datasource",
            r#"{"name":"n","type":["mysql"],"config":{}}"#.into(),
            400,
            "field 'type' must be a non-empty string, got an array",
        ),
        (
            "/datasource",
            r#"{"name":"n","type":"mysql"}"#.into(),
            400,
            "field 'config' is required",
        ),
        (
            "/datasource",
            r#"{"name":"n","type":"mysql","config":"host=x"}"#.into(),
            400,
            "field 'config' must be an object, got a string",
        ),
        (
            "/datasource",
            r#"{"name":"n","name":"m","type":"mysql","config":{}}"#.into(),
            400,
            "field 'name' appears more than once",
        ),
        ("/datasource", deep, 400, "nested too deeply"),
        (
            "/datasource",
            format!(
                r#"{{"name":"{}","type":"mysql","config":{{}}}}"#,
                "n".repeat(300)
            ),
            400,
            "at most 256 characters",
        ),
        (
            "/sink",
            r#"{"name":"n","type":true,"config":{}}"#.into(),
            400,
            "field 'type' must be a non-empty string, got a boolean",
        ),
        (
            "/sink",
            r#"{"name":"n","type":"s3","config":[1]}"#.into(),
            400,
            "field 'config' must be an object, got an array",
        ),
        (
            "/ingestion",
            r#"{"sinkId":"3f1b8a7c-2d4e-4f6a-9b8c-1d2e3f4a5b6c"}"#.into(),
            400,
            "field 'sourceId' is required",
        ),
        (
            "/ingestion",
            r#"{"sourceId":"abc","sinkId":"3f1b8a7c-2d4e-4f6a-9b8c-1d2e3f4a5b6c"}"#.into(),
            400,
            "field 'sourceId' must be a UUID",
        ),
        (
            "/ingestion",
            format!(r#"{{"sourceId":"{UUID_A}","sinkId":42}}"#),
            400,
            "field 'sinkId' must be a non-empty string, got a number",
        ),
        (
            "/ingestion",
            format!(r#"{{"sourceId":"{UUID_A}","sinkId":"{UUID_A}","created":"yesterday"}}"#),
            400,
            "field 'created' must be an RFC 3339 timestamp",
        ),
        (
            "/ingestion",
            format!(
                r#"{{"sourceId":"{UUID_A}","sinkId":"{UUID_A}","updated":"2024-02-30T00:00:00Z"}}"#
            ),
            400,
            "field 'updated' must be an RFC 3339 timestamp",
        ),
        (
            "/ingestion",
            format!(
                r#"{{"sourceId":"{UUID_A}","sinkId":"{UUID_A}","updated":"9999-12-31T23:59:59-01:00"}}"#
            ),
            400,
            "field 'updated' must be an RFC 3339 timestamp from 0000-01-01T00:00:00Z to 9999-12-31T23:59:59Z in UTC",
        ),
        (
            "/ingestion",
            format!(
                r#"{{"sourceId":"{UUID_A}","sinkId":"{UUID_A}","created":"0000-01-01T00:30:00+01:00"}}"#
            ),
            400,
            "field 'created' must be an RFC 3339 timestamp from 0000-01-01T00:00:00Z",
        ),
        (
            "/ingestion",
            format!(
                r#"{{"sourceId":"{UUID_A}","sinkId":"{UUID_A}","created":"2024-02-01T00:00:00Z","updated":"2024-01-01T00:00:00Z"}}"#
            ),
            400,
            "'updated' must not be earlier than 'created'",
        ),
        (
            "/ingestion",
            format!(r#"{{"sourceId":"{UUID_A}","sinkId":"{UUID_A}","streams":[]}}"#),
            400,
            "field 'streams' must name at least one item",
        ),
        (
            "/ingestion",
            format!(r#"{{"sourceId":"{UUID_A}","sinkId":"{UUID_A}","streams":"users"}}"#),
            400,
            "field 'streams' must be an array of strings",
        ),
        (
            "/ingestion",
            format!(r#"{{"sourceId":"{UUID_A}","sinkId":"{UUID_A}","schedule":5}}"#),
            400,
            "field 'schedule' must be a non-empty string",
        ),
        ("/ingestion", "\"\u{1F600}\"".into(), 400, "JSON object"),
        (
            "/datasource",
            format!(
                r#"{{"name":"n","type":"mysql","config":{{"x":"{}"}}}}"#,
                "a".repeat(5000)
            ),
            413,
            "limit of 4096 bytes",
        ),
    ];
    assert!(cases.len() >= 20);
    for (path, body, status, expected) in &cases {
        let answer = service.post(path, body);
        let detail = answer.problem(*status);
        assert!(
            detail.contains(expected),
            "{path} {body:.80}: expected {expected:?} in {detail:?}"
        );
    }
    assert!(
        fake.calls().is_empty(),
        "no malformed request reaches Airbyte: {:?}",
        fake.calls()
    );
    assert_eq!(service.get("/healthz").status, 200);
}

#[test]
fn invalid_utf8_is_a_400() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[]);
    let body = b"{\"name\":\"\xff\xfe\",\"type\":\"mysql\",\"config\":{}}";
    let mut conn = std::net::TcpStream::connect(service.url.trim_start_matches("http://")).unwrap();
    use std::io::{Read, Write};
    write!(conn, "POST /datasource HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).unwrap();
    conn.write_all(body).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("not valid JSON"), "{answer}");
}

#[test]
fn content_type_must_be_json() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[]);
    for headers in [
        vec![("Content-Type", "text/plain")],
        vec![("Content-Type", "application/x-www-form-urlencoded")],
        vec![],
    ] {
        let answer = service.request("POST", "/datasource", Some(MYSQL_SOURCE), &headers);
        assert!(
            answer.problem(415).contains("application/json"),
            "{headers:?}"
        );
    }
    let answer = service.request(
        "POST",
        "/sink",
        Some(S3_SINK),
        &[("Content-Type", "application/json; charset=utf-8")],
    );
    assert_eq!(answer.status, 201, "{}", answer.text);
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[]);

    assert!(service.get("/nope").problem(404).contains("/nope"));
    assert_eq!(service.get("/datasource/").status, 404);

    for (method, path, allow) in [
        ("PATCH", "/datasource", "GET, HEAD, POST"),
        ("PUT", "/sink", "GET, HEAD, POST"),
        ("DELETE", "/ingestion", "POST"),
        ("POST", "/healthz", "GET, HEAD"),
        ("PATCH", "/readyz", "GET, HEAD"),
    ] {
        let answer = service.request(method, path, None, &[]);
        answer.problem(405);
        assert_eq!(answer.header("Allow"), Some(allow), "{method} {path}");
    }
    // A wrong method is 405 whatever the query: the method is checked before the parameters,
    // whose meaning depends on it (found by Schemathesis: TRACE /datasource?check=true was 400).
    for (method, path) in [
        ("TRACE", "/datasource?check=true"),
        ("TRACE", "/sink?check=true&colour=red"),
        ("DELETE", "/ingestion/x/jobs?limit=1"),
    ] {
        let body = Some(r#"{"name":"n","type":"mysql","config":{}}"#);
        service.request(method, path, body, &[]).problem(405);
    }
    assert!(fake.calls().is_empty());
}

fn airbyte_rejecting_the_config_is_422_with_its_message_and_no_secret(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let call = d.call("sources/create");
    let mut refusal = error_body(&call, 422, "Invalid password 'hunter2secret' for user root");
    if d == Dialect::Config {
        refusal["validationErrors"] = json!([]);
    }
    fake.fail(&call, Fault::Status(422, refusal));
    let body =
        r#"{"name":"n","type":"mysql","config":{"username":"root","password":"hunter2secret"}}"#;

    let answer = service.post("/datasource", body);

    let detail = answer.problem(422);
    assert!(
        names_call(d, &d.call("sources/create"), &detail),
        "{detail}"
    );
    assert!(
        detail.ends_with(": Invalid password '**********' for user root"),
        "the password is masked, the user name (no secret) is kept: {detail}"
    );
    assert!(!answer.text.contains("hunter2secret"));
    assert!(
        !detail.contains("not understood"),
        "Airbyte's message, not its problem type's constant text: {detail}"
    );
}

fn airbyte_schema_validation_failure_is_422(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let answer = service.post(
        "/datasource",
        r#"{"name":"n","type":"mysql","config":{"port":"3306"}}"#,
    );
    let detail = answer.problem(422);
    // The Config API's message, and the public API's `data.message`, which keeps only what
    // follows the Config API's first `Errors: ` (the field is then read from the text alone).
    let said = match d {
        Dialect::Config => "Airbyte rejected sources/create: The provided configuration does not fulfill the specification. Errors: json schema validation failed",
        Dialect::Public => "Airbyte rejected POST /sources: json schema validation failed",
    };
    assert!(detail.starts_with(said), "{detail}");
    assert!(
        detail.contains("$.port: string found, integer expected"),
        "{detail}"
    );
    assert_eq!(
        answer.json()["errors"],
        json!([{"field": "config.port", "message": "string found, integer expected"}]),
        "the field is named, from Airbyte's list or from its message"
    );
}

/// Each call the service makes, with a request that makes it.
fn calls(d: Dialect) -> Vec<(String, &'static str)> {
    [
        ("workspaces/list_by_organization_id", "/datasource"),
        ("source_definitions/list_for_workspace", "/datasource"),
        ("sources/create", "/datasource"),
        ("destination_definitions/list_for_workspace", "/sink"),
        ("destinations/create", "/sink"),
        ("sources/discover_schema", "/ingestion"),
        ("connections/create", "/ingestion"),
    ]
    .into_iter()
    .map(|(call, path)| (d.call(call), path))
    .collect()
}

fn body_for(fake: &FakeAirbyte, path: &str) -> String {
    match path {
        "/datasource" => MYSQL_SOURCE.to_string(),
        "/sink" => S3_SINK.to_string(),
        _ => json!({"sourceId": fake.seed_source(), "sinkId": fake.seed_destination()}).to_string(),
    }
}

fn airbyte_faults_on_every_call_map_to_gateway_statuses_and_the_service_recovers(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(
        &fake,
        &[&FAULT_TIMEOUTS[..], &[("DEFINITIONS_TTL_SECS", "0")]].concat(),
    );
    // Each call's faults; a 500 in the error body of that call's API: the public API's problem
    // explains itself in `data.message`, not in its constant `detail`.
    let faults = |call: &str| {
        let mut faults = vec![
            (
                Fault::Status(500, error_body(call, 500, "NullPointerException")),
                502,
                "HTTP 500: NullPointerException",
            ),
            (Fault::Html(503), 502, "HTTP 503"),
            (
                Fault::Status(
                    400,
                    json!({"type": "about:blank", "title": "Bad Request", "status": 400, "detail": "bad"}),
                ),
                502,
                "HTTP 400: bad",
            ),
            (
                Fault::Status(401, json!({})),
                502,
                "refused the service's credentials",
            ),
            (Fault::InvalidJson, 502, "could not be read"),
            (Fault::WrongShape, 502, "could not be read"),
            (Fault::EmptyBody, 502, "could not be read"),
            (Fault::CloseMidAnswer, 502, "could not be read"),
            (Fault::Slow(Duration::from_millis(2500)), 504, "within 1 s"),
            (Fault::RateLimited(Some("7")), 503, "HTTP 429"),
        ];
        if call.contains(' ') {
            // A body that fails the public API's bean validation: no problem object, an error id.
            faults.push((
                Fault::Status(
                    400,
                    json!({"errorId": "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"}),
                ),
                502,
                "HTTP 400",
            ));
        }
        faults
    };
    let run = |call: &str, path: &str| {
        for (fault, status, expected) in faults(call) {
            fake.fail(call, fault.clone());
            let body = body_for(&fake, path);
            let answer = service.post(path, &body);
            let detail = answer.problem(status);
            assert!(
                names_call(d, call, &detail) || status == 502 && detail.contains("HTTP"),
                "{call} {fault:?}: {detail}"
            );
            assert!(
                detail.contains(expected),
                "{call} {fault:?}: expected {expected:?} in {detail:?}"
            );
            fake.heal();
            let answer = service.post(path, &body_for(&fake, path));
            assert_eq!(
                answer.status, 201,
                "after {fault:?} on {call} the next request works: {}",
                answer.text
            );
        }
    };
    for (call, path) in calls(d) {
        run(&call, path);
    }
    if d.is_public() {
        // An Airbyte before 1.6 lists definitions only with `GET /connector_definitions`.
        fake.set_public_definitions_listing(false);
        for path in ["/datasource", "/sink"] {
            run("GET connector_definitions", path);
        }
    }
}

fn airbyte_unreachable_is_503(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    drop(fake);
    let detail = service.post("/datasource", MYSQL_SOURCE).problem(503);
    assert!(
        detail.contains("unreachable") && detail.contains("AIRBYTE_BASE_URL"),
        "{detail}"
    );
    assert_eq!(service.get("/healthz").status, 200);
}

/// Airbyte's 429 (Airbyte Cloud's API past its quota) did nothing: a 503 with Airbyte's
/// `Retry-After` (within 1 s and an hour, 5 s when it gave none or a date), the call made once, and
/// not replayed for its `Idempotency-Key`, so the client's retry creates.
fn airbyte_rate_limiting_is_503_with_its_retry_after(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let call = d.call("destinations/create");
    let key = [
        ("Content-Type", "application/json"),
        ("Idempotency-Key", "rate-limited-1"),
    ];
    for (given, answered) in [
        (Some("7"), "7"),
        (None, "5"),
        (Some("Wed, 21 Oct 2026 07:28:00 GMT"), "5"),
        (Some("0"), "1"),
        (Some("86400"), "3600"),
    ] {
        fake.fail(&call, Fault::RateLimited(given));
        let before = fake.calls().iter().filter(|c| **c == call).count();
        let answer = service.request("POST", "/sink", Some(S3_SINK), &key);
        let detail = answer.problem(503);
        assert!(
            detail.contains("HTTP 429") && detail.contains(&format!("after {answered} s")),
            "{given:?}: {detail}"
        );
        assert_eq!(answer.header("Retry-After"), Some(answered), "{given:?}");
        let after = fake.calls().iter().filter(|c| **c == call).count();
        assert_eq!(after, before + 1, "Airbyte is asked once");
    }
    fake.heal();
    let answer = service.request("POST", "/sink", Some(S3_SINK), &key);
    assert_eq!(answer.status, 201, "the retry creates: {}", answer.text);
}

fn airbyte_without_workspaces_is_502(d: Dialect) {
    let fake = FakeAirbyte::start();
    fake.set_workspaces(&[]);
    let service = d.start(&fake, &[]);
    assert!(service
        .post("/datasource", MYSQL_SOURCE)
        .problem(502)
        .contains("no workspace"));
}

fn configured_workspace_unknown_to_airbyte_is_502(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[("AIRBYTE_WORKSPACE_ID", UUID_A)]);
    let detail = service.post("/datasource", MYSQL_SOURCE).problem(502);
    assert!(detail.contains("HTTP 404"), "{detail}");
}

fn no_secret_reaches_any_log_line_at_trace(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let secrets = ["pw-Zq81xV", "AKIA-SECRET-Ww39", "sk-Tq0nB7r", "tok-0x99Lf"];
    let source = format!(
        r#"{{"name":"src","type":"mysql","config":{{"host":"h","username":"u","password":"{}","tunnel":{{"ssh_key":"{}"}}}}}}"#,
        secrets[0], secrets[3]
    );
    let sink = format!(
        r#"{{"name":"dst","type":"s3","config":{{"access_key_id":"{}","secret_access_key":"{}"}}}}"#,
        secrets[1], secrets[2]
    );
    let mut ids = Vec::new();
    for (path, body) in [("/datasource", source.as_str()), ("/sink", sink.as_str())] {
        let answer = service.request(
            "POST",
            path,
            Some(body),
            &[("Content-Type", "application/json"), ("X-Request-Id", path)],
        );
        assert_eq!(answer.status, 201);
        for secret in secrets {
            assert!(
                !answer.text.contains(secret),
                "{path} echoed a secret: {}",
                answer.text
            );
        }
        ids.push(answer.json()["id"].as_str().unwrap().to_string());
    }
    let create = d.call("sources/create");
    fake.fail(
        &create,
        Fault::Status(
            422,
            error_body(&create, 422, &format!("bad password {}", secrets[0])),
        ),
    );
    let failed = service.request(
        "POST",
        "/datasource",
        Some(&source),
        &[
            ("Content-Type", "application/json"),
            ("X-Request-Id", "last"),
        ],
    );
    assert!(!failed.text.contains(secrets[0]), "{}", failed.text);
    let ingestion = json!({"sourceId": ids[0], "sinkId": ids[1]}).to_string();
    service.request(
        "POST",
        "/ingestion",
        Some(&ingestion),
        &[
            ("Content-Type", "application/json"),
            ("X-Request-Id", "ingest"),
        ],
    );
    service.wait_for_log("id=ingest");
    service.wait_for_log("id=last");

    let logs = service.logs();
    assert!(
        logs.iter().any(|l| l.contains("POST /datasource 201")),
        "the access log is there: {logs:?}"
    );
    for line in &logs {
        for secret in secrets {
            assert!(!line.contains(secret), "secret in log line: {line}");
        }
    }
}

/// The calls of the read, list, delete, check, token and health paths, each with a fault: the
/// documented status and a problem body, and the next request works.
fn airbyte_faults_on_the_other_calls_map_the_same_way(d: Dialect) {
    use support::fake_airbyte::Auth;
    let fake = FakeAirbyte::start();
    fake.require(Auth::ClientCredentials {
        client_id: "id".into(),
        client_secret: "s".into(),
        lifetime_secs: 5,
    });
    let service = d.start(
        &fake,
        &[
            &FAULT_TIMEOUTS[..],
            &[("AIRBYTE_CLIENT_ID", "id"), ("AIRBYTE_CLIENT_SECRET", "s")],
        ]
        .concat(),
    );
    let source = service.create("/datasource", MYSQL_SOURCE);
    let sink = service.create("/sink", S3_SINK);
    let ingestion = service
        .post(
            "/ingestion",
            &json!({"sourceId": source, "sinkId": sink}).to_string(),
        )
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // (call, method, path, body); deletes are last, on throwaway resources.
    let reads: Vec<(&str, &str, String, Option<String>)> = vec![
        ("sources/get", "GET", format!("/datasource/{source}"), None),
        ("destinations/get", "GET", format!("/sink/{sink}"), None),
        ("sources/list", "GET", "/datasource".into(), None),
        ("destinations/list", "GET", "/sink".into(), None),
        (
            "connections/get",
            "GET",
            format!("/ingestion/{ingestion}"),
            None,
        ),
        (
            "scheduler/destinations/check_connection",
            "POST",
            "/sink?check=true".into(),
            Some(S3_SINK.to_string()),
        ),
        (
            "scheduler/sources/check_connection",
            "POST",
            "/datasource?check=true".into(),
            Some(MYSQL_SOURCE.to_string()),
        ),
        (
            "scheduler/sources/check_connection",
            "POST",
            "/datasource/check".into(),
            Some(MYSQL_SOURCE.to_string()),
        ),
        (
            "scheduler/destinations/check_connection",
            "POST",
            "/sink/check".into(),
            Some(S3_SINK.to_string()),
        ),
        (
            "scheduler/sources/discover_schema",
            "POST",
            "/datasource/streams".into(),
            Some(MYSQL_SOURCE.to_string()),
        ),
        (
            "sources/discover_schema",
            "GET",
            format!("/datasource/{source}/streams"),
            None,
        ),
        (
            "sources/check_connection_for_update",
            "PATCH",
            format!("/datasource/{source}?check=true"),
            Some(r#"{"config":{"port":3307}}"#.to_string()),
        ),
        (
            "sources/update",
            "PATCH",
            format!("/datasource/{source}"),
            Some(r#"{"name":"renamed"}"#.to_string()),
        ),
        (
            "destinations/update",
            "PATCH",
            format!("/sink/{sink}"),
            Some(r#"{"config":{"path_prefix":"exports/v2/"}}"#.to_string()),
        ),
        (
            "applications/token",
            "POST",
            "/sink".into(),
            Some(S3_SINK.to_string()),
        ),
    ];
    for (call, method, path, body) in &reads {
        let call = &d.call(call);
        for (fault, status) in &Fault::matrix(call) {
            fake.fail(call, fault.clone());
            // Tokens live 5 s and are replaced a minute before expiry: every call asks for one.
            let headers = [("Content-Type", "application/json")];
            let answer = service.request(method, path, body.as_deref(), &headers);
            let detail = answer.problem(*status);
            assert!(!detail.is_empty(), "{call} {fault:?}");
            fake.heal();
            let answer = service.request(method, path, body.as_deref(), &headers);
            assert!(
                answer.status < 300,
                "after {fault:?} on {call}: {}",
                answer.text
            );
        }
    }
    for (call, kind) in [
        ("sources/delete", "/datasource"),
        ("destinations/delete", "/sink"),
        ("connections/delete", "/ingestion"),
    ] {
        let call = &d.call(call);
        for (fault, status) in &Fault::matrix(call) {
            let id = match kind {
                "/datasource" => service.create(kind, MYSQL_SOURCE),
                "/sink" => service.create(kind, S3_SINK),
                _ => service
                    .post(
                        kind,
                        &json!({"sourceId": source, "sinkId": sink}).to_string(),
                    )
                    .json()["id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            };
            fake.fail(call, fault.clone());
            service
                .request("DELETE", &format!("{kind}/{id}"), None, &[])
                .problem(*status);
            fake.heal();
            // A slow delete still happens in Airbyte after the service gave up: then it is gone.
            let again = service
                .request("DELETE", &format!("{kind}/{id}"), None, &[])
                .status;
            assert!(
                again == 204 || matches!(fault, Fault::Slow(_)) && again == 404,
                "{call} after {fault:?}: {again}"
            );
        }
    }
    // The public API's health is a text body: any 200 is available there.
    let mut health_faults = vec![
        Fault::Status(500, json!({})),
        Fault::Html(503),
        Fault::CloseMidAnswer,
    ];
    if d == Dialect::Config {
        health_faults.push(Fault::InvalidJson);
    }
    for fault in health_faults {
        fake.fail(&d.call("health"), fault.clone());
        service.get("/readyz").problem(503);
        fake.heal();
        assert_eq!(service.get("/readyz").status, 200);
    }
}
