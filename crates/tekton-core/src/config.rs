//! Client settings. Defaults follow the peers (openai/anthropic SDKs) where they are sensible.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL; may carry a path prefix (`http://host/api/llm`), paths are appended to it.
    pub base_url: String,
    pub component_id: String,
    pub auth_token: Option<String>,
    /// Bounds one attempt of a non-streaming call (headers and whole body), and the wait for
    /// each stream event unless `stream_idle_timeout` is set.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub stream_idle_timeout: Option<Duration>,
    /// Retries after the first attempt.
    pub max_retries: u32,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// A longer Retry-After than this is not waited for: the call fails with RateLimitError.
    pub max_retry_after: Duration,
    pub pool_max_idle_per_host: usize,
    pub pool_idle_timeout: Duration,
    pub max_response_bytes: usize,
    pub max_event_bytes: usize,
    /// Events buffered between the socket reader and a slow consumer before reading pauses.
    pub stream_buffer_events: usize,
    pub user_agent: String,
    pub extra_headers: Vec<(String, String)>,
    /// Extra trusted CAs (PEM) for https://, on top of the platform's roots.
    pub ca_bundle: Option<std::path::PathBuf>,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            base_url: "http://localhost:8003".to_owned(),
            component_id: "unknown".to_owned(),
            auth_token: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            stream_idle_timeout: None,
            max_retries: 3,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            pool_max_idle_per_host: 100,
            pool_idle_timeout: Duration::from_secs(90),
            max_response_bytes: 64 << 20,
            max_event_bytes: 8 << 20,
            stream_buffer_events: 4096,
            user_agent: concat!("tekton-llm-client/", env!("CARGO_PKG_VERSION")).to_owned(),
            extra_headers: Vec::new(),
            ca_bundle: None,
        }
    }
}

impl ClientConfig {
    pub fn stream_idle(&self) -> Duration {
        self.stream_idle_timeout.unwrap_or(self.timeout)
    }

    /// `base + path` with exactly one slash between them; a path prefix on the base is kept.
    pub fn url(&self, path: &str) -> String {
        let base = self.base_url.trim_end_matches('/');
        let path = path.trim_start_matches('/');
        format!("{base}/{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_kept() {
        let c = ClientConfig { base_url: "http://h/api/llm/".into(), ..Default::default() };
        assert_eq!(c.url("/api/v1/chat"), "http://h/api/llm/api/v1/chat");
    }
}
