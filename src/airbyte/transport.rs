//! How the Airbyte client reaches Airbyte: ureq's own connectors for proxies and plain TCP, with a
//! resolver, a TLS connector and one connection wrapper of ours, each for a cost or a failure
//! found in ureq's defaults.
//!
//! - [`LoopbackAwareResolver`]: `localhost` without `/etc/hosts` (a scratch container has none),
//!   an IP address without a lookup, and a name's addresses remembered ([`Addresses`]): ureq
//!   resolves the host before every call, even one that reuses a pooled connection, and its
//!   system lookup starts a thread each time.
//! - [`TlsConnector`]: rustls as ureq's own connector uses it, but trusting the web PKI roots
//!   *and* the CAs of `AIRBYTE_CA_FILE`, which ureq's configuration cannot say; and
//!   [`certificate_problem`], which tells a refused certificate from other failures.
//! - [`PooledConnection`]: ureq sends a request's head and its body in two writes, so Airbyte's server is
//!   woken twice for one request and reads it in two pieces; here they leave in one write. And ureq
//!   probes a pooled connection twice between two calls (three system calls each); here once. And
//!   a socket timeout is set only when it changes, so the timeouts ureq gives are made steady.
//!   (`make bench` and `make callgrind` measured these: see the README's "Performance".)

use std::fmt;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConnection, RootCertStore, StreamOwned};
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::time::Duration;
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout,
    TcpConnector, Transport, TransportAdapter,
};

use super::error::CertificateProblem;
use crate::sync::lock;
use crate::text::ends_with_any_case;

/// An agent with `config` that resolves and connects as described above, trusting the web PKI
/// roots and `extra_roots` for `https://`; and the addresses its resolver remembers, to be
/// forgotten when an exchange fails.
pub fn agent(
    config: ureq::config::Config,
    extra_roots: &[CertificateDer<'static>],
) -> (ureq::Agent, Arc<Addresses>) {
    // ureq's DefaultConnector, less SOCKS (not compiled in) and with our TLS for its rustls.
    let connector =
        ().chain(ConnectProxyConnector::default())
            .chain(TcpConnector::default())
            .chain(TlsConnector::new(extra_roots))
            .chain(WrapConnections);
    let addresses = Arc::new(Addresses::default());
    let resolver = LoopbackAwareResolver {
        system: DefaultResolver::default(),
        remembered: addresses.clone(),
    };
    (
        ureq::Agent::with_parts(config, connector, resolver),
        addresses,
    )
}

/// How long a host's addresses are used before it is looked up again: as long as Java keeps them
/// (curl keeps them 60 s). An exchange that fails forgets them at once, so an Airbyte that moved
/// costs one failed call, not this long.
const REMEMBER_FOR: std::time::Duration = std::time::Duration::from_secs(30);

/// The addresses hosts resolved to, each until [`REMEMBER_FOR`] has passed or [`Addresses::forget`]
/// is called. ureq asks its resolver before every call, even one that goes out on a pooled
/// connection; asking the system each time cost a thread and some twenty-five more system calls a call
/// (reading `/etc/hosts` and `/etc/resolv.conf`, then DNS queries: with Kubernetes' `ndots: 5`,
/// one per search domain for a name like `airbyte-server.airbyte.svc`). The hosts are the
/// configured Airbyte URLs' (at most three), so the list stays short.
#[derive(Debug, Default)]
pub struct Addresses(Mutex<Vec<Remembered>>);

#[derive(Debug)]
struct Remembered {
    https: bool,
    /// `host:port` as the URL has it.
    authority: String,
    addresses: ResolvedSocketAddrs,
    until: Instant,
}

impl Addresses {
    fn get(&self, https: bool, authority: &str) -> Option<ResolvedSocketAddrs> {
        let now = Instant::now();
        lock(&self.0)
            .iter()
            .find(|r| r.https == https && r.authority == authority && r.until > now)
            .map(|r| r.addresses.clone())
    }

    fn remember(&self, https: bool, authority: &str, addresses: &ResolvedSocketAddrs) {
        let now = Instant::now();
        let mut all = lock(&self.0);
        all.retain(|r| r.until > now && (r.https, r.authority.as_str()) != (https, authority));
        all.push(Remembered {
            https,
            authority: authority.to_string(),
            addresses: addresses.clone(),
            until: now + REMEMBER_FOR,
        });
    }

    /// Forgets every address: the next call looks its host up again.
    pub fn forget(&self) {
        lock(&self.0).clear();
    }
}

/// Resolves `localhost` and `*.localhost` to loopback without asking the system (RFC 6761), so the
/// default `AIRBYTE_BASE_URL` works in a `scratch` container, which has no `/etc/hosts`, and takes
/// an IP address as it is (ureq's resolver starts a thread per call for it when a timeout is set).
/// Other names go through the system resolver. What a host resolved to is remembered
/// ([`Addresses`]).
#[derive(Debug)]
struct LoopbackAwareResolver {
    system: DefaultResolver,
    remembered: Arc<Addresses>,
}

impl Resolver for LoopbackAwareResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let https = uri.scheme_str() == Some("https");
        let authority = uri.authority().map_or("", |a| a.as_str());
        if let Some(addresses) = self.remembered.get(https, authority) {
            return Ok(addresses);
        }
        let addresses = self.look_up(uri, https, config, timeout)?;
        self.remembered.remember(https, authority, &addresses);
        Ok(addresses)
    }
}

