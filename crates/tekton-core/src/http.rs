//! Pooled HTTP to Rhetor: one reqwest client (keep-alive pool) per `RhetorHttp`, the retry loop,
//! status → error mapping and bounded body reads.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use tokio::sync::watch;

use crate::config::ClientConfig;
use crate::error::{CoreError, CoreResult, ErrorKind};
use crate::h1::Http1;
use crate::protocol::v1::{error_message, ChatRequest, Completion};
use crate::retry::{delay_before_retry, parse_retry_after};
use crate::stream_body::StreamBody;

/// A finished non-streaming call.
#[derive(Debug, Clone)]
pub struct CompletionOut {
    pub completion: Completion,
    pub request_id: String,
    pub latency_s: f64,
    pub attempts: u32,
}

/// Called for events worth a log line (retries, dropped events); the bindings route it to
/// Python's `logging`. Level follows Python's numbers (10 debug … 40 error).
pub type LogSink = Arc<dyn Fn(u8, &str) + Send + Sync>;

pub struct RhetorHttp {
    /// The pool of the process that built this client (taken only to be leaked, in `drop`).
    client: Option<reqwest::Client>,
    /// Who built `client`: a forked child must not use (or drop) its parent's pool.
    pid: u32,
    /// A forked child's own pool, built on its first request.
    child_client: Mutex<Option<(u32, reqwest::Client)>>,
    pub(crate) cfg: Arc<ClientConfig>,
    pub(crate) shutdown_tx: watch::Sender<bool>,
    pub(crate) log: Option<LogSink>,
    /// Our own HTTP/1.1 for calls and streams, where it applies (`h1`); reqwest otherwise.
    pub(crate) http1: Option<Http1>,
}

/// The most of an error answer read for its message (less where the client's limit is lower).
pub(crate) const MAX_ERROR_BODY: usize = 1 << 20;

/// How many same-origin 307/308 redirects one request follows.
pub(crate) const MAX_REDIRECTS: usize = 5;

/// The redirects we follow: 307/308 (method and body kept) within the origin of the first URL
/// (scheme, host and port). Anything else comes back as the 3xx answer and fails in
/// `redirect_error`: the prompt and the token never go to another host or over a weaker scheme,
/// and a POST is never silently turned into a GET.
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt.previous().first().is_some_and(|first| first.origin() == attempt.url().origin());
        let keeps_method = matches!(attempt.status(), StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT);
        if same_origin && keeps_method && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// The headers every request carries (user agent and accept aside).
fn default_headers(cfg: &ClientConfig) -> CoreResult<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert("x-tekton-component", header_value(&cfg.component_id)?);
    if let Some(token) = &cfg.auth_token {
        let mut v = header_value(&format!("Bearer {token}"))
            .map_err(|_| CoreError::new(ErrorKind::InvalidRequest, "auth token is not a valid header value"))?;
        // Sensitive values are left out of reqwest's Debug output.
        v.set_sensitive(true);
        headers.insert(AUTHORIZATION, v);
    }
    for (k, v) in &cfg.extra_headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| CoreError::new(ErrorKind::InvalidRequest, format!("invalid header name {k:?}")))?;
        headers.insert(name, header_value(v)?);
    }
    Ok(headers)
}

/// A pool for `cfg` (HTTP/1.1, keep-alive, our headers and redirect policy).
fn build_client(cfg: &ClientConfig, headers: HeaderMap) -> CoreResult<reqwest::Client> {
    // reqwest is built without a bundled crypto provider: ring is ours (fast to build, no
    // cmake). Installing twice is refused harmlessly, so every client may try.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder();
    if let Some(path) = &cfg.ca_bundle {
        let certs = crate::tls::read_ca_bundle(path)?;
        builder = builder.tls_certs_merge(certs.iter().filter_map(|c| reqwest::Certificate::from_der(c).ok()));
    }
    builder
        .user_agent(cfg.user_agent.clone())
        .default_headers(headers)
        .redirect(redirect_policy())
        .connect_timeout(cfg.connect_timeout)
        .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
        .pool_idle_timeout(cfg.pool_idle_timeout)
        .tcp_nodelay(true)
        .tcp_keepalive(std::time::Duration::from_secs(30))
        .http1_only()
        .build()
        .map_err(|e| CoreError::new(ErrorKind::Other, format!("cannot build HTTP client: {e}")))
}

