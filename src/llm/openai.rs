//! [`Provider`] over any OpenAI-compatible chat-completions endpoint, through `async-openai`.
//!
//! async-openai's default transport retries 429/5xx by itself and turns failed responses into
//! errors that no longer carry their headers, so `Retry-After` would be lost. We install our
//! own transport (its `middleware` feature) that makes exactly one HTTP call per attempt and
//! turns a non-2xx answer into an [`HttpFailure`] carrying status, `Retry-After` and the error
//! body. [`RetryPolicy`] is then the only retry logic.
//!
//! The transport is also where the outbound rules apply (`crate::outbound`): the client never
//! follows redirects nor uses an environment proxy, the guard refuses private targets (unless
//! allowed), and every answer is read with a byte cap, error bodies with a smaller one.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionStreamOptions, ChatCompletionTool,
    ChatCompletionToolChoiceOption, ChatCompletionTools, CreateChatCompletionRequest,
    CreateChatCompletionResponse, CreateChatCompletionStreamResponse, FunctionCall, FunctionObject,
    ToolChoiceOptions,
};
use async_openai::Client;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use secrecy::{ExposeSecret, SecretString};

use super::pricing::estimate_tokens;
use super::{
    ChatRole, CompletionReply, CompletionRequest, LlmError, Provider, StreamChunk, ToolCall,
    ToolChoice,
};
use crate::outbound::{self, backoff, body, guard, origin, Limits};

/// Retries of one completion: exponential backoff with jitter on rate limits, 5xx, timeouts
/// and connection failures. A `Retry-After` from the server replaces the computed backoff;
/// one longer than `max_backoff` ends the retries at once, because holding a conversation's
/// turn that long helps nobody: the caller gets `RateLimit`/`Unavailable` and decides (wait,
/// hand to a human).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    pub fn no_retries() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// Wait before retry number `retry` (0 for the first retry): `initial * 2^retry`, capped
    /// at `max_backoff`, then drawn uniformly from its upper half. The jitter spreads the
    /// retries of many conversations hit by the same outage; the floor keeps the backoff real.
    pub fn backoff(&self, retry: u32) -> Duration {
        backoff::equal_jitter(self.initial_backoff, self.max_backoff, retry)
    }

    /// The wait before the next attempt, or `None` to give up with `error`.
    fn next_delay(
        &self,
        retries_so_far: u32,
        error: &LlmError,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if !error.is_retryable() || retries_so_far >= self.max_retries {
            return None;
        }
        match retry_after {
            Some(wait) if wait > self.max_backoff => None,
            Some(wait) => Some(wait),
            None => Some(self.backoff(retries_so_far)),
        }
    }
}

/// Cheap to clone; clones share the HTTP connection pool.
#[derive(Clone)]
pub struct OpenAiProvider {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client<OpenAIConfig>,
    retry: RetryPolicy,
    base_url: String,
    /// Kept only to scrub it from error text that a server might echo back.
    api_key: SecretString,
}

impl fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("base_url", &self.inner.base_url)
            .field("retry", &self.inner.retry)
            .field("api_key", &"[redacted]")
            .finish()
    }
}

impl OpenAiProvider {
    /// `base_url` is the API root, e.g. `https://api.openai.com/v1`; requests go to
    /// `{base_url}/chat/completions`. `request_timeout` bounds each attempt as a whole
    /// (connect, send, wait, read).
    pub fn new(
        base_url: &str,
        api_key: &str,
        request_timeout: Duration,
        retry: RetryPolicy,
        limits: Limits,
    ) -> Result<Self, LlmError> {
        origin::check_base_url(base_url)
            .map_err(|reason| LlmError::Refused(format!("the provider base URL {reason}")))?;
        let base_url = base_url.trim().trim_end_matches('/').to_string();
        // async-openai builds the Authorization header with `unwrap`; a key that is not a
        // valid header value would panic inside it on the first request.
        if reqwest::header::HeaderValue::from_str(&format!("Bearer {api_key}")).is_err() {
            return Err(LlmError::InvalidApiKey);
        }

        let http = outbound::client(&outbound::ClientSpec {
            user_agent: concat!("atende/", env!("CARGO_PKG_VERSION")),
            timeout: Some(request_timeout),
            connect_timeout: request_timeout.min(Duration::from_secs(10)),
            allow_private: limits.allow_private,
        })
        .map_err(|e| {
            LlmError::Unavailable(format!("HTTP client: {}", error_chain(&e.without_url())))
        })?;
        // Organization and project are set explicitly: OpenAIConfig would otherwise pick them
        // up from the process environment and send them with every tenant's key.
        let config = OpenAIConfig::new()
            .with_api_base(base_url.clone())
            .with_api_key(api_key)
            .with_org_id("")
            .with_project_id("");
        let client = Client::build(http.clone(), config)
            .with_http_service(StatusAwareTransport { http, limits });

        Ok(Self {
            inner: Arc::new(Inner {
                client,
                retry,
                base_url,
                api_key: SecretString::from(api_key.to_string()),
            }),
        })
    }
}

