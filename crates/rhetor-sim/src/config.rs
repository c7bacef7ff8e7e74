//! Simulator configuration and the per-request behaviour knobs (`X-Sim-*` headers, `"sim"` JSON).

use std::time::Duration;

use hyper::HeaderMap;
use serde_json::{Map, Value};

/// How a failure body looks (`fail_body` knob).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailBody {
    /// `{"error": "...", "code": "..."}`
    Json,
    /// FastAPI's `{"detail": "..."}`
    Detail,
    /// A `text/html` page: a body that is not JSON.
    Html,
    /// No body at all.
    Empty,
}

/// SSE line terminator (`line_ending` knob); WHATWG EventSource accepts all three.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineEnding {
    Lf,
    CrLf,
    Cr,
}

impl LineEnding {
    pub fn as_str(self) -> &'static str {
        match self {
            LineEnding::Lf => "\n",
            LineEnding::CrLf => "\r\n",
            LineEnding::Cr => "\r",
        }
    }
}

/// Behaviour knobs. Every field is optional so that layers (simulator defaults, headers, body
/// `"sim"`, `options.sim`) can be overlaid; the accessors supply the documented defaults.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Knobs {
    pub length: Option<usize>,
    pub chunks: Option<usize>,
    pub chunk_size: Option<usize>,
    pub first_chunk_delay_ms: Option<u64>,
    pub chunk_delay_ms: Option<u64>,
    pub lockstep: Option<bool>,
    pub fail_status: Option<u16>,
    pub fail_times: Option<u32>,
    pub retry_after: Option<u64>,
    pub retry_after_http_date: Option<bool>,
    pub fail_body: Option<FailBody>,
    pub reset_times: Option<u32>,
    pub cut_after: Option<usize>,
    pub no_done_after: Option<usize>,
    pub stall_after: Option<usize>,
    pub malformed_after: Option<usize>,
    pub bad_json_after: Option<usize>,
    pub error_after: Option<usize>,
    pub ws_close_after: Option<usize>,
    pub ws_malformed_after: Option<usize>,
    pub ping_every_ms: Option<u64>,
    pub line_ending: Option<LineEnding>,
    pub done_marker: Option<bool>,
    pub trickle_ms: Option<u64>,
    pub unavailable_providers: Option<Vec<String>>,
}

/// Every knob name, in snake_case (the JSON spelling). Headers use `X-Sim-` + kebab-case.
pub const KNOB_NAMES: &[&str] = &[
    "length",
    "chunks",
    "chunk_size",
    "first_chunk_delay_ms",
    "chunk_delay_ms",
    "lockstep",
    "fail_status",
    "fail_times",
    "retry_after",
    "retry_after_http_date",
    "fail_body",
    "reset_times",
    "cut_after",
    "no_done_after",
    "stall_after",
    "malformed_after",
    "bad_json_after",
    "error_after",
    "ws_close_after",
    "ws_malformed_after",
    "ping_every_ms",
    "line_ending",
    "done_marker",
    "trickle_ms",
    "unavailable_providers",
];

pub const DEFAULT_CHUNK_SIZE: usize = 16;

// Upper bounds of the knobs (docs/simulator.md, "Limits"): no request — however it sets its
// knobs — can make the simulator allocate without bound or wait for ever. Past one: 422.
/// Characters of answer text (`length`, `chunk_size`, and `chunks` × `chunk_size`).
pub const MAX_LENGTH: usize = 100_000_000;
/// Stream pieces (`chunks`, the pieces `length` / `chunk_size` makes) and the `*_after` counts.
pub const MAX_CHUNKS: usize = 1_000_000;
/// Any `*_ms` delay: one hour.
pub const MAX_DELAY_MS: u64 = 3_600_000;
/// `retry_after`, in seconds: one day.
pub const MAX_RETRY_AFTER_S: u64 = 86_400;
/// `fail_times` and `reset_times`.
pub const MAX_TIMES: u64 = 1_000_000;
/// Entries of `unavailable_providers`.
pub const MAX_PROVIDERS: usize = 1_000;

/// Why a knob was refused: a value that is not of its kind (400 from a header), or one over
/// its limit (always 422).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KnobError {
    Invalid(String),
    OverLimit(String),
}

