//! Batch runner: many chat calls through one `RhetorHttp`, at most `concurrency` at a time and
//! (optionally) at most `rate` started per second. Finished items are collected in batches, so a
//! binding pays one crossing for many results.
//!
//! The caller bounds memory: it submits an item only when it has room (the Python driver keeps at
//! most `2 * concurrency` items submitted but not collected). Each submitted item is one task on
//! the given runtime that waits for a permit, then for the rate limiter, then runs
//! `RhetorHttp::chat` (so the client's retry policy applies to every item), and on a retryable
//! failure asks the item's fallback request once, as the Python facade does.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch, Mutex, Semaphore};
use tokio::time::Instant;

use crate::error::{CoreError, CoreResult, ErrorKind};
use crate::http::{CompletionOut, RhetorHttp};
use crate::protocol::v1::ChatRequest;

/// One item to run. `key` is the caller's handle for the result.
#[derive(Debug, Clone)]
pub struct BatchItem {
    pub key: u64,
    pub request: ChatRequest,
    /// Sent on every attempt of this item, the fallback attempt included.
    pub request_id: String,
    /// Asked once when `request` fails with an error a fallback may cure.
    pub fallback: Option<ChatRequest>,
}

/// A finished item.
#[derive(Debug)]
pub struct BatchOutcome {
    pub key: u64,
    pub result: CoreResult<CompletionOut>,
}

/// Limits of one runner.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Items running at once (at least 1).
    pub concurrency: usize,
    /// Items started per second; None for no limit.
    pub rate: Option<f64>,
    /// Items that may start back to back before the rate applies (at least 1).
    pub burst: u32,
}

impl BatchLimits {
    pub fn validate(&self) -> CoreResult<()> {
        if self.concurrency == 0 || self.concurrency > Semaphore::MAX_PERMITS {
            return Err(invalid(format!("concurrency must be between 1 and {}", Semaphore::MAX_PERMITS)));
        }
        if let Some(r) = self.rate {
            if !r.is_finite() || r <= 0.0 {
                return Err(invalid(format!("rate must be a positive number of requests per second, got {r}")));
            }
        }
        if self.burst == 0 {
            return Err(invalid("burst must be at least 1"));
        }
        Ok(())
    }
}

fn invalid(msg: impl Into<String>) -> CoreError {
    CoreError::new(ErrorKind::InvalidRequest, msg)
}

/// A token bucket in its GCRA form: each start reserves a slot, so waiters never poll or race.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    /// How far ahead of the theoretical arrival time a start may be (the burst allowance).
    tolerance: Duration,
    tat: StdMutex<Option<Instant>>,
}

impl RateLimiter {
    pub fn new(rate: f64, burst: u32) -> CoreResult<RateLimiter> {
        if !rate.is_finite() || rate <= 0.0 {
            return Err(invalid(format!("rate must be positive, got {rate}")));
        }
        let interval = Duration::try_from_secs_f64(1.0 / rate).map_err(|e| invalid(format!("bad rate {rate}: {e}")))?;
        let tolerance = interval.saturating_mul(burst.max(1) - 1);
        Ok(RateLimiter { interval, tolerance, tat: StdMutex::new(None) })
    }

    /// Reserve the next start slot; returns when the caller may start (`now` or later).
    pub fn reserve(&self, now: Instant) -> Instant {
        // A poisoned lock only means another thread panicked mid-update of an Instant: keep going.
        let mut tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        let theoretical = tat.map_or(now, |t| t.max(now));
        let start = theoretical.checked_sub(self.tolerance).map_or(now, |s| s.max(now));
        *tat = Some(theoretical.checked_add(self.interval).unwrap_or(theoretical));
        start
    }

    pub async fn wait(&self) {
        let at = self.reserve(Instant::now());
        tokio::time::sleep_until(at).await;
    }
}

/// Counters shared by the runner and its tasks.
#[derive(Debug, Default)]
struct Counters {
    submitted: AtomicUsize,
    collected: AtomicUsize,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

/// Decrements `in_flight` however the item's work ends (finished or cancelled).
struct InFlight<'a>(&'a Counters);

