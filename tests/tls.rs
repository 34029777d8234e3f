//! TLS to Airbyte: the service against the fake Airbyte behind a TLS terminator, whose
//! certificate a CA made by the test issued. What the service trusts is what the test writes into
//! `AIRBYTE_CA_FILE`; the web PKI roots are compiled in, and trust none of these CAs.

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use support::fake_airbyte::{MYSQL_DEFINITION_ID, WORKSPACE_ID};
use support::tls::{TempFile, TestCa, TlsFakeAirbyte};
use support::{Fault, Service, MYSQL_SOURCE};

/// The service against `fake` over TLS, trusting the CAs in `ca_file` (none: the web PKI only).
fn service(fake: &TlsFakeAirbyte, ca_file: Option<&TempFile>) -> Service {
    let mut vars = vec![("AIRBYTE_BASE_URL", fake.base_url())];
    if let Some(file) = ca_file {
        vars.push(("AIRBYTE_CA_FILE", file.env()));
    }
    Service::start_with(&vars)
}

/// Asserts that a detail about a refused certificate names the problem, says what to do, and
/// shows nothing of rustls or of the certificate beyond that.
fn assert_names_the_certificate_problem(detail: &str, problem: &str, remedy: &str) {
    assert!(
        detail.starts_with("Airbyte's TLS certificate at https://localhost:")
            && detail.contains("was not accepted")
            && detail.contains(problem)
            && detail.contains(remedy),
        "{detail}"
    );
    for internal in [
        "rustls",
        "io:",
        "InvalidCertificate",
        "Context",
        "fake Airbyte",
    ] {
        assert!(!detail.contains(internal), "{internal} in: {detail}");
    }
}

#[test]
fn with_the_ca_file_a_create_goes_through_tls_end_to_end() {
    let ca = TestCa::new("private CA");
    let fake = TlsFakeAirbyte::start(&ca);
    let ca_file = TempFile::with(&ca.pem());
    let service = service(&fake, Some(&ca_file));
    service.wait_for_log("AIRBYTE_CA_FILE holds 1 CA certificate(s)");

    let answer = service.post("/datasource", MYSQL_SOURCE);
    assert_eq!(answer.status, 201, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["name"], "mysql_source");
    assert_eq!(body["workspaceId"], WORKSPACE_ID);
    assert_eq!(body["definitionId"], MYSQL_DEFINITION_ID);
    assert_eq!(body["config"]["password"], "**********");

    support::assert_seed_source_created(&fake);
    assert_eq!(
        service
            .get(&format!("/datasource/{}", body["id"].as_str().unwrap()))
            .status,
        200,
        "again, on a pooled TLS connection or a new one"
    );
    assert_eq!(service.get("/readyz").status, 200);
}

#[test]
fn every_ca_of_a_bundle_is_trusted() {
    let (corporate, cluster) = (TestCa::new("corporate root"), TestCa::new("cluster CA"));
    let bundle = TempFile::with(&format!(
        "# corporate root\n{}\n# cluster CA\n{}",
        corporate.pem(),
        cluster.pem()
    ));
    for ca in [&corporate, &cluster] {
        let fake = TlsFakeAirbyte::start(ca);
        let service = service(&fake, Some(&bundle));
        service.wait_for_log("AIRBYTE_CA_FILE holds 2 CA certificate(s)");
        service.create("/datasource", MYSQL_SOURCE);
        assert_eq!(fake.calls().last().unwrap(), "sources/create");
    }
}

