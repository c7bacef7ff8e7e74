//! Rhetor /ws frames (docs/protocol.md, WebSocket section): decoding what the server sends and
//! encoding what the client sends. Pure functions, no I/O.
//!
//! Readers accept the camelCase spelling of every field (`requestId`, `finishReason`, …) and a
//! frame type in any letter case, as docs/protocol.md asks of every reader.

use serde_json::{json, Map, Value};

use crate::error::ErrorKind;

/// Token counts as a WebSocket frame reports them, the total filled in when missing (the HTTP
/// path's `protocol::Usage` keeps a missing total as None; both become `models.Usage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameUsage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
}

/// A `CHUNK` frame: one piece of a streamed answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChunkFrame {
    pub request_id: String,
    pub chunk: String,
    pub done: bool,
    pub finish_reason: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub usage: Option<FrameUsage>,
    pub context_id: Option<String>,
    pub fallback: bool,
    pub timestamp: Option<String>,
    /// When the frame's bytes were read (`tekton_clock::monotonic_ns`); 0 when not known.
    pub received_ns: u64,
}

/// A `RESPONSE` frame: a whole answer to GENERATE or CHAT.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResponseFrame {
    pub request_id: String,
    pub content: String,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub finish_reason: Option<String>,
    pub usage: Option<FrameUsage>,
    pub context_id: Option<String>,
    pub fallback: bool,
    pub timestamp: Option<String>,
}

/// An `ERROR` frame. Without `request_id` it concerns the whole session.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorFrame {
    pub request_id: Option<String>,
    pub error: String,
    pub code: Option<String>,
    /// The HTTP status the same failure would have had, when the server says.
    pub status: Option<u16>,
    /// Seconds the server asks us to wait before retrying.
    pub retry_after: Option<f64>,
}

/// Every frame the server may send.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerFrame {
    RegisterAck {
        session_id: Option<String>,
    },
    Chunk(ChunkFrame),
    Response(ResponseFrame),
    Error(ErrorFrame),
    Ping,
    Pong,
    /// A well-formed frame of a type this client does not know; ignored.
    Other {
        frame_type: String,
    },
}

/// Why a frame could not be decoded. Reported to `on_error`; the socket stays up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedFrame {
    pub reason: String,
}

impl MalformedFrame {
    fn new(reason: impl Into<String>) -> MalformedFrame {
        MalformedFrame { reason: reason.into() }
    }
}

/// Decode one text frame from the server.
pub fn decode_server_frame(text: &str) -> Result<ServerFrame, MalformedFrame> {
    if let Some(chunk) = decode_plain_chunk(text) {
        return Ok(ServerFrame::Chunk(chunk));
    }
    decode_any_frame(text)
}

/// A CHUNK frame read straight into its fields, without building a JSON tree first: most frames
/// are chunks. Serde refuses anything unusual (a field of another type, a duplicate key, both
/// spellings of a field, a missing or empty request id): `None`, and the general decoder, which
/// defines the behaviour, reads the frame instead.
fn decode_plain_chunk(text: &str) -> Option<ChunkFrame> {
    #[derive(serde::Deserialize)]
    struct Plain {
        #[serde(rename = "type")]
        frame_type: String,
        #[serde(alias = "requestId")]
        request_id: String,
        chunk: Option<String>,
        done: Option<bool>,
        #[serde(alias = "finishReason")]
        finish_reason: Option<String>,
        model: Option<String>,
        provider: Option<String>,
        usage: Option<Map<String, Value>>,
        #[serde(alias = "contextId")]
        context_id: Option<String>,
        fallback: Option<bool>,
        timestamp: Option<String>,
    }
    let p: Plain = serde_json::from_str(text).ok()?;
    if !p.frame_type.eq_ignore_ascii_case("CHUNK") || p.request_id.is_empty() {
        return None;
    }
    Some(ChunkFrame {
        request_id: p.request_id,
        chunk: p.chunk.unwrap_or_default(),
        done: p.done.unwrap_or(false),
        finish_reason: p.finish_reason,
        model: p.model,
        provider: p.provider,
        usage: p.usage.as_ref().map(usage_of),
        context_id: p.context_id,
        fallback: p.fallback.unwrap_or(false),
        timestamp: p.timestamp,
        received_ns: 0,
    })
}