impl Provider for OpenAiProvider {
    fn complete(
        &self,
        request: CompletionRequest,
    ) -> BoxFuture<'static, Result<CompletionReply, LlmError>> {
        let inner = self.inner.clone();
        async move { inner.complete(request).await }.boxed()
    }

    fn stream(
        &self,
        request: CompletionRequest,
    ) -> BoxStream<'static, Result<StreamChunk, LlmError>> {
        let inner = self.inner.clone();
        futures::stream::once(async move { inner.open_stream(request).await })
            .flat_map(|opened| match opened {
                Ok(stream) => stream,
                Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
            })
            .boxed()
    }
}

impl Inner {
    async fn complete(&self, request: CompletionRequest) -> Result<CompletionReply, LlmError> {
        let wire = to_wire(&request);
        let mut retries = 0u32;
        loop {
            let failure = match self.client.chat().create(wire.clone()).await {
                Ok(response) => return reply_from(response, &request, retries),
                Err(error) => self.classify(error),
            };
            let Some(delay) = self
                .retry
                .next_delay(retries, &failure.error, failure.retry_after)
            else {
                tracing::warn!(
                    reason = failure.error.reason(),
                    retries,
                    error = %failure.error,
                    "LLM completion failed"
                );
                return Err(failure.error);
            };
            tracing::info!(
                reason = failure.error.reason(),
                retry = retries + 1,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "LLM completion failed; retrying"
            );
            tokio::time::sleep(delay).await;
            retries += 1;
        }
    }

    /// Opens a streamed completion, retrying like [`Inner::complete`] until the first byte of
    /// the answer: once text has reached the caller a retry would repeat it, so errors after
    /// that end the stream.
    async fn open_stream(
        &self,
        request: CompletionRequest,
    ) -> Result<BoxStream<'static, Result<StreamChunk, LlmError>>, LlmError> {
        let mut wire = to_wire(&request);
        wire.stream = Some(true);
        // Without it OpenAI sends no usage on streams, and cost could only be estimated.
        wire.stream_options = Some(ChatCompletionStreamOptions {
            include_usage: Some(true),
            include_obfuscation: None,
        });
        let mut retries = 0u32;
        let upstream = loop {
            let failure = match self.client.chat().create_stream(wire.clone()).await {
                Ok(stream) => break stream,
                Err(error) => self.classify(error),
            };
            let Some(delay) = self
                .retry
                .next_delay(retries, &failure.error, failure.retry_after)
            else {
                tracing::warn!(reason = failure.error.reason(), retries, error = %failure.error, "LLM stream failed");
                return Err(failure.error);
            };
            tokio::time::sleep(delay).await;
            retries += 1;
        };
        let key = SecretString::from(self.api_key.expose_secret().to_string());
        let state = StreamState {
            upstream,
            request,
            retries,
            key,
            content: String::new(),
            model: String::new(),
            usage: None,
            calls: std::collections::BTreeMap::new(),
            finished: false,
        };
        Ok(futures::stream::unfold(state, |mut state| async move {
            if state.finished {
                return None;
            }
            loop {
                match state.upstream.next().await {
                    Some(Ok(chunk)) => {
                        if let Some(delta) = state.absorb(chunk) {
                            return Some((Ok(StreamChunk::Delta(delta)), state));
                        }
                    }
                    Some(Err(error)) => {
                        state.finished = true;
                        let error = stream_error(error, state.key.expose_secret());
                        return Some((Err(error), state));
                    }
                    None => {
                        state.finished = true;
                        let done = state.finish();
                        return Some((done.map(StreamChunk::Done), state));
                    }
                }
            }
        })
        .boxed())
    }

    fn classify(&self, error: OpenAIError) -> Failure {
        let key = self.api_key.expose_secret();
        match error {
            OpenAIError::Boxed(boxed) => match boxed.downcast::<HttpFailure>() {
                Ok(http) => Failure {
                    error: http.to_llm_error(key),
                    retry_after: http.retry_after,
                },
                Err(other) => Failure::plain(from_boxed(other, key)),
            },
            OpenAIError::Reqwest(e) => Failure::plain(from_reqwest(e, key)),
            // Not produced by our transport, but mapped the same way should that change.
            OpenAIError::ApiError(api) => {
                let body = serde_json::to_value(&api.api_error).unwrap_or_default();
                let http = HttpFailure {
                    status: api.status_code.as_u16(),
                    retry_after: None,
                    body: serde_json::json!({ "error": body }).to_string(),
                };
                Failure::plain(http.to_llm_error(key))
            }
            OpenAIError::JSONDeserialize(e, _) => {
                Failure::plain(LlmError::BadResponse(format!("not a chat completion: {e}")))
            }
            OpenAIError::InvalidArgument(message) => {
                Failure::plain(LlmError::BadResponse(scrub(&message, key)))
            }
            other => Failure::plain(LlmError::Unavailable(scrub(&other.to_string(), key))),
        }
    }
}

