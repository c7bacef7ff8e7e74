//! Exact token counting for the OpenAI encodings (o200k_base, cl100k_base, p50k_base,
//! r50k_base), truncation at token boundaries, and chat-history optimization.
//!
//! Counts equal Python tiktoken's `len(enc.encode_ordinary(text))`: special-token lookalikes
//! such as `<|endoftext|>` are ordinary text. The engine is a `regex`-crate pretokenizer with
//! tiktoken's look-ahead emulated exactly (see `pretokenize.rs`) and tiktoken's own BPE merge
//! (`bpe.rs`) over ranks taken from `tiktoken-rs`'s embedded rank files. Nothing touches the
//! network; each encoding loads once, lazily.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod ascii;
mod bpe;
mod count;
mod encoding;
mod error;
mod messages;
mod pretokenize;
mod rank_file;
mod truncate;

pub use count::{count, count_many, pieces, token_ends};
pub use encoding::{Encoding, EncodingName};
pub use error::TokenError;
pub use messages::{
    count_specs, cut_message, message_tokens, messages_tokens, optimize, optimize_source, MessageSpec, Plan, Role,
    Shape, Source, SpecSource, REPLY_PRIMING,
};
pub use rank_file::{rank_file, rank_file_sha256_expected};
pub use truncate::{truncate, Keep};
