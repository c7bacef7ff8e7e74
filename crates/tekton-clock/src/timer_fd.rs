//! A `timerfd` watched by tokio: an absolute deadline on CLOCK_MONOTONIC, in nanoseconds, that
//! wakes its task within the kernel's timer slack (tens of µs), not on tokio's millisecond tick.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use tokio::io::unix::AsyncFd;

pub struct TimerFd {
    fd: AsyncFd<OwnedFd>,
}

impl TimerFd {
    /// A new, unarmed timer. Must be called inside a tokio runtime (it registers with its
    /// reactor).
    pub fn new() -> io::Result<TimerFd> {
        // SAFETY: plain syscall; a non-negative result is a new descriptor we own.
        let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the AsyncFd owns the descriptor, so it stays open for as long as it is registered.
        let fd = unsafe { AsyncFd::register(owned) }.map_err(io::Error::from)?;
        Ok(TimerFd { fd })
    }

    /// Arms the timer for the absolute time `due_ns` (`monotonic_ns`'s clock), replacing any
    /// earlier deadline. A deadline already past fires at once.
    pub fn arm_at(&self, due_ns: u64) -> io::Result<()> {
        // 0 would disarm the timer: the earliest real deadline is 1 ns.
        let due_ns = due_ns.max(1);
        let due = libc::timespec {
            tv_sec: libc::time_t::try_from(due_ns / 1_000_000_000).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::try_from(due_ns % 1_000_000_000).unwrap_or(0),
        };
        let spec = libc::itimerspec { it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 }, it_value: due };
        // SAFETY: a valid timerfd and a valid itimerspec; the old value is not asked for.
        let rc =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), libc::TFD_TIMER_ABSTIME, &spec, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits until the armed deadline has passed (forever if the timer is not armed).
    pub async fn expired(&self) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            let mut expirations = [0u8; 8];
            // SAFETY: reading the 8-byte expiration count into a buffer of 8 bytes.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), expirations.as_mut_ptr().cast(), expirations.len()) };
            if n == 8 {
                return Ok(());
            }
            // EAGAIN: woken without an expiration (re-armed meanwhile); wait again.
            guard.clear_ready();
        }
    }
}

/// Sleeps until `due_ns` (`monotonic_ns`'s clock) on a timer of its own. Falls back to tokio's
/// millisecond timer only if no timerfd can be had (out of descriptors).
pub async fn sleep_until_ns(due_ns: u64) {
    let precise = TimerFd::new().and_then(|timer| timer.arm_at(due_ns).map(|()| timer));
    if let Ok(timer) = precise {
        if timer.expired().await.is_ok() {
            return;
        }
    }
    let left = due_ns.saturating_sub(crate::monotonic_ns());
    tokio::time::sleep(std::time::Duration::from_nanos(left)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monotonic_ns;

    #[tokio::test]
    async fn wakes_at_the_deadline_not_before() {
        let due = monotonic_ns() + 3_000_000;
        sleep_until_ns(due).await;
        assert!(monotonic_ns() >= due);
    }

    #[tokio::test]
    async fn a_past_deadline_fires_at_once_and_rearming_replaces_it() {
        let timer = TimerFd::new().unwrap();
        timer.arm_at(1).unwrap();
        timer.expired().await.unwrap();
        let due = monotonic_ns() + 2_000_000;
        timer.arm_at(due).unwrap();
        timer.expired().await.unwrap();
        assert!(monotonic_ns() >= due);
    }
}
