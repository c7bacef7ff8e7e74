//! SSE decoder throughput on a Rhetor-shaped stream in 4 KiB reads (compare benches/bench_sse.py).
//!
//! Run: cargo bench -p tekton-core --bench sse_decode
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use tekton_core::sse::SseDecoder;

fn stream() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..20_000 {
        let eol: &[u8] = if i % 3 == 0 { b"\r\n" } else { b"\n" };
        out.extend_from_slice(format!(
            r#"data: {{"chunk": "token {i} ", "model": "claude-3-sonnet-20240229", "provider": "anthropic", "context_id": "bench", "timestamp": "2026-11-28T12:00:00Z", "done": false}}"#
        ).as_bytes());
        out.extend_from_slice(eol);
        out.extend_from_slice(eol);
        if i % 500 == 0 {
            out.extend_from_slice(b": ping\n");
        }
    }
    out.extend_from_slice(b"data: {\"chunk\": \"\", \"done\": true}\n\ndata: [DONE]\n\n");
    out
}

fn main() {
    let data = stream();
    let mut rates = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let mut d = SseDecoder::new(8 << 20);
        let mut out = Vec::new();
        for read in data.chunks(4096) {
            d.feed(read, &mut out).unwrap();
        }
        d.finish(&mut out).unwrap();
        assert!(out.len() > 20_000);
        rates.push(data.len() as f64 / 1e6 / t.elapsed().as_secs_f64());
    }
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "sse_decode: {:.1} MB in 4 KiB reads: median {:.0} MB/s (min {:.0}, max {:.0}) over 20 runs",
        data.len() as f64 / 1e6,
        rates[10],
        rates[0],
        rates[19]
    );
}
