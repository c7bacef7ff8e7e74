//! Precise deadlines on the I/O thread, for deferred event-loop wake-ups.
//!
//! tokio's timers tick in whole milliseconds, so a wake-up deferred "until 0.8 ms after the last
//! one" would often wait nearly 2 ms. This runs jobs at their deadline through one
//! `tekton_clock::TimerFd` (nanosecond deadlines on CLOCK_MONOTONIC) watched by one task of the
//! runtime.
use std::cell::{Cell, RefCell};
use std::sync::Arc;

use tekton_clock::TimerFd;
use tokio::sync::Notify;

pub type Job = Box<dyn FnOnce() + Send>;

/// The I/O thread's timer: its pending jobs (deadline in `tekton_clock::monotonic_ns`, job) and how to
/// tell its task that the list changed. Thread-local, since only the runtime's one thread runs
/// tasks: no lock a `fork()` could leave held, and a forked child's new I/O thread starts afresh.
struct Timer {
    pending: RefCell<Vec<(u64, Job)>>,
    changed: Arc<Notify>,
    started: Cell<bool>,
}

thread_local! {
    static TIMER: Timer = Timer { pending: RefCell::new(Vec::new()), changed: Arc::new(Notify::new()), started: Cell::new(false) };
}

/// Run `job` on this runtime thread at `due_ns` (or as soon as possible after). Returns the job
/// back when called off the runtime or when no timer can be had, so the caller runs it now.
pub fn run_at(due_ns: u64, job: Job) -> Result<(), Job> {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return Err(job);
    };
    TIMER.with(|timer| {
        if !timer.started.get() {
            // `try_current` succeeded: we are in the runtime's context, whose reactor it joins.
            let Ok(fd) = TimerFd::new() else {
                return Err(job);
            };
            timer.started.set(true);
            runtime.spawn(timer_task(fd, Arc::clone(&timer.changed)));
        }
        timer.pending.borrow_mut().push((due_ns, job));
        timer.changed.notify_one();
        Ok(())
    })
}

/// The earliest deadline waiting on this thread's timer, if any (`tekton_clock::monotonic_ns`).
pub fn next_due_ns() -> Option<u64> {
    TIMER.with(|timer| timer.pending.try_borrow().ok()?.iter().map(|(at, _)| *at).min())
}

async fn timer_task(timer: TimerFd, changed: Arc<Notify>) {
    loop {
        let now = tekton_clock::monotonic_ns();
        let (due_now, next) = TIMER.with(|t| {
            let mut pending = t.pending.borrow_mut();
            let (due, later): (Vec<_>, Vec<_>) =
                std::mem::take(&mut *pending).into_iter().partition(|(at, _)| *at <= now);
            *pending = later;
            (due, pending.iter().map(|(at, _)| *at).min())
        });
        for (_, job) in due_now {
            job();
        }
        let Some(next) = next else {
            changed.notified().await;
            continue;
        };
        let armed = timer.arm_at(next);
        tokio::select! {
            expired = timer.expired(), if armed.is_ok() => {
                // The descriptor cannot be watched: fall back to tokio's coarser timer.
                if expired.is_err() {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
            // Not armed (cannot happen with a valid descriptor): tokio's coarser timer.
            () = tokio::time::sleep(std::time::Duration::from_millis(1)), if armed.is_err() => {}
            () = changed.notified() => {}
        }
    }
}
