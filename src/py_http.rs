//! `HttpClient` and `ChunkStream`: the Rust backend of `TektonLLMClient`.
//!
//! Awaitables come from pyo3-async-runtimes on the process-wide runtime. A stream hands Python
//! every ready chunk in one crossing (`take_ready` without waiting, `next_batch` when it must wait).
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;
use tekton_core::protocol::v1::ChatRequest;
use tekton_core::{ChatStream, ChunkBatch, ClientConfig, RhetorHttp, StreamEnd};
use tokio::sync::Mutex;

use crate::py_errors::to_py_err;
use crate::{py_json, py_log, py_models, runtime};

/// A duration setting, refused (never a panic) when not in (0, MAX_SECONDS]. The facade
/// (`tekton_llm_client.config`) checks the same bound first, with the setting's own message.
fn seconds(name: &str, v: f64) -> PyResult<Duration> {
    if !(v > 0.0 && v <= MAX_SECONDS) {
        return Err(PyValueError::new_err(format!(
            "{name} must be a number of seconds in (0, {MAX_SECONDS}], got {v}"
        )));
    }
    Duration::try_from_secs_f64(v).map_err(|e| PyValueError::new_err(format!("{name}: {e}")))
}

/// The longest duration any setting may have: one day (longer ones overflow deadlines).
pub(crate) const MAX_SECONDS: f64 = 86_400.0;

fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[pyclass(frozen, module = "tekton_llm_client._core")]
pub struct HttpClient {
    pub(crate) inner: Arc<RhetorHttp>,
}

