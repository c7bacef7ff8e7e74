//! A hand-written matcher for the common case of ASCII text, for the o200k and cl100k patterns.
//!
//! It reproduces the regex's leftmost-first choice at one position, branch by branch, but only
//! while every byte it must look at is ASCII: whenever a decision depends on a non-ASCII byte
//! (which could be a letter, a mark, a digit or a space) it answers `None` and the caller asks the
//! regex instead. So it is exact by construction on what it accepts; the differential tests check
//! both paths against tiktoken.

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    O200k,
    Cl100k,
}

#[inline]
fn upper(b: u8) -> bool {
    b.is_ascii_uppercase()
}
#[inline]
fn lower(b: u8) -> bool {
    b.is_ascii_lowercase()
}
#[inline]
fn letter(b: u8) -> bool {
    b.is_ascii_alphabetic()
}
#[inline]
fn digit(b: u8) -> bool {
    b.is_ascii_digit()
}
/// `\s` (Unicode White_Space) restricted to ASCII: \t \n \v \f \r and space.
#[inline]
fn space(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | b' ')
}
#[inline]
fn newline(b: u8) -> bool {
    b == b'\r' || b == b'\n'
}
/// `[^\s\p{L}\p{N}]` on ASCII.
#[inline]
fn other(b: u8) -> bool {
    b < 0x80 && !space(b) && !letter(b) && !digit(b)
}

/// What the byte at `i` is, for a decision: `None` when it is not ASCII (must ask the regex),
/// `Some(None)` at the end of the text.
#[inline]
fn at(s: &[u8], i: usize) -> Option<Option<u8>> {
    match s.get(i) {
        None => Some(None),
        Some(&b) if b < 0x80 => Some(Some(b)),
        Some(_) => None,
    }
}

/// End of the piece starting at `pos`, or `None` when the regex must decide.
#[inline]
pub fn piece_end(flavor: Flavor, s: &[u8], pos: usize) -> Option<usize> {
    let b = at(s, pos)??;
    match flavor {
        Flavor::O200k => o200k(s, pos, b),
        Flavor::Cl100k => cl100k(s, pos, b),
    }
}

/// Extends `i` while `f` holds on ASCII bytes; `None` if it stops on a non-ASCII byte.
#[inline]
fn run(s: &[u8], mut i: usize, f: impl Fn(u8) -> bool) -> Option<usize> {
    loop {
        match at(s, i)? {
            Some(b) if f(b) => i += 1,
            _ => return Some(i),
        }
    }
}

/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)?` at `i` (o200k's suffix).
#[inline]
fn o200k_contraction(s: &[u8], i: usize) -> Option<usize> {
    if at(s, i)? != Some(b'\'') {
        return Some(i);
    }
    let c1 = at(s, i + 1)?.map(|b| b.to_ascii_lowercase());
    match c1 {
        Some(b's' | b't' | b'm' | b'd') => Some(i + 2),
        Some(b'r' | b'v' | b'l') => {
            let c2 = at(s, i + 2)?.map(|b| b.to_ascii_lowercase());
            match (c1, c2) {
                (Some(b'r'), Some(b'e')) | (Some(b'v'), Some(b'e')) | (Some(b'l'), Some(b'l')) => Some(i + 3),
                _ => Some(i),
            }
        }
        _ => Some(i),
    }
}

/// Whitespace branches at `pos` (a space byte). `newline_branch` holds for both flavors;
/// cl100k also has `\s++$` first, which gives the same piece as the rest at the end of text
/// except when the run holds a newline, handled by `to_end_first`.
#[inline]
fn whitespace(s: &[u8], pos: usize, to_end_first: bool) -> Option<usize> {
    let end = run(s, pos, space)?;
    if to_end_first && end == s.len() {
        return Some(end);
    }
    if let Some(last_nl) = s[pos..end].iter().rposition(|&b| newline(b)) {
        // `\s*[\r\n]+` / `\s*[\r\n]`: up to and including the run's last newline.
        return Some(pos + last_nl + 1);
    }
    if end == s.len() || end - pos == 1 {
        Some(end)
    } else {
        Some(end - 1) // `\s+(?!\S)` gives back the space before the non-space
    }
}

fn o200k(s: &[u8], pos: usize, b: u8) -> Option<usize> {
    // Branches 1-2: [^\r\n\p{L}\p{N}]? then letters.
    let start_letters = if letter(b) {
        Some(pos)
    } else if !newline(b) && !digit(b) {
        match at(s, pos + 1)? {
            Some(c) if letter(c) => Some(pos + 1),
            _ => None,
        }
    } else {
        None
    };
    if let Some(i) = start_letters {
        let uppers_end = run(s, i, upper)?;
        let lowers_end = run(s, uppers_end, lower)?;
        // Branch 1 needs a lowercase letter; else branch 2 (uppercase run) applies.
        let letters_end = if lowers_end > uppers_end { lowers_end } else { uppers_end };
        return o200k_contraction(s, letters_end);
    }
    if digit(b) {
        return digits(s, pos);
    }
    // Branch 4: ` ?[^\s\p{L}\p{N}]+[\r\n/]*`.
    if let Some(end) = punctuation(s, pos, b, true)? {
        return Some(end);
    }
    whitespace(s, pos, false)
}

fn cl100k(s: &[u8], pos: usize, b: u8) -> Option<usize> {
    // Branch 1: '(?i:[sdmt]|ll|ve|re)
    if b == b'\'' {
        let c1 = at(s, pos + 1)?.map(|c| c.to_ascii_lowercase());
        match c1 {
            Some(b's' | b'd' | b'm' | b't') => return Some(pos + 2),
            Some(b'l' | b'v' | b'r') => {
                let c2 = at(s, pos + 2)?.map(|c| c.to_ascii_lowercase());
                if matches!((c1, c2), (Some(b'l'), Some(b'l')) | (Some(b'v'), Some(b'e')) | (Some(b'r'), Some(b'e'))) {
                    return Some(pos + 3);
                }
            }
            _ => {}
        }
    }
    // Branch 2: [^\r\n\p{L}\p{N}]?\p{L}+
    if letter(b) {
        return run(s, pos, letter);
    }
    if !newline(b) && !digit(b) {
        if let Some(c) = at(s, pos + 1)? {
            if letter(c) {
                return run(s, pos + 1, letter);
            }
        }
    }
    if digit(b) {
        return digits(s, pos);
    }
    // Branch 4: ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    if let Some(end) = punctuation(s, pos, b, false)? {
        return Some(end);
    }
    whitespace(s, pos, true)
}

/// The punctuation branch both encodings share: ` ?[^\s\p{L}\p{N}]+` then newlines (and, for
/// o200k, slashes). `Some(None)`: the branch does not match here.
#[inline]
fn punctuation(s: &[u8], pos: usize, b: u8, slashes: bool) -> Option<Option<usize>> {
    let start = if other(b) {
        pos
    } else if b == b' ' {
        match at(s, pos + 1)? {
            Some(c) if other(c) => pos + 1,
            _ => return Some(None),
        }
    } else {
        return Some(None);
    };
    let end = run(s, start, other)?;
    Some(Some(end + s[end..].iter().take_while(|&&c| newline(c) || (slashes && c == b'/')).count()))
}

/// `\p{N}{1,3}`: a shorter ASCII run followed by non-ASCII might continue with another digit.
#[inline]
fn digits(s: &[u8], pos: usize) -> Option<usize> {
    let mut i = pos;
    while i < pos + 3 {
        match at(s, i) {
            Some(Some(c)) if digit(c) => i += 1,
            Some(_) => return Some(i),
            None => return None,
        }
    }
    Some(i)
}
