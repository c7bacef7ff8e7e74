//! Building the facade's model objects (`tekton_llm_client.models`) from core values.
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyFloat, PyString, PyType};
use tekton_core::protocol::v1::{Completion, Usage};
use tekton_core::ws::ChunkFrame;
use tekton_core::ChunkView;

use crate::py_slots::SlotsClass;

static STREAMING_CHUNK: PyOnceLock<SlotsClass> = PyOnceLock::new();
static COMPLETION: PyOnceLock<SlotsClass> = PyOnceLock::new();
static USAGE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn class<'py>(py: Python<'py>, cell: &'static PyOnceLock<Py<PyAny>>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    let cls = cell.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("tekton_llm_client.models")?.getattr(name)?.unbind())
    })?;
    Ok(cls.bind(py).clone())
}

/// The fields of `StreamingChunk` and `CompletionResponse`, in `__slots__` order.
const CHUNK_FIELDS: [&str; 11] = [
    "chunk",
    "done",
    "error",
    "model",
    "provider",
    "fallback",
    "finish_reason",
    "usage",
    "context_id",
    "timestamp",
    "received_ns",
];
const COMPLETION_FIELDS: [&str; 10] = [
    "content",
    "model",
    "provider",
    "finish_reason",
    "usage",
    "context_id",
    "fallback",
    "timestamp",
    "latency",
    "request_id",
];

fn slots_class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<SlotsClass>,
    name: &str,
    fields: &[&str],
    untrack: bool,
) -> PyResult<&'static SlotsClass> {
    cell.get_or_try_init(py, || -> PyResult<SlotsClass> {
        let cls = py.import("tekton_llm_client.models")?.getattr(name)?.cast_into::<PyType>()?;
        SlotsClass::new(cls, fields, untrack)
    })
}

pub fn usage<'py>(py: Python<'py>, u: Option<&Usage>) -> PyResult<Bound<'py, PyAny>> {
    match u {
        None => Ok(py.None().into_bound(py)),
        Some(u) => class(py, &USAGE, "Usage")?.call1((u.prompt_tokens, u.completion_tokens, u.total_tokens)),
    }
}

pub fn completion<'py>(py: Python<'py>, c: &Completion, latency: f64, request_id: &str) -> PyResult<Bound<'py, PyAny>> {
    slots_class(py, &COMPLETION, "CompletionResponse", &COMPLETION_FIELDS, false)?.build(
        py,
        [
            PyString::new(py, c.content.as_deref().unwrap_or("")).into_any(),
            PyString::new(py, c.model.as_deref().unwrap_or("")).into_any(),
            PyString::new(py, c.provider.as_deref().unwrap_or("")).into_any(),
            opt_str(py, c.finish_reason.as_deref()),
            usage(py, c.usage.as_ref())?,
            opt_str(py, c.context_id.as_deref()),
            PyBool::new(py, c.fallback.unwrap_or(false)).to_owned().into_any(),
            opt_str(py, c.timestamp.as_deref()),
            PyFloat::new(py, latency).into_any(),
            PyString::new(py, request_id).into_any(),
        ],
    )
}

/// model, provider, context_id, timestamp as Python strings (or None).
type MetaStrings<'py> = [Bound<'py, PyAny>; 4];

