//! Token functions of `_core`: the Rust backend of `tekton_llm_client.utils` token helpers.
//!
//! Same names and arguments as `tekton_llm_client._pure.tokens` (the backend interface); the
//! model → encoding map lives in Python (`utils/encodings.py`), so every function here takes an
//! encoding name. Strings are borrowed from Python (no copy) and the GIL is released around all
//! counting, which runs on rayon's pool for lists.
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use tekton_tokens::{Encoding, EncodingName, Keep, MessageSpec, Plan, Role, Shape, TokenError};

use tekton_tokens::messages_tokens;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(count_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(count_message_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(truncate_text, m)?)?;
    m.add_function(wrap_pyfunction!(optimize_plan, m)?)?;
    m.add_function(wrap_pyfunction!(tiktoken_rank_file, m)?)?;
    Ok(())
}

fn value_err(e: TokenError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Texts shorter than this are counted without releasing the GIL: releasing and re-taking it
/// costs more than counting them (well under a microsecond per hundred bytes).
const DETACH_BYTES: usize = 4096;

fn encoding(py: Python<'_>, name: &str) -> PyResult<&'static Encoding> {
    let name = EncodingName::parse(name).map_err(value_err)?;
    if let Some(enc) = Encoding::loaded(name) {
        return Ok(enc);
    }
    // First use builds the rank table (tens of ms): without the GIL.
    py.detach(|| Encoding::for_name(name)).map_err(value_err)
}

/// Tokens of `text` (an int), or of each text of a list (a list of ints, counted in parallel).
#[pyfunction]
fn count_tokens(py: Python<'_>, text: &Bound<'_, PyAny>, encoding_name: &str) -> PyResult<Py<PyAny>> {
    let enc = encoding(py, encoding_name)?;
    if let Ok(s) = text.cast::<PyString>() {
        let s = s.to_str()?;
        let n = if s.len() < DETACH_BYTES {
            tekton_tokens::count(enc, s)
        } else {
            py.detach(|| tekton_tokens::count(enc, s))
        };
        return Ok(n.into_pyobject(py)?.into_any().unbind());
    }
    let texts: Vec<PyBackedStr> = match text.cast::<PyList>() {
        Ok(list) => list.iter().map(|t| t.extract()).collect::<PyResult<_>>()?,
        Err(_) => text
            .try_iter()
            .map_err(|_| PyTypeError::new_err("count_tokens expects a str or a list of str"))?
            .map(|t| t?.extract())
            .collect::<PyResult<_>>()?,
    };
    let counts = py.detach(|| tekton_tokens::count_many(enc, &texts));
    Ok(PyList::new(py, counts)?.into_any().unbind())
}

/// The OpenAI cookbook count of a conversation (3 per message, +1 per name, +3 reply priming).
#[pyfunction]
fn count_message_tokens(py: Python<'_>, messages: &Bound<'_, PyAny>, encoding_name: &str) -> PyResult<usize> {
    let enc = encoding(py, encoding_name)?;
    let specs = specs(py, messages)?;
    Ok(py.detach(|| messages_tokens(enc, &specs)))
}

/// `text` cut at token boundaries to at most `max_tokens` tokens (see docs/tokens.md).
#[pyfunction]
fn truncate_text(
    py: Python<'_>,
    text: PyBackedStr,
    max_tokens: usize,
    encoding_name: &str,
    keep: &str,
    marker: PyBackedStr,
) -> PyResult<String> {
    let enc = encoding(py, encoding_name)?;
    let keep = Keep::parse(keep).map_err(value_err)?;
    Ok(py.detach(|| tekton_tokens::truncate(enc, &text, max_tokens, keep, &marker)))
}

/// `(kept indices, index of the cut message, its cut content)`.
type PlanTuple = (Vec<usize>, Option<usize>, Option<String>);

/// The optimization plan: None when the conversation already fits, else
/// `(kept_indices, truncated_index or None, truncated_content or None)`.
///
/// Every message is checked and its role read; only the messages the walk reaches are counted
/// (in parallel batches, without the GIL).
#[pyfunction]
fn optimize_plan(
    py: Python<'_>,
    messages: &Bound<'_, PyAny>,
    max_tokens: usize,
    encoding_name: &str,
    keep_system_prompt: bool,
    marker: PyBackedStr,
) -> PyResult<Option<PlanTuple>> {
    let enc = encoding(py, encoding_name)?;
    let mut src = PySource::new(py, enc, messages, &marker)?;
    let plan = tekton_tokens::optimize_source(&mut src, max_tokens, keep_system_prompt);
    if let Some(e) = src.py_error.take() {
        return Err(e);
    }
    Ok(match plan.map_err(value_err)? {
        Plan::Unchanged => None,
        Plan::Keep { indices, truncated: Some((i, s)) } => Some((indices, Some(i), Some(s))),
        Plan::Keep { indices, truncated: None } => Some((indices, None, None)),
    })
}

/// Messages read from Python on demand for `optimize_source`.
struct PySource<'py, 'm> {
    py: Python<'py>,
    enc: &'static Encoding,
    dicts: Vec<Bound<'py, PyDict>>,
    shapes: Vec<Shape>,
    specs: Vec<Option<MessageSpec<PyBackedStr>>>,
    dumps: Option<Bound<'py, PyAny>>,
    marker: &'m str,
    /// A Python error met while reading a message; reported after the plan.
    py_error: Option<PyErr>,
}

impl<'py, 'm> PySource<'py, 'm> {
    fn new(py: Python<'py>, enc: &'static Encoding, messages: &Bound<'py, PyAny>, marker: &'m str) -> PyResult<Self> {
        let mut dicts = Vec::new();
        let mut shapes = Vec::new();
        let mut dumps = None;
        for m in messages.try_iter()? {
            let d = as_dict(&m?)?;
            shapes.push(shape(py, &d, &mut dumps)?);
            dicts.push(d);
        }
        let specs = (0..dicts.len()).map(|_| None).collect();
        Ok(Self { py, enc, dicts, shapes, specs, dumps, marker, py_error: None })
    }

    fn load(&mut self, idx: &[usize]) -> Result<(), TokenError> {
        for &i in idx {
            if self.specs.get(i).is_some_and(Option::is_none) {
                match spec(self.py, &self.dicts[i], &mut self.dumps) {
                    Ok(s) => self.specs[i] = Some(s),
                    Err(e) => {
                        self.py_error = Some(e);
                        return Err(TokenError::InvalidArgument("a message could not be read".into()));
                    }
                }
            }
        }
        Ok(())
    }
}

impl tekton_tokens::Source for PySource<'_, '_> {
    fn shapes(&self) -> &[Shape] {
        &self.shapes
    }

    fn counts(&mut self, idx: &[usize]) -> Result<Vec<usize>, TokenError> {
        self.load(idx)?;
        let picked: Vec<&MessageSpec<PyBackedStr>> =
            idx.iter().filter_map(|&i| self.specs.get(i).and_then(Option::as_ref)).collect();
        let enc = self.enc;
        Ok(self.py.detach(|| tekton_tokens::count_specs(enc, &picked)))
    }

    fn cut(&mut self, i: usize, need: usize, budget: usize) -> Result<(usize, String), TokenError> {
        self.load(&[i])?;
        let m = self
            .specs
            .get(i)
            .and_then(Option::as_ref)
            .ok_or_else(|| TokenError::InvalidArgument(format!("no message {i}")))?;
        let (enc, marker) = (self.enc, self.marker);
        self.py.detach(|| tekton_tokens::cut_message(enc, m, need, budget, marker))
    }
}

/// The official `.tiktoken` rank file for an encoding, rebuilt from the embedded ranks.
#[pyfunction]
fn tiktoken_rank_file<'py>(py: Python<'py>, encoding_name: &str) -> PyResult<Bound<'py, PyBytes>> {
    let name = encoding_name.to_owned();
    let bytes = py.detach(|| tekton_tokens::rank_file(&name)).map_err(value_err)?;
    Ok(PyBytes::new(py, &bytes))
}