impl LoopbackAwareResolver {
    fn look_up(
        &self,
        uri: &Uri,
        https: bool,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().unwrap_or("").trim_end_matches('.');
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let mut addresses = self.empty();
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            addresses.push(SocketAddr::new(ip, port));
        } else if is_localhost(host) {
            addresses.push(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
            addresses.push(SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
        } else {
            return self.system.resolve(uri, config, timeout);
        }
        Ok(addresses)
    }
}

/// `localhost` or a name below it, in any case.
fn is_localhost(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || ends_with_any_case(host, ".localhost")
}

/// TLS for `https://`, as ureq's own `RustlsConnector` makes it (same provider, protocol versions
/// and buffers), with a root store of ours: the web PKI roots compiled in plus the CA certificates
/// of `AIRBYTE_CA_FILE`. ureq's `RootCerts` is either the web PKI roots or specific certificates,
/// and its web PKI roots are trust anchors rather than certificates, so the two cannot be joined
/// through it. The rustls configuration is built once, here, not on the first call.
struct TlsConnector {
    config: Arc<rustls::ClientConfig>,
}

impl TlsConnector {
    fn new(extra_roots: &[CertificateDer<'static>]) -> TlsConnector {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .expect("ring supports every TLS version rustls has")
            .with_root_certificates(roots(extra_roots))
            .with_no_client_auth();
        TlsConnector {
            config: Arc::new(config),
        }
    }
}

/// The web PKI roots (as ureq's default has them) and `extra`.
fn roots(extra: &[CertificateDer<'static>]) -> RootCertStore {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    // Each was checked when the configuration was read (config.rs): none is ignored.
    roots.add_parsable_certificates(extra.iter().cloned());
    roots
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector").finish_non_exhaustive()
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        // An IPv6 literal comes in brackets, which a server name does not have.
        let host = details.uri.host().unwrap_or("");
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| ureq::Error::Tls("the host is not a valid TLS server name"))?;
        let mut connection = ClientConnection::new(self.config.clone(), name)?;
        let transport: Box<dyn Transport> = Box::new(transport);
        let mut socket = TransportAdapter::new(transport, details.current_time.clone());
        socket.set_timeout(details.timeout);
        // As ureq's own: a failed handshake is an I/O error, a refused certificate one whose
        // inner error is rustls's (certificate_problem reads it there).
        connection.complete_io(&mut socket)?;
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: StreamOwned::new(connection, socket),
        })))
    }
}

/// A TLS connection, read and written as ureq's own TLS transport does.
struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport")
            .field("inner", &self.stream.sock.inner())
            .finish()
    }
}

