//! `make demo`: the fake Airbyte and the real service on free ports, and the README's three example
//! requests sent to it, then a sync of the new ingestion and a read of its job, each answer
//! printed. Shows the service working with no Airbyte installed. `DEMO_API=public` has it speak
//! Airbyte's public API (the fake serves both), `config` (the default) the Config API.

mod support;

use serde_json::Value;
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
    let fake = FakeAirbyte::start();
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
    send(
        &service,
        "GET",
        &format!("/ingestion/{id}/jobs/{}", job["id"]),
    );
    println!("Airbyte received: {}", fake.calls().join(", "));
}
