//! Building instances of the facade's `__slots__` model classes without running their Python
//! `__init__`.
//!
//! Calling `StreamingChunk(...)` costs a Python frame and ten attribute stores per chunk, more
//! than everything else the Rust path does for that chunk. Here the type allocates the instance
//! and each slot is set through its own member descriptor (the same store `self.x = v` ends in),
//! so the result is the very same Python class, just made without the interpreter. Only a class
//! whose `__slots__` are exactly the expected names, each a plain member descriptor, is built this
//! way; anything else is called as usual.
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};

pub struct SlotsClass {
    cls: Py<PyType>,
    untrack: bool,
    /// One member descriptor per field, in the caller's field order; None: call the class.
    descriptors: Option<Vec<Py<PyAny>>>,
}

impl SlotsClass {
    /// `fields` must be the class's `__slots__`, in order, for the fast path to be used.
    ///
    /// `untrack`: take each new instance out of the cyclic garbage collector's lists, as CPython
    /// does for tuples and dicts of atomic values. Only for classes whose fields hold strings,
    /// numbers, None and models of the same kind, which cannot form a cycle: thousands of streamed
    /// chunks held in a batch otherwise make every young-generation collection walk all of them.
    pub fn new(cls: Bound<'_, PyType>, fields: &[&str], untrack: bool) -> PyResult<SlotsClass> {
        let descriptors = Self::member_descriptors(&cls, fields)?;
        Ok(SlotsClass { cls: cls.unbind(), untrack, descriptors })
    }

    fn member_descriptors(cls: &Bound<'_, PyType>, fields: &[&str]) -> PyResult<Option<Vec<Py<PyAny>>>> {
        let slots: Vec<String> = match cls.getattr("__slots__").and_then(|s| s.extract()) {
            Ok(s) => s,
            Err(_) => return Ok(None),
        };
        if slots != fields {
            return Ok(None);
        }
        let dict = cls.getattr("__dict__")?;
        let mut out = Vec::with_capacity(fields.len());
        for name in fields {
            let d = dict.get_item(name)?;
            // SAFETY: comparing a type pointer with the address of a static type object.
            let is_member = unsafe { ffi::Py_TYPE(d.as_ptr()) == std::ptr::addr_of_mut!(ffi::PyMemberDescr_Type) };
            if !is_member {
                return Ok(None);
            }
            out.push(d.unbind());
        }
        Ok(Some(out))
    }

    /// A new instance with `values` (one per field, in order).
    pub fn build<'py, const N: usize>(&self, py: Python<'py>, values: [Bound<'py, PyAny>; N]) -> PyResult<Bound<'py, PyAny>> {
        let Some(descriptors) = self.descriptors.as_ref().filter(|d| d.len() == N) else {
            return self.cls.bind(py).call1(PyTuple::new(py, values)?);
        };
        let tp = self.cls.bind(py).as_type_ptr();
        // SAFETY: `tp` is a live type object (we hold a reference). Its `tp_alloc` returns a new
        // reference to a zeroed instance or NULL with an exception set; `from_owned_ptr_or_err`
        // takes ownership either way.
        let obj = unsafe {
            let alloc = (*tp).tp_alloc.unwrap_or(ffi::PyType_GenericAlloc);
            Bound::from_owned_ptr_or_err(py, alloc(tp, 0))?
        };
        for (descriptor, value) in descriptors.iter().zip(values.iter()) {
            let d = descriptor.as_ptr();
            // SAFETY: `d` is a member descriptor of `tp` (checked at construction), so its type
            // has `tp_descr_set`; it type-checks `obj`, takes its own reference to `value` and
            // returns -1 with an exception set on failure.
            let status = unsafe {
                match (*ffi::Py_TYPE(d)).tp_descr_set {
                    Some(set) => set(d, obj.as_ptr(), value.as_ptr()),
                    None => -1,
                }
            };
            if status < 0 {
                return Err(PyErr::take(py).unwrap_or_else(|| {
                    pyo3::exceptions::PyTypeError::new_err("a model slot could not be set")
                }));
            }
        }
        if self.untrack {
            // SAFETY: `obj` is a live instance we just made; untracking an object that is not
            // tracked (a class without GC support) is checked for first.
            unsafe {
                if ffi::PyObject_GC_IsTracked(obj.as_ptr()) == 1 {
                    ffi::PyObject_GC_UnTrack(obj.as_ptr().cast());
                }
            }
        }
        Ok(obj)
    }
}