impl KnobError {
    pub fn status(&self) -> u16 {
        match self {
            KnobError::Invalid(_) => 400,
            KnobError::OverLimit(_) => 422,
        }
    }
}

impl std::fmt::Display for KnobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KnobError::Invalid(m) | KnobError::OverLimit(m) => f.write_str(m),
        }
    }
}

impl From<KnobError> for String {
    fn from(e: KnobError) -> String {
        e.to_string()
    }
}

/// A knob value as it arrived: JSON from a body, or text from a header.
#[derive(Clone, Copy, Debug)]
pub enum KnobValue<'a> {
    Json(&'a Value),
    Text(&'a str),
}

impl KnobValue<'_> {
    fn describe(&self) -> String {
        match self {
            KnobValue::Json(v) => v.to_string(),
            KnobValue::Text(t) => format!("{t:?}"),
        }
    }

    fn as_u64(&self) -> Option<u64> {
        match self {
            KnobValue::Json(Value::Number(n)) => n.as_u64().or_else(|| {
                // 5.0 is accepted as 5: JSON writers in other languages emit floats freely.
                n.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0).map(|f| f as u64)
            }),
            KnobValue::Json(Value::String(s)) => s.trim().parse().ok(),
            KnobValue::Text(t) => t.trim().parse().ok(),
            KnobValue::Json(_) => None,
        }
    }

    /// Text (or a JSON string) of decimal digits only.
    fn is_digits(&self) -> bool {
        let text = match self {
            KnobValue::Json(Value::String(s)) => s.trim(),
            KnobValue::Text(t) => t.trim(),
            KnobValue::Json(_) => return false,
        };
        !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
    }

    fn as_bool(&self) -> Option<bool> {
        let text = match self {
            KnobValue::Json(Value::Bool(b)) => return Some(*b),
            KnobValue::Json(Value::Number(n)) => return n.as_u64().map(|v| v != 0),
            KnobValue::Json(Value::String(s)) => s.as_str(),
            KnobValue::Text(t) => t,
            KnobValue::Json(_) => return None,
        };
        match text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Some(true),
            "0" | "false" | "no" | "off" => Some(false),
            _ => None,
        }
    }

    fn as_text(&self) -> Option<String> {
        match self {
            KnobValue::Json(Value::String(s)) => Some(s.trim().to_ascii_lowercase()),
            KnobValue::Text(t) => Some(t.trim().to_ascii_lowercase()),
            KnobValue::Json(_) => None,
        }
    }

    fn as_list(&self) -> Option<Vec<String>> {
        let split = |s: &str| s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect();
        match self {
            KnobValue::Json(Value::Array(items)) => items.iter().map(|i| i.as_str().map(String::from)).collect(),
            KnobValue::Json(Value::String(s)) => Some(split(s)),
            KnobValue::Text(t) => Some(split(t)),
            KnobValue::Json(_) => None,
        }
    }
}

/// `chunk_size`, `ChunkSize`, `chunk-size` and `X-Sim-Chunk-Size` all name the same knob.
fn normalize(name: &str) -> String {
    name.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect()
}

impl Knobs {
    /// The pause before the first chunk (or the whole answer), if one is set.
    pub fn first_chunk_delay(&self) -> Option<Duration> {
        self.first_chunk_delay_ms.filter(|ms| *ms > 0).map(Duration::from_millis)
    }

    /// The pause between chunks, if one is set.
    pub fn chunk_delay(&self) -> Option<Duration> {
        self.chunk_delay_ms.filter(|ms| *ms > 0).map(Duration::from_millis)
    }

    /// True when paced chunks go out on the process-wide tick shared by every stream (a batched
    /// decoder's lock-step) rather than on each stream's own clock.
    pub fn lockstep(&self) -> bool {
        self.lockstep.unwrap_or(false)
    }

