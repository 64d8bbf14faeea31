//! The real `OpenAiProvider` against bare loopback listeners: the outbound rules of issue 12
//! (redirects not followed, private targets refused, answers read with a byte cap).

mod support;

use std::time::Duration;

use atende::llm::{
    ChatMessage, CompletionRequest, LlmError, OpenAiProvider, Provider, RetryPolicy, StreamChunk,
    ToolChoice,
};
use atende::outbound::Limits;
use futures::StreamExt;
use support::raw_http::{RawServer, Reply};

const KEY: &str = "sk-test-0123456789abcdef";
const MIB: u64 = 1024 * 1024;
/// What the huge answers weigh: far beyond any cap, so reading it all is unmistakable.
const HUGE: u64 = 64 * MIB;

fn limits(allow_private: bool) -> Limits {
    Limits {
        allow_private,
        max_response_bytes: MIB as usize,
        max_error_body_bytes: 64 * 1024,
    }
}

fn provider(base_url: &str, limits: Limits) -> OpenAiProvider {
    OpenAiProvider::new(
        base_url,
        KEY,
        Duration::from_secs(20),
        RetryPolicy::no_retries(),
        limits,
    )
    .expect("provider")
}

fn request() -> CompletionRequest {
    CompletionRequest {
        model: "gpt-4o-mini".into(),
        temperature: 0.3,
        max_tokens: 64,
        messages: vec![ChatMessage::user("oi")],
        tools: Vec::new(),
        tool_choice: ToolChoice::Auto,
    }
}

fn completion() -> String {
    serde_json::json!({
        "id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "redirected answer"}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    })
    .to_string()
}

fn huge(status: u16, content_type: &str, with_length: bool) -> Reply {
    Reply::Huge {
        status,
        content_type: content_type.into(),
        total: HUGE,
        fill: b'a',
        with_length,
    }
}

/// Body bytes the server wrote before the client hung up: well under the total when the
/// client stopped at its cap (socket buffers hold a few MiB at most).
async fn written_once(server: &RawServer) -> u64 {
    let written = server.wait_finished(1, Duration::from_secs(30)).await;
    assert_eq!(written.len(), 1, "one connection answered");
    written[0]
}

#[actix_web::test]
async fn redirects_are_not_followed() {
    let target = RawServer::start(Reply::json(200, &completion())).await;
    let redirector = RawServer::start(Reply::redirect(&target.url("/v1/chat/completions"))).await;
    let error = provider(&redirector.url("/v1"), limits(true))
        .complete(request())
        .await
        .expect_err("a redirect is not an answer");
    assert!(
        matches!(&error, LlmError::BadResponse(m) if m.contains("redirect")),
        "{error:?}"
    );
    assert_eq!(redirector.requests().len(), 1);
    assert!(
        target.requests().is_empty(),
        "the redirect target was called: {:?}",
        target.requests()
    );
}

#[actix_web::test]
async fn private_targets_are_refused_unless_allowed() {
    let server = RawServer::start(Reply::json(200, &completion())).await;
    for base in [
        server.url("/v1"),
        format!("http://localhost:{}/v1", server.port),
    ] {
        let error = provider(&base, limits(false))
            .complete(request())
            .await
            .expect_err("loopback is private");
        assert!(
            matches!(error, LlmError::Refused(_) | LlmError::Unavailable(_)),
            "{base}: {error:?}"
        );
        assert!(!error.to_string().contains(KEY));
    }
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    // The same listener answers once private targets are allowed.
    let reply = provider(&server.url("/v1"), limits(true))
        .complete(request())
        .await
        .expect("allowed");
    assert_eq!(reply.content, "redirected answer");
    assert_eq!(server.requests().len(), 1);
}

/// A completion from a server that answers `reply` fails with `reason`, and the client read
/// less than the cap of what the server wrote.
async fn completion_is_capped(reply: Reply, reason: &str) {
    let server = RawServer::start(reply).await;
    let error = provider(&server.url("/v1"), limits(true))
        .complete(request())
        .await
        .expect_err("over the cap");
    assert_eq!(error.reason(), reason, "{error:?}");
    let written = written_once(&server).await;
    assert!(written < 16 * MIB, "the client read {written} bytes");
}

#[actix_web::test]
async fn a_huge_completion_is_cut_off_at_the_cap() {
    completion_is_capped(huge(200, "application/json", false), "bad_response").await;
}

#[actix_web::test]
async fn an_announced_huge_completion_is_refused_unread() {
    completion_is_capped(huge(200, "application/json", true), "bad_response").await;
}

#[actix_web::test]
async fn a_huge_error_body_is_cut_off_at_the_cap() {
    completion_is_capped(huge(500, "text/html", false), "unavailable").await;
}

#[actix_web::test]
async fn a_huge_stream_is_cut_off_at_the_cap() {
    let server = RawServer::start(huge(200, "text/event-stream", false)).await;
    let mut stream = provider(&server.url("/v1"), limits(true)).stream(request());
    let mut failed = false;
    while let Some(item) = stream.next().await {
        match item {
            Ok(StreamChunk::Delta(_)) => {}
            Ok(StreamChunk::Done(reply)) => panic!("no answer in a stream of 'a's: {reply:?}"),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the stream must end in an error");
    drop(stream);
    let written = written_once(&server).await;
    assert!(written < 16 * MIB, "the client read {written} bytes");
}
