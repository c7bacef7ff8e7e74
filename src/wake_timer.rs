//! Precise deadlines on the I/O thread, for deferred event-loop wake-ups.
//!
//! tokio's timers tick in whole milliseconds, so a wake-up deferred "until 0.8 ms after the last
//! one" would often wait nearly 2 ms. This runs jobs at their deadline through one `timerfd`
//! (nanosecond deadlines on CLOCK_MONOTONIC) watched by one task of the runtime.
use std::cell::{Cell, RefCell};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;

pub type Job = Box<dyn FnOnce() + Send>;

/// The I/O thread's timer: its pending jobs (deadline in `clock::monotonic_ns`, job) and how to
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
            let Ok(fd) = new_timerfd() else {
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

fn new_timerfd() -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: plain syscall; a non-negative result is a new descriptor we own.
    let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: the AsyncFd owns the descriptor, so it stays open for as long as it is registered.
    unsafe { AsyncFd::register(owned) }.map_err(std::io::Error::from)
}

/// Arm `timer` to fire at the absolute time `due_ns`.
fn arm(timer: &AsyncFd<OwnedFd>, due_ns: u64) {
    let due = libc::timespec {
        tv_sec: libc::time_t::try_from(due_ns / 1_000_000_000).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::try_from(due_ns % 1_000_000_000).unwrap_or(0),
    };
    let spec = libc::itimerspec { it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 }, it_value: due };
    // SAFETY: a valid timerfd and a valid itimerspec; the old value is not asked for.
    unsafe { libc::timerfd_settime(timer.as_raw_fd(), libc::TFD_TIMER_ABSTIME, &spec, std::ptr::null_mut()) };
}

async fn timer_task(timer: AsyncFd<OwnedFd>, changed: Arc<Notify>) {
    loop {
        let now = tekton_core::clock::monotonic_ns();
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
        arm(&timer, next);
        tokio::select! {
            ready = timer.readable() => {
                match ready {
                    Ok(mut guard) => {
                        let mut expirations = [0u8; 8];
                        // SAFETY: reading the 8-byte expiration count into a buffer of 8 bytes.
                        unsafe { libc::read(timer.as_raw_fd(), expirations.as_mut_ptr().cast(), expirations.len()) };
                        guard.clear_ready();
                    }
                    // The descriptor cannot be watched: fall back to tokio's coarser timer.
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(1)).await,
                }
            }
            () = changed.notified() => {}
        }
    }
}
