//! Operating an ingestion as orchestrators do: waiting for a job to end (`?wait=`), reading why an
//! attempt failed (its attempts, its log), clearing what a connection wrote, and what each stream
//! moved. End to end against the fake Airbyte, once per Airbyte API (`config::...`,
//! `public::...`), asserting what the client got and what Airbyte received; then what waiting
//! costs the service: no worker slot, no polling once the client has gone, an answer at a drain.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::fake_airbyte::{JobEnd, FAULT_TIMEOUTS, LOG_LINES, SECRET_IN_INTERNALS};
use support::{new_ingestion, syncing, Dialect, FakeAirbyte, Fault, Service, MYSQL_SOURCE};

dialects!(
    a_wait_answers_as_soon_as_the_job_ends_with_what_each_stream_moved,
    a_wait_that_runs_out_answers_the_running_job_and_when_to_ask_again,
    a_sync_with_a_wait_starts_the_job_and_answers_it_ended,
    a_wait_out_of_range_is_refused_before_airbyte_is_asked,
    each_attempt_says_why_it_failed,
    an_attempt_s_log_is_its_last_lines_as_text,
    a_clear_starts_a_job_that_can_be_waited_for,
    a_clear_of_named_streams_clears_those,
    a_clear_under_a_running_job_is_409_naming_it,
    a_clear_of_a_stream_the_ingestion_does_not_sync_is_422_listing_its_streams,
    a_clear_body_is_checked,
    airbyte_faults_on_the_new_calls_map_to_gateway_statuses,
);

/// How many times the fake was asked for a job in this dialect.
fn job_reads(d: Dialect, fake: &FakeAirbyte) -> usize {
    let call = d.call("jobs/get_without_logs");
    fake.calls().iter().filter(|c| **c == call).count()
}

/// Waits (at most 20 s) until the fake has been asked for a job `n` times.
fn wait_for_job_reads(d: Dialect, fake: &FakeAirbyte, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while job_reads(d, fake) < n {
        assert!(Instant::now() < deadline, "{:?}", fake.calls());
        fake.wait_for_change(Duration::from_millis(200));
    }
}

/// Waits (at most 20 s) until the fake holds more than `known` jobs; the newest one's id.
fn new_job(fake: &FakeAirbyte, known: usize) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let jobs = fake.jobs();
        if jobs.len() > known {
            return jobs.last().unwrap().0;
        }
        assert!(Instant::now() < deadline, "no new job: {:?}", fake.calls());
        fake.wait_for_change(Duration::from_millis(50));
    }
}

/// Waits (at most 20 s) until the service counts `n` requests pausing between two reads of a job.
fn wait_for_waiting(service: &Service, fake: &FakeAirbyte, n: usize) {
    let gauge = format!("airbyte_wrapper_waiting_requests {n}\n");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = service.get("/metrics").text;
        if metrics.contains(&gauge) {
            return;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        fake.wait_for_change(Duration::from_millis(100));
    }
}

fn a_wait_answers_as_soon_as_the_job_ends_with_what_each_stream_moved(d: Dialect) {
    let fake = Arc::new(FakeAirbyte::start());
    let service = Arc::new(d.start(&fake, &[]));
    let (id, job) = syncing(&fake, &service);
    let ender = {
        let (fake, service) = (fake.clone(), service.clone());
        thread::spawn(move || {
            // The wait has read the job, running, and pauses: the job ends during the pause. (On
            // its first read alone, the fake could still answer it ended.)
            wait_for_waiting(&service, &fake, 1);
            fake.finish_job(job, JobEnd::Succeeded);
        })
    };

    let started = Instant::now();
    let answer = service.get(&format!("/ingestion/{id}/jobs/{job}?wait=60"));
    ender.join().unwrap();

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "answered when the job ended, not when the wait ran out"
    );
    let body = answer.json();
    assert_eq!(body["status"], "succeeded");
    assert_eq!(
        answer.header("Retry-After"),
        None,
        "an ended job needs no retry"
    );
    // Read, paused, read again: the job ended within the first pause.
    assert_eq!(job_reads(d, &fake), 2, "{:?}", fake.calls());
    match d {
        Dialect::Config => assert_eq!(
            body["streams"],
            json!([
                {"name": "users", "namespace": "shop", "recordsEmitted": 120, "bytesEmitted": 4096,
                 "recordsCommitted": 120, "bytesCommitted": 4096},
                {"name": "orders", "namespace": "shop", "recordsEmitted": 0, "bytesEmitted": 0,
                 "recordsCommitted": 0, "bytesCommitted": 0},
            ])
        ),
        // The public API's job has no per-stream figures.
        Dialect::Public => assert_eq!(body["streams"], Value::Null, "{body}"),
    }
}

