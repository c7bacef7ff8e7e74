//! `_core.WebSocketTransport`: the Rust backend of `TektonLLMWebSocketClient`.
//!
//! Python pulls events with `await next_events()`: one call returns every event that is ready
//! (for all requests), as a list of plain tuples, so a burst of chunks costs one boundary
//! crossing. The tuple shapes are the backend interface shared with `_pure/websocket.py`:
//!
//! ```text
//! (0, request_id, chunk, done, finish_reason, model, provider, usage, context_id, fallback, timestamp)
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
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;
use tekton_core::ws::{Usage, WsClient, WsConfig, WsEvent};
use tekton_core::CoreError;

use crate::py_errors::to_py_err;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyWebSocketTransport>()?;
    Ok(())
}

/// One multiplexed, self-reconnecting socket to Rhetor's /ws.
#[pyclass(name = "WebSocketTransport", module = "tekton_llm_client._core", frozen)]
pub struct PyWebSocketTransport {
    client: Arc<WsClient>,
}

/// A duration setting in [0, MAX_SECONDS] (zero: off), refused rather than overflowing a
/// deadline later.
fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    let max = crate::py_http::MAX_SECONDS;
    if !(0.0..=max).contains(&value) {
        return Err(PyValueError::new_err(format!("{name} must be a number of seconds in [0, {max}], got {value}")));
    }
    Duration::try_from_secs_f64(value).map_err(|e| PyValueError::new_err(format!("{name}: {e}")))
}

fn py_err(e: &CoreError) -> PyErr {
    Python::attach(|py| to_py_err(py, e))
}

impl PyWebSocketTransport {
    /// Wrap a core client (the test hooks build clients without a server).
    pub(crate) fn from_client(client: WsClient) -> PyWebSocketTransport {
        PyWebSocketTransport { client: Arc::new(client) }
    }
}

#[pymethods]
impl PyWebSocketTransport {
    #[new]
    #[pyo3(signature = (
        url, component_id, *, auth_token=None, capabilities=None, connect_timeout=10.0,
        reconnect=true, reconnect_base_delay=0.25, max_reconnect_delay=30.0, ping_interval=20.0,
        max_message_size=16_777_216, emit_messages=false, ca_bundle=None
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
    ) -> PyResult<Self> {
        if max_message_size == 0 {
            return Err(PyValueError::new_err("max_message_size must be positive"));
        }
        let mut config = WsConfig::new(url, component_id);
        config.auth_token = auth_token.filter(|t| !t.is_empty());
        if let Some(capabilities) = capabilities {
            config.capabilities = capabilities;
        }
        config.connect_timeout = seconds("connect_timeout", connect_timeout)?;
        config.reconnect = reconnect;
        config.reconnect_base_delay = seconds("reconnect_base_delay", reconnect_base_delay)?;
        config.max_reconnect_delay = seconds("max_reconnect_delay", max_reconnect_delay)?;
        config.ping_interval = seconds("ping_interval", ping_interval)?;
        config.max_message_size = max_message_size;
        config.emit_messages = emit_messages;
        config.ca_bundle = ca_bundle;
        config.log = Some(crate::py_log::sink());
        Ok(PyWebSocketTransport { client: Arc::new(WsClient::new(config)) })
    }

    /// Open and register the socket; resolves to the session id.
    fn connect<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = Arc::clone(&self.client);
        crate::py_bridge::spawn_result(py, async move {
            let r = client.connect().await;
            crate::runtime::park_if_finalizing().await; // py_err attaches
            r.map_err(|e| py_err(&e))
        })
    }

    /// Register `request_id` and send its JSON frame (waits for a reconnect if one is under way).
    fn send<'py>(&self, py: Python<'py>, request_id: String, frame: String) -> PyResult<Bound<'py, PyAny>> {
        let client = Arc::clone(&self.client);
        crate::py_bridge::spawn_result(py, async move {
            let r = client.send(&request_id, &frame).await;
            crate::runtime::park_if_finalizing().await; // py_err attaches
            r.map_err(|e| py_err(&e))
        })
    }

    /// Cancel a request in flight; False when it was not in flight.
    fn cancel(&self, request_id: &str) -> bool {
        self.client.cancel(request_id)
    }

    /// Every ready event as a list of tuples (see the module docs); None once closed.
    #[pyo3(signature = (max=4096))]
    fn next_events<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyAny>> {
        let client = Arc::clone(&self.client);
        crate::py_bridge::spawn_result(py, async move {
            let batch = client.next_events(max).await;
            crate::runtime::park_if_finalizing().await;
            Python::attach(|py| -> PyResult<Py<PyAny>> {
                match batch {
                    None => Ok(py.None()),
                    Some(events) => {
                        let items = events
                            .into_iter()
                            .map(|event| event_to_py(py, event))
                            .collect::<PyResult<Vec<_>>>()?;
                        Ok(PyList::new(py, items)?.into_any().unbind())
                    }
                }
            })
        })
    }

    /// Close the socket; requests in flight fail with ConnectionError. Idempotent.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = Arc::clone(&self.client);
        crate::py_bridge::spawn_result(py, async move {
            client.close().await;
            Ok(())
        })
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

fn usage_tuple(usage: Option<Usage>) -> Option<(i64, i64, i64)> {
    usage.map(|u| (u.prompt_tokens, u.completion_tokens, u.total_tokens))
}

fn event_to_py(py: Python<'_>, event: WsEvent) -> PyResult<Bound<'_, PyAny>> {
    let tuple = match event {
        WsEvent::Chunk(c) => (
            0u8,
            c.request_id,
            c.chunk,
            c.done,
            c.finish_reason,
            c.model,
            c.provider,
            usage_tuple(c.usage),
            c.context_id,
            c.fallback,
            c.timestamp,
        )
            .into_pyobject(py)?,
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
