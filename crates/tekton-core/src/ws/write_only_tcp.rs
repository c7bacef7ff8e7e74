//! The writing half of a socket whose frames are read on the caller's thread
//! (`caller_reader::SocketReader`). It is registered with tokio for writability only, so the
//! frames that arrive for the reader never wake a runtime thread: the connection task wakes only
//! to write, to ping, and when the reader reports the socket's end.

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

pub struct WriteOnlyTcp {
    socket: AsyncFd<TcpStream>,
}

impl WriteOnlyTcp {
    /// `socket` (non-blocking, a clone of the reader's) watched for writability only. Must run
    /// inside the tokio runtime.
    pub fn new(socket: TcpStream) -> io::Result<WriteOnlyTcp> {
        socket.set_nonblocking(true)?;
        // SAFETY: `socket` is an open TcpStream owned by the AsyncFd for its whole life, so its
        // descriptor stays valid and the same until the AsyncFd drops it.
        let socket = unsafe { AsyncFd::register_with_interest(socket, Interest::WRITABLE) }?;
        Ok(WriteOnlyTcp { socket })
    }

    /// End the connection both ways: the reader then reads its end and stops.
    pub fn shut_down(&self) {
        let _ = self.socket.get_ref().shutdown(Shutdown::Both);
    }
}

impl AsyncRead for WriteOnlyTcp {
    /// Never ready: this half does not read (the session never waits on it alone).
    fn poll_read(self: Pin<&mut Self>, _cx: &mut Context<'_>, _buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Poll::Pending
    }
}

impl AsyncWrite for WriteOnlyTcp {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            let mut guard = ready!(this.socket.poll_write_ready(cx))?;
            match guard.try_io(|socket| {
                let mut tcp: &TcpStream = socket.get_ref();
                tcp.write(buf)
            }) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.socket.get_ref().shutdown(Shutdown::Write))
    }
}
