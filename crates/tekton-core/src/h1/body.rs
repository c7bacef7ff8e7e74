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
                let (len, taken) = frame(&mut self.left, &mut self.done, conn)?;
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

    /// Reads what has already arrived, without waiting, to reach the body's end: a body whose
    /// end is already here (an OpenAI stream dropped at `[DONE]`, its last chunk a moment
    /// behind) still gives its connection back. Bounded: a few reads at most.
    fn finish_without_waiting(&mut self) {
        for _ in 0..4 {
            let Some(conn) = self.conn.as_mut() else {
                return;
            };
            if self.done {
                return;
            }
            if conn.unread().is_empty() && !matches!(conn.fill_now(), Ok(n) if n > 0) {
                return;
            }
            match frame(&mut self.left, &mut self.done, conn) {
                Ok((_, taken)) => conn.take(taken),
                Err(_) => return,
            }
        }
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
        self.finish_without_waiting();
        if self.done {
            self.release();
        }
    }
}

/// One framing step over `conn`'s unread bytes: how many payload bytes now start them and how
/// many were taken; `done` set at the body's end.
fn frame(left: &mut Left, done: &mut bool, conn: &mut Connection) -> io::Result<(usize, usize)> {
    Ok(match left {
        Left::Bytes(bytes) => {
            let n = usize::try_from(*bytes).unwrap_or(usize::MAX).min(conn.unread().len());
            *bytes -= n as u64;
            *done = *bytes == 0;
            (n, n)
        }
        Left::UntilClose => (conn.unread().len(), conn.unread().len()),
        Left::Chunked(decoder) => {
            let decoded =
                decoder.decode(conn.unread_mut()).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.0))?;
            *done = decoder.is_done();
            decoded
        }
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use super::*;
    use crate::h1::head::parse_response_head;

    /// A body put down at the end of its content, with the rest of its framing already in the
    /// socket (an OpenAI stream left at `[DONE]`), gives its connection back; one put down
    /// before its end does not.
    #[tokio::test]
    async fn a_body_whose_end_has_arrived_gives_its_connection_back_when_dropped() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let pool = Arc::new(Pool::new(4, Duration::from_secs(60)));
        for (ends, pooled) in [(true, true), (false, false)] {
            let mut conn = Connection::open("127.0.0.1", port, Duration::from_secs(5)).await.unwrap();
            let (mut server, _) = listener.accept().unwrap();
            server.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\n[DONE]\r\n").unwrap();
            let head = loop {
                conn.fill(64 << 10).await.unwrap();
                if let Some(head) = parse_response_head(conn.unread()).unwrap() {
                    break head;
                }
            };
            conn.take(head.len);
            let mut body = Body::new(conn, &head, Arc::clone(&pool));
            let (payload, _) = body.read().await.unwrap().unwrap();
            assert_eq!(payload, b"[DONE]");
            server.write_all(if ends { b"0\r\n\r\n" } else { b"5\r\nmore!" }).unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(body);
            assert_eq!(pool.take().is_some(), pooled, "ends: {ends}");
        }
    }
}
