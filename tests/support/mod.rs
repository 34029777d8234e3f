//! Test support: the real service binary started on port 0 against a fake Airbyte on port 0.
#![allow(dead_code, unused_imports)]

pub mod dialect;
pub mod fake_airbyte;
pub mod nginx;
pub mod tls;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::Value;

pub use dialect::Dialect;
pub use fake_airbyte::{
    CheckEnd, FakeAirbyte, Fault, MASK, MYSQL_DEFINITION_ID, S3_DEFINITION_ID, WORKSPACE_ID,
};

/// How long to wait for an event before failing a test (an upper bound, not a pause).
const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

/// The service as a child process; killed when dropped.
pub struct Service {
    child: Child,
    pub url: String,
    logs: Arc<(Mutex<Vec<String>>, Condvar)>,
}

/// An answer from the service.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts a problem body with this status, and returns its detail.
    pub fn problem(&self, status: u16) -> String {
        assert_eq!(self.status, status, "answer: {}", self.text);
        assert_eq!(
            self.header("Content-Type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        let body = self.json();
        assert_eq!(body["status"], status);
        assert!(
            body["type"].as_str().is_some_and(|t| !t.is_empty()),
            "{body}"
        );
        assert!(
            body["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{body}"
        );
        body["detail"]
            .as_str()
            .expect("a problem detail")
            .to_string()
    }
}

impl Service {
    /// Starts the service against `fake` with `RUST_LOG=trace` and the given extra variables.
    pub fn start(fake: &FakeAirbyte, env: &[(&str, &str)]) -> Service {
        let mut vars = vec![
            ("AIRBYTE_BASE_URL", fake.base_url()),
            ("RUST_LOG", "trace".to_string()),
        ];
        vars.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
        Service::start_with(&vars)
    }

    pub fn start_with(vars: &[(&str, String)]) -> Service {
        let mut command = Command::new(env!("CARGO_BIN_EXE_airbyte-wrapper"));
        command
            .env_clear()
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("WORKERS", "4");
        for (k, v) in vars {
            command.env(k, v);
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the service");
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let (tx, rx) = mpsc::channel();
        let sink = logs.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                }
                sink.0.lock().unwrap().push(line);
                sink.1.notify_all();
            }
        });
        let address = rx.recv_timeout(EVENT_TIMEOUT).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the service did not start: {:?}", logs.0.lock().unwrap())
        });
        Service {
            child,
            url: format!("http://{address}"),
            logs,
        }
    }

    pub fn post(&self, path: &str, body: &str) -> Answer {
        self.request(
            "POST",
            path,
            Some(body),
            &[("Content-Type", "application/json")],
        )
    }

    /// POSTs a create and returns the new resource's id, asserting a 201.
    pub fn create(&self, path: &str, body: &str) -> String {
        let answer = self.post(path, body);
        assert_eq!(answer.status, 201, "POST {path}: {}", answer.text);
        answer.json()["id"].as_str().expect("an id").to_string()
    }

    pub fn get(&self, path: &str) -> Answer {
        self.request("GET", path, None, &[])
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let uri = format!("{}{path}", self.url);
        let request = ureq::http::Request::builder().method(method).uri(&uri);
        let request = headers.iter().fold(request, |r, (k, v)| r.header(*k, *v));
        let result = match body {
            Some(body) => agent.run(request.body(body.to_string()).unwrap()),
            None => agent.run(request.body(()).unwrap()),
        };
        let mut response = result.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Answer {
            status: response.status().as_u16(),
            headers,
            text,
        }
    }

    /// Waits until a log line contains `needle`; returns that line.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let (lines, changed) = &*self.logs;
        let guard = lines.lock().unwrap();
        let (guard, timeout) = changed
            .wait_timeout_while(guard, EVENT_TIMEOUT, |l| {
                !l.iter().any(|line| line.contains(needle))
            })
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "no log line contains {needle:?}: {:?}",
            *guard
        );
        guard
            .iter()
            .find(|line| line.contains(needle))
            .unwrap()
            .clone()
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.0.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`TERM`, `INT`, ...) to the service.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit (killing it after 30 s) and returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let (done, watchdog) = mpsc::channel::<()>();
        thread::spawn(move || {
            if watchdog.recv_timeout(Duration::from_secs(30)).is_err() {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
        });
        let status = self.child.wait().unwrap();
        let _ = done.send(());
        status.code()
    }

    /// The service's resident memory in KiB, from `/proc`.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts that Airbyte received [`MYSQL_SOURCE`] as a JSON `sources/create` in the fake's
/// workspace, the configuration as sent; returns that request.
pub fn assert_seed_source_created(fake: &FakeAirbyte) -> fake_airbyte::Recorded {
    assert_seed_source_created_in(Dialect::Config, fake)
}

/// [`assert_seed_source_created`] in either of Airbyte's APIs.
pub fn assert_seed_source_created_in(d: Dialect, fake: &FakeAirbyte) -> fake_airbyte::Recorded {
    let call = d.call("sources/create");
    assert_eq!(
        fake.last_body(&call),
        d.create_body(
            "source",
            WORKSPACE_ID,
            MYSQL_DEFINITION_ID,
            "mysql_source",
            serde_json::json!({"host": "localhost", "port": 3306, "database": "mysql_db", "username": "root", "password": "password"})
        )
    );
    let create = fake
        .requests()
        .into_iter()
        .rfind(|r| r.call == call)
        .unwrap();
    assert_eq!(create.method, "POST");
    assert_eq!(create.content_type.as_deref(), Some("application/json"));
    create
}

/// The seed's example bodies.
pub const MYSQL_SOURCE: &str = r#"{
  "name": "mysql_source",
  "type": "mysql",
  "config": {
    "host": "localhost",
    "port": 3306,
    "database": "mysql_db",
    "username": "root",
    "password": "password"
  }
}"#;

pub const S3_SINK: &str = r#"{
  "name": "s3_sink",
  "type": "s3",
  "config": {
    "bucket_name": "my-bucket",
    "bucket_region": "us-east-1",
    "access_key_id": "AKIA...",
    "secret_access_key": "secret",
    "path_prefix": "exports/"
  }
}"#;

/// A source and a sink from the seed's examples, and an ingestion between them; its id.
pub fn new_ingestion(service: &Service) -> String {
    let source = service.create("/datasource", MYSQL_SOURCE);
    let sink = service.create("/sink", S3_SINK);
    service.create(
        "/ingestion",
        &serde_json::json!({"sourceId": source, "sinkId": sink}).to_string(),
    )
}

/// An ingestion with a sync running: its id and the job's. The fake's record starts after it.
pub fn syncing(fake: &FakeAirbyte, service: &Service) -> (String, i64) {
    let id = new_ingestion(service);
    let answer = service.request("POST", &format!("/ingestion/{id}/sync"), None, &[]);
    assert_eq!(answer.status, 202, "{}", answer.text);
    let job = answer.json()["id"].as_i64().unwrap();
    fake.clear_requests();
    (id, job)
}

/// Each stream of a Config API catalog (`syncCatalog.streams`) as `(name, selected)`.
pub fn selection(streams: &Value) -> Vec<(&str, bool)> {
    streams
        .as_array()
        .expect("a catalog's streams")
        .iter()
        .map(|s| {
            (
                s["stream"]["name"].as_str().unwrap(),
                s["config"]["selected"] == true,
            )
        })
        .collect()
}
