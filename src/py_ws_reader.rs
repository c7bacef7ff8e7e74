//! `_core.WebSocketReader`: a ws:// socket read on the event loop's own thread. The transport
//! registers it with the loop (`add_reader`) when its connection task offers one
//! (`WsClient::take_reader`); each call of `read_ready` reads the frames that have arrived and
//! resolves the dispatcher's waiting `next_events` right there, with no wake-up of a runtime
//! thread and no hand-over through the loop's wake-up socket (docs/handoff.md).
use std::sync::{Arc, Mutex};

use pyo3::intern;
use pyo3::prelude::*;
use tekton_core::ws::{ReadState, SocketReader};

use crate::py_bridge::LoopQueue;

#[pyclass(name = "WebSocketReader", module = "tekton_llm_client._core", frozen)]
pub struct PyWebSocketReader {
    reader: Mutex<SocketReader>,
    fd: i32,
    event_loop: Py<PyAny>,
    queue: LoopQueue,
    parked: ParkedReader,
}

/// Where a reader waits, unwatched, while the dispatcher has `EVENTS_QUEUED_LIMIT` events to take;
/// the transport resumes it after each take (`resume`).
#[derive(Clone, Default)]
pub struct ParkedReader(Arc<Mutex<Option<Py<PyWebSocketReader>>>>);

impl ParkedReader {
    /// Watch the parked reader's socket again, if one is parked (on the loop's thread).
    pub fn resume(&self, py: Python<'_>) -> PyResult<()> {
        let parked = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        match parked {
            Some(reader) => PyWebSocketReader::watch(reader.bind(py)),
            None => Ok(()),
        }
    }

    fn park(&self, reader: Py<PyWebSocketReader>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(reader);
    }
}

impl PyWebSocketReader {
    /// Watch `reader`'s socket on `event_loop`.
    pub(crate) fn attach(
        event_loop: &Bound<'_, PyAny>,
        queue: LoopQueue,
        parked: ParkedReader,
        reader: SocketReader,
    ) -> PyResult<()> {
        let py = event_loop.py();
        let fd = reader.fd();
        let this = Bound::new(
            py,
            PyWebSocketReader {
                reader: Mutex::new(reader),
                fd,
                event_loop: event_loop.clone().unbind(),
                queue,
                parked,
            },
        )?;
        Self::watch(&this)
    }

    /// Have the loop call `read_ready` when the socket is readable, and once soon: frames may wait
    /// in the reader's buffer already (after REGISTER_ACK, or when it was parked).
    fn watch(this: &Bound<'_, PyWebSocketReader>) -> PyResult<()> {
        let py = this.py();
        let event_loop = this.get().event_loop.bind(py);
        let read_ready = this.getattr(intern!(py, "read_ready"))?;
        event_loop.call_method1(intern!(py, "add_reader"), (this.get().fd, &read_ready))?;
        event_loop.call_method1(intern!(py, "call_soon"), (read_ready,))?;
        Ok(())
    }
}

#[pymethods]
impl PyWebSocketReader {
    /// Read what has arrived (the loop's reader callback).
    fn read_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        this.queue.hold_wakes();
        let state = {
            let mut reader = this.reader.lock().unwrap_or_else(|e| e.into_inner());
            // A panic must not unwind into the event loop: the socket is given up instead (the
            // connection task reports the error and reconnects).
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reader.read_ready())) {
                Ok(state) => state,
                Err(payload) => {
                    let message = tekton_core::panic_guard::panic_message(payload.as_ref());
                    reader.abandon(tekton_core::panic_guard::panic_error("reading the WebSocket", &message))
                }
            }
        };
        this.queue.resolve_held(py);
        let event_loop = this.event_loop.bind(py);
        match state {
            ReadState::Waiting => {}
            // Frames may wait in the decoder's buffer with nothing left in the socket.
            ReadState::More => {
                event_loop.call_method1(intern!(py, "call_soon"), (slf.getattr(intern!(py, "read_ready"))?,))?;
            }
            // Unwatched until the dispatcher takes events (the transport resumes it then).
            ReadState::Full => {
                event_loop.call_method1(intern!(py, "remove_reader"), (this.fd,))?;
                this.parked.park(slf.clone().unbind());
            }
            // Before the socket closes (with this object): the loop must not watch a reused fd.
            ReadState::Ended => {
                event_loop.call_method1(intern!(py, "remove_reader"), (this.fd,))?;
            }
        }
        Ok(())
    }

    fn fileno(&self) -> i32 {
        self.fd
    }
}
