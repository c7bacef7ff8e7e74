//! Duration settings given in seconds from Python, one rule for every binding: a number in
//! (0, MAX_SECONDS], or, for settings where zero means "off", in [0, MAX_SECONDS]. Anything else
//! (negative, NaN, infinite, longer than a day) is a ValueError naming the setting, never a panic
//! or an overflowing deadline later. The facade (`tekton_llm_client.config`) checks the same
//! bounds first, with its own messages.
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::PyResult;

/// The longest duration any setting may have: one day (longer ones overflow deadlines).
pub const MAX_SECONDS: f64 = 86_400.0;

/// A duration that must be positive: in (0, MAX_SECONDS].
pub fn positive_seconds(name: &str, value: f64) -> PyResult<Duration> {
    if !(value > 0.0 && value <= MAX_SECONDS) {
        return Err(PyValueError::new_err(format!(
            "{name} must be a number of seconds in (0, {MAX_SECONDS}], got {value}"
        )));
    }
    to_duration(name, value)
}

/// A duration where zero means "off": in [0, MAX_SECONDS].
pub fn seconds_or_off(name: &str, value: f64) -> PyResult<Duration> {
    if !(0.0..=MAX_SECONDS).contains(&value) {
        return Err(PyValueError::new_err(format!(
            "{name} must be a number of seconds in [0, {MAX_SECONDS}], got {value}"
        )));
    }
    to_duration(name, value)
}

fn to_duration(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|e| PyValueError::new_err(format!("{name}: {e}")))
}
