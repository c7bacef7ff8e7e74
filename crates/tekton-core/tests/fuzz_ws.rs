//! Property tests of the WebSocket frame decoder and the request router. Inputs: arbitrary text,
//! mutated seeds (tests/corpus/json), deeply nested JSON, and random sequences of frames and
//! requests. Properties: no panic; error reasons stay short whatever the frame; each request
//! gets at most one terminal outcome and nothing after it; the router's table matches a model.
//! Long run: `PROPTEST_CASES=200000 cargo test -p tekton-core --release --test fuzz_ws`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fuzz_common;

use std::collections::HashSet;

use fuzz_common::{corpus, interesting_bytes, mutated};
use proptest::prelude::*;
use serde_json::json;
use tekton_core::ws::{decode_server_frame, Routed, Router};

fn frame_text() -> impl Strategy<Value = String> {
    let bytes = prop_oneof![mutated(corpus("json")), interesting_bytes(400)];
    prop_oneof![bytes.prop_map(|b| String::from_utf8_lossy(&b).into_owned()), ".{0,300}"]
}

/// One step of a session: the client registers or cancels a request, or a frame arrives.
#[derive(Debug, Clone)]
enum Step {
    Register(u8),
    Cancel(u8),
    Chunk(u8, bool),
    Response(u8),
    Error(Option<u8>),
    Ping,
    Junk(String),
}

fn step() -> impl Strategy<Value = Step> {
    let id = 0u8..6;
    prop_oneof![
        2 => id.clone().prop_map(Step::Register),
        1 => id.clone().prop_map(Step::Cancel),
        4 => (id.clone(), any::<bool>()).prop_map(|(i, d)| Step::Chunk(i, d)),
        1 => id.clone().prop_map(Step::Response),
        1 => prop::option::of(id).prop_map(Step::Error),
        1 => Just(Step::Ping),
        1 => frame_text().prop_map(Step::Junk),
    ]
}

proptest! {
    #[test]
    fn decoding_never_panics_and_reasons_stay_short(text in frame_text()) {
        if let Err(bad) = decode_server_frame(&text) {
            prop_assert!(bad.reason.chars().count() < 600, "{} chars", bad.reason.len());
        }
    }

    #[test]
    fn deep_nesting_is_malformed_not_a_crash(depth in 1usize..200_000) {
        let text = format!("{{\"type\":\"CHUNK\",\"request_id\":\"r\",\"chunk\":{}1{}}}", "[".repeat(depth), "]".repeat(depth));
        prop_assert!(decode_server_frame(&text).is_err());
    }

    #[test]
    fn router_matches_its_model(steps in prop::collection::vec(step(), 0..80)) {
        let mut router = Router::new();
        let mut model: HashSet<String> = HashSet::new();
        let mut finished: HashSet<String> = HashSet::new();
        for s in steps {
            let frame = match s {
                Step::Register(i) => {
                    let id = format!("r{i}");
                    prop_assert_eq!(router.register(&id), model.insert(id.clone()));
                    finished.remove(&id);
                    continue;
                }
                Step::Cancel(i) => {
                    let id = format!("r{i}");
                    prop_assert_eq!(router.remove(&id), model.remove(&id));
                    continue;
                }
                Step::Chunk(i, done) => json!({"type": "CHUNK", "request_id": format!("r{i}"), "chunk": "x", "done": done}).to_string(),
                Step::Response(i) => json!({"type": "RESPONSE", "request_id": format!("r{i}"), "content": "y"}).to_string(),
                Step::Error(Some(i)) => json!({"type": "ERROR", "request_id": format!("r{i}"), "error": "e", "status": 503}).to_string(),
                Step::Error(None) => json!({"type": "ERROR", "error": "session"}).to_string(),
                Step::Ping => json!({"type": "PING"}).to_string(),
                Step::Junk(text) => text,
            };
            let Ok(decoded) = decode_server_frame(&frame) else { continue };
            match router.route(decoded) {
                Routed::Chunk(c) => {
                    prop_assert!(model.contains(&c.request_id), "chunk for {} not in flight", c.request_id);
                    prop_assert!(!finished.contains(&c.request_id));
                    if c.done {
                        model.remove(&c.request_id);
                        finished.insert(c.request_id);
                    }
                }
                Routed::Response(r) => {
                    prop_assert!(model.remove(&r.request_id), "response for {} not in flight", r.request_id);
                    finished.insert(r.request_id);
                }
                Routed::RequestFailed { request_id, error } => {
                    prop_assert!(model.remove(&request_id));
                    prop_assert_eq!(error.request_id.as_deref(), Some(request_id.as_str()));
                    finished.insert(request_id);
                }
                Routed::Dropped { request_id } => prop_assert!(!model.contains(&request_id)),
                Routed::SessionError(_) | Routed::ReplyPong | Routed::Ignored => {}
            }
            prop_assert_eq!(router.len(), model.len());
        }
        let mut drained = router.drain();
        drained.sort();
        let mut expected: Vec<String> = model.into_iter().collect();
        expected.sort();
        prop_assert_eq!(drained, expected);
    }
}

#[test]
fn every_seed_decodes_without_panic() {
    for body in corpus("json") {
        let _ = decode_server_frame(&String::from_utf8_lossy(&body));
    }
}
