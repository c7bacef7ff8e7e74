//! `HttpClient` and `ChunkStream`: the Rust backend of `TektonLLMClient`.
//!
//! Awaitables resolve on the event loop's thread (`py_bridge`). A stream hands Python every ready
//! chunk in one crossing (`take_ready` without waiting, `next_batch` when it must wait, and
//! `next_chunk` for the native iterator); the contract with the iterator: docs/handoff.md.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::exceptions::{PyRuntimeError, PyStopAsyncIteration, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyList;
use tekton_core::protocol::v1::ChatRequest;
use tekton_core::{ChatStream, ClientConfig, ReadyChunks, RhetorHttp, StreamEnd};

use crate::py_chunk_iter::ChunkBuffer;
use crate::py_errors::to_py_err;
use crate::py_seconds::{positive_seconds, seconds_or_off};
use crate::{py_json, py_log, py_models, runtime};

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
        max_retry_after=60.0, pool_max_idle_per_host=100, max_response_bytes=67_108_864,
        max_event_bytes=8_388_608, headers=None, ca_bundle=None))]
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
        tekton_core::http::check_base_url(&base_url).map_err(PyValueError::new_err)?;
        let cfg = ClientConfig {
            base_url,
            component_id,
            auth_token,
            timeout: positive_seconds("timeout", timeout)?,
            connect_timeout: positive_seconds("connect_timeout", connect_timeout)?,
            stream_idle_timeout: stream_idle_timeout.map(|v| positive_seconds("stream_idle_timeout", v)).transpose()?,
            max_retries,
            backoff_initial: positive_seconds("backoff_initial", backoff_initial)?,
            backoff_max: positive_seconds("backoff_max", backoff_max)?,
            max_retry_after: seconds_or_off("max_retry_after", max_retry_after)?,
            pool_max_idle_per_host,
            max_response_bytes,
            max_event_bytes,
            extra_headers: headers.unwrap_or_default(),
            ca_bundle,
            ..ClientConfig::default()
        };
        // reqwest's builder must run inside the runtime (it spawns nothing, but resolves TLS roots).
        let runtime = runtime::handle()?;
        let _guard = runtime.enter();
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
            .stream_chat(&runtime::handle()?, &req, rid.clone())
            .map_err(|e| Python::attach(|py| to_py_err(py, &e)))?;
        Ok(ChunkStream::from_stream(stream))
    }

    /// `stream_chat`, sent by the I/O thread at `at_ns` (`time.monotonic_ns()`'s clock; a
    /// timerfd deadline, not tokio's millisecond timer), or at once if that has passed. The
    /// stream's `started_ns` then says when it really was sent.
    #[pyo3(signature = (messages, *, at_ns, system_prompt=None, context_id=String::new(), provider_id=None,
        model_id=None, options=None, request_id=None))]
    #[allow(clippy::too_many_arguments)]
    fn stream_chat_at(
        &self,
        messages: &Bound<'_, PyAny>,
        at_ns: u64,
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
            .stream_chat_at(&runtime::handle()?, &req, rid.clone(), start_at(at_ns))
            .map_err(|e| Python::attach(|py| to_py_err(py, &e)))?;
        Ok(ChunkStream::from_stream(stream))
    }

    /// An OpenAI-compatible stream (`POST path` with the JSON `body`, which should ask for
    /// `stream: true`), sent by the I/O thread at `at_ns` like `stream_chat_at`. Its chunks: one
    /// per `choices[0].delta.content`, then a `done` chunk with the `usage` the server sent last.
    /// Errors are typed as for Rhetor streams; never retried.
    #[pyo3(signature = (path, body, *, at_ns, request_id=None))]
    fn stream_openai_at(
        &self,
        path: &str,
        body: &Bound<'_, PyAny>,
        at_ns: u64,
        request_id: Option<String>,
    ) -> PyResult<ChunkStream> {
        let body = serde_json::to_vec(&py_json::to_value(body)?).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let rid = request_id.unwrap_or_else(new_request_id);
        let stream =
            self.inner.stream_openai_at(&runtime::handle()?, path, bytes::Bytes::from(body), rid, start_at(at_ns));
        Ok(ChunkStream::from_stream(stream))
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

    /// Whether a chunk's `received_ns` is the kernel's receive time of its bytes (http:// with no
    /// proxy: our own HTTP/1.1) or when the reader got them (https://, proxies).
    #[getter]
    fn kernel_receive_times(&self) -> bool {
        self.inner.kernel_receive_times()
    }

    /// Opens keep-alive connections until `count` are idle (our own HTTP/1.1, http:// with no
    /// proxy; none otherwise), kept for the requests to come; awaits how many were opened. For a
    /// load generator, so the first second of a run at full rate does not measure connects.
    fn preconnect<'py>(&self, py: Python<'py>, count: usize) -> PyResult<Bound<'py, PyAny>> {
        let http = Arc::clone(&self.inner);
        crate::py_bridge::spawn(py, async move { http.preconnect(count).await }, |py, out| {
            Ok(out.map_err(|e| to_py_err(py, &e))?.into_pyobject(py)?.into_any().unbind())
        })
    }

    /// `text` with the configured auth token blanked out (for server text shown to the caller).
    fn redact(&self, text: &str) -> String {
        self.inner.redact(text)
    }

    fn __repr__(&self) -> String {
        let c = self.inner.config();
        // The auth token is never shown.
        format!(
            "HttpClient(base_url={:?}, component_id={:?}, auth={})",
            c.base_url,
            c.component_id,
            if c.auth_token.is_some() { "set" } else { "none" }
        )
    }
}

