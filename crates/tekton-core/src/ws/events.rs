//! What the client hands up to Python, in order, through one queue. Python takes every ready
//! event in one call (`WsClient::next_events`), so a burst of chunks crosses the FFI boundary once.

use crate::error::CoreError;
use crate::ws::frames::{ChunkFrame, ResponseFrame};

#[derive(Debug, Clone)]
pub enum WsEvent {
    /// A chunk of a streamed answer.
    Chunk(ChunkFrame),
    /// A whole answer (GENERATE / CHAT).
    Response(ResponseFrame),
    /// A request ended with an error (server ERROR, or the socket was lost).
    RequestFailed { request_id: String, error: CoreError },
    /// A request was cancelled by the caller; nothing more comes for it.
    Cancelled { request_id: String },
    /// The text of a decoded server message (only when `emit_messages`).
    Message(String),
    /// An error not tied to one request (malformed frame, session ERROR, failed reconnect).
    Error(CoreError),
    /// A socket was registered (first connect or reconnect).
    Connected { session_id: String },
    /// The socket closed.
    Closed { reason: String },
    /// The client is finished: no event follows.
    Finished,
}
