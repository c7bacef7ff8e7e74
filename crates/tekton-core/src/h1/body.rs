//! The body of an answer, read from its connection by the task that asked for it. A body read to
//! its end leaves its connection in the pool for the next exchange; one dropped before (the
//! consumer went away, the stream failed) closes it.

use std::io;
use std::sync::Arc;

use super::chunked::ChunkedDecoder;
use super::connection::Connection;
use super::head::{Framing, ResponseHead};
use super::pool::Pool;

enum Left {
    Bytes(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

pub struct Body {
    conn: Option<Connection>,
    left: Left,
    done: bool,
    keep_alive: bool,
    pool: Arc<Pool>,
}

impl Body {
    pub(crate) fn new(conn: Connection, head: &ResponseHead, pool: Arc<Pool>) -> Body {
        let left = match head.framing {
            Framing::Length(n) => Left::Bytes(n),
            Framing::Chunked => Left::Chunked(ChunkedDecoder::default()),
            Framing::Close => Left::UntilClose,
        };
        let done = matches!(left, Left::Bytes(0));
        Body { conn: Some(conn), left, done, keep_alive: head.keep_alive, pool }
    }

    /// The next bytes of the body and when the kernel received them (monotonic ns); `None` at
    /// its end. Cancel-safe: nothing is taken from the socket across an await.
    pub async fn read(&mut self) -> io::Result<Option<(&[u8], u64)>> {
        let (len, taken) = loop {
            if self.done {
                self.release();
                return Ok(None);
            }
            let Some(conn) = self.conn.as_mut() else {
                return Ok(None);
            };
            if !conn.unread().is_empty() {
                let (len, taken) = match &mut self.left {
                    Left::Bytes(left) => {
                        let n = usize::try_from(*left).unwrap_or(usize::MAX).min(conn.unread().len());
                        *left -= n as u64;
                        self.done = *left == 0;
                        (n, n)
                    }
                    Left::UntilClose => (conn.unread().len(), conn.unread().len()),
                    Left::Chunked(decoder) => {
                        let decoded = decoder
                            .decode(conn.unread_mut())
                            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.0))?;
                        self.done = decoder.is_done();
                        decoded
                    }
                };
                if len > 0 {
                    break (len, taken);
                }
                conn.take(taken);
                continue;
            }
            if conn.fill(usize::MAX).await? == 0 {
                if matches!(self.left, Left::UntilClose) {
                    self.done = true;
                    self.keep_alive = false;
                    continue;
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection mid-answer",
                ));
            }
        };
        let Some(conn) = self.conn.as_mut() else {
            return Ok(None);
        };
        let received_ns = conn.received_ns();
        Ok(Some((conn.take_payload(len, taken), received_ns)))
    }

    /// The length the head declared, if it did.
    pub fn declared_length(&self) -> Option<u64> {
        match self.left {
            Left::Bytes(n) => Some(n),
            _ => None,
        }
    }

    /// The rest of the body; `Ok(None)` once it would pass `limit` bytes.
    pub async fn read_to_end(&mut self, limit: usize) -> io::Result<Option<Vec<u8>>> {
        if self.declared_length().is_some_and(|n| n > limit as u64) {
            return Ok(None);
        }
        let mut out = Vec::new();
        while let Some((bytes, _)) = self.read().await? {
            if out.len() + bytes.len() > limit {
                return Ok(None);
            }
            out.extend_from_slice(bytes);
        }
        Ok(Some(out))
    }

    /// A body read to its end gives its connection back to the pool.
    fn release(&mut self) {
        if let Some(conn) = self.conn.take() {
            if self.keep_alive && conn.unread().is_empty() {
                self.pool.put(conn);
            }
        }
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        if self.done {
            self.release();
        }
    }
}
