//! `make demo`: the fake Airbyte and the real service on free ports, and the README's three example
//! requests sent to it, each answer printed. Shows the service working with no Airbyte installed.

mod support;

use serde_json::Value;
use support::{FakeAirbyte, Service, MYSQL_SOURCE, S3_SINK};

fn show(service: &Service, path: &str, body: &str) -> Value {
    println!(
        "$ curl -s -X POST {}{path} -H 'Content-Type: application/json' -d '{}'",
        service.url,
        compact(body)
    );
    let answer = service.post(path, body);
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
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[("RUST_LOG", "warn,airbyte_wrapper=info")]);
    println!(
        "fake Airbyte at {}\nairbyte-wrapper at {}\n",
        fake.base_url(),
        service.url
    );

    let source = show(&service, "/datasource", MYSQL_SOURCE);
    let sink = show(&service, "/sink", S3_SINK);
    let ingestion = format!(
        r#"{{"sourceId": "{}", "sinkId": "{}", "created": "2024-01-01T00:00:00Z", "updated": "2024-01-01T00:00:00Z"}}"#,
        source["id"].as_str().unwrap(),
        sink["id"].as_str().unwrap()
    );
    show(&service, "/ingestion", &ingestion);
    println!("Airbyte received: {}", fake.calls().join(", "));
}
