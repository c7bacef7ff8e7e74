//! Core log lines → Python's `logging`, logger `tekton_llm_client`, without attaching to Python
//! on a runtime thread (the hand-off rule of docs/handoff.md).
//!
//! The core logs from its I/O thread (retries, reconnects, dropped events: rare lines, never one
//! per chunk). `log` only queues the line here and wakes an event loop (`py_bridge::wake_for_log`);
//! that loop's `LoopWaker::drain` emits the queued lines on its own thread, with the GIL it already
//! holds, before it resolves the futures that finished in the same wake-up, so a line logged
//! before a result is in `logging` by the time the awaiting code runs. The queue is bounded: lines
//! beyond `MAX_QUEUED` are counted and reported as one warning instead. A `fork()` from Python
//! holds the queue's lock across the fork (`os.register_at_fork`), so a child never starts with
//! it held by the parent's I/O thread; the child drops the parent's lines.
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyCFunction, PyDict, PyTuple};
use tekton_core::LogSink;

/// The most lines kept while no loop drains them (a loop that is never woken again, say).
const MAX_QUEUED: usize = 1024;

/// `logging.WARNING`, for the line that reports dropped lines.
const WARNING: u8 = 30;

struct Pending {
    lines: Vec<(u8, String)>,
    dropped: u64,
}

static PENDING: Mutex<Pending> = Mutex::new(Pending { lines: Vec::new(), dropped: 0 });
/// Lines are waiting: a drain with nothing to emit costs one atomic load, not a lock.
static WAITING: AtomicBool = AtomicBool::new(false);

static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Queue a line (any thread); the first line of an empty queue wakes a loop to emit it.
pub fn log(level: u8, msg: &str) {
    let first = {
        let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        if pending.lines.len() < MAX_QUEUED {
            pending.lines.push((level, msg.to_owned()));
        } else {
            pending.dropped += 1;
        }
        !WAITING.swap(true, Ordering::AcqRel)
    };
    if first {
        crate::py_bridge::wake_for_log();
    }
}

/// Emit every queued line (on a Python thread: a loop's drain).
pub fn emit_queued(py: Python<'_>) {
    if !WAITING.load(Ordering::Acquire) {
        return;
    }
    let (lines, dropped) = {
        let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        WAITING.store(false, Ordering::Release);
        (std::mem::take(&mut pending.lines), std::mem::take(&mut pending.dropped))
    };
    let logger = match LOGGER.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("logging")?.call_method1("getLogger", ("tekton_llm_client",))?.unbind())
    }) {
        Ok(logger) => logger.bind(py),
        Err(e) => return e.write_unraisable(py, None),
    };
    let emit = |level: u8, msg: &str| {
        if let Err(e) = logger.call_method1(intern!(py, "log"), (level, msg)) {
            e.write_unraisable(py, None);
        }
    };
    for (level, msg) in &lines {
        emit(*level, msg);
    }
    if dropped > 0 {
        emit(WARNING, &format!("{dropped} log lines of the Rust core were dropped (more than {MAX_QUEUED} waiting)"));
    }
}

pub fn sink() -> LogSink {
    Arc::new(log)
}

thread_local! {
    /// The queue's lock, held by the forking thread from before a fork until after it.
    static HELD_FOR_FORK: RefCell<Option<MutexGuard<'static, Pending>>> = const { RefCell::new(None) };
}

fn fork_hook(py: Python<'_>, hook: fn()) -> PyResult<Bound<'_, PyCFunction>> {
    PyCFunction::new_closure(py, None, None, move |_: &Bound<'_, PyTuple>, _: Option<&Bound<'_, PyDict>>| hook())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let kwargs = PyDict::new(py);
    kwargs.set_item(
        "before",
        fork_hook(py, || {
            let held = PENDING.lock().unwrap_or_else(|e| e.into_inner());
            HELD_FOR_FORK.with(|h| *h.borrow_mut() = Some(held));
        })?,
    )?;
    kwargs.set_item("after_in_parent", fork_hook(py, || HELD_FOR_FORK.with(|h| drop(h.borrow_mut().take())))?)?;
    kwargs.set_item(
        "after_in_child",
        fork_hook(py, || {
            HELD_FOR_FORK.with(|h| {
                if let Some(mut held) = h.borrow_mut().take() {
                    held.lines.clear();
                    held.dropped = 0;
                    WAITING.store(false, Ordering::Release);
                }
            })
        })?,
    )?;
    py.import("os")?.call_method("register_at_fork", (), Some(&kwargs))?;
    Ok(())
}
