//! Panics inside background tasks must reach the caller as errors: a task that dies silently
//! would close its channel, which a consumer cannot tell from a clean end (or would leave it
//! waiting forever). Every task the core spawns runs under `catch`.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

use crate::error::{CoreError, ErrorKind};

/// The text of a panic payload (`panic!("...")` carries a `&str` or a `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// Run `fut`; a panic inside it becomes `Err(message)` instead of unwinding further.
pub async fn catch<F: Future>(fut: F) -> Result<F::Output, String> {
    // The state a panicking future leaves behind is dropped right after, never observed again.
    AssertUnwindSafe(fut).catch_unwind().await.map_err(|p| panic_message(p.as_ref()))
}

/// The error a caller gets when a task working for it panicked (a bug in this library).
pub fn panic_error(what: &str, message: &str) -> CoreError {
    CoreError::new(
        ErrorKind::Other,
        format!("internal error: {what} panicked ({message}); this is a bug in tekton-llm-client, please report it"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn catches_str_and_string_panics() {
        let r = catch(async { panic!("boom") }).await;
        assert_eq!(r.unwrap_err(), "boom");
        let n = 7;
        let r = catch(async move { panic!("boom {n}") }).await;
        assert_eq!(r.unwrap_err(), "boom 7");
        assert_eq!(catch(async { 5 }).await, Ok(5));
        let e = panic_error("the stream reader", "boom");
        assert_eq!(e.kind, ErrorKind::Other);
        assert!(e.message.contains("boom"));
    }
}
