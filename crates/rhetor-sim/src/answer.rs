//! The deterministic answer text: a pure function of the prompt, the system prompt and the
//! length knobs, so a test can compute exactly what the simulator will say.

use crate::config::Knobs;

pub const ANSWER_PREFIX: &str = "Simulated answer to: ";

/// Filler vocabulary for `length`; plain ASCII so lengths are easy to reason about.
const WORDS: &[&str] = &[
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
    "the",
    "router",
    "answers",
    "every",
    "request",
    "with",
    "simulated",
    "tokens",
    "streaming",
    "chunks",
    "arrive",
    "in",
    "order",
    "model",
    "provider",
    "context",
    "budget",
    "latency",
    "stable",
    "seeded",
    "words",
    "and",
];

/// FNV-1a: a stable hash (std's hasher may change between Rust releases).
fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in *part {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash ^= 0xff; // separator so ("ab", "c") and ("a", "bc") differ
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// splitmix64: tiny, stable pseudo-random sequence.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Cuts `text` to its first `chars` unicode scalar values.
fn truncate_chars(text: &mut String, chars: usize) {
    if let Some((byte, _)) = text.char_indices().nth(chars) {
        text.truncate(byte);
    }
}

/// The answer text. Without `length` it is `"Simulated answer to: " + prompt`. With `length` = N
/// that text is extended with pseudo-random words seeded by a hash of (system prompt, prompt)
/// and cut to exactly N characters (unicode chars, so it may also cut the prompt itself).
pub fn answer_text(prompt: &str, system_prompt: Option<&str>, length: Option<usize>) -> String {
    let mut text = String::with_capacity(ANSWER_PREFIX.len() + prompt.len());
    text.push_str(ANSWER_PREFIX);
    text.push_str(prompt);
    let Some(target) = length else {
        return text;
    };
    let mut chars = text.chars().count();
    if chars >= target {
        truncate_chars(&mut text, target);
        return text;
    }
    let seed = fnv1a64(&[system_prompt.unwrap_or("").as_bytes(), prompt.as_bytes()]);
    let mut rng = SplitMix(seed);
    text.reserve(target - chars + 16);
    while chars < target {
        let word = WORDS[(rng.next() % WORDS.len() as u64) as usize];
        text.push(' ');
        text.push_str(word);
        chars += 1 + word.len(); // the filler is ASCII
    }
    truncate_chars(&mut text, target);
    text
}

/// The text length the knobs ask for: `length`, or — when only `chunks` is given — long enough
/// that every one of the `chunks` pieces gets `chunk_size` characters.
pub fn target_length(knobs: &Knobs) -> Option<usize> {
    match (knobs.length, knobs.chunks) {
        (Some(length), _) => Some(length),
        (None, Some(chunks)) => Some(chunks.saturating_mul(knobs.chunk_size())),
        (None, None) => None,
    }
}

/// The answer for a request under the given knobs.
pub fn answer_for(prompt: &str, system_prompt: Option<&str>, knobs: &Knobs) -> String {
    answer_text(prompt, system_prompt, target_length(knobs))
}

/// Splits the answer into stream chunks on char boundaries: exactly `chunks` pieces (as even as
/// possible; some are empty if the text is shorter than `chunks`) when given, else pieces of
/// `chunk_size` chars. Joining the pieces gives the text back.
pub fn split_chunks<'a>(text: &'a str, knobs: &Knobs) -> Vec<&'a str> {
    let mut pieces = Vec::new();
    match knobs.chunks {
        Some(count) => {
            let total = text.chars().count();
            // Piece i covers chars [i*total/count, (i+1)*total/count).
            let mut start_byte = 0;
            let mut chars = text.char_indices().map(|(b, _)| b).chain(std::iter::once(text.len()));
            let mut char_pos = 0usize;
            let mut next_byte = chars.next().unwrap_or(text.len());
            for i in 1..=count {
                let end_char = (i as u128 * total as u128 / count as u128) as usize;
                while char_pos < end_char {
                    char_pos += 1;
                    next_byte = chars.next().unwrap_or(text.len());
                }
                pieces.push(&text[start_byte..next_byte]);
                start_byte = next_byte;
            }
        }
        None => {
            let size = knobs.chunk_size().max(1);
            let mut start = 0;
            for (n, (byte, _)) in text.char_indices().enumerate() {
                if n > 0 && n % size == 0 {
                    pieces.push(&text[start..byte]);
                    start = byte;
                }
            }
            if start < text.len() {
                pieces.push(&text[start..]);
            }
        }
    }
    pieces
}

/// Whitespace-separated words: the simulator's stand-in for a token count.
pub fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_text_is_prefix_plus_prompt() {
        assert_eq!(answer_text("hi there", None, None), "Simulated answer to: hi there");
        assert_eq!(answer_text("hi", Some("be brief"), None), "Simulated answer to: hi");
    }

    #[test]
    fn length_gives_exact_char_count_and_is_deterministic() {
        for n in [0, 5, 21, 22, 100, 1000, 12345] {
            let a = answer_text("héllo wörld ✓", Some("sys"), Some(n));
            assert_eq!(a.chars().count(), n);
            assert_eq!(a, answer_text("héllo wörld ✓", Some("sys"), Some(n)));
        }
        let long = answer_text("q", None, Some(200));
        assert!(long.starts_with("Simulated answer to: q "));
    }

    #[test]
    fn seed_depends_on_prompt_and_system_prompt() {
        let a = answer_text("q", None, Some(300));
        assert_ne!(a[23..], answer_text("r", None, Some(300))[23..]);
        assert_ne!(a, answer_text("q", Some("other"), Some(300)));
        // A shorter length is a prefix of a longer one.
        assert!(a.starts_with(&answer_text("q", None, Some(120))));
    }

    #[test]
    fn chunk_size_split_respects_char_boundaries() {
        let text = "añb✓c🎉déf";
        let knobs = Knobs { chunk_size: Some(2), ..Knobs::default() };
        let pieces = split_chunks(text, &knobs);
        assert_eq!(pieces, vec!["añ", "b✓", "c🎉", "dé", "f"]);
        assert_eq!(pieces.concat(), text);
    }

    #[test]
    fn exact_chunk_count_split() {
        let knobs = Knobs { chunks: Some(4), ..Knobs::default() };
        let text = "abcdefghij";
        let pieces = split_chunks(text, &knobs);
        assert_eq!(pieces.len(), 4);
        assert_eq!(pieces.concat(), text);
        let short = split_chunks("ab", &knobs);
        assert_eq!(short.len(), 4);
        assert_eq!(short.concat(), "ab");
        let unicode = split_chunks("✓✓✓✓✓✓✓✓", &Knobs { chunks: Some(3), ..Knobs::default() });
        assert_eq!(unicode, vec!["✓✓", "✓✓✓", "✓✓✓"]);
    }

    #[test]
    fn chunks_without_length_makes_text_long_enough() {
        let knobs = Knobs { chunks: Some(1000), chunk_size: Some(3), ..Knobs::default() };
        let text = answer_for("p", None, &knobs);
        assert_eq!(text.chars().count(), 3000);
        let pieces = split_chunks(&text, &knobs);
        assert_eq!(pieces.len(), 1000);
        assert!(pieces.iter().all(|p| p.chars().count() == 3));
    }

    #[test]
    fn empty_text_has_no_chunks_by_size() {
        let knobs = Knobs { length: Some(0), ..Knobs::default() };
        assert!(split_chunks(&answer_for("p", None, &knobs), &knobs).is_empty());
    }
}
