//! Handing finished Rust work to asyncio without taking the GIL on a runtime thread. The whole
//! Rust<->Python hand-off (this file, the chunk iterator, streams, WebSocket events, log lines) is
//! described in one place: docs/handoff.md.
//!
//! A finished task only pushes its result onto its loop's queue (`LoopQueue::resolve_later`) and,
//! when the queue was empty, writes one byte to a socket pair the loop watches (`add_reader`).
//! The loop thread then drains every finished result in one go (`LoopWaker::drain`), converting
//! each to Python and resolving its future. No runtime thread ever touches Python (log lines too
//! are queued, `py_log`), so nothing can block on the GIL, and an exiting interpreter is never
//! entered from another thread. (pyo3-async-runtimes instead resolves each future from a fresh
//! thread that takes the GIL: at 64 calls in flight, dozens of threads fighting the loop for it.)
use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyCFunction, PyDict, PyTuple};
use pyo3::{intern, BoundObject};

pub type Convert = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

struct Finished {
    future: Py<PyAny>,
    convert: Convert,
}

struct Queue {
    items: Mutex<Vec<Finished>>,
    wake_tx: UnixStream,
    wake_rx: UnixStream,
    /// When the loop was last woken (`tekton_clock::monotonic_ns`).
    last_wake_ns: AtomicU64,
    /// A deferred wake-up is scheduled.
    wake_scheduled: AtomicBool,
    /// The loop's thread is reading a socket itself (`LoopQueue::hold_wakes`) and resolves what is
    /// pushed meanwhile before it returns to the loop: no wake-up needed.
    held: AtomicBool,
}

impl Queue {
    fn push(self: &Arc<Self>, item: Finished, pace: Pace) {
        let was_empty = {
            let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
            let was_empty = items.is_empty();
            items.push(item);
            was_empty
        };
        if self.held.load(Ordering::Acquire) {
            return;
        }
        // A result that must not wait is not left behind a deferred wake-up of paced ones.
        if was_empty || pace == Pace::Now {
            self.wake_soon(pace);
        }
    }

    /// Wake the loop, at most once per window while many exchanges are in flight: a loop woken
    /// less than a window ago is woken at the window's end instead, and then finds everything that
    /// finished meanwhile. Paced streams deliver one event per network read; without this, each
    /// would cost the loop a wake-up.
    fn wake_soon(self: &Arc<Self>, pace: Pace) {
        let now = tekton_clock::monotonic_ns();
        let may_wait = match pace {
            Pace::Now => crate::io_pacing::coalescing(),
            Pace::Window => !crate::io_pacing::window().is_zero(),
        };
        if !may_wait {
            return self.wake_now(now); // a few exchanges: each result may be what starts the next
        }
        let due = self.last_wake_ns.load(Ordering::Relaxed).saturating_add(wake_window_ns());
        if now >= due || self.wake_scheduled.swap(true, Ordering::AcqRel) {
            if now >= due {
                self.wake_now(now);
            }
            return;
        }
        let queue = Arc::clone(self);
        let wake = Box::new(move || {
            queue.wake_scheduled.store(false, Ordering::Release);
            queue.wake_now(tekton_clock::monotonic_ns());
        });
        if let Err(wake) = crate::wake_timer::run_at(due, wake) {
            wake();
        }
    }

    fn wake_now(&self, now: u64) {
        self.last_wake_ns.store(now, Ordering::Relaxed);
        // A full socket buffer means a wake-up is already pending: nothing is lost.
        let _ = (&self.wake_tx).write(&[1]);
    }
}

/// The shortest time between two wake-ups of a loop, in ns (`io_pacing::window`).
fn wake_window_ns() -> u64 {
    u64::try_from(crate::io_pacing::window().as_nanos()).unwrap_or(u64::MAX)
}

/// One per event loop (`loop_waker`): the queue of finished results and the socket the loop
/// watches.
#[pyclass(frozen, module = "tekton_llm_client._core")]
pub struct LoopWaker {
    queue: Arc<Queue>,
}

impl LoopWaker {
    fn new() -> PyResult<LoopWaker> {
        let (wake_tx, wake_rx) = UnixStream::pair().map_err(|e| PyRuntimeError::new_err(format!("socketpair: {e}")))?;
        for s in [&wake_tx, &wake_rx] {
            s.set_nonblocking(true).map_err(|e| PyRuntimeError::new_err(format!("socketpair: {e}")))?;
        }
        Ok(LoopWaker {
            queue: Arc::new(Queue {
                items: Mutex::new(Vec::new()),
                wake_tx,
                wake_rx,
                last_wake_ns: AtomicU64::new(0),
                wake_scheduled: AtomicBool::new(false),
                held: AtomicBool::new(false),
            }),
        })
    }
}

