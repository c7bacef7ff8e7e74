//! Multiplexed WebSocket client for Rhetor's /ws (docs/protocol.md, WebSocket section).
//!
//! One socket carries many requests. `handshake` opens and registers it, `session` runs it,
//! `reconnect` brings it back after the server closes it, `router` ties each server frame to its
//! request by `request_id`, and everything that reaches the caller is a `WsEvent`, taken in
//! batches so a burst of chunks crosses into Python once.

mod caller_reader;
mod client;
mod config;
mod connection_guard;
mod event_queue;
mod events;
mod frames;
mod handshake;
mod log;
mod reconnect;
mod router;
mod session;
mod shared;
mod split_socket;
mod write_only_tcp;

pub use caller_reader::{ReadState, SocketReader};
pub use client::WsClient;
pub use config::WsConfig;
pub use event_queue::Taken;
pub use events::WsEvent;
pub use frames::{
    decode_server_frame, encode_cancel, encode_register, kind_for_code, kind_for_error, ChunkFrame, ErrorFrame,
    FrameUsage, MalformedFrame, ResponseFrame, ServerFrame,
};
pub use reconnect::reconnect_delay;
pub use router::{Routed, Router};
