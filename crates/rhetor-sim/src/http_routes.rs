//! The HTTP front end: routing, auth, recording, and the v1 endpoints.

use crate::auth::{bearer, presented, token_matches};
use crate::body::{self, full, SimBody};
use crate::chat::Answer;
use crate::config::Knobs;
use crate::cors;
use crate::error::ConnectionDropped;
use crate::faults::{json_error, simulated_failure};
use crate::openai::{self, OpenAiOptions};
use crate::providers::{health_json, providers_json};
use crate::recorder::RecordedRequest;
use crate::request::parse_request;
use crate::server::Slot;
use crate::sse_stream::Wire;
use crate::state::State;
use crate::{clock, sse_stream, static_files, ws};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

const MAX_BODY: usize = 64 * 1024 * 1024;

const ROUTES: &[&str] = &[
    "/api/v1/health",
    "/api/v1/providers",
    "/api/v1/chat",
    "/api/v1/chat/stream",
    "/ws",
    "/v1/chat/completions",
    "/v1/models",
    "/sim/lateness",
];

/// hyper's service function. Every problem is an HTTP answer; the only error is the deliberate
/// `reset_times` drop, which makes hyper close the connection without responding.
pub async fn handle(
    state: Arc<State>,
    connection_id: u64,
    slot: Slot,
    request: Request<Incoming>,
) -> Result<Response<SimBody>, ConnectionDropped> {
    // A stream's first-chunk delay counts from here, so time the server spends reading the body
    // or waiting for a worker is the server's lateness, not hidden in a later start.
    let received = Instant::now();
    let request_id = header(request.headers(), "x-request-id").map(String::from);
    let mut response = route(&state, connection_id, slot, request, received).await?;
    cors::decorate(response.headers_mut());
    if let Some(value) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response.headers_mut().insert("x-request-id", value);
    }
    Ok(response)
}

pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The route a path names: the path itself, or the path with the configured prefix removed.
fn route_path<'a>(state: &State, path: &'a str) -> &'a str {
    if let Some(prefix) = state.config.path_prefix.as_deref() {
        let prefix = prefix.trim_end_matches('/');
        if !prefix.is_empty() {
            if let Some(rest) = path.strip_prefix(prefix) {
                if rest.starts_with('/') {
                    return rest;
                }
            }
        }
    }
    path
}

fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        map.entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    map
}

/// `application/json` or an `application/*+json` type, with any parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = header(headers, "content-type") else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn json_response(value: &Value) -> Response<SimBody> {
    json_response_text(value.to_string())
}

