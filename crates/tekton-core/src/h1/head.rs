//! The request head we write and the response head we read.

use reqwest::header::HeaderMap;

/// The largest response head we wait for (hyper's default is larger, but Rhetor's heads are a
/// few hundred bytes; a server sending more is not one).
pub(crate) const MAX_RESPONSE_HEAD: usize = 64 << 10;
/// Response header lines we look at; more is a malformed head, not a Rhetor.
const MAX_HEADERS: usize = 100;

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Length(u64),
    Chunked,
    /// Until the server closes the connection.
    Close,
}

#[derive(Debug, Clone)]
pub(crate) struct ResponseHead {
    pub(crate) status: u16,
    pub(crate) framing: Framing,
    /// The connection may carry another exchange after this one.
    pub(crate) keep_alive: bool,
    pub(crate) retry_after: Option<String>,
    pub(crate) location: Option<String>,
    /// Bytes of the head, CRLF CRLF included.
    pub(crate) len: usize,
}

/// The head of a response at the start of `bytes`: `Ok(None)` while it is incomplete.
pub(crate) fn parse_response_head(bytes: &[u8]) -> Result<Option<ResponseHead>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("Rhetor's answer is not HTTP/1.1 ({e})")),
    };
    let status = response.code.unwrap_or(0);
    let mut head = ResponseHead {
        status,
        framing: Framing::Close,
        keep_alive: response.version == Some(1),
        retry_after: None,
        location: None,
        len,
    };
    let mut length: Option<u64> = None;
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or("").trim();
        let name = header.name;
        if name.eq_ignore_ascii_case("transfer-encoding") {
            // The last coding decides; only `chunked` delimits (anything else is read to close).
            let last = value.rsplit(',').next().unwrap_or("").trim();
            head.framing = if last.eq_ignore_ascii_case("chunked") { Framing::Chunked } else { Framing::Close };
        } else if name.eq_ignore_ascii_case("content-length") {
            let n = value.parse::<u64>().map_err(|_| format!("Rhetor sent a bad Content-Length {value:?}"))?;
            if length.is_some_and(|m| m != n) {
                return Err("Rhetor sent two different Content-Length headers".to_owned());
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    head.keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") && response.version == Some(0) {
                    head.keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("retry-after") {
            head.retry_after = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("location") {
            head.location = Some(value.to_owned());
        }
    }
    let has_transfer_encoding = response.headers.iter().any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"));
    if !has_transfer_encoding {
        if let Some(n) = length {
            head.framing = Framing::Length(n);
        }
    }
    // No body, whatever the headers say (RFC 9112 6.3).
    if status == 204 || status == 304 {
        head.framing = Framing::Length(0);
    }
    if head.framing == Framing::Close {
        head.keep_alive = false;
    }
    Ok(Some(head))
}

/// `name: value` lines for `headers`, each ending in CRLF (values were checked for CR and LF
/// when the map was built).
pub(crate) fn header_lines(headers: &HeaderMap) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_keep_alive_and_the_headers_we_use() {
        let head = parse_response_head(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/event-stream\r\n\r\ndata",
        )
        .unwrap()
        .unwrap();
        assert_eq!((head.status, head.framing, head.keep_alive, head.len), (200, Framing::Chunked, true, 80));
        let head = parse_response_head(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 12\r\nRetry-After: 2\r\nConnection: close\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!((head.status, head.framing, head.keep_alive), (503, Framing::Length(12), false));
        assert_eq!(head.retry_after.as_deref(), Some("2"));
        let head = parse_response_head(b"HTTP/1.0 200 OK\r\n\r\n").unwrap().unwrap();
        assert_eq!((head.framing, head.keep_alive), (Framing::Close, false));
        let head =
            parse_response_head(b"HTTP/1.1 307 x\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n").unwrap().unwrap();
        assert_eq!((head.framing, head.location.as_deref()), (Framing::Length(0), Some("/b")));
    }

    #[test]
    fn incomplete_and_malformed_heads() {
        assert!(parse_response_head(b"HTTP/1.1 200 OK\r\ncontent-le").unwrap().is_none());
        assert!(parse_response_head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse_response_head(b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n").is_err());
        assert!(parse_response_head(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n").is_err());
    }
}
