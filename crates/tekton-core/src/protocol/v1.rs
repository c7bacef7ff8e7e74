//! Rhetor protocol v1 bodies (docs/protocol.md). Readers accept snake_case and camelCase. The
//! older dialects do not use these types (they are translated in Python, `dialects/`).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A chat call as the facade describes it, encoded as a v1 body.
#[derive(Debug, Clone, Default)]
pub struct ChatRequest {
    /// Messages as given (dicts may carry extra fields such as `tool_calls`).
    pub messages: Vec<Value>,
    pub system_prompt: Option<String>,
    pub context_id: String,
    pub component_id: String,
    pub provider_id: Option<String>,
    pub model_id: Option<String>,
    pub options: Map<String, Value>,
}

#[derive(Serialize)]
struct V1Body<'a> {
    messages: &'a [Value],
    context_id: &'a str,
    component_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_prompt: Option<&'a str>,
    streaming: bool,
    options: &'a Map<String, Value>,
}

impl ChatRequest {
    /// The v1 JSON body for /api/v1/chat (`streaming=false`) or /api/v1/chat/stream.
    pub fn to_v1_body(&self, streaming: bool) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&V1Body {
            messages: &self.messages,
            context_id: &self.context_id,
            component_id: &self.component_id,
            provider_id: self.provider_id.as_deref(),
            model_id: self.model_id.as_deref(),
            system_prompt: self.system_prompt.as_deref(),
            streaming,
            options: &self.options,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Usage {
    #[serde(default, alias = "promptTokens", alias = "input_tokens")]
    pub prompt_tokens: u64,
    #[serde(default, alias = "completionTokens", alias = "output_tokens")]
    pub completion_tokens: u64,
    #[serde(default, alias = "totalTokens")]
    pub total_tokens: Option<u64>,
}

/// A whole answer (`POST /api/v1/chat`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Completion {
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default, alias = "finishReason")]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default, alias = "contextId")]
    pub context_id: Option<String>,
    #[serde(default)]
    pub fallback: Option<bool>,
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Some servers answer HTTP 200 with an error object.
    #[serde(default)]
    pub error: Option<String>,
}

/// A JSON string, borrowed from the event text unless it had escapes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Text<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl Text<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&'static str> for Text<'static> {
    fn from(s: &'static str) -> Text<'static> {
        Text(Cow::Borrowed(s))
    }
}

/// One `data:` event of `/api/v1/chat/stream`, decoded without copying its strings (the stream
/// reader decodes one per chunk; an owned copy per field was most of its cost).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamEvent<'a> {
    #[serde(default, borrow)]
    pub chunk: Option<Text<'a>>,
    #[serde(default)]
    pub done: bool,
    #[serde(default, borrow)]
    pub error: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub code: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub model: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub provider: Option<Text<'a>>,
    #[serde(default, borrow, alias = "contextId")]
    pub context_id: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub timestamp: Option<Text<'a>>,
    #[serde(default)]
    pub fallback: Option<bool>,
    #[serde(default, borrow, alias = "finishReason")]
    pub finish_reason: Option<Text<'a>>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

/// The error message of a non-2xx body: `{"error": str}`, FastAPI's `{"detail": ...}`, or the
/// text itself (cut to a readable length).
pub fn error_message(body: &[u8]) -> (String, Option<String>) {
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
        let code = map.get("code").and_then(Value::as_str).map(str::to_owned);
        for key in ["error", "detail", "message"] {
            match map.get(key) {
                Some(Value::String(s)) => return (s.clone(), code),
                Some(Value::Object(inner)) => {
                    if let Some(Value::String(s)) = inner.get("message") {
                        return (s.clone(), code);
                    }
                    return (Value::Object(inner.clone()).to_string(), code);
                }
                Some(other @ Value::Array(_)) => return (other.to_string(), code),
                _ => {}
            }
        }
        return (Value::Object(map).to_string(), code);
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return ("(empty body)".to_owned(), None);
    }
    let cut: String = text.chars().take(300).collect();
    (cut, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_values_are_sent() {
        let mut req = ChatRequest::default();
        req.options.insert("temperature".into(), Value::from(0.0));
        req.options.insert("max_tokens".into(), Value::from(0));
        let body = String::from_utf8(req.to_v1_body(false).unwrap()).unwrap();
        assert!(body.contains("\"temperature\":0.0"), "{body}");
        assert!(body.contains("\"max_tokens\":0"), "{body}");
    }

    #[test]
    fn error_shapes() {
        assert_eq!(error_message(br#"{"detail":"nope"}"#).0, "nope");
        assert_eq!(error_message(br#"{"error":"bad","code":"x"}"#), ("bad".into(), Some("x".into())));
        assert_eq!(error_message(b"<html>oops</html>").0, "<html>oops</html>");
        assert_eq!(error_message(b"").0, "(empty body)");
    }

    #[test]
    fn camel_case_read() {
        let c: Completion = serde_json::from_str(r#"{"content":"x","finishReason":"stop","contextId":"c"}"#).unwrap();
        assert_eq!(c.finish_reason.as_deref(), Some("stop"));
        assert_eq!(c.context_id.as_deref(), Some("c"));
    }
}
