//! `make demo`: the fake Airbyte and the real service on free ports, and the README's three example
//! requests sent to it, then a sync of the new ingestion and a wait for it to end (the fake ends it
//! while the service waits, as Airbyte would), each answer printed, and what each stream moved.
//! Shows the service working with no Airbyte installed. `DEMO_API=public` has it speak Airbyte's
//! public API (the fake serves both), `config` (the default) the Config API.

mod support;

use std::sync::Arc;

use serde_json::Value;
use support::fake_airbyte::JobEnd;
use support::{Dialect, FakeAirbyte, Service, MYSQL_SOURCE, S3_SINK};

fn show(service: &Service, path: &str, body: &str) -> Value {
    println!(
        "$ curl -s -X POST {}{path} -H 'Content-Type: application/json' -d '{}'",
        service.url,
        compact(body)
    );
    print_answer(service.post(path, body))
}

/// A request without a body, shown as its curl.
fn send(service: &Service, method: &str, path: &str) -> Value {
    let flag = if method == "GET" {
        String::new()
    } else {
        format!(" -X {method}")
    };
    println!("$ curl -s{flag} {}{path}", service.url);
    print_answer(service.request(method, path, None, &[]))
}

fn print_answer(answer: support::Answer) -> Value {
    let json = answer.json();
    println!(
        "HTTP {}\n{}\n",
        answer.status,
        serde_json::to_string_pretty(&json).unwrap()
    );
    json
}

fn compact(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap().to_string()
}

fn main() {
    let dialect = match std::env::var("DEMO_API").as_deref() {
        Ok("public") => Dialect::Public,
        Ok("config") | Err(_) => Dialect::Config,
        Ok(other) => {
            eprintln!("DEMO_API={other:?}: expected config or public");
            std::process::exit(2);
        }
    };
    let fake = Arc::new(FakeAirbyte::start());
    let service = dialect.start(&fake, &[("RUST_LOG", "warn,airbyte_wrapper=info")]);
    println!(
        "fake Airbyte at {}\nairbyte-wrapper at {}\n",
        dialect.base_url(&fake),
        service.url
    );

    let source = show(&service, "/datasource", MYSQL_SOURCE);
    let sink = show(&service, "/sink", S3_SINK);
    let ingestion = format!(
        r#"{{"sourceId": "{}", "sinkId": "{}", "created": "2024-01-01T00:00:00Z", "updated": "2024-01-01T00:00:00Z"}}"#,
        source["id"].as_str().unwrap(),
        sink["id"].as_str().unwrap()
    );
    let ingestion = show(&service, "/ingestion", &ingestion);
    let id = ingestion["id"].as_str().unwrap();
    let job = send(&service, "POST", &format!("/ingestion/{id}/sync"));
    let job_id = job["id"].as_i64().unwrap();
    // The sync ends in Airbyte once the service has begun to wait for it.
    let airbyte = {
        let fake = fake.clone();
        let read = dialect.call("jobs/get_without_logs");
        std::thread::spawn(move || {
            fake.wait_for_call(&read);
            fake.finish_job(job_id, JobEnd::Succeeded);
        })
    };
    let ended = send(
        &service,
        "GET",
        &format!("/ingestion/{id}/jobs/{job_id}?wait=60"),
    );
    airbyte.join().unwrap();
    println!("Airbyte received: {}\n", fake.calls().join(", "));
    print_streams(&ended);
}

/// What each stream of the job moved, as a table (the public API does not say).
fn print_streams(job: &Value) {
    println!(
        "job {} {}: what each stream moved",
        job["id"], job["status"]
    );
    let Some(streams) = job["streams"].as_array() else {
        println!("  (not given by this API: {})", job["streams"]);
        return;
    };
    println!(
        "  {:<20} {:>10} {:>10} {:>10} {:>10}",
        "stream", "emitted", "bytes", "committed", "bytes"
    );
    for s in streams {
        let name = match s["namespace"].as_str() {
            Some(namespace) => format!("{namespace}.{}", s["name"].as_str().unwrap_or("")),
            None => s["name"].as_str().unwrap_or("").to_string(),
        };
        // A JSON value's `Display` ignores widths: as text first.
        let [records, bytes, committed, committed_bytes] = [
            "recordsEmitted",
            "bytesEmitted",
            "recordsCommitted",
            "bytesCommitted",
        ]
        .map(|field| s[field].to_string());
        println!("  {name:<20} {records:>10} {bytes:>10} {committed:>10} {committed_bytes:>10}");
    }
}
