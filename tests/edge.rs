//! Edge deployment: Airbyte authentication, the inbound API token, graceful shutdown, idle
//! connections and metrics, end to end against the fake Airbyte.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use serde_json::json;
use support::fake_airbyte::Auth;
use support::{Dialect, FakeAirbyte, Fault, Service, MYSQL_SOURCE, S3_SINK};

// Authentication to Airbyte, once per API: tokens come from the API's own token call.
dialects!(
    client_credentials_are_exchanged_once_and_the_token_reused,
    a_refused_token_is_replaced_and_the_call_retried_once,
    tokens_near_their_expiry_are_replaced_before_use,
    concurrent_requests_share_one_token_request,
    refused_credentials_are_a_502_for_the_operator_and_never_shown,
    a_fixed_token_and_basic_auth_are_sent_as_configured,
);

fn client_credentials(lifetime_secs: u64) -> Auth {
    Auth::ClientCredentials {
        client_id: "wrapper".into(),
        client_secret: "cs-Hq72kLm".into(),
        lifetime_secs,
    }
}

const CREDENTIALS: [(&str, &str); 2] = [
    ("AIRBYTE_CLIENT_ID", "wrapper"),
    ("AIRBYTE_CLIENT_SECRET", "cs-Hq72kLm"),
];

fn client_credentials_are_exchanged_once_and_the_token_reused(d: Dialect) {
    let fake = FakeAirbyte::start();
    fake.require(client_credentials(900));
    let service = d.start(&fake, &CREDENTIALS);

    let created = service.post("/datasource", MYSQL_SOURCE);
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(service.post("/sink", S3_SINK).status, 201);

    let calls = fake.calls();
    let token = d.call("applications/token");
    assert_eq!(
        calls.iter().filter(|c| **c == token).count(),
        1,
        "{calls:?}"
    );
    assert_eq!(calls[0], token);
    let grant = match d {
        // The public API's spec requires `grant_type` and names the property `grant-type`.
        Dialect::Public => {
            json!({"grant-type": "client_credentials", "grant_type": "client_credentials"})
        }
        Dialect::Config => json!({}),
    };
    let mut expected = json!({"client_id": "wrapper", "client_secret": "cs-Hq72kLm"});
    expected
        .as_object_mut()
        .unwrap()
        .extend(grant.as_object().unwrap().clone());
    assert_eq!(fake.last_body(&token), expected);
    let token_request = fake.requests().into_iter().next().unwrap();
    assert_eq!(token_request.authorization, None);
    for r in fake.requests().iter().skip(1) {
        assert!(
            r.authorization
                .as_deref()
                .is_some_and(|a| a.starts_with("Bearer ey")),
            "{} without the token",
            r.call
        );
    }
}

fn a_refused_token_is_replaced_and_the_call_retried_once(d: Dialect) {
    let fake = FakeAirbyte::start();
    fake.require(client_credentials(900));
    let service = d.start(&fake, &CREDENTIALS);
    assert_eq!(service.post("/datasource", MYSQL_SOURCE).status, 201);
    fake.revoke_tokens();
    fake.clear_requests();

    assert_eq!(service.post("/datasource", MYSQL_SOURCE).status, 201);

    assert_eq!(
        fake.calls(),
        d.calls(&["sources/create", "applications/token", "sources/create"])
    );
    let creates: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.call == d.call("sources/create"))
        .collect();
    assert_ne!(creates[0].authorization, creates[1].authorization);
}

fn tokens_near_their_expiry_are_replaced_before_use(d: Dialect) {
    let fake = FakeAirbyte::start();
    fake.require(client_credentials(30));
    let service = d.start(&fake, &CREDENTIALS);
    assert_eq!(service.post("/datasource", MYSQL_SOURCE).status, 201);
    fake.clear_requests();

    assert_eq!(service.post("/datasource", MYSQL_SOURCE).status, 201);

    assert_eq!(
        fake.calls(),
        d.calls(&["applications/token", "sources/create"]),
        "a token 30 s from expiry is not reused"
    );
}

