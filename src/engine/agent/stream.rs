//! Live streams outside any conversation (`POST /agents/{id}/chat/stream`): the supervisor
//! admits the request through the same gate as a turn, builds the prompt with knowledge
//! passages and hands out a ticket; the ticket's guard settles the reserved cost when the
//! stream ends, however it ends (answered, failed, or the client left).

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;

use super::turn::passage_text;
use super::AgentSupervisor;
use crate::config::Price;
use crate::domain::agent::{ProviderKind, TurnStatus};
use crate::domain::escalation::ProviderFault;
use crate::domain::limits::{self, Ask, LimitHit, Reservation};
use crate::llm::prompt::{self, HistoryItem, PromptInput};
use crate::llm::retrieval::{self, Hit};
use crate::llm::{ChatMessage, CompletionRequest, LlmError, Provider, ToolChoice};

/// Opens a streamed answer outside any conversation: the agent's chat endpoint
/// (`POST /agents/{id}/chat/stream`). It passes the same limits as a conversation turn — the
/// request is counted and its cost reserved here — and the [`StreamGuard`] in the ticket
/// settles the cost when the stream ends, however it ends.
#[derive(Message)]
#[rtype(result = "Result<StreamTicket, LimitHit>")]
pub struct OpenStream {
    /// The conversation so far, user and assistant turns, ending with the user's question.
    pub messages: Vec<ChatMessage>,
    /// Extra facts for the system message (from the request's `context_data`).
    pub context: Vec<String>,
}

pub struct StreamTicket {
    pub provider: Arc<dyn Provider>,
    pub request: CompletionRequest,
    /// Knowledge passages the answer draws on, to cite as `source` events.
    pub sources: Vec<Hit>,
    pub price_flagged: bool,
    pub guard: StreamGuard,
}

/// Settles a streamed answer's reservation exactly once: by [`StreamGuard::finish`], or when
/// dropped (the client went away mid-stream), at the reserved estimate, since the provider
/// may have billed the tokens anyway.
pub struct StreamGuard {
    addr: Addr<AgentSupervisor>,
    reservation: Option<Reservation>,
    estimate: f64,
    price: Price,
    model: String,
    started: Instant,
}

impl StreamGuard {
    /// Settles with the provider's usage (or cancels after an error); returns the cost.
    pub fn finish(mut self, result: Result<&crate::llm::CompletionReply, &LlmError>) -> f64 {
        let Some(reservation) = self.reservation.take() else {
            return 0.0;
        };
        let (outcome, cost) = match result {
            Ok(reply) => {
                let cost = limits::actual_cost(
                    reply.prompt_tokens,
                    reply.completion_tokens,
                    self.price.prompt,
                    self.price.completion,
                );
                (
                    StreamOutcome::Answered {
                        prompt_tokens: reply.prompt_tokens,
                        completion_tokens: reply.completion_tokens,
                        retries: reply.retries,
                        model: reply.model.clone(),
                        cost,
                    },
                    cost,
                )
            }
            Err(e) => (StreamOutcome::Failed(e.fault()), 0.0),
        };
        self.send(reservation, outcome);
        cost
    }

