//! Our own HTTP/1.1 over plain TCP. The task that reads a stream reads its
//! socket itself: no connection task, no body channel, no second task switch per network read
//! (what hyper's client costs per event was about half the I/O thread's time on paced streams),
//! and every read carries the kernel's receive time.
//!
//! Used for every request to `http://` when no proxy is named in the environment (one pool for
//! calls and streams); `https://` and proxies go through reqwest (`http.rs`). Both speak the same
//! headers, follow the same redirects (307/308 within the origin) and map failures to the same
//! errors.

mod body;
mod chunked;
mod connection;
mod head;
mod pool;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, HOST, USER_AGENT};
use reqwest::{Method, Url};

use crate::config::ClientConfig;
use crate::error::{CoreError, ErrorKind};
use crate::http::{redirect_error, status_error_from, MAX_ERROR_BODY, MAX_REDIRECTS};

pub use body::Body;
use connection::Connection;
use head::{header_lines, parse_response_head, ResponseHead, MAX_RESPONSE_HEAD};
use pool::Pool;

pub struct Http1 {
    /// What `connect` is given: the host without IPv6 brackets.
    connect_host: String,
    port: u16,
    /// Every request's header lines but `x-request-id` and `content-length`.
    common_head: Vec<u8>,
    pool: Arc<Pool>,
    connect_timeout: Duration,
    max_error_body: usize,
}

/// Proxy variables reqwest obeys: with any of them set, streams go through reqwest too.
const PROXY_VARIABLES: [&str; 4] = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"];

