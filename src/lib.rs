//! `tekton_llm_client._core`: the native module. Registration only; each binding lives in its
//! own file.
use pyo3::prelude::*;

mod io_pacing;
mod py_batch;
mod py_bridge;
mod py_chunk_iter;
mod py_errors;
mod py_http;
mod py_json;
mod py_log;
mod py_models;
mod py_request;
mod py_seconds;
mod py_sim;
mod py_slots;
mod py_sse;
#[cfg(feature = "test-hooks")]
mod py_test_hooks;
mod py_tokens;
mod py_ws;
mod py_ws_reader;
mod runtime;
mod wake_timer;

// Streams allocate small strings on runtime threads that the Python thread frees; glibc malloc
// pays for every such cross-thread free (see docs/performance.md), mimalloc does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    py_batch::register(m)?;
    py_bridge::register(m)?;
    py_chunk_iter::register(m)?;
    py_http::register(m)?;
    py_log::register(m)?;
    py_sim::register(m)?;
    py_sse::register(m)?;
    #[cfg(feature = "test-hooks")]
    py_test_hooks::register(m)?;
    py_tokens::register(m)?;
    py_ws::register(m)?;
    Ok(())
}
