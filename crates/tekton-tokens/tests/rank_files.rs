//! The exported rank files are the official ones: tiktoken checks these sha256 sums.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use sha2::{Digest, Sha256};
use tekton_tokens::{rank_file, rank_file_sha256_expected, EncodingName};

#[test]
fn rank_files_match_tiktoken_hashes() {
    for name in ["o200k_base", "cl100k_base", "p50k_base", "r50k_base"] {
        let bytes = rank_file(name).unwrap();
        let hex: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        let expected = rank_file_sha256_expected(EncodingName::parse(name).unwrap());
        assert_eq!(hex, expected, "{name}");
    }
}

#[test]
fn unknown_encoding_is_an_error() {
    assert!(rank_file("nope").is_err());
}
