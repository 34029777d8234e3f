//! `cargo test --test serve_fake`: runs the fake Airbyte on its own until killed, for tools that
//! drive the service from outside Rust (contract and property tests, benchmarks). Prints
//! `fake Airbyte at http://127.0.0.1:PORT/api/v1` once it accepts connections. `FAKE_AIRBYTE_PORT`
//! picks the port (default: a free one). `FAKE_AIRBYTE_LOAD=1` sets it up as `make bench` does for
//! long runs under load ([`Options::under_load`]). `FAKE_AIRBYTE_TLS_CA=PATH` serves it over TLS
//! instead (`https://localhost:PORT/api/v1`, `FAKE_AIRBYTE_PORT` then picks the TLS port), with a
//! certificate from a CA made at start, whose PEM it writes to PATH before printing its line.
//!
//! It starts with the source and the destination of the README's `/ingestion` example (which is
//! also the example in `src/openapi.json`), so that example connects without creating them first.

mod support;

use std::any::Any;
use std::io::Write;

use support::fake_airbyte::Options;
use support::tls::{TestCa, TlsFakeAirbyte};
use support::FakeAirbyte;

/// The ids in the README's and the OpenAPI document's `/ingestion` example.
const EXAMPLE_SOURCE_ID: &str = "2be9b924-9c06-492d-a807-1a281a356bd7";
const EXAMPLE_SINK_ID: &str = "cc441a71-65c4-40f3-b917-dcc87ce211b1";

fn main() {
    let port = std::env::var("FAKE_AIRBYTE_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let under_load = std::env::var_os("FAKE_AIRBYTE_LOAD").is_some_and(|v| v == "1");
    let options = if under_load {
        Options::under_load()
    } else {
        Options::default()
    };
    let tls_ca = std::env::var_os("FAKE_AIRBYTE_TLS_CA");
    let plain_port = if tls_ca.is_some() { 0 } else { port };
    let fake = FakeAirbyte::start_with(Options {
        port: plain_port,
        ..options
    });
    fake.seed_source_with_id(EXAMPLE_SOURCE_ID);
    fake.seed_destination_with_id(EXAMPLE_SINK_ID);
    let (base_url, _serving): (String, Box<dyn Any>) = match tls_ca {
        None => (fake.base_url(), Box::new(fake)),
        Some(path) => {
            let ca = TestCa::new("fake Airbyte's CA");
            std::fs::write(&path, ca.pem()).expect("write the CA's PEM to FAKE_AIRBYTE_TLS_CA");
            let certificate = ca.issue(&["localhost", "127.0.0.1"]);
            let tls = TlsFakeAirbyte::serve(fake, certificate, port);
            (tls.base_url(), Box::new(tls))
        }
    };
    println!("fake Airbyte at {base_url}");
    std::io::stdout().flush().unwrap();
    loop {
        std::thread::park();
    }
}
