// tiny_http 0.12.0's own test suite: tests/unix-test.rs as of the 0.12.0 tag of
// https://github.com/tiny-http/tiny-http (the release this fork started from).
// Copyright (c) 2014-2019 The tiny-http contributors; MIT OR Apache-2.0, like the rest of the
// crate (see LICENSE-MIT and LICENSE-APACHE in this directory).
// Every change made for this fork is marked PATCH(airbyte-wrapper), with why (PATCHES.md, "Tests").

#![cfg(unix)]

extern crate tiny_http;

use std::{
    io::{Read, Write},
    os::unix::net::UnixStream,
    path::PathBuf, // PATCH(airbyte-wrapper): Path no longer used (the socket path below)
};

#[allow(dead_code)]
mod support;

#[test]
fn unix_basic_handling() {
    let _bound = support::bound(); // PATCH(airbyte-wrapper): a bound, see support::bound

    // PATCH(airbyte-wrapper): a socket path of this process's own instead of the fixed
    // /tmp/tiny-http-test.sock, for no change of the fork's: two checkouts running `make test` on
    // one machine at once (worktrees) shared that path, so that one's bind failed, or one's
    // server, dropped, removed the other's socket file.
    let socket = std::env::temp_dir().join(format!("tiny-http-test-{}.sock", std::process::id()));
    let server = tiny_http::Server::http_unix(&socket).unwrap();
    let path: PathBuf = server
        .server_addr()
        .to_unix()
        .unwrap()
        .as_pathname()
        .unwrap()
        .into();
    let mut client = UnixStream::connect(path).unwrap();
    // PATCH(airbyte-wrapper): reads bounded, as in support (CLIENT_READ_TIMEOUT).
    client
        .set_read_timeout(Some(support::CLIENT_READ_TIMEOUT))
        .unwrap();

    write!(
        client,
        "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();

    let request = server.recv().unwrap();
    assert!(*request.method() == tiny_http::Method::Get);
    //assert!(request.url() == "/");
    request
        .respond(tiny_http::Response::from_string("hello world".to_owned()))
        .unwrap();

    server.try_recv().unwrap();

    let mut content = String::new();
    client.read_to_string(&mut content).unwrap();
    assert!(content.ends_with("hello world"));
}
