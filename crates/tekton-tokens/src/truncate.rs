//! Cutting text at token boundaries so that the result's own count stays within a limit.
//!
//! Guarantee: `count(result) <= max_tokens`, always; `result == text` when the text already
//! fits. Otherwise the result is a prefix (`Start`), a suffix (`End`) or a prefix and a suffix
//! (`Both`) of `text`, cut at token boundaries moved to the nearest character boundary inside the
//! kept side, joined with `marker`; the marker is left out when it alone does not fit. Re-encoding
//! a cut string can give a different count than the tokens it was cut from (a merge that spanned
//! the cut, or one with the marker), so every candidate is re-counted and the cut moves inward one
//! token at a time until it fits.
use crate::count::{count, token_ends};
use crate::encoding::Encoding;
use crate::error::TokenError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Start,
    End,
    Both,
}

impl Keep {
    pub fn parse(s: &str) -> Result<Self, TokenError> {
        match s {
            "start" => Ok(Self::Start),
            "end" => Ok(Self::End),
            "both" => Ok(Self::Both),
            other => Err(TokenError::InvalidArgument(format!("keep must be 'start', 'end' or 'both', not {other:?}"))),
        }
    }
}

pub fn truncate(enc: &Encoding, text: &str, max_tokens: usize, keep: Keep, marker: &str) -> String {
    if max_tokens == 0 || text.is_empty() {
        return String::new();
    }
    let ends = token_ends(enc, text);
    if ends.len() <= max_tokens {
        return text.to_owned();
    }
    let marker = if count(enc, marker) < max_tokens { marker } else { "" };
    let budget = max_tokens - count(enc, marker);
    // Byte offset where the first `k` tokens end (at a character boundary, not after it).
    let head = |k: usize| -> usize {
        if k == 0 {
            return 0;
        }
        floor_char_boundary(text, ends[k - 1])
    };
    // Byte offset where the last `k` tokens start (at a character boundary, not before it).
    let tail = |k: usize| -> usize {
        if k == 0 {
            return text.len();
        }
        let i = ends.len() - k;
        if i == 0 {
            0
        } else {
            ceil_char_boundary(text, ends[i - 1])
        }
    };
    let build = |h: usize, t: usize| -> String {
        let (a, b) = match keep {
            Keep::Start => (head(h), text.len()),
            Keep::End => (0, tail(t)),
            Keep::Both => (head(h), tail(t).max(head(h))),
        };
        let mut s = String::with_capacity(a + marker.len() + text.len() - b);
        s.push_str(&text[..a]);
        s.push_str(marker);
        s.push_str(&text[b..]);
        s
    };
    let (mut h, mut t) = match keep {
        Keep::Start => (budget, 0),
        Keep::End => (0, budget),
        Keep::Both => (budget.div_ceil(2), budget / 2),
    };
    loop {
        let candidate = build(h, t);
        if count(enc, &candidate) <= max_tokens {
            return candidate;
        }
        // Shrink the larger side; at (0, 0) the candidate is the marker, which fits.
        if h == 0 && t == 0 {
            return String::new();
        }
        if h >= t {
            h -= 1;
        } else {
            t -= 1;
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}
