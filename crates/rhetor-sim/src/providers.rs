//! The simulated provider catalogue and provider/model resolution (with fallback).

use serde_json::{json, Map, Value};

pub const DEFAULT_PROVIDER: &str = "simulator";
pub const DEFAULT_MODEL: &str = "sim-model-1";

struct Provider {
    id: &'static str,
    name: &'static str,
    /// (model id, display name, context length)
    models: &'static [(&'static str, &'static str, u32)],
}

const CATALOG: &[Provider] = &[
    Provider {
        id: "simulator",
        name: "Rhetor Simulator",
        models: &[("sim-model-1", "Simulated Model 1", 32_768), ("sim-model-2", "Simulated Model 2", 131_072)],
    },
    Provider {
        id: "anthropic",
        name: "Anthropic",
        models: &[
            ("claude-3-5-sonnet-20241022", "Claude 3.5 Sonnet", 200_000),
            ("claude-3-haiku-20240307", "Claude 3 Haiku", 200_000),
        ],
    },
    Provider {
        id: "openai",
        name: "OpenAI",
        models: &[("gpt-4o", "GPT-4o", 128_000), ("gpt-4o-mini", "GPT-4o mini", 128_000)],
    },
    Provider { id: "ollama", name: "Ollama", models: &[("llama3", "Llama 3", 8_192), ("mistral", "Mistral", 32_768)] },
];

fn find(id: &str) -> Option<&'static Provider> {
    CATALOG.iter().find(|p| p.id == id)
}

/// Who answers a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub provider: String,
    pub model: String,
    pub fallback: bool,
}

/// Why nobody answers: an unknown provider (400) or an unavailable one (503).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResolveError {
    Unknown(String),
    Unavailable(String),
}

impl ResolveError {
    pub fn status(&self) -> u16 {
        match self {
            ResolveError::Unknown(_) => 400,
            ResolveError::Unavailable(_) => 503,
        }
    }
    pub fn code(&self) -> &'static str {
        match self {
            ResolveError::Unknown(_) => "invalid_provider",
            ResolveError::Unavailable(_) => "provider_unavailable",
        }
    }
    pub fn message(&self) -> String {
        match self {
            ResolveError::Unknown(p) => format!("unknown provider {p:?}"),
            ResolveError::Unavailable(p) => format!("provider {p:?} is unavailable"),
        }
    }
}

/// Picks provider and model. Any model name is accepted. An unavailable provider is replaced by
/// `fallback_provider` (+ `fallback_model`, else that provider's first model) when that one is
/// known and available.
pub fn resolve(
    provider_id: Option<&str>,
    model_id: Option<&str>,
    fallback_provider: Option<&str>,
    fallback_model: Option<&str>,
    unavailable: &[String],
) -> Result<Resolved, ResolveError> {
    let provider = provider_id.unwrap_or(DEFAULT_PROVIDER);
    let Some(entry) = find(provider) else {
        return Err(ResolveError::Unknown(provider.to_string()));
    };
    let is_down = |id: &str| unavailable.iter().any(|u| u == id);
    if !is_down(provider) {
        let model = model_id.map(String::from).unwrap_or_else(|| {
            if provider == DEFAULT_PROVIDER { DEFAULT_MODEL } else { entry.models[0].0 }.to_string()
        });
        return Ok(Resolved { provider: provider.to_string(), model, fallback: false });
    }
    match fallback_provider.and_then(find) {
        Some(fb) if !is_down(fb.id) => Ok(Resolved {
            provider: fb.id.to_string(),
            model: fallback_model.unwrap_or(fb.models[0].0).to_string(),
            fallback: true,
        }),
        _ => Err(ResolveError::Unavailable(provider.to_string())),
    }
}

/// The `GET /api/v1/providers` body.
pub fn providers_json(unavailable: &[String]) -> Value {
    let mut providers = Map::new();
    for p in CATALOG {
        let models: Vec<Value> =
            p.models.iter().map(|(id, name, ctx)| json!({"id": id, "name": name, "context_length": ctx})).collect();
        providers.insert(
            p.id.to_string(),
            json!({"name": p.name, "available": !unavailable.iter().any(|u| u == p.id), "models": models}),
        );
    }
    json!({"providers": providers, "default_provider": DEFAULT_PROVIDER, "default_model": DEFAULT_MODEL})
}

/// The `GET /api/v1/health` body: "degraded" when any provider is unavailable.
pub fn health_json(unavailable: &[String]) -> Value {
    let mut providers = Map::new();
    let mut all_up = true;
    for p in CATALOG {
        let up = !unavailable.iter().any(|u| u == p.id);
        all_up &= up;
        providers.insert(p.id.to_string(), Value::Bool(up));
    }
    json!({
        "status": if all_up { "healthy" } else { "degraded" },
        "version": concat!(env!("CARGO_PKG_VERSION"), "-sim"),
        "providers": providers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_any_model() {
        let r = resolve(None, None, None, None, &[]).unwrap();
        assert_eq!((r.provider.as_str(), r.model.as_str(), r.fallback), ("simulator", "sim-model-1", false));
        let r = resolve(Some("openai"), Some("whatever-9"), None, None, &[]).unwrap();
        assert_eq!(r.model, "whatever-9");
    }

    #[test]
    fn unknown_unavailable_and_fallback() {
        let down = vec!["anthropic".to_string()];
        assert_eq!(resolve(Some("nope"), None, None, None, &[]).unwrap_err().status(), 400);
        assert_eq!(resolve(Some("anthropic"), None, None, None, &down).unwrap_err().status(), 503);
        let r = resolve(Some("anthropic"), None, Some("openai"), Some("gpt-4o-mini"), &down).unwrap();
        assert_eq!((r.provider.as_str(), r.model.as_str(), r.fallback), ("openai", "gpt-4o-mini", true));
        let r = resolve(Some("anthropic"), None, Some("ollama"), None, &down).unwrap();
        assert_eq!(r.model, "llama3");
        assert!(resolve(Some("anthropic"), None, Some("anthropic"), None, &down).is_err());
        assert!(resolve(Some("anthropic"), None, Some("nope"), None, &down).is_err());
    }
}
