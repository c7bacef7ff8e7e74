//! What goes over the wire: request bodies and answer shapes of the canonical protocol v1
//! (docs/protocol.md). Only v1 goes through these types: the older real-server dialects (gen_a,
//! gen_b) are translated in Python, in `python/tekton_llm_client/dialects/`, on top of the
//! backends' `request_json` / `get_json`.

pub mod v1;

pub use v1::{ChatRequest, Completion, StreamEvent, Text, Usage};