fn concurrent_requests_share_one_token_request(d: Dialect) {
    let fake = FakeAirbyte::start();
    fake.require(client_credentials(900));
    fake.fail(
        &d.call("applications/token"),
        Fault::Slow(Duration::from_millis(300)),
    );
    let service = d.start(
        &fake,
        &[
            CREDENTIALS[0],
            CREDENTIALS[1],
            ("WORKERS", "8"),
            ("AIRBYTE_WORKSPACE_ID", support::fake_airbyte::WORKSPACE_ID),
        ],
    );

    thread::scope(|scope| {
        let answers: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| service.post("/sink", S3_SINK).status))
            .collect();
        for a in answers {
            assert_eq!(a.join().unwrap(), 201);
        }
    });

    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| **c == d.call("applications/token"))
            .count(),
        1,
        "{:?}",
        fake.calls()
    );
}

fn refused_credentials_are_a_502_for_the_operator_and_never_shown(d: Dialect) {
    let fake = FakeAirbyte::start();
    fake.require(client_credentials(900));
    let service = d.start(
        &fake,
        &[
            ("AIRBYTE_CLIENT_ID", "wrapper"),
            ("AIRBYTE_CLIENT_SECRET", "wrong-Zx81"),
        ],
    );

    let answer = service.request(
        "POST",
        "/datasource",
        Some(MYSQL_SOURCE),
        &[
            ("Content-Type", "application/json"),
            ("X-Request-Id", "refused"),
        ],
    );

    let detail = answer.problem(502);
    assert!(
        detail.contains("refused the service's credentials"),
        "{detail}"
    );
    assert!(!answer.text.contains("wrong-Zx81"));
    service.wait_for_log("id=refused");
    assert!(
        service
            .logs()
            .iter()
            .all(|l| !l.contains("wrong-Zx81") && !l.contains("Bearer")),
        "{:?}",
        service.logs()
    );
}

fn a_fixed_token_and_basic_auth_are_sent_as_configured(d: Dialect) {
    let fake = FakeAirbyte::start();
    fake.require(Auth::Header("Bearer at-9Jq".into()));
    let service = d.start(&fake, &[("AIRBYTE_API_TOKEN", "at-9Jq")]);
    assert_eq!(service.post("/sink", S3_SINK).status, 201);
    drop(service);

    fake.require(Auth::Header("Basic YWlyYnl0ZTpwYXNzd29yZA==".into()));
    let service = d.start(
        &fake,
        &[
            ("AIRBYTE_USERNAME", "airbyte"),
            ("AIRBYTE_PASSWORD", "password"),
        ],
    );
    assert_eq!(service.post("/sink", S3_SINK).status, 201);

    fake.require(Auth::Header("Basic something-else".into()));
    assert!(service
        .post(
            "/ingestion",
            &json!({"sourceId": fake.seed_source(), "sinkId": fake.seed_destination()}).to_string()
        )
        .problem(502)
        .contains("credentials"));
}

#[test]
fn conflicting_airbyte_credentials_stop_start_up() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_airbyte-wrapper"))
        .env_clear()
        .envs([
            ("AIRBYTE_API_TOKEN", "t"),
            ("AIRBYTE_USERNAME", "u"),
            ("AIRBYTE_PASSWORD", "p"),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("only one Airbyte authentication") && !stderr.contains("\"p\""),
        "{stderr}"
    );
}

