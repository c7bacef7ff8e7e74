//! `_core._test_panic(where)`: deliberate panics at each place a Rust panic can reach Python,
//! so the tests can check that every one becomes an exception, never an abort or a hang.
//! Compiled only with the `test-hooks` cargo feature: the release wheels (scripts/build-wheels)
//! do not have it, the panic tests run against a build that does (scripts/test-all).
//! Even then it panics only when the environment has `TEKTON_LLM_TEST_PANICS=1` (read at each call);
//! otherwise it raises RuntimeError, so a stray call in production does nothing harmful.
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use tekton_core::protocol::v1::StreamEvent;
use tekton_core::ws::{WsClient, WsConfig};
use tekton_core::ChatStream;

use crate::py_errors::to_py_err;
use crate::py_http::ChunkStream;
use crate::py_ws::PyWebSocketTransport;
use crate::runtime;

const SWITCH: &str = "TEKTON_LLM_TEST_PANICS";

/// A value whose conversion to Python panics.
struct PanicsOnConversion;

impl<'py> IntoPyObject<'py> for PanicsOnConversion {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    #[allow(clippy::panic)]
    fn into_pyobject(self, _py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        panic!("deliberate test panic while converting a result");
    }
}

/// where: "pyfunction" (panics right here), "future" (an awaitable whose future panics),
/// "convert" (an awaitable whose result panics while becoming a Python object), "stream" (a
/// ChunkStream whose reader sends one chunk, then panics), "ws" (a WebSocketTransport with
/// request "r1" in flight whose connection task panics).
#[pyfunction]
#[allow(clippy::panic)]
fn _test_panic<'py>(py: Python<'py>, r#where: &str) -> PyResult<Bound<'py, PyAny>> {
    if std::env::var(SWITCH).as_deref() != Ok("1") {
        return Err(PyRuntimeError::new_err(format!("_test_panic needs {SWITCH}=1 (a test hook)")));
    }
    match r#where {
        "pyfunction" => panic!("deliberate test panic in a pyfunction"),
        "future" => crate::py_bridge::spawn_result(py, async move {
            tokio::task::yield_now().await;
            if std::env::var(SWITCH).is_ok() {
                panic!("deliberate test panic in a future");
            }
            Ok(())
        }),
        "convert" => crate::py_bridge::spawn_result(py, async move { Ok(PanicsOnConversion) }),
        "stream" => {
            let stream = ChatStream::spawn(&runtime::handle()?, "test-stream".into(), 8, |mut sink| async move {
                let ev = StreamEvent { chunk: Some("partial".into()), ..StreamEvent::default() };
                sink.chunks().push(&ev);
                let _ = sink.flush().await;
                tokio::task::yield_now().await;
                panic!("deliberate test panic in a stream reader");
            });
            Ok(Bound::new(py, ChunkStream::from_stream(stream))?.into_any())
        }
        "ws" => {
            let runtime = runtime::handle()?;
            let _guard = runtime.enter();
            let client = WsClient::with_panicking_connection(WsConfig::new("ws://127.0.0.1:9/ws", "test"), "r1")
                .map_err(|e| to_py_err(py, &e))?;
            Ok(Bound::new(py, PyWebSocketTransport::from_client(client))?.into_any())
        }
        other => Err(PyValueError::new_err(format!("unknown panic site {other:?}"))),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_test_panic, m)?)?;
    Ok(())
}
