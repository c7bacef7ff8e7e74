//! When and how long to wait before trying a failed call again.

use std::time::{Duration, SystemTime};

use crate::config::ClientConfig;
use crate::error::{CoreError, ErrorKind};

/// Exponential backoff with jitter: `min(initial * 2^attempt, max)`, minus up to 25%, so that
/// many clients failing together do not retry in lockstep.
pub fn backoff_delay(attempt: u32, initial: Duration, max: Duration) -> Duration {
    let exp = initial.saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX));
    let base = exp.min(max);
    base.mul_f64(1.0 - 0.25 * fastrand::f64())
}

/// `Retry-After` as delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(86_400.0)));
        }
        return None;
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The wait before attempt `attempt + 1`, or None when the error is final.
pub fn delay_before_retry(err: &CoreError, attempt: u32, cfg: &ClientConfig) -> Option<Duration> {
    if attempt >= cfg.max_retries || !err.kind.is_retryable() {
        return None;
    }
    if let Some(secs) = err.retry_after {
        let wanted = Duration::from_secs_f64(secs.max(0.0));
        if wanted > cfg.max_retry_after {
            return None;
        }
        return Some(wanted);
    }
    if err.kind == ErrorKind::RateLimit {
        // No Retry-After: back off a little longer than for a plain failure.
        return Some(backoff_delay(attempt + 1, cfg.backoff_initial, cfg.backoff_max));
    }
    Some(backoff_delay(attempt, cfg.backoff_initial, cfg.backoff_max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5", now), Some(Duration::from_millis(500)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(3));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn backoff_bounds() {
        for n in 0..30 {
            let d = backoff_delay(n, Duration::from_millis(500), Duration::from_secs(8));
            assert!(d <= Duration::from_secs(8));
            assert!(d >= Duration::from_millis(375).min(Duration::from_secs(6)));
        }
    }
}