/// Messages (dicts, or objects with `to_dict()` such as `models.Message`) as counting specs.
/// Must agree with `_pure.tokens._spec`: str values counted as is, None skipped, anything else
/// as `json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)`.
fn specs(py: Python<'_>, messages: &Bound<'_, PyAny>) -> PyResult<Vec<MessageSpec<PyBackedStr>>> {
    let mut dumps: Option<Bound<'_, PyAny>> = None;
    let mut out = Vec::new();
    for m in messages.try_iter()? {
        out.push(spec(py, &as_dict(&m?)?, &mut dumps)?);
    }
    Ok(out)
}

fn as_dict<'py>(m: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    if let Ok(d) = m.cast::<PyDict>() {
        return Ok(d.clone());
    }
    match m.getattr("to_dict") {
        Ok(f) => Ok(f.call0()?.cast_into::<PyDict>()?),
        Err(_) => {
            Err(PyTypeError::new_err(format!("a message must be a dict or a Message, not {}", m.get_type().name()?)))
        }
    }
}

/// A value as the text that is counted for it.
fn value_text<'py>(
    py: Python<'py>,
    v: &Bound<'py, PyAny>,
    dumps: &mut Option<Bound<'py, PyAny>>,
) -> PyResult<PyBackedStr> {
    if let Ok(s) = v.cast::<PyString>() {
        return s.clone().try_into();
    }
    let f = match dumps {
        Some(f) => f.clone(),
        None => dumps.insert(json_dumps(py)?).clone(),
    };
    f.call1((v,))?.extract()
}