/// Our transport's own refusals: the guard's, or a body over the cap.
fn from_boxed(error: Box<dyn std::error::Error + Send + Sync>, key: &str) -> LlmError {
    let error = match error.downcast::<guard::Refusal>() {
        Ok(refusal) if refusal.is_retryable() => return LlmError::Unavailable(refusal.to_string()),
        Ok(refusal) => return LlmError::Refused(refusal.to_string()),
        Err(other) => other,
    };
    match error.downcast::<body::BodyError>() {
        Ok(too_large) => LlmError::BadResponse(too_large.to_string()),
        Err(other) => LlmError::Unavailable(scrub(&error_chain(other.as_ref()), key)),
    }
}

struct Failure {
    error: LlmError,
    retry_after: Option<Duration>,
}

impl Failure {
    fn plain(error: LlmError) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

fn to_wire(request: &CompletionRequest) -> CreateChatCompletionRequest {
    let messages = request
        .messages
        .iter()
        .map(|m| match m.role {
            ChatRole::System => ChatCompletionRequestMessage::System(m.content.clone().into()),
            ChatRole::User => ChatCompletionRequestMessage::User(m.content.clone().into()),
            ChatRole::Assistant if m.tool_calls.is_empty() => {
                ChatCompletionRequestMessage::Assistant(m.content.clone().into())
            }
            ChatRole::Assistant => {
                ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
                    content: (!m.content.is_empty()).then(|| {
                        ChatCompletionRequestAssistantMessageContent::Text(m.content.clone())
                    }),
                    tool_calls: Some(
                        m.tool_calls
                            .iter()
                            .map(|call| {
                                ChatCompletionMessageToolCalls::Function(
                                    ChatCompletionMessageToolCall {
                                        id: call.id.clone(),
                                        function: FunctionCall {
                                            name: call.name.clone(),
                                            arguments: call.arguments.clone(),
                                        },
                                    },
                                )
                            })
                            .collect(),
                    ),
                    ..Default::default()
                })
            }
            ChatRole::Tool => {
                ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
                    content: ChatCompletionRequestToolMessageContent::Text(m.content.clone()),
                    tool_call_id: m.tool_call_id.clone().unwrap_or_default(),
                })
            }
        })
        .collect();
    let tools: Vec<ChatCompletionTools> = request
        .tools
        .iter()
        .map(|tool| {
            ChatCompletionTools::Function(ChatCompletionTool {
                function: FunctionObject {
                    name: tool.name.clone(),
                    description: (!tool.description.is_empty()).then(|| tool.description.clone()),
                    parameters: Some(tool.parameters.clone()),
                    strict: None,
                },
            })
        })
        .collect();
    let offers_tools = !tools.is_empty();
    CreateChatCompletionRequest {
        model: request.model.clone(),
        messages,
        temperature: Some(request.temperature),
        // `max_tokens` is deprecated upstream and rejected by reasoning models.
        max_completion_tokens: (request.max_tokens > 0).then_some(request.max_tokens),
        tools: offers_tools.then_some(tools),
        tool_choice: offers_tools.then_some(ChatCompletionToolChoiceOption::Mode(
            match request.tool_choice {
                ToolChoice::Auto => ToolChoiceOptions::Auto,
                ToolChoice::None => ToolChoiceOptions::None,
            },
        )),
        ..Default::default()
    }
}

