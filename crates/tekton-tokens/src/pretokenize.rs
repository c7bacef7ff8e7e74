//! tiktoken's pre-tokenization, exactly, on the linear-time `regex` crate.
//!
//! tiktoken's patterns end in `\s+(?!\S)|\s` (a look-ahead the `regex` crate lacks). We match
//! plain `\s+` in its place and then apply the look-ahead by hand: a whitespace run found by that
//! last branch that is followed by a non-space gives back its last character (the run is maximal,
//! so "followed by a non-space" is "does not reach the end of the text"). Earlier branches that
//! can also match pure whitespace (`\s*[\r\n]+` in o200k, `\s++$|\s*[\r\n]` in cl100k) come first
//! in the alternation; a whitespace match containing `\r`/`\n` can only come from them in those
//! encodings, so it is never shortened. r50k/p50k have no newline branch: every run shortens.
use regex::Regex;

use crate::ascii::{piece_end, Flavor};
use crate::encoding::EncodingName;

const O200K: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"|\s*[\r\n]+",
    r"|\s+",
);

// The possessive quantifiers of tiktoken's cl100k pattern cannot change a match here (what they
// refuse to give back can never be matched by what follows), so they are dropped.
const CL100K: &str = concat!(
    r"'(?i:[sdmt]|ll|ve|re)",
    r"|[^\r\n\p{L}\p{N}]?\p{L}+",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*",
    r"|\s+$",
    r"|\s*[\r\n]",
    r"|\s+",
);

const R50K: &str = r"'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+";

pub struct Pretokenizer {
    regex: Regex,
    /// The hand-written ASCII matcher (o200k and cl100k), tried before the regex.
    ascii: Option<Flavor>,
    /// Whether a whitespace run holding `\r`/`\n` came from an earlier branch (never shortened).
    newline_branch: bool,
}

impl Pretokenizer {
    pub fn new(name: EncodingName) -> Result<Self, String> {
        let (pat, newline_branch, ascii) = match name {
            EncodingName::O200kBase => (O200K, true, Some(Flavor::O200k)),
            EncodingName::Cl100kBase => (CL100K, true, Some(Flavor::Cl100k)),
            EncodingName::P50kBase | EncodingName::R50kBase => (R50K, false, None),
        };
        let regex = Regex::new(pat).map_err(|e| e.to_string())?;
        Ok(Self { regex, ascii, newline_branch })
    }

    /// Calls `f(offset, piece)` for each piece, in order; the pieces tile `text`.
    #[inline]
    pub fn for_each_piece<F: FnMut(usize, &str)>(&self, text: &str, mut f: F) {
        let mut pos = 0;
        let bytes = text.as_bytes();
        while pos < text.len() {
            if let Some(flavor) = self.ascii {
                if let Some(end) = piece_end(flavor, bytes, pos).filter(|&end| end > pos) {
                    f(pos, &text[pos..end]);
                    pos = end;
                    continue;
                }
            }
            let Some(m) = self.regex.find_at(text, pos) else { break };
            let start = m.start();
            let end = self.lookahead_end(text, start, m.end());
            if start > pos {
                // The patterns match every character, so this never happens; keep the tiling.
                f(pos, &text[pos..start]);
            }
            f(start, &text[start..end]);
            pos = end;
        }
        if pos < text.len() {
            f(pos, &text[pos..]);
        }
    }

    /// End of the piece after emulating `\s+(?!\S)`.
    #[inline]
    fn lookahead_end(&self, text: &str, start: usize, end: usize) -> usize {
        let bytes = text.as_bytes();
        if end >= bytes.len() || end - start < 2 {
            return end;
        }
        // Letters, digits and punctuation start most pieces: not whitespace.
        let first = bytes[start];
        if first > b' ' && first < 0x7f {
            return end;
        }
        let piece = &text[start..end];
        if !piece.chars().all(char::is_whitespace) {
            return end;
        }
        if self.newline_branch && piece.bytes().any(|b| b == b'\r' || b == b'\n') {
            return end;
        }
        match piece.chars().next_back() {
            Some(last) if piece.len() > last.len_utf8() => end - last.len_utf8(),
            _ => end,
        }
    }
}
