//! Idle keep-alive connections to the one origin a client talks to, newest first out.
//!
//! After a `fork()` the parent's idle sockets are in the child too, registered in an epoll
//! instance both processes share: the child must neither use them nor drop them (dropping
//! deregisters them from the parent's epoll). So the pool belongs to the process that filled it;
//! in any other it starts empty and leaks what it inherited.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::connection::Connection;

/// The process the connections belong to, and the connections with when each became idle.
struct Idle {
    owner: u32,
    list: Vec<(Instant, Connection)>,
}

pub(crate) struct Pool {
    idle: Mutex<Idle>,
    max_idle: usize,
    idle_timeout: Duration,
}

impl Pool {
    pub(crate) fn new(max_idle: usize, idle_timeout: Duration) -> Pool {
        Pool { idle: Mutex::new(Idle { owner: std::process::id(), list: Vec::new() }), max_idle, idle_timeout }
    }

    /// The newest idle connection that can still carry an exchange.
    pub(crate) fn take(&self) -> Option<Connection> {
        let mut idle = self.lock();
        while let Some((since, conn)) = idle.list.pop() {
            if since.elapsed() < self.idle_timeout && conn.is_reusable() {
                return Some(conn);
            }
        }
        None
    }

    /// Keeps `conn` for a later exchange (the oldest idle one is closed when the pool is full).
    pub(crate) fn put(&self, conn: Connection) {
        if self.max_idle == 0 {
            return;
        }
        let conn = conn.into_idle();
        let mut idle = self.lock();
        if idle.list.len() >= self.max_idle {
            idle.list.remove(0);
        }
        idle.list.push((Instant::now(), conn));
    }

    /// How many idle connections it keeps at most.
    pub(crate) fn max_idle(&self) -> usize {
        self.max_idle
    }

    /// How many connections are idle now.
    pub(crate) fn idle_count(&self) -> usize {
        self.lock().list.len()
    }

    /// Closes every idle connection (the client was shut down).
    pub(crate) fn clear(&self) {
        let idle = std::mem::take(&mut self.lock().list);
        drop(idle);
    }

    /// This process's idle connections (an inherited list is leaked, see the module's comment).
    fn lock(&self) -> MutexGuard<'_, Idle> {
        let mut guard = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let pid = std::process::id();
        if guard.owner != pid {
            std::mem::forget(std::mem::take(&mut guard.list));
            guard.owner = pid;
        }
        guard
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let idle = self.idle.get_mut().unwrap_or_else(|e| e.into_inner());
        if idle.owner != std::process::id() {
            std::mem::forget(std::mem::take(&mut idle.list));
        }
    }
}
