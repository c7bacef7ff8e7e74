//! A streamed chat: a reader task on the runtime turns SSE bytes into chunks and hands them to
//! the consumer (`handover`): every chunk of a network read in one step, and the consumer takes
//! every ready chunk at once, so one hop into Python carries all of them (`ReadyChunks`).
//!
//! Retry rule: an attempt that fails before the first content chunk was delivered is retried like
//! any call; after that, the failure is delivered as the stream's end (after the chunks already read),
//! and nothing is ever sent twice.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::task::JoinHandle;

use crate::error::{CoreError, ErrorKind};
use crate::handover::{self, ChunkSink, ChunkSource, StreamEnd};
use crate::http::{closed_error, RhetorHttp};
use crate::panic_guard;
use crate::protocol::v1::{ChatRequest, StreamEvent};
use crate::ready_chunks::ReadyChunks;
use crate::retry::delay_before_retry;
use crate::sse::{SseDecoder, SseSink};

/// The consumer's end. Dropping it aborts the reader, which closes the HTTP exchange at once.
pub struct ChatStream {
    source: ChunkSource,
    task: JoinHandle<()>,
    pub request_id: String,
    /// When the reader started the request (`tekton_clock::monotonic_ns`), 0 until then; kept for
    /// streams started on a schedule (`stream_chat_at`).
    pub started_ns: Arc<AtomicU64>,
}

impl Drop for ChatStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ChatStream {
    /// Wait for chunks or the end, then take every ready chunk into `out` (emptied first).
    /// Returns the end once the stream is over (`out` may still hold its last chunks).
    pub async fn take(&mut self, out: &mut ReadyChunks) -> Option<StreamEnd> {
        self.source.take(out).await
    }

    /// `take` without waiting: `out` may come back empty.
    pub fn try_take(&mut self, out: &mut ReadyChunks) -> Option<StreamEnd> {
        self.source.try_take(out)
    }

    /// `take` without a task: `Some(end)` when chunks or the end were ready, else `None` and
    /// `on_ready` runs (on the reader's thread) once they are.
    pub fn take_or_notify(&mut self, out: &mut ReadyChunks, on_ready: handover::OnReady) -> Option<Option<StreamEnd>> {
        self.source.take_or_notify(out, on_ready)
    }

    /// Stop now: the reader is aborted and its connection closed.
    pub fn abort(&self) {
        self.task.abort();
    }

    /// Run `reader` on `rt` as this stream's producer, at most `buffer` chunks ahead of the
    /// consumer. A panic in the reader reaches the consumer as a failed end: a bare stop would
    /// look like a clean end of the stream.
    pub fn spawn<F, Fut>(rt: &tokio::runtime::Handle, request_id: String, buffer: usize, reader: F) -> ChatStream
    where
        F: FnOnce(ChunkSink) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (sink, source) = handover::channel(buffer);
        let guard = sink.guard();
        let rid = request_id.clone();
        let work = reader(sink);
        let task = rt.spawn(async move {
            let _in_flight = crate::activity::InFlight::start();
            if let Err(message) = panic_guard::catch(work).await {
                let error = panic_guard::panic_error("the stream reader", &message).with_request_id(rid);
                guard.end_if_open(StreamEnd::Failed { error, delivered: false });
            }
        });
        ChatStream { source, task, request_id, started_ns: Arc::new(AtomicU64::new(0)) }
    }
}

/// What one attempt ended with.
enum AttemptEnd {
    /// Done (or the consumer went away).
    Finished,
    Failed {
        error: CoreError,
        retryable: bool,
    },
}

impl RhetorHttp {
    /// Start a streamed chat on `rt`. The request is sent by the reader task.
    pub fn stream_chat(
        self: &Arc<Self>,
        rt: &tokio::runtime::Handle,
        req: &ChatRequest,
        request_id: String,
    ) -> Result<ChatStream, CoreError> {
        let body = stream_body(req)?;
        let http = Arc::clone(self);
        let rid = request_id.clone();
        Ok(ChatStream::spawn(rt, request_id, self.cfg.stream_buffer_events, move |sink| {
            http.run_stream(body, rid, sink)
        }))
    }

