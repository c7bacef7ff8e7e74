//! The WebSocket front end (`/ws`): REGISTER, GENERATE/CHAT, STREAM/CHAT_STREAM, CANCEL, PING,
//! with the same answers and faults as HTTP. Many requests run concurrently on one socket.

use crate::auth::{bearer, json_credentials, token_matches};
use crate::body::{full, SimBody};
use crate::chat::Answer;
use crate::clock;
use crate::config::Knobs;
use crate::faults::{json_error, retry_after_value, status_code_name};
use crate::pacing::Pacing;
use crate::recorder::RecordedRequest;
use crate::request::{field, parse_request};
use crate::server::Slot;
use crate::state::{State, TaskGuard};
use futures_util::{SinkExt, StreamExt};
use hyper::header::{HeaderMap, HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::upgrade::OnUpgrade;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Largest frame a client may send us (the HTTP body limit).
const MAX_MESSAGE: usize = 64 * 1024 * 1024;
/// Bytes buffered for a client that has not taken them: the largest answer frame (JSON of
/// MAX_LENGTH characters, each escaped to at most 6 bytes) plus room for the frames around it.
const WRITE_BUFFER_LIMIT: usize = crate::config::MAX_LENGTH * 6 + 1024 * 1024;

/// Pings a client may send while it reads none of our pongs; past it the socket is closed.
const MAX_UNANSWERED_PINGS: usize = 1024;

/// What request tasks ask the socket writer to do.
#[derive(Debug)]
enum Outgoing {
    Text(String),
    /// Push out what is buffered (the pongs tungstenite owes for pings the reader saw).
    Flush,
    /// Send a close frame, then drop the connection.
    Close(u16, &'static str),
    /// Drop the TCP connection without a close frame.
    Cut,
}

/// Whether the upgrade request already proved the caller (auth_token configured).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HeaderAuth {
    NotRequired,
    Valid,
    Missing,
    Wrong,
}

/// Answers the upgrade request with 101 and runs the session once hyper hands the socket over.
pub fn upgrade(
    state: Arc<State>,
    connection_id: u64,
    slot: Slot,
    path: String,
    headers: &HeaderMap,
    on_upgrade: OnUpgrade,
) -> Response<SimBody> {
    let Some(key) = headers.get(SEC_WEBSOCKET_KEY) else {
        return json_error(400, "missing Sec-WebSocket-Key", "invalid_request");
    };
    let accept = derive_accept_key(key.as_bytes());
    let header_auth = match (state.config.auth_token.as_deref(), bearer(headers)) {
        (None, _) => HeaderAuth::NotRequired,
        (Some(_), None) => HeaderAuth::Missing,
        (Some(expected), Some(given)) if token_matches(expected, given) => HeaderAuth::Valid,
        (Some(_), Some(_)) => HeaderAuth::Wrong,
    };
    let guard = state.task_guard();
    tokio::spawn(async move {
        let _guard = guard;
        let _slot = slot; // the session still counts against max_connections
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        // Bounded write buffer: a client that never reads cannot make our pongs (or answers)
        // pile up; a single frame may still be as large as the largest answer.
        let limits = WebSocketConfig::default()
            .max_write_buffer_size(WRITE_BUFFER_LIMIT)
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let socket = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(limits)).await;
        Session::run(state, connection_id, path, socket, header_auth).await;
    });
    let mut response = Response::new(full(bytes::Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(value) = HeaderValue::from_str(&accept) {
        h.insert(SEC_WEBSOCKET_ACCEPT, value);
    }
    response
}

struct Session {
    state: Arc<State>,
    connection_id: u64,
    /// The upgrade path (with any prefix), recorded with each frame.
    path: String,
    out: mpsc::Sender<Outgoing>,
    authed: bool,
    tasks: HashMap<String, AbortHandle>,
}

/// Sends frames in batches: feed everything queued, flush once. A write the client does not
/// take within `stall` ends the session (it is not reading).
async fn write_loop<S>(
    mut sink: S,
    mut rx: mpsc::Receiver<Outgoing>,
    stop: watch::Sender<bool>,
    stall: Duration,
    pings: Arc<AtomicUsize>,
) where
    S: futures_util::Sink<Message> + Unpin,
{
    'outer: while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(item) = next {
            match item {
                Outgoing::Text(text) => {
                    if !matches!(tokio::time::timeout(stall, sink.feed(Message::text(text))).await, Ok(Ok(()))) {
                        break 'outer;
                    }
                }
                Outgoing::Flush => {}
                Outgoing::Close(code, reason) => {
                    let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
                    let _ = tokio::time::timeout(stall, sink.send(Message::Close(Some(frame)))).await;
                    break 'outer;
                }
                Outgoing::Cut => {
                    // What was sent before the cut still arrives.
                    let _ = tokio::time::timeout(stall, sink.flush()).await;
                    break 'outer;
                }
            }
            next = rx.try_recv().ok();
        }
        if !matches!(tokio::time::timeout(stall, sink.flush()).await, Ok(Ok(()))) {
            break;
        }
        pings.store(0, Ordering::Relaxed); // every pong owed so far went out
    }
    let _ = stop.send(true);
}

