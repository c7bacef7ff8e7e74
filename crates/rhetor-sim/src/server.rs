//! The simulator process-within-a-process: its own tokio runtime, the accept loop, shutdown.

use crate::config::SimConfig;
use crate::error::SimError;
use crate::http_routes;
use crate::recorder::RecordedRequest;
use crate::state::State;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

/// One of `max_connections`: held by a connection's task, and by its WebSocket session after
/// an upgrade.
pub type Slot = Arc<OwnedSemaphorePermit>;

/// What a connection over the cap gets before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 80\r\n\r\n{\"error\": \"the simulator has too many open connections\", \"code\": \"unavailable\"}\n";

/// A running Rhetor simulator. Stops on `shutdown()` or drop.
#[derive(Debug)]
pub struct Simulator {
    addr: SocketAddr,
    /// Serving HTTPS / wss.
    tls: bool,
    state: Arc<State>,
    runtime: Option<Runtime>,
    stop: watch::Sender<bool>,
}

impl Simulator {
    /// Binds the listener (so `addr()` is usable at once) and starts serving on a dedicated
    /// runtime: the simulator never competes with the caller's runtime or holds the GIL.
    pub fn start(mut config: SimConfig) -> Result<Simulator, SimError> {
        if let Some(prefix) = config.path_prefix.take() {
            let trimmed = prefix.trim().trim_end_matches('/');
            if !trimmed.is_empty() {
                if !trimmed.starts_with('/') {
                    return Err(SimError::Config(format!("path_prefix must start with '/': {prefix:?}")));
                }
                config.path_prefix = Some(trimmed.to_string());
            }
        }
        if config.max_connections == 0 {
            return Err(SimError::Config("max_connections must be at least 1".to_string()));
        }
        if config.header_read_timeout.is_zero() || config.idle_timeout.is_zero() {
            return Err(SimError::Config("header_read_timeout and idle_timeout must be positive".to_string()));
        }
        let acceptor = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key)?),
            (None, None) => None,
            _ => return Err(SimError::Config("tls_cert and tls_key go together".to_string())),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads.max(1))
            .thread_name("rhetor-sim")
            .enable_all()
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            listen(&config.host, config.port)?
        };
        let addr = listener.local_addr()?;
        let state = Arc::new(State::new(config));
        let (stop, stopped) = watch::channel(false);
        let tls = acceptor.is_some();
        runtime.spawn(accept_loop(listener, acceptor, state.clone(), stopped));
        Ok(Simulator { addr, tls, state, runtime: Some(runtime), stop })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS), without the path prefix (routes answer
    /// with and without it).
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("{}://{}/ws", if self.tls { "wss" } else { "ws" }, self.addr)
    }

    /// Recorded requests and frames, credentials redacted.
    pub fn records(&self) -> Vec<RecordedRequest> {
        self.state.recorder.snapshot(false)
    }

    /// Recorded requests and frames with credentials as sent (for auth tests).
    pub fn records_revealed(&self) -> Vec<RecordedRequest> {
        self.state.recorder.snapshot(true)
    }

    pub fn connections_accepted(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Producer tasks still running (streams, trickled bodies, WebSocket sessions): tests use it
    /// to check that nothing outlives a client that went away.
    pub fn active_tasks(&self) -> usize {
        self.state.active_tasks()
    }

    /// Forgets recorded requests and the `fail_times` attempt counters.
    pub fn clear_records(&self) {
        self.state.clear();
    }

    pub fn is_running(&self) -> bool {
        self.runtime.is_some()
    }

    /// Stops serving and closes the listener and every connection. Never blocks for long, and is
    /// safe to call from inside another tokio runtime.
    pub fn shutdown(&mut self) {
        let _ = self.stop.send(true);
        if let Some(runtime) = self.runtime.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                runtime.shutdown_background(); // blocking here would panic inside a runtime
            } else {
                runtime.shutdown_timeout(Duration::from_secs(2));
            }
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    state: Arc<State>,
    mut stopped: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(state.config.max_connections));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("simulator accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Over the cap: say so if the socket takes it at once, then close. Never wait here.
            if acceptor.is_none() {
                let _ = stream.try_write(BUSY);
            }
            tracing::debug!("simulator at max_connections: connection refused");
            continue;
        };
        let slot: Slot = Arc::new(slot);
        let _ = stream.set_nodelay(true);
        let connection_id = state.connections.fetch_add(1, Ordering::SeqCst) + 1;
        let state = state.clone();
        let stopped = stopped.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                None => serve(stream, state, connection_id, slot, stopped).await,
                Some(acceptor) => {
                    // The handshake runs in the connection's task, so a slow client cannot
                    // hold up the accept loop.
                    let mut stop = stopped.clone();
                    let handshake = tokio::select! {
                        r = tokio::time::timeout(state.config.header_read_timeout, acceptor.accept(stream)) => r,
                        _ = stop.changed() => return,
                    };
                    match handshake {
                        Ok(Ok(tls)) => serve(tls, state, connection_id, slot, stopped).await,
                        Ok(Err(e)) => tracing::debug!("simulator TLS handshake {connection_id} failed: {e}"),
                        Err(_) => tracing::debug!("simulator TLS handshake {connection_id} timed out"),
                    }
                }
            }
        });
    }
}

/// Serve one connection (plain TCP or TLS) until it ends or the simulator stops.
async fn serve<S>(io: S, state: Arc<State>, connection_id: u64, slot: Slot, mut stopped: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let header_read_timeout = state.config.header_read_timeout;
    let service = service_fn(move |request| http_routes::handle(state.clone(), connection_id, slot.clone(), request));
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                tracing::debug!("simulator connection {connection_id} ended: {e}");
            }
        }
        _ = stopped.changed() => {}
    }
}

/// How many finished handshakes may wait for `accept` (the kernel caps it at `somaxconn`). A load
/// test opens a thousand connections at once; std's 128 made the kernel drop handshakes past it,
/// and each dropped one cost its stream a second (TCP's first retransmission). uvicorn uses 2048.
const LISTEN_BACKLOG: u32 = 4096;

/// A listening socket on `host:port` (its first address), registered with the current runtime.
fn listen(host: &str, port: u16) -> std::io::Result<TcpListener> {
    use std::net::ToSocketAddrs;
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{host} has no address")))?;
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}
