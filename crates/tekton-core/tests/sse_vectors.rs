//! The shared SSE vectors (tests/sse_vectors.json), also run by the Python and JS decoders.
//! Each vector is decoded as recorded, then re-split one byte at a time: the events must match.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use tekton_core::sse::{SseDecoder, SseEvent};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn decode(reads: &[Vec<u8>]) -> Vec<SseEvent> {
    let mut d = SseDecoder::new(1 << 20);
    let mut out = Vec::new();
    for r in reads {
        d.feed(r, &mut out).unwrap();
    }
    d.finish(&mut out).unwrap();
    out
}

fn as_json(events: &[SseEvent]) -> Value {
    Value::Array(events.iter().map(|e| serde_json::json!({"event": e.event, "data": e.data, "id": e.id})).collect())
}

#[test]
fn shared_vectors() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/sse_vectors.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 30);
    let mut failures = Vec::new();
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let reads: Vec<Vec<u8>> = if let Some(c) = v.get("chunks") {
            c.as_array().unwrap().iter().map(|s| s.as_str().unwrap().as_bytes().to_vec()).collect()
        } else {
            v["chunks_hex"].as_array().unwrap().iter().map(|s| hex(s.as_str().unwrap())).collect()
        };
        let expected = &v["events"];
        let got = as_json(&decode(&reads));
        if &got != expected {
            failures.push(format!("{name}: expected {expected}, got {got}"));
        }
        let bytes: Vec<Vec<u8>> = reads.concat().into_iter().map(|b| vec![b]).collect();
        let got = as_json(&decode(&bytes));
        if &got != expected {
            failures.push(format!("{name} (one byte a read): expected {expected}, got {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
