//! What the simulator saw: every HTTP request and every WebSocket frame received, for tests to
//! assert on (headers sent, bodies, retries sharing a request id, keep-alive reuse).

use crate::auth::{is_credential_name, CREDENTIAL_HEADERS};
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
    /// Every credential the request presented (bearer token, API-key headers, credential query
    /// parameters, a body's `auth_token`), for redaction.
    #[serde(skip)]
    pub secrets: Vec<String>,
}

impl RecordedRequest {
    /// The same record with every credential hidden, wherever it was sent: `authorization:
    /// Bearer ***`, API-key headers, credential query parameters and JSON fields (also in a
    /// frame that is not valid JSON), and any other place the presented or the configured
    /// token shows up.
    pub fn redacted(&self, configured: Option<&str>) -> RecordedRequest {
        let mut secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        secrets.extend(configured);
        secrets.retain(|s| !s.is_empty());
        // Longest first, so a token that contains another is hidden whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let hide = |text: &str| secrets.iter().fold(text.to_string(), |t, secret| t.replace(secret, REDACTED));
        let mut copy = self.clone();
        copy.secrets.clear();
        for (name, value) in copy.headers.iter_mut() {
            *value = if name == "authorization" {
                match value.split_once(' ') {
                    Some((scheme, _)) => format!("{scheme} {REDACTED}"),
                    None => REDACTED.to_string(),
                }
            } else if CREDENTIAL_HEADERS.contains(&name.as_str()) {
                REDACTED.to_string()
            } else {
                hide(value)
            };
        }
        copy.query = copy.query.as_deref().map(|q| hide(&redact_query(q)));
        copy.path = hide(&copy.path);
        copy.body = hide(&redact_json_text(&copy.body));
        if let Some(json) = copy.json.as_mut() {
            redact_json(json, &hide);
        }
        copy
    }
}

/// `name=value` pairs whose name is a credential get `***` as value.
fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_credential_name(name) => format!("{name}={REDACTED}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Credential fields of a JSON value (any depth) become `"***"`; other strings pass `hide`.
fn redact_json(value: &mut Value, hide: &dyn Fn(&str) -> String) {
    match value {
        Value::Object(object) => {
            for (name, item) in object.iter_mut() {
                if is_credential_name(name) && !item.is_null() {
                    *item = Value::String(REDACTED.to_string());
                } else {
                    redact_json(item, hide);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| redact_json(item, hide)),
        Value::String(text) => *text = hide(text),
        _ => {}
    }
}

/// The same scrub on raw text that may not parse (a malformed frame): the string after
/// `"<credential name>":` becomes `"***"`.
fn redact_json_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('"') {
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let Some(close) = rest.find('"') else {
            break;
        };
        let name = &rest[..close];
        out.push_str(&rest[..=close]);
        rest = &rest[close + 1..];
        let after = rest.trim_start();
        if !is_credential_name(name) || !after.starts_with(':') {
            continue;
        }
        let value = after[1..].trim_start();
        let Some(body) = value.strip_prefix('"') else {
            continue;
        };
        let end = string_end(body).unwrap_or(body.len());
        out.push_str(&rest[..rest.len() - value.len()]);
        out.push('"');
        out.push_str(REDACTED);
        rest = &body[end..];
    }
    out.push_str(rest);
    out
}

/// Byte offset of the closing quote of a JSON string body (after its opening quote).
fn string_end(body: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// Thread-safe append-only log (cleared on demand).
#[derive(Debug, Default)]
pub struct Recorder {
    enabled: bool,
    /// The simulator's own token: hidden wherever it shows up.
    configured_token: Option<String>,
    entries: Mutex<Vec<RecordedRequest>>,
}

impl Recorder {
    pub fn new(enabled: bool, configured_token: Option<String>) -> Recorder {
        Recorder { enabled, configured_token, entries: Mutex::new(Vec::new()) }
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
            let token = self.configured_token.as_deref();
            entries.iter().map(|e| e.redacted(token)).collect()
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
            secrets: vec!["s3cret".into()],
        };
        let red = rec.redacted(None);
        assert_eq!(red.headers["authorization"], "Bearer ***");
        assert_eq!(red.json, Some(json!({"type": "REGISTER", "auth_token": "***"})));
        assert!(!red.body.contains("s3cret"));
        assert_eq!(rec.headers["authorization"], "Bearer s3cret");
    }

    #[test]
    fn malformed_frames_and_queries_are_scrubbed() {
        let rec = RecordedRequest {
            method: "WS".into(),
            path: "/ws".into(),
            query: Some("a=1&api_key=k3y&token=t0k".into()),
            headers: BTreeMap::new(),
            json: None,
            body: r#"{"type":"REGISTER", "auth_token" : "a\"b", oops"#.into(),
            connection_id: 1,
            request_id: None,
            time: 0.0,
            auth_ok: None,
            secrets: vec![],
        };
        let red = rec.redacted(Some("configured"));
        assert_eq!(red.query.as_deref(), Some("a=1&api_key=***&token=***"));
        assert_eq!(red.body, r#"{"type":"REGISTER", "auth_token" : "***", oops"#);
    }
}
