//! When to try an outside call again: exponential backoff with jitter, and the receiver's own
//! `Retry-After` when it gives one.

use std::time::Duration;

use rand::Rng;
use reqwest::header::HeaderMap;

/// The wait before retry number `retry` (0 for the first): `initial · 2^retry`, capped at
/// `max`, with "equal jitter" (half fixed, half uniformly random), so calls that failed
/// together do not retry together, yet never retry at once.
pub fn equal_jitter(initial: Duration, max: Duration, retry: u32) -> Duration {
    let exponential = initial.saturating_mul(2u32.saturating_pow(retry.min(31)));
    let capped = exponential.min(max);
    let half = capped / 2;
    let spread = u64::try_from((capped - half).as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(rand::thread_rng().gen_range(0..=spread))
}

/// The receiver's wish: `retry-after-ms` (OpenAI's precise variant), then `Retry-After` as
/// seconds (fractions accepted) or an HTTP date (a past date means now).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Duration::try_from_secs_f64(ms / 1000.0).ok();
        }
    }
    let value = header("retry-after")?;
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::try_from_secs_f64(seconds).ok())
            .flatten();
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let (initial, max) = (Duration::from_millis(100), Duration::from_millis(1000));
        for _ in 0..200 {
            let first = equal_jitter(initial, max, 0);
            assert!(
                (Duration::from_millis(50)..=initial).contains(&first),
                "{first:?}"
            );
            let third = equal_jitter(initial, max, 2);
            assert!(
                (Duration::from_millis(200)..=Duration::from_millis(400)).contains(&third),
                "{third:?}"
            );
            let late = equal_jitter(initial, max, 40);
            assert!((max / 2..=max).contains(&late), "{late:?}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after", HeaderValue::from_static("0.5"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(500)));
        headers.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        let mut junk = HeaderMap::new();
        junk.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&junk), None);
        junk.insert("retry-after", HeaderValue::from_static("1e300"));
        assert_eq!(retry_after(&junk), None, "too far to be a duration");
        let mut dated = HeaderMap::new();
        dated.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&dated), Some(Duration::ZERO), "a past date");
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        dated.insert(
            "retry-after",
            HeaderValue::from_str(&soon).expect("header value"),
        );
        let wait = retry_after(&dated).expect("parsed");
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30));
    }
}
