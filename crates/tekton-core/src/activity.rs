//! How many exchanges (streams, calls) are in flight in this process. The I/O thread coalesces
//! its wake-ups only when many are (see the bindings' `io_pacing`): with one call at a time each
//! event is caused by the one before it, and holding it back would only add latency.
use std::sync::atomic::{AtomicUsize, Ordering};

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Counts one exchange for as long as it lives.
pub struct InFlight(());

impl InFlight {
    pub fn start() -> InFlight {
        IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
    }
}

pub fn in_flight() -> usize {
    IN_FLIGHT.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_while_alive() {
        let before = in_flight();
        let a = InFlight::start();
        let b = InFlight::start();
        assert!(in_flight() >= before + 2);
        drop((a, b));
    }
}