fn reply_from(
    response: CreateChatCompletionResponse,
    request: &CompletionRequest,
    retries: u32,
) -> Result<CompletionReply, LlmError> {
    let model = if response.model.trim().is_empty() {
        request.model.clone()
    } else {
        response.model
    };
    let choice = response
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| LlmError::BadResponse("the completion has no choices".into()))?;
    let message = choice.message;
    let tool_calls: Vec<ToolCall> = message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .filter_map(|call| match call {
            ChatCompletionMessageToolCalls::Function(f) => Some(ToolCall {
                id: f.id,
                name: f.function.name,
                arguments: f.function.arguments,
            }),
            // We never offer custom (free-text) tools.
            ChatCompletionMessageToolCalls::Custom(_) => None,
        })
        .collect();
    let content = message.content.filter(|c| !c.trim().is_empty());
    if !tool_calls.is_empty() {
        if request.tools.is_empty() {
            return Err(LlmError::BadResponse(
                "the model asked for tool calls, but none were offered".into(),
            ));
        }
    } else if content.is_none() && message.refusal.as_ref().is_none_or(|r| r.trim().is_empty()) {
        return Err(LlmError::BadResponse(format!(
            "the completion has no content (finish_reason: {})",
            choice
                .finish_reason
                .map_or_else(|| "none".to_string(), |r| format!("{r:?}"))
        )));
    }
    // A refusal is the model's answer to the customer, in words.
    let content = content
        .or_else(|| message.refusal.filter(|r| !r.trim().is_empty()))
        .unwrap_or_default();
    let (prompt_tokens, completion_tokens) = match response.usage {
        Some(usage) => (
            u64::from(usage.prompt_tokens),
            u64::from(usage.completion_tokens),
        ),
        // Some compatible servers omit usage; an estimate keeps cost accounting going.
        None => (
            estimate_request_tokens(request),
            estimate_tokens(&content)
                + tool_calls
                    .iter()
                    .map(|c| estimate_tokens(&c.name) + estimate_tokens(&c.arguments))
                    .sum::<u64>(),
        ),
    };
    Ok(CompletionReply {
        content,
        prompt_tokens,
        completion_tokens,
        retries,
        model,
        tool_calls,
    })
}

fn estimate_request_tokens(request: &CompletionRequest) -> u64 {
    let tools: u64 = request
        .tools
        .iter()
        .map(|t| estimate_tokens(&t.description) + estimate_tokens(&t.parameters.to_string()))
        .sum();
    request
        .messages
        .iter()
        .map(|m| estimate_tokens(&m.content))
        .sum::<u64>()
        + tools
}

/// What a streamed completion has delivered so far.
struct StreamState {
    upstream: async_openai::types::chat::ChatCompletionResponseStream,
    request: CompletionRequest,
    retries: u32,
    key: SecretString,
    content: String,
    model: String,
    usage: Option<(u64, u64)>,
    /// Tool calls arrive in pieces keyed by `index` (id and name first, then argument
    /// fragments); assembled here so a streamed turn can call tools like a plain one.
    calls: std::collections::BTreeMap<u32, ToolCall>,
    finished: bool,
}

impl StreamState {
    /// Takes one chunk; returns its text, if it carried any.
    fn absorb(&mut self, chunk: CreateChatCompletionStreamResponse) -> Option<String> {
        if self.model.is_empty() && !chunk.model.trim().is_empty() {
            self.model = chunk.model.clone();
        }
        if let Some(usage) = &chunk.usage {
            self.usage = Some((
                u64::from(usage.prompt_tokens),
                u64::from(usage.completion_tokens),
            ));
        }
        for piece in chunk
            .choices
            .iter()
            .filter(|c| c.index == 0)
            .flat_map(|c| c.delta.tool_calls.iter().flatten())
        {
            let call = self.calls.entry(piece.index).or_insert_with(|| ToolCall {
                id: String::new(),
                name: String::new(),
                arguments: String::new(),
            });
            if let Some(id) = piece.id.as_deref().filter(|id| !id.is_empty()) {
                call.id = id.to_string();
            }
            if let Some(function) = &piece.function {
                if let Some(name) = &function.name {
                    call.name.push_str(name);
                }
                if let Some(arguments) = &function.arguments {
                    call.arguments.push_str(arguments);
                }
            }
        }
        let text: String = chunk
            .choices
            .iter()
            .filter(|c| c.index == 0)
            .filter_map(|c| c.delta.content.as_deref())
            .collect();
        if text.is_empty() {
            return None;
        }
        self.content.push_str(&text);
        Some(text)
    }