    /// Sets one knob from its name (any spelling) and value. Unknown names are errors, so that a
    /// typo in a test does not silently test nothing.
    pub fn set(&mut self, name: &str, value: KnobValue<'_>) -> Result<(), KnobError> {
        if let KnobValue::Json(Value::Null) = value {
            return Ok(()); // null means "not set" at this layer
        }
        let bad = |what: &str| {
            KnobError::Invalid(format!("simulator knob {name}: expected {what}, got {}", value.describe()))
        };
        let uint = || {
            value.as_u64().ok_or_else(|| {
                if value.is_digits() {
                    // A whole number too large even for 64 bits: over any limit.
                    KnobError::OverLimit(format!("simulator knob {name}: {} is over its limit", value.describe()))
                } else {
                    bad("a non-negative integer")
                }
            })
        };
        let at_most = |max: u64| {
            uint().and_then(|v| {
                if v > max {
                    Err(KnobError::OverLimit(format!("simulator knob {name}: {v} is over its limit of {max}")))
                } else {
                    Ok(v)
                }
            })
        };
        // usize is at least 32 bits on every target we build; the limits fit.
        let count = |max: usize| at_most(max as u64).map(|v| v as usize);
        let delay = || at_most(MAX_DELAY_MS);
        let times = || at_most(MAX_TIMES).map(|v| v as u32);
        match normalize(name).as_str() {
            "length" => self.length = Some(count(MAX_LENGTH)?),
            "chunks" => {
                let n = count(MAX_CHUNKS)?;
                if n == 0 {
                    return Err(bad("at least 1"));
                }
                self.chunks = Some(n);
            }
            "chunksize" => {
                let n = count(MAX_LENGTH)?;
                if n == 0 {
                    return Err(bad("at least 1"));
                }
                self.chunk_size = Some(n);
            }
            "firstchunkdelayms" => self.first_chunk_delay_ms = Some(delay()?),
            "chunkdelayms" => self.chunk_delay_ms = Some(delay()?),
            "lockstep" => self.lockstep = Some(value.as_bool().ok_or_else(|| bad("a boolean"))?),
            "failstatus" => {
                let s = uint()?;
                if !(100..=599).contains(&s) {
                    return Err(bad("an HTTP status code"));
                }
                self.fail_status = Some(s as u16);
            }
            "failtimes" => self.fail_times = Some(times()?),
            "retryafter" => self.retry_after = Some(at_most(MAX_RETRY_AFTER_S)?),
            "retryafterhttpdate" => self.retry_after_http_date = Some(value.as_bool().ok_or_else(|| bad("a boolean"))?),
            "failbody" => {
                self.fail_body = Some(match value.as_text().as_deref() {
                    Some("json") => FailBody::Json,
                    Some("detail") => FailBody::Detail,
                    Some("html") => FailBody::Html,
                    Some("empty") => FailBody::Empty,
                    _ => return Err(bad("json, detail, html or empty")),
                })
            }
            "resettimes" => self.reset_times = Some(times()?),
            "cutafter" => self.cut_after = Some(count(MAX_CHUNKS)?),
            "nodoneafter" => self.no_done_after = Some(count(MAX_CHUNKS)?),
            "stallafter" => self.stall_after = Some(count(MAX_CHUNKS)?),
            "malformedafter" => self.malformed_after = Some(count(MAX_CHUNKS)?),
            "badjsonafter" => self.bad_json_after = Some(count(MAX_CHUNKS)?),
            "errorafter" => self.error_after = Some(count(MAX_CHUNKS)?),
            "wscloseafter" => self.ws_close_after = Some(count(MAX_CHUNKS)?),
            "wsmalformedafter" => self.ws_malformed_after = Some(count(MAX_CHUNKS)?),
            "pingeveryms" => {
                let ms = delay()?;
                if ms == 0 {
                    return Err(bad("at least 1"));
                }
                self.ping_every_ms = Some(ms)
            }
            "lineending" => {
                self.line_ending = Some(match value.as_text().as_deref() {
                    Some("lf") => LineEnding::Lf,
                    Some("crlf") => LineEnding::CrLf,
                    Some("cr") => LineEnding::Cr,
                    _ => return Err(bad("lf, crlf or cr")),
                })
            }
            "donemarker" => self.done_marker = Some(value.as_bool().ok_or_else(|| bad("a boolean"))?),
            "tricklems" => self.trickle_ms = Some(delay()?),
            "unavailableproviders" => {
                let list = value.as_list().ok_or_else(|| bad("a list of provider ids"))?;
                if list.len() > MAX_PROVIDERS {
                    return Err(KnobError::OverLimit(format!(
                        "simulator knob {name}: {} providers is over its limit of {MAX_PROVIDERS}",
                        list.len()
                    )));
                }
                self.unavailable_providers = Some(list)
            }
            _ => {
                return Err(KnobError::Invalid(format!(
                    "unknown simulator knob {name:?}; known knobs: {}",
                    KNOB_NAMES.join(", ")
                )))
            }
        }
        Ok(())
    }