impl Http1 {
    /// Our own HTTP/1.1 for `cfg`, sending `headers` (the client's default headers), or `None`
    /// where reqwest does the work: https://, or a proxy named in the environment.
    pub fn for_config(cfg: &ClientConfig, headers: &HeaderMap) -> Option<Http1> {
        if PROXY_VARIABLES.iter().any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty())) {
            return None;
        }
        let url = Url::parse(&cfg.base_url).ok()?;
        if url.scheme() != "http" {
            return None;
        }
        let host = url.host_str()?;
        let mut headers = headers.clone();
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, HeaderValue::from_str(&cfg.user_agent).ok()?);
        }
        if !headers.contains_key(ACCEPT) {
            headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        }
        // Every request goes to this origin (redirects are followed only within it).
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        if !headers.contains_key(HOST) {
            headers.insert(HOST, HeaderValue::from_str(&authority).ok()?);
        }
        Some(Http1 {
            connect_host: host.trim_start_matches('[').trim_end_matches(']').to_owned(),
            port: url.port_or_known_default()?,
            common_head: header_lines(&headers),
            pool: Arc::new(Pool::new(cfg.pool_max_idle_per_host, cfg.pool_idle_timeout)),
            connect_timeout: cfg.connect_timeout,
            max_error_body: cfg.max_response_bytes.min(MAX_ERROR_BODY),
        })
    }

    /// Send `method` to `url` (on this client's origin) with `body` and read the answer's head:
    /// the body reader for a 2xx, the mapped error otherwise. Same-origin 307/308 redirects are
    /// followed.
    pub async fn send(
        &self,
        method: &Method,
        url: &str,
        body: Option<&[u8]>,
        request_id: &str,
    ) -> Result<Body, CoreError> {
        let mut here =
            Url::parse(url).map_err(|e| CoreError::new(ErrorKind::InvalidRequest, format!("invalid URL: {e}")))?;
        let origin = here.origin();
        let mut redirects = 0;
        loop {
            let (conn, head) = self.exchange(method, &here, body, request_id).await?;
            let mut answer = Body::new(conn, &head, Arc::clone(&self.pool));
            if (200..300).contains(&head.status) {
                return Ok(answer);
            }
            if (300..400).contains(&head.status) {
                let target = head.location.as_deref().and_then(|l| here.join(l).ok());
                match target {
                    Some(t)
                        if matches!(head.status, 307 | 308) && t.origin() == origin && redirects < MAX_REDIRECTS =>
                    {
                        redirects += 1;
                        here = t;
                        continue;
                    }
                    _ => return Err(redirect_error(head.status, &here, head.location.as_deref(), request_id)),
                }
            }
            let message = answer.read_to_end(self.max_error_body).await.ok().flatten().unwrap_or_default();
            return Err(status_error_from(head.status, head.retry_after.as_deref(), &message, request_id));
        }
    }

    /// One request on a pooled or new connection, and the head of its answer. A pooled
    /// connection is checked before it is used (`Pool::take`); one the server closes after that
    /// fails this attempt like any broken connection (it may have seen the request: sending it
    /// again here would ask twice behind the retry policy's back).
    async fn exchange(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&[u8]>,
        request_id: &str,
    ) -> Result<(Connection, ResponseHead), CoreError> {
        let request = self.request_bytes(method, url, body, request_id);
        let mut conn = match self.pool.take() {
            Some(conn) => conn,
            None => Connection::open(&self.connect_host, self.port, self.connect_timeout)
                .await
                .map_err(|e| connect_error(&e).with_request_id(request_id))?,
        };
        let head = send_and_read_head(&mut conn, &request, request_id).await?;
        Ok((conn, head))
    }

    /// Opens connections at once until `count` are idle in the pool (no more than it keeps), so
    /// a load that starts at full rate does not pay a connect per request at first. How many
    /// were opened; an error only when none could be.
    pub async fn preconnect(&self, count: usize) -> Result<usize, CoreError> {
        let count = count.min(self.pool.max_idle()).saturating_sub(self.pool.idle_count());
        let opening = (0..count).map(|_| Connection::open(&self.connect_host, self.port, self.connect_timeout));
        let mut opened = 0;
        let mut failure = None;
        for result in futures_util::future::join_all(opening).await {
            match result {
                Ok(conn) => {
                    self.pool.put(conn);
                    opened += 1;
                }
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        match failure {
            Some(e) if opened == 0 => Err(connect_error(&e)),
            _ => Ok(opened),
        }
    }

    /// Closes the idle connections: the client was shut down (its exchanges in flight end with
    /// it, and close their own).
    pub fn close_idle(&self) {
        self.pool.clear();
    }

    /// The whole request, head and body, for one write.
    fn request_bytes(&self, method: &Method, url: &Url, body: Option<&[u8]>, request_id: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.common_head.len() + body.map_or(0, <[u8]>::len) + 256);
        out.extend_from_slice(method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(url.path().as_bytes());
        if let Some(query) = url.query() {
            out.push(b'?');
            out.extend_from_slice(query.as_bytes());
        }
        out.extend_from_slice(b" HTTP/1.1\r\n");
        out.extend_from_slice(&self.common_head);
        // Request ids are ours or checked by the bindings: printable ASCII, no CR or LF.
        out.extend_from_slice(b"x-request-id: ");
        out.extend(request_id.bytes().filter(|b| !b.is_ascii_control()));
        out.extend_from_slice(b"\r\n");
        // A body's length; a bodiless POST says 0 (some servers wait for a body otherwise).
        let length = body.map(<[u8]>::len).or((method == Method::POST || method == Method::PUT).then_some(0));
        if let Some(length) = length {
            out.extend_from_slice(format!("content-length: {length}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body.unwrap_or_default());
        out
    }
}

async fn send_and_read_head(
    conn: &mut Connection,
    request: &[u8],
    request_id: &str,
) -> Result<ResponseHead, CoreError> {
    conn.write_all(request).await.map_err(|e| broken_error(&e, request_id))?;
    loop {
        match parse_response_head(conn.unread())
            .map_err(|m| CoreError::new(ErrorKind::Protocol, m).with_request_id(request_id))?
        {
            // 1xx answers come before the real one (101 is not asked for, so not expected).
            Some(head) if (100..200).contains(&head.status) && head.status != 101 => conn.take(head.len),
            Some(head) => {
                conn.take(head.len);
                return Ok(head);
            }
            None => match conn.fill(MAX_RESPONSE_HEAD).await {
                Ok(0) => {
                    let closed = io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection");
                    return Err(broken_error(&closed, request_id));
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    return Err(CoreError::new(
                        ErrorKind::Protocol,
                        format!("Rhetor's answer has a head larger than {MAX_RESPONSE_HEAD} bytes"),
                    )
                    .with_request_id(request_id))
                }
                Err(e) => return Err(broken_error(&e, request_id)),
            },
        }
    }
}

/// A failed connect, in the words reqwest's are given (`http::transport_error`).
fn connect_error(e: &io::Error) -> CoreError {
    let kind = if e.kind() == io::ErrorKind::TimedOut { ErrorKind::Timeout } else { ErrorKind::Connection };
    CoreError::new(kind, format!("cannot connect to Rhetor: {e}"))
}

/// A connection that broke while we waited for or read an answer.
pub(crate) fn broken_error(e: &io::Error, request_id: &str) -> CoreError {
    CoreError::new(ErrorKind::Connection, format!("the connection to Rhetor broke while reading the answer: {e}"))
        .with_request_id(request_id)
}
