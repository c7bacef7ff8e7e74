//! A panic in a stream's reader task reaches the consumer as an error item, never as a clean
//! end of the stream and never as a hang.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use tekton_core::protocol::v1::StreamEvent;
use tekton_core::{ChatStream, ErrorKind, ReadyChunks, StreamEnd};

/// Every chunk text, and how the stream ended.
async fn drain(stream: &mut ChatStream) -> (Vec<String>, StreamEnd) {
    let mut texts = Vec::new();
    let all = async {
        let mut ready = ReadyChunks::default();
        loop {
            let end = stream.take(&mut ready).await;
            texts.extend(ready.iter().map(|c| c.text.to_owned()));
            if let Some(end) = end {
                return end;
            }
        }
    };
    let end = tokio::time::timeout(Duration::from_secs(10), all).await.expect("the stream hung");
    (texts, end)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_panic_after_a_chunk_is_an_error_item() {
    let rt = tokio::runtime::Handle::current();
    let mut stream = ChatStream::spawn(&rt, "rid-1".into(), 8, |mut sink| async move {
        let ev = StreamEvent { chunk: Some("partial".into()), ..StreamEvent::default() };
        sink.chunks().push(&ev);
        sink.flush().await.unwrap();
        panic!("deliberate reader panic");
    });
    let (texts, end) = drain(&mut stream).await;
    assert_eq!(texts, ["partial"]);
    let StreamEnd::Failed { error, .. } = &end else { panic!("no error end: {end:?}") };
    assert_eq!(error.kind, ErrorKind::Other);
    assert_eq!(error.request_id.as_deref(), Some("rid-1"));
    assert!(error.message.contains("deliberate reader panic"), "{}", error.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_panic_before_anything_is_an_error_item() {
    let rt = tokio::runtime::Handle::current();
    let mut stream = ChatStream::spawn(&rt, "rid-2".into(), 1, |_sink| async move {
        panic!("deliberate reader panic");
    });
    let (texts, end) = drain(&mut stream).await;
    assert!(texts.is_empty() && matches!(end, StreamEnd::Failed { .. }), "{texts:?} {end:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_reader_ends_without_an_error() {
    let rt = tokio::runtime::Handle::current();
    let mut stream = ChatStream::spawn(&rt, "rid-3".into(), 1, |mut sink| async move {
        let ev = StreamEvent { chunk: Some("all".into()), done: true, ..StreamEvent::default() };
        sink.chunks().push(&ev);
        sink.end(StreamEnd::Finished).await;
    });
    let (texts, end) = drain(&mut stream).await;
    assert!(texts == ["all"] && matches!(end, StreamEnd::Finished), "{texts:?} {end:?}");
}
