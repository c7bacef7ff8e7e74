//! The floor of the realistic regime: paced streams (one event per network read, 20 ms apart,
//! random phase) read by the core with no Python at all, on one current-thread runtime like the
//! binding's I/O thread. Prints the CPU of that one thread per chunk (user + system), so the
//! simulator, which runs on its own threads here, is not counted. Compare with the Rust path's
//! I/O-thread column in benches/bench_realistic.py: what is left above this is the hand-over.
//!
//! Then the kernel's own floor on the same streams: one thread, epoll and a non-blocking `recv`
//! per ready socket, no runtime, no HTTP or JSON parsing (events counted by their blank line):
//! what receiving one event per write costs before any client code runs.
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

/// The kernel floor: `streams` paced streams read with epoll + recv only; CPU µs per event of
/// this thread. Requests are sent by blocking writes before the clock starts.
fn kernel_floor(addr: std::net::SocketAddr, streams: usize, seed: &mut u64) -> f64 {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let mut sockets = Vec::with_capacity(streams);
    for _ in 0..streams {
        *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let body = request((*seed >> 33) % PACING_MS).to_v1_body(true).unwrap();
        let mut sock = std::net::TcpStream::connect(addr).unwrap();
        sock.set_nodelay(true).unwrap();
        let head = format!(
            "POST /api/v1/chat/stream HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        sock.write_all(head.as_bytes()).unwrap();
        sock.write_all(&body).unwrap();
        sock.set_nonblocking(true).unwrap();
        sockets.push(sock);
    }
    // SAFETY: plain epoll syscalls on descriptors this function owns for its whole run.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    for (i, sock) in sockets.iter().enumerate() {
        let mut ev = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLET) as u32, u64: i as u64 };
        unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, sock.as_raw_fd(), &mut ev) };
    }
    let start = thread_cpu_us();
    let mut open = streams;
    let mut done = vec![false; streams];
    let mut events = 0usize;
    let mut buf = vec![0u8; 64 << 10];
    let mut ready = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    while open > 0 {
        let n = unsafe { libc::epoll_wait(epoll, ready.as_mut_ptr(), ready.len() as i32, 5_000) };
        assert!(n > 0, "the simulator stopped answering");
        for ev in &ready[..n as usize] {
            let i = ev.u64 as usize;
            let fd = sockets[i].as_raw_fd();
            while !done[i] {
                let got = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
                if got < 0 {
                    let e = std::io::Error::last_os_error();
                    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "recv failed: {e}");
                    break;
                }
                let read = &buf[..got as usize];
                events += memchr::memmem::find_iter(read, b"\n\n").count();
                // The simulator keeps the connection after a stream: it is over at its last
                // chunk (`0\r\n\r\n`), or if the server closes.
                if got == 0 || read.ends_with(b"0\r\n\r\n") {
                    done[i] = true;
                    open -= 1;
                    unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
                }
            }
        }
    }
    let cpu = thread_cpu_us() - start;
    unsafe { libc::close(epoll) };
    cpu / events.max(1) as f64
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
    for streams in [100usize, 1000] {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut per_event: Vec<f64> = (0..5).map(|_| kernel_floor(sim.addr(), streams, &mut seed)).collect();
        per_event.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "kernel floor: {streams} streams x {EVENTS} events {PACING_MS} ms apart, random phase, epoll + recv only \
             (connects and requests not counted): median {:.1} us CPU per event on the one thread (min {:.1}, max {:.1}) over 5 runs",
            per_event[2], per_event[0], per_event[4]
        );
    }
}
