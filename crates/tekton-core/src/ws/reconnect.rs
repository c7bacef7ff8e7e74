//! Keeping a socket up: run the session, and after the server closes it, reconnect with
//! exponential backoff and jitter until it works, the caller closes the client, or the server
//! refuses our token (retrying a refused token would only hammer the server).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::error::{CoreError, ErrorKind};
use crate::ws::caller_reader::{ReaderLink, SocketReader};
use crate::ws::events::WsEvent;
use crate::ws::handshake::{open_socket, OpenedSocket, SessionStream, WsStream};
use crate::ws::log::{INFO, WARNING};
use crate::ws::session::{run_session, SessionEnd};
use crate::ws::shared::Shared;
use crate::ws::write_only_tcp::WriteOnlyTcp;

/// The current socket's writing side as the connection task runs it.
// One per connection, moved twice: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Writer {
    /// The runtime reads and writes the socket.
    Whole(WsStream),
    /// The caller reads it (its reader was offered with the link).
    Caller(tokio_tungstenite::WebSocketStream<WriteOnlyTcp>, Arc<ReaderLink>),
}

/// Make `socket` the current one: requests are routed to it, and a socket the caller reads has
/// its reader offered. None when the client was closed meanwhile.
pub(crate) fn install(
    shared: &Arc<Shared>,
    socket: OpenedSocket,
) -> Option<(Writer, mpsc::UnboundedReceiver<Message>)> {
    let (writer, reader) = match socket.stream {
        SessionStream::Runtime(stream) => (Writer::Whole(stream), None),
        SessionStream::Caller { writer, reader } => {
            let link = Arc::new(ReaderLink::default());
            let reader = SocketReader::new(reader, shared, Arc::clone(&link));
            (Writer::Caller(writer, link), Some(reader))
        }
    };
    let outbound = shared.install_link(&socket.session_id, &socket.ack_text, reader)?;
    Some((writer, outbound))
}

/// Delay before reconnect attempt `attempt` (0-based): `base·2^attempt`, capped at `cap`, then
/// scaled into [½, 1] of that by `jitter_unit` (0..1) so that many clients dropped at once do not
/// return in lockstep, while none retries at once.
pub fn reconnect_delay(attempt: u32, base: Duration, cap: Duration, jitter_unit: f64) -> Duration {
    let exponent = i32::try_from(attempt.min(30)).unwrap_or(30);
    let backoff = (base.as_secs_f64() * 2f64.powi(exponent)).min(cap.as_secs_f64());
    let jitter = if jitter_unit.is_finite() { jitter_unit.clamp(0.0, 1.0) } else { 0.5 };
    Duration::from_secs_f64(backoff.max(0.0) * (0.5 + 0.5 * jitter))
}

/// The connection task: owns the socket for the client's whole life, then queues `Finished`.
pub(crate) async fn supervise(
    shared: Arc<Shared>,
    first: Writer,
    first_outbound: mpsc::UnboundedReceiver<Message>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut next = Some((first, first_outbound));
    let mut attempt: u32 = 0;
    loop {
        if let Some((stream, outbound)) = next.take() {
            let ended = match stream {
                Writer::Whole(stream) => run_session(&shared, stream, outbound, shutdown.clone(), None).await,
                Writer::Caller(stream, link) => {
                    run_session(&shared, stream, outbound, shutdown.clone(), Some(&link)).await
                }
            };
            match ended {
                SessionEnd::ClosedByUser => {
                    shared.lose_link(&CoreError::new(ErrorKind::Connection, "the WebSocket client was closed"));
                    break;
                }
                SessionEnd::Lost { error, report } => {
                    shared.config.log(WARNING, &format!("WebSocket connection to Rhetor lost: {}", error.message));
                    if report {
                        shared.emit(WsEvent::Error(error.clone()));
                    }
                    shared.lose_link(&error);
                }
            }
            attempt = 0;
        }
        if !shared.config.reconnect || shared.is_closed() || *shutdown.borrow() {
            break;
        }
        let config = &shared.config;
        let delay = reconnect_delay(attempt, config.reconnect_base_delay, config.max_reconnect_delay, fastrand::f64());
        attempt = attempt.saturating_add(1);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => break,
        }
        let opened = tokio::select! {
            opened = open_socket(config) => opened,
            _ = shutdown.changed() => break,
        };
        match opened {
            Ok(socket) => {
                let line = format!("reconnected to Rhetor (session {}, attempt {attempt})", socket.session_id);
                match install(&shared, socket) {
                    Some(installed) => {
                        shared.config.log(INFO, &line);
                        next = Some(installed);
                    }
                    None => break,
                }
            }
            Err(e) => {
                let line = format!("reconnect to Rhetor failed (attempt {attempt}): {}", e.message);
                shared.config.log(WARNING, &line);
                let refused = e.kind == ErrorKind::Authentication;
                let message = format!("reconnect attempt {attempt} failed: {}", e.message);
                shared.emit(WsEvent::Error(CoreError { message, ..e }));
                if refused {
                    break;
                }
            }
        }
    }
    shared.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_then_caps_and_jitters_within_half() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(2);
        assert_eq!(reconnect_delay(0, base, cap, 1.0), Duration::from_millis(100));
        assert_eq!(reconnect_delay(0, base, cap, 0.0), Duration::from_millis(50));
        assert_eq!(reconnect_delay(3, base, cap, 1.0), Duration::from_millis(800));
        assert_eq!(reconnect_delay(10, base, cap, 1.0), cap);
        assert_eq!(reconnect_delay(u32::MAX, base, cap, 0.0), Duration::from_secs(1));
        assert_eq!(reconnect_delay(1, base, cap, f64::NAN), Duration::from_millis(150));
    }
}
