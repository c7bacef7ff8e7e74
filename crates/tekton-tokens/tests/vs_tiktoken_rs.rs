//! Counts equal tiktoken-rs's `encode_ordinary` (the vendored OpenAI algorithm on fancy-regex)
//! over generated edge cases. The main differential test, against Python tiktoken, is in
//! tests/test_tokens_differential.py.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use tekton_tokens::{count, token_ends, Encoding};

fn corpus() -> Vec<String> {
    let atoms = [
        "",
        " ",
        "  ",
        "\n",
        "\r\n",
        "\t",
        "\u{3000}",
        "\u{a0}",
        "a",
        "A",
        "é",
        "ß",
        "日本語",
        "中文",
        "😀",
        "👩‍👩‍👧",
        "'s",
        "'LL",
        "123",
        "12345",
        "!",
        "!\n/",
        "/",
        "<|endoftext|>",
        "<|fim_prefix|>",
        "fn main() {",
        "}",
        "HTTPServer",
        "camelCase",
        "x\u{301}",
        "\u{200d}",
        " \n",
        "\n \n  ",
        "?!",
        "...",
        "ü",
        "١٢٣",
        "Ⅻ",
    ];
    let mut out: Vec<String> = atoms.iter().map(|s| s.to_string()).collect();
    // every pair and a few triples: the pretokenizer's look-ahead lives at the seams.
    for a in atoms {
        for b in atoms {
            out.push(format!("{a}{b}"));
            out.push(format!("{a} {b}\n"));
        }
    }
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        let mut s = String::new();
        for _ in 0..8 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s.push_str(atoms[(seed % atoms.len() as u64) as usize]);
        }
        out.push(s);
    }
    // ASCII-dense strings: the hand-written ASCII matcher's territory.
    let alphabet: Vec<char> = " \t\n\r\x0b\x0c'sSlLvVrReEdDmMtTaZ!?/.,19_-é\u{3000}日".chars().collect();
    for _ in 0..20_000 {
        let mut s = String::new();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 16) as usize;
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
        }
        out.push(s);
    }
    out.push(" ".repeat(5000));
    out.push("a".repeat(5000));
    out.push("\n".repeat(300) + "x");
    out.push(" \t ".repeat(300) + "x");
    out
}

fn check(name: &str, reference: &tiktoken_rs::CoreBPE) {
    let enc = Encoding::get(name).unwrap();
    for text in corpus() {
        let expected = reference.encode_ordinary(&text).len();
        assert_eq!(count(enc, &text), expected, "{name} {text:?}");
        let ends = token_ends(enc, &text);
        assert_eq!(ends.len(), expected, "{name} ends {text:?}");
        assert!(ends.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(ends.last().copied().unwrap_or(0), text.len());
    }
}

#[test]
fn o200k_matches() {
    check("o200k_base", tiktoken_rs::o200k_base_singleton());
}

#[test]
fn cl100k_matches() {
    check("cl100k_base", tiktoken_rs::cl100k_base_singleton());
}

#[test]
fn p50k_matches() {
    check("p50k_base", tiktoken_rs::p50k_base_singleton());
}

#[test]
fn r50k_matches() {
    check("r50k_base", tiktoken_rs::r50k_base_singleton());
}
