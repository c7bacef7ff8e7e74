//! State shared by the client handle (called from Python) and its connection task.
//!
//! One lock guards the request table and the outbound channel together, so a request is either
//! registered on a live socket (and then answered or failed when that socket goes) or refused:
//! no request can slip between a socket's loss and the failing of its requests. Events are
//! queued while the lock is held, so their order matches the order of the table's changes.
//! Nothing that may wait for Python's GIL (the log sink) runs under the lock: Python threads
//! take the lock while holding the GIL.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::error::{CoreError, ErrorKind};
use crate::ws::caller_reader::SocketReader;
use crate::ws::config::{WsConfig, SEND_BACKLOG_LIMIT};
use crate::ws::event_queue::EventQueue;
use crate::ws::events::WsEvent;
use crate::ws::frames::{decode_server_frame, encode_cancel, ServerFrame};
use crate::ws::log::{DEBUG, WARNING};
use crate::ws::router::{in_flight_error, Routed, Router};

pub(crate) struct LinkState {
    pub router: Router,
    /// Frames for the socket's writer; `Some` only while a registered socket is up.
    pub outbound: Option<mpsc::UnboundedSender<Message>>,
    /// Closed by the caller, or gave up reconnecting: nothing more will be sent.
    pub closed: bool,
    /// `Finished` has been queued.
    pub finished: bool,
    pub session_id: Option<String>,
    /// Sockets registered so far (1 + reconnects).
    pub connections: u64,
}

pub(crate) struct Shared {
    pub config: WsConfig,
    state: Mutex<LinkState>,
    pub(crate) events: EventQueue,
    /// Bumped whenever a socket comes up or goes down (requests waiting for one watch it).
    link_changed: watch::Sender<u64>,
    /// Bytes of frames queued for the writer and not yet taken by it.
    queued_bytes: AtomicUsize,
    /// The current socket's reader, until the caller takes it (`WsConfig::read_on_caller_thread`).
    reader: Mutex<Option<SocketReader>>,
}

impl Shared {
    pub fn new(config: WsConfig) -> Shared {
        let (link_changed, _) = watch::channel(0);
        Shared {
            config,
            state: Mutex::new(LinkState {
                router: Router::new(),
                outbound: None,
                closed: false,
                finished: false,
                session_id: None,
                connections: 0,
            }),
            events: EventQueue::default(),
            link_changed,
            queued_bytes: AtomicUsize::new(0),
            reader: Mutex::new(None),
        }
    }

