//! The Rhetor client core: everything between the Python facade and the socket.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod activity;
pub mod batch;
pub mod config;
pub mod error;
pub mod h1;
pub mod handover;
pub mod http;
pub mod openai_stream;
pub mod panic_guard;
pub mod protocol;
pub mod ready_chunks;
pub mod retry;
pub mod sse;
pub mod stamped_tcp;
pub mod stream;
pub mod stream_body;
pub mod tls;
pub mod ws;

pub use config::ClientConfig;
pub use error::{CoreError, CoreResult, ErrorKind};
pub use handover::StreamEnd;
pub use http::{CompletionOut, LogSink, RhetorHttp};
pub use ready_chunks::{ChunkView, ReadyChunks};
pub use reqwest::Method;
pub use stream::ChatStream;
