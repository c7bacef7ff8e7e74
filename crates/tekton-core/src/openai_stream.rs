//! A streamed OpenAI-compatible chat completion (`POST <path>` with a JSON body, `stream: true`),
//! read by the same reader machinery as Rhetor streams so the bench times every target at the
//! socket: each chunk carries `received_ns`. SSE events are decoded as chat-completion chunks
//! (`choices[0].delta.content`, `usage` in the last chunk, `data: [DONE]` at the end).
//!
//! One attempt, never retried: a load generator records a failure, it does not hide it.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde::Deserialize;

use crate::error::{CoreError, ErrorKind};
use crate::handover::{ChunkSink, StreamEnd};
use crate::http::{closed_error, RhetorHttp};
use crate::protocol::v1::{StreamEvent, Text, Usage};
use crate::ready_chunks::ReadyChunks;
use crate::sse::{SseDecoder, SseSink};
use crate::stream::ChatStream;

/// One `data:` payload of an OpenAI chat-completion stream (the fields the bench reads).
#[derive(Deserialize)]
struct CompletionChunk<'a> {
    #[serde(default, borrow)]
    choices: Vec<Choice<'a>>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default, borrow)]
    model: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(default, borrow)]
    delta: Option<Delta<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(default, borrow)]
    content: Option<Text<'a>>,
}

impl RhetorHttp {
    /// Start an OpenAI-compatible stream of `body` to `path` (relative to the base URL), sent by
    /// the reader once `start` completes; the moment it is sent goes in the stream's `started_ns`.
    /// Chunks: one per content delta, then a `done` chunk carrying the last `usage` seen.
    pub fn stream_openai_at<S>(
        self: &Arc<Self>,
        rt: &tokio::runtime::Handle,
        path: &str,
        body: Bytes,
        request_id: String,
        start: S,
    ) -> ChatStream
    where
        S: Future<Output = ()> + Send + 'static,
    {
        let http = Arc::clone(self);
        let rid = request_id.clone();
        let url = self.cfg.url(path);
        let started = Arc::new(AtomicU64::new(0));
        let started_in_reader = Arc::clone(&started);
        let mut stream = ChatStream::spawn(rt, request_id, self.cfg.stream_buffer_events, move |sink| async move {
            start.await;
            started_in_reader.store(tekton_clock::monotonic_ns(), Ordering::Relaxed);
            http.run_openai_stream(url, body, rid, sink).await
        });
        stream.started_ns = started;
        stream
    }

    async fn run_openai_stream(self: Arc<Self>, url: String, body: Bytes, request_id: String, mut sink: ChunkSink) {
        let mut shutdown = self.shutdown_tx.subscribe();
        let mut delivered = false;
        let outcome = if *shutdown.borrow() {
            Err(closed_error(&request_id))
        } else {
            tokio::select! {
                out = self.openai_attempt(&url, body, &request_id, &mut sink, &mut delivered) => out,
                _ = shutdown.changed() => Err(closed_error(&request_id)),
            }
        };
        let end = match outcome {
            Ok(()) => StreamEnd::Finished,
            Err(error) => StreamEnd::Failed { error, delivered },
        };
        sink.end(end).await;
    }

    async fn openai_attempt(
        &self,
        url: &str,
        body: Bytes,
        request_id: &str,
        sink: &mut ChunkSink,
        delivered: &mut bool,
    ) -> Result<(), CoreError> {
        let idle = self.cfg.stream_idle();
        let idle_error = |what: &str| {
            CoreError::new(ErrorKind::Timeout, format!("{what} within {:.1}s", idle.as_secs_f64()))
                .with_request_id(request_id)
        };
        let mut answer = match tokio::time::timeout(idle, self.send_stream(url, body, request_id)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(idle_error("no answer")),
        };
        let mut decoder = SseDecoder::new(self.cfg.max_event_bytes);
        let mut reader = OpenAiEvents::default();
        let mut last_event = Instant::now();
        loop {
            let read = match tokio::time::timeout_at((last_event + idle).into(), answer.read(request_id)).await {
                Ok(read) => read,
                Err(_) if reader.saw_done => return Ok(()),
                Err(_) => return Err(idle_error("no stream event")),
            };
            let at_eof = match read {
                Err(_) if reader.saw_done => return Ok(()),
                Err(e) => {
                    let mut err = self.redact_error(e);
                    err.message = format!("the stream was cut before its end: {}", err.message);
                    if *delivered {
                        err.kind = ErrorKind::StreamInterrupted;
                    }
                    return Err(err);
                }
                Ok(None) => {
                    let mut events = reader.over(sink.chunks(), delivered);
                    if decoder.finish(&mut events).is_err() {
                        return Err(limit_error(self.cfg.max_event_bytes, request_id));
                    }
                    true
                }
                Ok(Some((bytes, received_ns))) => {
                    sink.chunks().set_received_ns(received_ns);
                    let mut events = reader.over(sink.chunks(), delivered);
                    if decoder.feed(bytes, &mut events).is_err() {
                        return Err(limit_error(self.cfg.max_event_bytes, request_id));
                    }
                    false
                }
            };
            if std::mem::take(&mut reader.seen) > 0 {
                last_event = Instant::now();
            }
            if let Some(failure) = reader.failure.take() {
                return Err(self.redact_error(failure).with_request_id(request_id));
            }
            if sink.flush().await.is_err() || reader.saw_done {
                return Ok(()); // the consumer went away, or the stream is complete
            }
            if at_eof {
                let kind = if *delivered { ErrorKind::StreamInterrupted } else { ErrorKind::Connection };
                return Err(CoreError::new(kind, "the stream ended before data: [DONE]").with_request_id(request_id));
            }
        }
    }
}