    fn finish(&mut self) -> Result<CompletionReply, LlmError> {
        let tool_calls: Vec<ToolCall> = std::mem::take(&mut self.calls)
            .into_values()
            .filter(|c| !c.name.is_empty())
            .collect();
        if !tool_calls.is_empty() && self.request.tools.is_empty() {
            return Err(LlmError::BadResponse(
                "the model asked for tool calls, but none were offered".into(),
            ));
        }
        if tool_calls.is_empty() && self.content.trim().is_empty() {
            return Err(LlmError::BadResponse(
                "the streamed completion has no content".into(),
            ));
        }
        let (prompt_tokens, completion_tokens) = self.usage.unwrap_or_else(|| {
            (
                estimate_request_tokens(&self.request),
                estimate_tokens(&self.content)
                    + tool_calls
                        .iter()
                        .map(|c| estimate_tokens(&c.name) + estimate_tokens(&c.arguments))
                        .sum::<u64>(),
            )
        });
        Ok(CompletionReply {
            content: std::mem::take(&mut self.content),
            prompt_tokens,
            completion_tokens,
            retries: self.retries,
            model: if self.model.is_empty() {
                self.request.model.clone()
            } else {
                std::mem::take(&mut self.model)
            },
            tool_calls,
        })
    }
}

/// An error in the middle of a stream: the connection broke or a chunk was not JSON.
fn stream_error(error: OpenAIError, key: &str) -> LlmError {
    match error {
        OpenAIError::Reqwest(e) => from_reqwest(e, key),
        OpenAIError::JSONDeserialize(e, _) => {
            LlmError::BadResponse(format!("not a chat completion chunk: {e}"))
        }
        other => LlmError::Unavailable(scrub(&other.to_string(), key)),
    }
}

fn from_reqwest(error: reqwest::Error, key: &str) -> LlmError {
    if error.is_timeout() {
        return LlmError::Timeout;
    }
    // A body cut off at the cap: the same request would be cut off again.
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        if let Some(too_large) = cause.downcast_ref::<body::BodyError>() {
            return LlmError::BadResponse(too_large.to_string());
        }
        source = cause.source();
    }
    let is_builder = error.is_builder();
    let text = scrub(&error_chain(&error.without_url()), key);
    if is_builder {
        // Deterministic: the same request would fail the same way.
        LlmError::BadResponse(format!("could not build the request: {text}"))
    } else {
        LlmError::Unavailable(text)
    }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    outbound::error_chain(error)
}

const MAX_ERROR_TEXT_CHARS: usize = 300;

/// Error text fit for logs and operators: never the key, never a whole HTML error page.
fn scrub(text: &str, key: &str) -> String {
    let text = if key.len() >= 4 {
        text.replace(key, "[redacted]")
    } else {
        text.to_string()
    };
    let text = text.trim();
    match text.char_indices().nth(MAX_ERROR_TEXT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// A non-2xx answer, as our transport hands it to async-openai (and back to us).
#[derive(Debug)]
struct HttpFailure {
    status: u16,
    retry_after: Option<Duration>,
    body: String,
}

impl fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)
    }
}

impl std::error::Error for HttpFailure {}

impl HttpFailure {
    /// Reads at most `max_bytes` of the error body: enough for any provider's error JSON.
    async fn read(response: reqwest::Response, max_bytes: usize) -> Self {
        let status = response.status().as_u16();
        let retry_after = backoff::retry_after(response.headers());
        // The status alone still classifies the failure if the body cannot be read (or is
        // cut short and no longer parses).
        let head = body::read_head(response, max_bytes).await;
        let body = String::from_utf8_lossy(&head).into_owned();
        Self {
            status,
            retry_after,
            body,
        }
    }

