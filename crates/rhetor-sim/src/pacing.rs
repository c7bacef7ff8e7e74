//! When paced chunks are due. Deadlines are absolute (the first chunk's time plus k pauses), so
//! a stream's pacing does not drift by the time each write takes. With `lockstep`, every stream
//! with the same pause ticks together on one process-wide clock, as tokens leave a batched decoder.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Pacing {
    next: Instant,
    every: Duration,
}

impl Pacing {
    /// The first chunk is due now (or at the next shared tick), each later one `every` after it.
    pub fn new(every: Duration, lockstep: bool) -> Pacing {
        let now = Instant::now();
        let next = if lockstep { next_tick(now, every) } else { now };
        Pacing { next, every }
    }

    /// The deadline of the next chunk.
    pub fn next_due(&mut self) -> Instant {
        let due = self.next;
        self.next += self.every;
        due
    }
}

/// The first moment at or after `now` that is a whole number of `every`s after the process's
/// pacing epoch.
fn next_tick(now: Instant, every: Duration) -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    let every_ns = every.as_nanos().max(1);
    let since = now.saturating_duration_since(epoch).as_nanos();
    let ticks = since.div_ceil(every_ns);
    let offset = u64::try_from(ticks.saturating_mul(every_ns)).unwrap_or(u64::MAX);
    epoch + Duration::from_nanos(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_absolute_and_evenly_spaced() {
        let mut p = Pacing::new(Duration::from_millis(20), false);
        let a = p.next_due();
        let b = p.next_due();
        let c = p.next_due();
        assert_eq!(b - a, Duration::from_millis(20));
        assert_eq!(c - b, Duration::from_millis(20));
    }

    #[test]
    fn lockstep_streams_share_ticks() {
        let every = Duration::from_millis(7);
        let mut p = Pacing::new(every, true);
        std::thread::sleep(Duration::from_millis(3));
        let mut q = Pacing::new(every, true);
        let (a, b) = (p.next_due(), q.next_due());
        let gap = if a > b { a - b } else { b - a };
        assert_eq!(gap.as_nanos() % every.as_nanos(), 0, "both on the same grid");
    }
}
