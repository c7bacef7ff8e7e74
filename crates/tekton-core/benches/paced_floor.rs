//! The floor of the realistic regime: paced streams (one event per network read, 20 ms apart,
//! random phase) read by the core with no Python at all, on one current-thread runtime like the
//! binding's I/O thread. Prints the CPU of that one thread per chunk (user + system), so the
//! simulator, which runs on its own threads here, is not counted. Compare with the Rust path's
//! I/O-thread column in benches/bench_realistic.py: what is left above this is the hand-over.
//!
//! Run: cargo bench -p tekton-core --bench paced_floor
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::thread_cpu_us;

use std::sync::Arc;

use rhetor_sim::{SimConfig, Simulator};
use serde_json::json;
use tekton_core::protocol::v1::ChatRequest;
use tekton_core::{ClientConfig, ReadyChunks, RhetorHttp, StreamEnd};

const EVENTS: u64 = 50;
const PACING_MS: u64 = 20;

fn request(first_delay_ms: u64) -> ChatRequest {
    let mut req = ChatRequest {
        messages: vec![json!({"role": "user", "content": "paced"})],
        context_id: "bench".into(),
        component_id: "bench".into(),
        ..ChatRequest::default()
    };
    let sim =
        json!({"chunks": EVENTS, "chunk_size": 8, "chunk_delay_ms": PACING_MS, "first_chunk_delay_ms": first_delay_ms});
    req.options.insert("sim".into(), sim);
    req
}

async fn drain(http: Arc<RhetorHttp>, rt: tokio::runtime::Handle, first_delay_ms: u64, id: usize) -> usize {
    let mut stream = http.stream_chat(&rt, &request(first_delay_ms), format!("paced-{id}")).unwrap();
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
    let sim =
        Simulator::start(SimConfig { record: false, worker_threads: 1, max_connections: 8192, ..SimConfig::default() })
            .unwrap();
    // PACED_FLOOR_WINDOW_US=500 holds the thread before it sleeps as the binding does while busy
    // (src/io_pacing.rs): one pass per window instead of one wake-up per ready socket.
    let window = std::time::Duration::from_micros(
        std::env::var("PACED_FLOOR_WINDOW_US").ok().and_then(|v| v.parse().ok()).unwrap_or(0),
    );
    let last_wake = Arc::new(std::sync::Mutex::new(std::time::Instant::now()));
    let (on_wake, on_park) = (Arc::clone(&last_wake), last_wake);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_unpark(move || *on_wake.lock().unwrap() = std::time::Instant::now())
        .on_thread_park(move || {
            let until = *on_park.lock().unwrap() + window;
            let now = std::time::Instant::now();
            if until > now {
                std::thread::sleep(until - now);
            }
        })
        .build()
        .unwrap();
    let http = Arc::new(
        RhetorHttp::new(
            ClientConfig { base_url: sim.url(), pool_max_idle_per_host: 1100, ..ClientConfig::default() },
            None,
        )
        .unwrap(),
    );
    for streams in [100usize, 1000] {
        let mut per_chunk = Vec::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..5 {
            let h = rt.handle().clone();
            let (cpu, total) = rt.block_on(async {
                let start = thread_cpu_us();
                let tasks: Vec<_> = (0..streams)
                    .map(|i| {
                        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                        tokio::spawn(drain(Arc::clone(&http), h.clone(), (seed >> 33) % PACING_MS, i))
                    })
                    .collect();
                let mut total = 0;
                for task in tasks {
                    total += task.await.unwrap();
                }
                (thread_cpu_us() - start, total)
            });
            per_chunk.push(cpu / total as f64);
        }
        per_chunk.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "paced floor: {streams} streams x {EVENTS} events {PACING_MS} ms apart, random phase, window {} us: median {:.1} us CPU per chunk \
             on the one runtime thread (min {:.1}, max {:.1}) over 5 runs",
            window.as_micros(),
            per_chunk[2], per_chunk[0], per_chunk[4]
        );
    }
}