impl Drop for RhetorHttp {
    fn drop(&mut self) {
        // In a forked child a pool built by an ancestor belongs to a runtime without threads, and
        // its sockets are registered in an epoll instance the ancestor still uses: never drop it.
        let pid = std::process::id();
        if pid != self.pid {
            std::mem::forget(self.client.take());
        }
        let slot = self.child_client.get_mut().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_some_and(|(owner, _)| *owner != pid) {
            std::mem::forget(slot.take());
        }
    }
}

impl RhetorHttp {
    pub fn new(cfg: ClientConfig, log: Option<LogSink>) -> CoreResult<RhetorHttp> {
        check_base_url(&cfg.base_url).map_err(|e| CoreError::new(ErrorKind::InvalidRequest, e))?;
        let headers = default_headers(&cfg)?;
        let http1 = Http1::for_config(&cfg, &headers);
        let client = build_client(&cfg, headers)?;
        let (shutdown_tx, _) = watch::channel(false);
        Ok(RhetorHttp {
            client: Some(client),
            pid: std::process::id(),
            child_client: Mutex::new(None),
            cfg: Arc::new(cfg),
            shutdown_tx,
            log,
            http1,
        })
    }

    /// The pool of this process: the one built with the client, or in a forked child its own.
    fn pool(&self) -> CoreResult<reqwest::Client> {
        let pid = std::process::id();
        if pid == self.pid {
            if let Some(client) = &self.client {
                return Ok(client.clone());
            }
        }
        let mut slot = self.child_client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((owner, client)) = &*slot {
            if *owner == pid {
                return Ok(client.clone());
            }
        }
        let client = build_client(&self.cfg, default_headers(&self.cfg)?)?;
        // A grandchild's copy of its parent's pool is left alone for the reason in `drop`.
        std::mem::forget(slot.replace((pid, client.clone())));
        Ok(client)
    }

    /// `text` with the configured token blanked out: servers may echo what we sent (a 401 body
    /// that repeats the Authorization header), and we show their messages to the caller.
    pub fn redact(&self, text: &str) -> String {
        redact_token(self.cfg.auth_token.as_deref(), text)
    }

    /// The error with the configured token blanked out of its message.
    pub(crate) fn redact_error(&self, mut e: CoreError) -> CoreError {
        e.message = self.redact(&e.message);
        e
    }

    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// Stop every call and stream of this client; later calls fail with ConnectionError.
    pub fn close(&self) {
        self.shutdown_tx.send_replace(true);
        if let Some(http1) = &self.http1 {
            http1.close_idle();
        }
    }

    /// Whether chunk arrival times are the kernel's receive times (our own HTTP/1.1: http:// with
    /// no proxy) rather than when the reader got the bytes (reqwest: https://, proxies).
    pub fn kernel_receive_times(&self) -> bool {
        self.http1.is_some()
    }

    /// Opens keep-alive connections until `count` are idle, ahead of a load (our own HTTP/1.1
    /// only; through reqwest, none): how many were opened.
    pub async fn preconnect(&self, count: usize) -> CoreResult<usize> {
        match &self.http1 {
            Some(http1) => http1.preconnect(count).await,
            None => Ok(0),
        }
    }

    pub fn is_closed(&self) -> bool {
        *self.shutdown_tx.borrow()
    }

    pub(crate) fn log(&self, level: u8, msg: &str) {
        if let Some(sink) = &self.log {
            sink(level, msg);
        }
    }