fn frame(value: &Value) -> Outgoing {
    Outgoing::Text(value.to_string())
}

fn error_frame(request_id: Option<&str>, message: &str, code: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("type".into(), "ERROR".into());
    if let Some(id) = request_id {
        m.insert("request_id".into(), id.into());
    }
    m.insert("error".into(), message.into());
    m.insert("code".into(), code.into());
    m
}

impl Session {
    async fn run<S>(
        state: Arc<State>,
        connection_id: u64,
        path: String,
        socket: WebSocketStream<S>,
        header_auth: HeaderAuth,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sink, mut stream) = socket.split();
        let (out, rx) = mpsc::channel(1024);
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let idle = state.config.idle_timeout;
        let unanswered_pings = Arc::new(AtomicUsize::new(0));
        let writer = tokio::spawn(write_loop(sink, rx, stop_tx, idle, unanswered_pings.clone()));
        let mut session = Session {
            state,
            connection_id,
            path,
            out,
            authed: matches!(header_auth, HeaderAuth::NotRequired | HeaderAuth::Valid),
            tasks: HashMap::new(),
        };
        let mut open = true;
        if header_auth == HeaderAuth::Wrong {
            session.reject(None).await;
            open = false;
        }
        while open {
            let message = tokio::select! {
                m = tokio::time::timeout(idle, stream.next()) => match m {
                    Ok(m) => m,
                    Err(_) => {
                        session.send(Outgoing::Close(1001, "idle timeout")).await;
                        break;
                    }
                },
                _ = stop_rx.changed() => break,
            };
            open = match message {
                Some(Ok(Message::Text(text))) => session.on_text(text.as_str()).await,
                Some(Ok(Message::Binary(_))) => {
                    let e = error_frame(None, "binary frames are not supported", "invalid_message");
                    session.send(frame(&Value::Object(e))).await
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => false,
                Some(Ok(Message::Ping(_))) => {
                    // tungstenite queues the pong; the writer pushes it out. A client that
                    // never reads them is flooding us: close.
                    if unanswered_pings.fetch_add(1, Ordering::Relaxed) >= MAX_UNANSWERED_PINGS {
                        tracing::debug!("simulator websocket {connection_id}: ping flood, closing");
                        false
                    } else {
                        let _ = session.out.try_send(Outgoing::Flush);
                        true
                    }
                }
                Some(Ok(_)) => true, // pong frames
            };
        }
        for task in session.tasks.values() {
            task.abort();
        }
        drop(session);
        // The writer ends once every request task has dropped its sender; don't wait forever,
        // and don't leave it holding the socket.
        let stopping = writer.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), writer).await.is_err() {
            tracing::debug!("simulator websocket writer did not finish in time");
            stopping.abort();
        }
    }

    /// Queues a frame; false when the socket is gone.
    async fn send(&self, outgoing: Outgoing) -> bool {
        self.out.send(outgoing).await.is_ok()
    }

    /// ERROR unauthorized, then close the socket (policy violation).
    async fn reject(&self, request_id: Option<&str>) {
        let e = error_frame(request_id, "missing or invalid auth token", "unauthorized");
        self.send(frame(&Value::Object(e))).await;
        self.send(Outgoing::Close(1008, "unauthorized")).await;
    }

    fn record(&self, text: &str, json: Option<&Value>) {
        if !self.state.recorder.enabled() {
            return;
        }
        let object = json.and_then(Value::as_object);
        let secret = object.and_then(|o| field(o, "auth_token")).and_then(Value::as_str);
        let auth_ok = self
            .state
            .config
            .auth_token
            .as_deref()
            .map(|expected| secret.map_or(self.authed, |given| token_matches(expected, given)));
        self.state.recorder.push(RecordedRequest {
            method: "WS".to_string(),
            path: self.path.clone(),
            query: None,
            headers: BTreeMap::new(),
            body: text.to_string(),
            json: json.cloned(),
            connection_id: self.connection_id,
            request_id: object.and_then(|o| field(o, "request_id")).and_then(Value::as_str).map(String::from),
            time: clock::unix_seconds(),
            auth_ok,
            secrets: json_credentials(json),
        });
    }

    /// Handles one text frame; false when the session must end.
    async fn on_text(&mut self, text: &str) -> bool {
        let json: Option<Value> = serde_json::from_str(text).ok();
        self.record(text, json.as_ref());
        let Some(Value::Object(message)) = json else {
            let e = error_frame(None, "frame is not a JSON object", "invalid_json");
            return self.send(frame(&Value::Object(e))).await;
        };
        let request_id = field(&message, "request_id").and_then(Value::as_str).map(String::from);
        let kind = message.get("type").and_then(Value::as_str).unwrap_or("").to_ascii_uppercase();
        match kind.as_str() {
            "REGISTER" => {
                if !self.authed {
                    let expected = self.state.config.auth_token.as_deref();
                    let given = field(&message, "auth_token").and_then(Value::as_str);
                    if expected.zip(given).is_some_and(|(e, g)| token_matches(e, g)) {
                        self.authed = true;
                    } else {
                        self.reject(None).await;
                        return false;
                    }
                }
                let mut ack = json!({"type": "REGISTER_ACK", "session_id": uuid::Uuid::new_v4().to_string()});
                if let (Some(obj), Some(component)) = (ack.as_object_mut(), field(&message, "component_id")) {
                    obj.insert("component_id".into(), component.clone());
                }
                self.send(frame(&ack)).await
            }
            "PING" => self.send(frame(&json!({"type": "PONG"}))).await,
            "PONG" => true,
            "CANCEL" => {
                if let Some(task) = request_id.as_deref().and_then(|id| self.tasks.remove(id)) {
                    if !task.is_finished() {
                        task.abort();
                        let e = error_frame(request_id.as_deref(), "request cancelled", "cancelled");
                        return self.send(frame(&Value::Object(e))).await;
                    }
                }
                true
            }
            "GENERATE" | "CHAT" | "STREAM" | "CHAT_STREAM" => {
                if !self.authed {
                    self.reject(request_id.as_deref()).await;
                    return false;
                }
                let streaming = kind.ends_with("STREAM");
                self.start_request(request_id, &Value::Object(message), streaming).await
            }
            other => {
                let e = error_frame(request_id.as_deref(), &format!("unknown message type {other:?}"), "unknown_type");
                self.send(frame(&Value::Object(e))).await
            }
        }
    }

    async fn start_request(&mut self, request_id: Option<String>, message: &Value, streaming: bool) -> bool {
        let Some(request_id) = request_id else {
            let e = error_frame(None, "request_id is required", "invalid_request");
            return self.send(frame(&Value::Object(e))).await;
        };
        let request = match parse_request(message) {
            Ok(request) => request,
            Err(m) => {
                let mut e = error_frame(Some(&request_id), &m, "invalid_request");
                e.insert("status".into(), 422.into());
                return self.send(frame(&Value::Object(e))).await;
            }
        };
        let knobs = self.state.knobs(&[&request.knobs]);
        if let Err(m) = knobs.check_limits(streaming) {
            let mut e = error_frame(Some(&request_id), &m, "validation_error");
            e.insert("status".into(), 422.into());
            return self.send(frame(&Value::Object(e))).await;
        }
        if self.state.must_reset(&knobs, Some(&request_id)) {
            self.send(Outgoing::Cut).await;
            return false;
        }
        if let Some(status) = self.state.failing_status(&knobs, Some(&request_id)) {
            let mut e =
                error_frame(Some(&request_id), &format!("simulated failure: HTTP {status}"), status_code_name(status));
            e.insert("status".into(), status.into());
            // Seconds as a number, or the HTTP date as a string (as the Retry-After header would).
            match (knobs.retry_after, knobs.retry_after_http_date.unwrap_or(false)) {
                (Some(seconds), false) => {
                    e.insert("retry_after".into(), seconds.into());
                }
                (Some(_), true) => {
                    if let Some(date) = retry_after_value(&knobs) {
                        e.insert("retry_after".into(), date.into());
                    }
                }
                (None, _) => {}
            }
            return self.send(frame(&Value::Object(e))).await;
        }
        let answer = match Answer::prepare(&self.state, &request, knobs) {
            Ok(answer) => answer,
            Err(err) => {
                let mut e = error_frame(Some(&request_id), &err.message(), err.code());
                e.insert("status".into(), err.status().into());
                return self.send(frame(&Value::Object(e))).await;
            }
        };
        let out = self.out.clone();
        let guard = self.state.task_guard();
        let id = request_id.clone();
        let handle = if streaming {
            tokio::spawn(stream_task(answer, id, out, guard))
        } else {
            tokio::spawn(response_task(answer, id, out, guard))
        };
        self.tasks.retain(|_, task| !task.is_finished());
        self.tasks.insert(request_id, handle.abort_handle());
        true
    }
}

