//! Authentication: `applications/token`, the tokens it mints, and who may make the other calls.

use serde_json::json;

use super::replies::{answer, unauthorized, Reply};
use super::{Auth, Recorded, State};

/// `applications/token`: a JWT for the client id and secret the fake requires, whatever the method.
pub(super) fn issue(s: &mut State, request: &Recorded) -> Reply {
    let Auth::ClientCredentials {
        client_id,
        client_secret,
        lifetime_secs,
    } = &s.auth
    else {
        // The message names POST whatever the method: it is the only one Airbyte serves.
        return answer(
            404,
            json!({ "message": "no route POST /api/v1/applications/token" }),
        );
    };
    let body = &request.body;
    if body["client_id"] != json!(client_id) || body["client_secret"] != json!(client_secret) {
        return unauthorized();
    }
    let token = jwt(s.tokens_issued + 1, *lifetime_secs);
    s.tokens_issued += 1;
    s.issued_tokens.push(token.clone());
    answer(200, json!({ "access_token": token }))
}

/// Whether the request's `Authorization` header satisfies what the fake requires.
pub(super) fn admits(s: &State, request: &Recorded) -> bool {
    let presented = request.authorization.as_deref().unwrap_or("");
    match &s.auth {
        Auth::None => true,
        Auth::Header(expected) => presented == expected,
        Auth::ClientCredentials { .. } => presented
            .strip_prefix("Bearer ")
            .is_some_and(|t| s.issued_tokens.iter().any(|i| i == t)),
    }
}

/// A JWT-shaped token (unsigned) whose `exp` is `lifetime_secs` from now.
fn jwt(n: usize, lifetime_secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!(
        "{}.{}.c2lnbmF0dXJl",
        base64url(r#"{"alg":"HS256","typ":"JWT"}"#),
        base64url(&format!(
            r#"{{"sub":"fake","n":{n},"iat":{now},"exp":{}}}"#,
            now + lifetime_secs
        ))
    )
}

/// Base64url without padding, as JWTs encode their parts.
fn base64url(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in s.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(A[(v >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}
