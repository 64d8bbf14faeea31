//! Live streams outside any conversation (`POST /agents/{id}/chat/stream`): the supervisor
//! admits the request through the same gate as a turn — a conversation slot while it runs,
//! the request rates, and a cost reservation per model call — and hands out a ticket whose
//! run is the conversation turn's own pipeline (`turn::run_plan`): sub-agent routing, the
//! tool loop with the agent's tools, and the turn log. Only the customer-facing parts of a
//! conversation (memories, contact, effects on owner and status) are absent.

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use futures::future::BoxFuture;
use futures::FutureExt;

use super::turn::{passage_text, run_plan, SupervisorBudget, TurnInput, TurnPlan, TurnRun};
use super::AgentSupervisor;
use crate::domain::agent::ProviderKind;
use crate::domain::limits::{self, Ask, LimitHit};
use crate::llm::prompt::HistoryItem;
use crate::llm::retrieval::{self, Hit};
use crate::llm::ChatMessage;
use crate::store::{sub_agents as sub_agents_store, tools as tools_store};
use crate::tools::runner::{AnswerSink, LoopError, LoopOutcome};
use crate::tools::{ToolContext, Toolbox};

/// Opens a chat stream outside any conversation: the agent's chat endpoint
/// (`POST /agents/{id}/chat/stream`).
#[derive(Message)]
#[rtype(result = "Result<StreamTicket, StreamRefused>")]
pub struct OpenStream {
    /// The conversation so far, user and assistant turns, ending with the user's question.
    pub messages: Vec<ChatMessage>,
    /// Extra facts for the system message (from the request's `context_data`).
    pub context: Vec<String>,
    /// Receives the answer's text, the tool calls and their results, and the sub-agent
    /// hand-off, as they happen.
    pub events: Arc<dyn AnswerSink>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StreamRefused {
    #[error("the agent is at its limit: {0}")]
    Limited(LimitHit),
    #[error("the agent's tools could not be loaded: {0}")]
    Unavailable(String),
}

pub struct StreamTicket {
    /// Knowledge passages the answer draws on, to cite as `source` events.
    pub sources: Vec<Hit>,
    pub price_flagged: bool,
    /// Runs the turn to its end and writes its log; the client leaving does not stop it,
    /// since the provider bills the tokens anyway and each call's cost must be settled.
    pub run: BoxFuture<'static, StreamEnd>,
}

/// How a streamed turn ended.
pub struct StreamEnd {
    pub outcome: LoopOutcome,
    pub error: Option<LoopError>,
    pub sub_agent_id: Option<String>,
}

/// The stream's conversation slot, freed however the run ends (or if it never runs).
struct StreamSlot {
    addr: Addr<AgentSupervisor>,
    id: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.addr
            .do_send(ReleaseStream(std::mem::take(&mut self.id)));
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct ReleaseStream(String);

impl Handler<ReleaseStream> for AgentSupervisor {
    type Result = ();

