//! The one tokio runtime of the process, shared by every client (pyo3-async-runtimes owns it and
//! creates it lazily), and the interpreter-exit guard.
//!
//! Why the guard: on CPython < 3.13 a thread that asks for the GIL while the interpreter is
//! finalizing is ended with `pthread_exit`, which unwinds through Rust frames and aborts the
//! process. So at exit (an `atexit` hook registered when `_core` is imported) we raise a flag
//! after which no runtime thread attaches to Python again: finished futures are not handed back
//! and log lines are dropped.
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pyo3::prelude::*;

static FINALIZING: AtomicBool = AtomicBool::new(false);

pub fn handle() -> tokio::runtime::Handle {
    pyo3_async_runtimes::tokio::get_runtime().handle().clone()
}

/// True once the interpreter has started to exit: Rust threads must not attach to Python.
pub fn finalizing() -> bool {
    FINALIZING.load(Ordering::Acquire)
}

/// Never resolves: what a runtime task does instead of attaching to an exiting interpreter.
pub async fn park_if_finalizing() {
    if finalizing() {
        std::future::pending::<()>().await;
    }
}

/// The `atexit` hook. The short pause without the GIL lets a thread already waiting for it
/// finish its work before finalization starts.
#[pyfunction]
fn _at_exit(py: Python<'_>) {
    FINALIZING.store(true, Ordering::Release);
    py.detach(|| std::thread::sleep(Duration::from_millis(20)));
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_at_exit, m)?)?;
    let hook = m.getattr("_at_exit")?;
    m.py().import("atexit")?.call_method1("register", (hook,))?;
    Ok(())
}
