//! The floor: the same core driven from Rust with no Python. Streams from an in-process
//! simulator (its own runtime thread) through `RhetorHttp::stream_chat`, taking batches the way
//! the Python binding does. Prints chunks/s; compare with benches/bench_streaming.py.
//!
//! Run: cargo bench -p tekton-core --bench stream_floor
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use rhetor_sim::{SimConfig, Simulator};
use serde_json::json;
use tekton_core::protocol::v1::ChatRequest;
use tekton_core::{ClientConfig, ReadyChunks, RhetorHttp, StreamEnd};

fn request(chunks: u64) -> ChatRequest {
    let mut req = ChatRequest {
        messages: vec![json!({"role": "user", "content": "floor"})],
        context_id: "bench".into(),
        component_id: "bench".into(),
        ..ChatRequest::default()
    };
    req.options.insert("sim".into(), json!({"chunks": chunks, "chunk_size": 8}));
    req
}

async fn drain(http: Arc<RhetorHttp>, rt: tokio::runtime::Handle, chunks: u64, id: usize) -> usize {
    let mut stream = http.stream_chat(&rt, &request(chunks), format!("floor-{id}")).unwrap();
    let mut n = 0;
    let mut ready = ReadyChunks::default();
    loop {
        let end = stream.take(&mut ready).await;
        n += ready.iter().count();
        match end {
            None => {}
            Some(StreamEnd::Finished) => return n,
            Some(StreamEnd::Failed { error, .. }) => panic!("stream failed: {error}"),
        }
    }
}

fn main() {
    let sim = Simulator::start(SimConfig { record: false, worker_threads: 1, ..SimConfig::default() }).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let http =
        Arc::new(RhetorHttp::new(ClientConfig { base_url: sim.url(), ..ClientConfig::default() }, None).unwrap());
    for (streams, chunks) in [(1usize, 100_000u64), (64, 2_000)] {
        let mut rates = Vec::new();
        for _ in 0..5 {
            let h = rt.handle().clone();
            let t = Instant::now();
            let total: usize = rt.block_on(async {
                let tasks: Vec<_> =
                    (0..streams).map(|i| tokio::spawn(drain(Arc::clone(&http), h.clone(), chunks, i))).collect();
                let mut total = 0;
                for task in tasks {
                    total += task.await.unwrap();
                }
                total
            });
            rates.push(total as f64 / t.elapsed().as_secs_f64());
        }
        rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "floor: {streams} x {chunks} chunks: median {:.0} chunks/s (min {:.0}, max {:.0}) over 5 runs",
            rates[2], rates[0], rates[4]
        );
    }
}