    fn handle(&mut self, msg: ReleaseStream, _: &mut Self::Context) {
        self.gate.release(&msg.0);
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct FinishStream {
    run: TurnRun,
    latency_ms: u64,
}

impl Handler<OpenStream> for AgentSupervisor {
    type Result = ResponseActFuture<Self, Result<StreamTicket, StreamRefused>>;

    fn handle(&mut self, msg: OpenStream, ctx: &mut Self::Context) -> Self::Result {
        let slot = format!("stream:{}", uuid::Uuid::now_v7());
        if let Err(hit) = self.admit_stream(&slot, &msg) {
            return Box::pin(actix::fut::ready(Err(StreamRefused::Limited(hit))));
        }
        let me = ctx.address();
        let slot = StreamSlot {
            addr: me.clone(),
            id: slot,
        };
        let question = msg
            .messages
            .iter()
            .rev()
            .find(|m| m.role == crate::llm::ChatRole::User)
            .map(|m| m.content.clone())
            .unwrap_or_default();
        let uses_llm = self.config.provider_kind == ProviderKind::Openai;
        let (limit, min_score) = if uses_llm {
            (
                self.tools.knowledge().settings().prompt_passages,
                self.tools.knowledge().settings().prompt_min_relevance,
            )
        } else {
            // The retrieval provider answers with its single best passage: cite that one.
            (1, retrieval::MIN_SCORE)
        };
        let (index, agent) = (self.tools.knowledge().clone(), self.config.id.clone());
        let tenant = self.config.tenant_id.clone();
        let store = self.store.clone();
        Box::pin(
            async move {
                let sources =
                    retrieval::search(&index, &tenant, Some(&agent), &question, limit, min_score)
                        .await
                        .unwrap_or_default();
                // Read at every stream, never cached: a tool or sub-agent changed a moment
                // ago is used at once, as in conversations.
                let loaded = if uses_llm {
                    store
                        .run(move |conn| {
                            Ok((
                                sub_agents_store::active(conn, &tenant, &agent)?,
                                tools_store::for_agent(conn, &tenant, &agent)?,
                            ))
                        })
                        .await
                } else {
                    Ok((Vec::new(), Vec::new()))
                };
                (sources, loaded)
            }
            .into_actor(self)
            .map(move |(sources, loaded), act, _| {
                let (sub_agents, tools) =
                    loaded.map_err(|e| StreamRefused::Unavailable(e.to_string()))?;
                let (history, pending) = split_chat(msg.messages);
                let text = pending.join("\n");
                let (sub_agent, classify_among) = act.route(&sub_agents, &text);
                let knowledge: Vec<String> = if uses_llm {
                    sources.iter().map(passage_text).collect()
                } else {
                    Vec::new()
                };
                let plan = TurnPlan {
                    provider: act.provider.clone(),
                    budget: Arc::new(SupervisorBudget(me.clone())),
                    config: act.config.clone(),
                    settings: act.settings.clone(),
                    toolbox: Toolbox::from_rows(tools, act.tools.clone()),
                    tool_context: ToolContext {
                        tenant: act.config.tenant_id.clone(),
                        agent: act.config.id.clone(),
                        conversation: None,
                        contact: None,
                    },
                    input: TurnInput {
                        contact_name: None,
                        history,
                        pending,
                        condense_over_chars: act.settings.engine.condense_over_chars,
                        tool_results: Vec::new(),
                    },
                    context: msg.context,
                    knowledge,
                    memories: Vec::new(),
                    sub_agent,
                    classify_among,
                    failures_before: 0,
                    live: Some(msg.events),
                };
                let started = Instant::now();
                let run = async move {
                    let _slot = slot;
                    let run = run_plan(plan).await;
                    let end = StreamEnd {
                        outcome: run.outcome.clone(),
                        error: run.error.clone(),
                        sub_agent_id: run.sub_agent_id.clone(),
                    };
                    let latency_ms =
                        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    me.do_send(FinishStream { run, latency_ms });
                    end
                }
                .boxed();
                Ok(StreamTicket {
                    sources,
                    price_flagged: act.price_flagged,
                    run,
                })
            }),
        )
    }
}

impl AgentSupervisor {
    /// The stream's admission, in the order a conversation passes it: a slot
    /// (`max_conversations`), the request rates, then the budgets — checked here with the
    /// first call's estimate so a spent budget is refused before any event is sent; each
    /// model call then reserves its own cost in the tool loop.
    fn admit_stream(&mut self, slot: &str, msg: &OpenStream) -> Result<(), LimitHit> {
        self.gate.hold(slot)?;
        // Unlike a conversation, a stream may talk to a draft, inactive or disabled agent
        // (the wizard's test chat); who may do so is the API's rule.
        let admitted = self.gate.admit(Ask::Trial).and_then(|()| {
            let chars = self.config.system_prompt.chars().count()
                + msg
                    .messages
                    .iter()
                    .map(|m| m.content.chars().count())
                    .sum::<usize>()
                + msg.context.iter().map(|c| c.chars().count()).sum::<usize>();
            let estimate = limits::estimate_cost(
                chars,
                self.config.max_tokens,
                self.price.prompt,
                self.price.completion,
            );
            let reservation = self
                .gate
                .reserve(estimate, chrono::Utc::now().date_naive())?;
            self.gate.cancel(reservation);
            Ok(())
        });
        if admitted.is_err() {
            self.gate.release(slot);
        }
        admitted
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
        let TurnRun {
            outcome,
            error,
            sub_agent_id,
            model,
        } = msg.run;
        let record = self.run_record(
            None,
            &outcome,
            error.as_ref(),
            sub_agent_id,
            model,
            msg.latency_ms,
        );
        self.finish_with_record(record, ())
    }
}
