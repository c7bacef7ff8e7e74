//! Shared by the property tests: the seed corpus (tests/corpus/) and input strategies.
#![allow(dead_code)]

use std::path::PathBuf;

use proptest::prelude::*;

/// Every file of `tests/corpus/<kind>/`, as bytes, in name order.
pub fn corpus(kind: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(kind);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    let files: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!files.is_empty(), "empty corpus {}", dir.display());
    files
}

/// `data` cut into reads at the given points (taken modulo the length, sorted, deduplicated).
pub fn split_at(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    if data.is_empty() {
        return vec![Vec::new()];
    }
    let mut points: Vec<usize> = cuts.iter().map(|c| c % data.len()).collect();
    points.push(0);
    points.push(data.len());
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| data[w[0]..w[1]].to_vec()).collect()
}

/// A corpus entry, mutated: bytes flipped, inserted and removed at random places.
pub fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let edits = prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 0..12);
    (prop::sample::select(seeds), edits).prop_map(|(mut data, edits)| {
        for (at, byte, op) in edits {
            let i = if data.is_empty() { 0 } else { at % (data.len() + 1) };
            match op {
                0 if i < data.len() => data[i] = byte,
                1 => data.insert(i, byte),
                _ if i < data.len() => {
                    data.remove(i);
                }
                _ => data.insert(i, byte),
            }
        }
        data
    })
}

/// Bytes biased towards what SSE and JSON parsers branch on.
pub fn interesting_bytes(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b"data: \r\n{}[]\":,ev tidry\\0\xEF\xBB\xBF\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xFF".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..max_len)
}
