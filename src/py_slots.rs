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

type AllocFunc = unsafe extern "C" fn(*mut ffi::PyTypeObject, ffi::Py_ssize_t) -> *mut ffi::PyObject;
type DescrSetFunc = unsafe extern "C" fn(*mut ffi::PyObject, *mut ffi::PyObject, *mut ffi::PyObject) -> std::ffi::c_int;
/// A member descriptor and its type's setter.
type MemberSetter = (Py<PyAny>, DescrSetFunc);

pub struct SlotsClass {
    cls: Py<PyType>,
    untrack: bool,
    /// The type's allocator, looked up once (through `PyType_GetSlot`, which the stable ABI has).
    alloc: AllocFunc,
    /// One member descriptor per field, in the caller's field order, with its setter; None: call
    /// the class.
    descriptors: Option<Vec<MemberSetter>>,
}

/// `slot` of `tp` as a function pointer of type `F`, if the type has one.
///
/// # Safety
/// `tp` must be a live type object and `F` the function type CPython documents for `slot`.
unsafe fn type_slot<F: Copy>(tp: *mut ffi::PyTypeObject, slot: std::ffi::c_int) -> Option<F> {
    let ptr = ffi::PyType_GetSlot(tp, slot);
    if ptr.is_null() {
        None
    } else {
        Some(std::mem::transmute_copy::<*mut std::ffi::c_void, F>(&ptr))
    }
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
        // SAFETY: a live type; Py_tp_alloc is an allocfunc.
        let alloc =
            unsafe { type_slot::<AllocFunc>(cls.as_type_ptr(), ffi::Py_tp_alloc) }.unwrap_or(ffi::PyType_GenericAlloc);
        Ok(SlotsClass { cls: cls.unbind(), untrack, alloc, descriptors })
    }

    fn member_descriptors(cls: &Bound<'_, PyType>, fields: &[&str]) -> PyResult<Option<Vec<MemberSetter>>> {
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
            // SAFETY: the descriptor's type is live; Py_tp_descr_set is a descrsetfunc.
            let Some(set) = (unsafe { type_slot::<DescrSetFunc>(ffi::Py_TYPE(d.as_ptr()), ffi::Py_tp_descr_set) })
            else {
                return Ok(None);
            };
            out.push((d.unbind(), set));
        }
        Ok(Some(out))
    }

    /// A new instance with `values` (one per field, in order).
    pub fn build<'py, const N: usize>(
        &self,
        py: Python<'py>,
        values: [Bound<'py, PyAny>; N],
    ) -> PyResult<Bound<'py, PyAny>> {
        let Some(descriptors) = self.descriptors.as_ref().filter(|d| d.len() == N) else {
            return self.cls.bind(py).call1(PyTuple::new(py, values)?);
        };
        let tp = self.cls.bind(py).as_type_ptr();
        // SAFETY: `tp` is a live type object (we hold a reference). Its `tp_alloc` returns a new
        // reference to a zeroed instance or NULL with an exception set; `from_owned_ptr_or_err`
        // takes ownership either way.
        let obj = unsafe { Bound::from_owned_ptr_or_err(py, (self.alloc)(tp, 0))? };
        for ((descriptor, set), value) in descriptors.iter().zip(values.iter()) {
            // SAFETY: `descriptor` is a member descriptor of `tp` (checked at construction) and
            // `set` its type's setter; it type-checks `obj`, takes its own reference to `value`
            // and returns -1 with an exception set on failure.
            let status = unsafe { set(descriptor.as_ptr(), obj.as_ptr(), value.as_ptr()) };
            if status < 0 {
                return Err(PyErr::take(py)
                    .unwrap_or_else(|| pyo3::exceptions::PyTypeError::new_err("a model slot could not be set")));
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
