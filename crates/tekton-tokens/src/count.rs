//! Counting: one text, many texts in parallel, and token boundaries for truncation.
use rayon::prelude::*;

use crate::bpe::{count_piece, piece_ends};
use crate::encoding::Encoding;

/// Tokens in `text`, equal to tiktoken's `len(enc.encode_ordinary(text))`.
pub fn count(enc: &Encoding, text: &str) -> usize {
    let mut n = 0;
    enc.pre.for_each_piece(text, |_, piece| n += count_piece(piece.as_bytes(), &enc.ranks));
    n
}

/// Counts for many texts, spread over rayon's pool (one task per text; rayon balances).
pub fn count_many<S: AsRef<str> + Sync>(enc: &Encoding, texts: &[S]) -> Vec<usize> {
    // Small batches are not worth waking the pool.
    if texts.len() < 64 {
        return texts.iter().map(|t| count(enc, t.as_ref())).collect();
    }
    texts.par_iter().with_min_len(32).map(|t| count(enc, t.as_ref())).collect()
}

/// Byte offset of the end of each token of `text`, ascending; the last one is `text.len()`.
/// An offset may fall inside a multi-byte character when tiktoken splits it across tokens.
pub fn token_ends(enc: &Encoding, text: &str) -> Vec<usize> {
    let mut out = Vec::with_capacity(text.len() / 3 + 1);
    enc.pre.for_each_piece(text, |offset, piece| {
        piece_ends(piece.as_bytes(), &enc.ranks, offset, &mut out);
    });
    out
}

/// Number of pre-tokenization pieces (for profiling the two halves of counting).
pub fn pieces(enc: &Encoding, text: &str) -> usize {
    let mut n = 0;
    enc.pre.for_each_piece(text, |_, _| n += 1);
    n
}