#[test]
fn without_the_ca_file_a_private_ca_is_a_502_naming_the_unknown_issuer() {
    let ca = TestCa::new("private CA");
    let fake = TlsFakeAirbyte::start(&ca);
    let service = service(&fake, None);

    let detail = service.post("/datasource", MYSQL_SOURCE).problem(502);
    assert_names_the_certificate_problem(
        &detail,
        "it is issued by a CA this service does not trust",
        "set AIRBYTE_CA_FILE to the PEM file of that CA",
    );
    let readiness = service.get("/readyz").problem(502);
    assert_eq!(readiness, detail, "/readyz says the same");
    assert!(fake.calls().is_empty(), "no request crossed the handshake");

    // Counted as what it is; and the service goes on serving.
    let metrics = service.get("/metrics").text;
    assert!(
        metrics.contains(r#"call="health",outcome="certificate_rejected"} 1"#),
        "{metrics}"
    );
    assert_eq!(service.get("/healthz").status, 200);
    assert!(!service.logs().iter().any(|l| l.contains("panic")));
}

#[test]
fn a_certificate_for_another_host_name_is_a_502_naming_the_host_name() {
    let ca = TestCa::new("private CA");
    let fake = TlsFakeAirbyte::start_with(ca.issue(&["airbyte.example.test"]));
    let ca_file = TempFile::with(&ca.pem());
    let service = service(&fake, Some(&ca_file));

    let detail = service.post("/sink", support::S3_SINK).problem(502);
    assert_names_the_certificate_problem(
        &detail,
        "it is for another host name",
        "check that AIRBYTE_BASE_URL names a host the certificate was issued for",
    );
    assert_eq!(service.get("/readyz").problem(502), detail);
    assert!(fake.calls().is_empty());
}

#[test]
fn an_expired_certificate_is_a_502_saying_it_expired() {
    let ca = TestCa::new("private CA");
    let fake = TlsFakeAirbyte::start_with(ca.issue_expired(&["localhost"]));
    let ca_file = TempFile::with(&ca.pem());
    let service = service(&fake, Some(&ca_file));

    let detail = service.get("/readyz").problem(502);
    assert_names_the_certificate_problem(
        &detail,
        "it has expired",
        "Airbyte's certificate must be renewed",
    );
}

#[test]
fn other_failures_over_tls_keep_their_statuses() {
    let ca = TestCa::new("private CA");
    let fake = TlsFakeAirbyte::start(&ca);
    let ca_file = TempFile::with(&ca.pem());
    let service = service(&fake, Some(&ca_file));

    // Past the handshake, Airbyte hangs up half-way through its answer: 502, as over plain HTTP.
    fake.fail("sources/create", Fault::CloseMidAnswer);
    let detail = service.post("/datasource", MYSQL_SOURCE).problem(502);
    assert!(!detail.contains("certificate"), "{detail}");
    fake.heal();
    service.create("/datasource", MYSQL_SOURCE);

    // Nothing listens: 503, as over plain HTTP.
    let port = {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        closed.local_addr().unwrap().port()
    };
    let service = Service::start_with(&[
        (
            "AIRBYTE_BASE_URL",
            format!("https://localhost:{port}/api/v1"),
        ),
        ("AIRBYTE_CA_FILE", ca_file.env()),
    ]);
    let detail = service.get("/readyz").problem(503);
    assert!(detail.contains("unreachable"), "{detail}");
}

/// Runs the service with `vars` until it exits (killed after 20 s) and returns its exit code and
/// standard error.
fn exit_of(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_airbyte-wrapper"))
        .env_clear()
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .envs(vars.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the service");
    let pid = child.id().to_string();
    let (done, watchdog) = mpsc::channel::<()>();
    thread::spawn(move || {
        if watchdog.recv_timeout(Duration::from_secs(20)).is_err() {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
    });
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    let _ = done.send(());
    (status.code(), stderr)
}

#[test]
fn a_ca_file_that_cannot_be_used_stops_start_up_naming_the_variable() {
    let missing = std::env::temp_dir().join(format!("no-such-ca-{}.pem", uuid::Uuid::new_v4()));
    let missing = missing.to_str().unwrap().to_string();
    let no_certificate = TempFile::with("this file was meant to hold a CA\n");
    let malformed = TempFile::with(
        &TestCa::new("x")
            .pem()
            .replace("-----END CERTIFICATE-----", ""),
    );
    for (path, why) in [
        (missing.as_str(), "cannot read it"),
        (&no_certificate.env(), "it holds no certificate"),
        (&malformed.env(), "it is not valid PEM"),
    ] {
        let (code, stderr) = exit_of(&[
            ("AIRBYTE_BASE_URL", "https://localhost:1/api/v1"),
            ("AIRBYTE_CA_FILE", path),
        ]);
        assert_eq!(code, Some(2), "{path}: {stderr}");
        assert!(
            stderr.starts_with(&format!(
                "airbyte-wrapper: invalid AIRBYTE_CA_FILE={path:?}: "
            )) && stderr.contains(why),
            "{stderr}"
        );
    }
}
