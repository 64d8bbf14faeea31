//! The real `OpenAiProvider` over HTTP against the scripted OpenAI-compatible server:
//! usage, retries with backoff and `Retry-After`, permanent errors, timeouts, bad answers.

mod support;

use std::time::{Duration, Instant};

use atende::llm::{
    ChatMessage, CompletionRequest, LlmError, OpenAiProvider, Provider, RetryPolicy, ToolChoice,
};
use atende::outbound::Limits;
use serde_json::json;
use support::scripted_llm::{ScriptedLlm, Step};

const KEY: &str = "sk-test-0123456789abcdef";

/// The scripted server is on loopback: private targets allowed, generous caps.
const LOOPBACK: Limits = Limits {
    allow_private: true,
    max_response_bytes: 16 * 1024 * 1024,
    max_error_body_bytes: 64 * 1024,
};

fn provider(llm: &ScriptedLlm, timeout: Duration, max_retries: u32) -> OpenAiProvider {
    let retry = RetryPolicy {
        max_retries,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_secs(2),
    };
    OpenAiProvider::new(&llm.base_url, KEY, timeout, retry, LOOPBACK).expect("provider")
}

fn request(text: &str) -> CompletionRequest {
    CompletionRequest {
        model: "gpt-4o-mini".into(),
        temperature: 0.3,
        max_tokens: 256,
        messages: vec![
            ChatMessage::system("Você é a Ana, atendente da ACME."),
            ChatMessage::user(text),
        ],
        tools: Vec::new(),
        tool_choice: ToolChoice::Auto,
    }
}

fn rate_limited(retry_after: Option<u64>) -> Step {
    Step::Status {
        code: 429,
        body: json!({"error": {"message": "Rate limit reached for requests",
            "type": "requests", "param": null, "code": "rate_limit_exceeded"}}),
        retry_after,
    }
}

fn server_error() -> Step {
    Step::Status {
        code: 500,
        body: json!({"error": {"message": "The server had an error while processing your request.",
            "type": "server_error", "param": null, "code": null}}),
        retry_after: None,
    }
}

#[actix_web::test]
async fn plain_reply_with_usage() {
    let llm = ScriptedLlm::start().await;
    llm.push(Step::Reply {
        content: "Olá! Como posso ajudar?".into(),
        prompt_tokens: 42,
        completion_tokens: 7,
    });
    let reply = provider(&llm, Duration::from_secs(5), 3)
        .complete(request("oi"))
        .await
        .expect("reply");

    assert_eq!(reply.content, "Olá! Como posso ajudar?");
    assert_eq!((reply.prompt_tokens, reply.completion_tokens), (42, 7));
    assert_eq!(reply.retries, 0);
    assert_eq!(reply.model, "gpt-4o-mini");

    let seen = llm.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    let body = &seen[0].body;
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["max_completion_tokens"], 256);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(
        body["messages"][1],
        json!({"role": "user", "content": "oi"})
    );
    assert!(!seen[0].is_stream());
}

#[actix_web::test]
async fn default_step_echoes_the_last_user_message() {
    let llm = ScriptedLlm::start().await;
    let reply = provider(&llm, Duration::from_secs(5), 0)
        .complete(request("quero trocar o pedido"))
        .await
        .expect("reply");
    assert_eq!(reply.content, "reply to: quero trocar o pedido");
    assert_eq!((reply.prompt_tokens, reply.completion_tokens), (10, 5));
}

#[actix_web::test]
async fn rate_limit_honours_retry_after_then_succeeds() {
    let llm = ScriptedLlm::start().await;
    llm.push(rate_limited(Some(1)));
    llm.push(Step::reply("enfim"));

    let reply = provider(&llm, Duration::from_secs(5), 3)
        .complete(request("oi"))
        .await
        .expect("reply after one retry");

    assert_eq!(reply.content, "enfim");
    assert_eq!(reply.retries, 1);
    let seen = llm.requests();
    assert_eq!(seen.len(), 2);
    let first_done = seen[0].finished_at.expect("first answered");
    let gap = seen[1].started_at.duration_since(first_done);
    // The policy's own backoff is ~10 ms: a gap of about a second is the Retry-After.
    assert!(gap >= Duration::from_millis(950), "gap {gap:?}");
}