async fn response_task(answer: Answer, request_id: String, out: mpsc::Sender<Outgoing>, _guard: TaskGuard) {
    if let Some(delay) = answer.knobs.first_chunk_delay() {
        tokio::time::sleep(delay).await;
    }
    let mut response = answer.response_json();
    if let Some(obj) = response.as_object_mut() {
        obj.insert("type".into(), "RESPONSE".into());
        obj.insert("request_id".into(), request_id.into());
    }
    let _ = out.send(frame(&response)).await;
}

async fn stream_task(answer: Answer, request_id: String, out: mpsc::Sender<Outgoing>, _guard: TaskGuard) {
    let _ = stream_frames(&answer, &request_id, &out).await;
}

fn json_str(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string())
}

/// Sends the CHUNK frames (and faults). Err means the socket is gone.
async fn stream_frames(answer: &Answer, request_id: &str, out: &mpsc::Sender<Outgoing>) -> Result<(), ()> {
    let knobs: &Knobs = &answer.knobs;
    let send = |o: Outgoing| async move { out.send(o).await.map_err(|_| ()) };
    let head = format!(r#"{{"type":"CHUNK","request_id":{},"chunk":"#, json_str(request_id));
    let tail = format!(
        r#","done":false,"model":{},"provider":{},"context_id":{}}}"#,
        json_str(&answer.resolved.model),
        json_str(&answer.resolved.provider),
        json_str(&answer.context_id),
    );
    if let Some(delay) = knobs.first_chunk_delay() {
        tokio::time::sleep(delay).await;
    }
    let mut pacing = knobs.chunk_delay().map(|every| Pacing::new(every, knobs.lockstep()));
    let pieces = answer.chunks();
    for sent in 0..=pieces.len() {
        if knobs.ws_close_after == Some(sent) {
            return send(Outgoing::Close(1011, "simulated close")).await;
        }
        if knobs.cut_after == Some(sent) {
            return send(Outgoing::Cut).await;
        }
        if knobs.error_after == Some(sent) {
            let e = error_frame(
                Some(request_id),
                &format!("simulated provider error after {sent} chunks"),
                "provider_error",
            );
            return send(frame(&Value::Object(e))).await;
        }
        if knobs.no_done_after == Some(sent) {
            return Ok(());
        }
        if knobs.stall_after == Some(sent) {
            out.closed().await;
            return Ok(());
        }
        if knobs.ws_malformed_after == Some(sent) || knobs.malformed_after == Some(sent) {
            send(Outgoing::Text("this is not JSON {".to_string())).await?;
        }
        let Some(piece) = pieces.get(sent) else {
            break;
        };
        if let Some(pacing) = &mut pacing {
            let due = pacing.next_due();
            if sent > 0 || knobs.lockstep() {
                tokio::time::sleep_until(due.into()).await;
            }
        }
        let mut text = String::with_capacity(head.len() + piece.len() + tail.len() + 8);
        text.push_str(&head);
        text.push_str(&json_str(piece));
        text.push_str(&tail);
        send(Outgoing::Text(text)).await?;
    }
    let done = json!({
        "type": "CHUNK",
        "request_id": request_id,
        "chunk": "",
        "done": true,
        "model": answer.resolved.model,
        "provider": answer.resolved.provider,
        "context_id": answer.context_id,
        "finish_reason": "stop",
        "usage": answer.usage(),
        "fallback": answer.resolved.fallback,
    });
    send(frame(&done)).await
}