/// Completes at `at_ns` (`time.monotonic_ns()`'s clock) on a timerfd deadline of the I/O
/// thread, not tokio's millisecond timer; at once if that has passed.
async fn start_at(at_ns: u64) {
    let (fire, fired) = tokio::sync::oneshot::channel::<()>();
    let job: crate::wake_timer::Job = Box::new(move || {
        let _ = fire.send(());
    });
    // Off the runtime or without a timer, the job comes back: start now.
    if let Err(job) = crate::wake_timer::run_at(at_ns, job) {
        job();
    }
    let _ = fired.await;
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
        crate::py_request::chat_request(
            messages,
            system_prompt,
            context_id,
            component_id,
            provider_id,
            model_id,
            options,
        )
    }
}

#[pyclass(frozen, module = "tekton_llm_client._core")]
pub struct ChunkStream {
    inner: Arc<Mutex<ChatStream>>,
    request_id: String,
    started_ns: Arc<AtomicU64>,
    ended: Arc<EndState>,
    /// A refill has been asked for before: later chunks may reach the loop within a window
    /// (`py_bridge::Pace::Window`); the first one is handed over at once.
    refilled: AtomicBool,
    /// The loop this stream is read from, and its queue (looked up once, not per refill).
    event_loop: crate::py_bridge::LoopCache,
}

/// The stream is only ever locked for a take or an abort, never across a wait.
fn lock(stream: &Mutex<ChatStream>) -> MutexGuard<'_, ChatStream> {
    stream.lock().unwrap_or_else(|e| e.into_inner())
}

impl ChunkStream {
    /// Wrap a core stream (the test hooks build streams without HTTP).
    pub(crate) fn from_stream(stream: ChatStream) -> ChunkStream {
        let request_id = stream.request_id.clone();
        let started_ns = Arc::clone(&stream.started_ns);
        ChunkStream {
            inner: Arc::new(Mutex::new(stream)),
            request_id,
            started_ns,
            ended: Arc::new(EndState::default()),
            refilled: AtomicBool::new(false),
            event_loop: crate::py_bridge::LoopCache::default(),
        }
    }

    /// `__anext__` of an iterator whose buffer is empty: the next chunk, at once when one is
    /// ready (the rest of them go into `iter`'s buffer), else a future of the loop that
    /// the reader queues when chunks arrive and the loop resolves on its own thread.
    pub(crate) fn next_chunk<'py>(
        &self,
        py: Python<'py>,
        iter: &Bound<'py, ChunkBuffer>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut ready = ReadyChunks::default();
        if self.ended.ended.load(Ordering::Relaxed) {
            return Err(PyStopAsyncIteration::new_err(()));
        }
        let end = lock(&self.inner).try_take(&mut ready);
        if end.is_some() || !ready.is_empty() {
            let first = deliver(py, &ready, end, &self.ended, iter)?;
            return crate::py_chunk_iter::ready(py, first.into_bound(py));
        }
        let (future, queue) = self.event_loop.new_future(py)?;
        let target = future.clone().unbind();
        let inner = Arc::clone(&self.inner);
        let ended = Arc::clone(&self.ended);
        // Holding the iterator here keeps it alive while a chunk is awaited; the reader runs this
        // once, at the latest when the stream ends (close, idle timeout).
        let reader = iter.clone().unbind();
        let started = self.refilled.swap(true, Ordering::Relaxed);
        let on_ready = Box::new(move || {
            let convert: crate::py_bridge::Convert = Box::new(move |py| {
                let mut ready = ReadyChunks::default();
                let end = lock(&inner).try_take(&mut ready);
                deliver(py, &ready, end, &ended, reader.bind(py))
            });
            if started {
                queue.resolve_within_window(target, convert);
            } else {
                queue.resolve_later(target, convert);
            }
        });
        if let Some(end) = lock(&self.inner).take_or_notify(&mut ready, on_ready) {
            match deliver(py, &ready, end, &self.ended, iter) {
                Ok(first) => future.call_method1(intern!(py, "set_result"), (first,))?,
                Err(err) => future.call_method1(intern!(py, "set_exception"), (err.value(py),))?,
            };
        }
        Ok(future)
    }
}