fn a_wait_that_runs_out_answers_the_running_job_and_when_to_ask_again(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let (id, job) = syncing(&fake, &service);

    let started = Instant::now();
    let answer = service.get(&format!("/ingestion/{id}/jobs/{job}?wait=1"));

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(started.elapsed() >= Duration::from_secs(1), "it waited");
    assert_eq!(answer.json()["status"], "running");
    assert_eq!(answer.header("Retry-After"), Some("5"));
    // Once before the pause, once when the wait ran out.
    assert_eq!(job_reads(d, &fake), 2, "{:?}", fake.calls());
    // Without a wait, a running job's answer says when to ask again too.
    let answer = service.get(&format!("/ingestion/{id}/jobs/{job}"));
    assert_eq!(answer.header("Retry-After"), Some("5"));
}

fn a_sync_with_a_wait_starts_the_job_and_answers_it_ended(d: Dialect) {
    let fake = Arc::new(FakeAirbyte::start());
    let service = d.start(&fake, &[]);
    let id = new_ingestion(&service);
    fake.clear_requests();
    let ender = {
        let fake = fake.clone();
        thread::spawn(move || {
            let job = new_job(&fake, 0);
            fake.finish_job(
                job,
                JobEnd::Failed("Access denied for user 'airbyte'".into()),
            );
        })
    };

    let answer = service.request("POST", &format!("/ingestion/{id}/sync?wait=60"), None, &[]);
    ender.join().unwrap();

    assert_eq!(
        answer.status, 200,
        "ended while the client waited: {}",
        answer.text
    );
    let job = answer.json();
    assert_eq!(job["status"], "failed");
    assert_eq!(
        answer.header("Location"),
        Some(format!("/ingestion/{id}/jobs/{}", job["id"]).as_str())
    );
    assert_eq!(answer.header("Retry-After"), None);
    assert_eq!(
        fake.calls()[..2],
        d.calls(&["connections/get", "connections/sync"])[..]
    );
}

fn a_wait_out_of_range_is_refused_before_airbyte_is_asked(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[("MAX_WAIT_SECS", "120")]);
    let (id, job) = syncing(&fake, &service);
    for wait in ["0", "121", "-1", "soon", "1.5"] {
        for (method, path) in [
            ("GET", format!("/ingestion/{id}/jobs/{job}?wait={wait}")),
            ("POST", format!("/ingestion/{id}/sync?wait={wait}")),
            ("POST", format!("/ingestion/{id}/clear?wait={wait}")),
        ] {
            let detail = service.request(method, &path, None, &[]).problem(400);
            assert!(
                detail.contains("'wait'") && detail.contains("1 to 120"),
                "{path}: {detail}"
            );
        }
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

/// A job that failed twice: its first attempt for a reason Airbyte retried, its second for good.
fn failed_twice(fake: &FakeAirbyte, service: &Service) -> (String, i64) {
    let (id, job) = syncing(fake, service);
    fake.retry_job(job, "Connection reset by peer");
    fake.finish_job(
        job,
        JobEnd::Failed("Access denied for user 'airbyte'".into()),
    );
    fake.clear_requests();
    (id, job)
}

fn each_attempt_says_why_it_failed(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let (id, job) = failed_twice(&fake, &service);

    let answer = service.get(&format!("/ingestion/{id}/jobs/{job}/attempts"));

    assert_eq!(answer.status, 200, "{}", answer.text);
    let items = answer.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0]["number"], 0);
    assert_eq!(items[0]["status"], "failed");
    assert_eq!(
        items[0]["failure"],
        json!({"type": "system_error", "origin": "source", "message": "Connection reset by peer", "retryable": true})
    );
    assert_eq!(items[1]["number"], 1);
    assert_eq!(
        items[1]["failure"],
        json!({"type": "config_error", "origin": "source", "message": "Access denied for user 'airbyte'", "retryable": false})
    );
    for item in &items {
        assert!(item["createdAt"].as_str().unwrap().ends_with('Z'), "{item}");
        assert!(item["endedAt"].is_string(), "{item}");
        assert!(item.get("recordsCommitted").is_some(), "{item}");
    }
    assert!(
        !answer.text.contains(SECRET_IN_INTERNALS),
        "{}",
        answer.text
    );
    // Both dialects read attempts from the Config API (beside the public API).
    assert_eq!(
        fake.calls(),
        [
            d.call("connections/get"),
            "jobs/get_without_logs".to_string()
        ]
    );
    // Another ingestion's path never shows this job's attempts.
    let other = new_ingestion(&service);
    service
        .get(&format!("/ingestion/{other}/jobs/{job}/attempts"))
        .problem(404);
}

