//! Side calls: one small completion on the agent's own provider that is not a chat turn —
//! memory extraction, conversation classification and the WebSocket `request_summary`. They pass the same limits as a turn
//! (a request from the rate windows, a cost reservation settled with the reported usage) and
//! are written to the turn log under their own status, so every token the agent spends is
//! accounted for. Agents without an LLM (`retrieval`) refuse them; callers then use rules.

use std::time::Instant;

use actix::prelude::*;

use super::{AgentSupervisor, TurnFailure};
use crate::domain::agent::{ProviderKind, TurnStatus};
use crate::domain::limits::{self, Ask};
use crate::domain::ConversationId;
use crate::llm::{ChatMessage, CompletionRequest, ToolChoice};

/// Asks the agent's model for a short structured answer; the text of the answer.
#[derive(Message)]
#[rtype(result = "Result<String, TurnFailure>")]
pub struct SideCall {
    pub conversation_id: ConversationId,
    /// Turn-log status of the call: `Memory`, `Classification` or `Summary`.
    pub purpose: TurnStatus,
    pub messages: Vec<ChatMessage>,
    /// Capped by the agent's own `max_tokens`.
    pub max_tokens: u32,
}

impl Handler<SideCall> for AgentSupervisor {
    type Result = ResponseActFuture<Self, Result<String, TurnFailure>>;

    fn handle(&mut self, msg: SideCall, _: &mut Self::Context) -> Self::Result {
        if self.config.provider_kind != ProviderKind::Openai {
            return Box::pin(actix::fut::ready(Err(TurnFailure::Unavailable(
                "the agent has no LLM".into(),
            ))));
        }
        if let Err(hit) = self.gate.admit(Ask::Request) {
            return Box::pin(actix::fut::ready(Err(TurnFailure::Limited(hit))));
        }
        let max_tokens = msg.max_tokens.min(self.config.max_tokens).max(1);
        let request = CompletionRequest {
            model: self.config.model.clone(),
            // Extraction, classification and summaries want the most likely reading, not
            // variety.
            temperature: 0.0,
            max_tokens,
            messages: msg.messages,
            tools: Vec::new(),
            tool_choice: ToolChoice::Auto,
        };
        let chars: usize = request
            .messages
            .iter()
            .map(|m| m.content.chars().count())
            .sum();
        let estimate =
            limits::estimate_cost(chars, max_tokens, self.price.prompt, self.price.completion);
        let reservation = match self.gate.reserve(estimate, chrono::Utc::now().date_naive()) {
            Ok(reservation) => reservation,
            Err(hit) => return Box::pin(actix::fut::ready(Err(TurnFailure::Limited(hit)))),
        };
        let provider = self.provider.clone();
        let started = Instant::now();
        let conversation = msg.conversation_id;
        let purpose = msg.purpose;
        Box::pin(
            async move { provider.complete(request).await }
                .into_actor(self)
                .then(move |result, act, _| {
                    let today = chrono::Utc::now().date_naive();
                    let latency_ms =
                        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    let mut record = act.turn_record(conversation, purpose, None, latency_ms);
                    let outcome = match result {
                        Ok(reply) => {
                            let cost = limits::actual_cost(
                                reply.prompt_tokens,
                                reply.completion_tokens,
                                act.price.prompt,
                                act.price.completion,
                            );
                            act.gate.settle(reservation, cost, today);
                            record.model = reply.model.clone();
                            record.prompt_tokens =
                                i64::try_from(reply.prompt_tokens).unwrap_or(i64::MAX);
                            record.completion_tokens =
                                i64::try_from(reply.completion_tokens).unwrap_or(i64::MAX);
                            record.retries = i32::try_from(reply.retries).unwrap_or(i32::MAX);
                            record.cost_usd = cost;
                            Ok(reply.content)
                        }
                        Err(e) => {
                            act.gate.cancel(reservation);
                            // The status stays the purpose: a failed side call is not a
                            // failed chat turn in analytics.
                            record.error_reason = Some(e.reason().to_string());
                            Err(TurnFailure::Provider(e))
                        }
                    };
                    act.finish_with_record(record, outcome)
                }),
        )
    }
}
