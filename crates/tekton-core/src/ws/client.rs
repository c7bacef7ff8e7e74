//! `WsClient`: the handle the bindings hold. Many requests share its one socket; their answers
//! come back as `WsEvent`s, taken by the caller in batches with `next_events`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant};

use crate::error::{CoreError, CoreResult, ErrorKind};
use crate::handover::OnReady;
use crate::ws::caller_reader::SocketReader;
use crate::ws::config::WsConfig;
use crate::ws::connection_guard::guarded;
use crate::ws::event_queue::Taken;
use crate::ws::events::WsEvent;
use crate::ws::handshake::open_socket;
use crate::ws::reconnect::{install, supervise};
use crate::ws::shared::Shared;

pub struct WsClient {
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    connection_task: Mutex<Option<JoinHandle<()>>>,
    connecting: AtomicBool,
}

impl WsClient {
    pub fn new(config: WsConfig) -> WsClient {
        let (shutdown, _) = watch::channel(false);
        WsClient {
            shared: Arc::new(Shared::new(config)),
            shutdown,
            connection_task: Mutex::new(None),
            connecting: AtomicBool::new(false),
        }
    }

    pub fn config(&self) -> &WsConfig {
        &self.shared.config
    }

    /// Open and register the socket, then keep it up in a background task. Must run inside the
    /// tokio runtime. Fails with Authentication (token refused), Timeout (no REGISTER_ACK within
    /// `connect_timeout`) or Connection; a failed connect may be retried.
    pub async fn connect(&self) -> CoreResult<String> {
        if self.shared.is_closed() {
            return Err(CoreError::new(ErrorKind::Connection, "the WebSocket client is closed"));
        }
        if self.connecting.swap(true, Ordering::SeqCst) {
            return Err(CoreError::new(ErrorKind::InvalidRequest, "connect() was already called"));
        }
        let socket = match open_socket(&self.shared.config).await {
            Ok(socket) => socket,
            Err(e) => {
                self.connecting.store(false, Ordering::SeqCst);
                return Err(e);
            }
        };
        let session_id = socket.session_id.clone();
        let Some((writer, outbound)) = install(&self.shared, socket) else {
            return Err(CoreError::new(ErrorKind::Connection, "the WebSocket client was closed while connecting"));
        };
        let task = tokio::spawn(guarded(
            Arc::clone(&self.shared),
            supervise(Arc::clone(&self.shared), writer, outbound, self.shutdown.subscribe()),
        ));
        *self.lock_task() = Some(task);
        Ok(session_id)
    }

    /// Send one request frame (`frame` is its JSON text). Waits up to `connect_timeout` for a
    /// socket when none is up (during a reconnect); fails with Connection after that.
    pub async fn send(&self, request_id: &str, frame: &str) -> CoreResult<()> {
        let deadline = Instant::now() + self.shared.config.connect_timeout;
        let mut link = self.shared.watch_link();
        loop {
            link.borrow_and_update();
            if self.shared.try_send(request_id, frame)? {
                return Ok(());
            }
            match timeout_at(deadline, link.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => {
                    return Err(CoreError::new(
                        ErrorKind::Connection,
                        format!(
                            "not connected to Rhetor at {} (no socket within {:.1}s)",
                            self.shared.config.url,
                            self.shared.config.connect_timeout.as_secs_f64()
                        ),
                    )
                    .with_request_id(request_id))
                }
            }
        }
    }

    /// `send` without waiting: `Ok(false)` when no socket is up now (then `send` waits for one).
    pub fn try_send(&self, request_id: &str, frame: &str) -> CoreResult<bool> {
        self.shared.try_send(request_id, frame)
    }

    /// Cancel a request in flight: CANCEL goes to the server and a `Cancelled` event ends the
    /// request for the caller at once. False when the request was not in flight.
    /// The current socket's reader, once, when the caller reads the sockets
    /// (`WsConfig::read_on_caller_thread`): watch its `fd` and call `read_ready` when readable.
    /// Each reconnect offers a new one before its `Connected` event.
    pub fn take_reader(&self) -> Option<SocketReader> {
        self.shared.take_reader()
    }

    pub fn cancel(&self, request_id: &str) -> bool {
        self.shared.cancel(request_id)
    }

