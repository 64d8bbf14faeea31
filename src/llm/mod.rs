//! The LLM layer: the provider interface the engine talks to, the OpenAI-compatible
//! implementation, pricing and prompt building.
//!
//! The engine only sees [`Provider`], so tests and offline deployments can swap the
//! network provider for a local one without touching the actors.

pub mod openai;
pub mod pricing;
pub mod prompt;
pub mod retrieval;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

pub use openai::{OpenAiProvider, RetryPolicy};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    System,
    User,
    Assistant,
}

impl ChatRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatRole::System => "system",
            ChatRole::User => "user",
            ChatRole::Assistant => "assistant",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::System,
            content: content.into(),
        }
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::User,
            content: content.into(),
        }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::Assistant,
            content: content.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CompletionRequest {
    pub model: String,
    pub temperature: f32,
    pub max_tokens: u32,
    pub messages: Vec<ChatMessage>,
}

/// One answered turn. Token counts come from the provider's `usage` when it reports one and
/// are estimated otherwise, so cost accounting always has a number to settle against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionReply {
    pub content: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Attempts beyond the first that this reply needed (rate limits, 5xx, timeouts).
    pub retries: u32,
    /// The model that actually answered, as reported by the provider.
    pub model: String,
}

/// Why a turn could not be answered. Messages are safe to log and to show to operators:
/// they never carry the API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    #[error("the LLM provider is rate limiting requests")]
    RateLimit,
    #[error("the LLM provider account has no quota left")]
    InsufficientQuota,
    #[error("the LLM provider rejected the API key")]
    InvalidApiKey,
    #[error("the LLM provider did not answer in time")]
    Timeout,
    #[error("unusable answer from the LLM provider: {0}")]
    BadResponse(String),
    #[error("the LLM provider is unavailable: {0}")]
    Unavailable(String),
}

impl LlmError {
    /// Stable tag for metrics, logs and the conversation's recorded failure reason.
    pub fn reason(&self) -> &'static str {
        match self {
            LlmError::RateLimit => "rate_limit",
            LlmError::InsufficientQuota => "insufficient_quota",
            LlmError::InvalidApiKey => "invalid_api_key",
            LlmError::Timeout => "timeout",
            LlmError::BadResponse(_) => "bad_response",
            LlmError::Unavailable(_) => "unavailable",
        }
    }

    /// Whether trying the same request again later can succeed. Quota and key problems
    /// need a human; a malformed answer or a rejected request would only be repeated.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            LlmError::RateLimit | LlmError::Timeout | LlmError::Unavailable(_)
        )
    }
}

/// A chat-completion backend. Returns a `'static` boxed future so that actors can hand the
/// call to the runtime (`ctx.spawn`, `actix::fut::wrap_future`) without borrowing the provider.
pub trait Provider: Send + Sync + 'static {
    fn complete(
        &self,
        request: CompletionRequest,
    ) -> BoxFuture<'static, Result<CompletionReply, LlmError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_stable_tags() {
        let all = [
            (LlmError::RateLimit, "rate_limit", true),
            (LlmError::InsufficientQuota, "insufficient_quota", false),
            (LlmError::InvalidApiKey, "invalid_api_key", false),
            (LlmError::Timeout, "timeout", true),
            (LlmError::BadResponse("x".into()), "bad_response", false),
            (LlmError::Unavailable("x".into()), "unavailable", true),
        ];
        for (error, reason, retryable) in all {
            assert_eq!(error.reason(), reason);
            assert_eq!(error.is_retryable(), retryable, "{reason}");
        }
    }

    #[test]
    fn roles_serialize_like_the_openai_wire_format() {
        let json = serde_json::to_string(&ChatMessage::assistant("hi")).expect("serialize");
        assert_eq!(json, r#"{"role":"assistant","content":"hi"}"#);
        assert_eq!(ChatRole::User.as_str(), "user");
    }
}