/// Why Airbyte's certificate was refused, when that is why `err` happened: rustls's verdict, found
/// where ureq puts it (an I/O error from the handshake, or a rustls error). `None` for every other
/// failure, TLS ones included (a protocol mismatch, an alert from the server).
pub(super) fn certificate_problem(err: &ureq::Error) -> Option<CertificateProblem> {
    let tls = match err {
        ureq::Error::Rustls(e) => e,
        ureq::Error::Io(e) => e.get_ref()?.downcast_ref::<rustls::Error>()?,
        _ => return None,
    };
    let rustls::Error::InvalidCertificate(reason) = tls else {
        return None;
    };
    Some(match reason {
        CertificateError::UnknownIssuer => CertificateProblem::UnknownIssuer,
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            CertificateProblem::OtherHost
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            CertificateProblem::Expired
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            CertificateProblem::NotValidYet
        }
        _ => CertificateProblem::Unusable,
    })
}

/// Wraps every connection ureq makes (plain or TLS) in [`PooledConnection`].
#[derive(Debug)]
struct WrapConnections;

impl<In: Transport> Connector<In> for WrapConnections {
    type Out = PooledConnection;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<PooledConnection>, ureq::Error> {
        Ok(chained.map(|inner| PooledConnection {
            inner: Box::new(inner),
            pending: Vec::new(),
            probe_next: false,
        }))
    }
}

/// Output held back at most before it is sent anyway: a request larger than this (a big connector
/// configuration or stream catalog) leaves in pieces of about this size.
const HOLD_AT_MOST: usize = 64 * 1024;

/// A connection that holds back what ureq hands it to send until ureq waits for the answer (or
/// [`HOLD_AT_MOST`] is reached), so that a request's head and body leave in one write. Input passes
/// straight through.
#[derive(Debug)]
struct PooledConnection {
    inner: Box<dyn Transport>,
    /// Output ureq has handed over that is not sent yet.
    pending: Vec<u8>,
    /// Whether ureq has asked [`Transport::is_open`] since the connection was last used.
    probe_next: bool,
}

impl PooledConnection {
    /// Sends what is held back, through the inner connection's output buffer.
    fn flush(&mut self, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = steady(timeout);
        let mut sent = 0;
        while sent < self.pending.len() {
            let output = self.inner.buffers().output();
            let n = output.len().min(self.pending.len() - sent);
            output[..n].copy_from_slice(&self.pending[sent..sent + n]);
            self.inner.transmit_output(n, timeout)?;
            sent += n;
        }
        self.pending.clear();
        Ok(())
    }
}

