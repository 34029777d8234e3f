// tiny_http 0.12.0's own test suite: tests/promptness.rs as of the 0.12.0 tag of
// https://github.com/tiny-http/tiny-http (the release this fork started from).
// Copyright (c) 2014-2019 The tiny-http contributors; MIT OR Apache-2.0, like the rest of the
// crate (see LICENSE-MIT and LICENSE-APACHE in this directory).
// Every change made for this fork is marked PATCH(airbyte-wrapper), with why (PATCHES.md, "Tests").

extern crate tiny_http;

// PATCH(airbyte-wrapper): `copy`, `Deref` and `Arc` went with upstream's prompt_responses.
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::channel;
use std::thread::{sleep, spawn};
use std::time::Duration;
use tiny_http::{Response, Server};

/// Stream that produces bytes very slowly
#[derive(Debug, Copy, Clone, PartialEq, Eq)]
struct SlowByteSrc {
    val: u8,
    len: usize,
}
impl Read for SlowByteSrc {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        sleep(Duration::from_millis(100));
        let l = self.len.min(buf.len()).min(1000);
        for v in buf[..l].iter_mut() {
            *v = self.val;
        }
        self.len -= l;
        Ok(l)
    }
}

/// crude impl of http `Transfer-Encoding: chunked`
fn encode_chunked(data: &mut dyn Read, output: &mut dyn Write) {
    let mut buf = [0u8; 4096];
    loop {
        let l = data.read(&mut buf).unwrap();
        write!(output, "{:X}\r\n", l).unwrap();
        output.write_all(&buf[..l]).unwrap();
        write!(output, "\r\n").unwrap();
        if l == 0 {
            break;
        }
    }
}

/// PATCH(airbyte-wrapper): every request here gets a `Host: localhost` line. The fork refuses an
/// HTTP/1.1 request without exactly one Host with 400 and closes the connection (PATCHES.md,
/// `src/framing.rs`: "exactly one valid `Host` on HTTP/1.1"; RFC 9112 §3.2), so as written no
/// request reached `recv()` and every test here failed on its timeout. What they check is
/// unchanged: pipelined requests are read on while earlier answers are still being written.
mod prompt_pipelining {
    use super::*;

    /// Check that pipelined requests on the same connection are received promptly.
    fn assert_requests_parsed_promptly(
        req_cnt: usize,
        req_body: &'static [u8],
        timeout: Duration,
        req_writer: impl FnOnce(&mut dyn Write) + Send + 'static,
    ) {
        let resp_body = SlowByteSrc {
            val: 42,
            len: 1_000_000,
        }; // very slow response body

        let server = Server::http("0.0.0.0:0").unwrap();
        let mut client = TcpStream::connect(server.server_addr().to_ip().unwrap()).unwrap();
        let (svr_send, svr_rcv) = channel();

        spawn(move || {
            for _ in 0..req_cnt {
                let mut req = server.recv().unwrap();
                // read the whole body of the request
                let mut body = Vec::new();
                req.as_reader().read_to_end(&mut body).unwrap();
                assert_eq!(req_body, body.as_slice());
                // The next pipelined request should now be available for parsing,
                // while we send the (possibly slow) response in another thread
                spawn(move || {
                    req.respond(Response::empty(200).with_data(resp_body, Some(resp_body.len)))
                });
            }
            svr_send.send(()).unwrap();
        });

        // PATCH(airbyte-wrapper): the client is kept open until the test ends (the writer sends
        // it back). Upstream's writer dropped it once the requests were written, with answers on
        // their way: the client's kernel then resets the connection, and a reset throws away what
        // the server had not read yet, here the last requests. Upstream's server sent nothing for
        // the first 100 ms (its answer sat in a 1 KiB buffer until the slow body's first piece),
        // so the race never showed; the fork writes an answer's head at once (PATCHES.md,
        // `src/response.rs`: "The head is put together in memory and written ... in one write"),
        // and the test failed now and then (one run of this file in ten, here).
        let (written_send, written) = channel();
        spawn(move || {
            req_writer(&mut client);
            let _ = written_send.send(client);
        });

        // requests must be sent and received quickly (before timeout expires)
        svr_rcv
            .recv_timeout(timeout)
            .expect("Server did not finish reading pipelined requests quickly enough");
        drop(written);
    }

