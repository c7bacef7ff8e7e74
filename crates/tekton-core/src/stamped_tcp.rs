//! A TCP stream read with the kernel's receive time (`tekton_clock::receive_stamp`), under our
//! HTTP/1.1 and the WebSocket alike: a chunk's or frame's `received_ns` is when its bytes reached
//! the socket, not when the I/O thread (busy, or holding its wake-ups back to coalesce them) got
//! to them.

use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::MaybeTlsStream;

pub struct StampedTcp {
    stream: TcpStream,
    /// The kernel's receive time of the last read (monotonic ns; the read's own time when the
    /// kernel gave none).
    received_ns: u64,
}

impl StampedTcp {
    /// `stream` with receive stamping asked for; a kernel that refuses it leaves reads timed by
    /// the reader.
    pub fn new(stream: TcpStream) -> StampedTcp {
        let _ = tekton_clock::receive_stamp::enable(stream.as_raw_fd());
        StampedTcp { stream, received_ns: 0 }
    }

    /// When the bytes of the last read reached the socket (monotonic ns; 0 before any read).
    pub fn received_ns(&self) -> u64 {
        self.received_ns
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.stream
    }

    /// Reads once, now, whatever has arrived, without waiting: `WouldBlock` when nothing has.
    pub fn read_now(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (n, stamp) = tekton_clock::receive_stamp::recv(self.stream.as_raw_fd(), buf)?;
        self.received_ns = stamp.unwrap_or_else(tekton_clock::monotonic_ns);
        Ok(n)
    }
}

/// When the bytes of the last read on `stream` reached the socket, under TLS or not.
pub fn last_received_ns(stream: &MaybeTlsStream<StampedTcp>) -> u64 {
    let tcp = match stream {
        MaybeTlsStream::Plain(tcp) => tcp,
        MaybeTlsStream::Rustls(tls) => tls.get_ref().0,
        _ => return tekton_clock::monotonic_ns(),
    };
    match tcp.received_ns {
        0 => tekton_clock::monotonic_ns(),
        ns => ns,
    }
}

impl AsyncRead for StampedTcp {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let fd = this.stream.as_raw_fd();
        loop {
            ready!(this.stream.poll_read_ready(cx))?;
            // Free when the caller's buffer is initialised already (tungstenite's is).
            let unfilled = buf.initialize_unfilled();
            match this.stream.try_io(Interest::READABLE, || tekton_clock::receive_stamp::recv(fd, unfilled)) {
                Ok((n, stamp)) => {
                    this.received_ns = stamp.unwrap_or_else(tekton_clock::monotonic_ns);
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for StampedTcp {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use tokio::io::AsyncReadExt;

    use super::StampedTcp;

    #[tokio::test]
    async fn a_read_carries_when_its_bytes_reached_the_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let mut reader = StampedTcp::new(tcp);
        let mut buf = [0u8; 64];
        // The kernel switches stamping on in deferred work: until then a read is timed when read.
        let mut switched_on = false;
        for _ in 0..500 {
            server.write_all(b"x").unwrap();
            std::thread::sleep(Duration::from_millis(5));
            let read_at = tekton_clock::monotonic_ns();
            assert_eq!(reader.read(&mut buf).await.unwrap(), 1);
            if reader.received_ns + 2_000_000 < read_at {
                switched_on = true;
                break;
            }
        }
        assert!(switched_on, "no read was ever stamped before it was made");
        let written = tekton_clock::monotonic_ns();
        server.write_all(b"hello").unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let n = reader.read(&mut buf).await.unwrap();
        let read_at = tekton_clock::monotonic_ns();
        assert_eq!(&buf[..n], b"hello");
        let stamp = reader.received_ns;
        // Stamped on arrival, not 30 ms later when read.
        assert!(
            stamp >= written.saturating_sub(1_000_000) && stamp + 20_000_000 < read_at,
            "{written} {stamp} {read_at}"
        );
    }
}
