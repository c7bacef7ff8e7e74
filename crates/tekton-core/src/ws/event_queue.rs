//! The queue of `WsEvent`s between the connection task and the caller. The connection task
//! pushes; the caller takes every ready event at once, or leaves a callback that the pushing
//! thread calls when the next event arrives (`take_or_notify`), so a consumer outside the
//! runtime (the Python binding) waits without a task or a channel hop per batch.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::handover::OnReady;
use crate::ws::events::WsEvent;

#[derive(Default)]
struct State {
    events: Vec<WsEvent>,
    /// `Finished` was taken: nothing follows.
    finished: bool,
    on_ready: Option<OnReady>,
}

/// What a take found.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// Events were moved into the caller's vector.
    Events,
    /// The client is finished and every event was taken.
    Finished,
    /// Nothing is ready (`take_or_notify`: the callback is registered).
    Empty,
}

/// Events queued and not taken, at most: a reader stops reading the socket there (the server then
/// waits in TCP) until the consumer takes some, so a server cannot fill memory while the consumer
/// is slow (awaiting an async callback) or its loop blocked.
pub const EVENTS_QUEUED_LIMIT: usize = 16_384;

#[derive(Default)]
pub(crate) struct EventQueue {
    state: Mutex<State>,
    /// For async consumers inside the runtime (`WsClient::next_events`).
    ready: Notify,
    /// A take left the queue below `EVENTS_QUEUED_LIMIT` (a stored permit).
    room: Notify,
    /// How many events are queued, kept with the queue: readers ask once per frame, lock-free.
    queued: AtomicUsize,
}

impl EventQueue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue one event and call the waiting consumer's callback, if any (after unlocking).
    pub fn push(&self, event: WsEvent) {
        let on_ready = {
            let mut state = self.lock();
            state.events.push(event);
            self.queued.store(state.events.len(), Ordering::Relaxed);
            state.on_ready.take()
        };
        self.ready.notify_one();
        if let Some(on_ready) = on_ready {
            on_ready();
        }
    }

    /// Move up to `max` ready events into `out`. `Finished` itself is never handed out.
    pub fn take(&self, out: &mut Vec<WsEvent>, max: usize) -> Taken {
        let taken = {
            let mut state = self.lock();
            let taken = take_locked(&mut state, out, max);
            self.queued.store(state.events.len(), Ordering::Relaxed);
            taken
        };
        self.made_room(&taken);
        taken
    }

    /// A reader must wait before reading more (`EVENTS_QUEUED_LIMIT`).
    pub fn is_full(&self) -> bool {
        self.queued.load(Ordering::Relaxed) >= EVENTS_QUEUED_LIMIT
    }

    /// Wait until a take has made room (a take before the wait is not lost).
    pub async fn wait_for_room(&self) {
        self.room.notified().await;
    }

    fn made_room(&self, taken: &Taken) {
        if *taken == Taken::Events {
            self.room.notify_one();
        }
    }

    /// `take`, or when nothing is ready, register `on_ready` (replacing an earlier one) to be
    /// called once, on the pushing thread, when the next event arrives.
    pub fn take_or_notify(&self, out: &mut Vec<WsEvent>, max: usize, on_ready: OnReady) -> Taken {
        let taken = {
            let mut state = self.lock();
            let taken = take_locked(&mut state, out, max);
            self.queued.store(state.events.len(), Ordering::Relaxed);
            if taken == Taken::Empty {
                state.on_ready = Some(on_ready);
            }
            taken
        };
        self.made_room(&taken);
        taken
    }

    /// Wait until an event may be ready (a stored permit: a push before the wait is not lost).
    pub async fn wait(&self) {
        self.ready.notified().await;
    }
}

fn take_locked(state: &mut State, out: &mut Vec<WsEvent>, max: usize) -> Taken {
    if state.finished {
        return Taken::Finished;
    }
    if state.events.is_empty() {
        return Taken::Empty;
    }
    let count = state.events.len().min(max.max(1));
    if count == state.events.len() && out.is_empty() {
        std::mem::swap(out, &mut state.events);
    } else {
        out.extend(state.events.drain(..count));
    }
    if matches!(out.last(), Some(WsEvent::Finished)) {
        out.pop();
        state.finished = true;
        if out.is_empty() {
            return Taken::Finished;
        }
    }
    Taken::Events
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn closed(reason: &str) -> WsEvent {
        WsEvent::Closed { reason: reason.to_owned() }
    }

    #[test]
    fn a_registered_callback_runs_once_on_the_next_push() {
        let queue = EventQueue::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let mut out = Vec::new();
        let taken = queue.take_or_notify(
            &mut out,
            8,
            Box::new(move || {
                seen.fetch_add(1, Ordering::SeqCst);
            }),
        );
        assert_eq!(taken, Taken::Empty);
        queue.push(closed("a"));
        queue.push(closed("b"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(queue.take(&mut out, 8), Taken::Events);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn finished_ends_the_queue_after_the_events_before_it() {
        let queue = EventQueue::default();
        queue.push(closed("a"));
        queue.push(WsEvent::Finished);
        let mut out = Vec::new();
        assert_eq!(queue.take(&mut out, 1), Taken::Events);
        assert_eq!(out.len(), 1);
        out.clear();
        assert_eq!(queue.take(&mut out, 8), Taken::Finished);
        assert!(out.is_empty());
        assert_eq!(queue.take(&mut out, 8), Taken::Finished);
    }
}
