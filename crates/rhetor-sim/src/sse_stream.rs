//! The SSE producer for `POST /api/v1/chat/stream` and the OpenAI-compatible
//! `POST /v1/chat/completions` (`stream: true`): paces, coalesces and injects stream faults.

use crate::body::{BodySender, Gone};
use crate::chat::Answer;
use crate::lateness::{Deadline, Lateness};
use crate::openai::ChunkShape;
use crate::pacing::Pacing;
use crate::state::TaskGuard;
use bytes::Bytes;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Without pacing, events are batched into writes of about this size: a 100k-chunk stream then
/// costs a few hundred writes, not 100k.
const FLUSH_AT: usize = 48 * 1024;

/// Buffers SSE text and hands it to the body in big pieces.
struct SseWriter {
    out: BodySender,
    buf: Vec<u8>,
    eol: &'static str,
    ping_every: Option<Duration>,
    last_ping: Instant,
    lateness: Arc<Lateness>,
}

impl SseWriter {
    fn line(&mut self, text: &[u8]) {
        self.buf.extend_from_slice(text);
        self.buf.extend_from_slice(self.eol.as_bytes());
    }

    /// One `data:` event: the line and the blank line that dispatches it.
    fn event(&mut self, data: &str) {
        self.buf.extend_from_slice(b"data: ");
        self.line(data.as_bytes());
        self.line(b"");
    }

    fn ping(&mut self) {
        self.line(b": ping");
        self.last_ping = Instant::now();
    }

    async fn flush(&mut self) -> Result<(), Gone> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let bytes = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(FLUSH_AT + 1024)));
        self.out.send(bytes).await
    }

    async fn flush_if_full(&mut self) -> Result<(), Gone> {
        if self.buf.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Flushes, then waits until `due`, sending `: ping` comments meanwhile if asked to, and
    /// records how late the wait ended.
    async fn pause_until(&mut self, due: Instant, deadline: Deadline) -> Result<(), Gone> {
        self.flush().await?;
        loop {
            let now = Instant::now();
            if now >= due {
                self.lateness.record(deadline, due);
                return Ok(());
            }
            let next_ping = match self.ping_every {
                Some(every) => self.last_ping + every,
                None => due,
            };
            if next_ping <= now {
                self.ping();
                self.flush().await?;
                continue;
            }
            // The first chunk's deadline is what a TTFT benchmark measures: kept to the µs.
            // Paced chunks (20x as many) keep tokio's cheaper millisecond timer.
            match deadline {
                Deadline::FirstChunk if due <= next_ping => self.out.sleep_until_precisely(due).await?,
                _ => self.out.sleep(next_ping.min(due) - now).await?,
            }
        }
    }
}

fn json_str(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string())
}

/// Which shape the events take: the timing and the faults are the same for both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    Rhetor,
    OpenAi { include_usage: bool },
}

/// When the request came in, and where the stream's lateness against its deadlines goes.
pub struct Timing {
    pub received: Instant,
    pub lateness: Arc<Lateness>,
}

/// Writes the whole stream (or the fault it was asked for) into `out`. Returns early, quietly,
/// when the client goes away.
pub async fn run(answer: Answer, wire: Wire, out: BodySender, guard: TaskGuard, timing: Timing) {
    let _guard = guard;
    let _ = produce(&answer, wire, out, timing).await;
}

async fn produce(answer: &Answer, wire: Wire, out: BodySender, timing: Timing) -> Result<(), Gone> {
    let knobs = &answer.knobs;
    let mut w = SseWriter {
        out,
        buf: Vec::with_capacity(FLUSH_AT + 1024),
        eol: knobs.line_ending().as_str(),
        ping_every: knobs.ping_every_ms.map(Duration::from_millis),
        last_ping: Instant::now(),
        lateness: timing.lateness,
    };
    // Everything after the chunk text is the same for every event: build it once.
    let tail = format!(
        r#","model":{},"provider":{},"context_id":{},"timestamp":{},"done":false,"fallback":{}}}"#,
        json_str(&answer.resolved.model),
        json_str(&answer.resolved.provider),
        json_str(&answer.context_id),
        json_str(&answer.timestamp),
        answer.resolved.fallback,
    );
    let openai = match wire {
        Wire::OpenAi { .. } => Some(ChunkShape::new(answer)),
        Wire::Rhetor => None,
    };
    if w.ping_every.is_some() {
        w.ping(); // one up front, so a client always sees a comment line
    }
    if let Some(delay) = knobs.first_chunk_delay() {
        w.pause_until(timing.received + delay, Deadline::FirstChunk).await?;
    }
    let mut pacing = knobs.chunk_delay().map(|every| Pacing::new(every, knobs.lockstep()));
    let pieces = answer.chunks();
    for sent in 0..=pieces.len() {
        // Faults are positioned "after `sent` chunks".
        if knobs.cut_after == Some(sent) {
            w.flush().await?;
            // hyper drops unwritten bytes when a body errors: give the flushed chunks time to
            // reach the socket, so the client really sees "K chunks, then a cut".
            tokio::time::sleep(Duration::from_millis(30)).await;
            w.out.abort().await;
            return Ok(());
        }
        if knobs.error_after == Some(sent) {
            let message = format!("simulated provider error after {sent} chunks");
            let error = match openai {
                Some(_) => crate::openai::stream_error(&message),
                None => json!({"error": message, "code": "provider_error", "done": true}).to_string(),
            };
            w.event(&error);
            return w.flush().await;
        }
        if knobs.no_done_after == Some(sent) {
            return w.flush().await;
        }
        if knobs.stall_after == Some(sent) {
            w.flush().await?;
            w.out.wait_closed().await;
            return Ok(());
        }
        if knobs.malformed_after == Some(sent) {
            // Not a field (no colon) and not UTF-8: a conforming parser ignores the line.
            w.line(b"\xff\xfe malformed line \xc3\x28");
            w.line(b"");
        }
        if knobs.bad_json_after == Some(sent) {
            w.event("{not json");
        }
        let Some(piece) = pieces.get(sent) else {
            break;
        };
        if let Some(pacing) = &mut pacing {
            let due = pacing.next_due();
            if sent > 0 || knobs.lockstep() {
                let deadline = if sent == 0 { Deadline::FirstChunk } else { Deadline::LaterChunk };
                w.pause_until(due, deadline).await?;
            }
        }
        if let Some(shape) = &openai {
            w.event(&shape.delta(piece, sent == 0));
            w.flush_if_full().await?;
            continue;
        }
        w.buf.extend_from_slice(br#"data: {"chunk":"#);
        // Writing a &str into a Vec cannot fail; the Result is only the Write trait's shape.
        let _ = serde_json::to_writer(&mut w.buf, piece);
        w.buf.extend_from_slice(tail.as_bytes());
        w.line(b"");
        w.line(b"");
        w.flush_if_full().await?;
    }
    if let Some(shape) = &openai {
        w.event(&shape.finish());
        if wire == (Wire::OpenAi { include_usage: true }) {
            w.event(&shape.usage(answer.usage()));
        }
        if knobs.done_marker() {
            w.event("[DONE]");
        }
        return w.flush().await;
    }
    let done = json!({
        "chunk": "",
        "done": true,
        "finish_reason": "stop",
        "usage": answer.usage(),
        "model": answer.resolved.model,
        "provider": answer.resolved.provider,
        "context_id": answer.context_id,
        "timestamp": answer.timestamp,
        "fallback": answer.resolved.fallback,
    });
    w.event(&done.to_string());
    if knobs.done_marker() {
        w.event("[DONE]");
    }
    w.flush().await
}