/// Any frame, through a JSON tree.
fn decode_any_frame(text: &str) -> Result<ServerFrame, MalformedFrame> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| MalformedFrame::new(format!("not JSON ({e}): {}", preview(text))))?;
    let Value::Object(obj) = value else {
        return Err(MalformedFrame::new(format!("not a JSON object: {}", preview(text))));
    };
    let Some(frame_type) = obj.get("type").and_then(Value::as_str) else {
        return Err(MalformedFrame::new(format!("no \"type\" field: {}", preview(text))));
    };
    let upper = frame_type.to_ascii_uppercase();
    match upper.as_str() {
        "REGISTER_ACK" => Ok(ServerFrame::RegisterAck { session_id: string(&obj, "session_id", "sessionId") }),
        "CHUNK" => decode_chunk(&obj).map(ServerFrame::Chunk),
        "RESPONSE" => decode_response(&obj).map(ServerFrame::Response),
        "ERROR" => Ok(ServerFrame::Error(ErrorFrame {
            request_id: string(&obj, "request_id", "requestId"),
            error: string(&obj, "error", "message")
                .unwrap_or_else(|| "Rhetor reported an error without a message".to_owned()),
            code: string(&obj, "code", "code"),
            status: field(&obj, "status", "status").and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok()),
            retry_after: field(&obj, "retry_after", "retryAfter").and_then(Value::as_f64),
        })),
        "PING" => Ok(ServerFrame::Ping),
        "PONG" => Ok(ServerFrame::Pong),
        _ => Ok(ServerFrame::Other { frame_type: frame_type.to_owned() }),
    }
}

fn decode_chunk(obj: &Map<String, Value>) -> Result<ChunkFrame, MalformedFrame> {
    let request_id = required_request_id(obj, "CHUNK")?;
    let chunk = match field(obj, "chunk", "chunk") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(MalformedFrame::new(format!("CHUNK for request {request_id}: \"chunk\" is not a string")))
        }
    };
    Ok(ChunkFrame {
        request_id,
        chunk,
        done: boolean(obj, "done", "done"),
        finish_reason: string(obj, "finish_reason", "finishReason"),
        model: string(obj, "model", "model"),
        provider: string(obj, "provider", "provider"),
        usage: usage(obj),
        context_id: string(obj, "context_id", "contextId"),
        fallback: boolean(obj, "fallback", "fallback"),
        timestamp: string(obj, "timestamp", "timestamp"),
        received_ns: 0,
    })
}

fn decode_response(obj: &Map<String, Value>) -> Result<ResponseFrame, MalformedFrame> {
    let request_id = required_request_id(obj, "RESPONSE")?;
    // `content` is v1; `response` and `message` are what older servers called the text.
    let content = string(obj, "content", "content")
        .or_else(|| string(obj, "response", "response"))
        .or_else(|| string(obj, "message", "message"))
        .ok_or_else(|| MalformedFrame::new(format!("RESPONSE for request {request_id} has no \"content\"")))?;
    Ok(ResponseFrame {
        request_id,
        content,
        model: string(obj, "model", "model"),
        provider: string(obj, "provider", "provider"),
        finish_reason: string(obj, "finish_reason", "finishReason"),
        usage: usage(obj),
        context_id: string(obj, "context_id", "contextId"),
        fallback: boolean(obj, "fallback", "fallback"),
        timestamp: string(obj, "timestamp", "timestamp"),
    })
}

fn required_request_id(obj: &Map<String, Value>, frame_type: &str) -> Result<String, MalformedFrame> {
    string(obj, "request_id", "requestId")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| MalformedFrame::new(format!("{frame_type} frame without \"request_id\"")))
}

fn field<'a>(obj: &'a Map<String, Value>, snake: &str, camel: &str) -> Option<&'a Value> {
    obj.get(snake).or_else(|| obj.get(camel))
}

fn string(obj: &Map<String, Value>, snake: &str, camel: &str) -> Option<String> {
    field(obj, snake, camel).and_then(Value::as_str).map(str::to_owned)
}

fn boolean(obj: &Map<String, Value>, snake: &str, camel: &str) -> bool {
    field(obj, snake, camel).and_then(Value::as_bool).unwrap_or(false)
}

fn usage(obj: &Map<String, Value>) -> Option<FrameUsage> {
    let Some(Value::Object(u)) = obj.get("usage") else {
        return None;
    };
    Some(usage_of(u))
}

fn usage_of(u: &Map<String, Value>) -> FrameUsage {
    let int = |names: &[&str]| names.iter().find_map(|n| u.get(*n).and_then(Value::as_i64));
    let prompt = int(&["prompt_tokens", "promptTokens", "input_tokens"]).unwrap_or(0);
    let completion = int(&["completion_tokens", "completionTokens", "output_tokens"]).unwrap_or(0);
    let total = int(&["total_tokens", "totalTokens"]).unwrap_or(prompt + completion);
    FrameUsage { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total }
}

