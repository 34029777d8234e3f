// tiny_http 0.12.0's own test suite: tests/unblock-test.rs as of the 0.12.0 tag of
// https://github.com/tiny-http/tiny-http (the release this fork started from).
// Copyright (c) 2014-2019 The tiny-http contributors; MIT OR Apache-2.0, like the rest of the
// crate (see LICENSE-MIT and LICENSE-APACHE in this directory).
// Every change made for this fork is marked PATCH(airbyte-wrapper), with why (PATCHES.md, "Tests").

extern crate tiny_http;

use std::sync::Arc;
use std::thread;

// PATCH(airbyte-wrapper): for support::bound.
#[allow(dead_code)]
mod support;

#[test]
fn unblock_server() {
    let _bound = support::bound(); // PATCH(airbyte-wrapper): a bound, see support::bound
    let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
    let s = Arc::new(server);

    let s1 = s.clone();
    thread::spawn(move || s1.unblock());

    // Without unblock this would hang forever
    for _rq in s.incoming_requests() {}
}

#[test]
fn unblock_threads() {
    let _bound = support::bound(); // PATCH(airbyte-wrapper): a bound, see support::bound
    let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
    let s = Arc::new(server);

    let s1 = s.clone();
    let s2 = s.clone();
    let h1 = thread::spawn(move || for _rq in s1.incoming_requests() {});
    let h2 = thread::spawn(move || for _rq in s2.incoming_requests() {});

    // Graceful shutdown; removing even one of the
    // unblock calls prevents termination
    s.unblock();
    s.unblock();
    h1.join().unwrap();
    h2.join().unwrap();
}