    /// POST /api/v1/chat with retries; each attempt bounded by `timeout`.
    pub async fn chat(&self, req: &ChatRequest, request_id: &str) -> CoreResult<CompletionOut> {
        let body = Bytes::from(
            req.to_v1_body(false)
                .map_err(|e| CoreError::new(ErrorKind::InvalidRequest, format!("cannot encode request: {e}")))?,
        );
        let url = self.cfg.url("/api/v1/chat");
        let started = Instant::now();
        let (bytes, attempts) =
            self.with_retries(request_id, |rid| self.fetch_bytes(Method::POST, &url, Some(body.clone()), rid)).await?;
        let completion: Completion = serde_json::from_slice(&bytes).map_err(|e| {
            CoreError::new(ErrorKind::Protocol, format!("Rhetor answered with invalid JSON: {e}"))
                .with_request_id(request_id)
        })?;
        if let Some(err) = &completion.error {
            if completion.content.is_none() {
                return Err(CoreError::new(ErrorKind::ServiceUnavailable, self.redact(err))
                    .with_status(200)
                    .with_request_id(request_id));
            }
        }
        if completion.content.is_none() {
            return Err(
                CoreError::new(ErrorKind::Protocol, "Rhetor's answer has no `content`").with_request_id(request_id)
            );
        }
        Ok(CompletionOut {
            completion,
            request_id: request_id.to_owned(),
            latency_s: started.elapsed().as_secs_f64(),
            attempts,
        })
    }

    /// GET a JSON document (health, providers) with retries.
    pub async fn get_json(&self, path: &str, request_id: &str) -> CoreResult<Value> {
        self.request_json(Method::GET, path, None, request_id).await
    }

    /// Any JSON request with retries, status mapping and the size limit; the answer decoded.
    /// The older server dialects are spoken through this.
    pub async fn request_json(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        request_id: &str,
    ) -> CoreResult<Value> {
        let url = self.cfg.url(path);
        let (bytes, _) =
            self.with_retries(request_id, |rid| self.fetch_bytes(method.clone(), &url, body.clone(), rid)).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            CoreError::new(ErrorKind::Protocol, format!("{path} answered with invalid JSON: {e}"))
                .with_request_id(request_id)
        })
    }

    /// Run `attempt` until it succeeds, fails finally, or the client is closed.
    pub(crate) async fn with_retries<T, F, Fut>(&self, request_id: &str, attempt: F) -> CoreResult<(T, u32)>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = CoreResult<T>>,
    {
        let mut shutdown = self.shutdown_tx.subscribe();
        let mut n: u32 = 0;
        loop {
            if *shutdown.borrow() {
                return Err(closed_error(request_id));
            }
            let result = tokio::select! {
                r = attempt(request_id.to_owned()) => r,
                // Shut down mid-attempt: final, never retried.
                _ = shutdown.changed() => return Err(closed_error(request_id)),
            };
            match result {
                Ok(v) => return Ok((v, n + 1)),
                Err(e) => {
                    let Some(delay) = delay_before_retry(&e, n, &self.cfg) else {
                        return Err(e);
                    };
                    self.log(
                        30,
                        &format!(
                            "request {request_id}: attempt {} failed ({}); retrying in {:.2}s",
                            n + 1,
                            e,
                            delay.as_secs_f64()
                        ),
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => return Err(closed_error(request_id)),
                    }
                    n += 1;
                }
            }
        }
    }

    /// One attempt: send, check the status, read the whole body under the size limit, all
    /// within `timeout` (a trickling body cannot outlast it).
    async fn fetch_bytes(
        &self,
        method: Method,
        url: &str,
        body: Option<Bytes>,
        request_id: String,
    ) -> CoreResult<Bytes> {
        let timeout = self.cfg.timeout;
        let limit = self.cfg.max_response_bytes;
        let work = async {
            let Some(http1) = &self.http1 else {
                let resp = self.send(method, url, body, &request_id).await?;
                return read_body_limited(resp, limit, &request_id).await;
            };
            let mut answer =
                http1.send(&method, url, body.as_deref(), &request_id).await.map_err(|e| self.redact_error(e))?;
            match answer.read_to_end(limit).await {
                Ok(Some(bytes)) => Ok(Bytes::from(bytes)),
                Ok(None) => Err(limit_error(limit, &request_id)),
                Err(e) => Err(crate::h1::broken_error(&e, &request_id)),
            }
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(CoreError::new(
                ErrorKind::Timeout,
                format!("no complete answer within {:.1}s", timeout.as_secs_f64()),
            )
            .with_request_id(request_id)),
        }
    }

    /// Send one request with reqwest and return the response if its status is 2xx; otherwise the
    /// mapped error.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<Bytes>,
        request_id: &str,
    ) -> CoreResult<Response> {
        let mut rb = self.pool()?.request(method, url).header("x-request-id", request_id);
        if let Some(b) = body {
            rb = rb.body(b);
        }
        let resp = rb.send().await.map_err(|e| self.redact_error(transport_error(&e, request_id)))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        if resp.status().is_redirection() {
            let location = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok());
            return Err(redirect_error(resp.status().as_u16(), resp.url(), location, request_id));
        }
        Err(self.redact_error(status_error(resp, self.cfg.max_response_bytes.min(MAX_ERROR_BODY), request_id).await))
    }

    /// POST a streamed request: the answer's body if its status is 2xx, otherwise the mapped
    /// error. Our own HTTP/1.1 where it applies, reqwest otherwise.
    pub(crate) async fn send_stream(&self, url: &str, body: Bytes, request_id: &str) -> CoreResult<StreamBody> {
        match &self.http1 {
            Some(http1) => match http1.send(&Method::POST, url, Some(&body), request_id).await {
                Ok(body) => Ok(StreamBody::Http1(body)),
                Err(e) => Err(self.redact_error(e)),
            },
            None => self.send(Method::POST, url, Some(body), request_id).await.map(StreamBody::reqwest),
        }
    }
}

