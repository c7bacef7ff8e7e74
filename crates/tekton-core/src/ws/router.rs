//! Ties server frames to the requests in flight on one socket, by `request_id`.
//!
//! Pure bookkeeping: `Router::route` turns a decoded frame into what the session must do with it.
//! A request leaves the table on its terminal frame (a `done` chunk, a RESPONSE, an ERROR), on
//! cancel, or when the socket is lost.

use std::collections::HashMap;

use crate::activity::InFlight;
use crate::error::{CoreError, ErrorKind};
use crate::ws::frames::{kind_for_error, ChunkFrame, ResponseFrame, ServerFrame};

/// What to do with one decoded server frame.
#[derive(Debug, Clone)]
pub enum Routed {
    /// A chunk for a request in flight (the request is finished when `done`).
    Chunk(ChunkFrame),
    /// The whole answer to a request in flight.
    Response(ResponseFrame),
    /// A request in flight failed on the server.
    RequestFailed { request_id: String, error: CoreError },
    /// An error about the session, not one request: goes to `on_error`.
    SessionError(CoreError),
    /// The server pinged: answer PONG.
    ReplyPong,
    /// A frame for a request that is not in flight (finished, cancelled, never ours).
    Dropped { request_id: String },
    /// Nothing to do (PONG, a late REGISTER_ACK, unknown frame types).
    Ignored,
}

/// The requests in flight on one client, each counted in the process's exchanges in flight (so
/// the bindings coalesce wake-ups for many multiplexed WebSocket streams as for HTTP ones).
#[derive(Default)]
pub struct Router {
    in_flight: HashMap<String, InFlight>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router").field("in_flight", &self.in_flight.keys().collect::<Vec<_>>()).finish()
    }
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }

    /// Start tracking a request; false when the id is already in flight.
    pub fn register(&mut self, request_id: &str) -> bool {
        if self.in_flight.contains_key(request_id) {
            return false;
        }
        self.in_flight.insert(request_id.to_owned(), InFlight::start());
        true
    }

    /// Stop tracking a request; false when it was not in flight.
    pub fn remove(&mut self, request_id: &str) -> bool {
        self.in_flight.remove(request_id).is_some()
    }

    pub fn contains(&self, request_id: &str) -> bool {
        self.in_flight.contains_key(request_id)
    }

    pub fn len(&self) -> usize {
        self.in_flight.len()
    }

    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Every request in flight, emptying the table (the socket is gone).
    pub fn drain(&mut self) -> Vec<String> {
        self.in_flight.drain().map(|(id, _)| id).collect()
    }

    /// Route one decoded frame, updating the table.
    pub fn route(&mut self, frame: ServerFrame) -> Routed {
        match frame {
            ServerFrame::Chunk(chunk) => {
                let known = if chunk.done { self.remove(&chunk.request_id) } else { self.contains(&chunk.request_id) };
                if known {
                    Routed::Chunk(chunk)
                } else {
                    Routed::Dropped { request_id: chunk.request_id }
                }
            }
            ServerFrame::Response(response) => {
                if self.remove(&response.request_id) {
                    Routed::Response(response)
                } else {
                    Routed::Dropped { request_id: response.request_id }
                }
            }
            ServerFrame::Error(err) => {
                let mut error =
                    CoreError::new(kind_for_error(err.code.as_deref(), err.status), err.error).with_code(err.code);
                error.status = err.status;
                error.retry_after = err.retry_after;
                match err.request_id {
                    Some(id) if self.remove(&id) => {
                        Routed::RequestFailed { error: error.with_request_id(id.clone()), request_id: id }
                    }
                    Some(id) => Routed::Dropped { request_id: id },
                    None => Routed::SessionError(error),
                }
            }
            ServerFrame::Ping => Routed::ReplyPong,
            ServerFrame::Pong | ServerFrame::RegisterAck { .. } | ServerFrame::Other { .. } => Routed::Ignored,
        }
    }
}

