//! End-to-end checks of the Rust API over real sockets (no HTTP client crate: plain TCP, so the
//! simulator is checked against the wire format itself).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rhetor_sim::{answer_text, Knobs, SimConfig, Simulator};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One request with `Connection: close`; returns (status line + headers, decoded body).
fn request(sim: &Simulator, method: &str, path: &str, body: &str) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(sim.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let rest = &raw[split + 4..];
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_vec() };
    (head, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap(), 16).unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[test]
fn health_chat_and_stream_over_raw_tcp() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let (head, body) = request(&sim, "GET", "/api/v1/health", "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let health: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(health["status"], "healthy");

    let chat = r#"{"messages":[{"role":"user","content":"hi"}],"context_id":"c","sim":{"length":100}}"#;
    let (_, body) = request(&sim, "POST", "/api/v1/chat", chat);
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["content"], answer_text("hi", None, Some(100)));

    let (head, body) = request(&sim, "POST", "/api/v1/chat/stream", chat);
    assert!(head.contains("text/event-stream"));
    let text = String::from_utf8(body).unwrap();
    let mut joined = String::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if let Ok(event) = serde_json::from_str::<serde_json::Value>(line) {
            joined.push_str(event["chunk"].as_str().unwrap_or(""));
        }
    }
    assert_eq!(joined, answer["content"].as_str().unwrap());
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert_eq!(sim.connections_accepted(), 3);
    assert_eq!(sim.records().len(), 3);
}

#[test]
fn a_100k_chunk_stream_is_complete() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let chat = r#"{"messages":[{"role":"user","content":"big"}],"sim":{"chunks":100000,"chunk_size":2}}"#;
    let (_, body) = request(&sim, "POST", "/api/v1/chat/stream", chat);
    let text = String::from_utf8(body).unwrap();
    assert_eq!(text.matches("\"done\":false").count(), 100_000);
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[test]
fn defaults_prefix_and_auth_from_config() {
    let sim = Simulator::start(SimConfig {
        auth_token: Some("t".into()),
        path_prefix: Some("/api/llm/".into()),
        defaults: Knobs { length: Some(7), ..Knobs::default() },
        ..SimConfig::default()
    })
    .unwrap();
    let (head, _) = request(&sim, "GET", "/api/llm/api/v1/providers", "");
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let (head, _) = request(&sim, "GET", "/api/llm/api/v1/health", "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(Simulator::start(SimConfig { path_prefix: Some("nope".into()), ..SimConfig::default() }).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_and_dropping_inside_a_runtime_is_fine() {
    // Benches and other crates' tests hold a Simulator inside their own runtime.
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let addr = sim.addr();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    drop(sim); // must neither panic nor hang
               // The listener is gone soon after.
    let mut refused = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused);
}
