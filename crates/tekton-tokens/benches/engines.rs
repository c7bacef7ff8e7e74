//! Engine comparison: tiktoken-rs vs bpe-openai vs tiktoken 3 (counts and speed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::time::Instant;

fn text() -> String {
    let para = "The quick brown fox jumps over the lazy dog. Tokenizers split text into pieces, \
                and byte-pair encoding merges frequent pairs of bytes into tokens! In 2024, models \
                like gpt-4o used o200k_base; older ones used cl100k_base.\n\n";
    para.repeat(2000)
}

fn time<F: FnMut() -> usize>(name: &str, iters: u32, mut f: F) {
    let mut r = 0;
    let t = Instant::now();
    for _ in 0..iters {
        r = f();
    }
    let dt = t.elapsed() / iters;
    println!("{name:40} {dt:?}  result={r}");
}

fn main() {
    let t = text();
    let msgs: Vec<String> = (0..20_000).map(|i| format!("Message number {i}: hello, how are you today?")).collect();
    let rs = tiktoken_rs::o200k_base_singleton();
    let bo = bpe_openai::o200k_base();
    let tk = tiktoken::get_encoding("o200k_base").unwrap();
    rs.encode_ordinary("warm");
    bo.count("warm");
    tk.count("warm");
    println!("long text: {} bytes", t.len());
    time("tiktoken-rs o200k long", 5, || rs.encode_ordinary(&t).len());
    time("bpe-openai o200k long", 5, || bo.count(t.as_str()));
    time("tiktoken3 o200k long", 5, || tk.count(&t));
    time("tiktoken-rs o200k 20k short", 3, || msgs.iter().map(|m| rs.encode_ordinary(m).len()).sum());
    time("bpe-openai o200k 20k short", 3, || msgs.iter().map(|m| bo.count(m.as_str())).sum());
    time("tiktoken3 o200k 20k short", 3, || msgs.iter().map(|m| tk.count(m)).sum());
    let mut ranks: rustc_hash::FxHashMap<Vec<u8>, u32> = Default::default();
    for r in 0..199_998u32 { ranks.insert(rs.decode_bytes(&[r]).unwrap(), r); }
    time("bpe-openai split only", 5, || bo.split(t.as_str()).count());
    time("split + fx lookup/tiktoken-rs bpe", 5, || bo.split(t.as_str()).map(|p| { let b = p.as_bytes(); if ranks.contains_key(b) {1} else {tiktoken_rs::byte_pair_split(b, &ranks).len()} }).sum());
    time("split + tk3 count(piece)", 5, || bo.split(t.as_str()).map(|p| tk.count(p)).sum());
    time("split+fx 20k short", 3, || msgs.iter().map(|m| bo.split(m.as_str()).map(|p| { let b = p.as_bytes(); if ranks.contains_key(b) {1} else {tiktoken_rs::byte_pair_split(b, &ranks).len()} }).sum::<usize>()).sum());
    let rs = tiktoken_rs::cl100k_base_singleton();
    let bo = bpe_openai::cl100k_base();
    let tk = tiktoken::get_encoding("cl100k_base").unwrap();
    time("tiktoken-rs cl100k long", 5, || rs.encode_ordinary(&t).len());
    time("bpe-openai cl100k long", 5, || bo.count(t.as_str()));
    time("tiktoken3 cl100k long", 5, || tk.count(&t));
}