    /// `stream_chat`, but the reader sends the request only once `start` completes (a precise
    /// deadline on the runtime, for a load generator's schedule) and records that moment in the
    /// stream's `started_ns`.
    pub fn stream_chat_at<S>(
        self: &Arc<Self>,
        rt: &tokio::runtime::Handle,
        req: &ChatRequest,
        request_id: String,
        start: S,
    ) -> Result<ChatStream, CoreError>
    where
        S: Future<Output = ()> + Send + 'static,
    {
        let body = stream_body(req)?;
        let http = Arc::clone(self);
        let rid = request_id.clone();
        let started = Arc::new(AtomicU64::new(0));
        let started_in_reader = Arc::clone(&started);
        let mut stream = ChatStream::spawn(rt, request_id, self.cfg.stream_buffer_events, move |sink| async move {
            start.await;
            started_in_reader.store(tekton_clock::monotonic_ns(), Ordering::Relaxed);
            http.run_stream(body, rid, sink).await
        });
        stream.started_ns = started;
        Ok(stream)
    }

    async fn run_stream(self: Arc<Self>, body: Bytes, request_id: String, mut sink: ChunkSink) {
        let url = self.cfg.url("/api/v1/chat/stream");
        let mut shutdown = self.shutdown_tx.subscribe();
        // Content chunks reached the consumer: from then on a failure is the stream's end, not a retry.
        let mut delivered = false;
        let mut attempt: u32 = 0;
        loop {
            let end = if *shutdown.borrow() {
                AttemptEnd::Failed { error: closed_error(&request_id), retryable: false }
            } else {
                tokio::select! {
                    end = self.stream_attempt(&url, body.clone(), &request_id, &mut sink, &mut delivered) => end,
                    _ = shutdown.changed() => AttemptEnd::Failed { error: closed_error(&request_id), retryable: false },
                }
            };
            let (error, retryable) = match end {
                AttemptEnd::Finished => return sink.end(StreamEnd::Finished).await,
                AttemptEnd::Failed { error, retryable } => (error, retryable),
            };
            if retryable && !delivered {
                if let Some(delay) = delay_before_retry(&error, attempt, &self.cfg) {
                    self.log(
                        30,
                        &format!(
                        "stream {request_id}: attempt {} failed before its first chunk ({error}); retrying in {:.2}s",
                        attempt + 1,
                        delay.as_secs_f64()
                    ),
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => {}
                    }
                    attempt += 1;
                    continue;
                }
            }
            return sink.end(StreamEnd::Failed { error, delivered }).await;
        }
    }

