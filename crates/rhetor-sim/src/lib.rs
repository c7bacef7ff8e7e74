//! rhetor-sim: a Rhetor protocol v1 server (HTTP/1.1 + SSE + WebSocket) on loopback, with
//! deterministic answers, fault injection and request recording, for tests and benchmarks.
//!
//! ```no_run
//! let sim = rhetor_sim::Simulator::start(rhetor_sim::SimConfig::default())?;
//! println!("{}", sim.url()); // http://127.0.0.1:PORT
//! # Ok::<(), rhetor_sim::SimError>(())
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod answer;
mod auth;
mod body;
mod chat;
mod clock;
mod config;
mod cors;
mod error;
mod faults;
mod http_routes;
mod lateness;
mod openai;
mod pacing;
mod providers;
mod recorder;
mod request;
mod server;
mod sse_stream;
mod state;
mod static_files;
mod tls;
mod ws;

pub use answer::{answer_for, answer_text, split_chunks, target_length, ANSWER_PREFIX};
pub use config::{
    FailBody, KnobError, KnobValue, Knobs, LineEnding, SimConfig, DEFAULT_CHUNK_SIZE, KNOB_NAMES, MAX_CHUNKS,
    MAX_LENGTH,
};
pub use error::SimError;
pub use providers::{DEFAULT_MODEL, DEFAULT_PROVIDER};
pub use recorder::RecordedRequest;
pub use server::Simulator;
