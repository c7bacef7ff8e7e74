//! `_core.WebSocketTransport`: the Rust backend of `TektonLLMWebSocketClient`.
//!
//! Python pulls events with `await next_events()`: one call returns every event that is ready
//! (for all requests), as a list of plain tuples, so a burst of chunks costs one boundary
//! crossing. The events become Python objects on the loop's thread (who calls what:
//! docs/handoff.md). The tuple shapes are the backend interface shared with `_pure/websocket.py`:
//!
//! ```text
//! (0, request_id, StreamingChunk)           a chunk (received_ns set)
//! (1, request_id, content, model, provider, finish_reason, usage, context_id, fallback, timestamp)
//! (2, request_id, kind, message, code, status, retry_after)   a request failed
//! (3, request_id)                           a request was cancelled
//! (4, text)                                 a decoded server message (emit_messages only)
//! (5, kind, message, code, status, retry_after)   an error for on_error
//! (6, session_id)                           a socket was registered
//! (7, reason)                               the socket closed
//! ```
//! `usage` is None or `(prompt_tokens, completion_tokens, total_tokens)`.
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;
use pyo3::{intern, BoundObject};
use tekton_core::ws::{FrameUsage, Taken, WsClient, WsConfig, WsEvent};
use tekton_core::CoreError;

use crate::py_errors::to_py_err;
use crate::py_models::ChunkBuilder;
use crate::py_seconds::seconds_or_off;
use crate::py_ws_reader::{ParkedReader, PyWebSocketReader};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyWebSocketTransport>()?;
    m.add_class::<PyWebSocketReader>()?;
    Ok(())
}

/// One multiplexed, self-reconnecting socket to Rhetor's /ws. With `read_on_loop` (by default,
/// unless `TEKTON_LLM_WS_READ_ON_LOOP=0`) a ws:// socket is read on the event loop's thread
/// (`py_ws_reader`), from the first `next_events` on; the runtime writes it, and reads wss://
/// sockets.
#[pyclass(name = "WebSocketTransport", module = "tekton_llm_client._core", frozen)]
pub struct PyWebSocketTransport {
    client: Arc<WsClient>,
    /// A loop reader waiting for the dispatcher to take events (`py_ws_reader`).
    parked: ParkedReader,
    /// The loop events are taken from, and its queue (looked up once, not per batch).
    event_loop: crate::py_bridge::LoopCache,
}

/// An awaitable's outcome to Python (on the loop thread).
fn settle<T: for<'a> IntoPyObject<'a>>(py: Python<'_>, out: Result<T, CoreError>) -> PyResult<Py<PyAny>> {
    let value = out.map_err(|e| to_py_err(py, &e))?;
    value.into_pyobject(py).map(|b| b.into_any().into_bound().unbind()).map_err(Into::into)
}

impl PyWebSocketTransport {
    /// Wrap a core client (the test hooks build clients without a server).
    #[cfg(feature = "test-hooks")]
    pub(crate) fn from_client(client: WsClient) -> PyWebSocketTransport {
        PyWebSocketTransport { client: Arc::new(client), parked: Default::default(), event_loop: Default::default() }
    }
}

