//! Python binding of the Rhetor simulator (`rhetor-sim`): `_core.Simulator`,
//! `_core.sim_answer_text`, `_core.sim_split_chunks`. The simulator runs on its own runtime
//! threads, so Python only pays for start/stop (done without the GIL) and for `records()`.
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rhetor_sim::{Knobs, SimConfig, SimError, Simulator};
use std::sync::Mutex;

use crate::py_seconds::positive_seconds;

fn to_py_err(error: SimError) -> PyErr {
    match error {
        SimError::Io(e) => PyOSError::new_err(e.to_string()),
        SimError::Config(m) => PyValueError::new_err(m),
    }
}

/// A dict of knobs → `Knobs`, through JSON (the one parser that validates every knob).
fn knobs_from_dict(py: Python<'_>, knobs: Option<&Bound<'_, PyDict>>) -> PyResult<Knobs> {
    let Some(knobs) = knobs else {
        return Ok(Knobs::default());
    };
    let text: String = py.import("json")?.call_method1("dumps", (knobs,))?.extract()?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Knobs::from_json(&value).map_err(PyValueError::new_err)
}

/// A running Rhetor simulator (see docs/simulator.md). Started by the constructor.
#[pyclass(name = "Simulator", module = "tekton_llm_client._core")]
pub struct PySimulator {
    inner: Mutex<Option<Simulator>>,
    url: String,
    ws_url: String,
    port: u16,
}

impl PySimulator {
    fn with<T>(&self, f: impl FnOnce(&Simulator) -> T) -> PyResult<T> {
        let guard = self.inner.lock().map_err(|_| PyRuntimeError::new_err("simulator lock poisoned"))?;
        guard.as_ref().map(f).ok_or_else(|| PyRuntimeError::new_err("the simulator is stopped"))
    }
}

#[pymethods]
impl PySimulator {
    #[new]
    #[pyo3(signature = (*, host = "127.0.0.1".to_string(), port = 0, auth_token = None,
        unavailable_providers = None, path_prefix = None, record = true, worker_threads = 1,
        knobs = None, tls_cert = None, tls_key = None, header_read_timeout = 30.0,
        idle_timeout = 120.0, max_connections = 512))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        host: String,
        port: u16,
        auth_token: Option<String>,
        unavailable_providers: Option<Vec<String>>,
        path_prefix: Option<String>,
        record: bool,
        worker_threads: usize,
        knobs: Option<&Bound<'_, PyDict>>,
        tls_cert: Option<std::path::PathBuf>,
        tls_key: Option<std::path::PathBuf>,
        header_read_timeout: f64,
        idle_timeout: f64,
        max_connections: usize,
    ) -> PyResult<Self> {
        let config = SimConfig {
            header_read_timeout: positive_seconds("header_read_timeout", header_read_timeout)?,
            idle_timeout: positive_seconds("idle_timeout", idle_timeout)?,
            max_connections,
            host,
            port,
            auth_token,
            worker_threads,
            defaults: knobs_from_dict(py, knobs)?,
            unavailable_providers: unavailable_providers.unwrap_or_default(),
            record,
            path_prefix,
            tls_cert,
            tls_key,
        };
        let sim = py.detach(|| Simulator::start(config)).map_err(to_py_err)?;
        Ok(PySimulator { url: sim.url(), ws_url: sim.ws_url(), port: sim.addr().port(), inner: Mutex::new(Some(sim)) })
    }

    /// `http://127.0.0.1:PORT` (without the path prefix).
    #[getter]
    fn url(&self) -> String {
        self.url.clone()
    }

    /// `ws://127.0.0.1:PORT/ws`.
    #[getter]
    fn ws_url(&self) -> String {
        self.ws_url.clone()
    }

    #[getter]
    fn port(&self) -> u16 {
        self.port
    }

    #[getter]
    fn running(&self) -> bool {
        self.inner.lock().map(|g| g.is_some()).unwrap_or(false)
    }

    /// TCP connections accepted so far.
    #[getter]
    fn connections_accepted(&self) -> PyResult<u64> {
        self.with(Simulator::connections_accepted)
    }

    /// Producer tasks still running (streams, trickled bodies, WebSocket sessions).
    #[getter]
    fn active_tasks(&self) -> PyResult<usize> {
        self.with(Simulator::active_tasks)
    }

    /// Recorded requests/frames as dicts; credentials redacted unless `reveal_secrets`.
    #[pyo3(signature = (reveal_secrets = false))]
    fn records<'py>(&self, py: Python<'py>, reveal_secrets: bool) -> PyResult<Bound<'py, PyList>> {
        let records = self.with(|s| if reveal_secrets { s.records_revealed() } else { s.records() })?;
        let text = serde_json::to_string(&records).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        py.import("json")?.call_method1("loads", (text,))?.cast_into::<PyList>().map_err(Into::into)
    }

    /// Forgets recorded requests and `fail_times` attempt counters.
    fn clear(&self) -> PyResult<()> {
        self.with(Simulator::clear_records)
    }

    /// Stops the simulator (idempotent).
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let sim = self.inner.lock().map_err(|_| PyRuntimeError::new_err("simulator lock poisoned"))?.take();
        if let Some(mut sim) = sim {
            py.detach(move || sim.shutdown());
        }
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("<Simulator {} running={}>", self.url, self.running())
    }
}

