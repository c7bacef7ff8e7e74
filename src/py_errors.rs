//! Core errors become the matching Python exception, built by the Python side's
//! `tekton_llm_client.exceptions.error_from_kind` so that both backends raise the same classes.
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tekton_core::CoreError;

pub fn to_py_err(py: Python<'_>, e: &CoreError) -> PyErr {
    match build(py, e) {
        Ok(err) => err,
        Err(fallback) => fallback,
    }
}

fn build(py: Python<'_>, e: &CoreError) -> PyResult<PyErr> {
    let module = py.import("tekton_llm_client.exceptions")?;
    let kw = PyDict::new(py);
    kw.set_item("status_code", e.status)?;
    kw.set_item("request_id", e.request_id.as_deref())?;
    kw.set_item("code", e.code.as_deref())?;
    kw.set_item("retry_after", e.retry_after)?;
    let exc = module.getattr("error_from_kind")?.call((e.kind.name(), e.message.as_str()), Some(&kw))?;
    Ok(PyErr::from_value(exc))
}
