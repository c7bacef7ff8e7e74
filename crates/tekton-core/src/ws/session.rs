//! One registered socket, from REGISTER_ACK until it closes: reads and routes frames, writes
//! queued frames (a burst of requests goes out in one flush), answers PINGs and pings the peer.

use std::future::pending;
use std::sync::atomic::Ordering;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio::time::{interval_at, Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::error::{CoreError, ErrorKind};
use crate::stamped_tcp::{last_received_ns, StampedTcp};
use crate::ws::caller_reader::{ReaderEnd, ReaderLink};
use crate::ws::config::{MAX_UNANSWERED_PINGS, SEND_BACKLOG_LIMIT};
use crate::ws::frames::PONG_FRAME;
use crate::ws::shared::Shared;
use crate::ws::write_only_tcp::WriteOnlyTcp;

/// What a session's socket is: read by the runtime (the session reads it), or written only (the
/// caller reads it, `caller_reader`).
pub(crate) trait SessionSocket: AsyncRead + AsyncWrite + Unpin {
    /// When the bytes of the last read reached the socket (monotonic ns).
    fn last_received_ns(&self) -> u64;
    /// The session is over: end the connection, so that a reader elsewhere sees its end.
    fn end(&self) {}
}

impl SessionSocket for MaybeTlsStream<StampedTcp> {
    fn last_received_ns(&self) -> u64 {
        last_received_ns(self)
    }
}

impl SessionSocket for WriteOnlyTcp {
    fn last_received_ns(&self) -> u64 {
        tekton_clock::monotonic_ns() // never read here
    }

    fn end(&self) {
        self.shut_down();
    }
}

/// How a session ended.
pub(crate) enum SessionEnd {
    /// The caller closed the client.
    ClosedByUser,
    /// The socket was lost. `report`: also an error for `on_error` (not a plain server close).
    Lost { error: CoreError, report: bool },
}

/// Run one socket until it ends. `reader`: the link to the caller's reader when the caller reads
/// the socket (then `stream` is never read here).
pub(crate) async fn run_session<S: SessionSocket>(
    shared: &Shared,
    mut stream: WebSocketStream<S>,
    outbound: mpsc::UnboundedReceiver<Message>,
    shutdown: watch::Receiver<bool>,
    reader: Option<&ReaderLink>,
) -> SessionEnd {
    let end = serve(shared, &mut stream, outbound, shutdown, reader).await;
    if let Some(link) = reader {
        link.stop();
        stream.get_ref().end();
    }
    end
}

async fn serve<S: SessionSocket>(
    shared: &Shared,
    stream: &mut WebSocketStream<S>,
    mut outbound: mpsc::UnboundedReceiver<Message>,
    mut shutdown: watch::Receiver<bool>,
    reader: Option<&ReaderLink>,
) -> SessionEnd {
    let period = shared.config.ping_interval;
    let mut ticker = (!period.is_zero()).then(|| {
        let mut t = interval_at(Instant::now() + period, period);
        t.set_missed_tick_behavior(MissedTickBehavior::Delay);
        t
    });
    // Set when a ping goes out, cleared by any frame from the peer.
    let mut ping_unanswered = false;
    // Pings from the peer whose answer has not been written out yet (it is not reading).
    let mut pongs_owed = 0usize;
    let stall = shared.config.write_stall_limit();
    loop {
        if *shutdown.borrow_and_update() {
            close_politely(stream, reader).await;
            return SessionEnd::ClosedByUser;
        }
        tokio::select! {
            biased;
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    close_politely(stream, reader).await;
                    return SessionEnd::ClosedByUser;
                }
            }
            () = reader_ended(reader) => return reader_end(shared, reader),
            // Not read while the caller has EVENTS_QUEUED_LIMIT events to take: the server waits.
            () = shared.events.wait_for_room(), if shared.events.is_full() => {}
            incoming = stream.next(), if !shared.events.is_full() => {
                ping_unanswered = false;
                let received_ns = stream.get_ref().last_received_ns();
                let message = match incoming {
                    Some(Ok(message)) => message,
                    Some(Err(e)) => return lost_on_error(shared, e),
                    None => return SessionEnd::Lost {
                        error: CoreError::new(ErrorKind::Connection, "Rhetor closed the WebSocket connection"),
                        report: false,
                    },
                };
                let is_ws_ping = matches!(message, Message::Ping(_));
                let wants_pong = match message {
                    Message::Text(text) => shared.handle_text(text.as_str(), received_ns),
                    Message::Binary(bytes) => shared.handle_binary(&bytes, received_ns),
                    Message::Close(frame) => return SessionEnd::Lost {
                        error: CoreError::new(ErrorKind::Connection, closed_by_server(frame)),
                        report: false,
                    },
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => false,
                };
                if wants_pong || is_ws_ping {
                    // Answer without waiting: tungstenite already queued the pong of a WebSocket
                    // ping; a protocol PING gets its PONG frame if the socket takes it now.
                    pongs_owed += 1;
                    let answered = if wants_pong {
                        match stream.feed(Message::text(PONG_FRAME)).now_or_never() {
                            Some(Ok(())) => stream.flush().now_or_never(),
                            other => other,
                        }
                    } else {
                        stream.flush().now_or_never()
                    };
                    match answered {
                        Some(Ok(())) => pongs_owed = 0,
                        Some(Err(e)) => return lost_on_error(shared, e),
                        None if pongs_owed > MAX_UNANSWERED_PINGS => {
                            return SessionEnd::Lost { error: pings_unanswered(pongs_owed), report: true };
                        }
                        None => {}
                    }
                }
            }
            queued = outbound.recv() => {
                let Some(first) = queued else {
                    close_politely(stream, reader).await;
                    return SessionEnd::ClosedByUser;
                };
                let writing = tokio::time::timeout(stall, write_burst(shared, stream, first, &mut outbound));
                let written = tokio::select! {
                    written = writing => written,
                    // A reader that stops (a server that floods us without reading) ends the wait.
                    () = reader_ended(reader) => return reader_end(shared, reader),
                };
                match written {
                    Ok(Ok(())) => {
                        pongs_owed = 0;
                        if let Some(link) = reader {
                            link.pongs_owed.store(0, Ordering::Release);
                        }
                    }
                    Ok(Err(e)) => return lost_on_error(shared, e),
                    Err(_) => return stalled(stall),
                }
            }
            _ = tick(&mut ticker) => {
                if reader.is_some_and(|link| link.heard.swap(false, Ordering::AcqRel)) {
                    ping_unanswered = false;
                }
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
                match tokio::time::timeout(stall, stream.send(Message::Ping(Bytes::new()))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return lost_on_error(shared, e),
                    Err(_) => return stalled(stall),
                }
                ping_unanswered = true;
            }
        }
    }
}

