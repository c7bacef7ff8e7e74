//! A streamed chat: a reader task on the runtime turns SSE bytes into events and hands them to
//! the consumer through a bounded channel (backpressure: a slow consumer pauses the socket read).
//! The consumer takes every ready event at once, so one hop into Python carries a batch.
//!
//! Retry rule: an attempt that fails before the first content chunk was delivered is retried like
//! any call; after that, the failure is delivered as a terminal error item carrying the partial
//! text, and nothing is ever sent twice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::Method;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{CoreError, ErrorKind};
use crate::http::{closed_error, transport_error, RhetorHttp};
use crate::panic_guard;
use crate::protocol::v1::{ChatRequest, StreamEvent};
use crate::retry::delay_before_retry;
use crate::sse::SseDecoder;

#[derive(Debug)]
pub enum StreamItem {
    Event(StreamEvent),
    /// Terminal. `delivered` says whether content chunks reached the consumer before it.
    Error { error: CoreError, delivered: bool },
}

/// The consumer's end. Dropping it aborts the reader, which closes the HTTP exchange at once.
pub struct ChatStream {
    rx: mpsc::Receiver<StreamItem>,
    task: JoinHandle<()>,
    pub request_id: String,
}

impl Drop for ChatStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ChatStream {
    /// Wait for at least one item, then take every ready one (up to `max`). False: the stream is over.
    pub async fn recv_batch(&mut self, out: &mut Vec<StreamItem>, max: usize) -> bool {
        match self.rx.recv().await {
            None => return false,
            Some(item) => out.push(item),
        }
        self.try_recv_batch(out, max);
        true
    }

    /// Take the ready items without waiting. False: the stream is over and nothing is left.
    pub fn try_recv_batch(&mut self, out: &mut Vec<StreamItem>, max: usize) -> bool {
        while out.len() < max {
            match self.rx.try_recv() {
                Ok(item) => out.push(item),
                Err(mpsc::error::TryRecvError::Empty) => return true,
                Err(mpsc::error::TryRecvError::Disconnected) => return !out.is_empty(),
            }
        }
        true
    }

    /// Stop now: the reader is aborted and its connection closed.
    pub fn abort(&self) {
        self.task.abort();
    }

    /// Run `reader` on `rt` as this stream's producer, feeding a channel of `buffer` items.
    /// A panic in the reader reaches the consumer as a terminal error item: a bare closed
    /// channel would look like a clean end of the stream.
    pub fn spawn<F, Fut>(rt: &tokio::runtime::Handle, request_id: String, buffer: usize, reader: F) -> ChatStream
    where
        F: FnOnce(mpsc::Sender<StreamItem>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(buffer.max(1));
        let on_panic = tx.clone();
        let rid = request_id.clone();
        let work = reader(tx);
        let task = rt.spawn(async move {
            if let Err(message) = panic_guard::catch(work).await {
                let error = panic_guard::panic_error("the stream reader", &message).with_request_id(rid);
                let _ = on_panic.send(StreamItem::Error { error, delivered: false }).await;
            }
        });
        ChatStream { rx, task, request_id }
    }
}

/// What one attempt ended with.
enum AttemptEnd {
    /// Done (or the consumer went away).
    Finished,
    Failed { error: CoreError, retryable: bool },
}

struct Progress {
    delivered: bool,
    partial: String,
}

impl RhetorHttp {
    /// Start a streamed chat on `rt`. The request is sent by the reader task.
    pub fn stream_chat(self: &Arc<Self>, rt: &tokio::runtime::Handle, req: &ChatRequest, request_id: String) -> Result<ChatStream, CoreError> {
        let body = Bytes::from(req.to_v1_body(true).map_err(|e| {
            CoreError::new(ErrorKind::InvalidRequest, format!("cannot encode request: {e}"))
        })?);
        let http = Arc::clone(self);
        let rid = request_id.clone();
        Ok(ChatStream::spawn(rt, request_id, self.cfg.stream_buffer_events, move |tx| http.run_stream(body, rid, tx)))
    }

