//! The LLM layer: the provider interface the engine talks to, the OpenAI-compatible
//! implementation, pricing, prompt building and topic classification.
//!
//! The engine only sees [`Provider`], so tests and offline deployments can swap the
//! network provider for a local one without touching the actors.

pub mod classify;
pub mod extract;
pub mod factory;
pub mod openai;
pub mod pricing;
pub mod prompt;
pub mod retrieval;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};

use crate::domain::escalation::ProviderFault;

pub use openai::{OpenAiProvider, RetryPolicy};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    System,
    User,
    Assistant,
    /// The result of a tool call, answering the assistant message that asked for it.
    Tool,
}

impl ChatRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatRole::System => "system",
            ChatRole::User => "user",
            ChatRole::Assistant => "assistant",
            ChatRole::Tool => "tool",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: String,
    /// Calls an assistant message asked for; empty for every other message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// On a `tool` message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

/// A function the model may call: the name it uses, what it is for, and a JSON Schema of
/// its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

/// A call the model asked for. `arguments` is the raw text the model produced: it is not
/// guaranteed to be JSON, let alone to match the schema, so it is checked before any use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::System,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::User,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::Assistant,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// The assistant turn that asked for `calls` (with whatever text came with them); the
    /// model needs it in the history to read the tool results that follow.
    pub fn assistant_tool_calls(content: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        Self {
            role: ChatRole::Assistant,
            content: content.into(),
            tool_calls: calls,
            tool_call_id: None,
        }
    }

    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::Tool,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CompletionRequest {
    pub model: String,
    pub temperature: f32,
    pub max_tokens: u32,
    pub messages: Vec<ChatMessage>,
    /// Functions offered to the model; empty offers none (and the model must answer in text).
    pub tools: Vec<ToolSpec>,
    /// Whether the model may call the offered tools on this request.
    pub tool_choice: ToolChoice,
}

/// `None` still describes the tools (the history may show calls to them) but requires a text
/// answer: the last round of a tool loop that used up its iterations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ToolChoice {
    #[default]
    Auto,
    None,
}

/// One answered call. Token counts come from the provider's `usage` when it reports one and
/// are estimated otherwise, so cost accounting always has a number to settle against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionReply {
    /// The answer; may be empty when the model only asked for tool calls.
    pub content: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Attempts beyond the first that this reply needed (rate limits, 5xx, timeouts).
    pub retries: u32,
    /// The model that actually answered, as reported by the provider.
    pub model: String,
    /// Calls the model wants made before it answers; only ever non-empty when the request
    /// offered tools.
    pub tool_calls: Vec<ToolCall>,
}

/// One piece of a streamed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamChunk {
    /// The next piece of text, in order.
    Delta(String),
    /// The end: the whole answer with its usage, as [`Provider::complete`] would return it.
    Done(CompletionReply),
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
    /// The provider URL may not be called (the outbound guard refused it): retrying the
    /// same URL cannot help.
    #[error("the LLM provider URL is refused: {0}")]
    Refused(String),
}

impl LlmError {
    /// The failure's class, recorded with the turn and, when it hands over, the conversation.
    pub fn fault(&self) -> ProviderFault {
        match self {
            LlmError::RateLimit => ProviderFault::RateLimit,
            LlmError::InsufficientQuota => ProviderFault::InsufficientQuota,
            LlmError::InvalidApiKey => ProviderFault::InvalidApiKey,
            LlmError::Timeout => ProviderFault::Timeout,
            LlmError::BadResponse(_) => ProviderFault::BadResponse,
            LlmError::Unavailable(_) => ProviderFault::Unavailable,
            LlmError::Refused(_) => ProviderFault::TargetRefused,
        }
    }

    /// Stable tag for metrics, logs and the conversation's recorded failure reason.
    pub fn reason(&self) -> &'static str {
        self.fault().as_str()
    }

    /// What a client (chat stream, WebSocket, REST) may be told: the classified failure,
    /// never the provider's own words, which can echo whatever the URL's owner wants
    /// (or internal pages, when the URL points inside). Details stay in the logs.
    pub fn public_message(&self) -> &'static str {
        match self {
            LlmError::RateLimit => "the LLM provider is rate limiting requests",
            LlmError::InsufficientQuota => "the LLM provider account has no quota left",
            LlmError::InvalidApiKey => "the LLM provider rejected the API key",
            LlmError::Timeout => "the LLM provider did not answer in time",
            LlmError::BadResponse(_) => "unusable answer from the LLM provider",
            LlmError::Unavailable(_) => "the LLM provider is unavailable",
            LlmError::Refused(_) => "the LLM provider URL is refused by the outbound guard",
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

    /// The answer as it is produced: deltas in order, then `Done` with the usage. An error
    /// ends the stream. Providers without a streaming API answer in one delta, so callers
    /// need a single code path.
    fn stream(
        &self,
        request: CompletionRequest,
    ) -> BoxStream<'static, Result<StreamChunk, LlmError>> {
        self.complete(request)
            .map(|result| {
                let chunks: Vec<Result<StreamChunk, LlmError>> = match result {
                    Ok(reply) => vec![
                        Ok(StreamChunk::Delta(reply.content.clone())),
                        Ok(StreamChunk::Done(reply)),
                    ],
                    Err(e) => vec![Err(e)],
                };
                futures::stream::iter(chunks)
            })
            .flatten_stream()
            .boxed()
    }
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
    fn tool_messages_carry_their_call_ids_and_plain_ones_do_not() {
        let call = ToolCall {
            id: "call_1".into(),
            name: "add_tag".into(),
            arguments: r#"{"tag":"vip"}"#.into(),
        };
        let asked = serde_json::to_value(ChatMessage::assistant_tool_calls("", vec![call]))
            .expect("serialize");
        assert_eq!(asked["tool_calls"][0]["name"], "add_tag");
        let answered =
            serde_json::to_value(ChatMessage::tool_result("call_1", "ok")).expect("serialize");
        assert_eq!(answered["role"], "tool");
        assert_eq!(answered["tool_call_id"], "call_1");
        assert_eq!(ChatRole::Tool.as_str(), "tool");
    }

    #[test]
    fn roles_serialize_like_the_openai_wire_format() {
        let json = serde_json::to_string(&ChatMessage::assistant("hi")).expect("serialize");
        assert_eq!(json, r#"{"role":"assistant","content":"hi"}"#);
        assert_eq!(ChatRole::User.as_str(), "user");
    }
}
