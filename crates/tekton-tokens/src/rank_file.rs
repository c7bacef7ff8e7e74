//! The official `.tiktoken` rank files, rebuilt byte for byte from the embedded ranks, so that
//! Python tiktoken (the pure backend) can load them from its cache without a network.
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::encoding::{Encoding, EncodingName};
use crate::error::TokenError;

/// The file tiktoken downloads for `name` (`base64(token) rank\n` per line, by rank).
pub fn rank_file(name: &str) -> Result<Vec<u8>, TokenError> {
    let enc = Encoding::get(name)?;
    let mut out = Vec::with_capacity(enc.by_rank.len() * 16);
    for (rank, bytes) in &enc.by_rank {
        out.extend_from_slice(STANDARD.encode(bytes).as_bytes());
        out.push(b' ');
        out.extend_from_slice(rank.to_string().as_bytes());
        out.push(b'\n');
    }
    Ok(out)
}

/// The sha256 tiktoken (tiktoken_ext/openai_public.py) expects for each file.
pub fn rank_file_sha256_expected(name: EncodingName) -> &'static str {
    match name {
        EncodingName::O200kBase => "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        EncodingName::Cl100kBase => "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        EncodingName::P50kBase => "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
        EncodingName::R50kBase => "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    }
}
