//! Wake-up coalescing on the I/O thread.
//!
//! When streams are paced (one event per network read, many streams), every event would wake
//! the I/O thread on its own, and a wake-up of an idle thread costs more than everything the
//! event needs. While the thread is busy — it was woken again less than two windows after its
//! previous wake-up — and many exchanges are in flight (`COALESCE_FROM`), it waits until one
//! window after its last wake-up before it sleeps in the poller, so every socket that became
//! ready meanwhile is served in one pass, and Python is woken once for all of them. A quiet thread
//! or a few exchanges (one call at a time, whose every event is caused by the one before) are
//! never held back, and it never sleeps past a deadline of its timer (`wake_timer`: a request a
//! load generator scheduled is sent on time).
//!
//! The window is `TEKTON_LLM_WAKE_WINDOW_US` µs (default 500, at most 1000, 0 turns coalescing
//! off). The event loop's own wake-ups are spaced by the same window (`py_bridge`; there also
//! for the later chunks of a stream that already started, however few are in flight); each of the
//! two holds a result back by at most one window, so nothing waits more than 1 ms by default.
//! Arrival times (`received_ns`) are the kernel's receive times where we read the socket
//! ourselves (HTTP/1.1 to http://, the WebSocket), so holding a wake-up back does not move them;
//! through reqwest (https://, proxies) they are taken when the bytes are read and can trail the
//! packet by up to one window (0 makes those exact).
use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

thread_local! {
    /// The last wake-up, and the time between it and the one before.
    static WAKES: Cell<(Option<Instant>, Duration)> = const { Cell::new((None, Duration::MAX)) };
}

/// The coalescing window (read once per process).
pub fn window() -> Duration {
    static WINDOW: OnceLock<Duration> = OnceLock::new();
    *WINDOW.get_or_init(|| {
        let us =
            std::env::var("TEKTON_LLM_WAKE_WINDOW_US").ok().and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(500);
        Duration::from_micros(us.min(1_000))
    })
}

pub fn after_wake() {
    let now = Instant::now();
    WAKES.with(|w| {
        let (last, _) = w.get();
        w.set((Some(now), last.map_or(Duration::MAX, |l| now.saturating_duration_since(l))));
    });
}

/// Fewer exchanges than this in flight: no coalescing (their events are mostly each other's
/// causes, so holding one back delays the next).
const COALESCE_FROM: usize = 16;

/// Whether wake-ups are coalesced now: a window is set and enough exchanges are in flight.
pub fn coalescing() -> bool {
    !window().is_zero() && tekton_core::activity::in_flight() >= COALESCE_FROM
}

pub fn before_sleep() {
    if !coalescing() {
        return;
    }
    let window = window();
    let (last, gap) = WAKES.with(Cell::get);
    let Some(last) = last else { return };
    if gap >= window * 2 {
        return;
    }
    let now = Instant::now();
    let mut wait = (last + window).saturating_duration_since(now);
    // Never past a deadline of the thread's timer: a load generator's request is due then.
    if let Some(due_ns) = crate::wake_timer::next_due_ns() {
        let until_due = Duration::from_nanos(due_ns.saturating_sub(tekton_clock::monotonic_ns()));
        wait = wait.min(until_due);
    }
    if !wait.is_zero() {
        std::thread::sleep(wait);
    }
}
