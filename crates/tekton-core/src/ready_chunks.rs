//! A stream's chunks in compact form, as they cross from the reader task to the consumer.
//!
//! One message per chunk meant, per chunk, five small strings and a channel slot allocated on a
//! runtime thread and freed on the Python thread — most of the Rust path's cost per chunk. Here
//! every chunk text of a hand-over shares one buffer, and the fields that repeat on every chunk
//! (model, provider, context id, timestamp) are stored once per change.
use std::ops::Range;

use crate::protocol::v1::{StreamEvent, Text, Usage};

fn text<'t>(t: &'t Option<Text<'_>>) -> Option<&'t str> {
    t.as_ref().map(Text::as_str)
}

/// The fields that usually repeat from chunk to chunk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkMeta {
    pub model: Option<String>,
    pub provider: Option<String>,
    pub context_id: Option<String>,
    pub timestamp: Option<String>,
}

impl ChunkMeta {
    fn matches(
        &self,
        model: Option<&str>,
        provider: Option<&str>,
        context_id: Option<&str>,
        timestamp: Option<&str>,
    ) -> bool {
        self.model.as_deref() == model
            && self.provider.as_deref() == provider
            && self.context_id.as_deref() == context_id
            && self.timestamp.as_deref() == timestamp
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Chunk {
    text: Range<usize>,
    done: bool,
    fallback: Option<bool>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    meta: usize,
    received_ns: u64,
}

/// One ready chunk, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct ChunkView<'a> {
    pub text: &'a str,
    pub done: bool,
    pub fallback: Option<bool>,
    pub finish_reason: Option<&'a str>,
    pub usage: Option<&'a Usage>,
    pub meta: &'a ChunkMeta,
    /// Equal indexes within one `ReadyChunks` mean equal metadata.
    pub meta_index: usize,
    /// When the bytes of this chunk were read from the socket (`tekton_clock::monotonic_ns`), 0 if unknown.
    pub received_ns: u64,
}

#[derive(Debug, Default)]
pub struct ReadyChunks {
    text: String,
    chunks: Vec<Chunk>,
    metas: Vec<ChunkMeta>,
    /// The arrival time given to chunks pushed from now on.
    received_ns: u64,
}

impl ReadyChunks {
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Empty, keeping the allocations for reuse.
    pub fn clear(&mut self) {
        self.text.clear();
        self.chunks.clear();
        self.metas.clear();
    }

    /// The chunks pushed from now on arrived at `ns` (`tekton_clock::monotonic_ns`).
    pub fn set_received_ns(&mut self, ns: u64) {
        self.received_ns = ns;
    }

    pub fn push(&mut self, ev: &StreamEvent<'_>) {
        self.push_parts(
            text(&ev.chunk).unwrap_or(""),
            ev.done,
            ev.fallback,
            text(&ev.finish_reason),
            ev.usage.as_ref(),
            [text(&ev.model), text(&ev.provider), text(&ev.context_id), text(&ev.timestamp)],
        );
    }

    fn push_parts(
        &mut self,
        chunk: &str,
        done: bool,
        fallback: Option<bool>,
        finish_reason: Option<&str>,
        usage: Option<&Usage>,
        [model, provider, context_id, timestamp]: [Option<&str>; 4],
    ) {
        let same = self.metas.last().is_some_and(|m| m.matches(model, provider, context_id, timestamp));
        if !same {
            self.metas.push(ChunkMeta {
                model: model.map(str::to_owned),
                provider: provider.map(str::to_owned),
                context_id: context_id.map(str::to_owned),
                timestamp: timestamp.map(str::to_owned),
            });
        }
        let start = self.text.len();
        self.text.push_str(chunk);
        self.chunks.push(Chunk {
            text: start..self.text.len(),
            done,
            fallback,
            finish_reason: finish_reason.map(str::to_owned),
            usage: usage.cloned(),
            meta: self.metas.len() - 1,
            received_ns: self.received_ns,
        });
    }

    /// Move every chunk of `other` to the end of these; `other` is left empty.
    pub fn append(&mut self, other: &mut ReadyChunks) {
        let text_base = self.text.len();
        let meta_base = self.metas.len();
        self.text.push_str(&other.text);
        self.metas.append(&mut other.metas);
        self.chunks.extend(other.chunks.drain(..).map(|mut c| {
            c.text = c.text.start + text_base..c.text.end + text_base;
            c.meta += meta_base;
            c
        }));
        other.clear();
    }

    pub fn iter(&self) -> impl Iterator<Item = ChunkView<'_>> + '_ {
        self.chunks.iter().map(move |c| ChunkView {
            text: self.text.get(c.text.clone()).unwrap_or(""),
            done: c.done,
            fallback: c.fallback,
            finish_reason: c.finish_reason.as_deref(),
            usage: c.usage.as_ref(),
            meta: &self.metas[c.meta],
            meta_index: c.meta,
            received_ns: c.received_ns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::borrow::Cow;

    fn ev(data: &str) -> StreamEvent<'_> {
        serde_json::from_str(data).unwrap()
    }

    #[test]
    fn strings_are_borrowed_unless_escaped() {
        let e = ev(r#"{"chunk":"plain","model":"m\u00e9"}"#);
        assert!(matches!(e.chunk.as_ref().unwrap().0, Cow::Borrowed("plain")));
        assert!(matches!(e.model.as_ref().unwrap().0, Cow::Owned(ref s) if s == "mé"));
    }

    #[test]
    fn repeated_metadata_is_stored_once() {
        let mut b = ReadyChunks::default();
        b.push(&ev(r#"{"chunk":"a","model":"m","provider":"p"}"#));
        b.push(&ev(r#"{"chunk":"b","model":"m","provider":"p"}"#));
        b.push(&ev(r#"{"chunk":"c","model":"n","provider":"p","done":true,"finish_reason":"stop"}"#));
        let v: Vec<_> = b.iter().collect();
        assert_eq!(v.len(), 3);
        assert_eq!(b.metas.len(), 2);
        assert_eq!((v[0].text, v[1].text, v[2].text), ("a", "b", "c"));
        assert_eq!(v[0].meta_index, v[1].meta_index);
        assert_eq!(v[2].meta.model.as_deref(), Some("n"));
        assert!(v[2].done && v[2].finish_reason == Some("stop"));
    }

    #[test]
    fn append_keeps_order_and_fields() {
        let mut a = ReadyChunks::default();
        a.push(&ev(r#"{"chunk":"one","model":"m"}"#));
        let mut b = ReadyChunks::default();
        b.push(&ev(r#"{"chunk":"two","model":"x","usage":{"prompt_tokens":1,"completion_tokens":2}}"#));
        b.push(&ev(r#"{"chunk":"three","model":"x"}"#));
        a.append(&mut b);
        assert!(b.is_empty());
        let v: Vec<_> =
            a.iter().map(|c| (c.text, c.meta.model.clone(), c.usage.map(|u| u.completion_tokens))).collect();
        assert_eq!(
            v,
            vec![
                ("one", Some("m".into()), None),
                ("two", Some("x".into()), Some(2)),
                ("three", Some("x".into()), None)
            ]
        );
    }
}
