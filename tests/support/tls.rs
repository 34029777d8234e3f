//! The fake Airbyte over TLS: the in-process [`FakeAirbyte`] behind a TLS terminator on port 0,
//! so every fake behaviour (faults, recorded requests, auth) works the same over `https://`.
//!
//! Certificates come from a [`TestCa`] a test makes (rcgen), never from files in the tree: a test
//! decides what the service trusts by what it writes into `AIRBYTE_CA_FILE`. The terminator is
//! rustls's server side (already in the build through ureq).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection};

use super::FakeAirbyte;

/// A certificate authority made for one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate and its key, as the terminator presents them.
pub struct ServerCertificate {
    chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl TestCa {
    /// A self-signed CA named `name`.
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    /// The CA certificate in PEM, as `AIRBYTE_CA_FILE` takes it.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `names` (host names or IP addresses), valid now.
    pub fn issue(&self, names: &[&str]) -> ServerCertificate {
        self.issue_with(names, |_| {})
    }

    /// The same, but it expired yesterday.
    pub fn issue_expired(&self, names: &[&str]) -> ServerCertificate {
        self.issue_with(names, |params| {
            let now = time::OffsetDateTime::now_utc();
            params.not_before = now - time::Duration::days(30);
            params.not_after = now - time::Duration::days(1);
        })
    }

    fn issue_with(
        &self,
        names: &[&str],
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> ServerCertificate {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "fake Airbyte");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        adjust(&mut params);
        let key = KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        ServerCertificate {
            chain: vec![certificate.der().clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        }
    }
}

/// The fake Airbyte behind TLS; it derefs to the [`FakeAirbyte`] for everything a test drives.
/// Both stop when it is dropped.
pub struct TlsFakeAirbyte {
    fake: FakeAirbyte,
    front: Front,
}

impl TlsFakeAirbyte {
    /// A fake whose certificate `ca` issued for `localhost` and `127.0.0.1`.
    pub fn start(ca: &TestCa) -> TlsFakeAirbyte {
        TlsFakeAirbyte::start_with(ca.issue(&["localhost", "127.0.0.1"]))
    }

    /// A fake presenting `certificate`.
    pub fn start_with(certificate: ServerCertificate) -> TlsFakeAirbyte {
        TlsFakeAirbyte::serve(FakeAirbyte::start(), certificate, 0)
    }

    /// `fake` behind TLS on `port` (0: a free one), presenting `certificate`.
    pub fn serve(fake: FakeAirbyte, certificate: ServerCertificate, port: u16) -> TlsFakeAirbyte {
        let front = Front::start(port, fake.port, certificate);
        TlsFakeAirbyte { fake, front }
    }

    /// The TLS port.
    pub fn tls_port(&self) -> u16 {
        self.front.port
    }

    /// The Config API root over TLS, as `AIRBYTE_BASE_URL` takes it: `localhost`, which the
    /// service resolves without the system and the certificate of [`TlsFakeAirbyte::start`] names.
    pub fn base_url(&self) -> String {
        format!("https://localhost:{}/api/v1", self.front.port)
    }
}

impl Deref for TlsFakeAirbyte {
    type Target = FakeAirbyte;

    fn deref(&self) -> &FakeAirbyte {
        &self.fake
    }
}

/// A TLS terminator on port 0: each connection's handshake is made here, then what the client
/// sends goes to the plain-text upstream port and what comes back is encrypted to the client.
struct Front {
    port: u16,
    stop: Arc<AtomicBool>,
    /// The client connections being relayed, so that dropping the front ends them.
    open: Arc<Mutex<HashMap<usize, TcpStream>>>,
    /// The thread that owns the listener: joined on drop, so that the port is closed then.
    accepting: Option<thread::JoinHandle<()>>,
}

impl Front {
    fn start(port: u16, upstream: u16, certificate: ServerCertificate) -> Front {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certificate.chain, PrivateKeyDer::Pkcs8(certificate.key))
            .expect("a usable server certificate");
        let config = Arc::new(config);
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the TLS front");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(HashMap::new()));
        let (st, registry) = (stop.clone(), open.clone());
        let accepting = thread::spawn(move || {
            for (n, client) in listener.incoming().enumerate() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                if let Ok(clone) = client.try_clone() {
                    lock(&registry).insert(n, clone);
                }
                let (config, registry) = (config.clone(), registry.clone());
                thread::spawn(move || {
                    relay(client, upstream, config);
                    lock(&registry).remove(&n);
                });
            }
        });
        Front {
            port,
            stop,
            open,
            accepting: Some(accepting),
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.join();
        }
        for (_, client) in lock(&self.open).drain() {
            let _ = client.shutdown(Shutdown::Both);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Relays one client connection to the upstream until either side closes or TLS fails (as it
/// does when the client refuses the certificate: its alert ends the connection here).
fn relay(client: TcpStream, upstream: u16, config: Arc<ServerConfig>) {
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let _ = upstream.set_nodelay(true);
    let _ = client.set_nodelay(true);
    let tls = Arc::new(Mutex::new(
        ServerConnection::new(config).expect("a TLS server connection"),
    ));
    let answers = {
        let (tls, mut from, mut to) = (
            tls.clone(),
            upstream.try_clone().unwrap(),
            client.try_clone().unwrap(),
        );
        thread::spawn(move || {
            let mut buf = vec![0; 16 * 1024];
            while let Ok(n @ 1..) = from.read(&mut buf) {
                let mut tls = lock(&tls);
                if tls.writer().write_all(&buf[..n]).is_err() || send(&mut tls, &mut to).is_err() {
                    break;
                }
            }
            // Upstream closed (a fault that hangs up mid-answer, or the fake stopped): so does
            // the client's connection.
            let mut tls = lock(&tls);
            tls.send_close_notify();
            let _ = send(&mut tls, &mut to);
            let _ = to.shutdown(Shutdown::Both);
        })
    };
    let (mut from, mut to) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    let mut raw = vec![0; 16 * 1024];
    while let Ok(n @ 1..) = from.read(&mut raw) {
        let mut plain = Vec::new();
        let failed = {
            let mut tls = lock(&tls);
            let mut input = &raw[..n];
            let mut failed = false;
            while !input.is_empty() && !failed {
                failed = tls.read_tls(&mut input).is_err() || tls.process_new_packets().is_err();
            }
            // Ends in WouldBlock once all that arrived is read; what was read stays in `plain`.
            let _ = tls.reader().read_to_end(&mut plain);
            // Handshake messages, or the alert that says why it failed.
            failed |= send(&mut tls, &mut from).is_err();
            failed
        };
        if to.write_all(&plain).is_err() || failed {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = upstream.shutdown(Shutdown::Both);
    let _ = answers.join();
}

/// Writes what TLS has to send.
fn send(tls: &mut ServerConnection, to: &mut TcpStream) -> std::io::Result<()> {
    while tls.wants_write() {
        tls.write_tls(to)?;
    }
    Ok(())
}

/// A file in the temporary directory, removed when dropped.
pub struct TempFile {
    pub path: PathBuf,
}

impl TempFile {
    /// A new file holding `contents`.
    pub fn with(contents: &str) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("airbyte-wrapper-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&path, contents).unwrap();
        TempFile { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path as an environment variable takes it.
    pub fn env(&self) -> String {
        self.path
            .to_str()
            .expect("a UTF-8 temporary path")
            .to_string()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