/// The simulator's answer text for a prompt (see docs/simulator.md, "answer rule").
#[pyfunction]
#[pyo3(signature = (prompt, system_prompt = None, length = None, chunks = None, chunk_size = None))]
fn sim_answer_text(
    prompt: &str,
    system_prompt: Option<&str>,
    length: Option<usize>,
    chunks: Option<usize>,
    chunk_size: Option<usize>,
) -> PyResult<String> {
    let knobs = bounded_knobs(length, chunks, chunk_size)?;
    Ok(rhetor_sim::answer_for(prompt, system_prompt, &knobs))
}

/// The size knobs of the two helpers below, held to the simulator's own limits.
fn bounded_knobs(length: Option<usize>, chunks: Option<usize>, chunk_size: Option<usize>) -> PyResult<Knobs> {
    if chunks == Some(0) || chunk_size == Some(0) {
        return Err(PyValueError::new_err("chunks and chunk_size must be at least 1"));
    }
    for (name, value, max) in [
        ("length", length, rhetor_sim::MAX_LENGTH),
        ("chunks", chunks, rhetor_sim::MAX_CHUNKS),
        ("chunk_size", chunk_size, rhetor_sim::MAX_LENGTH),
    ] {
        if let Some(v) = value.filter(|v| *v > max) {
            return Err(PyValueError::new_err(format!("{name}={v} is over the simulator's limit of {max}")));
        }
    }
    let knobs = Knobs { length, chunks, chunk_size, ..Knobs::default() };
    knobs.check_limits(false).map_err(PyValueError::new_err)?;
    Ok(knobs)
}

/// How the simulator splits a text into stream chunks.
#[pyfunction]
#[pyo3(signature = (text, chunks = None, chunk_size = None))]
fn sim_split_chunks(text: &str, chunks: Option<usize>, chunk_size: Option<usize>) -> PyResult<Vec<String>> {
    let knobs = bounded_knobs(None, chunks, chunk_size)?;
    Ok(rhetor_sim::split_chunks(text, &knobs).into_iter().map(String::from).collect())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySimulator>()?;
    // The one list of knob names: the CLI builds its options from it.
    m.add("SIM_KNOB_NAMES", rhetor_sim::KNOB_NAMES.to_vec())?;
    m.add_function(wrap_pyfunction!(sim_answer_text, m)?)?;
    m.add_function(wrap_pyfunction!(sim_split_chunks, m)?)?;
    Ok(())
}
