//! Log lines of the WebSocket client: to `tracing`, and to the caller's sink (the bindings route
//! it to Python's `logging`) when one is set. Only rare events are logged: never per chunk on
//! the happy path, never a token.

use crate::http::LogSink;

pub(crate) const DEBUG: u8 = 10;
pub(crate) const INFO: u8 = 20;
pub(crate) const WARNING: u8 = 30;

pub(crate) fn emit(sink: Option<&LogSink>, level: u8, message: &str) {
    match level {
        l if l <= DEBUG => tracing::debug!("{message}"),
        l if l <= INFO => tracing::info!("{message}"),
        _ => tracing::warn!("{message}"),
    }
    if let Some(sink) = sink {
        sink(level, message);
    }
}
