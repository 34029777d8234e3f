//! Configuration: environment variables, read once at start-up into a [`Config`].
//!
//! Each variable is defined once, as a [`Variable`]: its name, its default, what it means and
//! what it accepts. The parser reads that definition (a default is parsed like a set value, so the
//! two cannot disagree), and so do `--help` and the test that holds the README's table to it.
//! Parsing takes an injected lookup function rather than reading the process environment, so tests
//! can check every rule without touching global state. A bad value is an error that names the
//! variable and what was expected; `main` turns it into exit code 2.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::CertificateDer;
use uuid::Uuid;

/// One environment variable, all there is to know about it in one place.
pub struct Variable {
    pub name: &'static str,
    /// The value used when it is unset, read like a set one; `None` when unset means something
    /// else, which [`Variable::unset`] says.
    pub default: Option<&'static str>,
    /// What leaving it unset means, when it has no default value.
    pub unset: &'static str,
    /// What it is for, as `--help` prints it.
    pub meaning: &'static str,
    pub accepts: Accepts,
}

/// What a variable's value may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepts {
    /// An `http://` or `https://` URL.
    BaseUrl,
    Uuid,
    /// An IP address and a port.
    Address,
    /// A whole number within bounds.
    Number {
        min: u64,
        max: u64,
    },
    /// Whole seconds, at least `min` (0 where "none" makes sense: no caching, no grace).
    Seconds {
        min: u64,
    },
    /// Any text.
    Text,
    /// A credential: any text, never printed back.
    Secret,
    /// The path of a PEM file of CA certificates, read and checked at start-up.
    CaFile,
    /// One of a fixed set of words.
    OneOf(&'static [&'static str]),
}

impl Accepts {
    /// What is expected, for error messages.
    fn expected(self) -> String {
        match self {
            Accepts::BaseUrl => {
                "an http:// or https:// URL with a host, without query or fragment".into()
            }
            Accepts::Uuid => "a UUID".into(),
            Accepts::Address => "an IP address and port, such as 0.0.0.0:8080".into(),
            Accepts::Number { min, max: u64::MAX } => format!("a whole number, {min} or more"),
            Accepts::Number { min, max } => format!("a whole number from {min} to {max}"),
            Accepts::Seconds { min } => format!("a whole number of seconds, {min} or more"),
            Accepts::Text | Accepts::Secret => "any text".into(),
            Accepts::CaFile => "a readable PEM file of one or more CA certificates".into(),
            Accepts::OneOf(words) => format!("one of {}", words.join(", ")),
        }
    }
}

impl Variable {
    /// The default as `--help` and the README show it.
    pub fn shown_default(&self) -> &'static str {
        self.default.unwrap_or(self.unset)
    }
}

const fn variable(
    name: &'static str,
    default: &'static str,
    accepts: Accepts,
    meaning: &'static str,
) -> Variable {
    Variable {
        name,
        default: Some(default),
        unset: "",
        meaning,
        accepts,
    }
}

const fn optional(
    name: &'static str,
    unset: &'static str,
    accepts: Accepts,
    meaning: &'static str,
) -> Variable {
    Variable {
        name,
        default: None,
        unset,
        meaning,
        accepts,
    }
}

const fn seconds(min: u64) -> Accepts {
    Accepts::Seconds { min }
}

const fn at_least_one() -> Accepts {
    Accepts::Number {
        min: 1,
        max: u64::MAX,
    }
}

