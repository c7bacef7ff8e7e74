//! The floor of the WebSocket client in the realistic regime: paced streams (20 ms apart, random
//! phase) multiplexed on one socket, read by the core with no Python, on one current-thread
//! runtime like the binding's I/O thread. Prints that thread's CPU per chunk (user + system); the
//! simulator runs on its own threads and is not counted. Compare with benches/bench_realistic_ws.py.
//!
//! Run: cargo bench -p tekton-core --bench ws_paced_floor
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::thread_cpu_us;

use rhetor_sim::{SimConfig, Simulator};
use serde_json::json;
use tekton_core::ws::{WsClient, WsConfig, WsEvent};

const EVENTS: u64 = 50;
const PACING_MS: u64 = 20;

fn stream_frame(request_id: &str, first_delay_ms: u64) -> String {
    json!({
        "type": "STREAM", "request_id": request_id, "context_id": "bench", "component_id": "bench",
        "prompt": "paced",
        "options": {"sim": {"chunks": EVENTS, "chunk_size": 8, "chunk_delay_ms": PACING_MS,
                            "first_chunk_delay_ms": first_delay_ms}},
    })
    .to_string()
}

fn main() {
    let sim =
        Simulator::start(SimConfig { record: false, worker_threads: 1, max_connections: 8192, ..SimConfig::default() })
            .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for streams in [100usize, 1000] {
        let mut per_chunk = Vec::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..5 {
            let client = WsClient::new(WsConfig::new(sim.ws_url(), "bench"));
            let (cpu, chunks) = rt.block_on(async {
                client.connect().await.unwrap();
                let start = thread_cpu_us();
                for i in 0..streams {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    let id = format!("r{round}-{i}");
                    client.send(&id, &stream_frame(&id, (seed >> 33) % PACING_MS)).await.unwrap();
                }
                let (mut chunks, mut done) = (0usize, 0usize);
                while done < streams {
                    for event in client.next_events(4096).await.expect("the client ended early") {
                        match event {
                            WsEvent::Chunk(c) => {
                                chunks += 1;
                                done += usize::from(c.done);
                            }
                            WsEvent::RequestFailed { error, .. } => panic!("a stream failed: {error}"),
                            _ => {}
                        }
                    }
                }
                (thread_cpu_us() - start, chunks)
            });
            rt.block_on(client.close());
            per_chunk.push(cpu / chunks as f64);
        }
        per_chunk.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "ws paced floor: {streams} streams x {EVENTS} events {PACING_MS} ms apart on one socket, random phase: \
             median {:.1} us CPU per chunk on the one runtime thread (min {:.1}, max {:.1}) over 5 runs",
            per_chunk[2], per_chunk[0], per_chunk[4]
        );
    }
}