    /// Knobs from a JSON object such as a request's `"sim": {...}`.
    pub fn from_json(value: &Value) -> Result<Knobs, String> {
        let Some(object) = value.as_object() else {
            return Err(format!("\"sim\" must be an object, got {value}"));
        };
        Knobs::from_map(object)
    }

    pub fn from_map(object: &Map<String, Value>) -> Result<Knobs, String> {
        let mut knobs = Knobs::default();
        for (name, value) in object {
            knobs.set(name, KnobValue::Json(value))?;
        }
        Ok(knobs)
    }

    /// Knobs from `X-Sim-<Name>` request headers.
    pub fn from_headers(headers: &HeaderMap) -> Result<Knobs, KnobError> {
        let mut knobs = Knobs::default();
        for (name, value) in headers {
            let Some(knob) = name.as_str().strip_prefix("x-sim-") else {
                continue;
            };
            let text = value.to_str().map_err(|_| KnobError::Invalid(format!("header {name} is not visible ASCII")))?;
            knobs.set(knob, KnobValue::Text(text))?;
        }
        Ok(knobs)
    }

    /// Overlays `other` on `self`: every knob set in `other` wins.
    pub fn overlay(&mut self, other: &Knobs) {
        macro_rules! take {
            ($($field:ident),*) => {
                $(if other.$field.is_some() { self.$field = other.$field.clone(); })*
            };
        }
        take!(
            length,
            chunks,
            chunk_size,
            first_chunk_delay_ms,
            chunk_delay_ms,
            lockstep,
            fail_status,
            fail_times,
            retry_after,
            retry_after_http_date,
            fail_body,
            reset_times,
            cut_after,
            no_done_after,
            stall_after,
            malformed_after,
            bad_json_after,
            error_after,
            ws_close_after,
            ws_malformed_after,
            ping_every_ms,
            line_ending,
            done_marker,
            trickle_ms,
            unavailable_providers
        );
    }

    pub fn chunk_size(&self) -> usize {
        self.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE)
    }

    /// The limits no single knob can see: the text `chunks` × `chunk_size` asks for, and the
    /// pieces a stream of `length` / `chunk_size` makes. Checked on the merged layers.
    pub fn check_limits(&self, streaming: bool) -> Result<(), String> {
        let text = match (self.length, self.chunks) {
            (Some(length), _) => length,
            (None, Some(chunks)) => chunks.saturating_mul(self.chunk_size()),
            (None, None) => 0,
        };
        if text > MAX_LENGTH {
            return Err(format!(
                "simulator knobs ask for {text} characters (chunks × chunk_size), over the limit of {MAX_LENGTH}"
            ));
        }
        if streaming && self.chunks.is_none() {
            let pieces = text.div_ceil(self.chunk_size().max(1));
            if pieces > MAX_CHUNKS {
                return Err(format!(
                    "simulator knobs ask for a stream of {pieces} chunks (length / chunk_size), over the limit of {MAX_CHUNKS}"
                ));
            }
        }
        Ok(())
    }

    pub fn fail_times(&self) -> u32 {
        self.fail_times.unwrap_or(1)
    }

    pub fn fail_body(&self) -> FailBody {
        self.fail_body.unwrap_or(FailBody::Json)
    }

    pub fn line_ending(&self) -> LineEnding {
        self.line_ending.unwrap_or(LineEnding::Lf)
    }

    pub fn done_marker(&self) -> bool {
        self.done_marker.unwrap_or(true)
    }
}

