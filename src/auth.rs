//! The bearer token clients present to the service (`API_TOKEN`). (The credentials the service
//! presents to Airbyte are the Airbyte client's own: `airbyte/credentials.rs`.)

use crate::config::Secret;

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

#[cfg(test)]
mod tests {
    use super::*;

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