    #[test]
    fn empty() {
        assert_requests_parsed_promptly(5, &[], Duration::from_millis(200), move |wr| {
            for _ in 0..5 {
                write!(wr, "GET / HTTP/1.1\r\n").unwrap();
                write!(wr, "Host: localhost\r\n").unwrap(); // PATCH(airbyte-wrapper): see above
                write!(wr, "Connection: keep-alive\r\n\r\n").unwrap();
            }
        });
    }

    #[test]
    fn content_length_short() {
        let body = &[65u8; 100]; // short but not trivial
        assert_requests_parsed_promptly(5, body, Duration::from_millis(200), move |wr| {
            for _ in 0..5 {
                write!(wr, "GET / HTTP/1.1\r\n").unwrap();
                write!(wr, "Host: localhost\r\n").unwrap(); // PATCH(airbyte-wrapper): see above
                write!(wr, "Connection: keep-alive\r\n").unwrap();
                write!(wr, "Content-Length: {}\r\n\r\n", body.len()).unwrap();
                wr.write_all(body).unwrap();
            }
        });
    }

    #[test]
    fn content_length_long() {
        let body = &[65u8; 10000]; // long enough that it won't be buffered
        assert_requests_parsed_promptly(5, body, Duration::from_millis(200), move |wr| {
            for _ in 0..5 {
                write!(wr, "GET / HTTP/1.1\r\n").unwrap();
                write!(wr, "Host: localhost\r\n").unwrap(); // PATCH(airbyte-wrapper): see above
                write!(wr, "Connection: keep-alive\r\n").unwrap();
                write!(wr, "Content-Length: {}\r\n\r\n", body.len()).unwrap();
                wr.write_all(body).unwrap();
            }
        });
    }

    #[test]
    fn chunked() {
        let body = &[65u8; 10000];
        assert_requests_parsed_promptly(5, body, Duration::from_millis(200), move |wr| {
            for _ in 0..5 {
                write!(wr, "GET / HTTP/1.1\r\n").unwrap();
                write!(wr, "Host: localhost\r\n").unwrap(); // PATCH(airbyte-wrapper): see above
                write!(wr, "Connection: keep-alive\r\n").unwrap();
                write!(wr, "Transfer-Encoding: chunked\r\n\r\n").unwrap();
                encode_chunked(&mut &body[..], wr);
            }
        });
    }
}

/// PATCH(airbyte-wrapper): replaces upstream's `prompt_responses`, which checked that an answer is
/// sent before the request body has arrived: upstream handed a request on once its head was read,
/// so a handler could answer (there, refuse with 400) while the body still trickled in. The fork
/// reads every request whole on its connection's thread before handing it on (PATCHES.md,
/// `src/client.rs`: "A connection's requests are read whole, head and then body, ... and only then
/// handed on"), so that a stalled upload holds no worker; an answer before the body is no longer
/// possible. These tests check, for each way of framing a body upstream's tests used, what the
/// fork promises instead:
///
/// 1. a stalled body holds only its own connection: another client is served meanwhile, promptly;
/// 2. a request is not handed on while any byte of its body is missing;
/// 3. once the last byte arrives, the request is handed on with its whole body, and answered,
///    promptly.
///
/// "Promptly" is upstream's bound, 200 ms, for each wait. The body is upstream's in kind (a run
/// of `A`s, here 100 000 of them, more than one read) but sent at once save its last byte, then
/// held back: upstream's body trickled for 100 s, which these tests would have to wait out.
mod prompt_responses {
    use super::*;
    use std::time::Instant;

    const PROMPTLY: Duration = Duration::from_millis(200);

    fn body() -> Vec<u8> {
        vec![65u8; 100_000]
    }

