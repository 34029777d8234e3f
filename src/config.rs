//! Configuration: environment variables, read once at start-up into a [`Config`].
//!
//! Parsing takes an injected lookup function rather than reading the process environment, so tests
//! can check every rule without touching global state. A bad value is an error that names the
//! variable and what was expected; `main` turns it into exit code 2.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use uuid::Uuid;

/// Every variable the service reads: name, default (as shown in `--help`), description.
pub const VARIABLES: &[(&str, &str, &str)] = &[
    (
        "AIRBYTE_BASE_URL",
        "http://localhost:8000/api/v1",
        "Airbyte Config API base URL (http or https)",
    ),
    (
        "AIRBYTE_WORKSPACE_ID",
        "(first workspace Airbyte lists)",
        "workspace to create sources and destinations in",
    ),
    (
        "LISTEN_ADDR",
        "127.0.0.1:8080",
        "address and port to listen on (port 0 picks a free one)",
    ),
    (
        "WORKERS",
        "8",
        "requests that call Airbyte handled at once (1-1024); more wait for a slot",
    ),
    (
        "AIRBYTE_CLIENT_ID",
        "(none)",
        "with AIRBYTE_CLIENT_SECRET: exchanged at /applications/token for bearer tokens",
    ),
    ("AIRBYTE_CLIENT_SECRET", "(none)", "see AIRBYTE_CLIENT_ID"),
    (
        "AIRBYTE_API_TOKEN",
        "(none)",
        "a fixed bearer token for Airbyte",
    ),
    (
        "AIRBYTE_USERNAME",
        "(none)",
        "with AIRBYTE_PASSWORD: HTTP basic auth for Airbyte (older installs)",
    ),
    ("AIRBYTE_PASSWORD", "(none)", "see AIRBYTE_USERNAME"),
    (
        "API_TOKEN",
        "(none: no inbound auth)",
        "clients must send 'Authorization: Bearer <token>' (all routes but /healthz, /readyz)",
    ),
    (
        "IDEMPOTENCY_TTL_SECS",
        "86400",
        "how long an Idempotency-Key's answer is replayed",
    ),
    (
        "IDEMPOTENCY_MAX_KEYS",
        "10000",
        "most Idempotency-Keys remembered (oldest out first)",
    ),
    (
        "SHUTDOWN_GRACE_SECS",
        "20",
        "on SIGTERM/SIGINT, how long in-flight requests may take to finish",
    ),
    (
        "AIRBYTE_TIMEOUT_SECS",
        "30",
        "timeout for each Airbyte call, in seconds",
    ),
    (
        "AIRBYTE_DISCOVER_TIMEOUT_SECS",
        "600",
        "timeout for Airbyte schema discovery, in seconds",
    ),
    (
        "DEFINITIONS_TTL_SECS",
        "300",
        "how long the workspace id and connector definitions are cached",
    ),
    (
        "MAX_BODY_BYTES",
        "1048576",
        "largest request body accepted, in bytes",
    ),
    (
        "CLIENT_TIMEOUT_SECS",
        "15",
        "client socket timeout; idle connections close after it, a request's head and then its body must arrive within it",
    ),
    (
        "MAX_CONNECTIONS",
        "1024",
        "client connections served at once; more are answered 503",
    ),
    (
        "RUST_LOG",
        "info",
        "log filter (error, warn, info, debug, trace)",
    ),
];