/// `text` with `token` blanked out (nothing to do without a token).
pub fn redact_token(token: Option<&str>, text: &str) -> String {
    match token {
        Some(t) if !t.is_empty() && text.contains(t) => text.replace(t, "***"),
        _ => text.to_owned(),
    }
}

/// Why a base URL cannot be used, or Ok: http/https with a host and a valid port, and no
/// `user:password@` (credentials go in `auth_token`; in the URL they would show in every log
/// line and repr, and reqwest would send them as Basic auth in place of the token).
pub fn check_base_url(url: &str) -> Result<(), String> {
    let shown = without_userinfo(url);
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!("Rhetor URL must start with http:// or https://, got {shown:?}"));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("invalid Rhetor URL {shown:?}: {e}"))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("Rhetor URL has no host: {shown:?}"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "Rhetor URL must not carry credentials (user:password@): pass the token as auth_token, got {shown:?}"
        ));
    }
    Ok(())
}

/// A URL for messages: any `user:password@` before the host replaced by `***@`.
pub fn without_userinfo(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// A 3xx we did not follow: which status, where it pointed (`location`, relative to `here`), and
/// why not.
pub(crate) fn redirect_error(status: u16, here: &reqwest::Url, location: Option<&str>, request_id: &str) -> CoreError {
    let target = location.and_then(|l| here.join(l).ok());
    let shown = match (&target, location) {
        (Some(t), _) => without_userinfo(t.as_str()),
        (None, Some(l)) => without_userinfo(l),
        (None, None) => "(no Location)".to_owned(),
    };
    let why = match &target {
        Some(t) if t.origin() != here.origin() => {
            "it leads to another origin (host, port or scheme), and the request would carry the prompt and the token there"
        }
        _ if !matches!(status, 307 | 308) => "only 307/308 keep the method and body",
        _ => "too many redirects",
    };
    CoreError::new(
        ErrorKind::Redirect,
        format!("Rhetor answered {} redirecting to {shown}: not followed, {why}", status_text(status)),
    )
    .with_status(status)
    .with_request_id(request_id)
}

fn header_value(v: &str) -> CoreResult<HeaderValue> {
    HeaderValue::from_str(v)
        .map_err(|_| CoreError::new(ErrorKind::InvalidRequest, "header value has characters HTTP does not allow"))
}

pub(crate) fn closed_error(request_id: &str) -> CoreError {
    CoreError::new(ErrorKind::Connection, "the client was shut down").with_request_id(request_id)
}

/// reqwest's error → our kind. The URL is left out of the message (it may carry credentials).
pub(crate) fn transport_error(e: &reqwest::Error, request_id: &str) -> CoreError {
    let kind = if e.is_timeout() { ErrorKind::Timeout } else { ErrorKind::Connection };
    let what = if e.is_connect() {
        "cannot connect to Rhetor"
    } else if e.is_timeout() {
        "timed out talking to Rhetor"
    } else if e.is_body() || e.is_decode() {
        "the connection to Rhetor broke while reading the answer"
    } else {
        "HTTP request to Rhetor failed"
    };
    let mut detail = String::new();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        detail = s.to_string();
        src = s.source();
    }
    let message = if detail.is_empty() { what.to_owned() } else { format!("{what}: {detail}") };
    CoreError::new(kind, message).with_request_id(request_id)
}

