//! `BatchRunner`: the Rust backend of `client.generate_batch`.
//!
//! Python submits items while it has room; Rust runs them on the shared runtime under the
//! runner's semaphore and rate limiter; Python collects every finished item in one crossing
//! (`take_ready` without waiting, `next_results` when it must wait) as `(key, ok, value)` tuples,
//! where `value` is a CompletionResponse or the exception object.
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use tekton_core::batch::{BatchItem, BatchLimits, BatchOutcome, BatchRunner as CoreRunner};
use tekton_core::protocol::v1::ChatRequest;

use crate::py_errors::to_py_err;
use crate::py_http::HttpClient;
use crate::{py_json, py_models, runtime};

/// Most outcomes handed over in one crossing.
const MAX_BATCH: usize = 4096;

/// Provider, model and options of an item's fallback request.
type FallbackSpec<'py> = (Option<String>, Option<String>, Option<Bound<'py, PyAny>>);

#[pyclass(frozen, module = "tekton_llm_client._core")]
pub struct BatchRunner {
    inner: Arc<CoreRunner>,
    component_id: String,
}

#[pymethods]
impl BatchRunner {
    #[new]
    #[pyo3(signature = (http, *, concurrency=32, rate=None, burst=1))]
    fn new(http: &Bound<'_, HttpClient>, concurrency: usize, rate: Option<f64>, burst: u32) -> PyResult<BatchRunner> {
        let core = Arc::clone(&http.get().inner);
        let component_id = core.config().component_id.clone();
        let limits = BatchLimits { concurrency, rate, burst };
        let inner = CoreRunner::new(core, limits).map_err(|e| PyValueError::new_err(e.message))?;
        Ok(BatchRunner { inner: Arc::new(inner), component_id })
    }

    /// Start one item. `fallback` is `(provider_id, model_id, options)` of the request asked
    /// once when this one fails with an error a fallback may cure.
    #[pyo3(signature = (key, messages, *, system_prompt=None, context_id=String::new(), provider_id=None,
        model_id=None, options=None, request_id=None, fallback=None))]
    #[allow(clippy::too_many_arguments)]
    fn submit(
        &self,
        key: u64,
        messages: &Bound<'_, PyAny>,
        system_prompt: Option<String>,
        context_id: String,
        provider_id: Option<String>,
        model_id: Option<String>,
        options: Option<&Bound<'_, PyAny>>,
        request_id: Option<String>,
        fallback: Option<FallbackSpec<'_>>,
    ) -> PyResult<()> {
        let request = crate::py_request::chat_request(
            messages,
            system_prompt,
            context_id,
            self.component_id.clone(),
            provider_id,
            model_id,
            options,
        )?;
        let fallback = match fallback {
            None => None,
            Some((provider_id, model_id, options)) => Some(ChatRequest {
                provider_id,
                model_id,
                options: py_json::to_map(options.as_ref())?,
                ..request.clone()
            }),
        };
        let request_id = request_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let item = BatchItem { key, request, request_id, fallback };
        self.inner.submit(&runtime::handle()?, item).map_err(|e| Python::attach(|py| to_py_err(py, &e)))
    }

    /// The finished items ready now, without waiting (maybe an empty list).
    fn take_ready<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let mut out = Vec::new();
        self.inner.try_recv_batch(&mut out, MAX_BATCH);
        outcomes(py, out)
    }

    /// Awaitable → a non-empty list of finished items; an empty list when none is pending or
    /// the runner was closed.
    fn next_results<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = Arc::clone(&self.inner);
        crate::py_bridge::spawn_result(py, async move {
            let mut out = Vec::new();
            inner.recv_batch(&mut out, MAX_BATCH).await;
            Ok(Outcomes(out))
        })
    }

    /// Stop every item still waiting or running.
    fn close(&self) {
        self.inner.close();
    }

    /// Items submitted and not yet collected.
    #[getter]
    fn pending(&self) -> usize {
        self.inner.pending()
    }

    /// Items whose HTTP call is running now.
    #[getter]
    fn in_flight(&self) -> usize {
        self.inner.in_flight()
    }

    /// The most items that ever ran at once.
    #[getter]
    fn peak_in_flight(&self) -> usize {
        self.inner.peak_in_flight()
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }
}

struct Outcomes(Vec<BatchOutcome>);

impl<'py> IntoPyObject<'py> for Outcomes {
    type Target = PyList;
    type Output = Bound<'py, PyList>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        outcomes(py, self.0)
    }
}

fn outcomes(py: Python<'_>, items: Vec<BatchOutcome>) -> PyResult<Bound<'_, PyList>> {
    let mut out = Vec::with_capacity(items.len());
    for o in items {
        let (ok, value) = match &o.result {
            Ok(c) => (true, py_models::completion(py, &c.completion, c.latency_s, &c.request_id)?),
            Err(e) => (false, to_py_err(py, e).into_value(py).into_bound(py).into_any()),
        };
        out.push(PyTuple::new(
            py,
            [o.key.into_pyobject(py)?.into_any(), pyo3::types::PyBool::new(py, ok).to_owned().into_any(), value],
        )?);
    }
    PyList::new(py, out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BatchRunner>()?;
    Ok(())
}
