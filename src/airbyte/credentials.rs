//! The credentials the service presents to Airbyte: a fixed header, or bearer tokens from
//! `applications/token` renewed as needed. They live in [`Secret`]s and in the header values built
//! here, and nothing here logs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::Value;

use crate::config::{AirbyteAuth, Secret};
use crate::sync::{lock, Mutex};

/// How long before a token's expiry it is replaced.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// An access token from `/applications/token` and when to replace it (`None`: when Airbyte
/// refuses it, the token carrying no expiry).
struct Token {
    value: Secret,
    replace_at: Option<SystemTime>,
}

/// The `Authorization` header the service sends to Airbyte, renewed as needed.
pub struct Credentials {
    mode: AirbyteAuth,
    /// The fixed header, for the modes that have one.
    fixed: Option<Secret>,
    /// The current access token, for client credentials. Held while a new one is fetched, so
    /// one request at a time asks for a token however many requests need one.
    token: Mutex<Option<Token>>,
}

/// What a token request needs to send.
pub struct TokenRequest<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
}

impl Credentials {
    pub fn new(mode: AirbyteAuth) -> Credentials {
        let fixed = match &mode {
            AirbyteAuth::None | AirbyteAuth::ClientCredentials { .. } => None,
            AirbyteAuth::Bearer(token) => Some(Secret::new(format!("Bearer {}", token.expose()))),
            AirbyteAuth::Basic { username, password } => {
                let pair = format!("{username}:{}", password.expose());
                Some(Secret::new(format!("Basic {}", STANDARD.encode(pair))))
            }
        };
        Credentials {
            mode,
            fixed,
            token: Mutex::new(None),
        }
    }

    /// Whether a refused token can be replaced by asking again.
    pub fn renewable(&self) -> bool {
        matches!(self.mode, AirbyteAuth::ClientCredentials { .. })
    }

    /// The header value to send, if any. For client credentials, `fetch` is called to get a token
    /// when there is none, it is due for replacement, or it is `refused` (the value Airbyte just
    /// answered 401 to; a token another request already replaced is not fetched again).
    pub fn header<E>(
        &self,
        refused: Option<&Secret>,
        fetch: impl FnOnce(TokenRequest<'_>) -> Result<String, E>,
    ) -> Result<Option<Secret>, E> {
        let AirbyteAuth::ClientCredentials {
            client_id,
            client_secret,
        } = &self.mode
        else {
            return Ok(self.fixed.clone());
        };
        let mut slot = lock(&self.token);
        let usable = slot.as_ref().filter(|t| {
            let due = t.replace_at.is_some_and(|at| SystemTime::now() >= at);
            let refused = refused
                .is_some_and(|r| r.expose().strip_prefix("Bearer ") == Some(t.value.expose()));
            !due && !refused
        });
        if let Some(token) = usable {
            return Ok(Some(bearer(&token.value)));
        }
        let value = Secret::new(fetch(TokenRequest {
            client_id,
            client_secret: client_secret.expose(),
        })?);
        let replace_at =
            expiry(&value).map(|exp| exp.checked_sub(EXPIRY_MARGIN).unwrap_or(UNIX_EPOCH));
        let header = bearer(&value);
        *slot = Some(Token { value, replace_at });
        Ok(Some(header))
    }
}

fn bearer(token: &Secret) -> Secret {
    Secret::new(format!("Bearer {}", token.expose()))
}

/// The `exp` claim of a JWT, when the token is one and has it.
fn expiry(token: &Secret) -> Option<SystemTime> {
    let payload = token.expose().split('.').nth(1)?;
    let payload = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Value = serde_json::from_slice(&payload).ok()?;
    let exp = claims
        .get("exp")?
        .as_f64()
        .filter(|e| e.is_finite() && *e >= 0.0)?;
    UNIX_EPOCH.checked_add(Duration::from_secs_f64(exp.min(1e12)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn jwt(claims: &str) -> String {
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", b64(r#"{"alg":"HS256"}"#), b64(claims))
    }

    fn client_credentials() -> Credentials {
        Credentials::new(AirbyteAuth::ClientCredentials {
            client_id: "id".into(),
            client_secret: Secret::new("s"),
        })
    }

    #[test]
    fn fixed_headers() {
        let bearer = Credentials::new(AirbyteAuth::Bearer(Secret::new("t0k")));
        let header = bearer
            .header::<()>(None, |_| unreachable!())
            .unwrap()
            .unwrap();
        assert_eq!(header.expose(), "Bearer t0k");
        let basic = Credentials::new(AirbyteAuth::Basic {
            username: "airbyte".into(),
            password: Secret::new("password"),
        });
        assert_eq!(
            basic
                .header::<()>(None, |_| unreachable!())
                .unwrap()
                .unwrap()
                .expose(),
            "Basic YWlyYnl0ZTpwYXNzd29yZA=="
        );
        assert!(Credentials::new(AirbyteAuth::None)
            .header::<()>(None, |_| unreachable!())
            .unwrap()
            .is_none());
    }

    #[test]
    fn tokens_are_reused_until_due_and_replaced_when_refused() {
        let credentials = client_credentials();
        let fetched = Cell::new(0);
        let far = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        let fetch = |r: TokenRequest<'_>| -> Result<String, ()> {
            assert_eq!((r.client_id, r.client_secret), ("id", "s"));
            fetched.set(fetched.get() + 1);
            Ok(jwt(&format!(r#"{{"exp":{far},"n":{}}}"#, fetched.get())))
        };
        let first = credentials.header(None, fetch).unwrap().unwrap();
        let again = credentials.header(None, fetch).unwrap().unwrap();
        assert_eq!(fetched.get(), 1);
        assert_eq!(first, again);
        let renewed = credentials.header(Some(&first), fetch).unwrap().unwrap();
        assert_eq!(fetched.get(), 2);
        assert_ne!(renewed, first);
        credentials.header(Some(&first), fetch).unwrap();
        assert_eq!(
            fetched.get(),
            2,
            "a token already replaced is not fetched again"
        );
    }

    #[test]
    fn tokens_near_expiry_are_replaced() {
        let credentials = client_credentials();
        let soon = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 30;
        let fetched = Cell::new(0);
        let fetch = |_: TokenRequest<'_>| -> Result<String, ()> {
            fetched.set(fetched.get() + 1);
            Ok(jwt(&format!(r#"{{"exp":{soon}}}"#)))
        };
        credentials.header(None, fetch).unwrap();
        credentials.header(None, fetch).unwrap();
        assert_eq!(fetched.get(), 2);
        assert_eq!(expiry(&Secret::new("not-a-jwt")), None);
        let opaque = client_credentials();
        let n = Cell::new(0);
        let fetch = |_: TokenRequest<'_>| -> Result<String, ()> {
            n.set(n.get() + 1);
            Ok("opaque".to_string())
        };
        opaque.header(None, fetch).unwrap();
        opaque.header(None, fetch).unwrap();
        assert_eq!(n.get(), 1, "a token without expiry is kept until refused");
    }
}
