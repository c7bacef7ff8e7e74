//! The one tokio runtime of the process, shared by every client and created lazily, and the
//! interpreter-exit guard.
//!
//! Why the runtime is stamped with the pid that built it: after `fork()` the child has a copy of
//! the runtime but none of its threads, so work spawned on it never runs (a forked worker's calls
//! would hang). The child builds its own runtime on first use. The parent's copy is leaked, never
//! dropped: dropping it would wait for threads that do not exist and deregister the parent's
//! sockets from the epoll instance both processes share.
//!
//! Why the guard: on CPython < 3.13 a thread that asks for the GIL while the interpreter is
//! finalizing is ended with `pthread_exit`, which unwinds through Rust frames and aborts the
//! process. So at exit (an `atexit` hook registered when `_core` is imported) we raise a flag
//! after which no runtime thread attaches to Python again: finished futures are not handed back
//! and log lines are dropped.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tokio::runtime::{Handle, Runtime};

static FINALIZING: AtomicBool = AtomicBool::new(false);

/// The runtime and the pid of the process that built it. Only Python threads (holding the GIL)
/// take this lock, so a `fork()` from Python never leaves it held in the child.
static RUNTIME: Mutex<Option<(u32, &'static Runtime)>> = Mutex::new(None);

/// This process's runtime (built on first use, and again in a forked child).
pub fn try_handle() -> std::io::Result<Handle> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((owner, rt)) = *slot {
        if owner == pid {
            return Ok(rt.handle().clone());
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("tekton-rt").build()?;
    // Leaked: one per process (a forked child leaks its copy of the parent's as well, see above).
    let rt: &'static Runtime = Box::leak(Box::new(rt));
    *slot = Some((pid, rt));
    Ok(rt.handle().clone())
}

/// `try_handle` for the bindings: a runtime that cannot be built (no threads left) is a
/// RuntimeError, never a panic.
pub fn handle() -> PyResult<Handle> {
    try_handle().map_err(|e| PyRuntimeError::new_err(format!("cannot start the tokio runtime: {e}")))
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
