//! Authentication in both directions: the credentials the service presents to Airbyte, and the
//! bearer token clients present to the service (`API_TOKEN`).
//!
//! Credentials never reach a log line or an answer: they live in [`Secret`]s and in the header
//! values built here, and nothing here logs.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::config::{AirbyteAuth, Secret};

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
    /// one request at a time asks for a token however many workers need one.
    token: Mutex<Option<Token>>,
}

/// What a token request needs to send, and what it must give back.
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
                Some(Secret::new(format!(
                    "Basic {}",
                    base64_encode(pair.as_bytes())
                )))
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
    /// answered 401 to; a token another worker already replaced is not fetched again).
    pub fn header<E>(
        &self,
        refused: Option<&str>,
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
            let refused =
                refused.is_some_and(|r| r.strip_prefix("Bearer ") == Some(t.value.expose()));
            !due && !refused
        });
        if let Some(token) = usable {
            return Ok(Some(Secret::new(format!(
                "Bearer {}",
                token.value.expose()
            ))));
        }
        let value = fetch(TokenRequest {
            client_id,
            client_secret: client_secret.expose(),
        })?;
        let replace_at =
            expiry(&value).map(|exp| exp.checked_sub(EXPIRY_MARGIN).unwrap_or(UNIX_EPOCH));
        let header = Secret::new(format!("Bearer {value}"));
        *slot = Some(Token {
            value: Secret::new(value),
            replace_at,
        });
        Ok(Some(header))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The `exp` claim of a JWT, when the token is one and has it.
fn expiry(token: &str) -> Option<SystemTime> {
    let payload = token.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&base64url_decode(payload)?).ok()?;
    let exp = claims
        .get("exp")?
        .as_f64()
        .filter(|e| e.is_finite() && *e >= 0.0)?;
    UNIX_EPOCH.checked_add(Duration::from_secs_f64(exp.min(1e12)))
}

/// Whether a client's `Authorization` header carries `token`, compared in constant time (for
/// equal lengths) so that timing does not reveal how much of a guess was right.
pub fn bearer_matches(header: Option<&str>, token: &Secret) -> bool {
    let presented = header
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("")
        .trim()
        .as_bytes();
    let expected = token.expose().as_bytes();
    let mut difference = presented.len() ^ expected.len();
    for (i, e) in expected.iter().enumerate() {
        difference |= usize::from(presented.get(i).copied().unwrap_or(0) ^ e);
    }
    difference == 0
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648 §4), for basic auth.
fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// URL-safe base64 without padding (RFC 4648 §5), as JWT segments are; `None` when malformed.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0);
    for c in text.trim_end_matches('=').bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn jwt(claims: &str) -> String {
        let b64 = |s: &str| {
            base64_encode(s.as_bytes())
                .trim_end_matches('=')
                .replace('+', "-")
                .replace('/', "_")
        };
        format!("{}.{}.sig", b64(r#"{"alg":"HS256"}"#), b64(claims))
    }

    #[test]
    fn base64_round_trips() {
        assert_eq!(base64_encode(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64_encode(b"a"), "YQ==");
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64url_decode("YWI").unwrap(), b"ab");
        assert_eq!(base64url_decode("_-8").unwrap(), [0xff, 0xef]);
        assert_eq!(base64url_decode("a*b"), None);
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
        let credentials = Credentials::new(AirbyteAuth::ClientCredentials {
            client_id: "id".into(),
            client_secret: Secret::new("s"),
        });
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
        let renewed = credentials
            .header(Some(first.expose()), fetch)
            .unwrap()
            .unwrap();
        assert_eq!(fetched.get(), 2);
        assert_ne!(renewed, first);
        credentials.header(Some(first.expose()), fetch).unwrap();
        assert_eq!(
            fetched.get(),
            2,
            "a token already replaced is not fetched again"
        );
    }

    #[test]
    fn tokens_near_expiry_are_replaced() {
        let credentials = Credentials::new(AirbyteAuth::ClientCredentials {
            client_id: "id".into(),
            client_secret: Secret::new("s"),
        });
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
        assert_eq!(expiry("not-a-jwt"), None);
        let opaque = Credentials::new(AirbyteAuth::ClientCredentials {
            client_id: "id".into(),
            client_secret: Secret::new("s"),
        });
        let n = Cell::new(0);
        let fetch = |_: TokenRequest<'_>| -> Result<String, ()> {
            n.set(n.get() + 1);
            Ok("opaque".to_string())
        };
        opaque.header(None, fetch).unwrap();
        opaque.header(None, fetch).unwrap();
        assert_eq!(n.get(), 1, "a token without expiry is kept until refused");
    }

    #[test]
    fn bearer_comparison() {
        let token = Secret::new("s3cret");
        assert!(bearer_matches(Some("Bearer s3cret"), &token));
        assert!(!bearer_matches(Some("Bearer s3cre"), &token));
        assert!(!bearer_matches(Some("Bearer s3cretx"), &token));
        assert!(!bearer_matches(Some("Basic s3cret"), &token));
        assert!(!bearer_matches(None, &token));
    }
}
