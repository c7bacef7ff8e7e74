//! The hand-over between a stream's reader task and its consumer: one shared `ReadyChunks`
//! behind a mutex. The reader appends what one network read produced; the consumer swaps out
//! everything ready at once. Buffers are swapped, not reallocated, so a long stream settles into
//! no allocation per hand-over. Backpressure: a reader that is `capacity` chunks ahead waits
//! (and stops reading its socket) until the consumer takes them.
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::error::{CoreError, ErrorKind};
use crate::ready_chunks::ReadyChunks;

/// How a stream ended.
#[derive(Debug)]
pub enum StreamEnd {
    Finished,
    /// `delivered`: content chunks reached the consumer before the failure.
    Failed {
        error: CoreError,
        delivered: bool,
    },
}

/// Called once, on the reader's thread, when chunks or the end become ready for a consumer that
/// found nothing (`ChunkSource::take_or_notify`). It must be quick: it runs with no lock held but
/// on the reader's task.
pub type OnReady = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    ready: ReadyChunks,
    end: Option<StreamEnd>,
    producer_gone: bool,
    consumer_gone: bool,
    on_ready: Option<OnReady>,
}

struct Shared {
    state: Mutex<State>,
    /// Chunks or the end are ready (one consumer: a stored permit is never lost).
    data_ready: Notify,
    /// The consumer took chunks or went away.
    room: Notify,
    capacity: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update of plain data.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `last` chunks, then `end`; nothing once the stream has an end already.
    fn end(&self, end: StreamEnd, last: &mut ReadyChunks) {
        let mut state = self.lock();
        if state.end.is_none() {
            state.ready.append(last);
            state.end = Some(end);
        }
        self.ready(state);
    }

    /// Tell the consumer that something is ready: the waiting `take`, or the registered callback
    /// (called after the lock is released).
    fn ready(&self, mut state: MutexGuard<'_, State>) {
        let on_ready = state.on_ready.take();
        drop(state);
        self.data_ready.notify_one();
        if let Some(on_ready) = on_ready {
            on_ready();
        }
    }
}

/// The consumer went away: the reader should stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerGone;

pub fn channel(capacity: usize) -> (ChunkSink, ChunkSource) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        data_ready: Notify::new(),
        room: Notify::new(),
        capacity: capacity.max(1),
    });
    (ChunkSink { shared: Arc::clone(&shared), local: ReadyChunks::default() }, ChunkSource { shared, ended: false })
}

/// The reader's end.
pub struct ChunkSink {
    shared: Arc<Shared>,
    /// Chunks pushed since the last flush.
    local: ReadyChunks,
}

impl ChunkSink {
    /// Where the reader pushes chunks; they reach the consumer at the next `flush`.
    pub fn chunks(&mut self) -> &mut ReadyChunks {
        &mut self.local
    }

    /// Hand the pushed chunks to the consumer, first waiting while it is `capacity` chunks behind.
    pub async fn flush(&mut self) -> Result<(), ConsumerGone> {
        loop {
            {
                let mut state = self.shared.lock();
                if state.consumer_gone {
                    return Err(ConsumerGone);
                }
                if self.local.is_empty() {
                    return Ok(());
                }
                if state.ready.len() < self.shared.capacity {
                    if state.ready.is_empty() {
                        std::mem::swap(&mut state.ready, &mut self.local);
                    } else {
                        state.ready.append(&mut self.local);
                    }
                    self.shared.ready(state);
                    return Ok(());
                }
            }
            self.shared.room.notified().await;
        }
    }

    /// Deliver what is pushed, then the end. A second end is ignored.
    pub async fn end(mut self, end: StreamEnd) {
        let _ = self.flush().await;
        // Unflushed chunks (the consumer went away meanwhile) still come before the end.
        self.shared.end(end, &mut self.local);
    }

    /// A handle that outlives the reader (the panic guard keeps one).
    pub fn guard(&self) -> SinkGuard {
        SinkGuard { shared: Arc::clone(&self.shared) }
    }
}

/// Held by whoever runs the reader. Lets it end a stream whose reader panicked; when dropped
/// (the reader task finished or was aborted) a stream left without an end becomes an error,
/// never a clean end and never a hang.
pub struct SinkGuard {
    shared: Arc<Shared>,
}

impl SinkGuard {
    pub fn end_if_open(&self, end: StreamEnd) {
        self.shared.end(end, &mut ReadyChunks::default());
    }
}

impl Drop for SinkGuard {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.producer_gone = true;
        self.shared.ready(state);
    }
}

/// The consumer's end.
pub struct ChunkSource {
    shared: Arc<Shared>,
    ended: bool,
}

impl ChunkSource {
    /// Every ready chunk into `out` (emptied first), without waiting. Returns the end once the
    /// stream is over; `out` may then still hold its last chunks. After the end: `Finished`.
    pub fn try_take(&mut self, out: &mut ReadyChunks) -> Option<StreamEnd> {
        out.clear();
        if self.ended {
            return Some(StreamEnd::Finished);
        }
        let state = self.shared.lock();
        take_locked(&self.shared, &mut self.ended, state, out)
    }

    /// Take as `try_take` when chunks or the end are ready (`Some`, the end inside). Otherwise
    /// `None`, and `on_ready` will be called once they are (it replaces an earlier callback).
    /// This lets a consumer outside the runtime wait without a task: the reader tells it directly.
    pub fn take_or_notify(&mut self, out: &mut ReadyChunks, on_ready: OnReady) -> Option<Option<StreamEnd>> {
        out.clear();
        if self.ended {
            return Some(Some(StreamEnd::Finished));
        }
        let mut state = self.shared.lock();
        if state.ready.is_empty() && state.end.is_none() && !state.producer_gone {
            state.on_ready = Some(on_ready);
            return None;
        }
        Some(take_locked(&self.shared, &mut self.ended, state, out))
    }

