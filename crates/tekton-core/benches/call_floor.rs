//! The floor for non-streaming calls: `RhetorHttp::chat` driven from Rust with no Python, at
//! concurrency 1, 32 and 256, on one current-thread runtime like the binding's I/O thread. Prints
//! the CPU of that one thread per call (user + system); the simulator runs on its own threads and
//! is not counted. Compare with the Rust path's I/O-thread column for calls in
//! benches/bench_realistic.py.
//!
//! Run: cargo bench -p tekton-core --bench call_floor
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::thread_cpu_us;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rhetor_sim::{SimConfig, Simulator};
use serde_json::json;
use tekton_core::protocol::v1::ChatRequest;
use tekton_core::{ClientConfig, RhetorHttp};

fn request() -> ChatRequest {
    let mut req = ChatRequest {
        messages: vec![json!({"role": "user", "content": "call"})],
        context_id: "bench".into(),
        component_id: "bench".into(),
        ..ChatRequest::default()
    };
    req.options.insert("sim".into(), json!({"chunks": 4, "chunk_size": 8}));
    req
}

async fn worker(http: Arc<RhetorHttp>, left: Arc<AtomicUsize>, req: Arc<ChatRequest>) {
    while left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok() {
        http.chat(&req, "call-floor").await.unwrap();
    }
}

fn main() {
    let sim =
        Simulator::start(SimConfig { record: false, worker_threads: 1, max_connections: 8192, ..SimConfig::default() })
            .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let http = Arc::new(
        RhetorHttp::new(
            ClientConfig { base_url: sim.url(), pool_max_idle_per_host: 1100, ..ClientConfig::default() },
            None,
        )
        .unwrap(),
    );
    let req = Arc::new(request());
    for (concurrency, total) in [(1usize, 2_000usize), (32, 10_000), (256, 10_000)] {
        let mut per_call = Vec::new();
        for _ in 0..5 {
            let cpu = rt.block_on(async {
                let left = Arc::new(AtomicUsize::new(total));
                let start = thread_cpu_us();
                let tasks: Vec<_> = (0..concurrency)
                    .map(|_| tokio::spawn(worker(Arc::clone(&http), Arc::clone(&left), Arc::clone(&req))))
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                thread_cpu_us() - start
            });
            per_call.push(cpu / total as f64);
        }
        per_call.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "call floor: {total} calls at concurrency {concurrency}: median {:.1} us CPU per call on the one runtime \
             thread (min {:.1}, max {:.1}) over 5 runs",
            per_call[2], per_call[0], per_call[4]
        );
    }
}
