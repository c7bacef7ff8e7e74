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
use tekton_tokens::{Encoding, Keep, MessageSpec, Plan, TokenError};

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

fn encoding(py: Python<'_>, name: &str) -> PyResult<&'static Encoding> {
    // First use builds the rank table (tens of ms): do it without the GIL too.
    py.detach(|| Encoding::get(name)).map_err(value_err)
}

/// Tokens of `text` (an int), or of each text of a list (a list of ints, counted in parallel).
#[pyfunction]
fn count_tokens(py: Python<'_>, text: &Bound<'_, PyAny>, encoding_name: &str) -> PyResult<Py<PyAny>> {
    let enc = encoding(py, encoding_name)?;
    if let Ok(s) = text.cast::<PyString>() {
        let s: PyBackedStr = s.clone().try_into()?;
        let n = py.detach(|| tekton_tokens::count(enc, &s));
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

/// The optimization plan: None when the conversation already fits, else
/// `(kept_indices, truncated_index or None, truncated_content or None)`.
#[pyfunction]
fn optimize_plan(
    py: Python<'_>,
    messages: &Bound<'_, PyAny>,
    max_tokens: usize,
    encoding_name: &str,
    keep_system_prompt: bool,
    marker: PyBackedStr,
) -> PyResult<Option<(Vec<usize>, Option<usize>, Option<String>)>> {
    let enc = encoding(py, encoding_name)?;
    let specs = specs(py, messages)?;
    let plan = py
        .detach(|| tekton_tokens::optimize(enc, &specs, max_tokens, keep_system_prompt, &marker))
        .map_err(value_err)?;
    Ok(match plan {
        Plan::Unchanged => None,
        Plan::Keep { indices, truncated: Some((i, s)) } => Some((indices, Some(i), Some(s))),
        Plan::Keep { indices, truncated: None } => Some((indices, None, None)),
    })
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
        let m = m?;
        let dict: Bound<'_, PyDict> = match m.cast::<PyDict>() {
            Ok(d) => d.clone(),
            Err(_) => match m.getattr("to_dict") {
                Ok(f) => f.call0()?.cast_into::<PyDict>()?,
                Err(_) => {
                    return Err(PyTypeError::new_err(format!(
                        "a message must be a dict or a Message, not {}",
                        m.get_type().name()?
                    )))
                }
            },
        };
        let mut spec = MessageSpec {
            role: tekton_tokens::Role::Other,
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
            let text: PyBackedStr = match v.cast::<PyString>() {
                Ok(s) => {
                    if key == "content" {
                        spec.content = Some(spec.texts.len());
                    }
                    s.clone().try_into()?
                }
                Err(_) => {
                    let f = match &dumps {
                        Some(f) => f.clone(),
                        None => {
                            let f = json_dumps(py)?;
                            dumps = Some(f.clone());
                            f
                        }
                    };
                    f.call1((&v,))?.extract()?
                }
            };
            match key {
                "role" => spec.role = tekton_tokens::Role::parse(&text),
                "name" => spec.has_name = true,
                "tool_calls" => tool_calls = v.is_truthy()?,
                "function_call" => tool_calls = true,
                _ => {}
            }
            spec.texts.push(text);
        }
        spec.calls_tool = tool_calls && spec.role == tekton_tokens::Role::Assistant;
        out.push(spec);
    }
    Ok(out)
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
