//! The four OpenAI rank sets, each built once on first use from `tiktoken-rs`'s embedded files.
use std::sync::OnceLock;

use rustc_hash::FxHashMap;

use crate::error::TokenError;
use crate::pretokenize::Pretokenizer;

/// Encodings whose ordinary-text tokenization we reproduce exactly. Aliases with the same ranks
/// and pattern (p50k_edit, gpt2, o200k_harmony) resolve to their base: ordinary text encodes the
/// same; they differ only in special tokens, which we never recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncodingName {
    O200kBase,
    Cl100kBase,
    P50kBase,
    R50kBase,
}

impl EncodingName {
    pub fn parse(name: &str) -> Result<Self, TokenError> {
        match name {
            "o200k_base" | "o200k_harmony" => Ok(Self::O200kBase),
            "cl100k_base" => Ok(Self::Cl100kBase),
            "p50k_base" | "p50k_edit" => Ok(Self::P50kBase),
            "r50k_base" | "gpt2" => Ok(Self::R50kBase),
            other => Err(TokenError::UnknownEncoding(other.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::O200kBase => "o200k_base",
            Self::Cl100kBase => "cl100k_base",
            Self::P50kBase => "p50k_base",
            Self::R50kBase => "r50k_base",
        }
    }

    /// The mergeable ranks, in the order of the official `.tiktoken` file's lines. p50k_base
    /// skips 50256, which is `<|endoftext|>`.
    pub(crate) fn mergeable_ranks(self) -> impl Iterator<Item = u32> {
        let (end, gap) = match self {
            Self::O200kBase => (199_998, None),
            Self::Cl100kBase => (100_256, None),
            Self::P50kBase => (50_281, Some(50_256)),
            Self::R50kBase => (50_256, None),
        };
        (0..end).filter(move |r| Some(*r) != gap)
    }
}

/// A loaded encoding: byte-string → rank, rank → bytes, and the pretokenizer.
pub struct Encoding {
    pub name: EncodingName,
    pub(crate) ranks: FxHashMap<Vec<u8>, u32>,
    /// (rank, bytes) in file order, for exporting the rank file.
    pub(crate) by_rank: Vec<(u32, Vec<u8>)>,
    pub(crate) pre: Pretokenizer,
}

impl Encoding {
    /// The shared instance for `name` (alias or base name), built on first use.
    pub fn get(name: &str) -> Result<&'static Encoding, TokenError> {
        Self::for_name(EncodingName::parse(name)?)
    }

    pub fn for_name(name: EncodingName) -> Result<&'static Encoding, TokenError> {
        Self::cell(name).get_or_init(|| Self::build(name)).as_ref().map_err(Clone::clone)
    }

    /// The instance if it is already built (never blocks, never builds).
    pub fn loaded(name: EncodingName) -> Option<&'static Encoding> {
        Self::cell(name).get().and_then(|r| r.as_ref().ok())
    }

    fn cell(name: EncodingName) -> &'static OnceLock<Result<Encoding, TokenError>> {
        static O200K: OnceLock<Result<Encoding, TokenError>> = OnceLock::new();
        static CL100K: OnceLock<Result<Encoding, TokenError>> = OnceLock::new();
        static P50K: OnceLock<Result<Encoding, TokenError>> = OnceLock::new();
        static R50K: OnceLock<Result<Encoding, TokenError>> = OnceLock::new();
        match name {
            EncodingName::O200kBase => &O200K,
            EncodingName::Cl100kBase => &CL100K,
            EncodingName::P50kBase => &P50K,
            EncodingName::R50kBase => &R50K,
        }
    }

    fn build(name: EncodingName) -> Result<Encoding, TokenError> {
        let core = match name {
            EncodingName::O200kBase => tiktoken_rs::o200k_base_singleton(),
            EncodingName::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
            EncodingName::P50kBase => tiktoken_rs::p50k_base_singleton(),
            EncodingName::R50kBase => tiktoken_rs::r50k_base_singleton(),
        };
        let mut ranks = FxHashMap::default();
        let mut by_rank = Vec::new();
        for rank in name.mergeable_ranks() {
            let bytes = core.decode_bytes(&[rank]).map_err(|e| TokenError::Build(name.as_str(), e.to_string()))?;
            ranks.insert(bytes.clone(), rank);
            by_rank.push((rank, bytes));
        }
        // Byte-level BPE needs every single byte as a token; check once so merges never miss.
        if (0u8..=255).any(|b| !ranks.contains_key(&[b][..])) {
            return Err(TokenError::Build(name.as_str(), "a single byte has no rank".into()));
        }
        let pre = Pretokenizer::new(name).map_err(|e| TokenError::Build(name.as_str(), e))?;
        Ok(Encoding { name, ranks, by_rank, pre })
    }
}
