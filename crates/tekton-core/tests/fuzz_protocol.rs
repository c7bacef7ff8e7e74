//! Property tests of the Rhetor response decoders: `Completion` and `StreamEvent` (serde, snake
//! and camelCase), and `error_message` for non-2xx bodies. Inputs: arbitrary bytes, mutated seeds
//! (tests/corpus/json), deeply nested JSON. Properties: no panic, no stack overflow, messages
//! bounded by their input, camelCase reads equal snake_case reads.
//! Long run: `PROPTEST_CASES=200000 cargo test -p tekton-core --release --test fuzz_protocol`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fuzz_common;

use fuzz_common::{corpus, interesting_bytes, mutated};
use proptest::prelude::*;
use serde_json::{json, Value};
use tekton_core::protocol::v1::{error_message, Completion, StreamEvent};

fn json_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![mutated(corpus("json")), interesting_bytes(400), prop::collection::vec(any::<u8>(), 0..200)]
}

fn decode_all(body: &[u8]) {
    let _ = serde_json::from_slice::<Completion>(body);
    let _ = serde_json::from_slice::<StreamEvent>(body);
    let (message, _code) = error_message(body);
    // Bounded by what came in: a body cannot make a message out of nothing.
    assert!(message.chars().count() <= body.len().max(300) + 16, "{} chars from {} bytes", message.len(), body.len());
}

proptest! {
    #[test]
    fn decoders_never_panic(body in json_input()) {
        decode_all(&body);
    }

    #[test]
    fn non_json_error_bodies_are_cut_to_300_chars(text in ".{0,2000}") {
        prop_assume!(serde_json::from_str::<Value>(&text).is_err());
        let (message, code) = error_message(text.as_bytes());
        prop_assert!(message.chars().count() <= 300);
        prop_assert!(code.is_none());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow(depth in 1usize..100_000, open in prop::sample::select(vec!["[", "{\"a\":", "{\"detail\":"])) {
        let mut body = open.repeat(depth);
        body.push('1');
        for _ in 0..depth {
            body.push(if open == "[" { ']' } else { '}' });
        }
        decode_all(body.as_bytes());
    }

    #[test]
    fn camel_case_reads_like_snake_case(chunk in ".{0,20}", done in any::<bool>(), reason in "[a-z_]{0,10}",
                                        ctx in "[a-z0-9-]{0,10}", prompt in 0u64..1_000_000, completion in 0u64..1_000_000) {
        let snake = json!({"chunk": chunk, "done": done, "finish_reason": reason, "context_id": ctx,
                           "usage": {"prompt_tokens": prompt, "completion_tokens": completion}});
        let camel = json!({"chunk": chunk, "done": done, "finishReason": reason, "contextId": ctx,
                           "usage": {"promptTokens": prompt, "completionTokens": completion}});
        // The stream reader decodes events from their text, borrowing from it.
        let (snake_text, camel_text) = (snake.to_string(), camel.to_string());
        let a: StreamEvent = serde_json::from_str(&snake_text).unwrap();
        let b: StreamEvent = serde_json::from_str(&camel_text).unwrap();
        prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
        prop_assert_eq!(a.chunk.as_ref().map(|t| t.as_str()), Some(chunk.as_str()));
        let a: Completion = serde_json::from_value(snake).unwrap();
        let b: Completion = serde_json::from_value(camel).unwrap();
        prop_assert_eq!(a.finish_reason, b.finish_reason);
        prop_assert_eq!(a.context_id, b.context_id);
        prop_assert_eq!(a.usage, b.usage);
    }
}

#[test]
fn every_seed_decodes_without_panic() {
    for body in corpus("json") {
        decode_all(&body);
    }
}