    async fn run_stream(self: Arc<Self>, body: Bytes, request_id: String, tx: mpsc::Sender<StreamItem>) {
        let url = self.cfg.url("/api/v1/chat/stream");
        let mut shutdown = self.shutdown_tx.subscribe();
        let mut progress = Progress { delivered: false, partial: String::new() };
        let mut attempt: u32 = 0;
        loop {
            let end = if *shutdown.borrow() {
                AttemptEnd::Failed { error: closed_error(&request_id), retryable: false }
            } else {
                tokio::select! {
                    end = self.stream_attempt(&url, body.clone(), &request_id, &tx, &mut progress) => end,
                    _ = shutdown.changed() => AttemptEnd::Failed { error: closed_error(&request_id), retryable: false },
                }
            };
            let (mut error, retryable) = match end {
                AttemptEnd::Finished => return,
                AttemptEnd::Failed { error, retryable } => (error, retryable),
            };
            if retryable && !progress.delivered {
                if let Some(delay) = delay_before_retry(&error, attempt, &self.cfg) {
                    self.log(30, &format!(
                        "stream {request_id}: attempt {} failed before its first chunk ({error}); retrying in {:.2}s",
                        attempt + 1,
                        delay.as_secs_f64()
                    ));
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => {}
                    }
                    attempt += 1;
                    continue;
                }
            }
            if progress.delivered {
                error.partial = std::mem::take(&mut progress.partial);
            }
            let _ = tx.send(StreamItem::Error { error, delivered: progress.delivered }).await;
            return;
        }
    }

    async fn stream_attempt(
        &self,
        url: &str,
        body: Bytes,
        request_id: &str,
        tx: &mpsc::Sender<StreamItem>,
        progress: &mut Progress,
    ) -> AttemptEnd {
        let idle = self.cfg.stream_idle();
        let failed = |error: CoreError| AttemptEnd::Failed { error, retryable: true };
        let mut resp = match tokio::time::timeout(idle, self.send(Method::POST, url, Some(body), request_id)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return failed(e),
            Err(_) => return failed(idle_error(idle, request_id, "no answer")),
        };
        let mut decoder = SseDecoder::new(self.cfg.max_event_bytes);
        let mut events = Vec::new();
        let mut saw_done = false;
        let mut last_event = Instant::now();
        loop {
            let wait = idle.saturating_sub(last_event.elapsed());
            let read = tokio::time::timeout(wait, resp.chunk()).await;
            let at_eof = match read {
                Err(_) if saw_done => return AttemptEnd::Finished,
                Err(_) => return failed(idle_error(idle, request_id, "no stream event")),
                Ok(Err(_)) if saw_done => return AttemptEnd::Finished,
                Ok(Err(e)) => {
                    let mut err = transport_error(&e, request_id);
                    err.message = format!("the stream was cut before its end: {}", err.message);
                    return failed(err);
                }
                Ok(Ok(None)) => {
                    if decoder.finish(&mut events).is_err() {
                        return limit_failure(self.cfg.max_event_bytes, request_id);
                    }
                    true
                }
                Ok(Ok(Some(bytes))) => {
                    if decoder.feed(&bytes, &mut events).is_err() {
                        return limit_failure(self.cfg.max_event_bytes, request_id);
                    }
                    false
                }
            };
            if !events.is_empty() {
                last_event = Instant::now();
            }
            for sse in events.drain(..) {
                if saw_done {
                    continue;
                }
                let event = if sse.data == "[DONE]" {
                    StreamEvent { done: true, ..StreamEvent::default() }
                } else {
                    match serde_json::from_str::<StreamEvent>(&sse.data) {
                        Ok(ev) => ev,
                        Err(e) => {
                            let msg = format!("Rhetor sent an event that is not valid JSON ({e})");
                            return AttemptEnd::Failed {
                                error: CoreError::new(ErrorKind::Protocol, msg).with_request_id(request_id),
                                retryable: false,
                            };
                        }
                    }
                };
                if let Some(message) = event.error {
                    let error = CoreError::new(ErrorKind::ServiceUnavailable, format!("Rhetor reported an error in the stream: {message}"))
                        .with_request_id(request_id)
                        .with_code(event.code);
                    return AttemptEnd::Failed { error, retryable: false };
                }
                saw_done = event.done;
                if let Some(text) = event.chunk.as_deref() {
                    if !text.is_empty() {
                        progress.delivered = true;
                        progress.partial.push_str(text);
                    }
                }
                if tx.send(StreamItem::Event(event)).await.is_err() {
                    return AttemptEnd::Finished; // the consumer went away
                }
            }
            if at_eof {
                if saw_done {
                    return AttemptEnd::Finished;
                }
                let error = CoreError::new(
                    if progress.delivered { ErrorKind::StreamInterrupted } else { ErrorKind::Connection },
                    "the stream ended before its done event",
                )
                .with_request_id(request_id);
                return failed(error);
            }
        }
    }
}

fn idle_error(idle: Duration, request_id: &str, what: &str) -> CoreError {
    CoreError::new(ErrorKind::Timeout, format!("{what} within {:.1}s", idle.as_secs_f64())).with_request_id(request_id)
}

fn limit_failure(limit: usize, request_id: &str) -> AttemptEnd {
    AttemptEnd::Failed {
        error: CoreError::new(ErrorKind::LimitExceeded, format!("a stream event is larger than the limit of {limit} bytes"))
            .with_request_id(request_id),
        retryable: false,
    }
}
