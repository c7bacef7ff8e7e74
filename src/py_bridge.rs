//! Handing finished Rust work to asyncio without taking the GIL on a runtime thread.
//!
//! pyo3-async-runtimes resolves each future from a fresh blocking thread that takes the GIL and
//! calls `call_soon_threadsafe`: at 64 calls in flight that is dozens of threads fighting the
//! event loop for the GIL. Here a finished task only pushes its result onto its loop's queue and,
//! when the queue was empty, writes one byte to a socket pair the loop watches (`add_reader`).
//! The loop thread then drains every finished result in one go, converting each to Python and
//! resolving its future. No runtime thread ever touches Python, so nothing can block on the GIL,
//! and an exiting interpreter is never entered from another thread.
use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::{intern, BoundObject};

type Convert = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

struct Finished {
    future: Py<PyAny>,
    convert: Convert,
}

struct Queue {
    items: Mutex<Vec<Finished>>,
    wake_tx: UnixStream,
    wake_rx: UnixStream,
}

impl Queue {
    fn push(&self, item: Finished) {
        let was_empty = {
            let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
            let was_empty = items.is_empty();
            items.push(item);
            was_empty
        };
        if was_empty {
            // A full socket buffer means a wake-up is already pending: nothing is lost.
            let _ = (&self.wake_tx).write(&[1]);
        }
    }
}

/// One per event loop: the queue of finished results and the socket the loop watches.
#[pyclass(frozen, module = "tekton_llm_client._core")]
pub struct LoopWaker {
    queue: Arc<Queue>,
}

#[pymethods]
impl LoopWaker {
    #[new]
    fn new() -> PyResult<LoopWaker> {
        let (wake_tx, wake_rx) = UnixStream::pair().map_err(|e| PyRuntimeError::new_err(format!("socketpair: {e}")))?;
        for s in [&wake_tx, &wake_rx] {
            s.set_nonblocking(true).map_err(|e| PyRuntimeError::new_err(format!("socketpair: {e}")))?;
        }
        Ok(LoopWaker { queue: Arc::new(Queue { items: Mutex::new(Vec::new()), wake_tx, wake_rx }) })
    }

    /// The descriptor the event loop watches for readability.
    fn fileno(&self) -> i32 {
        self.queue.wake_rx.as_raw_fd()
    }

    /// Resolve every finished future (the loop's reader callback).
    fn drain(&self, py: Python<'_>) {
        let mut buf = [0u8; 512];
        while let Ok(n) = (&self.queue.wake_rx).read(&mut buf) {
            if n < buf.len() {
                break;
            }
        }
        let items = std::mem::take(&mut *self.queue.items.lock().unwrap_or_else(|e| e.into_inner()));
        for item in items {
            if let Err(e) = resolve(py, item) {
                e.write_unraisable(py, None);
            }
        }
    }
}

fn resolve(py: Python<'_>, item: Finished) -> PyResult<()> {
    let future = item.future.bind(py);
    if future.call_method0(intern!(py, "done"))?.is_truthy()? {
        return Ok(()); // cancelled meanwhile
    }
    let converted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (item.convert)(py)))
        .unwrap_or_else(|payload| {
            let msg = tekton_core::panic_guard::panic_message(payload.as_ref());
            Err(crate::py_errors::to_py_err(py, &tekton_core::panic_guard::panic_error("converting a result", &msg)))
        });
    match converted {
        Ok(value) => future.call_method1(intern!(py, "set_result"), (value,))?,
        Err(err) => future.call_method1(intern!(py, "set_exception"), (err.value(py),))?,
    };
    Ok(())
}

/// Aborts the Rust task when its future is cancelled (a done-callback).
#[pyclass(frozen, module = "tekton_llm_client._core")]
pub struct AbortOnCancel {
    handle: tokio::task::AbortHandle,
}

#[pymethods]
impl AbortOnCancel {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0(intern!(future.py(), "cancelled"))?.is_truthy()? {
            self.handle.abort();
        }
        Ok(())
    }
}

static WAKER_FOR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Run `fut` on the runtime; an asyncio future (of the running loop) resolves with
/// `convert(output)`, computed on the loop's thread. Cancelling the future aborts the task.
pub fn spawn<'py, F, T, C>(py: Python<'py>, fut: F, convert: C) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
    C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let get_loop = GET_RUNNING_LOOP.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("asyncio")?.getattr("get_running_loop")?.unbind())
    })?;
    let event_loop = get_loop.bind(py).call0()?;
    let waker_for = WAKER_FOR.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("tekton_llm_client._bridge")?.getattr("waker_for")?.unbind())
    })?;
    let waker = waker_for.bind(py).call1((&event_loop,))?;
    let queue = Arc::clone(&waker.cast::<LoopWaker>()?.get().queue);
    let future = event_loop.call_method0(intern!(py, "create_future"))?;
    let target = future.clone().unbind();
    let task = crate::runtime::handle()?.spawn(async move {
        let out = tekton_core::panic_guard::catch(fut).await;
        let convert: Convert = Box::new(move |py| match out {
            Ok(v) => convert(py, v),
            Err(msg) => Err(crate::py_errors::to_py_err(py, &tekton_core::panic_guard::panic_error("an awaitable's task", &msg))),
        });
        queue.push(Finished { future: target, convert });
    });
    future.call_method1(intern!(py, "add_done_callback"), (AbortOnCancel { handle: task.abort_handle() },))?;
    Ok(future)
}

/// `spawn` for a future yielding `PyResult<T>` with `T` convertible to Python.
pub fn spawn_result<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    spawn(py, fut, |py, out: PyResult<T>| {
        let value = out?;
        value.into_pyobject(py).map(|b| b.into_any().into_bound().unbind()).map_err(Into::into)
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LoopWaker>()?;
    m.add_class::<AbortOnCancel>()?;
    Ok(())
}