/// Builds the `StreamingChunk` objects of one batch. The batch stores each change of the fields
/// that repeat from chunk to chunk once (`ChunkView::meta_index`), so their Python strings are
/// made once per change too.
pub struct ChunkBuilder<'py> {
    cls: &'static SlotsClass,
    /// model, provider, context_id, timestamp of the last meta index seen.
    meta: Option<(usize, [Bound<'py, PyAny>; 4])>,
    /// The same four of the last WebSocket frame, as text and as Python strings.
    frame_meta: Option<([Option<String>; 4], MetaStrings<'py>)>,
}

impl<'py> ChunkBuilder<'py> {
    pub fn new(py: Python<'py>) -> PyResult<ChunkBuilder<'py>> {
        Ok(ChunkBuilder {
            cls: slots_class(py, &STREAMING_CHUNK, "StreamingChunk", &CHUNK_FIELDS, true)?,
            meta: None,
            frame_meta: None,
        })
    }

    fn meta_strings(&mut self, py: Python<'py>, c: &ChunkView<'_>) -> [Bound<'py, PyAny>; 4] {
        if let Some((index, strings)) = &self.meta {
            if *index == c.meta_index {
                return strings.clone();
            }
        }
        let m = c.meta;
        let strings = [
            opt_str(py, m.model.as_deref()),
            opt_str(py, m.provider.as_deref()),
            opt_str(py, m.context_id.as_deref()),
            opt_str(py, m.timestamp.as_deref()),
        ];
        self.meta = Some((c.meta_index, strings.clone()));
        strings
    }

    pub fn chunk(&mut self, py: Python<'py>, c: &ChunkView<'_>) -> PyResult<Bound<'py, PyAny>> {
        let [model, provider, context_id, timestamp] = self.meta_strings(py, c);
        self.cls.build(
            py,
            [
                PyString::new(py, c.text).into_any(),
                PyBool::new(py, c.done).to_owned().into_any(),
                py.None().into_bound(py),
                model,
                provider,
                PyBool::new(py, c.fallback.unwrap_or(false)).to_owned().into_any(),
                opt_str(py, c.finish_reason),
                usage(py, c.usage)?,
                context_id,
                timestamp,
                received_ns(py, c.received_ns),
            ],
        )
    }

    /// The chunk of a WebSocket CHUNK frame. Frames of one answer repeat model, provider,
    /// context and timestamp: their Python strings are reused while they do.
    pub fn frame(&mut self, py: Python<'py>, f: &ChunkFrame) -> PyResult<Bound<'py, PyAny>> {
        let texts = [f.model.as_deref(), f.provider.as_deref(), f.context_id.as_deref(), f.timestamp.as_deref()];
        let strings = match &self.frame_meta {
            Some((last, strings)) if last.iter().map(Option::as_deref).eq(texts) => strings.clone(),
            _ => {
                let strings = texts.map(|t| opt_str(py, t));
                self.frame_meta = Some((texts.map(|t| t.map(str::to_owned)), strings.clone()));
                strings
            }
        };
        let [model, provider, context_id, timestamp] = strings;
        self.cls.build(
            py,
            [
                PyString::new(py, &f.chunk).into_any(),
                PyBool::new(py, f.done).to_owned().into_any(),
                py.None().into_bound(py),
                model,
                provider,
                PyBool::new(py, f.fallback).to_owned().into_any(),
                opt_str(py, f.finish_reason.as_deref()),
                match &f.usage {
                    None => py.None().into_bound(py),
                    Some(u) => {
                        class(py, &USAGE, "Usage")?.call1((u.prompt_tokens, u.completion_tokens, u.total_tokens))?
                    }
                },
                context_id,
                timestamp,
                received_ns(py, f.received_ns),
            ],
        )
    }

    /// The terminal chunk of a stream that failed after content was delivered.
    pub fn error(&mut self, py: Python<'py>, message: &str) -> PyResult<Bound<'py, PyAny>> {
        let none = || py.None().into_bound(py);
        let no = || PyBool::new(py, false).to_owned().into_any();
        self.cls.build(
            py,
            [
                PyString::new(py, "").into_any(),
                PyBool::new(py, true).to_owned().into_any(),
                PyString::new(py, message).into_any(),
                none(),
                none(),
                no(),
                none(),
                none(),
                none(),
                none(),
                received_ns(py, tekton_clock::monotonic_ns()),
            ],
        )
    }
}

/// An arrival time in ns, or None when the transport could not tell (0).
fn received_ns(py: Python<'_>, ns: u64) -> Bound<'_, PyAny> {
    if ns == 0 {
        return py.None().into_bound(py);
    }
    ns.into_pyobject(py).map(|n| n.into_any()).unwrap_or_else(|_| py.None().into_bound(py))
}

fn opt_str<'py>(py: Python<'py>, s: Option<&str>) -> Bound<'py, PyAny> {
    match s {
        Some(s) => PyString::new(py, s).into_any(),
        None => py.None().into_bound(py),
    }
}