/// Taken chunks into `iter`: its first chunk is returned, the rest buffered. The end of the
/// stream is StopAsyncIteration; a failure before content is raised.
fn deliver(
    py: Python<'_>,
    ready: &ReadyChunks,
    end: Option<StreamEnd>,
    ended: &EndState,
    iter: &Bound<'_, ChunkBuffer>,
) -> PyResult<Py<PyAny>> {
    match convert_ready(py, ready, end, ended)? {
        None => Err(PyStopAsyncIteration::new_err(())),
        Some(list) if list.is_empty() => {
            Err(PyRuntimeError::new_err("a stream's reader reported chunks it did not hand over (a bug)"))
        }
        Some(list) => {
            let first = list.get_item(0)?.unbind();
            iter.borrow_mut().set_buffer(list, 1);
            Ok(first)
        }
    }
}

#[pymethods]
impl ChunkStream {
    /// The chunks ready now, without waiting: a list (maybe empty), or None once the stream is over.
    fn take_ready<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        if self.ended.ended.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let mut ready = ReadyChunks::default();
        let end = lock(&self.inner).try_take(&mut ready);
        convert_ready(py, &ready, end, &self.ended)
    }

    /// Awaitable → the next non-empty list of chunks, or None once the stream is over.
    ///
    /// No task waits on the runtime: when nothing is ready, the stream's reader itself queues
    /// the future on its loop as soon as chunks arrive, and the loop converts them on its own
    /// thread together with every other stream that became ready meanwhile (one wake-up).
    fn next_batch<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (future, queue) = self.event_loop.new_future(py)?;
        let mut ready = ReadyChunks::default();
        let taken = if self.ended.ended.load(Ordering::Relaxed) {
            Some(Some(StreamEnd::Finished))
        } else {
            let target = future.clone().unbind();
            let inner = Arc::clone(&self.inner);
            let ended = Arc::clone(&self.ended);
            let on_ready = Box::new(move || {
                queue.resolve_later(
                    target,
                    Box::new(move |py| {
                        let mut ready = ReadyChunks::default();
                        let end = lock(&inner).try_take(&mut ready);
                        ready_object(py, &ready, end, &ended)
                    }),
                );
            });
            lock(&self.inner).take_or_notify(&mut ready, on_ready)
        };
        if let Some(end) = taken {
            match ready_object(py, &ready, end, &self.ended) {
                Ok(value) => future.call_method1(intern!(py, "set_result"), (value,))?,
                Err(err) => future.call_method1(intern!(py, "set_exception"), (err.value(py),))?,
            };
        }
        Ok(future)
    }

    /// Stop reading now; the HTTP exchange is closed.
    fn close(&self) {
        self.ended.ended.store(true, Ordering::Relaxed);
        lock(&self.inner).abort();
    }

    #[getter]
    fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The kind of error that ended the stream (`ErrorKind::name`, e.g. "stream_interrupted"),
    /// None while it runs or when it ended well. A failure after content arrives as an error
    /// chunk that carries only the message: this says what it was.
    #[getter]
    fn failure_kind(&self) -> Option<&'static str> {
        self.ended.failure_kind.get().copied()
    }

    /// When a stream from `stream_chat_at` was sent (monotonic ns), None before that and for
    /// streams started at once.
    #[getter]
    fn started_ns(&self) -> Option<u64> {
        match self.started_ns.load(Ordering::Relaxed) {
            0 => None,
            at => Some(at),
        }
    }
}

/// Whether a stream is over (for its consumer), and the kind of error that ended it.
#[derive(Default)]
struct EndState {
    ended: AtomicBool,
    failure_kind: std::sync::OnceLock<&'static str>,
}

/// `convert_ready` as one Python object: the list, or None once the stream is over.
fn ready_object(py: Python<'_>, ready: &ReadyChunks, end: Option<StreamEnd>, ended: &EndState) -> PyResult<Py<PyAny>> {
    Ok(match convert_ready(py, ready, end, ended)? {
        Some(list) => list.into_any().unbind(),
        None => py.None(),
    })
}

/// Chunks → a list of StreamingChunk objects; None once the stream is over and nothing is left.
/// A failure before any content raises; after content it becomes the stream's last chunk, with
/// `error` set.
fn convert_ready<'py>(
    py: Python<'py>,
    ready: &ReadyChunks,
    end: Option<StreamEnd>,
    ended: &EndState,
) -> PyResult<Option<Bound<'py, PyList>>> {
    if end.is_some() {
        ended.ended.store(true, Ordering::Relaxed);
    }
    if let Some(StreamEnd::Failed { error, .. }) = &end {
        let _ = ended.failure_kind.set(error.kind.name());
    }
    let mut builder = py_models::ChunkBuilder::new(py)?;
    let mut out = Vec::with_capacity(ready.len() + 1);
    for chunk in ready.iter() {
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