    fn to_llm_error(&self, key: &str) -> LlmError {
        // Parsed loosely: compatible servers disagree on shapes (numeric codes, bare strings).
        let parsed: Option<serde_json::Value> = serde_json::from_str(&self.body).ok();
        let error = parsed.as_ref().map(|v| v.get("error").unwrap_or(v));
        let field = |name: &str| -> Option<String> {
            match error?.get(name)? {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Null => None,
                other => Some(other.to_string()),
            }
        };
        let code = field("code");
        let kind = field("type");
        let message = field("message")
            .or_else(|| error.and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| self.body.clone());
        let is = |want: &str| code.as_deref() == Some(want) || kind.as_deref() == Some(want);

        if self.status == 401 || is("invalid_api_key") {
            LlmError::InvalidApiKey
        } else if is("insufficient_quota") {
            LlmError::InsufficientQuota
        } else if self.status == 429 {
            LlmError::RateLimit
        } else if self.status == 408 {
            LlmError::Timeout
        } else if (300..400).contains(&self.status) {
            // Followed, a redirect would take the key and the prompt to a URL nobody checked.
            LlmError::BadResponse(format!("HTTP {}: redirects are not followed", self.status))
        } else {
            let text = scrub(&format!("HTTP {}: {}", self.status, message), key);
            if self.status == 409 || self.status >= 500 {
                LlmError::Unavailable(text)
            } else {
                LlmError::BadResponse(text)
            }
        }
    }
}

/// One HTTP call per attempt, no retries, non-2xx answers turned into [`HttpFailure`].
#[derive(Clone)]
struct StatusAwareTransport {
    http: reqwest::Client,
    limits: Limits,
}

impl tower::Service<HttpRequestFactory> for StatusAwareTransport {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = BoxFuture<'static, Result<reqwest::Response, OpenAIError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        let http = self.http.clone();
        let limits = self.limits;
        async move {
            let request = factory.build().await?;
            // Literal addresses never reach the guarded resolver; names are checked again
            // by it at connect time.
            if !limits.allow_private {
                if let Err(refusal) = guard::check(request.url().as_str(), false).await {
                    return Err(OpenAIError::Boxed(Box::new(refusal)));
                }
            }
            let response = http.execute(request).await?;
            if response.status().is_success() {
                if response
                    .content_length()
                    .is_some_and(|length| length > limits.max_response_bytes as u64)
                {
                    return Err(OpenAIError::Boxed(Box::new(body::BodyError::TooLarge(
                        limits.max_response_bytes,
                    ))));
                }
                Ok(body::capped_response(response, limits.max_response_bytes))
            } else {
                let failure = HttpFailure::read(response, limits.max_error_body_bytes).await;
                Err(OpenAIError::Boxed(Box::new(failure)))
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_state(tools: bool) -> StreamState {
        let mut request = CompletionRequest {
            model: "m".into(),
            temperature: 0.0,
            max_tokens: 10,
            messages: vec![crate::llm::ChatMessage::user("quanto dá 2+2?")],
            tools: Vec::new(),
            tool_choice: crate::llm::ToolChoice::Auto,
        };
        if tools {
            request.tools.push(crate::llm::ToolSpec {
                name: "calc".into(),
                description: String::new(),
                parameters: serde_json::json!({"type": "object"}),
            });
        }
        StreamState {
            upstream: futures::stream::empty().boxed(),
            request,
            retries: 0,
            key: SecretString::from("k".to_string()),
            content: String::new(),
            model: String::new(),
            usage: None,
            calls: std::collections::BTreeMap::new(),
            finished: false,
        }
    }

    fn chunk(delta: serde_json::Value) -> CreateChatCompletionStreamResponse {
        serde_json::from_value(serde_json::json!({
            "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": null}],
        }))
        .expect("a chunk")
    }

