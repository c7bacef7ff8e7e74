//! Awaitables that cannot hang on a panic. pyo3-async-runtimes turns a panic inside the future
//! into `RustPanic`, but a panic while converting the result to Python objects happens in a
//! blocking task nobody watches: the Python future would never resolve. Here both become a
//! `TektonLLMError` ("internal error: … panicked"), so `except TektonLLMError` catches them.
use std::future::Future;
use std::panic::AssertUnwindSafe;

use pyo3::prelude::*;
use pyo3::BoundObject;
use tekton_core::panic_guard::{catch, panic_error, panic_message};

use crate::py_errors::to_py_err;

/// `pyo3_async_runtimes::tokio::future_into_py`, with panics in `fut` and in the conversion of
/// its output reported as exceptions.
pub fn future_into_py<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    pyo3_async_runtimes::tokio::future_into_py(py, async move {
        let out = catch(fut).await;
        // Handing the result back attaches to Python: never while the interpreter exits.
        crate::runtime::park_if_finalizing().await;
        Ok(Guarded(out))
    })
}

struct Guarded<T>(Result<PyResult<T>, String>);

impl<'py, T: IntoPyObject<'py>> IntoPyObject<'py> for Guarded<T> {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value = match self.0 {
            Err(message) => return Err(panicked(py, "an awaitable's task", &message)),
            Ok(result) => result?,
        };
        let converted = std::panic::catch_unwind(AssertUnwindSafe(|| {
            value.into_pyobject(py).map(|b| b.into_any().into_bound()).map_err(Into::into)
        }));
        converted.unwrap_or_else(|payload| Err(panicked(py, "converting a result", &panic_message(payload.as_ref()))))
    }
}

fn panicked(py: Python<'_>, what: &str, message: &str) -> PyErr {
    to_py_err(py, &panic_error(what, message))
}