/// The decoding state of one stream: the usage seen so far (OpenAI sends it in a chunk of its
/// own before `[DONE]`), whether `[DONE]` came, the first failure.
#[derive(Default)]
struct OpenAiEvents {
    usage: Option<Usage>,
    saw_done: bool,
    failure: Option<CoreError>,
    seen: usize,
}

impl OpenAiEvents {
    fn over<'a>(&'a mut self, ready: &'a mut ReadyChunks, delivered: &'a mut bool) -> EventSink<'a> {
        EventSink { state: self, ready, delivered }
    }
}

/// Decodes the events of one read into the ready chunks.
struct EventSink<'a> {
    state: &'a mut OpenAiEvents,
    ready: &'a mut ReadyChunks,
    delivered: &'a mut bool,
}

impl SseSink for EventSink<'_> {
    fn event(&mut self, _event_type: &str, data: &str, _id: Option<&str>) {
        let state = &mut *self.state;
        state.seen += 1;
        if state.saw_done || state.failure.is_some() {
            return;
        }
        if data.trim() == "[DONE]" {
            state.saw_done = true;
            self.ready.push(&StreamEvent { done: true, usage: state.usage.take(), ..StreamEvent::default() });
            return;
        }
        let chunk = match serde_json::from_str::<CompletionChunk<'_>>(data) {
            Ok(chunk) => chunk,
            Err(e) => {
                state.failure = Some(CoreError::new(
                    ErrorKind::Protocol,
                    format!("the server sent an event that is not a chat-completion chunk ({e})"),
                ));
                return;
            }
        };
        if let Some(error) = &chunk.error {
            let message =
                error.get("message").and_then(|m| m.as_str()).map_or_else(|| error.to_string(), str::to_owned);
            state.failure = Some(CoreError::new(
                ErrorKind::ServiceUnavailable,
                format!("the server reported an error in the stream: {message}"),
            ));
            return;
        }
        if chunk.usage.is_some() {
            state.usage = chunk.usage;
        }
        let Some(choice) = chunk.choices.into_iter().next() else {
            return;
        };
        let content = choice.delta.and_then(|d| d.content);
        if content.as_ref().is_some_and(|t| !t.as_str().is_empty()) {
            *self.delivered = true;
        }
        if content.is_some() || choice.finish_reason.is_some() {
            self.ready.push(&StreamEvent {
                chunk: content,
                model: chunk.model,
                finish_reason: choice.finish_reason,
                ..StreamEvent::default()
            });
        }
    }
}

fn limit_error(limit: usize, request_id: &str) -> CoreError {
    CoreError::new(ErrorKind::LimitExceeded, format!("a stream event is larger than the limit of {limit} bytes"))
        .with_request_id(request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(events: &[&str]) -> (ReadyChunks, OpenAiEvents) {
        let mut ready = ReadyChunks::default();
        let mut state = OpenAiEvents::default();
        let mut delivered = false;
        for data in events {
            state.over(&mut ready, &mut delivered).event("", data, None);
        }
        (ready, state)
    }

    #[test]
    fn content_deltas_then_usage_on_the_done_chunk() {
        let (ready, state) = decode(&[
            r#"{"choices":[{"delta":{"role":"assistant"}}]}"#,
            r#"{"choices":[{"delta":{"content":"Hel"}}],"model":"m"}"#,
            r#"{"choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#,
            "[DONE]",
        ]);
        assert!(state.saw_done && state.failure.is_none());
        let views: Vec<_> = ready.iter().collect();
        assert_eq!(views.iter().map(|v| v.text).collect::<Vec<_>>(), ["Hel", "lo", ""]);
        let last = views.last().unwrap();
        assert!(last.done);
        assert_eq!(last.usage.map(|u| u.completion_tokens), Some(2));
    }

    #[test]
    fn bad_json_and_error_events_are_typed_failures() {
        let (_, state) = decode(&["not json"]);
        assert_eq!(state.failure.map(|e| e.kind), Some(ErrorKind::Protocol));
        let (_, state) = decode(&[r#"{"error":{"message":"overloaded"}}"#]);
        let error = state.failure.unwrap();
        assert_eq!(error.kind, ErrorKind::ServiceUnavailable);
        assert!(error.message.contains("overloaded"));
    }
}