    #[test]
    fn streamed_tool_calls_are_assembled_from_their_fragments() {
        let mut state = stream_state(true);
        for delta in [
            serde_json::json!({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1",
                "type": "function", "function": {"name": "calc", "arguments": ""}}]}),
            serde_json::json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"expression\":"}}]}),
            serde_json::json!({"tool_calls": [{"index": 0, "function": {"arguments": " \"2+2\"}"}}]}),
            serde_json::json!({"tool_calls": [{"index": 1, "id": "call_2", "type": "function",
                "function": {"name": "calc", "arguments": "{}"}}]}),
        ] {
            assert_eq!(state.absorb(chunk(delta)), None, "no text to show");
        }
        let reply = state.finish().expect("a reply");
        assert_eq!(reply.content, "");
        assert_eq!(reply.tool_calls.len(), 2);
        assert_eq!(reply.tool_calls[0].id, "call_1");
        assert_eq!(reply.tool_calls[0].name, "calc");
        assert_eq!(reply.tool_calls[0].arguments, "{\"expression\": \"2+2\"}");
        assert_eq!(reply.tool_calls[1].id, "call_2");
    }

    #[test]
    fn streamed_tool_calls_nobody_offered_are_a_bad_response() {
        let mut state = stream_state(false);
        state.absorb(chunk(
            serde_json::json!({"tool_calls": [{"index": 0, "id": "x",
            "function": {"name": "calc", "arguments": "{}"}}]}),
        ));
        assert!(matches!(state.finish(), Err(LlmError::BadResponse(_))));
    }

    fn failure(status: u16, body: serde_json::Value) -> HttpFailure {
        HttpFailure {
            status,
            retry_after: None,
            body: body.to_string(),
        }
    }

    #[test]
    fn statuses_and_codes_map_to_errors() {
        let key = "sk-secret-key-123";
        let quota = serde_json::json!({"error": {"message": "You exceeded your current quota",
            "type": "insufficient_quota", "code": "insufficient_quota"}});
        assert_eq!(
            failure(429, quota).to_llm_error(key),
            LlmError::InsufficientQuota
        );
        let limited = serde_json::json!({"error": {"message": "Rate limit reached",
            "type": "requests", "code": "rate_limit_exceeded"}});
        assert_eq!(failure(429, limited).to_llm_error(key), LlmError::RateLimit);
        let bad_key = serde_json::json!({"error": {"message": "Incorrect API key provided",
            "type": "invalid_request_error", "code": "invalid_api_key"}});
        assert_eq!(
            failure(401, bad_key).to_llm_error(key),
            LlmError::InvalidApiKey
        );
        assert_eq!(
            failure(408, serde_json::json!({})).to_llm_error(key),
            LlmError::Timeout
        );
        assert!(matches!(
            failure(503, serde_json::json!({"error": {"message": "overloaded"}})).to_llm_error(key),
            LlmError::Unavailable(m) if m == "HTTP 503: overloaded"
        ));
        assert!(matches!(
            failure(400, serde_json::json!({"error": {"message": "context too long", "code": 400}}))
                .to_llm_error(key),
            LlmError::BadResponse(m) if m == "HTTP 400: context too long"
        ));
    }

    #[test]
    fn non_json_error_bodies_are_kept_short() {
        let page = HttpFailure {
            status: 502,
            retry_after: None,
            body: format!("<html>{}</html>", "x".repeat(5000)),
        };
        let LlmError::Unavailable(text) = page.to_llm_error("sk-whatever") else {
            panic!("502 is unavailable");
        };
        assert!(text.starts_with("HTTP 502: <html>"));
        assert!(text.chars().count() <= MAX_ERROR_TEXT_CHARS + 1);
    }

    #[test]
    fn the_key_is_scrubbed_from_echoed_messages() {
        let key = "sk-live-abcdefghijklmnop";
        let echo = serde_json::json!({"error": {"message": format!("bad model for key {key}")}});
        let error = failure(404, echo).to_llm_error(key);
        let text = error.to_string();
        assert!(!text.contains(key), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_a_cap() {
        let policy = RetryPolicy {
            max_retries: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = policy.backoff(0);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.backoff(2);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = policy.backoff(30);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_secs(1));
        }
    }

    #[test]
    fn retry_decisions() {
        let policy = RetryPolicy {
            max_retries: 2,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(5),
        };
        assert!(policy.next_delay(0, &LlmError::RateLimit, None).is_some());
        assert!(policy.next_delay(0, &LlmError::Timeout, None).is_some());
        assert!(policy
            .next_delay(1, &LlmError::Unavailable("503".into()), None)
            .is_some());
        assert_eq!(
            policy.next_delay(2, &LlmError::RateLimit, None),
            None,
            "budget spent"
        );
        assert_eq!(policy.next_delay(0, &LlmError::InvalidApiKey, None), None);
        assert_eq!(
            policy.next_delay(0, &LlmError::InsufficientQuota, None),
            None
        );
        assert_eq!(
            policy.next_delay(0, &LlmError::BadResponse("x".into()), None),
            None
        );
        assert_eq!(
            policy.next_delay(0, &LlmError::RateLimit, Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3)),
            "the server's wait wins over our backoff"
        );
        assert_eq!(
            policy.next_delay(0, &LlmError::RateLimit, Some(Duration::from_secs(60))),
            None,
            "a wait beyond max_backoff is not spent holding the turn"
        );
        assert_eq!(
            RetryPolicy::no_retries().next_delay(0, &LlmError::Timeout, None),
            None
        );
    }

    #[test]
    fn constructor_rejects_bad_urls_and_unusable_keys() {
        let timeout = Duration::from_secs(1);
        let retry = RetryPolicy::default();
        let limits = Limits {
            allow_private: true,
            max_response_bytes: 1024,
            max_error_body_bytes: 1024,
        };
        for bad in [
            "not a url",
            "ftp://example.com/v1",
            "http://127.0.0.1:9/anything?q=",
            "https://user:pw@example.com/v1",
            "https://example.com/v1#x",
        ] {
            assert!(
                matches!(
                    OpenAiProvider::new(bad, "k", timeout, retry, limits),
                    Err(LlmError::Refused(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            OpenAiProvider::new("http://127.0.0.1:1/v1", "bad\nkey", timeout, retry, limits),
            Err(LlmError::InvalidApiKey)
        ));
        let provider = OpenAiProvider::new(
            "http://127.0.0.1:1/v1/",
            "sk-abcdef",
            timeout,
            retry,
            limits,
        )
        .expect("valid");
        let debug = format!("{provider:?}");
        assert!(!debug.contains("sk-abcdef"), "{debug}");
        assert!(
            debug.contains("http://127.0.0.1:1/v1\""),
            "trailing slash trimmed: {debug}"
        );
    }

    #[test]
    fn wire_request_carries_roles_and_limits() {
        let request = CompletionRequest {
            model: "gpt-4o-mini".into(),
            temperature: 0.2,
            max_tokens: 300,
            messages: vec![
                crate::llm::ChatMessage::system("be nice"),
                crate::llm::ChatMessage::user("oi"),
                crate::llm::ChatMessage::assistant("olá"),
            ],
            tools: Vec::new(),
            tool_choice: ToolChoice::Auto,
        };
        let json = serde_json::to_value(to_wire(&request)).expect("serialize");
        assert_eq!(json["model"], "gpt-4o-mini");
        assert_eq!(json["max_completion_tokens"], 300);
        assert!((json["temperature"].as_f64().expect("temperature") - 0.2).abs() < 1e-6);
        let roles: Vec<&str> = json["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["role"].as_str().expect("role"))
            .collect();
        assert_eq!(roles, ["system", "user", "assistant"]);
        assert_eq!(json["messages"][1]["content"], "oi");
        assert!(json.get("stream").is_none() || json["stream"].is_null());
        assert!(json.get("tools").is_none() || json["tools"].is_null());
        assert!(json.get("tool_choice").is_none() || json["tool_choice"].is_null());
    }

    #[test]
    fn wire_request_offers_tools_and_replays_calls_and_results() {
        let call = ToolCall {
            id: "call_7".into(),
            name: "add_tag".into(),
            arguments: r#"{"tag":"vip"}"#.into(),
        };
        let request = CompletionRequest {
            model: "gpt-4o".into(),
            temperature: 0.0,
            max_tokens: 0,
            messages: vec![
                crate::llm::ChatMessage::user("marca como vip"),
                crate::llm::ChatMessage::assistant_tool_calls("", vec![call]),
                crate::llm::ChatMessage::tool_result("call_7", r#"{"ok":true}"#),
            ],
            tools: vec![crate::llm::ToolSpec {
                name: "add_tag".into(),
                description: "Tags the conversation".into(),
                parameters: serde_json::json!({"type": "object", "properties": {"tag": {"type": "string"}}}),
            }],
            tool_choice: ToolChoice::Auto,
        };
        let json = serde_json::to_value(to_wire(&request)).expect("serialize");
        assert_eq!(json["tools"][0]["type"], "function");
        assert_eq!(json["tools"][0]["function"]["name"], "add_tag");
        assert_eq!(json["tool_choice"], "auto");
        assert!(
            json.get("max_completion_tokens").is_none() || json["max_completion_tokens"].is_null()
        );
        let assistant = &json["messages"][1];
        assert_eq!(assistant["tool_calls"][0]["id"], "call_7");
        assert_eq!(
            assistant["tool_calls"][0]["function"]["arguments"],
            r#"{"tag":"vip"}"#
        );
        assert!(assistant.get("content").is_none() || assistant["content"].is_null());
        assert_eq!(json["messages"][2]["role"], "tool");
        assert_eq!(json["messages"][2]["tool_call_id"], "call_7");
    }
}