#[pymethods]
impl PyWebSocketTransport {
    #[new]
    #[pyo3(signature = (
        url, component_id, *, auth_token=None, capabilities=None, connect_timeout=10.0,
        reconnect=true, reconnect_base_delay=0.25, max_reconnect_delay=30.0, ping_interval=20.0,
        max_message_size=16_777_216, emit_messages=false, ca_bundle=None, read_on_loop=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        url: String,
        component_id: String,
        auth_token: Option<String>,
        capabilities: Option<Vec<String>>,
        connect_timeout: f64,
        reconnect: bool,
        reconnect_base_delay: f64,
        max_reconnect_delay: f64,
        ping_interval: f64,
        max_message_size: usize,
        emit_messages: bool,
        ca_bundle: Option<std::path::PathBuf>,
        read_on_loop: Option<bool>,
    ) -> PyResult<Self> {
        if max_message_size == 0 {
            return Err(PyValueError::new_err("max_message_size must be positive"));
        }
        let mut config = WsConfig::new(url, component_id);
        config.auth_token = auth_token.filter(|t| !t.is_empty());
        if let Some(capabilities) = capabilities {
            config.capabilities = capabilities;
        }
        config.connect_timeout = seconds_or_off("connect_timeout", connect_timeout)?;
        config.reconnect = reconnect;
        config.reconnect_base_delay = seconds_or_off("reconnect_base_delay", reconnect_base_delay)?;
        config.max_reconnect_delay = seconds_or_off("max_reconnect_delay", max_reconnect_delay)?;
        config.ping_interval = seconds_or_off("ping_interval", ping_interval)?;
        config.max_message_size = max_message_size;
        config.emit_messages = emit_messages;
        config.ca_bundle = ca_bundle;
        config.read_on_caller_thread = match read_on_loop {
            Some(on_loop) => on_loop,
            None => read_on_loop_from_env()?,
        };
        config.log = Some(crate::py_log::sink());
        Ok(PyWebSocketTransport {
            client: Arc::new(WsClient::new(config)),
            parked: Default::default(),
            event_loop: Default::default(),
        })
    }

    /// Open and register the socket; resolves to the session id.
    fn connect<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = Arc::clone(&self.client);
        crate::py_bridge::spawn(py, async move { client.connect().await }, settle)
    }

    /// Register `request_id` and send its JSON frame (waits for a reconnect if one is under way).
    /// With a socket up the frame is queued at once and an already-finished awaitable returned:
    /// no task and no loop round trip per request.
    fn send<'py>(&self, py: Python<'py>, request_id: String, frame: String) -> PyResult<Bound<'py, PyAny>> {
        if self.client.try_send(&request_id, &frame).map_err(|e| to_py_err(py, &e))? {
            return crate::py_chunk_iter::ready(py, py.None().into_bound(py));
        }
        let client = Arc::clone(&self.client);
        crate::py_bridge::spawn(py, async move { client.send(&request_id, &frame).await }, settle)
    }

    /// Cancel a request in flight; False when it was not in flight.
    fn cancel(&self, request_id: &str) -> bool {
        self.client.cancel(request_id)
    }

    /// Every ready event as a list of tuples (see the module docs); None once closed. Ready
    /// events come back in an already-finished awaitable; otherwise the future of the running
    /// loop is resolved on the loop's thread once events arrive.
    #[pyo3(signature = (max=4096))]
    fn next_events<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyAny>> {
        // The dispatcher calls this after connecting and after every batch (a reconnect's
        // `Connected` among them): a socket read on the loop is watched from then on.
        if let Some(reader) = self.client.take_reader() {
            let (event_loop, queue) = self.event_loop.running(py)?;
            PyWebSocketReader::attach(&event_loop, queue, self.parked.clone(), reader)?;
        }
        let mut batch = Vec::new();
        let taken = self.client.take_events(&mut batch, max);
        if taken != Taken::Empty {
            self.parked.resume(py)?;
            return crate::py_chunk_iter::ready(py, events_object(py, taken, batch)?.into_bound(py));
        }
        let (future, queue) = self.event_loop.new_future(py)?;
        let target = future.clone().unbind();
        // Weak: the callback is stored in the client's own queue.
        let client = Arc::downgrade(&self.client);
        let parked = self.parked.clone();
        let on_ready = Box::new(move || {
            queue.resolve_later(
                target,
                Box::new(move |py| {
                    let mut batch = Vec::new();
                    let taken = match client.upgrade() {
                        Some(client) => client.take_events(&mut batch, max),
                        None => Taken::Finished,
                    };
                    parked.resume(py)?;
                    events_object(py, taken, batch)
                }),
            );
        });
        let taken = self.client.take_events_or_notify(&mut batch, max, on_ready);
        if taken != Taken::Empty {
            self.parked.resume(py)?;
            match events_object(py, taken, batch) {
                Ok(value) => future.call_method1(intern!(py, "set_result"), (value,))?,
                Err(err) => future.call_method1(intern!(py, "set_exception"), (err.value(py),))?,
            };
        }
        Ok(future)
    }

    /// Close the socket; requests in flight fail with ConnectionError. Idempotent.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = Arc::clone(&self.client);
        crate::py_bridge::spawn(py, async move { client.close().await }, |py, ()| Ok(py.None()))
    }

    #[getter]
    fn connected(&self) -> bool {
        self.client.is_connected()
    }

    #[getter]
    fn session_id(&self) -> Option<String> {
        self.client.session_id()
    }

    /// Sockets registered so far: 1, plus one per reconnect.
    #[getter]
    fn connection_count(&self) -> u64 {
        self.client.connection_count()
    }

    #[getter]
    fn in_flight(&self) -> usize {
        self.client.in_flight()
    }

    fn __repr__(&self) -> String {
        let config = self.client.config();
        format!(
            "WebSocketTransport(url={:?}, component_id={:?}, auth={}, connected={})",
            config.url,
            config.component_id,
            if config.auth_token.is_some() { "set" } else { "none" },
            if self.client.is_connected() { "True" } else { "False" },
        )
    }
}