#[actix_web::test]
async fn retry_after_beyond_max_backoff_gives_up_at_once() {
    let llm = ScriptedLlm::start().await;
    llm.push(rate_limited(Some(60)));
    llm.push(Step::reply("never reached"));

    let started = Instant::now();
    let error = provider(&llm, Duration::from_secs(5), 3)
        .complete(request("oi"))
        .await
        .expect_err("rate limited");
    assert_eq!(error, LlmError::RateLimit);
    assert_eq!(llm.request_count(), 1);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[actix_web::test]
async fn server_errors_are_retried_with_backoff() {
    let llm = ScriptedLlm::start().await;
    llm.push(server_error());
    llm.push(server_error());
    llm.push(Step::reply("ok agora"));

    let reply = provider(&llm, Duration::from_secs(5), 3)
        .complete(request("oi"))
        .await
        .expect("reply after two retries");
    assert_eq!(reply.content, "ok agora");
    assert_eq!(reply.retries, 2);
    assert_eq!(llm.request_count(), 3);
}

#[actix_web::test]
async fn exhausted_retries_report_the_last_failure() {
    let llm = ScriptedLlm::start().await;
    llm.set_default(Step::Status {
        code: 503,
        body: json!({"error": {"message": "overloaded", "type": "server_error"}}),
        retry_after: None,
    });
    let error = provider(&llm, Duration::from_secs(5), 2)
        .complete(request("oi"))
        .await
        .expect_err("still failing");
    assert_eq!(error.reason(), "unavailable");
    assert!(error.to_string().contains("503"), "{error}");
    assert_eq!(llm.request_count(), 3, "first attempt + 2 retries");
}

#[actix_web::test]
async fn invalid_api_key_is_not_retried() {
    let llm = ScriptedLlm::start().await;
    llm.push(Step::Status {
        code: 401,
        body: json!({"error": {"message": "Incorrect API key", "type": "invalid_request_error",
            "code": "invalid_api_key"}}),
        retry_after: None,
    });
    let error = provider(&llm, Duration::from_secs(5), 3)
        .complete(request("oi"))
        .await
        .expect_err("bad key");
    assert_eq!(error, LlmError::InvalidApiKey);
    assert!(!error.is_retryable());
    assert!(!format!("{error} {error:?}").contains(KEY));
    assert_eq!(llm.request_count(), 1);
}

#[actix_web::test]
async fn insufficient_quota_is_not_retried() {
    let llm = ScriptedLlm::start().await;
    llm.push(Step::Status {
        code: 429,
        body: json!({"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
            "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}),
        retry_after: Some(1),
    });
    let error = provider(&llm, Duration::from_secs(5), 3)
        .complete(request("oi"))
        .await
        .expect_err("no quota");
    assert_eq!(error, LlmError::InsufficientQuota);
    assert_eq!(llm.request_count(), 1);
}

#[actix_web::test]
async fn a_hanging_provider_times_out_after_the_retries() {
    let llm = ScriptedLlm::start().await;
    llm.set_default(Step::Hang);

    let started = Instant::now();
    let error = provider(&llm, Duration::from_millis(300), 1)
        .complete(request("oi"))
        .await
        .expect_err("timeout");
    let elapsed = started.elapsed();

    assert_eq!(error, LlmError::Timeout);
    assert_eq!(llm.request_count(), 2);
    assert!(elapsed >= Duration::from_millis(600), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[actix_web::test]
async fn a_slow_answer_within_the_timeout_is_fine() {
    let llm = ScriptedLlm::start().await;
    llm.push(Step::delayed(100, Step::reply("devagar")));
    let reply = provider(&llm, Duration::from_secs(2), 0)
        .complete(request("oi"))
        .await
        .expect("reply");
    assert_eq!(reply.content, "devagar");
}

#[actix_web::test]
async fn empty_choices_are_a_bad_response() {
    let llm = ScriptedLlm::start().await;
    llm.push(Step::Status {
        code: 200,
        body: json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
            "model": "gpt-4o-mini", "choices": [],
            "usage": {"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1}}),
        retry_after: None,
    });
    let error = provider(&llm, Duration::from_secs(5), 3)
        .complete(request("oi"))
        .await
        .expect_err("no choices");
    assert!(matches!(error, LlmError::BadResponse(_)), "{error:?}");
    assert_eq!(llm.request_count(), 1, "a malformed answer is not retried");
}

#[actix_web::test]
async fn missing_usage_is_estimated() {
    let llm = ScriptedLlm::start().await;
    llm.push(Step::Status {
        code: 200,
        body: json!({"id": "chatcmpl-2", "object": "chat.completion", "created": 1,
            "model": "local-llama", "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "12345678"}}]}),
        retry_after: None,
    });
    let reply = provider(&llm, Duration::from_secs(5), 0)
        .complete(request("abcd"))
        .await
        .expect("reply");
    assert_eq!(reply.model, "local-llama");
    assert_eq!(reply.completion_tokens, 2, "8 chars / 4");
    // "Você é a Ana, atendente da ACME." is 32 chars (8 tokens) + "abcd" (1 token).
    assert_eq!(reply.prompt_tokens, 9);
}

#[actix_web::test]
async fn tool_calls_without_content_are_a_bad_response() {
    let llm = ScriptedLlm::start().await;
    llm.push(Step::ToolCalls(vec![(
        "buscar_pedido".into(),
        json!({"numero": "12345"}),
    )]));
    let error = provider(&llm, Duration::from_secs(5), 0)
        .complete(request("cadê meu pedido?"))
        .await
        .expect_err("tools not offered");
    assert!(matches!(error, LlmError::BadResponse(_)), "{error:?}");
}

#[actix_web::test]
async fn connection_refused_is_unavailable() {
    // Bind and drop to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let retry = RetryPolicy {
        max_retries: 1,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
    };
    let provider = OpenAiProvider::new(
        &format!("http://127.0.0.1:{port}/v1"),
        KEY,
        Duration::from_secs(2),
        retry,
        LOOPBACK,
    )
    .expect("provider");
    let error = provider
        .complete(request("oi"))
        .await
        .expect_err("nobody listening");
    assert_eq!(error.reason(), "unavailable", "{error:?}");
    assert!(!error.to_string().contains(KEY));
}

#[actix_web::test]
async fn concurrent_completions_are_served_concurrently() {
    let llm = ScriptedLlm::start().await;
    llm.set_default(Step::delayed(200, Step::reply("ok")));
    let provider = provider(&llm, Duration::from_secs(5), 0);
    let started = Instant::now();
    let replies =
        futures::future::join_all((0..8).map(|i| provider.complete(request(&format!("m{i}")))))
            .await;
    assert!(replies.iter().all(|r| r.is_ok()));
    assert_eq!(llm.max_in_flight(), 8);
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[actix_web::test]
async fn the_server_streams_sse_word_by_word() {
    let llm = ScriptedLlm::start().await;
    llm.push(Step::Reply {
        content: "Olá, tudo bem?".into(),
        prompt_tokens: 12,
        completion_tokens: 4,
    });
    let response = reqwest::Client::new()
        .post(format!("{}/chat/completions", llm.base_url))
        .json(
            &json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "oi"}]}),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(
        response.headers()["content-type"].to_str().expect("ascii"),
        "text/event-stream"
    );
    let text = response.text().await.expect("body");
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"));
    let chunks: Vec<serde_json::Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("chunk json"))
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Olá, tudo bem?");
    assert_eq!(chunks.len(), 4, "3 words + the final chunk");
    let last = chunks.last().expect("final chunk");
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["usage"]["completion_tokens"], 4);
    assert!(llm.requests()[0].is_stream());
}
