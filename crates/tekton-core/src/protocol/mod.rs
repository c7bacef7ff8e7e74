//! What goes over the wire: request bodies and answer shapes. `v1` is PROTOCOL.md's canonical
//! protocol; the older real-server dialects are translated to and from the same types.

pub mod v1;

pub use v1::{ChatRequest, Completion, StreamEvent, Text, Usage};