    /// The writer took a frame of `len` bytes off the queue.
    pub fn dequeued(&self, len: usize) {
        let _ = self.queued_bytes.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |q| Some(q.saturating_sub(len)));
    }

    fn enqueued(&self, len: usize) {
        self.queued_bytes.fetch_add(len, Ordering::SeqCst);
    }

    /// The state, even if a thread panicked while holding it (the table stays usable).
    pub fn lock(&self) -> MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn emit(&self, event: WsEvent) {
        self.events.push(event);
    }

    pub fn watch_link(&self) -> watch::Receiver<u64> {
        self.link_changed.subscribe()
    }

    fn bump_link(&self) {
        self.link_changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// A socket is registered: route requests to it. None when the client was closed meanwhile.
    /// A socket read by the caller has its `reader` offered (`take_reader`) before `Connected`
    /// is queued, so a caller that looks for it on that event finds it.
    pub fn install_link(
        &self,
        session_id: &str,
        ack_text: &str,
        reader: Option<SocketReader>,
    ) -> Option<mpsc::UnboundedReceiver<Message>> {
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut st = self.lock();
            if st.closed {
                return None;
            }
            *self.reader.lock().unwrap_or_else(|e| e.into_inner()) = reader;
            // Frames queued for the old socket went with it.
            self.queued_bytes.store(0, Ordering::SeqCst);
            st.outbound = Some(tx);
            st.session_id = Some(session_id.to_owned());
            st.connections += 1;
            if self.config.emit_messages {
                self.emit(WsEvent::Message(ack_text.to_owned()));
            }
            self.emit(WsEvent::Connected { session_id: session_id.to_owned() });
        }
        self.bump_link();
        Some(rx)
    }

    /// The socket is gone: fail every request in flight, then report the close.
    pub fn lose_link(&self, cause: &CoreError) {
        {
            let mut st = self.lock();
            st.outbound = None;
            for request_id in st.router.drain() {
                let error = in_flight_error(cause, &request_id);
                self.emit(WsEvent::RequestFailed { request_id, error });
            }
            self.emit(WsEvent::Closed { reason: cause.message.clone() });
        }
        self.bump_link();
    }

    /// No more sockets: refuse new requests and tell Python the event stream has ended.
    pub fn finish(&self) {
        {
            let mut st = self.lock();
            st.closed = true;
            st.outbound = None;
            if st.finished {
                return;
            }
            st.finished = true;
            for request_id in st.router.drain() {
                let error = CoreError::new(ErrorKind::Connection, "the WebSocket client is closed")
                    .with_request_id(request_id.clone());
                self.emit(WsEvent::RequestFailed { request_id, error });
            }
            self.emit(WsEvent::Finished);
        }
        self.bump_link();
    }

    /// The current socket's reader, once: the caller reads that socket from then on.
    pub fn take_reader(&self) -> Option<SocketReader> {
        self.reader.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Queue an answer the reader owes the server (a pong) for the writer.
    pub fn queue_answer(&self, message: Message) {
        let st = self.lock();
        if let Some(outbound) = &st.outbound {
            self.enqueued(message.len());
            let _ = outbound.send(message);
        }
    }

    /// Register a request and queue its frame, if a socket is up. `Ok(false)`: no socket now.
    pub fn try_send(&self, request_id: &str, frame: &str) -> Result<bool, CoreError> {
        let mut st = self.lock();
        if st.closed {
            return Err(
                CoreError::new(ErrorKind::Connection, "the WebSocket client is closed").with_request_id(request_id)
            );
        }
        let Some(outbound) = st.outbound.clone() else {
            return Ok(false);
        };
        let queued = self.queued_bytes.load(Ordering::SeqCst);
        if queued.saturating_add(frame.len()) > SEND_BACKLOG_LIMIT {
            return Err(CoreError::new(
                ErrorKind::LimitExceeded,
                format!(
                    "request not sent: {queued} bytes are already waiting for Rhetor to read them, and \
                     this {}-byte frame would pass the {SEND_BACKLOG_LIMIT}-byte send backlog",
                    frame.len()
                ),
            )
            .with_request_id(request_id));
        }
        if !st.router.register(request_id) {
            return Err(CoreError::new(
                ErrorKind::InvalidRequest,
                format!("request id {request_id} is already in flight"),
            ));
        }
        self.enqueued(frame.len());
        if outbound.send(Message::text(frame.to_owned())).is_err() {
            // The writer has just stopped; its loss will be reported, try the next socket.
            st.router.remove(request_id);
            return Ok(false);
        }
        Ok(true)
    }

    /// Stop a request: send CANCEL and end it for the caller. False when it was not in flight.
    pub fn cancel(&self, request_id: &str) -> bool {
        let mut st = self.lock();
        if !st.router.remove(request_id) {
            return false;
        }
        if let Some(outbound) = &st.outbound {
            let cancel = encode_cancel(request_id);
            self.enqueued(cancel.len());
            let _ = outbound.send(Message::text(cancel));
        }
        self.emit(WsEvent::Cancelled { request_id: request_id.to_owned() });
        true
    }

    /// A frame that is not the protocol: logged and handed to `on_error`; the socket stays up.
    pub fn report_malformed(&self, reason: &str) {
        self.config.log(WARNING, &format!("malformed frame from Rhetor: {reason}"));
        self.emit(WsEvent::Error(CoreError::new(
            ErrorKind::Protocol,
            format!("malformed WebSocket frame from Rhetor: {reason}"),
        )));
    }

    /// Decode and route one text frame, read at `received_ns` (`tekton_clock::monotonic_ns`). Returns
    /// true when the server asked for a PONG.
    pub fn handle_text(&self, text: &str, received_ns: u64) -> bool {
        let frame = match decode_server_frame(text) {
            Ok(ServerFrame::Chunk(mut chunk)) => {
                chunk.received_ns = received_ns;
                ServerFrame::Chunk(chunk)
            }
            Ok(frame) => frame,
            Err(bad) => {
                self.report_malformed(&bad.reason);
                return false;
            }
        };
        // Log after unlocking: the log sink may wait for Python's GIL, whose holder may be
        // waiting for this lock.
        let (wants_pong, log_line) = self.route_locked(text, frame);
        if let Some((level, line)) = log_line {
            self.config.log(level, &line);
        }
        wants_pong
    }

    /// `handle_text` for a binary frame: protocol frames are text, but one holding UTF-8 JSON is
    /// read anyway.
    pub fn handle_binary(&self, bytes: &[u8], received_ns: u64) -> bool {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.handle_text(text, received_ns),
            Err(_) => {
                self.report_malformed("a binary frame that is not UTF-8 text");
                false
            }
        }
    }

    fn route_locked(&self, text: &str, frame: ServerFrame) -> (bool, Option<(u8, String)>) {
        let mut st = self.lock();
        if self.config.emit_messages {
            self.emit(WsEvent::Message(text.to_owned()));
        }
        match st.router.route(frame) {
            Routed::Chunk(chunk) => self.emit(WsEvent::Chunk(chunk)),
            Routed::Response(response) => self.emit(WsEvent::Response(response)),
            Routed::RequestFailed { request_id, error } => self.emit(WsEvent::RequestFailed { request_id, error }),
            Routed::SessionError(error) => {
                let line = format!("Rhetor reported a session error: {}", error.message);
                self.emit(WsEvent::Error(error));
                return (false, Some((WARNING, line)));
            }
            Routed::ReplyPong => return (true, None),
            Routed::Dropped { request_id } => {
                return (false, Some((DEBUG, format!("frame for request {request_id} dropped: not in flight"))));
            }
            Routed::Ignored => {}
        }
        (false, None)
    }
}
