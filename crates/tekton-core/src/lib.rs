//! The Rhetor client core: everything between the Python facade and the socket.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod error;
pub mod ws;

pub use error::{CoreError, CoreResult, ErrorKind};
