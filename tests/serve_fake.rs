//! `cargo test --test serve_fake`: runs the fake Airbyte on its own until killed, for tools that
//! drive the service from outside Rust (contract and property tests, benchmarks). Prints
//! `fake Airbyte at http://127.0.0.1:PORT/api/v1` once it accepts connections. `FAKE_AIRBYTE_PORT`
//! picks the port (default: a free one).

mod support;

use std::io::Write;

use support::FakeAirbyte;

fn main() {
    let port = std::env::var("FAKE_AIRBYTE_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let fake = FakeAirbyte::start_on(port);
    println!("fake Airbyte at {}", fake.base_url());
    std::io::stdout().flush().unwrap();
    loop {
        std::thread::park();
    }
}