#[test]
fn api_token_guards_every_route_but_the_probes() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[("API_TOKEN", "in-Tk55")]);

    for (method, path) in [
        ("POST", "/datasource"),
        ("POST", "/sink"),
        ("POST", "/ingestion"),
        ("GET", "/metrics"),
        ("GET", "/nope"),
    ] {
        for auth in [
            None,
            Some("Bearer wrong"),
            Some("in-Tk55"),
            Some("Basic aW4tVGs1NQ=="),
        ] {
            let mut headers = vec![("Content-Type", "application/json")];
            if let Some(a) = auth {
                headers.push(("Authorization", a));
            }
            let answer = service.request(method, path, Some("{}"), &headers);
            answer.problem(401);
            assert_eq!(
                answer.header("WWW-Authenticate"),
                Some("Bearer"),
                "{method} {path}"
            );
        }
    }
    assert!(fake.calls().is_empty());
    assert_eq!(service.get("/healthz").status, 200);
    assert_eq!(service.get("/readyz").status, 200);

    let answer = service.request(
        "POST",
        "/sink",
        Some(S3_SINK),
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer in-Tk55"),
        ],
    );
    assert_eq!(answer.status, 201, "{}", answer.text);
}

#[test]
fn an_open_non_loopback_listener_is_warned_about() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[("LISTEN_ADDR", "0.0.0.0:0")]);
    let line = service.wait_for_log("API_TOKEN is not set");
    assert!(line.contains("WARN"), "{line}");
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_then_exits_0() {
    let fake = FakeAirbyte::start();
    fake.fail("sources/create", Fault::Slow(Duration::from_millis(1500)));
    let mut service = Service::start(&fake, &[]);
    let url = service.url.clone();

    let answer = thread::scope(|scope| {
        let in_flight = scope.spawn(|| service.post("/datasource", MYSQL_SOURCE));
        fake.wait_for_call("sources/create");
        service.signal("TERM");
        in_flight.join().unwrap()
    });

    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(service.wait_exit(), Some(0));
    assert!(service.logs().iter().any(|l| l.contains("stopping")));
    assert!(
        TcpStream::connect(url.trim_start_matches("http://")).is_err(),
        "nothing listens any more"
    );
}

/// A load balancer keeps idle connections to each replica; a stopping replica closes them at once
/// (so the balancer moves on), and the answer to a request in progress on another connection says
/// `Connection: close`.
#[test]
fn sigterm_closes_idle_keep_alive_connections_at_once_and_busy_ones_after_their_answer() {
    let fake = FakeAirbyte::start();
    fake.fail("sources/create", Fault::Slow(Duration::from_millis(1500)));
    let mut service = Service::start(&fake, &[("CLIENT_TIMEOUT_SECS", "60")]);
    let address = service.url.trim_start_matches("http://").to_string();
    let request = |conn: &mut TcpStream, head: &str, body: &str| {
        write!(
            conn,
            "{head}Host: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
    };
    let mut idle = TcpStream::connect(&address).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    request(&mut idle, "GET /healthz HTTP/1.1\r\n", "");
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    let mut busy = TcpStream::connect(&address).unwrap();
    busy.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    request(
        &mut busy,
        "POST /datasource HTTP/1.1\r\nContent-Type: application/json\r\n",
        MYSQL_SOURCE,
    );
    fake.wait_for_call("sources/create");
    service.signal("TERM");

    let mut rest = Vec::new();
    idle.read_to_end(&mut rest).unwrap();
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        !rest.contains("HTTP/1.1"),
        "the idle connection is closed without another answer: {rest}"
    );
    let mut answer = Vec::new();
    busy.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.contains("Connection: close\r\n"), "{answer}");
    assert_eq!(service.wait_exit(), Some(0));
}

#[test]
fn sigint_stops_an_idle_service_with_exit_0() {
    let fake = FakeAirbyte::start();
    let mut service = Service::start(&fake, &[]);
    service.signal("INT");
    assert_eq!(service.wait_exit(), Some(0));
}

#[test]
fn requests_past_the_grace_period_are_cut_off_with_exit_1() {
    let fake = FakeAirbyte::start();
    fake.fail("destinations/create", Fault::Slow(Duration::from_secs(10)));
    let mut service = Service::start(
        &fake,
        &[("SHUTDOWN_GRACE_SECS", "1"), ("AIRBYTE_TIMEOUT_SECS", "30")],
    );
    thread::scope(|scope| {
        scope.spawn(|| {
            let _ = std::panic::catch_unwind(|| service.post("/sink", S3_SINK));
        });
        fake.wait_for_call("destinations/create");
        service.signal("TERM");
    });
    assert_eq!(service.wait_exit(), Some(1));
}

