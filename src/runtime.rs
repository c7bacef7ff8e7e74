//! The one tokio runtime of the process, shared by every client.
//!
//! One I/O thread running a current-thread runtime. Streams that deliver one event per network
//! read are paid for in thread wake-ups, not in parsing: with a work-stealing pool every event
//! woke a worker, which woke a sibling to steal, and every refill from Python woke a worker
//! again. One thread that owns every socket wakes once per burst of ready sockets.
//!
//! Created lazily, and again in a forked child: the parent's I/O thread does not exist there, so
//! a handle inherited through `fork` would accept tasks that never run. The parent's runtime is
//! left behind in the child, never dropped: dropping it would wait for a thread that does not
//! exist and deregister the parent's sockets from the epoll instance both processes share.
//!
//! No runtime thread attaches to Python (docs/handoff.md), so an exiting interpreter needs no
//! guard here: on CPython < 3.13 a thread asking for the GIL during finalization would be ended
//! with `pthread_exit`, unwinding through Rust frames and aborting the process.
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tokio::runtime::Handle;

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// This process's runtime: its handle, and the work Python handed it that the I/O thread has not
/// picked up yet (see `spawn_queued`).
#[derive(Clone)]
struct Runtime {
    handle: Handle,
    pending: Arc<Mutex<Vec<Job>>>,
}

/// The runtime and the process it was made in. Only Python threads (holding the GIL) take this
/// lock, so a `fork()` from Python never leaves it held in the child.
static RUNTIME: Mutex<Option<(u32, Runtime)>> = Mutex::new(None);

fn runtime() -> std::io::Result<Runtime> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((owner, rt)) = slot.as_ref() {
        if *owner == pid {
            return Ok(rt.clone());
        }
        // A forked child: the parent's runtime is left behind, never dropped (dropping it would
        // wait for an I/O thread that does not exist here), and so is its queue, whose lock the
        // parent's I/O thread may have held at the fork.
        if let Some((_, stale)) = slot.take() {
            std::mem::forget(stale);
        }
    }
    let rt = Runtime { handle: start()?, pending: Arc::new(Mutex::new(Vec::new())) };
    *slot = Some((pid, rt.clone()));
    Ok(rt)
}

/// The runtime of this process, started on first use (and again after a fork).
pub fn try_handle() -> std::io::Result<Handle> {
    runtime().map(|rt| rt.handle)
}

/// Run `job` on the I/O thread, waking it once for everything Python hands over before it runs:
/// a spawn from outside the runtime writes to its wake-up descriptor every time, and 32 calls
/// answered in one loop pass would otherwise start 32 separate wake-ups.
pub fn spawn_queued(job: impl Future<Output = ()> + Send + 'static) -> PyResult<()> {
    let rt = runtime().map_err(start_error)?;
    let first = {
        let mut pending = rt.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.push(Box::pin(job));
        pending.len() == 1
    };
    if first {
        let pending = Arc::clone(&rt.pending);
        rt.handle.spawn(async move {
            let jobs = std::mem::take(&mut *pending.lock().unwrap_or_else(|e| e.into_inner()));
            for job in jobs {
                tokio::spawn(job);
            }
        });
    }
    Ok(())
}

fn start_error(e: std::io::Error) -> PyErr {
    PyRuntimeError::new_err(format!("cannot start the I/O thread: {e}"))
}

/// `try_handle` for the bindings: a runtime that cannot be started (no threads left) is a
/// RuntimeError, never a panic.
pub fn handle() -> PyResult<Handle> {
    try_handle().map_err(start_error)
}

fn start() -> std::io::Result<Handle> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_unpark(crate::io_pacing::after_wake)
        .on_thread_park(crate::io_pacing::before_sleep)
        .build()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("tekton-io".into())
        .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
    Ok(handle)
}
