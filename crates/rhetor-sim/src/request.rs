//! Parsing and validating chat/generate request bodies (HTTP and WebSocket alike).

use crate::config::Knobs;
use serde_json::{Map, Value};

/// A validated request: everything the simulator's answer depends on.
#[derive(Clone, Debug, Default)]
pub struct ChatRequest {
    /// The last user message (or the `prompt` of a generate-style request).
    pub prompt: String,
    /// `system_prompt`, else the first system message.
    pub system_prompt: Option<String>,
    /// Words in every prompt message (and the system prompt): the usage stand-in.
    pub prompt_words: usize,
    pub context_id: Option<String>,
    pub provider_id: Option<String>,
    pub model_id: Option<String>,
    pub fallback_provider: Option<String>,
    pub fallback_model: Option<String>,
    /// Knobs from the body: top-level `"sim"` overlaid with `options.sim`.
    pub knobs: Knobs,
}

/// `context_id` → `contextId`.
fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A field by its snake_case name or its camelCase spelling.
pub fn field<'a>(object: &'a Map<String, Value>, snake: &str) -> Option<&'a Value> {
    object.get(snake).or_else(|| object.get(&camel(snake))).filter(|v| !v.is_null())
}

fn opt_string(object: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match field(object, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("field {name:?} must be a string, got {other}")),
    }
}

/// Parses a request body. `messages` (chat) or `prompt` (generate) must be present.
pub fn parse_request(body: &Value) -> Result<ChatRequest, String> {
    let Some(object) = body.as_object() else {
        return Err("the request body must be a JSON object".to_string());
    };
    let mut request = ChatRequest {
        system_prompt: opt_string(object, "system_prompt")?,
        context_id: opt_string(object, "context_id")?,
        provider_id: opt_string(object, "provider_id")?,
        model_id: opt_string(object, "model_id")?,
        ..ChatRequest::default()
    };
    opt_string(object, "component_id")?;
    if let Some(streaming) = field(object, "streaming") {
        if !streaming.is_boolean() {
            return Err(format!("field \"streaming\" must be a boolean, got {streaming}"));
        }
    }

    let mut prompt_words = 0;
    if let Some(messages) = field(object, "messages") {
        let Some(messages) = messages.as_array() else {
            return Err("field \"messages\" must be a list".to_string());
        };
        if messages.is_empty() {
            return Err("field \"messages\" must not be empty".to_string());
        }
        let mut last_user = None;
        let mut last_any = None;
        let mut first_system = None;
        for (i, message) in messages.iter().enumerate() {
            let Some(message) = message.as_object() else {
                return Err(format!("messages[{i}] must be an object"));
            };
            let role = match message.get("role") {
                Some(Value::String(r)) => r.as_str(),
                Some(other) => return Err(format!("messages[{i}].role must be a string, got {other}")),
                None => return Err(format!("messages[{i}] has no role")),
            };
            let content = match message.get("content") {
                Some(Value::String(c)) => c.as_str(),
                Some(other) => return Err(format!("messages[{i}].content must be a string, got {other}")),
                None => return Err(format!("messages[{i}] has no content")),
            };
            prompt_words += crate::answer::word_count(content);
            match role {
                "user" => last_user = Some(content),
                "system" if first_system.is_none() => first_system = Some(content),
                _ => {}
            }
            last_any = Some(content);
        }
        request.prompt = last_user.or(last_any).unwrap_or_default().to_string();
        if request.system_prompt.is_none() {
            request.system_prompt = first_system.map(String::from);
        } else if let Some(system) = &request.system_prompt {
            prompt_words += crate::answer::word_count(system);
        }
    } else if let Some(prompt) = field(object, "prompt") {
        let Some(prompt) = prompt.as_str() else {
            return Err(format!("field \"prompt\" must be a string, got {prompt}"));
        };
        request.prompt = prompt.to_string();
        prompt_words =
            crate::answer::word_count(prompt) + request.system_prompt.as_deref().map_or(0, crate::answer::word_count);
    } else {
        return Err("the request needs \"messages\" (or \"prompt\")".to_string());
    }
    request.prompt_words = prompt_words;

    if let Some(sim) = field(object, "sim") {
        request.knobs = Knobs::from_json(sim)?;
    }
    if let Some(options) = field(object, "options") {
        let Some(options) = options.as_object() else {
            return Err(format!("field \"options\" must be an object, got {options}"));
        };
        request.fallback_provider = opt_string(options, "fallback_provider")?;
        request.fallback_model = opt_string(options, "fallback_model")?;
        if let Some(sim) = field(options, "sim") {
            request.knobs.overlay(&Knobs::from_json(sim)?);
        }
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn last_user_message_is_the_prompt() {
        let r = parse_request(&json!({
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "first question"},
                {"role": "assistant", "content": "answer"},
                {"role": "user", "content": "second question"}
            ],
            "contextId": "ctx", "provider_id": "openai",
            "options": {"fallbackProvider": "simulator", "sim": {"length": 5}},
            "sim": {"length": 3, "chunks": 2}
        }))
        .unwrap();
        assert_eq!(r.prompt, "second question");
        assert_eq!(r.system_prompt.as_deref(), Some("be brief"));
        assert_eq!(r.context_id.as_deref(), Some("ctx"));
        assert_eq!(r.provider_id.as_deref(), Some("openai"));
        assert_eq!(r.fallback_provider.as_deref(), Some("simulator"));
        assert_eq!(r.knobs.length, Some(5)); // options.sim wins over top-level sim
        assert_eq!(r.knobs.chunks, Some(2));
        assert_eq!(r.prompt_words, 2 + 2 + 1 + 2);
    }

    #[test]
    fn bad_bodies_are_errors() {
        for body in [
            json!([]),
            json!({}),
            json!({"messages": []}),
            json!({"messages": "hi"}),
            json!({"messages": [{"role": "user"}]}),
            json!({"messages": [{"role": "user", "content": 3}]}),
            json!({"messages": [{"content": "x"}]}),
            json!({"messages": [{"role": "user", "content": "x"}], "options": 1}),
            json!({"messages": [{"role": "user", "content": "x"}], "provider_id": 5}),
            json!({"messages": [{"role": "user", "content": "x"}], "sim": {"nope": 1}}),
            json!({"prompt": 5}),
        ] {
            assert!(parse_request(&body).is_err(), "{body}");
        }
    }

    #[test]
    fn prompt_form_is_accepted() {
        let r = parse_request(&json!({"prompt": "tell me", "system_prompt": "sys words"})).unwrap();
        assert_eq!(r.prompt, "tell me");
        assert_eq!(r.prompt_words, 4);
    }
}
