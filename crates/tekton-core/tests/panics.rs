//! A panic in a stream's reader task reaches the consumer as an error item, never as a clean
//! end of the stream and never as a hang.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use tekton_core::protocol::v1::StreamEvent;
use tekton_core::{ChatStream, ErrorKind, StreamItem};

async fn drain(stream: &mut ChatStream) -> Vec<StreamItem> {
    let mut items = Vec::new();
    let all = async {
        while stream.recv_batch(&mut items, 64).await {}
    };
    tokio::time::timeout(Duration::from_secs(10), all).await.expect("the stream hung");
    items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_panic_after_a_chunk_is_an_error_item() {
    let rt = tokio::runtime::Handle::current();
    let mut stream = ChatStream::spawn(&rt, "rid-1".into(), 8, |tx| async move {
        let ev = StreamEvent { chunk: Some("partial".into()), ..StreamEvent::default() };
        tx.send(StreamItem::Event(ev)).await.unwrap();
        panic!("deliberate reader panic");
    });
    let items = drain(&mut stream).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(matches!(&items[0], StreamItem::Event(e) if e.chunk.as_deref() == Some("partial")));
    let StreamItem::Error { error, .. } = &items[1] else { panic!("no error item: {items:?}") };
    assert_eq!(error.kind, ErrorKind::Other);
    assert_eq!(error.request_id.as_deref(), Some("rid-1"));
    assert!(error.message.contains("deliberate reader panic"), "{}", error.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_panic_before_anything_is_an_error_item() {
    let rt = tokio::runtime::Handle::current();
    let mut stream = ChatStream::spawn(&rt, "rid-2".into(), 1, |_tx| async move {
        panic!("deliberate reader panic");
    });
    let items = drain(&mut stream).await;
    assert!(matches!(items.as_slice(), [StreamItem::Error { .. }]), "{items:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_reader_ends_without_an_error() {
    let rt = tokio::runtime::Handle::current();
    let mut stream = ChatStream::spawn(&rt, "rid-3".into(), 1, |tx| async move {
        let ev = StreamEvent { done: true, ..StreamEvent::default() };
        tx.send(StreamItem::Event(ev)).await.unwrap();
    });
    let items = drain(&mut stream).await;
    assert!(matches!(items.as_slice(), [StreamItem::Event(e)] if e.done), "{items:?}");
}
