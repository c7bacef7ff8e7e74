//! Building the facade's model objects (`tekton_llm_client.models`) from core values.
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyString;
use tekton_core::protocol::v1::{Completion, StreamEvent, Usage};

static STREAMING_CHUNK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static COMPLETION: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static USAGE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn class<'py>(py: Python<'py>, cell: &'static PyOnceLock<Py<PyAny>>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    let cls = cell.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("tekton_llm_client.models")?.getattr(name)?.unbind())
    })?;
    Ok(cls.bind(py).clone())
}

pub fn usage<'py>(py: Python<'py>, u: &Option<Usage>) -> PyResult<Bound<'py, PyAny>> {
    match u {
        None => Ok(py.None().into_bound(py)),
        Some(u) => class(py, &USAGE, "Usage")?.call1((u.prompt_tokens, u.completion_tokens, u.total_tokens)),
    }
}

pub fn completion<'py>(py: Python<'py>, c: &Completion, latency: f64, request_id: &str) -> PyResult<Bound<'py, PyAny>> {
    let args = (
        c.content.as_deref().unwrap_or(""),
        c.model.as_deref().unwrap_or(""),
        c.provider.as_deref().unwrap_or(""),
        c.finish_reason.as_deref(),
        usage(py, &c.usage)?,
        c.context_id.as_deref(),
        c.fallback.unwrap_or(false),
        c.timestamp.as_deref(),
        latency,
        request_id,
    );
    class(py, &COMPLETION, "CompletionResponse")?.call1(args)
}

/// Reuses the Python string of a repeated value (model and provider repeat on every chunk).
#[derive(Default)]
pub struct StrCache {
    last: Option<(String, Py<PyString>)>,
}

impl StrCache {
    pub fn get<'py>(&mut self, py: Python<'py>, s: Option<&str>) -> Bound<'py, PyAny> {
        let Some(s) = s else {
            return py.None().into_bound(py);
        };
        if let Some((k, v)) = &self.last {
            if k == s {
                return v.bind(py).clone().into_any();
            }
        }
        let v = PyString::new(py, s);
        self.last = Some((s.to_owned(), v.clone().unbind()));
        v.into_any()
    }
}

pub struct ChunkBuilder<'py> {
    cls: Bound<'py, PyAny>,
    pub model: StrCache,
    pub provider: StrCache,
    context_id: StrCache,
    timestamp: StrCache,
}

impl<'py> ChunkBuilder<'py> {
    pub fn new(py: Python<'py>) -> PyResult<ChunkBuilder<'py>> {
        Ok(ChunkBuilder { cls: class(py, &STREAMING_CHUNK, "StreamingChunk")?, model: StrCache::default(), provider: StrCache::default(),
            context_id: StrCache::default(), timestamp: StrCache::default() })
    }

    pub fn event(&mut self, py: Python<'py>, e: &StreamEvent) -> PyResult<Bound<'py, PyAny>> {
        // A Rust tuple goes through vectorcall: no argument tuple is allocated per chunk.
        self.cls.call1((
            PyString::new(py, e.chunk.as_deref().unwrap_or("")),
            e.done,
            py.None(),
            self.model.get(py, e.model.as_deref()),
            self.provider.get(py, e.provider.as_deref()),
            e.fallback.unwrap_or(false),
            opt_str(py, e.finish_reason.as_deref()),
            usage(py, &e.usage)?,
            self.context_id.get(py, e.context_id.as_deref()),
            self.timestamp.get(py, e.timestamp.as_deref()),
        ))
    }

    /// The terminal chunk of a stream that failed after content was delivered.
    pub fn error(&mut self, _py: Python<'py>, message: &str) -> PyResult<Bound<'py, PyAny>> {
        self.cls.call1(("", true, message))
    }
}

fn opt_str<'py>(py: Python<'py>, s: Option<&str>) -> Bound<'py, PyAny> {
    match s {
        Some(s) => PyString::new(py, s).into_any(),
        None => py.None().into_bound(py),
    }
}
