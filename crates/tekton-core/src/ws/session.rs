//! One registered socket, from REGISTER_ACK until it closes: reads and routes frames, writes
//! queued frames (a burst of requests goes out in one flush), answers PINGs and pings the peer.

use std::future::pending;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::time::{interval_at, Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::error::{CoreError, ErrorKind};
use crate::ws::frames::PONG_FRAME;
use crate::ws::handshake::WsStream;
use crate::ws::shared::Shared;

/// How a session ended.
pub(crate) enum SessionEnd {
    /// The caller closed the client.
    ClosedByUser,
    /// The socket was lost. `report`: also an error for `on_error` (not a plain server close).
    Lost { error: CoreError, report: bool },
}

pub(crate) async fn run_session(
    shared: &Shared,
    mut stream: WsStream,
    mut outbound: mpsc::UnboundedReceiver<Message>,
    mut shutdown: watch::Receiver<bool>,
) -> SessionEnd {
    let period = shared.config.ping_interval;
    let mut ticker = (!period.is_zero()).then(|| {
        let mut t = interval_at(Instant::now() + period, period);
        t.set_missed_tick_behavior(MissedTickBehavior::Delay);
        t
    });
    // Set when a ping goes out, cleared by any frame from the peer.
    let mut ping_unanswered = false;
    loop {
        if *shutdown.borrow_and_update() {
            close_politely(&mut stream).await;
            return SessionEnd::ClosedByUser;
        }
        tokio::select! {
            biased;
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    close_politely(&mut stream).await;
                    return SessionEnd::ClosedByUser;
                }
            }
            incoming = stream.next() => {
                ping_unanswered = false;
                let message = match incoming {
                    Some(Ok(message)) => message,
                    Some(Err(e)) => return lost_on_error(shared, e),
                    None => return SessionEnd::Lost {
                        error: CoreError::new(ErrorKind::Connection, "Rhetor closed the WebSocket connection"),
                        report: false,
                    },
                };
                let wants_pong = match message {
                    Message::Text(text) => shared.handle_text(text.as_str()),
                    // Protocol frames are text; a binary frame holding UTF-8 JSON is read anyway.
                    Message::Binary(bytes) => match std::str::from_utf8(&bytes) {
                        Ok(text) => shared.handle_text(text),
                        Err(_) => {
                            shared.report_malformed("a binary frame that is not UTF-8 text");
                            false
                        }
                    },
                    Message::Close(frame) => return SessionEnd::Lost {
                        error: CoreError::new(ErrorKind::Connection, closed_by_server(frame)),
                        report: false,
                    },
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => false,
                };
                if wants_pong {
                    if let Err(e) = stream.send(Message::text(PONG_FRAME)).await {
                        return lost_on_error(shared, e);
                    }
                }
            }
            queued = outbound.recv() => {
                let Some(first) = queued else {
                    close_politely(&mut stream).await;
                    return SessionEnd::ClosedByUser;
                };
                if let Err(e) = write_burst(&mut stream, first, &mut outbound).await {
                    return lost_on_error(shared, e);
                }
            }
            _ = tick(&mut ticker) => {
                if ping_unanswered {
                    return SessionEnd::Lost {
                        error: CoreError::new(
                            ErrorKind::Timeout,
                            format!("Rhetor did not answer a ping within {:.1}s: the connection is dead",
                                    period.as_secs_f64()),
                        ),
                        report: true,
                    };
                }
                if let Err(e) = stream.send(Message::Ping(Bytes::new())).await {
                    return lost_on_error(shared, e);
                }
                ping_unanswered = true;
            }
        }
    }
}

async fn tick(ticker: &mut Option<Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => pending::<()>().await,
    }
}

/// Write `first` and everything else already queued, then flush once.
async fn write_burst(
    stream: &mut WsStream,
    first: Message,
    outbound: &mut mpsc::UnboundedReceiver<Message>,
) -> Result<(), WsError> {
    stream.feed(first).await?;
    while let Ok(next) = outbound.try_recv() {
        stream.feed(next).await?;
    }
    stream.flush().await
}

async fn close_politely(stream: &mut WsStream) {
    let frame = CloseFrame { code: CloseCode::Normal, reason: "client closed".into() };
    let closing = async {
        stream.close(Some(frame)).await?;
        // Read until the server's close answer so the TCP connection ends cleanly.
        while stream.next().await.is_some() {}
        Ok::<(), WsError>(())
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), closing).await;
}

fn closed_by_server(frame: Option<CloseFrame>) -> String {
    match frame {
        Some(f) if f.reason.is_empty() => format!("Rhetor closed the WebSocket connection (code {})", f.code),
        Some(f) => format!("Rhetor closed the WebSocket connection (code {}: {})", f.code, f.reason),
        None => "Rhetor closed the WebSocket connection".to_owned(),
    }
}

fn lost_on_error(shared: &Shared, e: WsError) -> SessionEnd {
    match e {
        WsError::Capacity(cause) => SessionEnd::Lost {
            error: CoreError::new(
                ErrorKind::LimitExceeded,
                format!(
                    "a WebSocket message from Rhetor exceeded max_message_size ({} bytes): {cause}; \
                     the connection was closed",
                    shared.config.max_message_size
                ),
            ),
            report: true,
        },
        WsError::ConnectionClosed | WsError::AlreadyClosed => SessionEnd::Lost {
            error: CoreError::new(ErrorKind::Connection, "Rhetor closed the WebSocket connection"),
            report: false,
        },
        other => SessionEnd::Lost {
            error: CoreError::new(
                ErrorKind::Connection,
                shared.config.redact(&format!("WebSocket connection to Rhetor lost: {other}")),
            ),
            report: true,
        },
    }
}