#[pymethods]
impl HttpClient {
    #[new]
    #[pyo3(signature = (base_url, component_id, *, auth_token=None, timeout=30.0, connect_timeout=5.0,
        stream_idle_timeout=None, max_retries=3, backoff_initial=0.5, backoff_max=8.0,
        max_retry_after=60.0, pool_max_idle_per_host=100, max_response_bytes=64<<20,
        max_event_bytes=8<<20, headers=None, ca_bundle=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        base_url: String,
        component_id: String,
        auth_token: Option<String>,
        timeout: f64,
        connect_timeout: f64,
        stream_idle_timeout: Option<f64>,
        max_retries: u32,
        backoff_initial: f64,
        backoff_max: f64,
        max_retry_after: f64,
        pool_max_idle_per_host: usize,
        max_response_bytes: usize,
        max_event_bytes: usize,
        headers: Option<Vec<(String, String)>>,
        ca_bundle: Option<std::path::PathBuf>,
    ) -> PyResult<HttpClient> {
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(PyValueError::new_err(format!("rhetor_url must start with http:// or https://, got {base_url:?}")));
        }
        let cfg = ClientConfig {
            base_url,
            component_id,
            auth_token,
            timeout: seconds("timeout", timeout)?,
            connect_timeout: seconds("connect_timeout", connect_timeout)?,
            stream_idle_timeout: stream_idle_timeout.map(|v| seconds("stream_idle_timeout", v)).transpose()?,
            max_retries,
            backoff_initial: seconds("backoff_initial", backoff_initial)?,
            backoff_max: seconds("backoff_max", backoff_max)?,
            max_retry_after: if max_retry_after == 0.0 {
                Duration::ZERO
            } else {
                seconds("max_retry_after", max_retry_after)?
            },
            pool_max_idle_per_host,
            max_response_bytes,
            max_event_bytes,
            extra_headers: headers.unwrap_or_default(),
            ca_bundle,
            ..ClientConfig::default()
        };
        // reqwest's builder must run inside the runtime (it spawns nothing, but resolves TLS roots).
        let _guard = runtime::handle().enter();
        let inner = RhetorHttp::new(cfg, Some(py_log::sink())).map_err(|e| Python::attach(|py| to_py_err(py, &e)))?;
        Ok(HttpClient { inner: Arc::new(inner) })
    }

    /// Awaitable → CompletionResponse.
    #[pyo3(signature = (messages, *, system_prompt=None, context_id=String::new(), provider_id=None,
        model_id=None, options=None, request_id=None))]
    #[allow(clippy::too_many_arguments)]
    fn chat<'py>(
        &self,
        py: Python<'py>,
        messages: &Bound<'py, PyAny>,
        system_prompt: Option<String>,
        context_id: String,
        provider_id: Option<String>,
        model_id: Option<String>,
        options: Option<&Bound<'py, PyAny>>,
        request_id: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req = self.request(messages, system_prompt, context_id, provider_id, model_id, options)?;
        let rid = request_id.unwrap_or_else(new_request_id);
        let http = Arc::clone(&self.inner);
        crate::py_bridge::spawn(py, async move { http.chat(&req, &rid).await }, |py, out| {
            let out = out.map_err(|e| to_py_err(py, &e))?;
            Ok(py_models::completion(py, &out.completion, out.latency_s, &out.request_id)?.unbind())
        })
    }

    /// Start a streamed chat; iterate the returned ChunkStream.
    #[pyo3(signature = (messages, *, system_prompt=None, context_id=String::new(), provider_id=None,
        model_id=None, options=None, request_id=None))]
    #[allow(clippy::too_many_arguments)]
    fn stream_chat(
        &self,
        messages: &Bound<'_, PyAny>,
        system_prompt: Option<String>,
        context_id: String,
        provider_id: Option<String>,
        model_id: Option<String>,
        options: Option<&Bound<'_, PyAny>>,
        request_id: Option<String>,
    ) -> PyResult<ChunkStream> {
        let req = self.request(messages, system_prompt, context_id, provider_id, model_id, options)?;
        let rid = request_id.unwrap_or_else(new_request_id);
        let stream = self
            .inner
            .stream_chat(&runtime::handle(), &req, rid.clone())
            .map_err(|e| Python::attach(|py| to_py_err(py, &e)))?;
        Ok(ChunkStream { inner: Arc::new(Mutex::new(stream)), request_id: rid, ended: Arc::new(AtomicBool::new(false)) })
    }

    /// Awaitable → the decoded JSON document at `path` (health, providers).
    #[pyo3(signature = (path, request_id=None))]
    fn get_json<'py>(&self, py: Python<'py>, path: String, request_id: Option<String>) -> PyResult<Bound<'py, PyAny>> {
        self.request_json(py, "GET", path, None, request_id)
    }

    /// Awaitable → the decoded JSON answer of `method path` with an optional JSON `body`
    /// (retries, status mapping and limits as for chat). The older dialects use this.
    #[pyo3(signature = (method, path, body=None, request_id=None))]
    fn request_json<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        path: String,
        body: Option<&Bound<'py, PyAny>>,
        request_id: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let method = tekton_core::Method::from_bytes(method.as_bytes())
            .map_err(|_| PyValueError::new_err(format!("invalid HTTP method {method:?}")))?;
        let body = match body {
            Some(b) if !b.is_none() => Some(bytes::Bytes::from(
                serde_json::to_vec(&py_json::to_value(b)?).map_err(|e| PyValueError::new_err(e.to_string()))?,
            )),
            _ => None,
        };
        let rid = request_id.unwrap_or_else(new_request_id);
        let http = Arc::clone(&self.inner);
        crate::py_bridge::spawn(py, async move { http.request_json(method, &path, body, &rid).await }, |py, out| {
            let value = out.map_err(|e| to_py_err(py, &e))?;
            Ok(py_json::to_py(py, &value)?.unbind())
        })
    }

    /// Stop every call and stream of this client and release its connections.
    fn close(&self) {
        self.inner.close();
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    fn __repr__(&self) -> String {
        let c = self.inner.config();
        // The auth token is never shown.
        format!("HttpClient(base_url={:?}, component_id={:?}, auth={})", c.base_url, c.component_id,
            if c.auth_token.is_some() { "set" } else { "none" })
    }
}