pub const AIRBYTE_BASE_URL: Variable = variable(
    "AIRBYTE_BASE_URL",
    "http://localhost:8000/api/v1",
    Accepts::BaseUrl,
    "Airbyte's API base URL (http or https): the Config API (/api/v1) or the public API (/api/public/v1, https://api.airbyte.com/v1)",
);
pub const AIRBYTE_API: Variable = optional(
    "AIRBYTE_API",
    "(from AIRBYTE_BASE_URL: public for a path ending in /api/public/v1 or the host api.airbyte.com, else config)",
    Accepts::OneOf(&["config", "public"]),
    "which of Airbyte's APIs AIRBYTE_BASE_URL is",
);
pub const AIRBYTE_CONFIG_API_URL: Variable = optional(
    "AIRBYTE_CONFIG_API_URL",
    "(with the public API: /api/v1 beside /api/public/v1; https://cloud.airbyte.com/api/v1 for api.airbyte.com)",
    Accepts::BaseUrl,
    "the Config API used for what the public API cannot do (checks, previews, specs, schema diffs)",
);
pub const AIRBYTE_CA_FILE: Variable = optional(
    "AIRBYTE_CA_FILE",
    "(none: the compiled-in web PKI roots only)",
    Accepts::CaFile,
    "PEM file of CA certificates trusted for an https:// Airbyte, besides the web PKI roots",
);
pub const AIRBYTE_WORKSPACE_ID: Variable = optional(
    "AIRBYTE_WORKSPACE_ID",
    "(first workspace Airbyte lists)",
    Accepts::Uuid,
    "workspace to create sources and destinations in",
);
pub const LISTEN_ADDR: Variable = variable(
    "LISTEN_ADDR",
    "127.0.0.1:8080",
    Accepts::Address,
    "address and port to listen on (port 0 picks a free one)",
);
pub const WORKERS: Variable = variable(
    "WORKERS",
    "8",
    Accepts::Number { min: 1, max: 1024 },
    "requests that call Airbyte handled at once (1-1024); more wait for a slot",
);
pub const AIRBYTE_CLIENT_ID: Variable = optional(
    "AIRBYTE_CLIENT_ID",
    "(none)",
    Accepts::Text,
    "with AIRBYTE_CLIENT_SECRET: exchanged at /applications/token for bearer tokens",
);
pub const AIRBYTE_CLIENT_SECRET: Variable = optional(
    "AIRBYTE_CLIENT_SECRET",
    "(none)",
    Accepts::Secret,
    "see AIRBYTE_CLIENT_ID",
);
pub const AIRBYTE_API_TOKEN: Variable = optional(
    "AIRBYTE_API_TOKEN",
    "(none)",
    Accepts::Secret,
    "a fixed bearer token for Airbyte",
);
pub const AIRBYTE_USERNAME: Variable = optional(
    "AIRBYTE_USERNAME",
    "(none)",
    Accepts::Text,
    "with AIRBYTE_PASSWORD: HTTP basic auth for Airbyte (older installs)",
);
pub const AIRBYTE_PASSWORD: Variable = optional(
    "AIRBYTE_PASSWORD",
    "(none)",
    Accepts::Secret,
    "see AIRBYTE_USERNAME",
);
pub const API_TOKEN: Variable = optional(
    "API_TOKEN",
    "(none: no inbound auth)",
    Accepts::Secret,
    "clients must send 'Authorization: Bearer <token>' (all routes but /healthz, /readyz)",
);
pub const IDEMPOTENCY_TTL_SECS: Variable = variable(
    "IDEMPOTENCY_TTL_SECS",
    "86400",
    seconds(1),
    "how long an Idempotency-Key's answer is replayed",
);
pub const IDEMPOTENCY_MAX_KEYS: Variable = variable(
    "IDEMPOTENCY_MAX_KEYS",
    "10000",
    at_least_one(),
    "most Idempotency-Keys remembered (oldest out first)",
);
pub const SHUTDOWN_GRACE_SECS: Variable = variable(
    "SHUTDOWN_GRACE_SECS",
    "20",
    seconds(0),
    "on SIGTERM/SIGINT, how long in-flight requests may take to finish",
);
pub const AIRBYTE_TIMEOUT_SECS: Variable = variable(
    "AIRBYTE_TIMEOUT_SECS",
    "30",
    seconds(1),
    "timeout for each Airbyte call, in seconds",
);
pub const AIRBYTE_DISCOVER_TIMEOUT_SECS: Variable = variable(
    "AIRBYTE_DISCOVER_TIMEOUT_SECS",
    "600",
    seconds(1),
    "timeout for Airbyte schema discovery and checks, in seconds",
);
pub const DEFINITIONS_TTL_SECS: Variable = variable(
    "DEFINITIONS_TTL_SECS",
    "300",
    seconds(0),
    "how long the workspace id and connector definitions are cached (0: not at all)",
);
pub const MAX_BODY_BYTES: Variable = variable(
    "MAX_BODY_BYTES",
    "1048576",
    at_least_one(),
    "largest request body accepted, in bytes",
);
pub const CLIENT_TIMEOUT_SECS: Variable = variable(
    "CLIENT_TIMEOUT_SECS",
    "15",
    seconds(1),
    "client socket timeout; idle connections close after it, a request's head and then its body must arrive within it",
);
pub const MAX_CONNECTIONS: Variable = variable(
    "MAX_CONNECTIONS",
    "1024",
    at_least_one(),
    "client connections served at once; more are answered 503",
);
pub const MAX_WAIT_SECS: Variable = variable(
    "MAX_WAIT_SECS",
    "300",
    Accepts::Number { min: 1, max: 3600 },
    "longest ?wait= a client may ask for on a job, in seconds (1-3600); also its default",
);
pub const MAX_LOG_BYTES: Variable = variable(
    "MAX_LOG_BYTES",
    "1048576",
    at_least_one(),
    "most bytes of an attempt's log answered (its last lines)",
);
pub const RUST_LOG: Variable = variable(
    "RUST_LOG",
    "info",
    Accepts::Text,
    "log filter (error, warn, info, debug, trace)",
);

