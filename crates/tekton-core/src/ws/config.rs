//! What one WebSocket client is configured with. `Debug` never shows the token.

use std::fmt;
use std::time::Duration;

use crate::http::LogSink;

/// Bytes queued for Rhetor and not yet taken by it (frames waiting to be written plus
/// tungstenite's write buffer, each bounded by this); past it the peer is not reading: requests
/// are refused, and the socket is closed with LimitExceeded.
pub const SEND_BACKLOG_LIMIT: usize = 32 * 1024 * 1024;

/// Pings (WebSocket or protocol PING frames) Rhetor may send while it reads none of our
/// answers; past it the socket is closed with LimitExceeded.
pub const MAX_UNANSWERED_PINGS: usize = 1024;

/// Settings of one `WsClient`.
#[derive(Clone)]
pub struct WsConfig {
    /// `ws://…/ws` (the facade derives it from the base URL).
    pub url: String,
    pub component_id: String,
    /// Sent as `Authorization: Bearer` on the upgrade and as REGISTER's `auth_token`.
    pub auth_token: Option<String>,
    pub capabilities: Vec<String>,
    /// Bound on TCP connect + upgrade + REGISTER/REGISTER_ACK, and on how long a request waits
    /// for a reconnect before it fails.
    pub connect_timeout: Duration,
    /// Reconnect after the server closes the socket.
    pub reconnect: bool,
    /// First reconnect delay; doubles per failed attempt.
    pub reconnect_base_delay: Duration,
    /// Cap on the reconnect delay.
    pub max_reconnect_delay: Duration,
    /// A WebSocket ping goes out this often; a peer silent for a whole interval after a ping is
    /// dead. Zero disables pings.
    pub ping_interval: Duration,
    /// Largest message (and frame) accepted from the server, in bytes.
    pub max_message_size: usize,
    /// Hand every decoded server message's text to Python too (for `on_message`).
    pub emit_messages: bool,
    /// Where log lines go besides `tracing`.
    pub log: Option<LogSink>,
    /// Extra trusted CAs (PEM) for wss://, on top of the platform's roots.
    pub ca_bundle: Option<std::path::PathBuf>,
    /// The caller reads each ws:// socket itself (`WsClient::take_reader`); the runtime only
    /// writes. Under TLS the runtime reads anyway.
    pub read_on_caller_thread: bool,
}

impl WsConfig {
    pub fn new(url: impl Into<String>, component_id: impl Into<String>) -> WsConfig {
        WsConfig {
            url: url.into(),
            component_id: component_id.into(),
            auth_token: None,
            capabilities: vec!["generate".into(), "stream".into(), "chat".into()],
            connect_timeout: Duration::from_secs(10),
            reconnect: true,
            reconnect_base_delay: Duration::from_millis(250),
            max_reconnect_delay: Duration::from_secs(30),
            ping_interval: Duration::from_secs(20),
            max_message_size: 16 * 1024 * 1024,
            emit_messages: false,
            log: None,
            ca_bundle: None,
            read_on_caller_thread: false,
        }
    }

    /// How long a write may wait for Rhetor to take our bytes before the connection is declared
    /// dead: one ping interval (a live peer answers pings within it), at least connect_timeout.
    pub fn write_stall_limit(&self) -> Duration {
        self.ping_interval.max(self.connect_timeout)
    }

    pub(crate) fn log(&self, level: u8, message: &str) {
        crate::ws::log::emit(self.log.as_ref(), level, message);
    }

    /// `text` with the token blanked out: error text from lower layers may echo what we sent.
    pub fn redact(&self, text: &str) -> String {
        match self.auth_token.as_deref() {
            Some(token) if !token.is_empty() && text.contains(token) => text.replace(token, "***"),
            _ => text.to_owned(),
        }
    }
}

impl fmt::Debug for WsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsConfig")
            .field("url", &self.url)
            .field("component_id", &self.component_id)
            .field("auth_token", &self.auth_token.as_ref().map(|_| "***"))
            .field("connect_timeout", &self.connect_timeout)
            .field("reconnect", &self.reconnect)
            .field("max_reconnect_delay", &self.max_reconnect_delay)
            .field("ping_interval", &self.ping_interval)
            .field("max_message_size", &self.max_message_size)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_redact_hide_the_token() {
        let mut c = WsConfig::new("ws://h/ws", "comp");
        c.auth_token = Some("s3cret-token".into());
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(c.redact("bad s3cret-token here"), "bad *** here");
    }
}