#[pymethods]
impl LoopWaker {
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
        resolve_queued(py, &self.queue);
    }
}

/// Resolve every future in `queue`.
fn resolve_queued(py: Python<'_>, queue: &Queue) {
    let items = std::mem::take(&mut *queue.items.lock().unwrap_or_else(|e| e.into_inner()));
    // Log lines queued before these results were pushed are emitted before they resolve.
    crate::py_log::emit_queued(py);
    for item in items {
        if let Err(e) = resolve(py, item) {
            e.write_unraisable(py, None);
        }
    }
}

fn resolve(py: Python<'_>, item: Finished) -> PyResult<()> {
    let future = item.future.bind(py);
    if future.call_method0(intern!(py, "done"))?.is_truthy()? {
        return Ok(()); // cancelled meanwhile
    }
    let converted =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (item.convert)(py))).unwrap_or_else(|payload| {
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
    handle: futures_util::future::AbortHandle,
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

/// Every loop's waker: a `weakref.WeakKeyDictionary` loop → `LoopWaker`, so a loop that is gone
/// takes its waker (and socket pair) with it.
static WAKERS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Where results for one event loop go: anything holding it can resolve that loop's futures
/// from any thread (the conversion runs later, on the loop's thread).
#[derive(Clone)]
pub struct LoopQueue(Arc<Queue>);

/// How soon the loop must learn of a result.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// At once, unless many exchanges are in flight (`io_pacing::coalescing`): a result may be
    /// what the caller waits for to start the next exchange.
    Now,
    /// Within one window (`io_pacing::window`) even when few are in flight: more chunks of a
    /// stream that already started. Nothing waits on them to send anything, their arrival times
    /// are already recorded (`received_ns`), and a stream of back-to-back events then costs one
    /// loop wake-up per window instead of one per event.
    Window,
}

impl LoopQueue {
    /// Resolve `future` with `convert(py)`, computed on the loop's thread.
    pub fn resolve_later(&self, future: Py<PyAny>, convert: Convert) {
        self.0.push(Finished { future, convert }, Pace::Now);
    }

    /// `resolve_later` for the next chunks of a started stream (`Pace::Window`).
    pub fn resolve_within_window(&self, future: Py<PyAny>, convert: Convert) {
        self.0.push(Finished { future, convert }, Pace::Window);
    }

    /// On the loop's thread, before it reads a socket itself: what is pushed until
    /// `resolve_held` wakes nobody, since `resolve_held` resolves it.
    pub fn hold_wakes(&self) {
        self.0.held.store(true, Ordering::Release);
    }

    /// End `hold_wakes` and resolve everything queued (on the loop's thread).
    pub fn resolve_held(&self, py: Python<'_>) {
        self.0.held.store(false, Ordering::Release);
        resolve_queued(py, &self.0);
    }
}

/// The loop something is used from and its queue, remembered after the first look-up (a stream
/// is read from one loop; another loop is looked up again).
#[derive(Default)]
pub struct LoopCache(Mutex<Option<(Py<PyAny>, LoopQueue)>>);

impl LoopCache {
    /// A new future on the running loop, and that loop's queue.
    pub fn new_future<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, LoopQueue)> {
        let (event_loop, queue) = self.running(py)?;
        let future = event_loop.call_method0(intern!(py, "create_future"))?;
        Ok((future, queue))
    }

    /// The running loop and its queue.
    pub fn running<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, LoopQueue)> {
        let get_loop = GET_RUNNING_LOOP.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            Ok(py.import("asyncio")?.getattr("get_running_loop")?.unbind())
        })?;
        let event_loop = get_loop.bind(py).call0()?;
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let queue = match cache.as_ref() {
            Some((cached, queue)) if cached.bind(py).is(&event_loop) => queue.clone(),
            _ => {
                let queue = loop_queue(&event_loop)?;
                *cache = Some((event_loop.clone().unbind(), queue.clone()));
                queue
            }
        };
        Ok((event_loop, queue))
    }
}

