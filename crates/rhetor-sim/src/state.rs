//! State shared by every connection of one simulator.

use crate::config::{Knobs, SimConfig};
use crate::lateness::Lateness;
use crate::recorder::Recorder;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub struct State {
    pub config: SimConfig,
    pub recorder: Recorder,
    /// Attempts seen per request id while `fail_status` is active.
    attempts: Mutex<HashMap<String, u32>>,
    /// Attempts seen per request id while `reset_times` is active.
    resets: Mutex<HashMap<String, u32>>,
    pub connections: AtomicU64,
    active_tasks: Arc<AtomicUsize>,
    /// How late the simulator's own paced writes were (`/sim/lateness`).
    pub lateness: Arc<Lateness>,
}

/// Counts a running producer task (stream, WS request) while alive, so tests can check that
/// nothing leaks after clients go away.
#[derive(Debug)]
pub struct TaskGuard(Arc<AtomicUsize>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl State {
    pub fn new(config: SimConfig) -> State {
        State {
            recorder: Recorder::new(config.record, config.auth_token.clone()),
            config,
            attempts: Mutex::new(HashMap::new()),
            resets: Mutex::new(HashMap::new()),
            connections: AtomicU64::new(0),
            active_tasks: Arc::new(AtomicUsize::new(0)),
            lateness: Arc::new(Lateness::default()),
        }
    }

    pub fn task_guard(&self) -> TaskGuard {
        self.active_tasks.fetch_add(1, Ordering::SeqCst);
        TaskGuard(self.active_tasks.clone())
    }

    pub fn active_tasks(&self) -> usize {
        self.active_tasks.load(Ordering::SeqCst)
    }

    /// Simulator defaults overlaid with the request's layers, in order.
    pub fn knobs(&self, layers: &[&Knobs]) -> Knobs {
        let mut knobs = self.config.defaults.clone();
        for layer in layers {
            knobs.overlay(layer);
        }
        knobs
    }

    /// Providers that are down: the configuration's plus the knob's.
    pub fn unavailable(&self, knobs: &Knobs) -> Vec<String> {
        let mut down = self.config.unavailable_providers.clone();
        down.extend(knobs.unavailable_providers.iter().flatten().cloned());
        down
    }

    /// The status this attempt must fail with, if any: the first `fail_times` attempts of a
    /// request id fail; a request without an id counts as a first attempt every time.
    pub fn failing_status(&self, knobs: &Knobs, request_id: Option<&str>) -> Option<u16> {
        let status = knobs.fail_status?;
        (count_attempt(&self.attempts, request_id) <= knobs.fail_times()).then_some(status)
    }

    /// Whether this attempt's connection must be dropped without a response: the first
    /// `reset_times` attempts of a request id (every attempt without an id).
    pub fn must_reset(&self, knobs: &Knobs, request_id: Option<&str>) -> bool {
        match knobs.reset_times {
            Some(times) if times > 0 => count_attempt(&self.resets, request_id) <= times,
            _ => false,
        }
    }

    pub fn clear(&self) {
        self.recorder.clear();
        for counters in [&self.attempts, &self.resets] {
            if let Ok(mut counters) = counters.lock() {
                counters.clear();
            }
        }
    }
}

/// Counts one more attempt of `request_id` and returns its number (1 without an id).
fn count_attempt(counters: &Mutex<HashMap<String, u32>>, request_id: Option<&str>) -> u32 {
    let (Some(id), Ok(mut counters)) = (request_id, counters.lock()) else {
        return 1;
    };
    let n = counters.entry(id.to_string()).or_insert(0);
    *n += 1;
    *n
}