    async fn stream_attempt(
        &self,
        url: &str,
        body: Bytes,
        request_id: &str,
        sink: &mut ChunkSink,
        delivered: &mut bool,
    ) -> AttemptEnd {
        let idle = self.cfg.stream_idle();
        let failed = |error: CoreError| AttemptEnd::Failed { error, retryable: true };
        let mut answer = match tokio::time::timeout(idle, self.send_stream(url, body, request_id)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return failed(e),
            Err(_) => return failed(idle_error(idle, request_id, "no answer")),
        };
        let mut decoder = SseDecoder::new(self.cfg.max_event_bytes);
        let mut saw_done = false;
        let mut last_event = Instant::now();
        // One idle timer for the whole stream, moved only when it fires early: a timer per read
        // cost more than decoding the read.
        let idle_timer = tokio::time::sleep(idle);
        tokio::pin!(idle_timer);
        loop {
            let read = tokio::select! {
                biased;
                read = answer.read(request_id) => Ok(read),
                () = &mut idle_timer => Err(()),
            };
            if read.is_err() && last_event.elapsed() < idle {
                idle_timer.as_mut().reset((last_event + idle).into());
                continue;
            }
            if let Ok(Ok(Some((_, received_ns)))) = &read {
                sink.chunks().set_received_ns(*received_ns);
            }
            let mut events =
                EventReader { out: sink.chunks(), delivered: &mut *delivered, saw_done, failure: None, seen: 0 };
            let at_eof = match read {
                Err(_) if saw_done => return AttemptEnd::Finished,
                Err(_) => return failed(idle_error(idle, request_id, "no stream event")),
                Ok(Err(_)) if saw_done => return AttemptEnd::Finished,
                Ok(Err(mut err)) => {
                    err.message = format!("the stream was cut before its end: {}", err.message);
                    if *delivered {
                        err.kind = ErrorKind::StreamInterrupted; // as at EOF below
                    }
                    return failed(err);
                }
                Ok(Ok(None)) => {
                    if decoder.finish(&mut events).is_err() {
                        return limit_failure(self.cfg.max_event_bytes, request_id);
                    }
                    true
                }
                Ok(Ok(Some((bytes, _)))) => {
                    if decoder.feed(bytes, &mut events).is_err() {
                        return limit_failure(self.cfg.max_event_bytes, request_id);
                    }
                    false
                }
            };
            if events.seen > 0 {
                last_event = Instant::now();
            }
            saw_done = events.saw_done;
            if let Some(failure) = events.failure.take() {
                return AttemptEnd::Failed {
                    error: self.redact_error(failure).with_request_id(request_id),
                    retryable: false,
                };
            }
            if sink.flush().await.is_err() {
                return AttemptEnd::Finished; // the consumer went away
            }
            if at_eof {
                if saw_done {
                    return AttemptEnd::Finished;
                }
                let error = CoreError::new(
                    if *delivered { ErrorKind::StreamInterrupted } else { ErrorKind::Connection },
                    "the stream ended before its done event",
                )
                .with_request_id(request_id);
                return failed(error);
            }
        }
    }
}

/// Decodes each SSE event of one read in place (no copy of its strings) into `out`.
struct EventReader<'a> {
    out: &'a mut ReadyChunks,
    delivered: &'a mut bool,
    saw_done: bool,
    /// The first event that ends the attempt (bad JSON, an error event); later ones are ignored.
    failure: Option<CoreError>,
    seen: usize,
}

impl SseSink for EventReader<'_> {
    fn event(&mut self, _event_type: &str, data: &str, _id: Option<&str>) {
        self.seen += 1;
        if self.saw_done || self.failure.is_some() {
            return;
        }
        if data == "[DONE]" {
            self.saw_done = true;
            self.out.push(&StreamEvent { done: true, ..StreamEvent::default() });
            return;
        }
        let event = match serde_json::from_str::<StreamEvent<'_>>(data) {
            Ok(event) => event,
            Err(e) => {
                self.failure = Some(CoreError::new(
                    ErrorKind::Protocol,
                    format!("Rhetor sent an event that is not valid JSON ({e})"),
                ));
                return;
            }
        };
        if let Some(message) = &event.error {
            self.failure = Some(
                CoreError::new(
                    ErrorKind::ServiceUnavailable,
                    format!("Rhetor reported an error in the stream: {}", message.as_str()),
                )
                .with_code(event.code.as_ref().map(|c| c.as_str().to_owned())),
            );
            return;
        }
        self.saw_done = event.done;
        if let Some(text) = &event.chunk {
            if !text.as_str().is_empty() {
                *self.delivered = true;
            }
        }
        self.out.push(&event);
    }
}

/// The request body of a streamed chat.
fn stream_body(req: &ChatRequest) -> Result<Bytes, CoreError> {
    req.to_v1_body(true)
        .map(Bytes::from)
        .map_err(|e| CoreError::new(ErrorKind::InvalidRequest, format!("cannot encode request: {e}")))
}

fn idle_error(idle: Duration, request_id: &str, what: &str) -> CoreError {
    CoreError::new(ErrorKind::Timeout, format!("{what} within {:.1}s", idle.as_secs_f64())).with_request_id(request_id)
}

fn limit_failure(limit: usize, request_id: &str) -> AttemptEnd {
    AttemptEnd::Failed {
        error: CoreError::new(
            ErrorKind::LimitExceeded,
            format!("a stream event is larger than the limit of {limit} bytes"),
        )
        .with_request_id(request_id),
        retryable: false,
    }
}
