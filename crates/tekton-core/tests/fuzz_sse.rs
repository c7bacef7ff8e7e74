//! Property tests of the SSE decoder (cargo-fuzz needs nightly; proptest runs on stable).
//!
//! Inputs: arbitrary bytes, mutated seeds from tests/corpus/sse (the shared vectors and
//! simulator-shaped streams), invalid UTF-8, huge lines. Properties: no panic; the event limit
//! holds (no event is larger, and a line or event that crosses it is refused before more than
//! one read past the limit is buffered); input split anywhere decodes to the same events as the
//! unsplit input. Quick by default (256 cases each); a long run:
//! `PROPTEST_CASES=200000 cargo test -p tekton-core --release --test fuzz_sse`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fuzz_common;

use fuzz_common::{corpus, interesting_bytes, mutated, split_at};
use proptest::prelude::*;
use tekton_core::sse::{SseDecoder, SseEvent, SseLimitExceeded};

fn decode(reads: &[Vec<u8>], limit: usize) -> Result<Vec<SseEvent>, SseLimitExceeded> {
    let mut d = SseDecoder::new(limit);
    let mut out = Vec::new();
    for r in reads {
        d.feed(r, &mut out)?;
    }
    d.finish(&mut out)?;
    Ok(out)
}

const BIG: usize = 1 << 20;

fn sse_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![mutated(corpus("sse")), interesting_bytes(600), prop::collection::vec(any::<u8>(), 0..300)]
}

proptest! {
    #[test]
    fn split_anywhere_decodes_the_same(data in sse_input(), cuts in prop::collection::vec(any::<usize>(), 0..24)) {
        let whole = decode(std::slice::from_ref(&data), BIG).unwrap();
        let split = decode(&split_at(&data, &cuts), BIG).unwrap();
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn one_byte_reads_decode_the_same(data in mutated(corpus("sse"))) {
        let bytes: Vec<Vec<u8>> = data.iter().map(|b| vec![*b]).collect();
        prop_assert_eq!(decode(std::slice::from_ref(&data), BIG).unwrap(), decode(&bytes, BIG).unwrap());
    }

    #[test]
    fn events_never_exceed_the_limit(data in sse_input(), cuts in prop::collection::vec(any::<usize>(), 0..8),
                                     limit in 1usize..64) {
        if let Ok(events) = decode(&split_at(&data, &cuts), limit) {
            for e in events {
                prop_assert!(e.data.len() <= limit, "event of {} bytes past limit {}", e.data.len(), limit);
            }
        }
    }

    #[test]
    fn multibyte_characters_split_across_reads(text in "[a-zé€😀 ]{0,40}", cut in any::<usize>()) {
        let data = format!("data: {text}\n\n").into_bytes();
        let events = decode(&split_at(&data, &[cut]), BIG).unwrap();
        prop_assert_eq!(events.len(), 1);
        prop_assert_eq!(&events[0].data, &text);
    }

    #[test]
    fn huge_lines_are_refused_without_buffering_them(read in 1usize..8192, comment in any::<bool>()) {
        // A 1 MiB line against a 16 KiB limit, fed in reads of `read` bytes: refused once the
        // buffered part crosses the limit, i.e. after at most limit + one read.
        let limit = 16 * 1024;
        let mut line = if comment { b": ".to_vec() } else { b"data: ".to_vec() };
        line.resize(1 << 20, b'x');
        let mut d = SseDecoder::new(limit);
        let mut out = Vec::new();
        let mut fed = 0usize;
        let mut refused = false;
        for chunk in line.chunks(read) {
            fed += chunk.len();
            if d.feed(chunk, &mut out).is_err() {
                refused = true;
                break;
            }
        }
        prop_assert!(refused, "a 1 MiB line was accepted");
        prop_assert!(fed <= limit + 8 + read, "{fed} bytes fed before the refusal");
        prop_assert!(out.is_empty());
    }
}

#[test]
fn every_seed_decodes_and_survives_one_byte_reads() {
    for data in corpus("sse") {
        let whole = decode(std::slice::from_ref(&data), BIG).unwrap();
        let bytes: Vec<Vec<u8>> = data.iter().map(|b| vec![*b]).collect();
        assert_eq!(whole, decode(&bytes, BIG).unwrap());
    }
}