/// Every variable the service reads, in the order `--help` lists them.
pub const VARIABLES: &[&Variable] = &[
    &AIRBYTE_BASE_URL,
    &AIRBYTE_API,
    &AIRBYTE_CONFIG_API_URL,
    &AIRBYTE_CA_FILE,
    &AIRBYTE_WORKSPACE_ID,
    &LISTEN_ADDR,
    &WORKERS,
    &AIRBYTE_CLIENT_ID,
    &AIRBYTE_CLIENT_SECRET,
    &AIRBYTE_API_TOKEN,
    &AIRBYTE_USERNAME,
    &AIRBYTE_PASSWORD,
    &API_TOKEN,
    &IDEMPOTENCY_TTL_SECS,
    &IDEMPOTENCY_MAX_KEYS,
    &SHUTDOWN_GRACE_SECS,
    &AIRBYTE_TIMEOUT_SECS,
    &AIRBYTE_DISCOVER_TIMEOUT_SECS,
    &DEFINITIONS_TTL_SECS,
    &MAX_BODY_BYTES,
    &CLIENT_TIMEOUT_SECS,
    &MAX_CONNECTIONS,
    &MAX_WAIT_SECS,
    &MAX_LOG_BYTES,
    &RUST_LOG,
];

/// The service's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Airbyte's API base URL without a trailing slash, e.g. `http://localhost:8000/api/v1`.
    pub airbyte_base_url: String,
    /// Which of Airbyte's APIs `airbyte_base_url` is.
    pub airbyte_api: AirbyteApi,
    /// With the public API, the Config API used for what the public API cannot do; `None` with
    /// the Config API.
    pub config_api_url: Option<String>,
    /// The CA certificates of `AIRBYTE_CA_FILE`, trusted besides the web PKI roots (none: unset).
    pub airbyte_ca: CaCertificates,
    /// Workspace to use; `None` means the first one Airbyte lists.
    pub workspace_id: Option<Uuid>,
    pub listen_addr: SocketAddr,
    pub workers: usize,
    pub airbyte_timeout: Duration,
    pub discover_timeout: Duration,
    pub definitions_ttl: Duration,
    pub max_body_bytes: usize,
    /// Timeout of each read and write on a client socket, and the most a request head or body
    /// may take.
    pub client_timeout: Duration,
    pub max_connections: usize,
    /// How the service authenticates to Airbyte.
    pub airbyte_auth: AirbyteAuth,
    /// The bearer token clients must present; `None` for no inbound authentication.
    pub api_token: Option<Secret>,
    pub shutdown_grace: Duration,
    pub idempotency_ttl: Duration,
    pub idempotency_max_keys: usize,
    /// The longest (and default) `?wait=` on a job.
    pub max_wait: Duration,
    /// Most bytes of an attempt's log answered.
    pub max_log_bytes: usize,
    /// The log filter, as `env_logger` understands it.
    pub log_filter: String,
}

/// A credential: printed as `[redacted]` by `Debug`, so a logged `Config` shows none.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// CA certificates (DER) from `AIRBYTE_CA_FILE`, each checked to be one rustls can trust.
/// `Debug` counts them rather than printing them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CaCertificates(pub Vec<CertificateDer<'static>>);

impl fmt::Debug for CaCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} CA certificates", self.0.len())
    }
}

/// Which of Airbyte's two APIs the service speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AirbyteApi {
    /// The Config API (`/api/v1`), which Airbyte calls deprecated for external use.
    Config,
    /// The public API (`/api/public/v1` on a self-managed install, `https://api.airbyte.com/v1`
    /// on Airbyte Cloud), the one Airbyte supports and versions.
    Public,
}

impl AirbyteApi {
    /// The guess from the base URL: a path ending in `/api/public/v1`, or the host
    /// `api.airbyte.com`, is the public API.
    pub fn of_url(base_url: &str) -> AirbyteApi {
        let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
        let path = rest.split_once('/').map_or("", |(_, p)| p);
        if Self::is_cloud(base_url) || path.trim_end_matches('/').ends_with("api/public/v1") {
            AirbyteApi::Public
        } else {
            AirbyteApi::Config
        }
    }

    /// The Config API beside a public API at `public_url`: `/api/v1` in place of
    /// `/api/public/v1` on a self-managed install, Cloud's for `api.airbyte.com`.
    pub fn config_api_beside(public_url: &str) -> String {
        if let Some(root) = public_url.strip_suffix("/api/public/v1") {
            return format!("{root}/api/v1");
        }
        if Self::is_cloud(public_url) {
            return "https://cloud.airbyte.com/api/v1".to_string();
        }
        // A public API at another path: the same host's /api/v1, the layout of a self-managed install.
        let (scheme, rest) = public_url.split_once("://").unwrap_or(("http", public_url));
        let host = rest.split('/').next().unwrap_or(rest);
        format!("{scheme}://{host}/api/v1")
    }

