//! The one error type of the client core. It crosses into Python as
//! `tekton_llm_client.exceptions.error_from_kind(kind.name(), message, ...)`.

use std::fmt;

/// What went wrong, in the terms of docs/protocol.md. `name()` is the string Python maps to a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    Timeout,
    RateLimit,
    ServiceUnavailable,
    Connection,
    StreamInterrupted,
    Protocol,
    LimitExceeded,
    /// A redirect the client does not follow (another origin, a weaker scheme, or a 301/302/303).
    Redirect,
    Other,
}

impl ErrorKind {
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Authentication => "authentication",
            ErrorKind::Timeout => "timeout",
            ErrorKind::RateLimit => "rate_limit",
            ErrorKind::ServiceUnavailable => "service_unavailable",
            ErrorKind::Connection => "connection",
            ErrorKind::StreamInterrupted => "stream_interrupted",
            ErrorKind::Protocol => "protocol",
            ErrorKind::LimitExceeded => "limit_exceeded",
            ErrorKind::Redirect => "redirect",
            ErrorKind::Other => "error",
        }
    }

    /// The status table of docs/protocol.md.
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            400 | 404 | 413 | 422 => ErrorKind::InvalidRequest,
            401 | 403 => ErrorKind::Authentication,
            408 | 504 => ErrorKind::Timeout,
            429 => ErrorKind::RateLimit,
            500 | 502 | 503 => ErrorKind::ServiceUnavailable,
            _ => ErrorKind::Other,
        }
    }

    /// Whether a call failing this way is retried by default.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Timeout | ErrorKind::RateLimit | ErrorKind::ServiceUnavailable | ErrorKind::Connection
        )
    }
}

/// An error with everything the Python exception carries.
#[derive(Debug, Clone)]
pub struct CoreError {
    pub kind: ErrorKind,
    pub message: String,
    pub status: Option<u16>,
    pub request_id: Option<String>,
    pub code: Option<String>,
    /// Seconds the server asked us to wait (429 / 503 Retry-After).
    pub retry_after: Option<f64>,
}

impl CoreError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> CoreError {
        CoreError { kind, message: message.into(), status: None, request_id: None, code: None, retry_after: None }
    }

    pub fn with_status(mut self, status: u16) -> CoreError {
        self.status = Some(status);
        self
    }

    pub fn with_request_id(mut self, id: impl Into<String>) -> CoreError {
        self.request_id = Some(id.into());
        self
    }

    pub fn with_code(mut self, code: Option<String>) -> CoreError {
        self.code = code;
        self
    }
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(s) = self.status {
            write!(f, " (status {s})")?;
        }
        Ok(())
    }
}

impl std::error::Error for CoreError {}

pub type CoreResult<T> = Result<T, CoreError>;
