//! One HTTP/1.1 connection over plain TCP and its read buffer. Every read takes the kernel's
//! receive time with the bytes (`StampedTcp`), so a chunk's `received_ns` is when it reached the
//! socket even when the reading thread was busy elsewhere.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::stamped_tcp::StampedTcp;

/// What a new connection reads into; a read that fills it doubles it, up to `MAX_READ_BUFFER`
/// (a response head may grow it further, up to its own limit).
const FIRST_READ_BUFFER: usize = 8 << 10;
const MAX_READ_BUFFER: usize = 256 << 10;

pub(crate) struct Connection {
    stream: StampedTcp,
    /// Bytes read and not yet taken are `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Connection {
    /// Connects to `host:port` within `timeout` (`io::ErrorKind::TimedOut` after it).
    pub(crate) async fn open(host: &str, port: u16, timeout: Duration) -> io::Result<Connection> {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
            Ok(stream) => stream?,
            Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
        };
        stream.set_nodelay(true)?;
        let keepalive = socket2::TcpKeepalive::new().with_time(Duration::from_secs(30));
        socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive)?;
        Ok(Connection { stream: StampedTcp::new(stream), buf: vec![0; FIRST_READ_BUFFER], start: 0, end: 0 })
    }

    pub(crate) async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// The bytes read and not yet taken.
    pub(crate) fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(crate) fn unread_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
    }

    /// Marks `taken` unread bytes as taken, returning the first `len` of them (a chunked body's
    /// payload, decoded in place, is shorter than its framing).
    pub(crate) fn take_payload(&mut self, len: usize, taken: usize) -> &[u8] {
        let from = self.start;
        self.take(taken);
        &self.buf[from..from + len.min(taken)]
    }

    /// Marks `n` unread bytes as taken.
    pub(crate) fn take(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
    }

    /// The kernel's receive time of the last read (monotonic ns).
    pub(crate) fn received_ns(&self) -> u64 {
        self.stream.received_ns()
    }

    /// Reads once more after the unread bytes: how many came (0: the peer closed). `limit` bounds
    /// the unread bytes (a response head waiting for its end): `InvalidData` once it is reached.
    pub(crate) async fn fill(&mut self, limit: usize) -> io::Result<usize> {
        if self.end - self.start >= limit {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "more unread bytes than the limit"));
        }
        self.compact();
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        // A read that filled the buffer: the server writes faster than one read takes.
        if self.end == self.buf.len() && self.buf.len() < MAX_READ_BUFFER {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        Ok(n)
    }

    /// The unread bytes moved to the front of the buffer, so a read appends after them.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
    }

    /// Reads once, now, whatever has arrived (0 when nothing has, or the peer closed); no wait.
    pub(crate) fn fill_now(&mut self) -> io::Result<usize> {
        self.compact();
        let spare = &mut self.buf[self.end..];
        if spare.is_empty() {
            return Ok(0);
        }
        match self.stream.read_now(spare) {
            Ok(n) => {
                self.end += n;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Whether an idle connection can carry another exchange: nothing unread, and the peer has
    /// neither closed it nor sent anything unasked.
    pub(crate) fn is_reusable(&self) -> bool {
        if self.start != self.end {
            return false;
        }
        let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        matches!(socket2::SockRef::from(self.stream.tcp()).peek(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Ready to wait in the pool: the read buffer back to its first size.
    pub(crate) fn into_idle(mut self) -> Connection {
        if self.buf.len() > FIRST_READ_BUFFER {
            self.buf = vec![0; FIRST_READ_BUFFER];
        }
        (self.start, self.end) = (0, 0);
        self
    }
}
