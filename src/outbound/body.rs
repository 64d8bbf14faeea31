//! Reading answers from URLs someone else controls: never more than a cap, streamed, so a
//! receiver answering with gigabytes costs at most the cap in memory and we hang up there.

use bytes::Bytes;
use futures::{Stream, StreamExt};

/// Why a body could not be read whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
    #[error("reading the response failed: {0}")]
    Read(String),
}

/// The whole body, or [`BodyError::TooLarge`] as soon as it is known to exceed `max` bytes
/// (from `Content-Length`, or while reading). The connection is dropped there.
pub async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<Bytes, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > max as u64)
    {
        return Err(BodyError::TooLarge(max));
    }
    let mut out: Vec<u8> = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if out.len().saturating_add(chunk.len()) > max {
                    return Err(BodyError::TooLarge(max));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(Bytes::from(out)),
            Err(e) => return Err(BodyError::Read(super::error_chain(&e.without_url()))),
        }
    }
}

/// At most the first `max` bytes of the body, reading no further; what could be read when
/// the body fails midway. For error excerpts, where the start is all anyone needs.
pub async fn read_head(mut response: reqwest::Response, max: usize) -> Bytes {
    let mut out: Vec<u8> = Vec::new();
    while out.len() < max {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = max - out.len();
                out.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    Bytes::from(out)
}

/// The start of a receiver's answer for an operator: the first `max_bytes` read (no more),
/// on one line, cut to `max_chars`, with each of `secrets` (what the request carried, in
/// case the receiver echoes it) replaced by `[redacted]`.
pub async fn excerpt(
    response: reqwest::Response,
    max_bytes: usize,
    max_chars: usize,
    secrets: &[&str],
) -> String {
    let head = read_head(response, max_bytes).await;
    excerpt_of(&head, max_chars, secrets)
}

/// [`excerpt`] of bytes already read.
pub fn excerpt_of(head: &[u8], max_chars: usize, secrets: &[&str]) -> String {
    let mut text = String::from_utf8_lossy(head).into_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "[redacted]");
    }
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(max_chars)
        .collect()
}

/// `stream` ending with [`BodyError::TooLarge`] once more than `max` bytes went through.
pub fn capped_stream<S, E>(
    stream: S,
    max: usize,
) -> impl Stream<Item = Result<Bytes, BodyError>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display,
{
    stream
        .scan((0usize, false), move |(seen, over), item| {
            if *over {
                return futures::future::ready(None);
            }
            let out = match item {
                Ok(chunk) => {
                    *seen = seen.saturating_add(chunk.len());
                    if *seen > max {
                        *over = true;
                        Err(BodyError::TooLarge(max))
                    } else {
                        Ok(chunk)
                    }
                }
                Err(e) => Err(BodyError::Read(e.to_string())),
            };
            futures::future::ready(Some(out))
        })
        .boxed()
}

/// `response` with its body capped at `max` bytes: read past that, the body fails with
/// [`BodyError::TooLarge`] and the connection is dropped. For callers that hand the
/// response to a library that reads it (async-openai), streaming or whole.
pub fn capped_response(response: reqwest::Response, max: usize) -> reqwest::Response {
    let mut builder = http::Response::builder()
        .status(response.status())
        .version(response.version());
    if let Some(headers) = builder.headers_mut() {
        *headers = response.headers().clone();
    }
    let body = reqwest::Body::wrap_stream(capped_stream(response.bytes_stream(), max));
    match builder.body(body) {
        Ok(capped) => reqwest::Response::from(capped),
        // Status, version and headers come from a valid response, so this cannot fail;
        // were it to, an empty answer fails to parse rather than reading without a cap.
        Err(_) => reqwest::Response::from(http::Response::new(reqwest::Body::from(""))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_one_short_line_without_secrets() {
        let text = excerpt_of(
            b"  error:\n  bad key sk-123 \t here  ",
            100,
            &["sk-123", ""],
        );
        assert_eq!(text, "error: bad key [redacted] here");
        assert_eq!(excerpt_of("ação ok".as_bytes(), 3, &[]), "açã");
        assert_eq!(excerpt_of(&[0xff, b'a'], 10, &[]), "\u{fffd}a");
    }

    #[actix_web::test]
    async fn streams_end_with_an_error_past_the_cap() {
        let chunks = futures::stream::iter(vec![
            Ok::<_, std::io::Error>(Bytes::from_static(b"12345")),
            Ok(Bytes::from_static(b"67890")),
            Ok(Bytes::from_static(b"abc")),
        ]);
        let out: Vec<_> = capped_stream(chunks, 8).collect().await;
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0], Ok(Bytes::from_static(b"12345")));
        assert_eq!(out[1], Err(BodyError::TooLarge(8)));

        let chunks = futures::stream::iter(vec![
            Ok::<_, std::io::Error>(Bytes::from_static(b"12345")),
            Ok(Bytes::from_static(b"678")),
        ]);
        let out: Vec<_> = capped_stream(chunks, 8).collect().await;
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(Result::is_ok), "exactly the cap passes");
    }
}
