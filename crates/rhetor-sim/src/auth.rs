//! Credentials: checking the configured token, and finding every credential a request presented
//! (wherever the client put it) so the recorder can hide it.

use hyper::header::{HeaderMap, AUTHORIZATION};
use serde_json::Value;

/// Headers whose whole value is a credential.
pub const CREDENTIAL_HEADERS: &[&str] = &["x-api-key", "api-key", "proxy-authorization", "cookie"];

/// Query parameters and JSON fields whose value is a credential (compared lowercased, without
/// `_` and `-`, so `auth_token`, `authToken` and `auth-token` are one name).
const CREDENTIAL_NAMES: &[&str] = &["authtoken", "token", "apikey", "accesstoken", "key", "password"];

/// Whether `name` (a query parameter, a JSON field) holds a credential.
pub fn is_credential_name(name: &str) -> bool {
    let folded: String = name.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect();
    CREDENTIAL_NAMES.contains(&folded.as_str())
}

/// The token of `Authorization: Bearer <token>`.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// `given == expected` in time that does not depend on where they first differ (only on the
/// length of `given`), so response timing cannot reveal the token byte by byte.
pub fn token_matches(expected: &str, given: &str) -> bool {
    let (e, g) = (expected.as_bytes(), given.as_bytes());
    let mut diff = u8::from(e.len() != g.len());
    for (i, byte) in g.iter().enumerate() {
        // Past the end of `expected` compare against 0; the length check above already failed.
        diff |= byte ^ e.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// Every credential an HTTP request presented: the bearer token, the credential headers, the
/// credential query parameters and a body's credential fields.
pub fn presented(headers: &HeaderMap, query: Option<&str>, json: Option<&Value>) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(token) = bearer(headers) {
        found.push(token.to_string());
    }
    for name in CREDENTIAL_HEADERS {
        for value in headers.get_all(*name) {
            found.push(String::from_utf8_lossy(value.as_bytes()).into_owned());
        }
    }
    for pair in query.unwrap_or("").split('&') {
        if let Some((name, value)) = pair.split_once('=') {
            if is_credential_name(name) && !value.is_empty() {
                found.push(value.to_string());
            }
        }
    }
    found.extend(json_credentials(json));
    found.retain(|s| !s.is_empty());
    found
}

/// The string values of a JSON object's credential fields (top level).
pub fn json_credentials(json: Option<&Value>) -> Vec<String> {
    let Some(Value::Object(object)) = json else {
        return Vec::new();
    };
    object
        .iter()
        .filter(|(name, _)| is_credential_name(name))
        .filter_map(|(_, value)| value.as_str().map(String::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_matches_only_the_same_token() {
        assert!(token_matches("s3cret", "s3cret"));
        assert!(!token_matches("s3cret", "s3cre"));
        assert!(!token_matches("s3cret", "s3cretx"));
        assert!(!token_matches("s3cret", "S3cret"));
        assert!(!token_matches("s3cret", ""));
        assert!(token_matches("", ""));
    }

    #[test]
    fn credential_names_in_any_spelling() {
        for name in ["auth_token", "authToken", "AUTH-TOKEN", "api_key", "apiKey", "access_token", "token"] {
            assert!(is_credential_name(name), "{name}");
        }
        assert!(!is_credential_name("prompt"));
    }
}
