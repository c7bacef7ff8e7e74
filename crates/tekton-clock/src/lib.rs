//! tekton-clock: time as the client, the simulator and Python all read it.
//!
//! - [`monotonic_ns`]: now, in nanoseconds on CLOCK_MONOTONIC — the clock Python's
//!   `time.monotonic_ns()` reads, so a chunk's arrival time compares with a caller's timestamps.
//! - [`TimerFd`] and [`sleep_until_ns`]: deadlines on that clock to the microsecond. tokio's
//!   timers tick in whole milliseconds (a 50 ms sleep ends 50–52 ms later), which is too coarse
//!   for a wake-up window of 0.5 ms or a latency benchmark's 1 ms criterion.
//! - [`receive_stamp`]: when the kernel received a socket's bytes, on that clock.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod monotonic;
pub mod receive_stamp;
mod timer_fd;

pub use monotonic::monotonic_ns;
pub use timer_fd::{sleep_until_ns, TimerFd};