fn wakers(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    let wakers = WAKERS.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        let wakers = py.import("weakref")?.getattr("WeakKeyDictionary")?.call0()?;
        // A forked child starts with none: the parent's wakers share their sockets with the
        // parent, whose loops would read the child's wake-ups (the child's runtime is its own,
        // see runtime.rs).
        let table = wakers.clone().unbind();
        let forget = PyCFunction::new_closure(
            py,
            None,
            None,
            move |args: &Bound<'_, PyTuple>, _: Option<&Bound<'_, PyDict>>| -> PyResult<()> {
                table.bind(args.py()).call_method0(intern!(args.py(), "clear")).map(drop)
            },
        )?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("after_in_child", forget)?;
        py.import("os")?.call_method("register_at_fork", (), Some(&kwargs))?;
        Ok(wakers.unbind())
    })?;
    Ok(wakers.bind(py))
}

/// `_core.loop_waker(loop)`: the loop's waker, made and registered with the loop (`add_reader`)
/// on first use.
#[pyfunction]
fn loop_waker<'py>(event_loop: &Bound<'py, PyAny>) -> PyResult<Bound<'py, LoopWaker>> {
    let py = event_loop.py();
    let wakers = wakers(py)?;
    let known = wakers.call_method1(intern!(py, "get"), (event_loop,))?;
    if !known.is_none() {
        return Ok(known.cast_into::<LoopWaker>()?);
    }
    let waker = Bound::new(py, LoopWaker::new()?)?;
    event_loop.call_method1(intern!(py, "add_reader"), (waker.get().fileno(), waker.getattr(intern!(py, "drain"))?))?;
    wakers.set_item(event_loop, &waker)?;
    Ok(waker)
}

/// The loop that last started Rust work: log lines wake it (`py_log`).
static LOG_LOOP: Mutex<Weak<Queue>> = Mutex::new(Weak::new());

/// Wake the loop that last started Rust work, to emit queued log lines. With none alive, the
/// lines wait for the next drain of any loop.
pub(crate) fn wake_for_log() {
    let queue = LOG_LOOP.lock().unwrap_or_else(|e| e.into_inner()).upgrade();
    if let Some(queue) = queue {
        queue.wake_soon(Pace::Window); // a log line waits on nothing: within one window is soon enough
    }
}

fn loop_queue(event_loop: &Bound<'_, PyAny>) -> PyResult<LoopQueue> {
    let waker = loop_waker(event_loop)?;
    let queue = Arc::clone(&waker.get().queue);
    let mut log_loop = LOG_LOOP.lock().unwrap_or_else(|e| e.into_inner());
    if !std::ptr::eq(log_loop.as_ptr(), Arc::as_ptr(&queue)) {
        *log_loop = Arc::downgrade(&queue);
    }
    drop(log_loop);
    Ok(LoopQueue(queue))
}

/// A new future on the running loop, and that loop's queue.
pub fn new_future(py: Python<'_>) -> PyResult<(Bound<'_, PyAny>, LoopQueue)> {
    let get_loop = GET_RUNNING_LOOP.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("asyncio")?.getattr("get_running_loop")?.unbind())
    })?;
    let event_loop = get_loop.bind(py).call0()?;
    let queue = loop_queue(&event_loop)?;
    let future = event_loop.call_method0(intern!(py, "create_future"))?;
    Ok((future, queue))
}

/// Run `fut` on the runtime; an asyncio future (of the running loop) resolves with
/// `convert(output)`, computed on the loop's thread. Cancelling the future aborts the task.
pub fn spawn<'py, F, T, C>(py: Python<'py>, fut: F, convert: C) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
    C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let (future, queue) = new_future(py)?;
    let target = future.clone().unbind();
    let (fut, abort) = futures_util::future::abortable(fut);
    crate::runtime::spawn_queued(async move {
        let in_flight = tekton_core::activity::InFlight::start();
        let out = match tekton_core::panic_guard::catch(fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_aborted)) => return, // the future was cancelled
            Err(panic) => Err(panic),
        };
        drop(in_flight);
        let convert: Convert = Box::new(move |py| match out {
            Ok(v) => convert(py, v),
            Err(msg) => Err(crate::py_errors::to_py_err(
                py,
                &tekton_core::panic_guard::panic_error("an awaitable's task", &msg),
            )),
        });
        queue.resolve_later(target, convert);
    })?;
    future.call_method1(intern!(py, "add_done_callback"), (AbortOnCancel { handle: abort },))?;
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
    m.add_function(wrap_pyfunction!(loop_waker, m)?)?;
    Ok(())
}
