//! What the simulator saw: every HTTP request and every WebSocket frame received, for tests to
//! assert on (headers sent, bodies, retries sharing a request id, keep-alive reuse).

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;

const REDACTED: &str = "***";

/// One recorded request (HTTP) or received frame (method `"WS"`).
#[derive(Clone, Debug, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lowercase header names; repeated headers joined with ", ".
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub json: Option<Value>,
    pub connection_id: u64,
    /// `X-Request-ID` (HTTP) or the frame's `request_id` (WS).
    pub request_id: Option<String>,
    /// Seconds since the Unix epoch.
    pub time: f64,
    /// Whether the configured auth token was presented; None when no token is configured.
    pub auth_ok: Option<bool>,
    /// The credential as presented (bearer token or REGISTER auth_token), for redaction.
    #[serde(skip)]
    pub secret: Option<String>,
}

impl RecordedRequest {
    /// The same record with the credential hidden: `authorization: Bearer ***`, REGISTER's
    /// `auth_token: "***"`.
    pub fn redacted(&self) -> RecordedRequest {
        let mut copy = self.clone();
        if let Some(auth) = copy.headers.get_mut("authorization") {
            *auth = match auth.split_once(' ') {
                Some((scheme, _)) => format!("{scheme} {REDACTED}"),
                None => REDACTED.to_string(),
            };
        }
        if let Some(Value::Object(object)) = copy.json.as_mut() {
            for key in ["auth_token", "authToken"] {
                if let Some(value) = object.get_mut(key) {
                    if !value.is_null() {
                        *value = Value::String(REDACTED.to_string());
                    }
                }
            }
        }
        if let Some(secret) = self.secret.as_deref().filter(|s| !s.is_empty()) {
            copy.body = copy.body.replace(secret, REDACTED);
        }
        copy
    }
}

/// Thread-safe append-only log (cleared on demand).
#[derive(Debug, Default)]
pub struct Recorder {
    enabled: bool,
    entries: Mutex<Vec<RecordedRequest>>,
}

impl Recorder {
    pub fn new(enabled: bool) -> Recorder {
        Recorder {
            enabled,
            entries: Mutex::new(Vec::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn push(&self, entry: RecordedRequest) {
        if self.enabled {
            if let Ok(mut entries) = self.entries.lock() {
                entries.push(entry);
            }
        }
    }

    pub fn snapshot(&self, reveal_secrets: bool) -> Vec<RecordedRequest> {
        let Ok(entries) = self.entries.lock() else {
            return Vec::new();
        };
        if reveal_secrets {
            entries.clone()
        } else {
            entries.iter().map(RecordedRequest::redacted).collect()
        }
    }

    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redaction_hides_tokens_everywhere() {
        let mut headers = BTreeMap::new();
        headers.insert("authorization".to_string(), "Bearer s3cret".to_string());
        let body = r#"{"type":"REGISTER","auth_token":"s3cret"}"#.to_string();
        let rec = RecordedRequest {
            method: "WS".into(),
            path: "/ws".into(),
            query: None,
            headers,
            json: serde_json::from_str(&body).ok(),
            body,
            connection_id: 1,
            request_id: None,
            time: 0.0,
            auth_ok: Some(true),
            secret: Some("s3cret".into()),
        };
        let red = rec.redacted();
        assert_eq!(red.headers["authorization"], "Bearer ***");
        assert_eq!(
            red.json,
            Some(json!({"type": "REGISTER", "auth_token": "***"}))
        );
        assert!(!red.body.contains("s3cret"));
        assert_eq!(rec.headers["authorization"], "Bearer s3cret");
    }
}