#[test]
fn three_hundred_idle_connections_do_not_starve_the_service() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[("CLIENT_TIMEOUT_SECS", "60")]);
    let before = service.rss_kib();

    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(service.url.trim_start_matches("http://")).unwrap())
        .collect();
    for _ in 0..3 {
        let answer = service.get("/healthz");
        assert_eq!(answer.status, 200);
    }
    assert_eq!(service.post("/sink", S3_SINK).status, 201);
    let during = service.rss_kib();
    assert!(during < before + 64 * 1024, "resident memory stays bounded: {before} KiB before, {during} KiB with 300 idle connections");
    drop(idle);
}

fn scrape(service: &Service) -> HashMap<String, f64> {
    let answer = service.get("/metrics");
    assert_eq!(answer.status, 200);
    assert!(answer
        .header("Content-Type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    answer
        .text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (
                name.to_string(),
                value
                    .parse()
                    .unwrap_or_else(|_| panic!("not a sample: {l}")),
            )
        })
        .collect()
}

#[test]
fn metrics_count_requests_airbyte_calls_and_latency() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[]);
    assert_eq!(service.post("/datasource", MYSQL_SOURCE).status, 201);
    assert_eq!(service.post("/datasource", MYSQL_SOURCE).status, 201);
    assert_eq!(service.post("/datasource", "{").status, 400);
    fake.fail("destinations/create", Fault::Status(500, json!({})));
    assert_eq!(service.post("/sink", S3_SINK).status, 502);
    assert_eq!(service.get("/nowhere").status, 404);

    let m = scrape(&service);
    let get = |k: &str| *m.get(k).unwrap_or_else(|| panic!("no {k} in {m:?}"));
    assert_eq!(
        get(r#"airbyte_wrapper_requests_total{route="/datasource",status="201"}"#),
        2.0
    );
    assert_eq!(
        get(r#"airbyte_wrapper_requests_total{route="/datasource",status="400"}"#),
        1.0
    );
    assert_eq!(
        get(r#"airbyte_wrapper_requests_total{route="/sink",status="502"}"#),
        1.0
    );
    assert_eq!(
        get(r#"airbyte_wrapper_requests_total{route="unmatched",status="404"}"#),
        1.0
    );
    assert_eq!(
        get(r#"airbyte_wrapper_request_duration_seconds_count{route="/datasource"}"#),
        3.0
    );
    assert_eq!(
        get(r#"airbyte_wrapper_request_duration_seconds_bucket{route="/datasource",le="+Inf"}"#),
        3.0
    );
    assert_eq!(
        get(r#"airbyte_wrapper_airbyte_calls_total{call="sources/create",outcome="success"}"#),
        2.0
    );
    assert_eq!(
        get(
            r#"airbyte_wrapper_airbyte_calls_total{call="workspaces/list",outcome="client_error"}"#
        ),
        1.0
    );
    assert_eq!(
        get(
            r#"airbyte_wrapper_airbyte_calls_total{call="destinations/create",outcome="server_error"}"#
        ),
        1.0
    );
    assert_eq!(
        get(r#"airbyte_wrapper_airbyte_call_duration_seconds_count{call="sources/create"}"#),
        2.0
    );
    assert_eq!(
        get("airbyte_wrapper_in_flight_requests"),
        1.0,
        "the scrape itself"
    );
    assert_eq!(get("airbyte_wrapper_waiting_requests"), 0.0);
    assert_eq!(
        get(&format!(
            r#"airbyte_wrapper_build_info{{version="{}"}}"#,
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );

    let again = scrape(&service);
    assert_eq!(
        again[r#"airbyte_wrapper_requests_total{route="/metrics",status="200"}"#],
        1.0
    );
}