    fn send(&self, reservation: Reservation, outcome: StreamOutcome) {
        self.addr.do_send(FinishStream {
            reservation,
            outcome,
            model: self.model.clone(),
            latency_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if let Some(reservation) = self.reservation.take() {
            let estimate = self.estimate;
            self.send(reservation, StreamOutcome::Abandoned { estimate });
        }
    }
}

enum StreamOutcome {
    Answered {
        prompt_tokens: u64,
        completion_tokens: u64,
        retries: u32,
        model: String,
        cost: f64,
    },
    Failed(ProviderFault),
    Abandoned {
        estimate: f64,
    },
}

#[derive(Message)]
#[rtype(result = "()")]
struct FinishStream {
    reservation: Reservation,
    outcome: StreamOutcome,
    model: String,
    latency_ms: u64,
}

impl Handler<OpenStream> for AgentSupervisor {
    type Result = ResponseActFuture<Self, Result<StreamTicket, LimitHit>>;

    fn handle(&mut self, msg: OpenStream, ctx: &mut Self::Context) -> Self::Result {
        // Unlike a conversation, a stream may talk to a draft, inactive or disabled agent
        // (the wizard's test chat); who may do so is the API's rule.
        if let Err(hit) = self.gate.admit(Ask::Trial) {
            return Box::pin(actix::fut::ready(Err(hit)));
        }
        let question = msg
            .messages
            .iter()
            .rev()
            .find(|m| m.role == crate::llm::ChatRole::User)
            .map(|m| m.content.clone())
            .unwrap_or_default();
        let (limit, min_score) = match self.config.provider_kind {
            ProviderKind::Openai => (
                self.tools.knowledge().settings().prompt_passages,
                self.tools.knowledge().settings().prompt_min_relevance,
            ),
            // The retrieval provider answers with its single best passage: cite that one.
            ProviderKind::Retrieval => (1, retrieval::MIN_SCORE),
        };
        let (index, agent) = (self.tools.knowledge().clone(), self.config.id.clone());
        let tenant = self.config.tenant_id.clone();
        let me = ctx.address();
        Box::pin(
            async move {
                retrieval::search(&index, &tenant, Some(&agent), &question, limit, min_score)
                    .await
                    .unwrap_or_default()
            }
            .into_actor(self)
            .map(move |sources, act, _| {
                let (history, pending) = split_chat(msg.messages);
                let knowledge: Vec<String> = match act.config.provider_kind {
                    ProviderKind::Openai => sources.iter().map(passage_text).collect(),
                    ProviderKind::Retrieval => Vec::new(),
                };
                let messages = prompt::build(&PromptInput {
                    system_prompt: &act.config.system_prompt,
                    agent_name: &act.config.name,
                    contact_name: None,
                    history: &history,
                    pending: &pending,
                    knowledge: &knowledge,
                    memories: &[],
                    condense_over_chars: act.settings.engine.condense_over_chars,
                    context: &msg.context,
                    tools: &[],
                    tool_results: &[],
                });
                let max_tokens = act.config.max_tokens;
                act.ticket(messages, max_tokens, sources, me)
            }),
        )
    }
}

impl AgentSupervisor {
    /// Reserves the cost of one request for `messages` and hands out what is needed to run
    /// it; the ticket's guard settles the reservation however the request ends.
    fn ticket(
        &mut self,
        messages: Vec<ChatMessage>,
        max_tokens: u32,
        sources: Vec<Hit>,
        me: Addr<AgentSupervisor>,
    ) -> Result<StreamTicket, LimitHit> {
        let chars: usize = messages.iter().map(|m| m.content.chars().count()).sum();
        let estimate =
            limits::estimate_cost(chars, max_tokens, self.price.prompt, self.price.completion);
        let reservation = self
            .gate
            .reserve(estimate, chrono::Utc::now().date_naive())?;
        Ok(StreamTicket {
            provider: self.provider.clone(),
            request: CompletionRequest {
                model: self.config.model.clone(),
                temperature: self.config.temperature,
                max_tokens,
                messages,
                tools: Vec::new(),
                tool_choice: ToolChoice::Auto,
            },
            sources,
            price_flagged: self.price_flagged,
            guard: StreamGuard {
                addr: me,
                reservation: Some(reservation),
                estimate,
                price: self.price,
                model: self.config.model.clone(),
                started: Instant::now(),
            },
        })
    }
}

/// Client chat messages as history plus the trailing user messages to answer.
fn split_chat(mut messages: Vec<ChatMessage>) -> (Vec<HistoryItem>, Vec<String>) {
    let mut pending = Vec::new();
    while messages
        .last()
        .is_some_and(|m| m.role == crate::llm::ChatRole::User)
    {
        if let Some(m) = messages.pop() {
            pending.push(m.content);
        }
    }
    pending.reverse();
    let history = messages
        .into_iter()
        .map(|m| HistoryItem {
            from_customer: m.role == crate::llm::ChatRole::User,
            content: m.content,
        })
        .collect();
    (history, pending)
}

impl Handler<FinishStream> for AgentSupervisor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: FinishStream, _: &mut Self::Context) -> Self::Result {
        let today = chrono::Utc::now().date_naive();
        let mut record = self.turn_record(None, TurnStatus::Ok, None, msg.latency_ms);
        record.model = msg.model;
        match msg.outcome {
            StreamOutcome::Answered {
                prompt_tokens,
                completion_tokens,
                retries,
                model,
                cost,
            } => {
                self.gate.settle(msg.reservation, cost, today);
                record.prompt_tokens = i64::try_from(prompt_tokens).unwrap_or(i64::MAX);
                record.completion_tokens = i64::try_from(completion_tokens).unwrap_or(i64::MAX);
                record.retries = i32::try_from(retries).unwrap_or(i32::MAX);
                record.cost_usd = cost;
                record.model = model;
            }
            StreamOutcome::Failed(fault) => {
                self.gate.cancel(msg.reservation);
                record.status = match fault {
                    ProviderFault::BadResponse => TurnStatus::NoAnswer,
                    _ => TurnStatus::Error,
                };
                record.error_reason = Some(fault.to_string());
            }
            StreamOutcome::Abandoned { estimate } => {
                self.gate.settle(msg.reservation, estimate, today);
                record.status = TurnStatus::Abandoned;
                record.cost_usd = estimate;
            }
        }
        self.finish_with_record(record, ())
    }
}