impl<'a> InFlight<'a> {
    fn enter(c: &'a Counters) -> InFlight<'a> {
        let now = c.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        c.peak_in_flight.fetch_max(now, Ordering::AcqRel);
        InFlight(c)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

pub struct BatchRunner {
    http: Arc<RhetorHttp>,
    permits: Arc<Semaphore>,
    limiter: Option<Arc<RateLimiter>>,
    counters: Arc<Counters>,
    cancel: watch::Sender<bool>,
    tx: mpsc::UnboundedSender<BatchOutcome>,
    rx: Mutex<mpsc::UnboundedReceiver<BatchOutcome>>,
}

/// Errors a fallback provider may cure (the facade's `_FALLBACK_ON`).
fn fallback_may_cure(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::ServiceUnavailable | ErrorKind::Connection | ErrorKind::Timeout | ErrorKind::RateLimit)
}

async fn run_item(http: &RhetorHttp, item: &BatchItem) -> CoreResult<CompletionOut> {
    let first = match http.chat(&item.request, &item.request_id).await {
        Ok(out) => return Ok(out),
        Err(e) => e,
    };
    let Some(fallback) = item.fallback.as_ref().filter(|_| fallback_may_cure(first.kind)) else {
        return Err(first);
    };
    http.log(
        30,
        &format!(
            "batch item {}: {first}; asking the fallback {:?}/{:?}",
            item.key, fallback.provider_id, fallback.model_id
        ),
    );
    let mut out = http.chat(fallback, &item.request_id).await?;
    out.completion.fallback = Some(true);
    Ok(out)
}

impl BatchRunner {
    pub fn new(http: Arc<RhetorHttp>, limits: BatchLimits) -> CoreResult<BatchRunner> {
        limits.validate()?;
        let limiter = limits.rate.map(|r| RateLimiter::new(r, limits.burst)).transpose()?.map(Arc::new);
        let (tx, rx) = mpsc::unbounded_channel();
        let (cancel, _) = watch::channel(false);
        Ok(BatchRunner {
            http,
            permits: Arc::new(Semaphore::new(limits.concurrency)),
            limiter,
            counters: Arc::new(Counters::default()),
            cancel,
            tx,
            rx: Mutex::new(rx),
        })
    }

    /// Start `item` on `handle`; its outcome arrives through `recv_batch` / `try_recv_batch`.
    pub fn submit(&self, handle: &Handle, item: BatchItem) -> CoreResult<()> {
        if *self.cancel.borrow() {
            return Err(CoreError::new(ErrorKind::Connection, "the batch was closed"));
        }
        self.counters.submitted.fetch_add(1, Ordering::AcqRel);
        let http = Arc::clone(&self.http);
        let permits = Arc::clone(&self.permits);
        let limiter = self.limiter.clone();
        let counters = Arc::clone(&self.counters);
        let tx = self.tx.clone();
        let mut cancel = self.cancel.subscribe();
        handle.spawn(async move {
            let work = async {
                // The semaphore is never closed, so acquire only fails if it were: report it.
                let _permit = permits
                    .acquire()
                    .await
                    .map_err(|_| CoreError::new(ErrorKind::Connection, "the batch was closed"))?;
                if let Some(l) = &limiter {
                    l.wait().await;
                }
                let _in_flight = InFlight::enter(&counters);
                let _active = crate::activity::InFlight::start();
                run_item(&http, &item).await
            };
            // A panicking item still delivers an outcome: without one `pending` never drops
            // and the collector would wait forever.
            let result = tokio::select! {
                r = crate::panic_guard::catch(work) => {
                    r.unwrap_or_else(|m| Err(crate::panic_guard::panic_error("a batch item", &m)))
                }
                _ = cancel.wait_for(|c| *c) => return,
            };
            // The receiver lives as long as the runner; a send after it is gone has no reader.
            let _ = tx.send(BatchOutcome { key: item.key, result });
        });
        Ok(())
    }

    /// Items submitted and not yet collected.
    pub fn pending(&self) -> usize {
        let c = &self.counters;
        c.submitted.load(Ordering::Acquire).saturating_sub(c.collected.load(Ordering::Acquire))
    }

    /// Items running an HTTP call right now.
    pub fn in_flight(&self) -> usize {
        self.counters.in_flight.load(Ordering::Acquire)
    }

    /// The most items that ever ran at once.
    pub fn peak_in_flight(&self) -> usize {
        self.counters.peak_in_flight.load(Ordering::Acquire)
    }

    /// Wait for at least one outcome, then take every ready one up to `max`. Returns at once
    /// with nothing when no item is pending or the runner is closed.
    pub async fn recv_batch(&self, out: &mut Vec<BatchOutcome>, max: usize) {
        if self.pending() == 0 || self.is_closed() {
            return;
        }
        let mut rx = self.rx.lock().await;
        let mut cancel = self.cancel.subscribe();
        let first = tokio::select! {
            o = rx.recv() => o,
            _ = cancel.wait_for(|c| *c) => None,
        };
        let Some(first) = first else { return };
        let before = out.len();
        out.push(first);
        Self::drain(&mut rx, out, max);
        self.counters.collected.fetch_add(out.len() - before, Ordering::AcqRel);
    }

    /// Take every ready outcome up to `max` without waiting. Returns how many were taken.
    pub fn try_recv_batch(&self, out: &mut Vec<BatchOutcome>, max: usize) -> usize {
        let Ok(mut rx) = self.rx.try_lock() else { return 0 };
        let before = out.len();
        Self::drain(&mut rx, out, max);
        let n = out.len() - before;
        self.counters.collected.fetch_add(n, Ordering::AcqRel);
        n
    }

    fn drain(rx: &mut mpsc::UnboundedReceiver<BatchOutcome>, out: &mut Vec<BatchOutcome>, max: usize) {
        while out.len() < max {
            match rx.try_recv() {
                Ok(o) => out.push(o),
                Err(_) => break,
            }
        }
    }

    /// Stop every item still waiting or running; their HTTP exchanges are dropped.
    pub fn close(&self) {
        self.cancel.send_replace(true);
    }

    pub fn is_closed(&self) -> bool {
        *self.cancel.borrow()
    }
}

impl Drop for BatchRunner {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClientConfig;
    use rhetor_sim::{SimConfig, Simulator};
    use serde_json::json;

    #[test]
    fn limiter_spaces_starts_after_the_burst() {
        let l = RateLimiter::new(10.0, 3).unwrap();
        let t0 = Instant::now();
        let starts: Vec<Duration> = (0..6).map(|_| l.reserve(t0) - t0).collect();
        let ms: Vec<u128> = starts.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![0, 0, 0, 100, 200, 300]);
    }

    #[test]
    fn limiter_does_not_bank_idle_time_beyond_the_burst() {
        let l = RateLimiter::new(10.0, 1).unwrap();
        let t0 = Instant::now();
        assert_eq!(l.reserve(t0), t0);
        let later = t0 + Duration::from_secs(5);
        assert_eq!(l.reserve(later), later);
        assert_eq!(l.reserve(later) - later, Duration::from_millis(100));
    }

    #[test]
    fn limits_are_checked() {
        let bad = [
            BatchLimits { concurrency: 0, rate: None, burst: 1 },
            BatchLimits { concurrency: 1, rate: Some(0.0), burst: 1 },
            BatchLimits { concurrency: 1, rate: Some(f64::NAN), burst: 1 },
            BatchLimits { concurrency: 1, rate: None, burst: 0 },
        ];
        for b in bad {
            assert_eq!(b.validate().unwrap_err().kind, ErrorKind::InvalidRequest);
        }
    }

    fn request(prompt: &str, options: serde_json::Value) -> ChatRequest {
        ChatRequest {
            messages: vec![json!({"role": "user", "content": prompt})],
            context_id: "batch-test".into(),
            component_id: "batch-test".into(),
            options: options.as_object().cloned().unwrap_or_default(),
            ..ChatRequest::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_item_answers_and_a_bad_one_does_not_stop_the_rest() {
        let sim = Simulator::start(SimConfig::default()).unwrap();
        let cfg = ClientConfig { base_url: sim.url(), component_id: "batch-test".into(), ..ClientConfig::default() };
        let http = Arc::new(RhetorHttp::new(cfg, None).unwrap());
        let runner = BatchRunner::new(http, BatchLimits { concurrency: 3, rate: None, burst: 1 }).unwrap();
        let handle = Handle::current();
        for key in 0..20u64 {
            let opts = if key == 7 { json!({"sim": {"fail_status": 400}}) } else { json!({}) };
            let item = BatchItem {
                key,
                request: request(&format!("p{key}"), opts),
                request_id: format!("r{key}"),
                fallback: None,
            };
            runner.submit(&handle, item).unwrap();
        }
        let mut got = Vec::new();
        while runner.pending() > 0 {
            runner.recv_batch(&mut got, 8).await;
        }
        got.sort_by_key(|o| o.key);
        assert_eq!(got.len(), 20);
        for o in &got {
            match (&o.result, o.key) {
                (Err(e), 7) => assert_eq!(e.kind, ErrorKind::InvalidRequest),
                (Ok(out), k) => {
                    let text = out.completion.content.clone().unwrap_or_default();
                    assert!(text.ends_with(&format!("p{k}")), "{text}");
                }
                (Err(e), k) => panic!("item {k} failed: {e}"),
            }
        }
        assert!(runner.peak_in_flight() <= 3);
        assert!(runner.peak_in_flight() >= 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn close_drops_waiting_items() {
        let sim = Simulator::start(SimConfig::default()).unwrap();
        let cfg = ClientConfig { base_url: sim.url(), component_id: "batch-test".into(), ..ClientConfig::default() };
        let http = Arc::new(RhetorHttp::new(cfg, None).unwrap());
        let runner = BatchRunner::new(http, BatchLimits { concurrency: 1, rate: None, burst: 1 }).unwrap();
        let handle = Handle::current();
        for key in 0..3u64 {
            let opts = json!({"sim": {"first_chunk_delay_ms": 60000}});
            let item = BatchItem { key, request: request("slow", opts), request_id: format!("s{key}"), fallback: None };
            runner.submit(&handle, item).unwrap();
        }
        runner.close();
        let mut got = Vec::new();
        runner.recv_batch(&mut got, 8).await;
        assert!(got.is_empty());
        assert!(runner
            .submit(
                &handle,
                BatchItem { key: 9, request: request("x", json!({})), request_id: "x".into(), fallback: None }
            )
            .is_err());
    }
}