fn an_attempt_s_log_is_its_last_lines_as_text(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let (id, job) = failed_twice(&fake, &service);
    let logs = format!("/ingestion/{id}/jobs/{job}/logs");

    let answer = service.get(&logs);

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.header("Content-Type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(answer.header("X-Attempt"), Some("1"), "the last attempt's");
    let lines: Vec<&str> = answer.text.lines().collect();
    assert_eq!(lines.len(), LOG_LINES, "{}", answer.text);
    assert_eq!(
        lines[LOG_LINES - 1],
        format!("attempt 1 line {LOG_LINES}: Access denied for user 'airbyte'")
    );
    assert!(answer.text.contains("**********"), "masked by Airbyte");
    let last = fake.last_body("attempt/get_for_job");
    assert_eq!(last, json!({"jobId": job, "attemptNumber": 1}));

    let first = service.get(&format!("{logs}?attempt=0&tail=1"));
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(
        first.text,
        format!("attempt 0 line {LOG_LINES}: Connection reset by peer\n")
    );
    assert_eq!(first.header("X-Attempt"), Some("0"));

    let detail = service.get(&format!("{logs}?attempt=2")).problem(404);
    assert!(
        detail.contains("0, 1"),
        "names the attempts there are: {detail}"
    );
    for bad in ["attempt=-1", "attempt=x", "tail=0", "tail=x"] {
        service.get(&format!("{logs}?{bad}")).problem(400);
    }

    // A structured log is one event a line, without its stack trace.
    fake.set_structured_logs(true);
    let structured = service.get(&logs);
    assert_eq!(structured.status, 200, "{}", structured.text);
    assert!(
        structured
            .text
            .lines()
            .all(|l| l.starts_with("2023-11-14T22:13:20Z INFO source > attempt 1 line")),
        "{}",
        structured.text
    );
    assert!(
        !structured.text.contains(SECRET_IN_INTERNALS),
        "{}",
        structured.text
    );
}

/// The public API has no attempts or logs; where the Config API beside it is not open, both are a
/// 501 that says what is missing, and so is a clear of named streams.
#[test]
fn attempts_logs_and_stream_clears_the_config_api_beside_refuses_are_501() {
    let fake = FakeAirbyte::start();
    let service = Dialect::Public.start(&fake, &[]);
    let (id, job) = failed_twice(&fake, &service);
    fake.config_api_reachable(false);
    for (method, path, body) in [
        ("GET", format!("/ingestion/{id}/jobs/{job}/attempts"), None),
        ("GET", format!("/ingestion/{id}/jobs/{job}/logs"), None),
        (
            "POST",
            format!("/ingestion/{id}/clear"),
            Some(r#"{"streams": ["users"]}"#),
        ),
    ] {
        let answer = service.request(method, &path, body, &[("Content-Type", "application/json")]);
        let detail = answer.problem(501);
        assert!(detail.contains("Config API"), "{path}: {detail}");
    }
}

fn a_clear_starts_a_job_that_can_be_waited_for(d: Dialect) {
    let fake = Arc::new(FakeAirbyte::start());
    let service = d.start(&fake, &[]);
    let id = new_ingestion(&service);
    fake.clear_requests();

    let answer = service.request("POST", &format!("/ingestion/{id}/clear"), None, &[]);

    assert_eq!(answer.status, 202, "{}", answer.text);
    let job = answer.json();
    assert_eq!(job["type"], "clear");
    assert_eq!(job["status"], "running");
    assert_eq!(answer.header("Retry-After"), Some("5"));
    let job_id = job["id"].as_i64().unwrap();
    assert_eq!(
        answer.header("Location"),
        Some(format!("/ingestion/{id}/jobs/{job_id}").as_str())
    );
    let clear = d.call("connections/clear");
    let mut sent = json!({"connectionId": id});
    if d.is_public() {
        sent["jobType"] = json!("clear");
    }
    assert_eq!(fake.last_body(&clear), sent);
    assert_eq!(
        fake.calls(),
        d.calls(&["connections/get", "jobs/list", "connections/clear"])
    );

    // A wait on the clear, as on a sync.
    let ender = {
        let fake = fake.clone();
        thread::spawn(move || {
            wait_for_job_reads(d, &fake, 1);
            fake.finish_job(job_id, JobEnd::Succeeded);
        })
    };
    let waited = service.get(&format!("/ingestion/{id}/jobs/{job_id}?wait=60"));
    ender.join().unwrap();
    assert_eq!(waited.json()["status"], "succeeded", "{}", waited.text);

    // And with `?wait=` on the clear itself: 200 once it has ended.
    let ender = {
        let fake = fake.clone();
        thread::spawn(move || {
            let job = new_job(&fake, 1);
            fake.finish_job(job, JobEnd::Succeeded);
        })
    };
    let answer = service.request(
        "POST",
        &format!("/ingestion/{id}/clear?wait=60"),
        Some("{}"),
        &[("Content-Type", "application/json")],
    );
    ender.join().unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["status"], "succeeded");
}

fn a_clear_of_named_streams_clears_those(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let id = new_ingestion(&service);
    fake.clear_requests();

    let answer = service.post(
        &format!("/ingestion/{id}/clear"),
        r#"{"streams": ["shop.users"]}"#,
    );

    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_eq!(answer.json()["type"], "clear");
    // The public API clears whole connections only: named streams are the Config API's, beside it.
    assert_eq!(
        fake.last_body("connections/clear/stream"),
        json!({"connectionId": id, "streams": [{"streamName": "users", "streamNamespace": "shop"}]})
    );
}

fn a_clear_under_a_running_job_is_409_naming_it(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let (id, job) = syncing(&fake, &service);

    let detail = service
        .request("POST", &format!("/ingestion/{id}/clear"), None, &[])
        .problem(409);

    assert!(
        detail.contains(&format!("job {job}")) && detail.contains("DELETE"),
        "{detail}"
    );
    assert_eq!(fake.calls(), d.calls(&["connections/get", "jobs/list"]));
    assert_eq!(fake.jobs().len(), 1, "no clear started");
}

fn a_clear_of_a_stream_the_ingestion_does_not_sync_is_422_listing_its_streams(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let id = new_ingestion(&service);
    fake.clear_requests();

    let detail = service
        .post(
            &format!("/ingestion/{id}/clear"),
            r#"{"streams": ["users", "payments"]}"#,
        )
        .problem(422);

    assert!(
        detail.contains("'payments'") && detail.contains("'users'") && detail.contains("'orders'"),
        "{detail}"
    );
    assert_eq!(fake.calls(), d.calls(&["connections/get"]));
}

fn a_clear_body_is_checked(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let id = new_ingestion(&service);
    fake.clear_requests();
    let path = format!("/ingestion/{id}/clear");
    for body in [
        r#"{"streams": []}"#,
        r#"{"streams": "users"}"#,
        r#"{"streams": [1]}"#,
        r#"{"stream": ["users"]}"#,
        "[]",
        "{",
    ] {
        let detail = service.post(&path, body).problem(400);
        assert!(!detail.is_empty(), "{body}");
    }
    let answer = service.request(
        "POST",
        &path,
        Some("streams=users"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
    );
    answer.problem(415);
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

/// The fault matrix for the calls of this file: each maps to a gateway status, and the next
/// request succeeds.
fn airbyte_faults_on_the_new_calls_map_to_gateway_statuses(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &FAULT_TIMEOUTS);
    let id = new_ingestion(&service);
    let job = service
        .request("POST", &format!("/ingestion/{id}/sync"), None, &[])
        .json()["id"]
        .as_i64()
        .unwrap();
    fake.finish_job(job, JobEnd::Failed("Access denied".into()));
    let cases = [
        // The Config API's, in both dialects (beside the public API).
        (
            "jobs/get_without_logs".to_string(),
            format!("/ingestion/{id}/jobs/{job}/attempts"),
        ),
        (
            "attempt/get_for_job".to_string(),
            format!("/ingestion/{id}/jobs/{job}/logs"),
        ),
        (
            d.call("jobs/get_without_logs"),
            format!("/ingestion/{id}/jobs/{job}?wait=5"),
        ),
    ];
    for (call, path) in &cases {
        for (fault, status) in &Fault::matrix(call) {
            fake.fail(call, fault.clone());
            service.get(path).problem(*status);
            fake.heal();
            let answer = service.get(path);
            assert_eq!(
                answer.status, 200,
                "after {fault:?} on {call}: {}",
                answer.text
            );
        }
    }
    let clear = d.call("connections/clear");
    let path = format!("/ingestion/{id}/clear");
    for (fault, status) in &Fault::matrix(&clear) {
        let jobs = fake.jobs().len();
        fake.fail(&clear, fault.clone());
        service.request("POST", &path, None, &[]).problem(*status);
        fake.heal();
        // A slow clear still starts in Airbyte after the service gave up; it is ended here.
        if matches!(fault, Fault::Slow(_)) {
            let deadline = Instant::now() + Duration::from_secs(20);
            while fake.jobs().len() == jobs {
                assert!(Instant::now() < deadline, "the slow clear never started");
                fake.wait_for_change(Duration::from_millis(200));
            }
        }
        for (job, _, state) in fake.jobs() {
            if state == "running" {
                fake.finish_job(job, JobEnd::Succeeded);
            }
        }
        let answer = service.request("POST", &path, None, &[]);
        assert_eq!(
            answer.status, 202,
            "after {fault:?} on {clear}: {}",
            answer.text
        );
        fake.finish_job(answer.json()["id"].as_i64().unwrap(), JobEnd::Succeeded);
    }
}

/// An Airbyte before 0.57 has no `jobs/get_without_logs`, `attempt/get_for_job` or clears: the
/// service reads jobs and logs with `jobs/get` and clears with `connections/reset`.
#[test]
fn an_older_airbyte_is_read_and_cleared_with_the_calls_it_has() {
    let fake = FakeAirbyte::start();
    let service = Dialect::Config.start(&fake, &[]);
    let (id, job) = failed_twice(&fake, &service);
    fake.set_legacy_job_calls(true);

    let answer = service.get(&format!("/ingestion/{id}/jobs/{job}"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["status"], "failed");
    assert_eq!(answer.json()["streams"], Value::Null);
    let log = service.get(&format!("/ingestion/{id}/jobs/{job}/logs?attempt=0"));
    assert_eq!(log.status, 200, "{}", log.text);
    assert!(
        log.text.contains("Connection reset by peer"),
        "{}",
        log.text
    );
    assert_eq!(
        fake.calls(),
        [
            "connections/get",
            "jobs/get_without_logs",
            "jobs/get",
            "connections/get",
            "jobs/get_without_logs",
            "jobs/get",
            "attempt/get_for_job",
            "jobs/get",
        ]
    );

    fake.clear_requests();
    let cleared = service.request("POST", &format!("/ingestion/{id}/clear"), None, &[]);
    assert_eq!(cleared.status, 202, "{}", cleared.text);
    assert_eq!(cleared.json()["type"], "reset");
    assert_eq!(
        fake.calls(),
        [
            "connections/get",
            "jobs/list",
            "connections/clear",
            "connections/reset"
        ]
    );
    let job = cleared.json()["id"].as_i64().unwrap();
    fake.finish_job(job, JobEnd::Succeeded);
    let streams = service.post(
        &format!("/ingestion/{id}/clear"),
        r#"{"streams": ["users"]}"#,
    );
    assert_eq!(streams.status, 202, "{}", streams.text);
    assert_eq!(
        fake.last_body("connections/reset/stream"),
        json!({"connectionId": id, "streams": [{"streamName": "users", "streamNamespace": "shop"}]})
    );
}

/// The public API before `clear` was a job type: a reset does the same.
#[test]
fn an_older_public_api_clears_with_a_reset() {
    let fake = FakeAirbyte::start();
    let service = Dialect::Public.start(&fake, &[]);
    let id = new_ingestion(&service);
    fake.set_legacy_job_calls(true);
    fake.clear_requests();

    let answer = service.request("POST", &format!("/ingestion/{id}/clear"), None, &[]);

    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_eq!(answer.json()["type"], "reset");
    let types: Vec<Value> = fake
        .requests()
        .iter()
        .filter(|r| r.call == "POST jobs")
        .map(|r| r.body["jobType"].clone())
        .collect();
    assert_eq!(types, [json!("clear"), json!("reset")]);
}

/// Twenty clients waiting on a job while the service has two worker slots: creates are still
/// answered, since a wait holds a slot only while it reads the job.
#[test]
fn waiting_clients_hold_no_worker_slot_a_create_needs() {
    let fake = Arc::new(FakeAirbyte::start());
    let service = Arc::new(Service::start(&fake, &[("WORKERS", "2")]));
    let d = Dialect::Config;
    let (id, job) = syncing(&fake, &service);
    let waiters: Vec<_> = (0..20)
        .map(|_| {
            let service = service.clone();
            let path = format!("/ingestion/{id}/jobs/{job}?wait=120");
            thread::spawn(move || service.get(&path))
        })
        .collect();
    wait_for_job_reads(d, &fake, 20);
    // Each of them pauses between its reads, counted as waiting.
    wait_for_waiting(&service, &fake, 20);

    for _ in 0..4 {
        let started = Instant::now();
        service.create("/datasource", MYSQL_SOURCE);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a create waited behind the waiting clients"
        );
    }
    fake.finish_job(job, JobEnd::Succeeded);
    for waiter in waiters {
        let answer = waiter.join().unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.json()["status"], "succeeded");
    }
    let metrics = service.get("/metrics").text;
    assert!(
        metrics.contains("airbyte_wrapper_waiting_requests 0\n"),
        "{metrics}"
    );
}

/// A client that hangs up while it waits: the service stops reading the job at once, without
/// waiting for the next pause to end.
#[test]
fn a_client_that_hangs_up_stops_the_polling() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[]);
    let d = Dialect::Config;
    let (id, job) = syncing(&fake, &service);
    let path = format!("/ingestion/{id}/jobs/{job}?wait=120");
    let address = service.url.trim_start_matches("http://");
    let mut client = TcpStream::connect(address).unwrap();
    write!(client, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    wait_for_job_reads(d, &fake, 1);

    drop(client);

    // The request's access-log line: the handler has returned.
    let line = service.wait_for_log(&format!("GET /ingestion/{id}/jobs/{job} 200"));
    let reads = job_reads(d, &fake);
    assert!(
        reads <= 2,
        "{reads} reads: polling went on after the hang-up ({line})"
    );
}

/// A drain while a client waits: the client is answered at once with the job as it stands, and
/// the service exits.
#[test]
fn a_drain_answers_a_waiting_client_with_the_job_as_it_stands() {
    let fake = FakeAirbyte::start();
    let mut service = Service::start(&fake, &[]);
    let d = Dialect::Config;
    let (id, job) = syncing(&fake, &service);
    let address = service.url.trim_start_matches("http://").to_string();
    let mut client = TcpStream::connect(&address).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        client,
        "GET /ingestion/{id}/jobs/{job}?wait=120 HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .unwrap();
    wait_for_job_reads(d, &fake, 1);

    let started = Instant::now();
    service.signal("TERM");
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();

    assert!(
        started.elapsed() < Duration::from_secs(15),
        "answered at the drain, not when the wait ran out"
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(answer.contains("Retry-After: 5"), "{answer}");
    assert!(answer.contains(r#""status":"running""#), "{answer}");
    assert_eq!(service.wait_exit(), Some(0));
}