impl Transport for PooledConnection {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.probe_next = false;
        let output = &self.inner.buffers().output()[..amount];
        self.pending.extend_from_slice(output);
        if self.pending.len() >= HOLD_AT_MOST {
            self.flush(timeout)?;
        }
        Ok(())
    }

    fn maybe_await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.probe_next = false;
        self.flush(timeout)?;
        self.inner.maybe_await_input(steady(timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.probe_next = false;
        self.flush(timeout)?;
        self.inner.await_input(steady(timeout))
    }

    /// ureq asks twice between two calls: when it puts the connection back into its pool, right
    /// after the answer was read, and when it takes it out for the next call. ureq's probe (a read
    /// that must find nothing, in three system calls) is made at the second: it sees all the first
    /// would (bytes after the answer, a closed connection) and what happened in between. A
    /// connection with output still held back was given up half-way through a request: never open.
    fn is_open(&mut self) -> bool {
        if !self.pending.is_empty() {
            return false;
        }
        if std::mem::replace(&mut self.probe_next, true) {
            self.inner.is_open()
        } else {
            true
        }
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

/// ureq's socket timeouts are what remains of the call's budget, and it sets one on the socket
/// (a system call) whenever it differs from the last: before every write and every read, since the
/// remainder is a little smaller each time. Rounded down to a tenth of a second, it stays the same
/// from call to call on a pooled connection. A call may end up to 100 ms before its budget is spent.
fn steady(mut timeout: NextTimeout) -> NextTimeout {
    if let Duration::Exact(after) = timeout.after {
        let tenths = after.as_millis() / 100;
        if tenths > 0 {
            let tenths = u64::try_from(tenths).unwrap_or(u64::MAX / 100);
            timeout.after = Duration::Exact(std::time::Duration::from_millis(tenths * 100));
        }
    }
    timeout
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};
    use ureq::unversioned::transport::LazyBuffers;

    #[test]
    fn localhost_resolves_to_loopback_without_the_system() {
        let resolver = resolver();
        let config = ureq::config::Config::default();
        for (url, port) in [
            ("http://localhost:8000/api", 8000),
            ("https://LOCALHOST./x", 443),
            ("http://airbyte.localhost/", 80),
        ] {
            let uri: Uri = url.parse().unwrap();
            let timeout = NextTimeout::default();
            let found = resolver.resolve(&uri, &config, timeout).unwrap();
            let found: Vec<String> = found.iter().map(|a| a.to_string()).collect();
            assert_eq!(
                found,
                [format!("127.0.0.1:{port}"), format!("[::1]:{port}")],
                "{url}"
            );
        }
        for (url, address) in [
            ("http://10.1.2.3:8001/api/v1", "10.1.2.3:8001"),
            ("http://[fd00::1]/api", "[fd00::1]:80"),
            ("http://[FD00::A]/api", "[fd00::a]:80"),
        ] {
            let found = resolver
                .resolve(&url.parse().unwrap(), &config, NextTimeout::default())
                .unwrap();
            assert_eq!(
                found.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                [address],
                "an IP address as it is"
            );
        }
    }

    fn resolver() -> LoopbackAwareResolver {
        LoopbackAwareResolver {
            system: DefaultResolver::default(),
            remembered: Arc::default(),
        }
    }

    fn addresses(found: &ResolvedSocketAddrs) -> Vec<String> {
        found.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn a_host_s_addresses_are_remembered_until_they_expire_or_are_forgotten() {
        let resolver = resolver();
        let config = ureq::config::Config::default();
        let resolve =
            |url: &str| resolver.resolve(&url.parse().unwrap(), &config, NextTimeout::default());
        // `.invalid` names resolve nowhere (RFC 6761): only a remembered address answers for it.
        let mut moved = resolver.empty();
        moved.push("10.9.8.7:8001".parse().unwrap());
        resolver
            .remembered
            .remember(false, "airbyte.invalid:8001", &moved);
        let found = resolve("http://airbyte.invalid:8001/api/v1/sources/create").unwrap();
        assert_eq!(addresses(&found), ["10.9.8.7:8001"]);
        assert!(
            resolver
                .remembered
                .get(true, "airbyte.invalid:8001")
                .is_none(),
            "https is another host"
        );
        let first = resolve("http://10.1.2.3:8001/api/v1").unwrap();
        assert_eq!(addresses(&first), ["10.1.2.3:8001"]);
        assert_eq!(lock(&resolver.remembered.0).len(), 2, "each host once");
        resolve("http://10.1.2.3:8001/api/v1/health").unwrap();
        assert_eq!(lock(&resolver.remembered.0).len(), 2, "each host once");

        resolver.remembered.forget();
        assert!(resolver
            .remembered
            .get(false, "airbyte.invalid:8001")
            .is_none());
        lock(&resolver.remembered.0).push(Remembered {
            https: false,
            authority: "airbyte.invalid:8001".into(),
            addresses: moved,
            until: Instant::now(),
        });
        assert!(
            resolver
                .remembered
                .get(false, "airbyte.invalid:8001")
                .is_none(),
            "expired"
        );
        resolve("http://10.1.2.3:8001/").unwrap();
        assert_eq!(
            lock(&resolver.remembered.0).len(),
            1,
            "an expired host is dropped when another is remembered"
        );
    }

    #[test]
    fn the_ca_file_s_certificates_are_trusted_besides_the_web_pki_roots() {
        let web_pki = webpki_roots::TLS_SERVER_ROOTS.len();
        assert!(web_pki > 100, "{web_pki}");
        assert_eq!(roots(&[]).len(), web_pki);
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        let ca = params.self_signed(&key).unwrap().der().clone();
        assert_eq!(roots(&[ca]).len(), web_pki + 1);
    }

    #[test]
    fn a_refused_certificate_is_told_from_other_failures() {
        use std::io;
        let handshake =
            |e: rustls::Error| ureq::Error::Io(io::Error::new(io::ErrorKind::InvalidData, e));
        let refused = |e: CertificateError| handshake(rustls::Error::InvalidCertificate(e));
        for (err, problem) in [
            (
                refused(CertificateError::UnknownIssuer),
                CertificateProblem::UnknownIssuer,
            ),
            (
                refused(CertificateError::NotValidForName),
                CertificateProblem::OtherHost,
            ),
            (
                refused(CertificateError::Expired),
                CertificateProblem::Expired,
            ),
            (
                refused(CertificateError::NotValidYet),
                CertificateProblem::NotValidYet,
            ),
            (
                refused(CertificateError::BadSignature),
                CertificateProblem::Unusable,
            ),
            (
                refused(CertificateError::InvalidPurpose),
                CertificateProblem::Unusable,
            ),
            (
                ureq::Error::Rustls(rustls::Error::InvalidCertificate(
                    CertificateError::UnknownIssuer,
                )),
                CertificateProblem::UnknownIssuer,
            ),
        ] {
            assert_eq!(certificate_problem(&err), Some(problem), "{err}");
        }
        for err in [
            handshake(rustls::Error::AlertReceived(
                rustls::AlertDescription::HandshakeFailure,
            )),
            handshake(rustls::Error::NoCertificatesPresented),
            ureq::Error::Io(io::Error::new(io::ErrorKind::ConnectionReset, "reset")),
            ureq::Error::ConnectionFailed,
            ureq::Error::Tls("the host is not a valid TLS server name"),
        ] {
            assert_eq!(certificate_problem(&err), None, "{err}");
        }
    }

    #[test]
    fn timeouts_are_rounded_down_to_a_tenth_of_a_second_and_never_to_zero() {
        let after = |millis: u64| {
            let timeout = NextTimeout {
                after: Duration::Exact(std::time::Duration::from_millis(millis)),
                ..NextTimeout::default()
            };
            match steady(timeout).after {
                Duration::Exact(d) => d.as_millis(),
                Duration::NotHappening => unreachable!(),
            }
        };
        assert_eq!(after(29_999), 29_900);
        assert_eq!(after(29_901), 29_900);
        assert_eq!(after(29_900), 29_900);
        assert_eq!(after(150), 100);
        assert_eq!(after(99), 99, "under a tenth, as it is");
        assert_eq!(after(0), 0);
        let never = steady(NextTimeout::default());
        assert!(matches!(never.after, Duration::NotHappening));
    }

    /// A server that reads one request whole, answers it, and returns the request's body.
    fn answer_one_request() -> (u16, std::thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            loop {
                let text = String::from_utf8_lossy(&got);
                if let Some(end) = text.find("\r\n\r\n") {
                    let length: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (name, value) = l.split_once(':')?;
                            name.eq_ignore_ascii_case("content-length")
                                .then(|| value.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    if got.len() >= end + 4 + length {
                        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                            .unwrap();
                        return got.split_off(end + 4);
                    }
                }
                let mut buf = vec![0; 64 * 1024];
                let n = conn.read(&mut buf).unwrap();
                assert!(n > 0, "closed early");
                got.extend_from_slice(&buf[..n]);
            }
        });
        (port, server)
    }

    /// A server that answers one request per connection and then, with the connection still
    /// open as far as HTTP goes (no `Connection: close`), sends `after` and closes it. Reports each
    /// connection on the channel once it is closed.
    fn one_answer_per_connection(after: &'static [u8]) -> (u16, std::sync::mpsc::Receiver<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (closed, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for (n, conn) in listener.incoming().enumerate() {
                let mut conn = conn.unwrap();
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
                    let read = conn.read(&mut buf).unwrap();
                    got.extend_from_slice(&buf[..read]);
                }
                conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .unwrap();
                conn.write_all(after).unwrap();
                drop(conn);
                closed.send(n + 1).unwrap();
            }
        });
        (port, receiver)
    }

    #[test]
    fn a_pooled_connection_closed_or_fouled_by_the_server_is_not_used_again() {
        for after in [&b""[..], b"HTTP/1.1 200 OK\r\n"] {
            let (port, closed) = one_answer_per_connection(after);
            let (agent, _) = agent(ureq::Agent::config_builder().build(), &[]);
            for call in 1..=3 {
                let mut answer = agent
                    .get(format!("http://127.0.0.1:{port}/health"))
                    .call()
                    .unwrap_or_else(|e| panic!("call {call} after {after:?}: {e}"));
                assert_eq!(answer.body_mut().read_to_string().unwrap(), "ok");
                assert_eq!(closed.recv().unwrap(), call, "one connection per call");
            }
        }
    }

    /// A connection that records what it is asked to send, one entry per write.
    #[derive(Debug)]
    struct Recording {
        buffers: LazyBuffers,
        writes: Arc<Mutex<Vec<Vec<u8>>>>,
    }

    impl Transport for Recording {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.buffers
        }
        fn transmit_output(&mut self, amount: usize, _: NextTimeout) -> Result<(), ureq::Error> {
            let sent = self.buffers.output()[..amount].to_vec();
            self.writes.lock().unwrap().push(sent);
            Ok(())
        }
        fn await_input(&mut self, _: NextTimeout) -> Result<bool, ureq::Error> {
            Ok(false)
        }
        fn is_open(&mut self) -> bool {
            true
        }
    }

    fn coalesced(output_size: usize) -> (PooledConnection, Arc<Mutex<Vec<Vec<u8>>>>) {
        let writes = Arc::new(Mutex::new(Vec::new()));
        let inner = Recording {
            buffers: LazyBuffers::new(1024, output_size),
            writes: writes.clone(),
        };
        let connection = PooledConnection {
            inner: Box::new(inner),
            pending: Vec::new(),
            probe_next: false,
        };
        (connection, writes)
    }

    /// Hands `bytes` over the way ureq does: written into the output buffer, then transmitted.
    fn hand_over(connection: &mut PooledConnection, bytes: &[u8]) {
        for piece in bytes.chunks(connection.buffers().output().len()) {
            connection.buffers().output()[..piece.len()].copy_from_slice(piece);
            connection
                .transmit_output(piece.len(), NextTimeout::default())
                .unwrap();
        }
    }

    #[test]
    fn a_request_s_head_and_body_leave_in_one_write_when_the_answer_is_awaited() {
        let (mut connection, writes) = coalesced(128 * 1024);
        hand_over(
            &mut connection,
            b"POST /api HTTP/1.1\r\ncontent-length: 2\r\n\r\n",
        );
        hand_over(&mut connection, b"{}");
        assert!(writes.lock().unwrap().is_empty(), "held back");
        assert!(
            !connection.is_open(),
            "not reusable half-way through a request"
        );

        connection.await_input(NextTimeout::default()).unwrap();
        assert_eq!(
            *writes.lock().unwrap(),
            [b"POST /api HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}".to_vec()]
        );
        assert!(connection.is_open());

        hand_over(&mut connection, b"GET /health HTTP/1.1\r\n\r\n");
        connection
            .maybe_await_input(NextTimeout::default())
            .unwrap();
        assert_eq!(writes.lock().unwrap().len(), 2, "sent before waiting again");
    }

    #[test]
    fn a_large_request_goes_out_in_pieces_the_buffer_holds() {
        let (mut connection, writes) = coalesced(1000);
        let request: Vec<u8> = (0..HOLD_AT_MOST + 2500).map(|i| i as u8).collect();
        hand_over(&mut connection, &request);
        let before_waiting: usize = writes.lock().unwrap().iter().map(Vec::len).sum();
        assert!(before_waiting >= HOLD_AT_MOST, "{before_waiting}");

        connection.await_input(NextTimeout::default()).unwrap();
        let writes = writes.lock().unwrap();
        assert!(writes.iter().all(|w| w.len() <= 1000));
        assert_eq!(writes.concat(), request);
    }

    #[test]
    fn through_ureq_a_large_body_arrives_whole() {
        let body: String = (0..3 * HOLD_AT_MOST + 17)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let (port, server) = answer_one_request();
        let (agent, _) = agent(ureq::Agent::config_builder().build(), &[]);
        let mut answer = agent
            .post(format!("http://127.0.0.1:{port}/api"))
            .send(&body)
            .unwrap();
        assert_eq!(answer.body_mut().read_to_string().unwrap(), "ok");
        assert_eq!(server.join().unwrap(), body.as_bytes());
    }
}
