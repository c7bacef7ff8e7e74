//! Reading a socket's frames on the caller's thread (the Python event loop's, in the binding):
//! the caller watches `SocketReader::fd` and calls `read_ready` when it is readable. Frames then
//! cost one wake-up of the caller's thread, not a runtime thread's wake-up and then a hand-over to
//! the caller's. The connection task keeps the rest: writes, pings, reconnects (`session`), and
//! learns of the socket's end through the `ReaderLink`. Used for `ws://` only: under TLS the
//! runtime reads.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, WebSocket};

use crate::error::CoreError;
use crate::ws::config::MAX_UNANSWERED_PINGS;
use crate::ws::frames::PONG_FRAME;
use crate::ws::session::pings_unanswered;
use crate::ws::shared::Shared;

/// Messages read per call at most: the caller's loop gets its turn, and the events a flood of
/// frames queues stay bounded by what the caller has taken.
const MESSAGES_PER_CALL: usize = 1024;

/// A socket's reading side: tungstenite's frame decoder over the socket, read with the kernel's
/// receive times. What tungstenite writes by itself (its automatic pong and close answer) goes
/// nowhere: the reader queues those answers for the connection task's writer instead.
pub struct StampedReads {
    socket: TcpStream,
    received_ns: u64,
}

impl StampedReads {
    pub fn new(socket: TcpStream) -> StampedReads {
        StampedReads { socket, received_ns: 0 }
    }

    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }
}

impl Read for StampedReads {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (n, stamp) = tekton_clock::receive_stamp::recv(self.socket.as_raw_fd(), buf)?;
        self.received_ns = stamp.unwrap_or_else(tekton_clock::monotonic_ns);
        Ok(n)
    }
}

impl Write for StampedReads {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Why the reader stopped.
pub(crate) enum ReaderEnd {
    /// The server closed the WebSocket (its close frame).
    Closed(Option<CloseFrame>),
    /// Reading failed, or the connection ended without a close frame.
    Failed(WsError),
    /// The server broke a limit (pings it does not read the answers of), or the reader failed.
    Error(CoreError),
}

/// What the reader and the connection task share.
#[derive(Default)]
pub(crate) struct ReaderLink {
    /// Set by every frame from the peer; the session's ping check takes it.
    pub heard: AtomicBool,
    /// Pongs queued for the writer and not written yet.
    pub pongs_owed: AtomicUsize,
    end: Mutex<Option<ReaderEnd>>,
    /// Notified once, when the reader stops.
    pub ended: Notify,
    /// The session is over: the reader stops at its next call.
    stopped: AtomicBool,
}

impl ReaderLink {
    fn finish(&self, end: ReaderEnd) {
        *self.end.lock().unwrap_or_else(|e| e.into_inner()) = Some(end);
        self.ended.notify_one();
    }

    /// Why the reader stopped (once).
    pub fn take_end(&self) -> Option<ReaderEnd> {
        self.end.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }
}

/// Read by the caller: see the module docs.
pub struct SocketReader {
    socket: WebSocket<StampedReads>,
    shared: Weak<Shared>,
    link: Arc<ReaderLink>,
    done: bool,
}

/// What a call of `read_ready` left.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadState {
    /// Everything that had arrived was read: call again when the socket is readable.
    Waiting,
    /// It stopped at its per-call limit: call again soon, even if the socket is not readable
    /// (frames may wait in the decoder's buffer).
    More,
    /// The caller has `EVENTS_QUEUED_LIMIT` events to take: stop watching the socket until it
    /// has taken some (the server waits in TCP meanwhile), then call again.
    Full,
    /// The socket has ended: stop watching it.
    Ended,
}

impl SocketReader {
    pub(crate) fn new(socket: WebSocket<StampedReads>, shared: &Arc<Shared>, link: Arc<ReaderLink>) -> SocketReader {
        SocketReader { socket, shared: Arc::downgrade(shared), link, done: false }
    }

    /// The descriptor to watch for readability.
    pub fn fd(&self) -> RawFd {
        self.socket.get_ref().socket().as_raw_fd()
    }

    /// Read and route the frames that have arrived, without waiting.
    pub fn read_ready(&mut self) -> ReadState {
        if self.done {
            return ReadState::Ended;
        }
        if self.link.stopped.load(Ordering::Acquire) {
            self.done = true;
            return ReadState::Ended;
        }
        let Some(shared) = self.shared.upgrade() else {
            self.done = true;
            return ReadState::Ended;
        };
        for _ in 0..MESSAGES_PER_CALL {
            if shared.events.is_full() {
                return ReadState::Full;
            }
            let message = match self.socket.read() {
                Ok(message) => message,
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return ReadState::Waiting,
                Err(e) => return self.end(ReaderEnd::Failed(e)),
            };
            self.link.heard.store(true, Ordering::Relaxed);
            let received_ns = self.socket.get_ref().received_ns;
            let answer = match message {
                Message::Text(text) => {
                    shared.handle_text(text.as_str(), received_ns).then(|| Message::text(PONG_FRAME))
                }
                Message::Binary(bytes) => shared.handle_binary(&bytes, received_ns).then(|| Message::text(PONG_FRAME)),
                Message::Ping(payload) => Some(Message::Pong(payload)),
                Message::Close(frame) => return self.end(ReaderEnd::Closed(frame)),
                Message::Pong(_) | Message::Frame(_) => None,
            };
            if let Some(answer) = answer {
                let owed = self.link.pongs_owed.fetch_add(1, Ordering::AcqRel) + 1;
                if owed > MAX_UNANSWERED_PINGS {
                    return self.end(ReaderEnd::Error(pings_unanswered(owed)));
                }
                shared.queue_answer(answer);
            }
        }
        ReadState::More
    }

    /// Stop reading for good because of `error` (a bug: the binding calls this when
    /// `read_ready` panicked). The session ends with `error` and reconnects.
    pub fn abandon(&mut self, error: CoreError) -> ReadState {
        if self.done {
            return ReadState::Ended;
        }
        self.end(ReaderEnd::Error(error))
    }

    fn end(&mut self, end: ReaderEnd) -> ReadState {
        self.done = true;
        self.link.finish(end);
        ReadState::Ended
    }
}

impl Drop for SocketReader {
    /// A reader dropped before its socket ended (its caller went away) ends the session too.
    fn drop(&mut self) {
        if !self.done {
            self.link.finish(ReaderEnd::Failed(WsError::AlreadyClosed));
        }
    }
}