async fn route(
    state: &Arc<State>,
    connection_id: u64,
    slot: Slot,
    mut request: Request<Incoming>,
    received: Instant,
) -> Result<Response<SimBody>, ConnectionDropped> {
    let path = request.uri().path().to_string();
    let route = route_path(state, &path).to_string();
    let is_upgrade = header(request.headers(), "upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    // Taken before the request is split: hyper hands the upgraded socket over through it.
    let on_upgrade = (is_upgrade && route == "/ws").then(|| hyper::upgrade::on(&mut request));
    let (parts, incoming) = request.into_parts();
    let auth_ok =
        state.config.auth_token.as_deref().map(|t| bearer(&parts.headers).is_some_and(|given| token_matches(t, given)));
    let request_id = header(&parts.headers, "x-request-id").map(String::from);

    let body_bytes = if on_upgrade.is_some() {
        Bytes::new()
    } else {
        match Limited::new(incoming, MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return Ok(json_error(413, "request body too large or unreadable", "payload_too_large")),
        }
    };
    let json: Option<Value> = serde_json::from_slice(&body_bytes).ok();
    if state.recorder.enabled() {
        state.recorder.push(RecordedRequest {
            method: parts.method.to_string(),
            path: path.clone(),
            query: parts.uri.query().map(String::from),
            headers: header_map(&parts.headers),
            body: String::from_utf8_lossy(&body_bytes).into_owned(),
            json: json.clone(),
            connection_id,
            request_id: request_id.clone(),
            time: clock::unix_seconds(),
            auth_ok,
            secrets: presented(&parts.headers, parts.uri.query(), json.as_ref()),
        });
    }

    if parts.method == Method::OPTIONS {
        return Ok(cors::preflight(&parts.headers));
    }
    if let Some(on_upgrade) = on_upgrade {
        return Ok(ws::upgrade(state.clone(), connection_id, slot, path.clone(), &parts.headers, on_upgrade));
    }
    if parts.method == Method::GET {
        if let Some(file) = static_files::serve(&route) {
            return Ok(file);
        }
    }
    if !ROUTES.contains(&route.as_str()) {
        return Ok(json_error(404, &format!("no route for {path}"), "not_found"));
    }
    // Health stays open (load balancers and the dialect probe call it without credentials).
    if route != "/api/v1/health" && auth_ok == Some(false) {
        return Ok(json_error(401, "missing or invalid bearer token", "unauthorized"));
    }
    let header_knobs = match Knobs::from_headers(&parts.headers) {
        Ok(knobs) => knobs,
        Err(e) => {
            let code = if e.status() == 422 { "validation_error" } else { "invalid_request" };
            return Ok(json_error(e.status(), &e.to_string(), code));
        }
    };
    Ok(match (&parts.method, route.as_str()) {
        (&Method::GET, "/api/v1/health") => {
            json_response(&health_json(&state.unavailable(&state.knobs(&[&header_knobs]))))
        }
        (&Method::GET, "/api/v1/providers") => {
            json_response(&providers_json(&state.unavailable(&state.knobs(&[&header_knobs]))))
        }
        (&Method::GET, "/v1/models") => json_response(&openai::models_json()),
        (&Method::GET, "/sim/lateness") => json_response(&state.lateness.to_json()),
        (&Method::DELETE, "/sim/lateness") => {
            state.lateness.reset();
            json_response(&state.lateness.to_json())
        }
        (&Method::POST, path @ ("/api/v1/chat" | "/api/v1/chat/stream" | "/v1/chat/completions")) => {
            let face = if path == "/v1/chat/completions" {
                match json.as_ref().map(openai::parse_options) {
                    Some(Ok(options)) => Face::OpenAi(options),
                    Some(Err(message)) => return Ok(json_error(422, &message, "validation_error")),
                    None => Face::OpenAi(OpenAiOptions::default()), // `chat` reports the bad body
                }
            } else {
                Face::Rhetor { streaming: path.ends_with("/stream") }
            };
            if !is_json(&parts.headers) {
                // A browser page may send text/plain (or a form) cross-origin without a
                // preflight: such a body gets no say over the simulator.
                return Ok(json_error(
                    415,
                    "the request body must be sent as Content-Type: application/json",
                    "unsupported_media_type",
                ));
            }
            chat(state, &body_bytes, json, &header_knobs, request_id.as_deref(), face, received).await?
        }
        (&Method::GET, "/ws") => json_error(400, "/ws expects a WebSocket upgrade", "invalid_request"),
        _ => json_error(405, &format!("{} is not allowed on {path}", parts.method), "method_not_allowed"),
    })
}

/// Which endpoint a chat request came in on: the answer is the same, its shape differs.
#[derive(Clone, Copy, Debug)]
enum Face {
    Rhetor { streaming: bool },
    OpenAi(OpenAiOptions),
}

async fn chat(
    state: &Arc<State>,
    raw: &[u8],
    json: Option<Value>,
    header_knobs: &Knobs,
    request_id: Option<&str>,
    face: Face,
    received: Instant,
) -> Result<Response<SimBody>, ConnectionDropped> {
    let streaming = match face {
        Face::Rhetor { streaming } => streaming,
        Face::OpenAi(options) => options.stream,
    };
    let Some(mut json) = json else {
        let message = if raw.is_empty() { "empty request body" } else { "request body is not valid JSON" };
        return Ok(json_error(400, message, "invalid_json"));
    };
    if let Face::OpenAi(_) = face {
        openai::join_content_parts(&mut json);
    }
    let request = match parse_request(&json) {
        Ok(request) => request,
        Err(message) => return Ok(json_error(422, &message, "validation_error")),
    };
    let mut knobs = state.knobs(&[header_knobs, &request.knobs]);
    if let Face::OpenAi(options) = face {
        options.apply_max_tokens(&mut knobs);
    }
    if let Err(message) = knobs.check_limits(streaming) {
        return Ok(json_error(422, &message, "validation_error"));
    }
    if state.must_reset(&knobs, request_id) {
        return Err(ConnectionDropped);
    }
    if let Some(status) = state.failing_status(&knobs, request_id) {
        return Ok(simulated_failure(status, &knobs));
    }
    let answer = match Answer::prepare(state, &request, knobs) {
        Ok(answer) => answer,
        Err(e) => return Ok(json_error(e.status(), &e.message(), e.code())),
    };
    if streaming {
        let (sender, body) = body::channel(answer.knobs.trickle_ms);
        let wire = match face {
            Face::Rhetor { .. } => Wire::Rhetor,
            Face::OpenAi(options) => Wire::OpenAi { include_usage: options.include_usage },
        };
        let timing = sse_stream::Timing { received, lateness: state.lateness.clone() };
        tokio::spawn(sse_stream::run(answer, wire, sender, state.task_guard(), timing));
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        return Ok(response);
    }
    if let Some(delay) = answer.knobs.first_chunk_delay() {
        tokio::time::sleep(delay).await;
    }
    let text = match face {
        Face::Rhetor { .. } => answer.response_json().to_string(),
        Face::OpenAi(_) => openai::completion_json(&answer).to_string(),
    };
    let Some(trickle_ms) = answer.knobs.trickle_ms else {
        return Ok(json_response_text(text));
    };
    // Trickled: a normal Content-Length body whose bytes arrive slowly.
    let length = text.len();
    let (mut sender, body) = body::channel(Some(trickle_ms));
    let guard = state.task_guard();
    tokio::spawn(async move {
        let _guard = guard;
        let _ = sender.send(Bytes::from(text)).await;
    });
    let mut response = Response::new(body);
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(length));
    Ok(response)
}

fn json_response_text(text: String) -> Response<SimBody> {
    let mut response = Response::new(full(text));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
