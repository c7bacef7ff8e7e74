//! Response bodies: whole ones, and channel-fed ones written by a producer task (streams,
//! trickled bytes, bodies cut mid-way).

use crate::error::BodyCut;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

pub type SimBody = BoxBody<Bytes, BodyCut>;

pub fn full(bytes: impl Into<Bytes>) -> SimBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// The client is gone (hyper dropped the body): the producer should stop.
#[derive(Debug)]
pub struct Gone;

/// The receiving half: what hyper polls.
struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, BodyCut>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BodyCut;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyCut>>> {
        self.rx.poll_recv(cx).map(|item| item.map(|r| r.map(Frame::data)))
    }
}

/// The producing half. With `trickle` every byte goes out as its own frame, `trickle` apart.
pub struct BodySender {
    tx: mpsc::Sender<Result<Bytes, BodyCut>>,
    trickle: Option<Duration>,
    sent_any: bool,
}

/// A body fed by a `BodySender`. A small channel is enough: producers coalesce into big buffers.
pub fn channel(trickle_ms: Option<u64>) -> (BodySender, SimBody) {
    let (tx, rx) = mpsc::channel(4);
    let sender = BodySender { tx, trickle: trickle_ms.map(Duration::from_millis), sent_any: false };
    (sender, ChannelBody { rx }.boxed())
}

impl BodySender {
    pub async fn send(&mut self, bytes: Bytes) -> Result<(), Gone> {
        let Some(delay) = self.trickle else {
            return self.tx.send(Ok(bytes)).await.map_err(|_| Gone);
        };
        for i in 0..bytes.len() {
            if self.sent_any {
                self.sleep(delay).await?;
            }
            self.sent_any = true;
            self.tx.send(Ok(bytes.slice(i..i + 1))).await.map_err(|_| Gone)?;
        }
        Ok(())
    }

    /// Sleeps, but returns early (with `Gone`) when the client goes away.
    pub async fn sleep(&self, duration: Duration) -> Result<(), Gone> {
        tokio::select! {
            _ = tokio::time::sleep(duration) => Ok(()),
            _ = self.tx.closed() => Err(Gone),
        }
    }

    /// Sleeps until `due` to the microsecond (a timerfd, not tokio's millisecond tick), but
    /// returns early (with `Gone`) when the client goes away.
    pub async fn sleep_until_precisely(&self, due: std::time::Instant) -> Result<(), Gone> {
        let left = due.saturating_duration_since(std::time::Instant::now());
        let due_ns = tekton_clock::monotonic_ns().saturating_add(u64::try_from(left.as_nanos()).unwrap_or(u64::MAX));
        tokio::select! {
            () = tekton_clock::sleep_until_ns(due_ns) => Ok(()),
            _ = self.tx.closed() => Err(Gone),
        }
    }

    /// Ends the body with an error: hyper then drops the connection without the final chunk.
    pub async fn abort(&self) {
        // hyper pulls every ready frame before it flushes, and an error drops what it buffered:
        // first let it take the data sent so far (channel drained), then give it time to write.
        while self.tx.capacity() < self.tx.max_capacity() {
            if self.sleep(Duration::from_millis(1)).await.is_err() {
                return;
            }
        }
        if self.sleep(Duration::from_millis(30)).await.is_ok() {
            let _ = self.tx.send(Err(BodyCut)).await;
        }
    }

    /// Waits until the client goes away (for `stall_after`).
    pub async fn wait_closed(&self) {
        self.tx.closed().await;
    }
}
