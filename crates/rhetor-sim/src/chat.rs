//! One answer, prepared from a validated request: the text, who answers, usage. Shared by the
//! HTTP and WebSocket front ends so both say exactly the same thing.

use crate::answer::{answer_for, split_chunks};
use crate::clock::iso8601_now;
use crate::config::Knobs;
use crate::providers::{resolve, ResolveError, Resolved};
use crate::request::ChatRequest;
use crate::state::State;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct Answer {
    pub text: String,
    pub resolved: Resolved,
    pub context_id: String,
    pub prompt_tokens: usize,
    pub knobs: Knobs,
    pub timestamp: String,
}

impl Answer {
    pub fn prepare(state: &State, request: &ChatRequest, knobs: Knobs) -> Result<Answer, ResolveError> {
        let resolved = resolve(
            request.provider_id.as_deref(),
            request.model_id.as_deref(),
            request.fallback_provider.as_deref(),
            request.fallback_model.as_deref(),
            &state.unavailable(&knobs),
        )?;
        Ok(Answer {
            text: answer_for(&request.prompt, request.system_prompt.as_deref(), &knobs),
            resolved,
            context_id: request.context_id.clone().unwrap_or_else(|| "default".to_string()),
            prompt_tokens: request.prompt_words,
            knobs,
            timestamp: iso8601_now(),
        })
    }

    pub fn chunks(&self) -> Vec<&str> {
        split_chunks(&self.text, &self.knobs)
    }

    /// completion_tokens: one per streamed chunk (the same number with or without streaming).
    pub fn completion_tokens(&self) -> usize {
        match self.knobs.chunks {
            Some(count) => count,
            None => self.text.chars().count().div_ceil(self.knobs.chunk_size().max(1)),
        }
    }

    pub fn usage(&self) -> Value {
        let completion = self.completion_tokens();
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        })
    }

    /// The `POST /api/v1/chat` body (also the fields of a WebSocket RESPONSE).
    pub fn response_json(&self) -> Value {
        json!({
            "content": self.text,
            "model": self.resolved.model,
            "provider": self.resolved.provider,
            "finish_reason": "stop",
            "usage": self.usage(),
            "context_id": self.context_id,
            "fallback": self.resolved.fallback,
            "timestamp": self.timestamp,
        })
    }
}
