//! Core log events → Python's `logging`, logger `tekton_llm_client`. Only rare events (retries,
//! dropped events) are logged, so taking the GIL for each is fine.
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use tekton_core::LogSink;

static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

pub fn log(level: u8, msg: &str) {
    if crate::runtime::finalizing() {
        return; // attaching now would abort the exiting interpreter
    }
    Python::attach(|py| {
        let logger = LOGGER.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            Ok(py.import("logging")?.call_method1("getLogger", ("tekton_llm_client",))?.unbind())
        });
        if let Ok(logger) = logger {
            if let Err(e) = logger.bind(py).call_method1("log", (level, msg)) {
                e.write_unraisable(py, None);
            }
        }
    });
}

pub fn sink() -> LogSink {
    Arc::new(log)
}