impl HttpClient {
    fn request(
        &self,
        messages: &Bound<'_, PyAny>,
        system_prompt: Option<String>,
        context_id: String,
        provider_id: Option<String>,
        model_id: Option<String>,
        options: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<ChatRequest> {
        let component_id = self.inner.config().component_id.clone();
        crate::py_request::chat_request(messages, system_prompt, context_id, component_id, provider_id, model_id, options)
    }
}

#[pyclass(frozen, module = "tekton_llm_client._core")]
pub struct ChunkStream {
    inner: Arc<Mutex<ChatStream>>,
    request_id: String,
    ended: Arc<AtomicBool>,
}

impl ChunkStream {
    /// Wrap a core stream (the test hooks build streams without HTTP).
    pub(crate) fn from_stream(stream: ChatStream) -> ChunkStream {
        let request_id = stream.request_id.clone();
        ChunkStream { inner: Arc::new(Mutex::new(stream)), request_id, ended: Arc::new(AtomicBool::new(false)) }
    }
}

#[pymethods]
impl ChunkStream {
    /// The chunks ready now, without waiting: a list (maybe empty), or None once the stream is over.
    fn take_ready<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        if self.ended.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let Ok(mut guard) = self.inner.try_lock() else {
            return Ok(Some(PyList::empty(py)));
        };
        let mut batch = ChunkBatch::default();
        let end = guard.try_take(&mut batch);
        drop(guard);
        convert_batch(py, &batch, end, &self.ended)
    }

    /// Awaitable → the next non-empty list of chunks, or None once the stream is over.
    fn next_batch<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = Arc::clone(&self.inner);
        let ended = Arc::clone(&self.ended);
        crate::py_bridge::spawn_result(py, async move {
            let mut batch = ChunkBatch::default();
            let end = if ended.load(Ordering::Relaxed) {
                Some(StreamEnd::Finished)
            } else {
                inner.lock().await.take(&mut batch).await
            };
            Ok(Batch { batch, end, ended })
        })
    }

    /// Stop reading now; the HTTP exchange is closed.
    fn close(&self) {
        self.ended.store(true, Ordering::Relaxed);
        if let Ok(guard) = self.inner.try_lock() {
            guard.abort();
        } else {
            let inner = Arc::clone(&self.inner);
            runtime::handle().spawn(async move { inner.lock().await.abort() });
        }
    }

    #[getter]
    fn request_id(&self) -> &str {
        &self.request_id
    }
}

struct Batch {
    batch: ChunkBatch,
    end: Option<StreamEnd>,
    ended: Arc<AtomicBool>,
}

impl<'py> IntoPyObject<'py> for Batch {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match convert_batch(py, &self.batch, self.end, &self.ended)? {
            Some(list) => list.into_any(),
            None => py.None().into_bound(py),
        })
    }
}

/// Chunks → a list of StreamingChunk objects; None once the stream is over and nothing is left.
/// A failure before any content raises; after content it becomes the stream's last chunk, with
/// `error` set.
fn convert_batch<'py>(py: Python<'py>, batch: &ChunkBatch, end: Option<StreamEnd>, ended: &AtomicBool) -> PyResult<Option<Bound<'py, PyList>>> {
    if end.is_some() {
        ended.store(true, Ordering::Relaxed);
    }
    let mut builder = py_models::ChunkBuilder::new(py)?;
    let mut out = Vec::with_capacity(batch.len() + 1);
    for chunk in batch.iter() {
        out.push(builder.chunk(py, &chunk)?);
    }
    match end {
        Some(StreamEnd::Failed { error, delivered }) => {
            if !delivered && out.is_empty() {
                return Err(to_py_err(py, &error));
            }
            out.push(builder.error(py, &error.to_string())?);
        }
        Some(StreamEnd::Finished) if out.is_empty() => return Ok(None),
        _ => {}
    }
    PyList::new(py, out).map(Some)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<HttpClient>()?;
    m.add_class::<ChunkStream>()?;
    Ok(())
}
