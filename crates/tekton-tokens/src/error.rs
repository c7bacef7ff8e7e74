//! The crate's one error type: bad arguments, never internal failures.
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TokenError {
    #[error("unknown encoding {0:?}: use o200k_base, cl100k_base, p50k_base or r50k_base")]
    UnknownEncoding(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("encoding {0} could not be built: {1}")]
    Build(&'static str, String),
}
