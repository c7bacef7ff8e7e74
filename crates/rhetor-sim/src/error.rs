//! The simulator's error type: what can go wrong while starting it or parsing its knobs.

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("simulator I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid simulator configuration: {0}")]
    Config(String),
}

/// The error a response body ends with to make hyper abort the connection mid-body
/// (`cut_after`): the client then sees an incomplete chunked body, not a clean end.
#[derive(Debug, thiserror::Error)]
#[error("connection cut by the simulator")]
pub struct BodyCut;

/// Returned by the HTTP service to make hyper close the connection without any response
/// (`reset_times`): the client sees the server disconnect, as with a crashed upstream.
#[derive(Debug, thiserror::Error)]
#[error("connection closed by the simulator before responding")]
pub struct ConnectionDropped;
