//! Taking an upgraded ws:// socket apart for `WsConfig::read_on_caller_thread`: the caller's
//! reader (tungstenite's decoder over the socket, `caller_reader`) and the runtime's writer
//! (`write_only_tcp`). Done right after the HTTP upgrade, which reads the socket only up to the
//! end of the response's head (`HeadOnly`): frames the server sends at once (an ERROR for a
//! refused token, before our REGISTER) stay in the socket for the reader. REGISTER_ACK is then
//! read through the reader, whose buffer keeps whatever followed it.

use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_util::SinkExt;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{Message, WebSocket};
use tokio_tungstenite::WebSocketStream;

use crate::error::{CoreError, CoreResult, ErrorKind};
use crate::ws::caller_reader::StampedReads;
use crate::ws::config::WsConfig;
use crate::ws::handshake::{socket_config, RegistrationIo};
use crate::ws::write_only_tcp::WriteOnlyTcp;

/// A TCP stream for the HTTP upgrade that reads nothing past the end of the response's head
/// (the bytes are peeked first, then only the head's are taken).
pub(crate) struct HeadOnly {
    tcp: tokio::net::TcpStream,
    /// How much of "\r\n\r\n" the bytes taken so far end with (4: the head is complete).
    matched: usize,
}

impl HeadOnly {
    pub fn new(tcp: tokio::net::TcpStream) -> HeadOnly {
        HeadOnly { tcp, matched: 0 }
    }

    pub fn into_inner(self) -> tokio::net::TcpStream {
        self.tcp
    }
}

const HEAD_END: &[u8] = b"\r\n\r\n";

impl AsyncRead for HeadOnly {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.matched == HEAD_END.len() {
            return Poll::Ready(Ok(())); // the head is read: an end of input, for the upgrade
        }
        let mut peeked = ReadBuf::new(buf.initialize_unfilled());
        ready!(this.tcp.poll_peek(cx, &mut peeked))?;
        let mut take = 0;
        for &byte in peeked.filled() {
            take += 1;
            this.matched = if byte == HEAD_END[this.matched] {
                this.matched + 1
            } else if byte == HEAD_END[0] {
                1
            } else {
                0
            };
            if this.matched == HEAD_END.len() {
                break;
            }
        }
        let unfilled = buf.initialize_unfilled();
        let n = this.tcp.try_read(&mut unfilled[..take])?; // peeked: there, without waiting
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for HeadOnly {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// The upgraded socket (`HeadOnly`: nothing past the head read) as the caller's reader and the
/// runtime's writer.
pub(crate) async fn split_for_caller(
    config: &WsConfig,
    tcp: tokio::net::TcpStream,
) -> CoreResult<(WebSocketStream<WriteOnlyTcp>, WebSocket<StampedReads>)> {
    let split = || -> io::Result<_> {
        let _ = tekton_clock::receive_stamp::enable(tcp.as_raw_fd());
        let socket = tcp.into_std()?;
        let writer = WriteOnlyTcp::new(socket.try_clone()?)?;
        Ok((socket, writer))
    };
    let (socket, writer) = split()
        .map_err(|e| CoreError::new(ErrorKind::Connection, format!("cannot set up the WebSocket's reader: {e}")))?;
    let ws_config = socket_config(config);
    let reader = WebSocket::from_raw_socket(StampedReads::new(socket), Role::Client, Some(ws_config));
    let writer = WebSocketStream::from_raw_socket(writer, Role::Client, Some(ws_config)).await;
    Ok((writer, reader))
}

/// REGISTER through the writer, its answer through the reader, waiting for the socket with a
/// registration for readability that ends with this value (after it, the caller waits).
pub(crate) struct SplitRegistration<'a> {
    writer: &'a mut WebSocketStream<WriteOnlyTcp>,
    reader: &'a mut WebSocket<StampedReads>,
    readable: AsyncFd<TcpStream>,
}

impl<'a> SplitRegistration<'a> {
    pub fn new(
        writer: &'a mut WebSocketStream<WriteOnlyTcp>,
        reader: &'a mut WebSocket<StampedReads>,
    ) -> CoreResult<SplitRegistration<'a>> {
        let watch = || -> io::Result<_> {
            let socket = reader.get_ref().socket().try_clone()?;
            // SAFETY: `socket` is an open TcpStream owned by the AsyncFd for its whole life, so
            // its descriptor stays valid and the same until the AsyncFd drops it.
            Ok(unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }?)
        };
        let readable =
            watch().map_err(|e| CoreError::new(ErrorKind::Connection, format!("cannot watch the WebSocket: {e}")))?;
        Ok(SplitRegistration { writer, reader, readable })
    }
}

impl RegistrationIo for SplitRegistration<'_> {
    async fn send_message(&mut self, message: Message) -> Result<(), WsError> {
        self.writer.send(message).await
    }

    async fn next_message(&mut self) -> Option<Result<Message, WsError>> {
        loop {
            match self.reader.read() {
                // The reader's own answer to a ping goes nowhere: the writer sends it.
                Ok(Message::Ping(payload)) => {
                    if let Err(e) = self.writer.send(Message::Pong(payload)).await {
                        return Some(Err(e));
                    }
                }
                Ok(message) => return Some(Ok(message)),
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => match self.readable.readable().await {
                    Ok(mut guard) => guard.clear_ready(),
                    Err(e) => return Some(Err(WsError::Io(e))),
                },
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use tokio::io::AsyncReadExt;

    use super::HeadOnly;

    #[tokio::test]
    async fn reads_the_head_and_leaves_what_follows_in_the_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (mut server, _) = listener.accept().unwrap();
        // The head's end split over two writes, a frame right behind it in the second.
        server.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r").unwrap();
        let mut head = HeadOnly::new(tcp);
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        let first = head.read(&mut buf).await.unwrap();
        got.extend_from_slice(&buf[..first]);
        server.write_all(b"\n\x81\x05hello").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        loop {
            let n = head.read(&mut buf).await.unwrap();
            if n == 0 {
                break; // the head is complete: nothing more through HeadOnly
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
        let mut rest = [0u8; 7];
        head.into_inner().read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"\x81\x05hello");
    }
}