/// How to start a simulator.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub host: String,
    /// 0 picks a free ephemeral port.
    pub port: u16,
    /// When set, HTTP API calls need `Authorization: Bearer <token>`, and /ws needs it on the
    /// upgrade request or in REGISTER's `auth_token`.
    pub auth_token: Option<String>,
    /// Threads of the simulator's own tokio runtime (it never shares the caller's runtime).
    pub worker_threads: usize,
    /// Knobs applied to every request, below the per-request ones.
    pub defaults: Knobs,
    pub unavailable_providers: Vec<String>,
    /// Record every request and WebSocket frame (see `Simulator::records`).
    pub record: bool,
    /// Serve every route under this prefix too (e.g. `/api/llm`), as well as at the root.
    pub path_prefix: Option<String>,
    /// Serve HTTPS / wss with this certificate chain and key (PEM files); both or neither.
    pub tls_cert: Option<std::path::PathBuf>,
    pub tls_key: Option<std::path::PathBuf>,
    /// A client must send a request's whole head within this (also the wait for the next
    /// request on a kept-alive connection); else the connection is closed.
    pub header_read_timeout: Duration,
    /// A WebSocket that sends nothing for this long is closed, and so is any connection that
    /// takes none of the bytes we write for this long.
    pub idle_timeout: Duration,
    /// Open connections at most (HTTP and WebSocket); past it a new connection gets 503 and is
    /// closed at once, so idle sockets cannot use up the process's file descriptors.
    pub max_connections: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            host: "127.0.0.1".to_string(),
            port: 0,
            auth_token: None,
            worker_threads: 1,
            defaults: Knobs::default(),
            unavailable_providers: Vec::new(),
            record: true,
            path_prefix: None,
            tls_cert: None,
            tls_key: None,
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            max_connections: 512,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderName, HeaderValue};
    use serde_json::json;

    #[test]
    fn json_knobs_accept_snake_and_camel_case() {
        let k = Knobs::from_json(&json!({"chunk_size": 4, "chunkDelayMs": 5, "done_marker": false})).unwrap();
        assert_eq!(k.chunk_size, Some(4));
        assert_eq!(k.chunk_delay_ms, Some(5));
        assert_eq!(k.done_marker, Some(false));
    }

    #[test]
    fn header_knobs_are_kebab_case_text() {
        let mut h = HeaderMap::new();
        h.insert(HeaderName::from_static("x-sim-chunk-delay-ms"), HeaderValue::from_static("7"));
        h.insert(HeaderName::from_static("x-sim-fail-body"), HeaderValue::from_static("HTML"));
        h.insert(HeaderName::from_static("x-sim-unavailable-providers"), HeaderValue::from_static("openai, anthropic"));
        h.insert(HeaderName::from_static("x-other"), HeaderValue::from_static("ignored"));
        let k = Knobs::from_headers(&h).unwrap();
        assert_eq!(k.chunk_delay_ms, Some(7));
        assert_eq!(k.fail_body, Some(FailBody::Html));
        assert_eq!(k.unavailable_providers, Some(vec!["openai".into(), "anthropic".into()]));
    }

    #[test]
    fn unknown_and_invalid_knobs_are_errors() {
        assert!(Knobs::from_json(&json!({"chunk_sise": 4})).is_err());
        assert!(Knobs::from_json(&json!({"chunks": 0})).is_err());
        assert!(Knobs::from_json(&json!({"fail_status": 42})).is_err());
        assert!(Knobs::from_json(&json!({"length": "many"})).is_err());
        assert!(Knobs::from_json(&json!({"line_ending": "lfcr"})).is_err());
        assert!(Knobs::from_json(&json!([1])).is_err());
    }

    #[test]
    fn null_means_unset_and_numeric_strings_are_numbers() {
        let k = Knobs::from_json(&json!({"length": null, "chunks": "3", "retry_after": 2.0})).unwrap();
        assert_eq!(k.length, None);
        assert_eq!(k.chunks, Some(3));
        assert_eq!(k.retry_after, Some(2));
    }

    #[test]
    fn overlay_later_layer_wins() {
        let mut base = Knobs { chunk_size: Some(8), length: Some(100), ..Knobs::default() };
        base.overlay(&Knobs { chunk_size: Some(2), ..Knobs::default() });
        assert_eq!(base.chunk_size, Some(2));
        assert_eq!(base.length, Some(100));
        assert_eq!(base.fail_times(), 1);
        assert!(base.done_marker());
    }
}