    /// Wait until there are chunks or the end, then take as `try_take`.
    pub async fn take(&mut self, out: &mut ReadyChunks) -> Option<StreamEnd> {
        loop {
            let end = self.try_take(out);
            if end.is_some() || !out.is_empty() {
                return end;
            }
            self.shared.data_ready.notified().await;
        }
    }
}

/// The take itself, under the lock the caller holds.
fn take_locked(
    shared: &Shared,
    ended: &mut bool,
    mut state: MutexGuard<'_, State>,
    out: &mut ReadyChunks,
) -> Option<StreamEnd> {
    let took = !state.ready.is_empty();
    if took {
        std::mem::swap(&mut state.ready, out);
    }
    let end = match state.end.take() {
        Some(end) => Some(end),
        None if state.producer_gone => Some(StreamEnd::Failed {
            error: CoreError::new(ErrorKind::Other, "the stream reader stopped without ending the stream"),
            delivered: false,
        }),
        None => None,
    };
    drop(state);
    if took {
        shared.room.notify_one();
    }
    *ended = end.is_some();
    end
}

impl Drop for ChunkSource {
    fn drop(&mut self) {
        self.shared.lock().consumer_gone = true;
        self.shared.room.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::v1::StreamEvent;

    fn chunk(text: &'static str) -> StreamEvent<'static> {
        StreamEvent { chunk: Some(text.into()), ..StreamEvent::default() }
    }

    fn texts(b: &ReadyChunks) -> Vec<String> {
        b.iter().map(|c| c.text.to_owned()).collect()
    }

    #[tokio::test]
    async fn chunks_then_end_in_order() {
        let (mut sink, mut source) = channel(8);
        sink.chunks().push(&chunk("a"));
        sink.flush().await.unwrap();
        sink.chunks().push(&chunk("b"));
        sink.flush().await.unwrap();
        sink.chunks().push(&chunk("c"));
        sink.end(StreamEnd::Finished).await;
        let mut out = ReadyChunks::default();
        let end = source.take(&mut out).await;
        assert_eq!(texts(&out), ["a", "b", "c"]);
        assert!(matches!(end, Some(StreamEnd::Finished)));
        assert!(matches!(source.try_take(&mut out), Some(StreamEnd::Finished)));
        assert!(out.is_empty());
    }

    #[tokio::test]
    async fn a_full_hand_over_waits_for_the_consumer() {
        let (mut sink, mut source) = channel(2);
        sink.chunks().push(&chunk("a"));
        sink.chunks().push(&chunk("b"));
        sink.flush().await.unwrap();
        sink.chunks().push(&chunk("c"));
        let blocked = tokio::time::timeout(std::time::Duration::from_millis(50), sink.flush()).await;
        assert!(blocked.is_err(), "the reader must wait while the consumer is 2 chunks behind");
        let mut out = ReadyChunks::default();
        assert!(source.try_take(&mut out).is_none());
        assert_eq!(texts(&out), ["a", "b"]);
        sink.flush().await.unwrap();
        assert!(source.try_take(&mut out).is_none());
        assert_eq!(texts(&out), ["c"]);
    }

    #[tokio::test]
    async fn a_gone_consumer_stops_the_reader() {
        let (mut sink, source) = channel(1);
        sink.chunks().push(&chunk("a"));
        sink.flush().await.unwrap();
        sink.chunks().push(&chunk("b"));
        let waiting = tokio::spawn(async move { sink.flush().await });
        tokio::task::yield_now().await;
        drop(source);
        assert_eq!(waiting.await.unwrap(), Err(ConsumerGone));
    }

    #[tokio::test]
    async fn a_waiting_consumer_is_told_once_when_chunks_arrive() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (mut sink, mut source) = channel(8);
        let calls = Arc::new(AtomicUsize::new(0));
        let mut out = ReadyChunks::default();
        let counter = Arc::clone(&calls);
        let waited = source.take_or_notify(
            &mut out,
            Box::new(move || {
                counter.fetch_add(1, Ordering::SeqCst);
            }),
        );
        assert!(waited.is_none(), "nothing is ready yet");
        sink.chunks().push(&chunk("a"));
        sink.flush().await.unwrap();
        sink.chunks().push(&chunk("b"));
        sink.flush().await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "told once, not per flush");
        let taken = source.take_or_notify(&mut out, Box::new(|| {}));
        assert!(matches!(taken, Some(None)));
        assert_eq!(texts(&out), ["a", "b"]);
    }

    #[tokio::test]
    async fn a_waiting_consumer_is_told_of_the_end_and_of_a_vanished_reader() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let (sink, mut source) = channel(8);
        let told = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&told);
        let mut out = ReadyChunks::default();
        assert!(source.take_or_notify(&mut out, Box::new(move || flag.store(true, Ordering::SeqCst))).is_none());
        let guard = sink.guard();
        drop(sink);
        drop(guard);
        assert!(told.load(Ordering::SeqCst));
        assert!(matches!(source.take_or_notify(&mut out, Box::new(|| {})), Some(Some(StreamEnd::Failed { .. }))));
    }

    #[tokio::test]
    async fn a_reader_gone_without_an_end_is_an_error() {
        let (sink, mut source) = channel(4);
        let guard = sink.guard();
        drop(sink);
        drop(guard);
        let mut out = ReadyChunks::default();
        assert!(matches!(source.take(&mut out).await, Some(StreamEnd::Failed { .. })));
    }
}
