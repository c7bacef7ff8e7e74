//! Engine comparison on one long English-like text and 20,000 short messages:
//! tekton-tokens (ours) vs tiktoken-rs vs bpe-openai vs tiktoken 3.x. Also reports inputs on
//! which the other engines' counts differ from tiktoken-rs (the vendored OpenAI algorithm).
//! Run: `cargo bench -p tekton-tokens --bench engines`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::hint::black_box;
use std::time::{Duration, Instant};

use tekton_tokens::{count, count_many, Encoding};

const WORDS: &[&str] = &[
    "the",
    "model",
    "returns",
    "a",
    "token",
    "count",
    "for",
    "each",
    "message",
    "and",
    "Rhetor",
    "routes",
    "requests",
    "to",
    "providers",
    "quickly",
    "while",
    "keeping",
    "history",
    "within",
    "limits",
    "of",
    "context",
    "window",
    "streaming",
    "chunks",
    "arrive",
    "in",
    "order",
    "however",
    "sometimes",
    "errors",
    "happen",
    "retry",
    "with",
    "backoff",
    "JSON",
    "HTTP/1.1",
    "2024",
    "3.14159",
    "user's",
    "don't",
    "we'll",
    "e-mail",
    "naïve",
    "café",
    "(see",
    "below)",
    "—",
];

/// Deterministic pseudo-random English-like text (xorshift), ~`bytes` long.
pub fn english(bytes: usize, mut seed: u64) -> String {
    let mut s = String::with_capacity(bytes + 16);
    let mut n = 0;
    while s.len() < bytes {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let w = WORDS[(seed % WORDS.len() as u64) as usize];
        if n % 12 == 0 && !s.is_empty() {
            s.push_str(if n % 60 == 0 { ".\n\n" } else { ", " });
        } else if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(w);
        n += 1;
    }
    s
}

fn time<F: FnMut() -> usize>(name: &str, mut f: F) -> Duration {
    let start = Instant::now();
    let mut iters = 0u32;
    let mut r = 0;
    while iters < 3 || start.elapsed() < Duration::from_millis(700) {
        r = black_box(f());
        iters += 1;
    }
    let dt = start.elapsed() / iters;
    println!("{name:44} {:>10.3} ms   ({r} tokens)", dt.as_secs_f64() * 1e3);
    dt
}

fn main() {
    let long = english(200_000, 0x9e37_79b9_7f4a_7c15);
    let short: Vec<String> = (0..20_000).map(|i| english(60 + i % 80, i as u64 + 1)).collect();
    for name in ["o200k_base", "cl100k_base"] {
        let ours = Encoding::get(name).unwrap();
        let rs = if name == "o200k_base" {
            tiktoken_rs::o200k_base_singleton()
        } else {
            tiktoken_rs::cl100k_base_singleton()
        };
        let bo = if name == "o200k_base" { bpe_openai::o200k_base() } else { bpe_openai::cl100k_base() };
        let tk = tiktoken::get_encoding(name).unwrap();
        println!("== {name}: long text {} bytes; 20,000 short messages", long.len());
        time("tekton-tokens count (long)", || count(ours, &long));
        time("tekton-tokens pretokenize only (long)", || tekton_tokens::pieces(ours, &long));
        time("tiktoken-rs encode_ordinary (long)", || rs.encode_ordinary(&long).len());
        time("bpe-openai count (long)", || bo.count(long.as_str()));
        time("tiktoken 3 count (long)", || tk.count(&long));
        time("tekton-tokens count, one by one (short)", || short.iter().map(|m| count(ours, m)).sum());
        time("tekton-tokens count_many, parallel (short)", || count_many(ours, &short).iter().sum());
        time("tiktoken-rs, one by one (short)", || short.iter().map(|m| rs.encode_ordinary(m).len()).sum());
        time("bpe-openai, one by one (short)", || short.iter().map(|m| bo.count(m.as_str())).sum());
        time("tiktoken 3, one by one (short)", || short.iter().map(|m| tk.count(m)).sum());
        // Exactness of the candidates against tiktoken-rs on generated edge-case text.
        let alphabet: Vec<char> = " \t\n\r'sSlLvVreEdmtaZ!?/.,19_-é\u{3000}\u{a0}日😀\u{301}".chars().collect();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let (mut bad_bo, mut bad_tk, mut bad_ours, mut example) = (0, 0, 0, None);
        for _ in 0..50_000 {
            let mut s = String::new();
            for _ in 0..12 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let reference = rs.encode_ordinary(&s).len();
            bad_ours += usize::from(count(ours, &s) != reference);
            bad_bo += usize::from(bo.count(s.as_str()) != reference);
            if tk.count(&s) != reference {
                bad_tk += 1;
                example.get_or_insert(s.clone());
            }
        }
        println!("   mismatches vs tiktoken-rs over 50,000 generated strings: ours {bad_ours}, bpe-openai {bad_bo}, tiktoken 3 {bad_tk} (e.g. {example:?})");
        // Exactness of the candidates on look-ahead edge cases.
        for text in ["a \nb", "!\n/x", "x  \n\n  y", "end  \n \n  "] {
            let reference = rs.encode_ordinary(text).len();
            println!(
                "   {text:?}: tiktoken-rs {reference}, ours {}, bpe-openai {}, tiktoken 3 {}",
                count(ours, text),
                bo.count(text),
                tk.count(text)
            );
        }
    }
}
