//! `decode_sse`: the core's SSE decoder exposed for benchmarks and property tests from Python.
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tekton_core::sse::SseDecoder;

/// Decode a stream given as its network reads → [(event, data, id)], flushing at the end.
#[pyfunction]
#[pyo3(signature = (reads, max_event_bytes = 8 << 20))]
fn decode_sse(
    py: Python<'_>,
    reads: Vec<Bound<'_, PyBytes>>,
    max_event_bytes: usize,
) -> PyResult<Vec<(String, String, Option<String>)>> {
    let reads: Vec<&[u8]> = reads.iter().map(|b| b.as_bytes()).collect();
    let result = py.detach(|| {
        let mut decoder = SseDecoder::new(max_event_bytes);
        let mut out = Vec::new();
        for r in &reads {
            decoder.feed(r, &mut out)?;
        }
        decoder.finish(&mut out)?;
        Ok(out)
    });
    match result {
        Ok(events) => Ok(events.into_iter().map(|e| (e.event, e.data, e.id)).collect()),
        Err(tekton_core::sse::SseLimitExceeded { limit }) => Err(crate::py_errors::to_py_err(
            py,
            &tekton_core::CoreError::new(
                tekton_core::ErrorKind::LimitExceeded,
                format!("an SSE event is larger than the limit of {limit} bytes"),
            ),
        )),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(decode_sse, m)?)?;
    Ok(())
}