    /// Sends `head`, then `framed` (the body as framed on the wire) but its last byte; checks 1 to
    /// 3 above; `body` is what the request must carry. With `expects_continue`, the client waits
    /// for `100 Continue` before sending the body, and it must come promptly too.
    fn assert_answered_once_body_is_complete(
        head: &str,
        framed: &[u8],
        body: &[u8],
        expects_continue: bool,
    ) {
        let server = Server::http("0.0.0.0:0").unwrap();
        let addr = server.server_addr().to_ip().unwrap();
        let mut uploader = TcpStream::connect(addr).unwrap();
        uploader.set_read_timeout(Some(PROMPTLY)).unwrap();
        uploader.write_all(head.as_bytes()).unwrap();
        if expects_continue {
            let mut interim = [0u8; 25];
            uploader
                .read_exact(&mut interim)
                .expect("100 Continue was not sent promptly");
            assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let (most, last) = framed.split_at(framed.len() - 1);
        uploader.write_all(most).unwrap();

        // 1. Another connection is served while the body stalls.
        let mut other = TcpStream::connect(addr).unwrap();
        other.set_read_timeout(Some(PROMPTLY)).unwrap();
        write!(
            other,
            "GET /other HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let req = server
            .recv_timeout(PROMPTLY)
            .unwrap()
            .expect("another connection was not served promptly while a body stalled");
        assert_eq!(
            req.url(),
            "/other",
            "handed on before its body was complete"
        );
        req.respond(Response::from_string("other")).unwrap();
        let mut answer = String::new();
        other
            .read_to_string(&mut answer)
            .expect("the other connection was not answered promptly");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nother"), "{answer}");

        // 2. Not handed on while its last byte is missing.
        if let Some(req) = server.recv_timeout(PROMPTLY).unwrap() {
            panic!("{req:?} was handed on before its body was complete");
        }

        // 3. Handed on whole, and answered, once the last byte is there.
        uploader.write_all(last).unwrap();
        let mut req = server
            .recv_timeout(PROMPTLY)
            .unwrap()
            .expect("the request was not handed on promptly once its body was complete");
        assert_eq!(req.url(), "/upload");
        let mut received = Vec::new();
        req.as_reader().read_to_end(&mut received).unwrap();
        assert_eq!(received.len(), body.len());
        assert!(received == body, "the body was not received as sent");
        req.respond(Response::empty(200)).unwrap();
        let answered = Instant::now();
        let mut status = [0u8; 15];
        uploader
            .read_exact(&mut status)
            .expect("the answer was not sent promptly");
        assert_eq!(&status, b"HTTP/1.1 200 OK", "{:?}", answered.elapsed());
    }

    #[test]
    fn content_length_http11() {
        let body = body();
        let head = format!(
            "GET /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        assert_answered_once_body_is_complete(&head, &body, &body, false);
    }

    #[test]
    fn content_length_http10() {
        let body = body();
        // HTTP/1.0 has no Host requirement.
        let head = format!(
            "GET /upload HTTP/1.0\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        assert_answered_once_body_is_complete(&head, &body, &body, false);
    }

    /// Upstream's `expect_continue` sent `Expect: 100 continue` (a space, not `100-continue`), an
    /// expectation the fork refuses, see `expect_continue` below; this one sends the real thing.
    #[test]
    fn expect_100_continue() {
        let body = body();
        let head = format!(
            "GET /upload HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        assert_answered_once_body_is_complete(&head, &body, &body, true);
    }

    #[test]
    fn chunked() {
        let body = body();
        let mut framed = Vec::new();
        encode_chunked(&mut &body[..], &mut framed);
        let head = "GET /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_answered_once_body_is_complete(head, &framed, &body, false);
    }

    /// Upstream's request as it was (without the Host it lacked): `Expect: 100 continue` with a
    /// space is not the `100-continue` expectation, and the fork refuses any other with 417
    /// before the body (PATCHES.md, `src/framing.rs`: "`Expect` other than `100-continue`
    /// refused"; RFC 9110 §10.1.1). So the answer still comes before the body, as upstream's test
    /// asserted; this asserts that it is that 417, that it closes the connection, and that the
    /// request never reaches `recv()`.
    #[test]
    fn expect_continue() {
        let server = Server::http("0.0.0.0:0").unwrap();
        let mut client = TcpStream::connect(server.server_addr().to_ip().unwrap()).unwrap();
        client.set_read_timeout(Some(PROMPTLY)).unwrap();
        write!(client, "GET / HTTP/1.1\r\n").unwrap();
        write!(client, "Host: localhost\r\n").unwrap();
        write!(client, "Expect: 100 continue\r\n").unwrap();
        write!(client, "Content-Length: {}\r\n\r\n", 1_000_000).unwrap();
        client.write_all(&[65u8; 1000]).unwrap();

        let mut answer = String::new();
        client
            .read_to_string(&mut answer)
            .expect("the refusal was not sent promptly, or the connection not closed");
        client.shutdown(Shutdown::Both).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 417 Expectation Failed\r\n"),
            "{answer}"
        );
        assert!(answer.contains("\r\nConnection: close\r\n"), "{answer}");
        assert!(server.recv_timeout(PROMPTLY).unwrap().is_none());
    }
}
