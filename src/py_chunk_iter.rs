//! `ChunkBuffer`: the native base of the Rust path's chunk iterator.
//!
//! `async for` calls `__anext__` once per chunk. A Python `async def __anext__` costs a coroutine
//! object, a frame and a `StopIteration` per chunk even when the chunk is already in memory. Here
//! `__anext__` hands out a buffered chunk inside a tiny awaitable whose `am_send` returns it at
//! once (no exception, no frame). When the buffer is empty and a native stream is attached
//! (`_attach`), `__anext__` returns the stream's own asyncio future, which the stream resolves on
//! the loop's thread with the next batch's first chunk after filling this buffer with the rest:
//! a paced stream that brings one chunk per refill runs no Python code per chunk either. Only an
//! iterator without an attached stream (opening, fallback, older dialects) calls the subclass's
//! `_refill()` coroutine. The whole contract with `client.py`'s `ChunkIterator`: docs/handoff.md.
use std::ffi::{c_int, c_void};
use std::ptr;

use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyType};

use crate::py_http::ChunkStream;

#[pyclass(subclass, module = "tekton_llm_client._core")]
pub struct ChunkBuffer {
    batch: Option<Py<PyList>>,
    next: usize,
    stream: Option<Py<ChunkStream>>,
}

impl ChunkBuffer {
    /// Serve `batch[start:]` next.
    pub(crate) fn set_buffer(&mut self, batch: Bound<'_, PyList>, start: usize) {
        self.batch = Some(batch.unbind());
        self.next = start;
    }
}

#[pymethods]
impl ChunkBuffer {
    /// Subclasses take their own constructor arguments; the buffer starts empty.
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyAny>, _kwargs: Option<&Bound<'_, PyAny>>) -> ChunkBuffer {
        ChunkBuffer { batch: None, next: 0, stream: None }
    }

    fn __anext__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        {
            let mut this = slf.borrow_mut();
            if let Some(batch) = &this.batch {
                let batch = batch.bind(py);
                if this.next < batch.len() {
                    let chunk = batch.get_item(this.next)?;
                    this.next += 1;
                    return ready(py, chunk);
                }
            }
            this.batch = None;
            if let Some(stream) = &this.stream {
                let stream = stream.clone_ref(py);
                drop(this);
                return stream.get().next_chunk(py, slf);
            }
        }
        slf.call_method0(intern!(py, "_refill"))
    }

    /// Serve `batch[start:]` next.
    fn _set_buffer(&mut self, batch: Bound<'_, PyList>, start: usize) {
        self.set_buffer(batch, start);
    }

    /// Read further batches straight from `stream` (a native `ChunkStream`; anything else is
    /// left to `_refill`).
    fn _attach(&mut self, stream: &Bound<'_, PyAny>) {
        self.stream = stream.cast::<ChunkStream>().ok().map(|s| s.clone().unbind());
    }

    fn _clear_buffer(&mut self) {
        self.batch = None;
        self.next = 0;
    }
}

/// The awaitable `__anext__` returns for a chunk already in hand: awaiting it returns the chunk.
#[repr(C)]
struct ReadyObject {
    ob_base: ffi::PyObject,
    value: *mut ffi::PyObject,
}

static READY_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn ready_type(py: Python<'_>) -> PyResult<&Py<PyType>> {
    READY_TYPE.get_or_try_init(py, || {
        let mut slots = [
            ffi::PyType_Slot { slot: ffi::Py_tp_dealloc, pfunc: ready_dealloc as *mut c_void },
            ffi::PyType_Slot { slot: ffi::Py_am_await, pfunc: ready_await as *mut c_void },
            ffi::PyType_Slot { slot: ffi::Py_am_send, pfunc: ready_send as *mut c_void },
            ffi::PyType_Slot { slot: ffi::Py_tp_iter, pfunc: ffi::PyObject_SelfIter as *mut c_void },
            ffi::PyType_Slot { slot: ffi::Py_tp_iternext, pfunc: ready_iternext as *mut c_void },
            ffi::PyType_Slot::default(),
        ];
        let mut spec = ffi::PyType_Spec {
            name: c"tekton_llm_client._core.ReadyChunk".as_ptr(),
            basicsize: std::mem::size_of::<ReadyObject>() as c_int,
            itemsize: 0,
            flags: (ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_DISALLOW_INSTANTIATION) as _,
            slots: slots.as_mut_ptr(),
        };
        // SAFETY: the spec and its slots outlive the call (CPython copies what it keeps); the
        // result is a new reference or NULL with an exception set.
        let tp = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyType_FromSpec(&mut spec))? };
        Ok(tp.cast_into::<PyType>()?.unbind())
    })
}

pub(crate) fn ready<'py>(py: Python<'py>, value: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let tp = ready_type(py)?.bind(py).as_type_ptr();
    // SAFETY: `tp` is our ReadyChunk type; `PyType_GenericAlloc` returns a zeroed instance of
    // `basicsize` bytes (a new reference) or NULL with an exception set. The value's reference
    // moves into the object, which releases it in `ready_dealloc` or hands it out in `take`.
    unsafe {
        let obj = Bound::from_owned_ptr_or_err(py, ffi::PyType_GenericAlloc(tp, 0))?;
        (*obj.as_ptr().cast::<ReadyObject>()).value = value.into_ptr();
        Ok(obj)
    }
}

/// The held value (a new reference), or None's once it was taken.
unsafe fn take(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    let obj = slf.cast::<ReadyObject>();
    let value = std::mem::replace(&mut (*obj).value, ptr::null_mut());
    if value.is_null() {
        ffi::Py_NewRef(ffi::Py_None())
    } else {
        value
    }
}

unsafe extern "C" fn ready_dealloc(slf: *mut ffi::PyObject) {
    let obj = slf.cast::<ReadyObject>();
    ffi::Py_XDECREF(std::mem::replace(&mut (*obj).value, ptr::null_mut()));
    let tp = ffi::Py_TYPE(slf);
    let free = ffi::PyType_GetSlot(tp, ffi::Py_tp_free);
    if !free.is_null() {
        // SAFETY: Py_tp_free holds a freefunc.
        let free: ffi::freefunc = std::mem::transmute::<*mut c_void, ffi::freefunc>(free);
        free(slf.cast());
    }
    // Instances of a heap type hold a reference to it.
    ffi::Py_DECREF(tp.cast());
}

unsafe extern "C" fn ready_await(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    ffi::Py_NewRef(slf)
}

/// The fast path (`await`, `async for`): done at once, returning the chunk.
unsafe extern "C" fn ready_send(
    slf: *mut ffi::PyObject,
    _arg: *mut ffi::PyObject,
    result: *mut *mut ffi::PyObject,
) -> ffi::PySendResult {
    *result = take(slf);
    ffi::PySendResult::PYGEN_RETURN
}

/// For callers that drive awaitables with `__next__`: StopIteration carries the chunk.
unsafe extern "C" fn ready_iternext(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    let value = take(slf);
    let args = ffi::PyTuple_Pack(1, value);
    ffi::Py_DECREF(value);
    if args.is_null() {
        return ptr::null_mut();
    }
    let exc = ffi::PyObject_Call(ffi::PyExc_StopIteration, args, ptr::null_mut());
    ffi::Py_DECREF(args);
    if !exc.is_null() {
        ffi::PyErr_SetObject(ffi::PyExc_StopIteration, exc);
        ffi::Py_DECREF(exc);
    }
    ptr::null_mut()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ChunkBuffer>()?;
    let tp = ready_type(m.py())?;
    m.add("ReadyChunk", tp.clone_ref(m.py()))?;
    Ok(())
}