/// The service's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Airbyte Config API base URL without a trailing slash, e.g. `http://localhost:8000/api/v1`.
    pub airbyte_base_url: String,
    /// Workspace to use; `None` means the first one Airbyte lists.
    pub workspace_id: Option<Uuid>,
    pub listen_addr: SocketAddr,
    pub workers: usize,
    pub airbyte_timeout: Duration,
    pub discover_timeout: Duration,
    pub definitions_ttl: Duration,
    pub max_body_bytes: usize,
    /// Timeout of each read and write on a client socket, and the most a request body may take.
    pub client_timeout: Duration,
    pub max_connections: usize,
    /// How the service authenticates to Airbyte.
    pub airbyte_auth: AirbyteAuth,
    /// The bearer token clients must present; `None` for no inbound authentication.
    pub api_token: Option<Secret>,
    pub shutdown_grace: Duration,
    pub idempotency_ttl: Duration,
    pub idempotency_max_keys: usize,
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
    pub expected: &'static str,
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

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (a variable's value, or `None` when unset).
    /// An empty value counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };

        let airbyte_base_url = match get("AIRBYTE_BASE_URL") {
            None => "http://localhost:8000/api/v1".to_string(),
            Some(url) => parse_base_url(&url).ok_or_else(|| ConfigError {
                variable: "AIRBYTE_BASE_URL",
                // A URL with user info may hold a password: never print it back.
                value: if url.contains('@') {
                    "(redacted)".to_string()
                } else {
                    url.clone()
                },
                expected: "an http:// or https:// URL with a host, without query or fragment",
            })?,
        };
        let workspace_id = match get("AIRBYTE_WORKSPACE_ID") {
            None => None,
            Some(v) => Some(Uuid::parse_str(&v).map_err(|_| ConfigError {
                variable: "AIRBYTE_WORKSPACE_ID",
                value: v,
                expected: "a UUID",
            })?),
        };
        let listen_addr = parse(
            &get,
            "LISTEN_ADDR",
            "127.0.0.1:8080",
            "an IP address and port, such as 0.0.0.0:8080",
        )?;
        let workers: usize = parse(&get, "WORKERS", "8", "a whole number from 1 to 1024")?;
        if !(1..=1024).contains(&workers) {
            return Err(ConfigError {
                variable: "WORKERS",
                value: workers.to_string(),
                expected: "a whole number from 1 to 1024",
            });
        }
        Ok(Config {
            airbyte_base_url,
            workspace_id,
            listen_addr,
            workers,
            airbyte_timeout: seconds(&get, "AIRBYTE_TIMEOUT_SECS", "30")?,
            discover_timeout: seconds(&get, "AIRBYTE_DISCOVER_TIMEOUT_SECS", "600")?,
            definitions_ttl: whole_seconds(&get, "DEFINITIONS_TTL_SECS", "300")?,
            max_body_bytes: positive(&get, "MAX_BODY_BYTES", "1048576")?,
            client_timeout: seconds(&get, "CLIENT_TIMEOUT_SECS", "15")?,
            max_connections: positive(&get, "MAX_CONNECTIONS", "1024")?,
            airbyte_auth: airbyte_auth(&get)?,
            api_token: get("API_TOKEN").map(Secret),
            shutdown_grace: whole_seconds(&get, "SHUTDOWN_GRACE_SECS", "20")?,
            idempotency_ttl: seconds(&get, "IDEMPOTENCY_TTL_SECS", "86400")?,
            idempotency_max_keys: positive(&get, "IDEMPOTENCY_MAX_KEYS", "10000")?,
            log_filter: get("RUST_LOG").unwrap_or_else(|| "info".to_string()),
        })
    }
}

/// At most one way to authenticate to Airbyte, each complete. Values are never echoed back.
fn airbyte_auth(get: &impl Fn(&str) -> Option<String>) -> Result<AirbyteAuth, ConfigError> {
    let conflict = |variable: &'static str, expected: &'static str| ConfigError {
        variable,
        value: "(set)".to_string(),
        expected,
    };
    let pair = |a: &'static str,
                b: &'static str|
     -> Result<Option<(String, Secret)>, ConfigError> {
        match (get(a), get(b)) {
            (Some(x), Some(y)) => Ok(Some((x, Secret(y)))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(conflict(a, "to be set together with its pair (see --help)")),
            (None, Some(_)) => Err(conflict(b, "to be set together with its pair (see --help)")),
        }
    };
    let client = pair("AIRBYTE_CLIENT_ID", "AIRBYTE_CLIENT_SECRET")?;
    let basic = pair("AIRBYTE_USERNAME", "AIRBYTE_PASSWORD")?;
    let token = get("AIRBYTE_API_TOKEN").map(Secret);
    const ONE: &str = "only one Airbyte authentication: client id and secret, API token, or username and password";
    match (client, token, basic) {
        (None, None, None) => Ok(AirbyteAuth::None),
        (Some((client_id, client_secret)), None, None) => Ok(AirbyteAuth::ClientCredentials {
            client_id,
            client_secret,
        }),
        (None, Some(token), None) => Ok(AirbyteAuth::Bearer(token)),
        (None, None, Some((username, password))) => Ok(AirbyteAuth::Basic { username, password }),
        (Some(_), _, _) => Err(conflict("AIRBYTE_CLIENT_ID", ONE)),
        (None, Some(_), Some(_)) => Err(conflict("AIRBYTE_API_TOKEN", ONE)),
    }
}

fn parse<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: &str,
    expected: &'static str,
) -> Result<T, ConfigError> {
    let value = get(variable).unwrap_or_else(|| default.to_string());
    value.parse().map_err(|_| ConfigError {
        variable,
        value,
        expected,
    })
}

fn positive(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: &str,
) -> Result<usize, ConfigError> {
    const EXPECTED: &str = "a whole number greater than 0";
    let n: usize = parse(get, variable, default, EXPECTED)?;
    if n == 0 {
        return Err(ConfigError {
            variable,
            value: n.to_string(),
            expected: EXPECTED,
        });
    }
    Ok(n)
}

fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: &str,
) -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(positive(get, variable, default)? as u64))
}

/// A duration in whole seconds where 0 is allowed (no caching, no grace).
fn whole_seconds(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: &str,
) -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(parse(
        get,
        variable,
        default,
        "a whole number of seconds",
    )?))
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
        assert_eq!(c.log_filter, "debug");
        assert_eq!(VARIABLES.len(), 20);
    }

    #[test]
    fn the_readme_documents_every_variable() {
        let readme = include_str!("../README.md");
        for (name, _, _) in VARIABLES {
            assert!(
                readme.contains(&format!("| `{name}` |")),
                "README's configuration table lacks {name}"
            );
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