/// `TEKTON_LLM_WS_READ_ON_LOOP`: 1 (or unset) reads ws:// sockets on the event loop's thread, 0 on
/// the runtime's (for a loop that may be blocked for longer than `ping_interval`).
fn read_on_loop_from_env() -> PyResult<bool> {
    match std::env::var("TEKTON_LLM_WS_READ_ON_LOOP").as_deref().map(str::trim) {
        Err(_) | Ok("" | "1") => Ok(true),
        Ok("0") => Ok(false),
        Ok(other) => Err(PyValueError::new_err(format!("TEKTON_LLM_WS_READ_ON_LOOP must be 0 or 1, not {other:?}"))),
    }
}

fn usage_tuple(usage: Option<FrameUsage>) -> Option<(i64, i64, i64)> {
    usage.map(|u| (u.prompt_tokens, u.completion_tokens, u.total_tokens))
}

/// Taken events as Python: a list of tuples, None once the client is finished, or an empty list
/// when another caller took them first.
fn events_object(py: Python<'_>, taken: Taken, events: Vec<WsEvent>) -> PyResult<Py<PyAny>> {
    if taken == Taken::Finished {
        return Ok(py.None());
    }
    let mut chunks = ChunkBuilder::new(py)?;
    let items = events.into_iter().map(|event| event_to_py(py, &mut chunks, event)).collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, items)?.into_any().unbind())
}

fn event_to_py<'py>(py: Python<'py>, chunks: &mut ChunkBuilder<'py>, event: WsEvent) -> PyResult<Bound<'py, PyAny>> {
    let tuple = match event {
        WsEvent::Chunk(c) => {
            let chunk = chunks.frame(py, &c)?;
            (0u8, c.request_id, chunk).into_pyobject(py)?
        }
        WsEvent::Response(r) => (
            1u8,
            r.request_id,
            r.content,
            r.model,
            r.provider,
            r.finish_reason,
            usage_tuple(r.usage),
            r.context_id,
            r.fallback,
            r.timestamp,
        )
            .into_pyobject(py)?,
        WsEvent::RequestFailed { request_id, error } => {
            let CoreError { kind, message, code, status, retry_after, .. } = error;
            (2u8, request_id, kind.name(), message, code, status, retry_after).into_pyobject(py)?
        }
        WsEvent::Cancelled { request_id } => (3u8, request_id).into_pyobject(py)?,
        WsEvent::Message(text) => (4u8, text).into_pyobject(py)?,
        WsEvent::Error(error) => {
            let CoreError { kind, message, code, status, retry_after, .. } = error;
            (5u8, kind.name(), message, code, status, retry_after).into_pyobject(py)?
        }
        WsEvent::Connected { session_id } => (6u8, session_id).into_pyobject(py)?,
        WsEvent::Closed { reason } => (7u8, reason).into_pyobject(py)?,
        // next_events never yields Finished; map it to a close for safety.
        WsEvent::Finished => (7u8, "finished").into_pyobject(py)?,
    };
    Ok(tuple.into_any())
}
