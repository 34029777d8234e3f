//! Real HTTP clients against the real service and the fake Airbyte: curl, Python's http.client
//! and Node's fetch, each on one keep-alive connection.
//!
//! The framing tests (`tests/framing.rs`) hold the server to the RFCs byte by byte; these show
//! that what the clients people actually use send is still understood, including
//! `Expect: 100-continue` and a second request on a reused connection. A client that is not
//! installed fails the test with what to install: skipping would hide that nothing was tested.

mod support;

use std::io::ErrorKind;
use std::process::{Command, Output};

use support::{FakeAirbyte, Service, MYSQL_SOURCE, S3_SINK};

/// Runs `command`, failing with how to install `tool` when it is missing, and with its output
/// when it does not succeed.
fn run(tool: &str, install: &str, command: &mut Command) -> Output {
    let output = match command.output() {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            panic!("{tool} is not installed, and this test needs it: {install}")
        }
        Err(e) => panic!("{tool} could not be run: {e}"),
    };
    assert!(
        output.status.success(),
        "{tool} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn curl_sends_two_posts_with_100_continue_on_one_connection() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[]);
    let request = |path: &str, body: &str| {
        vec![
            "--http1.1".to_string(),
            "-sS".to_string(),
            "-v".to_string(),
            "-H".to_string(),
            "Content-Type: application/json".to_string(),
            "-H".to_string(),
            "Expect: 100-continue".to_string(),
            "--data-binary".to_string(),
            body.to_string(),
            "-o".to_string(),
            "/dev/null".to_string(),
            "-w".to_string(),
            "%{http_code} %{num_connects}\\n".to_string(),
            format!("{}{path}", service.url),
        ]
    };
    let mut args = request("/datasource", MYSQL_SOURCE);
    args.push("--next".to_string());
    args.extend(request("/sink", S3_SINK));
    let output = run(
        "curl",
        "apt-get install curl",
        Command::new("curl").args(&args),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        ["201 1", "201 0"],
        "status and new connections of each request; curl said:\n{stderr}"
    );
    assert_eq!(
        stderr.matches("< HTTP/1.1 100 ").count(),
        2,
        "a 100 Continue before each body:\n{stderr}"
    );
    assert!(
        stderr.contains("Re-using existing connection") || stderr.contains("Reusing existing"),
        "the second request reused the connection:\n{stderr}"
    );
    fake.wait_for_call("sources/create");
    fake.wait_for_call("destinations/create");
}

const PYTHON_CLIENT: &str = r#"
import http.client, json, os

conn = http.client.HTTPConnection(os.environ["SERVICE_HOST"], int(os.environ["SERVICE_PORT"]), timeout=10)

def name():
    return conn.sock.getsockname() if conn.sock else None

conn.request("POST", "/datasource", body=os.environ["BODY"], headers={"Content-Type": "application/json"})
answer = conn.getresponse()
source = json.loads(answer.read())["id"]
print(answer.status)
before = name()

conn.request("GET", "/datasource/" + source)
answer = conn.getresponse()
answer.read()
print(answer.status)

conn.request("GET", "/healthz")
answer = conn.getresponse()
answer.read()
print(answer.status)
after = name()

print("socket before", before)
print("socket after", after)
conn.close()
"#;

#[test]
fn python_http_client_keeps_one_connection_for_a_create_a_read_and_a_health_check() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[]);
    let (host, port) = service
        .url
        .trim_start_matches("http://")
        .rsplit_once(':')
        .unwrap();
    let output = run(
        "python3",
        "apt-get install python3 (any Python 3)",
        Command::new("python3")
            .args(["-c", PYTHON_CLIENT])
            .env("SERVICE_HOST", host)
            .env("SERVICE_PORT", port)
            .env("BODY", MYSQL_SOURCE),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[..3], ["201", "200", "200"], "{stdout}");
    let before = lines[3].strip_prefix("socket before ").expect(&stdout);
    let after = lines[4].strip_prefix("socket after ").expect(&stdout);
    assert!(
        before != "None" && before == after,
        "the same socket throughout, not reopened: {stdout}"
    );
    fake.wait_for_call("sources/get");
}

const NODE_CLIENT: &str = r#"
if (typeof fetch !== "function") {
  console.error(`Node ${process.version} has no fetch: Node 20 or later is needed`);
  process.exit(1);
}
(async () => {
  const base = process.env.SERVICE_URL;
  const sink = await fetch(base + "/sink", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: process.env.BODY,
  });
  await sink.text();
  console.log(sink.status);
  const health = await fetch(base + "/healthz");
  await health.text();
  console.log(health.status);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
"#;

#[test]
fn node_fetch_creates_a_sink_and_checks_health() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[]);
    let output = run(
        "node",
        "install Node.js 20 or later (https://nodejs.org/, or apt-get install nodejs)",
        Command::new("node")
            .args(["-e", NODE_CLIENT])
            .env("SERVICE_URL", &service.url)
            .env("BODY", S3_SINK),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines, ["201", "200"], "{stdout}");
    fake.wait_for_call("destinations/create");
}
