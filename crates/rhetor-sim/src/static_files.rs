//! The browser client and its demo page, compiled in so a browser can load them from the
//! simulator (another engineer owns the files themselves).

use crate::body::full;
use crate::body::SimBody;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::Response;

const CLIENT_JS: &str = include_str!("../../../python/tekton_llm_client/static/js/tekton-llm-client.js");
const CLIENT_MJS: &str = include_str!("../../../python/tekton_llm_client/static/js/tekton-llm-client.mjs");
const DEMO_HTML: &str = include_str!("../../../python/tekton_llm_client/static/demo.html");

/// The static file at `path`, if there is one.
pub fn serve(path: &str) -> Option<Response<SimBody>> {
    let (text, content_type) = match path {
        "/static/js/tekton-llm-client.js" => (CLIENT_JS, "application/javascript; charset=utf-8"),
        "/static/js/tekton-llm-client.mjs" => (CLIENT_MJS, "application/javascript; charset=utf-8"),
        "/demo" | "/demo.html" | "/static/demo.html" => (DEMO_HTML, "text/html; charset=utf-8"),
        _ => return None,
    };
    let mut response = Response::new(full(text));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Some(response)
}
