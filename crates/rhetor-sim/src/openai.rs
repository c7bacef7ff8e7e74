//! The OpenAI-compatible face: `POST /v1/chat/completions` (streaming or not), with the same
//! answers and knobs as the Rhetor endpoints, so OpenAI-speaking tools (vLLM's `bench serve`,
//! guidellm, `tekton-llm bench --api openai`) can be pointed at the simulator.

use crate::chat::Answer;
use crate::config::Knobs;
use serde_json::{json, Value};

/// What an OpenAI request asks for beyond the messages (which `parse_request` reads).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenAiOptions {
    pub stream: bool,
    /// `stream_options.include_usage`: a last chunk with `usage` and no choices.
    pub include_usage: bool,
    /// `max_completion_tokens`, else `max_tokens`.
    pub max_tokens: Option<usize>,
}

impl OpenAiOptions {
    /// The answer is one token per chunk (as the simulator's usage counts them), so `max_tokens`
    /// sets `chunks` unless the knobs already chose the length.
    pub fn apply_max_tokens(&self, knobs: &mut Knobs) {
        if knobs.chunks.is_none() && knobs.length.is_none() {
            knobs.chunks = self.max_tokens;
        }
    }
}

/// OpenAI messages may carry their content as a list of parts (`[{"type": "text", "text": ...}]`,
/// as guidellm sends it): the text parts are joined into the one string the simulator reads.
/// Other parts (images, audio) are left out; a content that is not a list is left as it is.
pub fn join_content_parts(body: &mut Value) {
    let Some(messages) = body.get_mut("messages").and_then(Value::as_array_mut) else {
        return;
    };
    for message in messages {
        let Some(content) = message.get_mut("content") else {
            continue;
        };
        let Some(parts) = content.as_array() else {
            continue;
        };
        let text: Vec<&str> = parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect();
        *content = Value::String(text.join("\n"));
    }
}

/// Reads `stream`, `stream_options` and `max_completion_tokens` / `max_tokens`.
pub fn parse_options(body: &Value) -> Result<OpenAiOptions, String> {
    let Some(object) = body.as_object() else {
        return Err("the request body must be a JSON object".to_string());
    };
    let stream = match object.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(format!("field \"stream\" must be a boolean, got {other}")),
    };
    let include_usage = match object.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(o)) => match o.get("include_usage") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(format!("field \"stream_options.include_usage\" must be a boolean, got {other}"))
            }
        },
        Some(other) => return Err(format!("field \"stream_options\" must be an object, got {other}")),
    };
    let mut max_tokens = None;
    for name in ["max_completion_tokens", "max_tokens"] {
        match object.get(name) {
            None | Some(Value::Null) => {}
            Some(value) => {
                let Some(tokens) = value.as_u64().filter(|t| *t > 0) else {
                    return Err(format!("field \"{name}\" must be a positive integer, got {value}"));
                };
                max_tokens = Some(usize::try_from(tokens).unwrap_or(usize::MAX));
                break;
            }
        }
    }
    Ok(OpenAiOptions { stream, include_usage, max_tokens })
}

/// The fields every chunk of one completion shares: id, object, created, model.
pub struct ChunkShape {
    id: String,
    created: u64,
    model: String,
}

impl ChunkShape {
    pub fn new(answer: &Answer) -> ChunkShape {
        ChunkShape {
            id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
            created: crate::clock::unix_seconds() as u64,
            model: answer.resolved.model.clone(),
        }
    }

    fn chunk(&self, choices: Value, usage: Option<Value>) -> Value {
        let mut value = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        });
        if let Some(usage) = usage {
            value["usage"] = usage;
        }
        value
    }

    /// A content delta (the first one also carries the role, as OpenAI sends it).
    pub fn delta(&self, content: &str, first: bool) -> String {
        let delta = if first { json!({"role": "assistant", "content": content}) } else { json!({"content": content}) };
        self.chunk(json!([{"index": 0, "delta": delta, "finish_reason": null}]), None).to_string()
    }

    /// The chunk that ends the choice.
    pub fn finish(&self) -> String {
        self.chunk(json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]), None).to_string()
    }

    /// The usage-only chunk `stream_options.include_usage` asks for.
    pub fn usage(&self, usage: Value) -> String {
        self.chunk(json!([]), Some(usage)).to_string()
    }
}

/// An error event in a stream, shaped as OpenAI-compatible servers send it.
pub fn stream_error(message: &str) -> String {
    json!({"error": {"message": message, "type": "server_error", "code": "provider_error"}}).to_string()
}

/// The non-streaming `chat.completion` body.
pub fn completion_json(answer: &Answer) -> Value {
    json!({
        "id": format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        "object": "chat.completion",
        "created": crate::clock::unix_seconds() as u64,
        "model": answer.resolved.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": answer.text},
            "finish_reason": "stop",
        }],
        "usage": answer.usage(),
    })
}

/// `GET /v1/models`: the model the simulator answers as (clients probe it before a run).
pub fn models_json() -> Value {
    json!({"object": "list", "data": [{
        "id": crate::providers::DEFAULT_MODEL,
        "object": "model",
        "created": 0,
        "owned_by": "rhetor-sim",
    }]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_parts_are_joined_into_one_string() {
        let mut body = json!({"messages": [
            {"role": "system", "content": "plain"},
            {"role": "user", "content": [{"type": "text", "text": "a b"}, {"type": "image_url"},
                                         {"type": "text", "text": "c"}]},
        ]});
        join_content_parts(&mut body);
        assert_eq!(body["messages"][0]["content"], "plain");
        assert_eq!(body["messages"][1]["content"], "a b\nc");
        let mut odd = json!({"messages": "not a list"});
        join_content_parts(&mut odd);
        assert_eq!(odd, json!({"messages": "not a list"}));
    }

    #[test]
    fn options_are_read_and_max_tokens_sets_chunks() {
        let mut knobs = Knobs::default();
        let body = json!({"messages": [], "stream": true,
                          "stream_options": {"include_usage": true}, "max_tokens": 7});
        let options = parse_options(&body).unwrap();
        assert!(options.stream && options.include_usage);
        options.apply_max_tokens(&mut knobs);
        assert_eq!(knobs.chunks, Some(7));
        // Knobs that chose the length win over max_tokens.
        let mut knobs = Knobs { chunks: Some(3), ..Knobs::default() };
        parse_options(&json!({"max_tokens": 9})).unwrap().apply_max_tokens(&mut knobs);
        assert_eq!(knobs.chunks, Some(3));
    }

    #[test]
    fn bad_options_are_errors() {
        for body in [
            json!({"stream": "yes"}),
            json!({"stream_options": 1}),
            json!({"stream_options": {"include_usage": 1}}),
            json!({"max_tokens": 0}),
            json!({"max_tokens": -2}),
            json!({"max_tokens": "5"}),
        ] {
            assert!(parse_options(&body).is_err(), "{body}");
        }
    }
}
