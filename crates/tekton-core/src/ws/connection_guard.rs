//! The connection task under a panic guard. If it panicked unguarded, nothing would ever fail
//! the requests in flight or finish the event queue (the queue's sender lives in `Shared`), so
//! every caller would wait forever.

use std::future::Future;
use std::sync::Arc;

use crate::panic_guard;
use crate::ws::events::WsEvent;
use crate::ws::log::WARNING;
use crate::ws::shared::Shared;

/// Run the connection task; after a panic, fail what is in flight and finish the client.
pub(crate) async fn guarded(shared: Arc<Shared>, task: impl Future<Output = ()>) {
    if let Err(message) = panic_guard::catch(task).await {
        let error = panic_guard::panic_error("the WebSocket connection task", &message);
        shared.config.log(WARNING, &error.message);
        shared.emit(WsEvent::Error(error.clone()));
        shared.lose_link(&error);
        shared.finish();
    }
}
