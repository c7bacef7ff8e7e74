//! Permissive CORS, so the browser client on another origin (a dev server, the demo page served
//! from elsewhere) can call the simulator.

use crate::body::{full, SimBody};
use hyper::header::{
    HeaderMap, HeaderValue, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
};
use hyper::{Response, StatusCode};

const DEFAULT_ALLOWED_HEADERS: &str =
    "Authorization, Content-Type, X-Request-ID, X-Tekton-Component, Accept, Cache-Control";

/// Headers every response carries.
pub fn decorate(headers: &mut HeaderMap) {
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("Retry-After, X-Request-ID, Content-Type"));
}

/// The answer to an `OPTIONS` preflight: allow what was asked (echoing the requested headers,
/// since `*` does not cover `Authorization`).
pub fn preflight(request: &HeaderMap) -> Response<SimBody> {
    let mut response = Response::new(full(bytes::Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
    let allowed = request
        .get(ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or(HeaderValue::from_static(DEFAULT_ALLOWED_HEADERS));
    headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, allowed);
    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    response
}