/// Role and tool-call flag, read the way `spec` reads them.
fn shape<'py>(py: Python<'py>, d: &Bound<'py, PyDict>, dumps: &mut Option<Bound<'py, PyAny>>) -> PyResult<Shape> {
    let role = match d.get_item("role")? {
        Some(r) if !r.is_none() => Role::parse(&value_text(py, &r, dumps)?),
        _ => Role::Other,
    };
    let mut calls = false;
    if let Some(v) = d.get_item("tool_calls")? {
        calls = !v.is_none() && v.is_truthy()?;
    }
    if let Some(v) = d.get_item("function_call")? {
        calls |= !v.is_none();
    }
    Ok(Shape { role, calls_tool: calls && role == Role::Assistant })
}

fn spec<'py>(
    py: Python<'py>,
    dict: &Bound<'py, PyDict>,
    dumps: &mut Option<Bound<'py, PyAny>>,
) -> PyResult<MessageSpec<PyBackedStr>> {
    let mut spec = MessageSpec {
        role: Role::Other,
        texts: Vec::with_capacity(dict.len()),
        content: None,
        has_name: false,
        calls_tool: false,
    };
    let mut tool_calls = false;
    for (k, v) in dict.iter() {
        if v.is_none() {
            continue;
        }
        let key = k.cast::<PyString>().ok().map(|k| k.to_cow()).transpose()?;
        let key = key.as_deref().unwrap_or("");
        if key == "content" && v.is_instance_of::<PyString>() {
            spec.content = Some(spec.texts.len());
        }
        let text = value_text(py, &v, dumps)?;
        match key {
            "role" => spec.role = Role::parse(&text),
            "name" => spec.has_name = true,
            "tool_calls" => tool_calls |= v.is_truthy()?,
            "function_call" => tool_calls = true,
            _ => {}
        }
        spec.texts.push(text);
    }
    spec.calls_tool = tool_calls && spec.role == Role::Assistant;
    Ok(spec)
}

/// `functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"), default=str)`.
fn json_dumps(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let kw = PyDict::new(py);
    kw.set_item("ensure_ascii", false)?;
    kw.set_item("separators", (",", ":"))?;
    kw.set_item("default", py.import("builtins")?.getattr("str")?)?;
    let dumps = py.import("json")?.getattr("dumps")?;
    py.import("functools")?.getattr("partial")?.call((dumps,), Some(&kw))
}