/// The start of a bad frame, for error messages (never the whole frame: it may be huge).
fn preview(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// The error kind of a server `ERROR`: its HTTP status when it has one that docs/protocol.md maps,
/// else its code.
pub fn kind_for_error(code: Option<&str>, status: Option<u16>) -> ErrorKind {
    match status.map(ErrorKind::from_status) {
        Some(kind) if kind != ErrorKind::Other => kind,
        _ => kind_for_code(code),
    }
}

/// The error kind a server `ERROR` code stands for.
pub fn kind_for_code(code: Option<&str>) -> ErrorKind {
    match code.map(str::to_ascii_lowercase).as_deref() {
        Some("unauthorized" | "forbidden" | "authentication" | "auth_failed") => ErrorKind::Authentication,
        Some(
            "invalid_request" | "bad_request" | "validation_error" | "not_found" | "payload_too_large" | "invalid_json"
            | "invalid_message" | "unknown_type",
        ) => ErrorKind::InvalidRequest,
        Some("rate_limit" | "rate_limited" | "too_many_requests") => ErrorKind::RateLimit,
        Some("timeout" | "timed_out" | "request_timeout" | "gateway_timeout") => ErrorKind::Timeout,
        Some(
            "unavailable"
            | "service_unavailable"
            | "provider_unavailable"
            | "provider_error"
            | "overloaded"
            | "internal_error"
            | "bad_gateway",
        ) => ErrorKind::ServiceUnavailable,
        Some("message_too_large" | "limit_exceeded") => ErrorKind::LimitExceeded,
        _ => ErrorKind::Other,
    }
}

/// `REGISTER`: the first frame on every socket. The token rides here too, for servers that read
/// it from the frame rather than the upgrade request.
pub fn encode_register(component_id: &str, capabilities: &[String], auth_token: Option<&str>) -> String {
    let mut frame = json!({
        "type": "REGISTER",
        "component_id": component_id,
        "capabilities": capabilities,
    });
    if let (Some(token), Value::Object(obj)) = (auth_token, &mut frame) {
        obj.insert("auth_token".to_owned(), Value::String(token.to_owned()));
    }
    frame.to_string()
}

/// `CANCEL` for one request.
pub fn encode_cancel(request_id: &str) -> String {
    json!({"type": "CANCEL", "request_id": request_id}).to_string()
}

/// The answer to a server `PING`.
pub const PONG_FRAME: &str = r#"{"type":"PONG"}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_chunk_reader_agrees_with_the_general_decoder() {
        let frames = [
            r#"{"type":"CHUNK","request_id":"r1","chunk":"hi","done":false,"model":"m","provider":"p","context_id":"c","timestamp":"t"}"#,
            r#"{"type":"chunk","requestId":"r1","chunk":"a\"b\u00e9","done":true,"finishReason":"stop","contextId":"c","fallback":true,"usage":{"promptTokens":1,"completion_tokens":2}}"#,
            r#"{"type":"CHUNK","request_id":"r1","chunk":null,"done":null,"model":null,"usage":null}"#,
            r#"{"type":"CHUNK","request_id":"r1","extra":{"x":[1,2]},"chunk":"x"}"#,
            // What the plain reader refuses and the general decoder decides:
            r#"{"type":"CHUNK","request_id":"r1","requestId":"r2","chunk":"x"}"#,
            r#"{"type":"CHUNK","request_id":"r1","chunk":"x","chunk":"y"}"#,
            r#"{"type":"CHUNK","request_id":"r1","done":"yes","model":5,"usage":[1]}"#,
            r#"{"type":"CHUNK","request_id":"","chunk":"x"}"#,
            r#"{"type":"CHUNK","chunk":"x"}"#,
            r#"{"type":"CHUNK","request_id":"r1","chunk":7}"#,
            r#"{"type":"RESPONSE","request_id":"r1","content":"x"}"#,
            r#"{"type":"PING"}"#,
            r#"[1]"#,
        ];
        for text in frames {
            let plain = decode_plain_chunk(text);
            let general = decode_any_frame(text);
            if let Some(chunk) = plain {
                assert_eq!(general, Ok(ServerFrame::Chunk(chunk)), "{text}");
            }
            assert_eq!(decode_server_frame(text), general, "{text}");
        }
        assert!(decode_plain_chunk(frames[0]).is_some() && decode_plain_chunk(frames[1]).is_some());
        assert!(decode_plain_chunk(frames[2]).is_some() && decode_plain_chunk(frames[3]).is_some());
    }

    #[test]
    fn decodes_a_chunk_with_usage() {
        let f = decode_server_frame(
            r#"{"type":"CHUNK","request_id":"r1","chunk":"Hi","done":true,"finish_reason":"stop",
                "model":"m","provider":"p","usage":{"prompt_tokens":2,"completion_tokens":3}}"#,
        )
        .unwrap();
        let ServerFrame::Chunk(c) = f else { panic!("not a chunk: {f:?}") };
        assert_eq!(c.request_id, "r1");
        assert_eq!(c.chunk, "Hi");
        assert!(c.done);
        assert_eq!(c.finish_reason.as_deref(), Some("stop"));
        assert_eq!(c.usage, Some(FrameUsage { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 }));
    }

    #[test]
    fn accepts_camel_case_and_lower_case_type() {
        let f = decode_server_frame(r#"{"type":"chunk","requestId":"r2","chunk":"x","finishReason":"len"}"#).unwrap();
        let ServerFrame::Chunk(c) = f else { panic!("not a chunk: {f:?}") };
        assert_eq!(c.request_id, "r2");
        assert_eq!(c.finish_reason.as_deref(), Some("len"));
        assert!(!c.done);
    }

    #[test]
    fn decodes_response_error_ack_ping() {
        let f =
            decode_server_frame(r#"{"type":"RESPONSE","request_id":"a","content":"whole","fallback":true}"#).unwrap();
        let ServerFrame::Response(r) = f else { panic!("{f:?}") };
        assert_eq!(r.content, "whole");
        assert!(r.fallback);
        assert_eq!(
            decode_server_frame(r#"{"type":"ERROR","error":"no","code":"unauthorized"}"#).unwrap(),
            ServerFrame::Error(ErrorFrame {
                request_id: None,
                error: "no".into(),
                code: Some("unauthorized".into()),
                status: None,
                retry_after: None,
            })
        );
        assert_eq!(
            decode_server_frame(r#"{"type":"REGISTER_ACK","session_id":"s"}"#).unwrap(),
            ServerFrame::RegisterAck { session_id: Some("s".into()) }
        );
        assert_eq!(decode_server_frame(r#"{"type":"PING"}"#).unwrap(), ServerFrame::Ping);
        assert_eq!(
            decode_server_frame(r#"{"type":"HELLO"}"#).unwrap(),
            ServerFrame::Other { frame_type: "HELLO".into() }
        );
    }

    #[test]
    fn rejects_malformed_frames() {
        for bad in [
            "not json",
            "[1,2]",
            r#"{"no":"type"}"#,
            r#"{"type":"CHUNK","chunk":"x"}"#,
            r#"{"type":"CHUNK","request_id":"r","chunk":5}"#,
            r#"{"type":"RESPONSE","request_id":"r"}"#,
        ] {
            assert!(decode_server_frame(bad).is_err(), "{bad} decoded");
        }
    }

    #[test]
    fn preview_cuts_long_frames_on_char_boundaries() {
        let long = "é".repeat(500);
        let err = decode_server_frame(&long).unwrap_err();
        assert!(err.reason.len() < 400, "{}", err.reason);
    }

    #[test]
    fn maps_error_codes() {
        assert_eq!(kind_for_code(Some("unauthorized")), ErrorKind::Authentication);
        assert_eq!(kind_for_code(Some("RATE_LIMITED")), ErrorKind::RateLimit);
        assert_eq!(kind_for_code(None), ErrorKind::Other);
        assert_eq!(kind_for_error(Some("simulated_error"), Some(503)), ErrorKind::ServiceUnavailable);
        assert_eq!(kind_for_error(Some("rate_limited"), Some(418)), ErrorKind::RateLimit);
        let ServerFrame::Error(e) =
            decode_server_frame(r#"{"type":"ERROR","request_id":"r","error":"x","status":429,"retry_after":2}"#)
                .unwrap()
        else {
            panic!("not an error")
        };
        assert_eq!((e.status, e.retry_after), (Some(429), Some(2.0)));
    }

    #[test]
    fn encodes_register_with_and_without_token() {
        let with: Value = serde_json::from_str(&encode_register("c", &["stream".into()], Some("t"))).unwrap();
        assert_eq!(with["type"], "REGISTER");
        assert_eq!(with["auth_token"], "t");
        assert_eq!(with["capabilities"][0], "stream");
        let without: Value = serde_json::from_str(&encode_register("c", &[], None)).unwrap();
        assert!(without.get("auth_token").is_none());
        let cancel: Value = serde_json::from_str(&encode_cancel("r9")).unwrap();
        assert_eq!(cancel["request_id"], "r9");
    }
}
