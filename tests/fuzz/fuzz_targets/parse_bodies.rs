//! Arbitrary bytes as the body of `POST /datasource` (and `/sink`) and of `POST /ingestion`.

#![no_main]

use airbyte_wrapper::{actors, ingestion};
use airbyte_wrapper_fuzz::{check_actor, check_ingestion, check_rejection};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    match actors::parse(body, true) {
        Ok(actor) => check_actor(body, &actor),
        Err(e) => check_rejection(body, &e, |b| actors::parse(b, true).err().map(|e| e.detail)),
    }
    match ingestion::parse(body) {
        Ok(parsed) => check_ingestion(body, &parsed),
        Err(e) => check_rejection(body, &e, |b| ingestion::parse(b).err().map(|e| e.detail)),
    }
});
