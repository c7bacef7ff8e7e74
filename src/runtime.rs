//! The one tokio runtime of the process, shared by every client. pyo3-async-runtimes owns it and
//! creates it lazily on first use; the helpers here are the only way the bindings reach it.
#![allow(dead_code)]

pub fn handle() -> tokio::runtime::Handle {
    pyo3_async_runtimes::tokio::get_runtime().handle().clone()
}
