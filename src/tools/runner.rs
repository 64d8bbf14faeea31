//! The tool loop (seed 004): ask the model; when it asks for tool calls, run them, hand the
//! results back and ask again — up to the agent's `max_tool_iterations` rounds, after which it
//! must answer in words. Every model call reserves its cost before it runs and settles it
//! after, so a long loop cannot overspend a budget that only covered its first call.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{CallRecord, Effect, ToolContext, Toolbox};
use crate::config::Price;
use crate::domain::limits::{self, LimitHit, Reservation};
use crate::llm::{ChatMessage, CompletionRequest, LlmError, Provider, ToolChoice};

/// Where the loop reserves and settles the cost of each model call (the agent's supervisor).
pub trait CallBudget: Send + Sync {
    fn reserve(&self, estimate_usd: f64) -> BoxFuture<'static, Result<Reservation, LimitHit>>;
    fn settle(&self, reservation: Reservation, actual_usd: f64);
    fn cancel(&self, reservation: Reservation);
}

/// Receives each piece of the model's text as it is written (live answers over WebSocket).
/// A new model request starts a new stream: `begin` is called before its first piece.
pub trait AnswerSink: Send + Sync {
    fn begin(&self);
    fn delta(&self, text: &str);
    /// "ok" (this was the answer), "tool_calls" (the model went on to call tools) or
    /// "failed" (discard what was shown).
    fn end(&self, status: &'static str);
    /// The model asked for this call; it runs next. Only the chat stream shows calls.
    fn tool_call(&self, _call: &crate::llm::ToolCall) {}
    /// What a call returned (its log record, the same the turn log keeps).
    fn tool_result(&self, _record: &CallRecord) {}
    /// The turn went to a sub-agent (`id`, `name`) before the first model call.
    fn handoff(&self, _id: &str, _name: &str, _by: crate::domain::routing::RoutedBy) {}
}

#[derive(Clone)]
pub struct LoopSettings {
    /// Rounds in which the model may call tools; then it must answer.
    pub max_iterations: u32,
    /// Consecutive failed calls (counting earlier turns' `failures_before`) that end the turn
    /// so the conversation can go to a human; 0 never ends it.
    pub failure_limit: u32,
    pub failures_before: u32,
    pub price: Price,
    pub max_tokens: u32,
    /// With a sink the model is asked to stream and its text is passed on as it comes.
    pub live: Option<Arc<dyn AnswerSink>>,
}

/// What the loop did, also when it ended in an error (the tokens were spent anyway).
#[derive(Debug, Clone, Default)]
pub struct LoopOutcome {
    pub content: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    pub retries: u32,
    /// The model that answered last, as the provider reported it.
    pub model: Option<String>,
    pub calls: Vec<CallRecord>,
    pub effects: Vec<Effect>,
    pub consecutive_failures: u32,
    /// The loop ended because tool calls kept failing; `content` is empty.
    pub stopped_for_failures: bool,
    /// Model calls made.
    pub requests: u32,
}

#[derive(Debug, Clone)]
pub enum LoopError {
    Provider(LlmError),
    Limited(LimitHit),
}

fn prompt_chars(request: &CompletionRequest) -> usize {
    let messages: usize = request
        .messages
        .iter()
        .map(|m| {
            m.content.chars().count()
                + m.tool_calls
                    .iter()
                    .map(|c| c.name.len() + c.arguments.chars().count())
                    .sum::<usize>()
        })
        .sum();
    let tools: usize = request
        .tools
        .iter()
        .map(|t| t.name.len() + t.description.chars().count() + t.parameters.to_string().len())
        .sum();
    messages + tools
}

/// One model request as a stream: text goes to `sink` as it arrives; the reply is the same
/// as `complete` would give.
async fn streamed(
    provider: &dyn Provider,
    request: CompletionRequest,
    sink: &dyn AnswerSink,
) -> Result<crate::llm::CompletionReply, LlmError> {
    use futures::StreamExt;
    sink.begin();
    let mut chunks = provider.stream(request);
    while let Some(chunk) = chunks.next().await {
        match chunk {
            Ok(crate::llm::StreamChunk::Delta(text)) => {
                if !text.is_empty() {
                    sink.delta(&text);
                }
            }
            Ok(crate::llm::StreamChunk::Done(reply)) => {
                sink.end(if reply.tool_calls.is_empty() {
                    "ok"
                } else {
                    "tool_calls"
                });
                return Ok(reply);
            }
            Err(error) => {
                sink.end("failed");
                return Err(error);
            }
        }
    }
    sink.end("failed");
    Err(LlmError::BadResponse(
        "the answer stream ended early".into(),
    ))
}

/// Runs the loop for `request` (whose `tools` it fills from `toolbox`).
pub async fn run(
    provider: Arc<dyn Provider>,
    mut request: CompletionRequest,
    toolbox: Toolbox,
    cx: ToolContext,
    settings: LoopSettings,
    budget: Arc<dyn CallBudget>,
) -> (LoopOutcome, Option<LoopError>) {
    let mut out = LoopOutcome {
        consecutive_failures: settings.failures_before,
        ..Default::default()
    };
    let specs = toolbox.specs();
    request.tools = specs.clone();
    let mut iteration = 0u32;
    loop {
        let may_call = !specs.is_empty() && iteration < settings.max_iterations;
        request.tool_choice = if may_call {
            ToolChoice::Auto
        } else {
            ToolChoice::None
        };
        if specs.is_empty() || (iteration == 0 && !may_call) {
            // No tools to offer at all: send none, so servers without function calling work.
            request.tools = Vec::new();
        }
        let estimate = limits::estimate_cost(
            prompt_chars(&request),
            settings.max_tokens,
            settings.price.prompt,
            settings.price.completion,
        );
        let reservation = match budget.reserve(estimate).await {
            Ok(reservation) => reservation,
            Err(hit) => return (out, Some(LoopError::Limited(hit))),
        };
        out.requests += 1;
        let answer = match &settings.live {
            Some(sink) => streamed(provider.as_ref(), request.clone(), sink.as_ref()).await,
            None => provider.complete(request.clone()).await,
        };
        let reply = match answer {
            Ok(reply) => reply,
            Err(error) => {
                budget.cancel(reservation);
                return (out, Some(LoopError::Provider(error)));
            }
        };
        let cost = limits::actual_cost(
            reply.prompt_tokens,
            reply.completion_tokens,
            settings.price.prompt,
            settings.price.completion,
        );
        budget.settle(reservation, cost);
        out.prompt_tokens += reply.prompt_tokens;
        out.completion_tokens += reply.completion_tokens;
        out.cost_usd += cost;
        out.retries += reply.retries;
        out.model = Some(reply.model.clone());

        if reply.tool_calls.is_empty() {
            out.content = reply.content;
            return (out, None);
        }
        if !may_call {
            // Asked to answer in words and asked for tools anyway: use any words it gave.
            if reply.content.trim().is_empty() {
                return (
                    out,
                    Some(LoopError::Provider(LlmError::BadResponse(
                        "the model kept asking for tools after its last allowed round".into(),
                    ))),
                );
            }
            out.content = reply.content;
            return (out, None);
        }

        request.messages.push(ChatMessage::assistant_tool_calls(
            reply.content.clone(),
            reply.tool_calls.clone(),
        ));
        let mut farewell: Option<String> = None;
        let mut finished = false;
        for call in &reply.tool_calls {
            if let Some(sink) = &settings.live {
                sink.tool_call(call);
            }
            let (outcome, record, for_model) = toolbox.call(call, &cx).await;
            if let Some(sink) = &settings.live {
                sink.tool_result(&record);
            }
            out.calls.push(record);
            if outcome.result.is_ok() {
                out.consecutive_failures = 0;
            } else {
                out.consecutive_failures += 1;
            }
            request
                .messages
                .push(ChatMessage::tool_result(call.id.clone(), for_model));
            if !outcome.effects.is_empty() {
                // The conversation is leaving the AI (closed, transferred): asking the model
                // again would only spend tokens on an answer nobody reads.
                finished = true;
                out.effects.extend(outcome.effects);
                farewell = farewell.or(outcome.say);
            }
            if settings.failure_limit > 0 && out.consecutive_failures >= settings.failure_limit {
                out.stopped_for_failures = true;
                out.content = String::new();
                return (out, None);
            }
        }
        if finished {
            out.content = farewell.unwrap_or(reply.content);
            return (out, None);
        }
        iteration += 1;
    }
}
