//! Idle keep-alive connections to the one origin a client talks to, newest first out.
//!
//! After a `fork()` the parent's idle sockets are in the child too, registered in an epoll
//! instance both processes share: the child must neither use them nor drop them (dropping
//! deregisters them from the parent's epoll). So the pool belongs to the process that filled it;
//! in any other it starts empty and leaks what it inherited.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::connection::Connection;

pub(crate) struct Pool {
    /// The process the connections belong to, and the connections with when each became idle.
    idle: Mutex<(u32, Vec<(Instant, Connection)>)>,
    max_idle: usize,
    idle_timeout: Duration,
}

impl Pool {
    pub(crate) fn new(max_idle: usize, idle_timeout: Duration) -> Pool {
        Pool { idle: Mutex::new((std::process::id(), Vec::new())), max_idle, idle_timeout }
    }

    /// The newest idle connection that can still carry an exchange.
    pub(crate) fn take(&self) -> Option<Connection> {
        let mut idle = self.lock();
        while let Some((since, conn)) = idle.pop() {
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
        if idle.len() >= self.max_idle {
            idle.remove(0);
        }
        idle.push((Instant::now(), conn));
    }

    /// Closes every idle connection (the client was shut down).
    pub(crate) fn clear(&self) {
        let idle = std::mem::take(&mut *self.lock());
        drop(idle);
    }

    /// This process's idle connections (an inherited list is leaked, see the module's comment).
    fn lock(&self) -> impl std::ops::DerefMut<Target = Vec<(Instant, Connection)>> + '_ {
        let mut guard = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let pid = std::process::id();
        if guard.0 != pid {
            std::mem::forget(std::mem::take(&mut guard.1));
            guard.0 = pid;
        }
        OwnList(guard)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let idle = self.idle.get_mut().unwrap_or_else(|e| e.into_inner());
        if idle.0 != std::process::id() {
            std::mem::forget(std::mem::take(&mut idle.1));
        }
    }
}

/// The pool's lock, seen as just its list.
struct OwnList<'a>(std::sync::MutexGuard<'a, (u32, Vec<(Instant, Connection)>)>);

impl std::ops::Deref for OwnList<'_> {
    type Target = Vec<(Instant, Connection)>;
    fn deref(&self) -> &Self::Target {
        &self.0 .1
    }
}

impl std::ops::DerefMut for OwnList<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0 .1
    }
}