async fn status_error(resp: Response, limit: usize, request_id: &str) -> CoreError {
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = read_body_limited(resp, limit, request_id).await.unwrap_or_default();
    status_error_from(status, retry_after.as_deref(), &body, request_id)
}

/// A non-2xx answer as our error: its kind from the status, its message (and code) from the
/// body, how long it asked us to wait.
pub(crate) fn status_error_from(status: u16, retry_after: Option<&str>, body: &[u8], request_id: &str) -> CoreError {
    let (message, code) = error_message(body);
    let kind = ErrorKind::from_status(status);
    let mut err = CoreError::new(kind, format!("Rhetor answered {}: {message}", status_text(status)))
        .with_status(status)
        .with_request_id(request_id)
        .with_code(code);
    err.retry_after = retry_after.and_then(|v| parse_retry_after(v, SystemTime::now())).map(|d| d.as_secs_f64());
    err
}

fn status_text(status: u16) -> String {
    match StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()) {
        Some(r) => format!("{status} {r}"),
        None => status.to_string(),
    }
}

pub(crate) async fn read_body_limited(mut resp: Response, limit: usize, request_id: &str) -> CoreResult<Bytes> {
    if let Some(len) = resp.content_length() {
        if len > limit as u64 {
            return Err(limit_error(limit, request_id));
        }
    }
    // Most answers arrive in one read: return that buffer without copying.
    let Some(first) = next_chunk(&mut resp, request_id).await? else {
        return Ok(Bytes::new());
    };
    if first.len() > limit {
        return Err(limit_error(limit, request_id));
    }
    let Some(second) = next_chunk(&mut resp, request_id).await? else {
        return Ok(first);
    };
    let mut buf: Vec<u8> = Vec::with_capacity(first.len() + second.len());
    buf.extend_from_slice(&first);
    let mut chunk = second;
    loop {
        if buf.len() + chunk.len() > limit {
            return Err(limit_error(limit, request_id));
        }
        buf.extend_from_slice(&chunk);
        match next_chunk(&mut resp, request_id).await? {
            Some(c) => chunk = c,
            None => return Ok(Bytes::from(buf)),
        }
    }
}

async fn next_chunk(resp: &mut Response, request_id: &str) -> CoreResult<Option<Bytes>> {
    resp.chunk().await.map_err(|e| transport_error(&e, request_id))
}

fn limit_error(limit: usize, request_id: &str) -> CoreError {
    CoreError::new(ErrorKind::LimitExceeded, format!("response body larger than the limit of {limit} bytes"))
        .with_request_id(request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_never_show_credentials() {
        for ok in ["http://127.0.0.1:8003", "https://h/api/llm/", "HTTP://localhost"] {
            assert_eq!(check_base_url(ok), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("http://127.0.0.1:99999", "port"),
            ("localhost:8003", "http://"),
            ("ftp://h", "http://"),
            ("http://", "host"),
            ("http://user:pw-s3cret@h:1", "credentials"),
            ("https://pw-s3cret@h/x", "credentials"),
        ] {
            let err = check_base_url(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
            assert!(!err.contains("pw-s3cret"), "{err}");
        }
        assert_eq!(without_userinfo("http://u:p@h:1/a@b"), "http://***@h:1/a@b");
        assert_eq!(without_userinfo("http://h:1/a@b"), "http://h:1/a@b");
    }

    #[test]
    fn the_token_is_blanked_out_of_server_text() {
        assert_eq!(redact_token(Some("tok"), "bad Bearer tok here"), "bad Bearer *** here");
        assert_eq!(redact_token(Some(""), "text"), "text");
        assert_eq!(redact_token(None, "tok"), "tok");
    }
}