    /// Whether `base_url` is Airbyte Cloud's public API.
    pub fn is_cloud(base_url: &str) -> bool {
        let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
        let host = rest.split(['/', ':']).next().unwrap_or(rest);
        host.eq_ignore_ascii_case("api.airbyte.com")
    }

    /// `config` or `public`, as `AIRBYTE_API` takes it.
    pub fn name(self) -> &'static str {
        match self {
            AirbyteApi::Config => "config",
            AirbyteApi::Public => "public",
        }
    }
}

/// How the service authenticates to Airbyte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AirbyteAuth {
    /// Airbyte runs with authentication off.
    None,
    /// `AIRBYTE_CLIENT_ID` + `AIRBYTE_CLIENT_SECRET`, exchanged for short-lived bearer tokens.
    ClientCredentials {
        client_id: String,
        client_secret: Secret,
    },
    /// `AIRBYTE_API_TOKEN`, sent as it is.
    Bearer(Secret),
    /// `AIRBYTE_USERNAME` + `AIRBYTE_PASSWORD` (older installs).
    Basic { username: String, password: Secret },
}

/// A variable whose value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub value: String,
    pub expected: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {}={:?}: expected {}",
            self.variable, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

/// The environment as the parser sees it: a variable's trimmed value, or `None` when it is unset
/// or empty.
struct Env<F: Fn(&str) -> Option<String>>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn set(&self, variable: &Variable) -> Option<String> {
        (self.0)(variable.name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// The value, or the default; `None` when it is unset and has none.
    fn value(&self, variable: &Variable) -> Option<String> {
        self.set(variable)
            .or_else(|| variable.default.map(str::to_string))
    }

    /// The value read as `read` reads it, refused as the variable's [`Accepts`] says.
    fn read<T>(
        &self,
        variable: &'static Variable,
        read: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(value) = self.value(variable) else {
            return Ok(None);
        };
        read(&value).map(Some).ok_or_else(|| ConfigError {
            variable: variable.name,
            // A URL with user info may hold a password: never print it back.
            value: match variable.accepts {
                Accepts::Secret => "(redacted)".to_string(),
                Accepts::BaseUrl if value.contains('@') => "(redacted)".to_string(),
                _ => value.clone(),
            },
            expected: variable.accepts.expected(),
        })
    }

    /// A variable with a default: always has a value.
    fn required<T>(
        &self,
        variable: &'static Variable,
        read: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, ConfigError> {
        Ok(self
            .read(variable, read)?
            .expect("a variable with a default has a value"))
    }

    /// A whole number within the bounds its [`Accepts::Number`] gives.
    fn number(&self, variable: &'static Variable) -> Result<usize, ConfigError> {
        let Accepts::Number { min, max } = variable.accepts else {
            unreachable!("{} is not a number", variable.name)
        };
        self.required(variable, |v| {
            v.parse::<u64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .and_then(|n| usize::try_from(n).ok())
        })
    }

    /// Whole seconds, at least the minimum its [`Accepts::Seconds`] gives.
    fn seconds(&self, variable: &'static Variable) -> Result<Duration, ConfigError> {
        let Accepts::Seconds { min } = variable.accepts else {
            unreachable!("{} is not a duration", variable.name)
        };
        self.required(variable, |v| {
            v.parse::<u64>()
                .ok()
                .filter(|n| *n >= min)
                .map(Duration::from_secs)
        })
    }

    fn secret(&self, variable: &Variable) -> Option<Secret> {
        self.set(variable).map(Secret)
    }

    /// The certificates of the PEM file the variable names; none when it is unset. The error
    /// says what is wrong with the file after what was expected.
    fn ca_file(&self, variable: &'static Variable) -> Result<CaCertificates, ConfigError> {
        let Some(path) = self.set(variable) else {
            return Ok(CaCertificates::default());
        };
        read_ca_file(&path).map_err(|why| ConfigError {
            variable: variable.name,
            expected: format!("{}; {why}", variable.accepts.expected()),
            value: path,
        })
    }
}

/// Reads a PEM file of CA certificates: at least one, each one rustls takes as a trust anchor.
/// Sections other than certificates (a key that came along in a bundle) are skipped.
fn read_ca_file(path: &str) -> Result<CaCertificates, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut certificates = Vec::new();
    for section in CertificateDer::pem_slice_iter(&bytes) {
        let certificate = section.map_err(|e| {
            let why = match e {
                pem::Error::MissingSectionEnd { .. } => "a section has no END line".to_string(),
                pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed".to_string(),
                pem::Error::Base64Decode(_) => "a section is not valid base64".to_string(),
                other => other.to_string(),
            };
            format!("it is not valid PEM: {why}")
        })?;
        // What rustls will make of it when it builds the root store: a trust anchor, or an error
        // (the DER is not an X.509 certificate).
        let number = certificates.len() + 1;
        rustls::RootCertStore::empty()
            .add(certificate.clone())
            .map_err(|_| format!("certificate {number} in it is not a valid X.509 certificate"))?;
        certificates.push(certificate);
    }
    if certificates.is_empty() {
        return Err("it holds no certificate (no '-----BEGIN CERTIFICATE-----' section)".into());
    }
    Ok(CaCertificates(certificates))
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (a variable's value, or `None` when unset).
    /// An empty value counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = Env(lookup);
        let airbyte_base_url = env.required(&AIRBYTE_BASE_URL, parse_base_url)?;
        let airbyte_api = env
            .read(&AIRBYTE_API, |v| match v.to_ascii_lowercase().as_str() {
                "config" => Some(AirbyteApi::Config),
                "public" => Some(AirbyteApi::Public),
                _ => None,
            })?
            .unwrap_or_else(|| AirbyteApi::of_url(&airbyte_base_url));
        let config_api_url = match airbyte_api {
            AirbyteApi::Config => None,
            AirbyteApi::Public => Some(
                env.read(&AIRBYTE_CONFIG_API_URL, parse_base_url)?
                    .unwrap_or_else(|| AirbyteApi::config_api_beside(&airbyte_base_url)),
            ),
        };
        let workspace_id = env.read(&AIRBYTE_WORKSPACE_ID, |v| Uuid::parse_str(v).ok())?;
        if workspace_id.is_none() && AirbyteApi::is_cloud(&airbyte_base_url) {
            // Cloud lists a user's workspaces in no defined order: "the first" would change.
            return Err(ConfigError {
                variable: AIRBYTE_WORKSPACE_ID.name,
                value: String::new(),
                expected: "a workspace id with Airbyte Cloud (api.airbyte.com), which lists workspaces in no defined order; copy it from the workspace's URL in Airbyte Cloud".into(),
            });
        }
        Ok(Config {
            airbyte_base_url,
            airbyte_api,
            config_api_url,
            airbyte_ca: env.ca_file(&AIRBYTE_CA_FILE)?,
            workspace_id,
            listen_addr: env.required(&LISTEN_ADDR, |v| v.parse().ok())?,
            workers: env.number(&WORKERS)?,
            airbyte_timeout: env.seconds(&AIRBYTE_TIMEOUT_SECS)?,
            discover_timeout: env.seconds(&AIRBYTE_DISCOVER_TIMEOUT_SECS)?,
            definitions_ttl: env.seconds(&DEFINITIONS_TTL_SECS)?,
            max_body_bytes: env.number(&MAX_BODY_BYTES)?,
            client_timeout: env.seconds(&CLIENT_TIMEOUT_SECS)?,
            max_connections: env.number(&MAX_CONNECTIONS)?,
            airbyte_auth: airbyte_auth(&env)?,
            api_token: env.secret(&API_TOKEN),
            shutdown_grace: env.seconds(&SHUTDOWN_GRACE_SECS)?,
            idempotency_ttl: env.seconds(&IDEMPOTENCY_TTL_SECS)?,
            idempotency_max_keys: env.number(&IDEMPOTENCY_MAX_KEYS)?,
            max_wait: Duration::from_secs(env.number(&MAX_WAIT_SECS)? as u64),
            max_log_bytes: env.number(&MAX_LOG_BYTES)?,
            log_filter: env.required(&RUST_LOG, |v| Some(v.to_string()))?,
        })
    }
}

/// At most one way to authenticate to Airbyte, each complete. Values are never echoed back.
fn airbyte_auth<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<AirbyteAuth, ConfigError> {
    let conflict = |variable: &Variable, expected: &str| ConfigError {
        variable: variable.name,
        value: "(set)".to_string(),
        expected: expected.to_string(),
    };
    let pair = |a: &Variable, b: &Variable| -> Result<Option<(String, Secret)>, ConfigError> {
        const PAIRED: &str = "to be set together with its pair (see --help)";
        match (env.set(a), env.secret(b)) {
            (Some(x), Some(y)) => Ok(Some((x, y))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(conflict(a, PAIRED)),
            (None, Some(_)) => Err(conflict(b, PAIRED)),
        }
    };
    let client = pair(&AIRBYTE_CLIENT_ID, &AIRBYTE_CLIENT_SECRET)?;
    let basic = pair(&AIRBYTE_USERNAME, &AIRBYTE_PASSWORD)?;
    let token = env.secret(&AIRBYTE_API_TOKEN);
    const ONE: &str = "only one Airbyte authentication: client id and secret, API token, or username and password";
    match (client, token, basic) {
        (None, None, None) => Ok(AirbyteAuth::None),
        (Some((client_id, client_secret)), None, None) => Ok(AirbyteAuth::ClientCredentials {
            client_id,
            client_secret,
        }),
        (None, Some(token), None) => Ok(AirbyteAuth::Bearer(token)),
        (None, None, Some((username, password))) => Ok(AirbyteAuth::Basic { username, password }),
        (Some(_), _, _) => Err(conflict(&AIRBYTE_CLIENT_ID, ONE)),
        (None, Some(_), Some(_)) => Err(conflict(&AIRBYTE_API_TOKEN, ONE)),
    }
}

/// Accepts `http(s)://host[:port][/path]`, returns it without a trailing slash.
fn parse_base_url(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let host = rest.split('/').next()?;
    let valid = !host.is_empty()
        && !url.contains(['?', '#', ' '])
        && !host.contains('@')
        && url.parse::<ureq::http::Uri>().is_ok();
    valid.then(|| url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.airbyte_base_url, "http://localhost:8000/api/v1");
        assert_eq!(c.workspace_id, None);
        assert_eq!(c.listen_addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.workers, 8);
        assert_eq!(c.airbyte_timeout, Duration::from_secs(30));
        assert_eq!(c.discover_timeout, Duration::from_secs(600));
        assert_eq!(c.definitions_ttl, Duration::from_secs(300));
        assert_eq!(c.max_body_bytes, 1 << 20);
        assert_eq!(c.client_timeout, Duration::from_secs(15));
        assert_eq!(c.max_connections, 1024);
        assert_eq!(c.airbyte_auth, AirbyteAuth::None);
        assert_eq!(c.api_token, None);
        assert_eq!(c.shutdown_grace, Duration::from_secs(20));
        assert_eq!(c.idempotency_ttl, Duration::from_secs(86400));
        assert_eq!(c.idempotency_max_keys, 10000);
        assert_eq!(c.log_filter, "info");
    }

    #[test]
    fn airbyte_authentication_modes() {
        let auth = |vars: &[(&str, &str)]| config(vars).map(|c| c.airbyte_auth);
        assert_eq!(
            auth(&[("AIRBYTE_CLIENT_ID", "id"), ("AIRBYTE_CLIENT_SECRET", "s")]).unwrap(),
            AirbyteAuth::ClientCredentials {
                client_id: "id".into(),
                client_secret: Secret::new("s")
            }
        );
        assert_eq!(
            auth(&[("AIRBYTE_API_TOKEN", "t")]).unwrap(),
            AirbyteAuth::Bearer(Secret::new("t"))
        );
        assert_eq!(
            auth(&[("AIRBYTE_USERNAME", "u"), ("AIRBYTE_PASSWORD", "p")]).unwrap(),
            AirbyteAuth::Basic {
                username: "u".into(),
                password: Secret::new("p")
            }
        );
        for (vars, variable) in [
            (&[("AIRBYTE_CLIENT_ID", "id")][..], "AIRBYTE_CLIENT_ID"),
            (&[("AIRBYTE_PASSWORD", "p")][..], "AIRBYTE_PASSWORD"),
            (
                &[
                    ("AIRBYTE_API_TOKEN", "t"),
                    ("AIRBYTE_USERNAME", "u"),
                    ("AIRBYTE_PASSWORD", "p"),
                ][..],
                "AIRBYTE_API_TOKEN",
            ),
            (
                &[
                    ("AIRBYTE_API_TOKEN", "t"),
                    ("AIRBYTE_CLIENT_ID", "i"),
                    ("AIRBYTE_CLIENT_SECRET", "s"),
                ][..],
                "AIRBYTE_CLIENT_ID",
            ),
        ] {
            let err = auth(vars).unwrap_err();
            assert_eq!(err.variable, variable);
            assert_eq!(err.value, "(set)", "credentials are not echoed");
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let c = config(&[("AIRBYTE_API_TOKEN", "tok-123"), ("API_TOKEN", "in-456")]).unwrap();
        let printed = format!("{c:?}");
        assert!(
            !printed.contains("tok-123") && !printed.contains("in-456"),
            "{printed}"
        );
    }

    #[test]
    fn every_documented_variable_is_read() {
        let c = config(&[
            ("AIRBYTE_BASE_URL", "https://airbyte.example.com/api/v1/"),
            (
                "AIRBYTE_WORKSPACE_ID",
                "9f0e2c6e-4b59-4a5e-8a4e-3f2b1c0d9e8f",
            ),
            ("LISTEN_ADDR", "0.0.0.0:0"),
            ("WORKERS", "2"),
            ("AIRBYTE_TIMEOUT_SECS", "5"),
            ("AIRBYTE_DISCOVER_TIMEOUT_SECS", "60"),
            ("DEFINITIONS_TTL_SECS", "0"),
            ("MAX_BODY_BYTES", "1000"),
            ("CLIENT_TIMEOUT_SECS", "3"),
            ("MAX_CONNECTIONS", "20"),
            ("MAX_WAIT_SECS", "60"),
            ("MAX_LOG_BYTES", "4096"),
            ("RUST_LOG", "debug"),
        ])
        .unwrap();
        assert_eq!(c.airbyte_base_url, "https://airbyte.example.com/api/v1");
        assert_eq!(
            c.workspace_id.unwrap().to_string(),
            "9f0e2c6e-4b59-4a5e-8a4e-3f2b1c0d9e8f"
        );
        assert_eq!(c.listen_addr.port(), 0);
        assert_eq!(c.workers, 2);
        assert_eq!(c.airbyte_timeout, Duration::from_secs(5));
        assert_eq!(c.discover_timeout, Duration::from_secs(60));
        assert_eq!(c.definitions_ttl, Duration::ZERO);
        assert_eq!(c.max_body_bytes, 1000);
        assert_eq!(c.client_timeout, Duration::from_secs(3));
        assert_eq!(c.max_connections, 20);
        assert_eq!(c.max_wait, Duration::from_secs(60));
        assert_eq!(c.max_log_bytes, 4096);
        assert_eq!(c.log_filter, "debug");
        assert_eq!(c.airbyte_api, AirbyteApi::Config);
        assert_eq!(c.config_api_url, None);
        assert_eq!(VARIABLES.len(), 25);
        for variable in VARIABLES {
            assert!(
                variable.default.is_some() == variable.unset.is_empty(),
                "{}: a default value, or what unset means",
                variable.name
            );
        }
    }

    #[test]
    fn the_api_is_guessed_from_the_base_url_or_set() {
        let api = |vars: &[(&str, &str)]| {
            let c = config(vars).unwrap();
            (c.airbyte_api, c.config_api_url)
        };
        assert_eq!(api(&[]), (AirbyteApi::Config, None));
        assert_eq!(
            api(&[("AIRBYTE_BASE_URL", "http://airbyte:8000/api/public/v1/")]),
            (
                AirbyteApi::Public,
                Some("http://airbyte:8000/api/v1".to_string())
            )
        );
        let ws = (
            "AIRBYTE_WORKSPACE_ID",
            "9f0e2c6e-4b59-4a5e-8a4e-3f2b1c0d9e8f",
        );
        assert_eq!(
            api(&[("AIRBYTE_BASE_URL", "https://api.airbyte.com/v1"), ws]),
            (
                AirbyteApi::Public,
                Some("https://cloud.airbyte.com/api/v1".to_string())
            )
        );
        assert_eq!(
            api(&[
                ("AIRBYTE_BASE_URL", "https://gw.example.com/airbyte"),
                ("AIRBYTE_API", "public"),
                (
                    "AIRBYTE_CONFIG_API_URL",
                    "https://gw.example.com/airbyte-config/"
                ),
            ]),
            (
                AirbyteApi::Public,
                Some("https://gw.example.com/airbyte-config".to_string())
            )
        );
        assert_eq!(
            api(&[
                ("AIRBYTE_BASE_URL", "http://airbyte:8000/api/public/v1"),
                ("AIRBYTE_API", "config"),
            ]),
            (AirbyteApi::Config, None)
        );
        let e = config(&[("AIRBYTE_API", "rest")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"invalid AIRBYTE_API="rest": expected one of config, public"#
        );
    }

    #[test]
    fn airbyte_cloud_needs_a_workspace_at_start_up() {
        let e = config(&[("AIRBYTE_BASE_URL", "https://api.airbyte.com/v1")]).unwrap_err();
        assert_eq!(e.variable, "AIRBYTE_WORKSPACE_ID");
        assert!(e.to_string().contains("Airbyte Cloud"), "{e}");
    }

    #[test]
    fn the_readme_documents_every_variable() {
        let readme = include_str!("../README.md");
        for variable in VARIABLES {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", variable.name)))
                .unwrap_or_else(|| panic!("README's configuration table lacks {}", variable.name));
            if let Some(default) = variable.default {
                assert!(
                    row.contains(&format!("| `{default}` |")),
                    "README's row for {} does not give the default `{default}`: {row}",
                    variable.name
                );
            }
        }
    }

    /// A file in the temporary directory, removed when dropped.
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn with(contents: &str) -> TempFile {
            let name = format!("airbyte-wrapper-config-{}.pem", Uuid::new_v4());
            let path = std::env::temp_dir().join(name);
            std::fs::write(&path, contents).unwrap();
            TempFile(path)
        }

        fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn ca_pem(name: &str) -> String {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn the_ca_file_holds_one_or_more_certificates() {
        assert_eq!(config(&[]).unwrap().airbyte_ca, CaCertificates::default());
        // A bundle as they come: text before, between and after the sections, and a key that
        // came along, which is skipped.
        let bundle = format!(
            "corporate root\n{}\ncluster CA\n{}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            ca_pem("corporate root"),
            ca_pem("cluster CA")
        );
        let file = TempFile::with(&bundle);
        let c = config(&[("AIRBYTE_CA_FILE", file.path())]).unwrap();
        assert_eq!(c.airbyte_ca.0.len(), 2);
        assert_eq!(format!("{:?}", c.airbyte_ca), "2 CA certificates");
    }

    #[test]
    fn a_ca_file_that_cannot_be_used_says_why() {
        let missing = std::env::temp_dir().join(format!("no-such-{}.pem", Uuid::new_v4()));
        let missing = missing.to_str().unwrap().to_string();
        let empty = TempFile::with("");
        let text = TempFile::with("this is not PEM\n");
        let key_only =
            TempFile::with("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        let unterminated = TempFile::with(&ca_pem("x").replace("-----END CERTIFICATE-----", ""));
        let not_base64 =
            TempFile::with("-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n");
        let not_x509 = TempFile::with(&format!(
            "{}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            ca_pem("x")
        ));
        for (path, why) in [
            (
                missing.as_str(),
                "cannot read it: No such file or directory",
            ),
            (empty.path(), "it holds no certificate"),
            (text.path(), "it holds no certificate"),
            (key_only.path(), "it holds no certificate"),
            (
                unterminated.path(),
                "it is not valid PEM: a section has no END line",
            ),
            (
                not_base64.path(),
                "it is not valid PEM: a section is not valid base64",
            ),
            (
                not_x509.path(),
                "certificate 2 in it is not a valid X.509 certificate",
            ),
        ] {
            let err = config(&[("AIRBYTE_CA_FILE", path)]).unwrap_err();
            assert_eq!(err.variable, "AIRBYTE_CA_FILE");
            let message = err.to_string();
            assert!(
                message.starts_with(&format!(
                    "invalid AIRBYTE_CA_FILE={path:?}: expected a readable PEM file of one or more CA certificates; {why}"
                )),
                "{message}"
            );
        }
    }

    #[test]
    fn a_base_url_with_user_info_is_not_printed_back() {
        let err = config(&[("AIRBYTE_BASE_URL", "http://user:pw@host/api")]).unwrap_err();
        assert_eq!(err.value, "(redacted)");
        assert!(!err.to_string().contains("pw"), "{err}");
    }

    #[test]
    fn every_default_is_a_value_its_variable_accepts() {
        let c = config(&[]).unwrap();
        for variable in VARIABLES.iter().filter(|v| v.default.is_some()) {
            let default = variable.default.unwrap();
            let set = config(&[(variable.name, default)]).unwrap();
            assert_eq!(set, c, "{} set to its default", variable.name);
        }
    }

    #[test]
    fn empty_values_mean_unset() {
        assert_eq!(
            config(&[("AIRBYTE_WORKSPACE_ID", ""), ("WORKERS", " ")]).unwrap(),
            config(&[]).unwrap()
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("AIRBYTE_BASE_URL", "localhost:8000"),
            ("AIRBYTE_BASE_URL", "ftp://x/api/v1"),
            ("AIRBYTE_BASE_URL", "http://"),
            ("AIRBYTE_BASE_URL", "http://user:pw@host/api"),
            ("AIRBYTE_WORKSPACE_ID", "default"),
            ("LISTEN_ADDR", "8080"),
            ("WORKERS", "0"),
            ("WORKERS", "many"),
            ("WORKERS", "5000"),
            ("AIRBYTE_TIMEOUT_SECS", "0"),
            ("AIRBYTE_DISCOVER_TIMEOUT_SECS", "-1"),
            ("DEFINITIONS_TTL_SECS", "5m"),
            ("MAX_BODY_BYTES", "0"),
            ("CLIENT_TIMEOUT_SECS", "0"),
            ("MAX_CONNECTIONS", "0"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(err.variable, var, "{var}={value}");
            assert!(
                err.to_string().starts_with(&format!("invalid {var}=")),
                "{err}"
            );
        }
    }
}