/// The error every request in flight gets when the socket is lost: the session's own error when
/// it says more (a size limit), else a ConnectionError.
pub fn in_flight_error(session_error: &CoreError, request_id: &str) -> CoreError {
    let kind = match session_error.kind {
        ErrorKind::LimitExceeded => ErrorKind::LimitExceeded,
        _ => ErrorKind::Connection,
    };
    CoreError::new(kind, session_error.message.clone()).with_request_id(request_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::frames::decode_server_frame;

    fn route(router: &mut Router, text: &str) -> Routed {
        router.route(decode_server_frame(text).unwrap())
    }

    #[test]
    fn chunks_route_to_their_request_until_done() {
        let mut r = Router::new();
        assert!(r.register("a"));
        assert!(r.register("b"));
        assert!(!r.register("a"), "duplicate id accepted");
        let Routed::Chunk(c) = route(&mut r, r#"{"type":"CHUNK","request_id":"b","chunk":"x"}"#) else {
            panic!("not routed")
        };
        assert_eq!(c.request_id, "b");
        assert!(r.contains("b"));
        assert!(matches!(
            route(&mut r, r#"{"type":"CHUNK","request_id":"b","chunk":"","done":true}"#),
            Routed::Chunk(_)
        ));
        assert!(!r.contains("b"));
        assert!(r.contains("a"));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn unknown_ids_are_dropped() {
        let mut r = Router::new();
        assert!(matches!(
            route(&mut r, r#"{"type":"CHUNK","request_id":"zz","chunk":"x"}"#),
            Routed::Dropped { request_id } if request_id == "zz"
        ));
        assert!(matches!(
            route(&mut r, r#"{"type":"RESPONSE","request_id":"zz","content":"x"}"#),
            Routed::Dropped { .. }
        ));
        assert!(matches!(route(&mut r, r#"{"type":"ERROR","request_id":"zz","error":"x"}"#), Routed::Dropped { .. }));
    }

    #[test]
    fn responses_and_errors_finish_requests() {
        let mut r = Router::new();
        r.register("g");
        r.register("e");
        assert!(matches!(
            route(&mut r, r#"{"type":"RESPONSE","request_id":"g","content":"all"}"#),
            Routed::Response(resp) if resp.content == "all"
        ));
        let Routed::RequestFailed { request_id, error } =
            route(&mut r, r#"{"type":"ERROR","request_id":"e","error":"busy","code":"rate_limited"}"#)
        else {
            panic!("not a request failure")
        };
        assert_eq!(request_id, "e");
        assert_eq!(error.kind, ErrorKind::RateLimit);
        assert_eq!(error.request_id.as_deref(), Some("e"));
        assert!(r.is_empty());
    }

    #[test]
    fn session_frames() {
        let mut r = Router::new();
        assert!(matches!(
            route(&mut r, r#"{"type":"ERROR","error":"nope","code":"unauthorized"}"#),
            Routed::SessionError(e) if e.kind == ErrorKind::Authentication
        ));
        assert!(matches!(route(&mut r, r#"{"type":"PING"}"#), Routed::ReplyPong));
        assert!(matches!(route(&mut r, r#"{"type":"PONG"}"#), Routed::Ignored));
        assert!(matches!(route(&mut r, r#"{"type":"NEWS"}"#), Routed::Ignored));
    }

    #[test]
    fn drain_empties_and_in_flight_error_keeps_limit_kind() {
        let mut r = Router::new();
        r.register("1");
        r.register("2");
        let mut ids = r.drain();
        ids.sort();
        assert_eq!(ids, ["1", "2"]);
        assert!(r.is_empty());
        let limit = CoreError::new(ErrorKind::LimitExceeded, "too big");
        assert_eq!(in_flight_error(&limit, "1").kind, ErrorKind::LimitExceeded);
        let closed = CoreError::new(ErrorKind::Timeout, "no pong");
        let e = in_flight_error(&closed, "2");
        assert_eq!(e.kind, ErrorKind::Connection);
        assert_eq!(e.request_id.as_deref(), Some("2"));
    }

    #[test]
    fn requests_count_as_exchanges_in_flight_while_tracked() {
        let mut r = Router::new();
        for i in 0..64 {
            assert!(r.register(&format!("count-{i}")));
        }
        assert!(!r.register("count-0"), "an id in flight is not counted twice");
        // Other tests may hold exchanges too, so only the lower bound is certain.
        assert!(crate::activity::in_flight() >= 64);
        assert_eq!(r.drain().len(), 64);
    }
}
