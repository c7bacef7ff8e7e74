//! How late the simulator itself was against its own deadlines (the first-chunk delay and every
//! paced chunk of an SSE stream). A latency benchmark run against the simulator can then tell the
//! server's lateness from its client's: on a loaded machine the server is late too, and a client
//! that reports it is measuring the truth, not erring. `GET /sim/lateness` reports it,
//! `DELETE /sim/lateness` starts over.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Bucket width: 10 µs. Lateness from 0 to 100 ms is kept at that resolution; anything later
/// lands in the last bucket (its exact maximum is kept apart), so memory is fixed.
const BUCKET_NS: u64 = 10_000;
const BUCKETS: usize = 10_001;

/// Which deadline a pause was waiting for.
#[derive(Clone, Copy, Debug)]
pub enum Deadline {
    FirstChunk,
    LaterChunk,
}

/// One fixed-size histogram of lateness, filled without locks.
#[derive(Debug)]
struct Histogram {
    counts: Box<[AtomicU64]>,
    total: AtomicU64,
    sum_ns: AtomicU64,
    max_ns: AtomicU64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            total: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
            max_ns: AtomicU64::new(0),
        }
    }

    fn record(&self, late_ns: u64) {
        let bucket = usize::try_from(late_ns / BUCKET_NS).unwrap_or(usize::MAX).min(BUCKETS - 1);
        if let Some(count) = self.counts.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        self.total.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(late_ns, Ordering::Relaxed);
        self.max_ns.fetch_max(late_ns, Ordering::Relaxed);
    }

    fn reset(&self) {
        for count in self.counts.iter() {
            count.store(0, Ordering::Relaxed);
        }
        self.total.store(0, Ordering::Relaxed);
        self.sum_ns.store(0, Ordering::Relaxed);
        self.max_ns.store(0, Ordering::Relaxed);
    }

    /// The upper edge of the bucket holding quantile `q`, in ms (never below the truth).
    fn quantile_ms(&self, counts: &[u64], total: u64, q: f64) -> f64 {
        // The rank of the q-quantile, 1-based, as a whole number of samples.
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (bucket, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let max_ns = self.max_ns.load(Ordering::Relaxed);
                let edge_ns = if bucket + 1 == BUCKETS { max_ns } else { (bucket as u64 + 1) * BUCKET_NS };
                return edge_ns.min(max_ns) as f64 / 1e6;
            }
        }
        self.max_ns.load(Ordering::Relaxed) as f64 / 1e6
    }

    fn summary(&self) -> Value {
        let counts: Vec<u64> = self.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return json!({"count": 0});
        }
        let ms = |q: f64| self.quantile_ms(&counts, total, q);
        json!({
            "count": total,
            "late_ms": {
                "mean": self.sum_ns.load(Ordering::Relaxed) as f64 / total as f64 / 1e6,
                "p50": ms(0.50),
                "p90": ms(0.90),
                "p99": ms(0.99),
                "p999": ms(0.999),
                "max": self.max_ns.load(Ordering::Relaxed) as f64 / 1e6,
            },
        })
    }
}

/// The simulator's lateness, per kind of deadline.
#[derive(Debug)]
pub struct Lateness {
    first_chunk: Histogram,
    later_chunks: Histogram,
}

impl Default for Lateness {
    fn default() -> Self {
        Lateness { first_chunk: Histogram::new(), later_chunks: Histogram::new() }
    }
}

impl Lateness {
    /// Records that a pause meant to end at `deadline` ended now.
    pub fn record(&self, deadline: Deadline, due: Instant) {
        let late = Instant::now().saturating_duration_since(due);
        let late_ns = u64::try_from(late.as_nanos()).unwrap_or(u64::MAX);
        match deadline {
            Deadline::FirstChunk => self.first_chunk.record(late_ns),
            Deadline::LaterChunk => self.later_chunks.record(late_ns),
        }
    }

    pub fn reset(&self) {
        self.first_chunk.reset();
        self.later_chunks.reset();
    }

    /// Percentiles are the upper edge of a 10 µs bucket (capped at the maximum seen).
    pub fn to_json(&self) -> Value {
        json!({
            "resolution_ms": BUCKET_NS as f64 / 1e6,
            "first_chunk": self.first_chunk.summary(),
            "later_chunks": self.later_chunks.summary(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn quantiles_are_bucket_edges_capped_at_the_maximum() {
        let h = Histogram::new();
        for late_us in [5, 15, 25, 35, 1_000] {
            h.record(late_us * 1_000);
        }
        let s = h.summary();
        assert_eq!(s["count"], 5);
        assert_eq!(s["late_ms"]["p50"], 0.03); // third of five: 25 µs, in the 20–30 µs bucket
        assert_eq!(s["late_ms"]["max"], 1.0);
        assert_eq!(s["late_ms"]["p99"], 1.0);
    }

    #[test]
    fn beyond_the_range_lands_in_the_last_bucket_with_its_true_maximum() {
        let h = Histogram::new();
        h.record(5_000_000_000);
        assert_eq!(h.summary()["late_ms"]["max"], 5_000.0);
        assert_eq!(h.summary()["late_ms"]["p50"], 5_000.0);
    }

    #[test]
    fn reset_starts_over_and_kinds_are_apart() {
        let l = Lateness::default();
        let past = Instant::now().checked_sub(Duration::from_millis(2)).unwrap_or_else(Instant::now);
        l.record(Deadline::FirstChunk, past);
        assert_eq!(l.to_json()["first_chunk"]["count"], 1);
        assert_eq!(l.to_json()["later_chunks"]["count"], 0);
        l.reset();
        assert_eq!(l.to_json()["first_chunk"]["count"], 0);
    }
}