    /// Every event ready now (at least one, at most `max`), waiting for the first. None once the
    /// client is finished. For one consumer at a time.
    pub async fn next_events(&self, max: usize) -> Option<Vec<WsEvent>> {
        let mut batch = Vec::new();
        loop {
            match self.shared.events.take(&mut batch, max) {
                Taken::Events => return Some(batch),
                Taken::Finished => return None,
                Taken::Empty => self.shared.events.wait().await,
            }
        }
    }

    /// The events ready now (at most `max`) into `out`; when none is, `on_ready` is called once,
    /// on the connection task's thread, as soon as one is (a consumer outside the runtime waits
    /// without a task). It replaces a callback registered earlier.
    pub fn take_events_or_notify(&self, out: &mut Vec<WsEvent>, max: usize, on_ready: OnReady) -> Taken {
        self.shared.events.take_or_notify(out, max, on_ready)
    }

    /// The events ready now (at most `max`) into `out`, without waiting.
    pub fn take_events(&self, out: &mut Vec<WsEvent>, max: usize) -> Taken {
        self.shared.events.take(out, max)
    }

    /// Close the socket (requests in flight fail with Connection) and finish the event stream.
    /// Idempotent.
    pub async fn close(&self) {
        self.shared.lock().closed = true;
        self.shutdown.send_replace(true);
        let task = self.lock_task().take();
        if let Some(task) = task {
            let deadline = Instant::now() + Duration::from_secs(5);
            if timeout_at(deadline, task).await.is_err() {
                self.shared.config.log(crate::ws::log::WARNING, "WebSocket connection task did not stop within 5s");
            }
        }
        self.shared.finish();
    }

    pub fn is_connected(&self) -> bool {
        self.shared.lock().outbound.is_some()
    }

    pub fn session_id(&self) -> Option<String> {
        self.shared.lock().session_id.clone()
    }

    /// Sockets registered so far: 1, plus one per reconnect.
    pub fn connection_count(&self) -> u64 {
        self.shared.lock().connections
    }

    pub fn in_flight(&self) -> usize {
        self.shared.lock().router.len()
    }

    /// Test hook (not API): a client with request `request_id` in flight on a pretend socket
    /// whose connection task panics at once, to check that the panic reaches the caller as
    /// errors and a finished event queue. Must run inside the tokio runtime. Only in test builds
    /// (the `test-hooks` feature).
    #[cfg(any(test, feature = "test-hooks"))]
    #[doc(hidden)]
    #[allow(clippy::panic)]
    pub fn with_panicking_connection(config: WsConfig, request_id: &str) -> CoreResult<WsClient> {
        let client = WsClient::new(config);
        let Some(outbound) = client.shared.install_link("test-session", "{}", None) else {
            return Err(CoreError::new(ErrorKind::Other, "cannot install the test link"));
        };
        if !client.shared.try_send(request_id, "{}")? {
            return Err(CoreError::new(ErrorKind::Other, "cannot register the test request"));
        }
        let task = tokio::spawn(guarded(Arc::clone(&client.shared), async move {
            let _keep = outbound;
            tokio::task::yield_now().await;
            panic!("deliberate test panic in the WebSocket connection task");
        }));
        *client.lock_task() = Some(task);
        Ok(client)
    }

    fn lock_task(&self) -> std::sync::MutexGuard<'_, Option<JoinHandle<()>>> {
        self.connection_task.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for WsClient {
    fn drop(&mut self) {
        // Dropped without close(): stop the connection task rather than leak the socket.
        self.shutdown.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::events::WsEvent;

    #[tokio::test]
    async fn a_panicking_connection_task_fails_requests_and_finishes() {
        let client = WsClient::with_panicking_connection(WsConfig::new("ws://127.0.0.1:1/ws", "c"), "r1").unwrap();
        let mut seen = Vec::new();
        let guard = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(batch) = client.next_events(64).await {
                seen.extend(batch);
            }
        });
        guard.await.expect("the event queue never finished: a panic hung the client");
        let failed = seen.iter().find_map(|e| match e {
            WsEvent::RequestFailed { request_id, error } if request_id == "r1" => Some(error.clone()),
            _ => None,
        });
        let error = failed.expect("request r1 was never failed");
        assert_eq!(error.kind, ErrorKind::Connection);
        assert!(error.message.contains("panicked"), "{}", error.message);
        assert!(seen.iter().any(|e| matches!(e, WsEvent::Error(e) if e.kind == ErrorKind::Other)));
        assert!(client.send("r2", "{}").await.is_err());
    }
}
