//! Error responses: simulated failures (`fail_status`, `fail_body`, `retry_after`) and the
//! simulator's own 4xx answers.

use crate::body::{full, SimBody};
use crate::clock::http_date_in;
use crate::config::{FailBody, Knobs};
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Response, StatusCode};
use serde_json::json;

/// A short machine-readable name for a status, used as `"code"` in error bodies and frames.
pub fn status_code_name(status: u16) -> &'static str {
    match status {
        400 => "invalid_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "payload_too_large",
        422 => "validation_error",
        429 => "rate_limited",
        500 => "internal_error",
        502 => "bad_gateway",
        503 => "service_unavailable",
        504 => "gateway_timeout",
        _ => "simulated_error",
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A JSON error: `{"error": message, "code": code}`.
pub fn json_error(code: u16, message: &str, name: &str) -> Response<SimBody> {
    let body = json!({"error": message, "code": name}).to_string();
    let mut response = Response::new(full(body));
    *response.status_mut() = status(code);
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The Retry-After value the knobs ask for: seconds, or an HTTP date that many seconds ahead.
pub fn retry_after_value(knobs: &Knobs) -> Option<String> {
    let seconds = knobs.retry_after?;
    Some(if knobs.retry_after_http_date.unwrap_or(false) { http_date_in(seconds) } else { seconds.to_string() })
}

/// A simulated failure shaped by `fail_body` and `retry_after`.
pub fn simulated_failure(code: u16, knobs: &Knobs) -> Response<SimBody> {
    let message = format!("simulated failure: HTTP {code}");
    let mut response = match knobs.fail_body() {
        FailBody::Json => json_error(code, &message, status_code_name(code)),
        FailBody::Detail => {
            let mut r = Response::new(full(json!({"detail": message}).to_string()));
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        FailBody::Html => {
            let page = format!(
                "<!DOCTYPE html>\n<html><head><title>{code} Error</title></head>\
                 <body><h1>{code} Error</h1><p>{message}</p><hr><center>nginx</center></body></html>\n"
            );
            let mut r = Response::new(full(page));
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            r
        }
        FailBody::Empty => Response::new(full(bytes::Bytes::new())),
    };
    *response.status_mut() = status(code);
    if let Some(value) = retry_after_value(knobs).and_then(|v| HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}
