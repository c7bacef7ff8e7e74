//! A `ChatRequest` from the arguments a chat binding receives from Python (shared by the HTTP
//! client and the batch runner).
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use tekton_core::protocol::v1::ChatRequest;

use crate::py_json;

#[allow(clippy::too_many_arguments)]
pub fn chat_request(
    messages: &Bound<'_, PyAny>,
    system_prompt: Option<String>,
    context_id: String,
    component_id: String,
    provider_id: Option<String>,
    model_id: Option<String>,
    options: Option<&Bound<'_, PyAny>>,
) -> PyResult<ChatRequest> {
    let messages = match py_json::to_value(messages)? {
        serde_json::Value::Array(a) => a,
        _ => return Err(PyValueError::new_err("messages must be a list")),
    };
    Ok(ChatRequest {
        messages,
        system_prompt,
        context_id,
        component_id,
        provider_id,
        model_id,
        options: py_json::to_map(options)?,
    })
}
