//! A streamed answer's body, from whichever HTTP client sent the request (`RhetorHttp::send_stream`).

use bytes::Bytes;
use reqwest::Response;

use crate::error::CoreError;
use crate::h1;
use crate::http::transport_error;

pub enum StreamBody {
    /// Our own HTTP/1.1: bytes stamped with the kernel's receive time.
    Http1(h1::Body),
    /// reqwest (https://, proxies): bytes stamped when the reader got them. `last` keeps the
    /// latest read alive while the caller looks at it.
    Reqwest { resp: Response, last: Bytes },
}

impl StreamBody {
    pub(crate) fn reqwest(resp: Response) -> StreamBody {
        StreamBody::Reqwest { resp, last: Bytes::new() }
    }

    /// The next bytes and when they were received (monotonic ns); `None` at the end of the body.
    /// Cancel-safe.
    pub async fn read(&mut self, request_id: &str) -> Result<Option<(&[u8], u64)>, CoreError> {
        match self {
            StreamBody::Http1(body) => body.read().await.map_err(|e| h1::broken_error(&e, request_id)),
            StreamBody::Reqwest { resp, last } => match resp.chunk().await {
                Ok(Some(bytes)) => {
                    *last = bytes;
                    Ok(Some((&last[..], tekton_clock::monotonic_ns())))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(transport_error(&e, request_id)),
            },
        }
    }
}