/// Resolves when the caller's reader has stopped; never without one.
async fn reader_ended(reader: Option<&ReaderLink>) {
    match reader {
        Some(link) => link.ended.notified().await,
        None => pending::<()>().await,
    }
}

/// How the session ends after its reader stopped.
fn reader_end(shared: &Shared, reader: Option<&ReaderLink>) -> SessionEnd {
    match reader.and_then(ReaderLink::take_end) {
        Some(ReaderEnd::Closed(frame)) => {
            SessionEnd::Lost { error: CoreError::new(ErrorKind::Connection, closed_by_server(frame)), report: false }
        }
        Some(ReaderEnd::Failed(e)) => lost_on_error(shared, e),
        Some(ReaderEnd::Error(error)) => SessionEnd::Lost { error, report: true },
        None => lost_on_error(shared, WsError::AlreadyClosed),
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
async fn write_burst<S: SessionSocket>(
    shared: &Shared,
    stream: &mut WebSocketStream<S>,
    first: Message,
    outbound: &mut mpsc::UnboundedReceiver<Message>,
) -> Result<(), WsError> {
    shared.dequeued(first.len());
    stream.feed(first).await?;
    while let Ok(next) = outbound.try_recv() {
        shared.dequeued(next.len());
        stream.feed(next).await?;
    }
    stream.flush().await
}

/// Rhetor sent `owed` pings whose answers it has not read: past `MAX_UNANSWERED_PINGS` the
/// connection is closed (our answers would pile up).
pub(crate) fn pings_unanswered(owed: usize) -> CoreError {
    CoreError::new(
        ErrorKind::LimitExceeded,
        format!(
            "Rhetor sent {owed} pings without reading our answers (limit {MAX_UNANSWERED_PINGS}); \
             the connection was closed"
        ),
    )
}

/// Rhetor took none of our bytes for `stall`: it is not reading, the connection is dead.
fn stalled(stall: std::time::Duration) -> SessionEnd {
    SessionEnd::Lost {
        error: CoreError::new(
            ErrorKind::Timeout,
            format!("Rhetor read nothing we sent for {:.1}s: the connection is dead", stall.as_secs_f64()),
        ),
        report: true,
    }
}

async fn close_politely<S: SessionSocket>(stream: &mut WebSocketStream<S>, reader: Option<&ReaderLink>) {
    let frame = CloseFrame { code: CloseCode::Normal, reason: "client closed".into() };
    let closing = async {
        stream.close(Some(frame)).await?;
        // Wait for the server's close answer so the TCP connection ends cleanly.
        match reader {
            Some(link) => link.ended.notified().await,
            None => while stream.next().await.is_some() {},
        }
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
        WsError::WriteBufferFull(_) => SessionEnd::Lost {
            error: CoreError::new(
                ErrorKind::LimitExceeded,
                format!("Rhetor is not reading: {SEND_BACKLOG_LIMIT} bytes wait to be sent; the connection was closed"),
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
