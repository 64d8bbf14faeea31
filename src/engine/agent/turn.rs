//! The turn pipeline of an AI agent: load what the turn needs (contact, memories,
//! sub-agents, tools, automations, knowledge), let a matching automation answer, else pass
//! the gate, route to a sub-agent, build the prompt and run the tool loop with a cost
//! reservation per model call, then write the turn log and the usage counters.

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use futures::future::BoxFuture;
use futures::FutureExt;

use super::{AgentConfig, AgentSupervisor, TurnDone, TurnFailure};
use crate::config::{Price, Settings};
use crate::domain::agent::{ProviderKind, TurnStatus};
use crate::domain::automation::{self as automation_rules, Rule};
use crate::domain::limits::{self, Ask, LimitHit, Reservation};
use crate::domain::memory;
use crate::domain::routing::{self, Candidate, RoutedBy};
use crate::domain::{AgentId, ContactId, ConversationId, TenantId};
use crate::engine::automation;
use crate::engine::live_answer::LiveAnswer;
use crate::engine::writer::Fence;
use crate::llm::prompt::{self, HistoryItem, PromptInput};
use crate::llm::retrieval::{self, Hit};
use crate::llm::{classify, CompletionRequest, LlmError, Provider, ToolChoice};
use crate::store::automations::Automation;
use crate::store::crm::{self, ContactCard};
use crate::store::memories;
use crate::store::sub_agents::SubAgent;
use crate::store::tools::{AgentTool, Tool};
use crate::store::{
    automations as automations_store, sub_agents as sub_agents_store, tools as tools_store, turns,
    DbConn, StoreError, StoreResult,
};
use crate::tools::runner::{self, AnswerSink, CallBudget, LoopError, LoopOutcome, LoopSettings};
use crate::tools::{ToolContext, Toolbox};

/// Characters of one passage in a prompt.
const PASSAGE_CHARS: usize = 1500;

/// One AI turn for a conversation.
#[derive(Message)]
#[rtype(result = "Result<TurnDone, TurnFailure>")]
pub struct RunTurn {
    pub conversation_id: ConversationId,
    /// The conversation's tenant, contact and channel, as its actor knows them (the turn
    /// does not read the conversation again).
    pub tenant_id: TenantId,
    pub contact_id: ContactId,
    pub channel: String,
    pub contact_name: Option<String>,
    pub history: Vec<HistoryItem>,
    pub pending: Vec<String>,
    pub condense_over_chars: usize,
    /// What this conversation's earlier tool calls returned, one line each.
    pub tool_results: Vec<String>,
}

impl Handler<RunTurn> for AgentSupervisor {
    type Result = ResponseActFuture<Self, Result<TurnDone, TurnFailure>>;

    fn handle(&mut self, msg: RunTurn, ctx: &mut Self::Context) -> Self::Result {
        let started = Instant::now();
        let store = self.store.clone();
        let tenant = self.config.tenant_id.clone();
        let agent = self.config.id.clone();
        if msg.tenant_id != tenant {
            // Never another tenant's conversation: nothing of it may reach this agent.
            return Box::pin(actix::fut::ready(Err(TurnFailure::Unavailable(
                "the conversation is not this agent's tenant's".into(),
            ))));
        }
        let about = Conversation {
            contact_id: msg.contact_id.clone(),
            channel: msg.channel.clone(),
        };
        let uses_llm = self.config.provider_kind == ProviderKind::Openai;
        let (setup, setup_epoch) = (self.setup.clone(), self.setup_epoch);
        let memory_candidates = self.settings.memory.candidates;
        let question = msg.pending.join("\n");
        let (index, searcher) = (self.tools.knowledge().clone(), self.config.id.clone());
        let load = async move {
            let data = store
                .run({
                    let tenant = tenant.clone();
                    move |conn| {
                        load_turn(
                            conn,
                            &tenant,
                            &agent,
                            about,
                            setup,
                            uses_llm,
                            memory_candidates,
                        )
                    }
                })
                .await?;
            // The retrieval provider searches by itself; an LLM gets the best passages.
            let knowledge = if uses_llm {
                retrieval::prompt_passages(&index, &tenant, &searcher, &question).await
            } else {
                Vec::new()
            };
            Ok::<_, StoreError>((data, knowledge))
        };
        let me = ctx.address();
        Box::pin(load.into_actor(self).then(move |loaded, act, _| {
            // Kept unless the agent changed while it was read.
            if let (Ok((data, _)), true) = (&loaded, act.setup_epoch == setup_epoch) {
                act.setup = Some(data.setup.clone());
            }
            act.turn_with(msg, loaded, me, started)
        }))
    }
}

/// An agent's sub-agents, tools and automations: read by its first turn and kept by its
/// supervisor until the agent or one of them changes (`AgentChanged`, sent by the API on
/// every such write and relayed to the other nodes).
pub(super) struct AgentSetup {
    sub_agents: Vec<SubAgent>,
    tools: Vec<(AgentTool, Tool)>,
    automations: Vec<Automation>,
}

impl AgentSetup {
    fn load(
        conn: &mut crate::store::DbConn,
        tenant: &TenantId,
        agent: &AgentId,
        uses_llm: bool,
    ) -> Result<AgentSetup, StoreError> {
        let (sub_agents, tools) = if uses_llm {
            (
                sub_agents_store::active(conn, tenant, agent)?,
                tools_store::for_agent(conn, tenant, agent)?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(AgentSetup {
            sub_agents,
            tools,
            automations: automations_store::enabled_for(conn, tenant, agent)?,
        })
    }
}

/// What a turn needs from the store besides the messages.
struct TurnData {
    contact_id: ContactId,
    contact: Option<ContactCard>,
    channel: String,
    setup: Arc<AgentSetup>,
    /// What the agent remembers about the contact (most recent first), for the prompt.
    memories: Vec<crate::store::memories::Memory>,
}

/// Who the conversation a turn is for is with, and where.
struct Conversation {
    contact_id: ContactId,
    channel: String,
}

fn load_turn(
    conn: &mut crate::store::DbConn,
    tenant: &TenantId,
    agent: &AgentId,
    row: Conversation,
    setup: Option<Arc<AgentSetup>>,
    uses_llm: bool,
    memory_candidates: i64,
) -> Result<TurnData, StoreError> {
    let contact = crm::contact_card(conn, tenant, &row.contact_id).ok();
    // Read at every turn, never cached: a memory an operator erased is gone from the next
    // prompt.
    let memories = if uses_llm {
        crate::store::memories::for_prompt(conn, tenant, &row.contact_id, agent, memory_candidates)?
    } else {
        Vec::new()
    };
    let setup = match setup {
        Some(setup) => setup,
        None => Arc::new(AgentSetup::load(conn, tenant, agent, uses_llm)?),
    };
    Ok(TurnData {
        contact_id: row.contact_id,
        contact,
        channel: row.channel,
        setup,
        memories,
    })
}

/// Reserves and settles each model call of a turn at the supervisor, whose mailbox
/// serialises them with every other turn of the agent.
pub(super) struct SupervisorBudget(pub(super) Addr<AgentSupervisor>);

impl CallBudget for SupervisorBudget {
    fn reserve(&self, estimate_usd: f64) -> BoxFuture<'static, Result<Reservation, LimitHit>> {
        let addr = self.0.clone();
        async move {
            // The loop runs inside the supervisor, so its mailbox is open while it runs; a
            // closed one means it is stopping, and no new spend may start.
            addr.send(ReserveCall(estimate_usd))
                .await
                .unwrap_or(Err(LimitHit::MaxConversations))
        }
        .boxed()
    }

    fn settle(&self, reservation: Reservation, actual_usd: f64) {
        self.0.do_send(SettleCall(reservation, Some(actual_usd)));
    }

    fn cancel(&self, reservation: Reservation) {
        self.0.do_send(SettleCall(reservation, None));
    }
}

#[derive(Message)]
#[rtype(result = "Result<Reservation, LimitHit>")]
struct ReserveCall(f64);

impl Handler<ReserveCall> for AgentSupervisor {
    type Result = Result<Reservation, LimitHit>;

    fn handle(&mut self, msg: ReserveCall, _: &mut Self::Context) -> Self::Result {
        self.gate.reserve(msg.0, chrono::Utc::now().date_naive())
    }
}

/// Settles a reservation with the actual cost, or cancels it (`None`).
#[derive(Message)]
#[rtype(result = "()")]
struct SettleCall(Reservation, Option<f64>);

impl Handler<SettleCall> for AgentSupervisor {
    type Result = ();

    fn handle(&mut self, msg: SettleCall, _: &mut Self::Context) {
        match msg.1 {
            Some(actual) => self
                .gate
                .settle(msg.0, actual, chrono::Utc::now().date_naive()),
            None => self.gate.cancel(msg.0),
        }
    }
}

/// Lines about the customer and the conversation for the system message.
fn context_lines(data: &TurnData) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(contact) = &data.contact {
        if let Some(email) = &contact.email {
            lines.push(format!("E-mail: {email}"));
        }
        if let Some(phone) = &contact.phone {
            lines.push(format!("Phone: {phone}"));
        }
    }
    lines.push(format!("Channel: {}", data.channel));
    lines
}

pub(super) fn passage_text(hit: &Hit) -> String {
    format!(
        "{}: {}",
        hit.passage.title,
        crate::tools::truncate(hit.passage.content.trim(), PASSAGE_CHARS)
    )
}

/// Asks the model which sub-agent topic the text is about; any failure is "none" (the main
/// agent answers), with the tokens it cost.
async fn classify_topic(
    provider: Arc<dyn Provider>,
    budget: Arc<dyn CallBudget>,
    model: String,
    price: Price,
    topics: Vec<String>,
    text: String,
) -> (Option<String>, u64, u64, f64) {
    let request = classify::request(&model, &topics, &text);
    let chars: usize = request
        .messages
        .iter()
        .map(|m| m.content.chars().count())
        .sum();
    let estimate = limits::estimate_cost(chars, request.max_tokens, price.prompt, price.completion);
    let Ok(reservation) = budget.reserve(estimate).await else {
        return (None, 0, 0, 0.0);
    };
    match provider.complete(request).await {
        Ok(reply) => {
            let cost = limits::actual_cost(
                reply.prompt_tokens,
                reply.completion_tokens,
                price.prompt,
                price.completion,
            );
            budget.settle(reservation, cost);
            let topic = classify::parse(&reply.content, &topics);
            if topic.is_none() {
                tracing::info!("topic classification gave no usable topic; the main agent answers");
            }
            (topic, reply.prompt_tokens, reply.completion_tokens, cost)
        }
        Err(e) => {
            budget.cancel(reservation);
            tracing::warn!(
                reason = e.reason(),
                "ROUTING_ERROR: topic classification failed; the main agent answers"
            );
            (None, 0, 0, 0.0)
        }
    }
}

/// What the prompt is built from besides the agent's own setup: a conversation's messages
/// ([`RunTurn`]) or a chat stream's.
pub(super) struct TurnInput {
    pub contact_name: Option<String>,
    pub history: Vec<HistoryItem>,
    pub pending: Vec<String>,
    pub condense_over_chars: usize,
    pub tool_results: Vec<String>,
}

impl From<RunTurn> for TurnInput {
    fn from(msg: RunTurn) -> Self {
        TurnInput {
            contact_name: msg.contact_name,
            history: msg.history,
            pending: msg.pending,
            condense_over_chars: msg.condense_over_chars,
            tool_results: msg.tool_results,
        }
    }
}

/// Everything the turn future needs, moved out of the actor. Conversation turns and the
/// chat stream both run through it, so both have the same routing, tools and limits.
pub(super) struct TurnPlan {
    pub provider: Arc<dyn Provider>,
    pub budget: Arc<dyn CallBudget>,
    pub config: AgentConfig,
    pub settings: Arc<Settings>,
    pub toolbox: Toolbox,
    pub tool_context: ToolContext,
    pub input: TurnInput,
    pub context: Vec<String>,
    pub knowledge: Vec<String>,
    pub memories: Vec<String>,
    /// Chosen by topic already; `None` leaves it to classification (when `classify`).
    pub sub_agent: Option<SubAgent>,
    pub classify_among: Vec<SubAgent>,
    pub failures_before: u32,
    pub live: Option<Arc<dyn AnswerSink>>,
}

/// What the turn future hands back to the actor.
pub(super) struct TurnRun {
    pub outcome: LoopOutcome,
    pub error: Option<LoopError>,
    pub sub_agent_id: Option<String>,
    pub model: String,
}

pub(super) async fn run_plan(plan: TurnPlan) -> TurnRun {
    let TurnPlan {
        provider,
        budget,
        config,
        settings,
        toolbox,
        tool_context,
        input: msg,
        context,
        knowledge,
        memories,
        mut sub_agent,
        classify_among,
        failures_before,
        live,
    } = plan;
    let mut classification = (0u64, 0u64, 0.0f64);
    let mut routed_by = RoutedBy::Topic;
    if sub_agent.is_none() && !classify_among.is_empty() {
        routed_by = RoutedBy::Classification;
        let topics: Vec<String> = classify_among
            .iter()
            .flat_map(|s| s.topics().unwrap_or_default())
            .collect();
        let (price, _) = settings.price_for(&config.model);
        let (topic, p, c, cost) = classify_topic(
            provider.clone(),
            budget.clone(),
            config.model.clone(),
            price,
            topics,
            msg.pending.join("\n"),
        )
        .await;
        classification = (p, c, cost);
        if let Some(topic) = topic {
            sub_agent = classify_among
                .into_iter()
                .find(|s| s.topics().unwrap_or_default().contains(&topic));
        }
    }
    if let (Some(sink), Some(chosen)) = (&live, &sub_agent) {
        sink.handoff(chosen.id.as_str(), &chosen.name, routed_by);
    }
    let model = sub_agent
        .as_ref()
        .and_then(|s| s.model.clone())
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| config.model.clone());
    let system_prompt = sub_agent
        .as_ref()
        .map(|s| s.system_prompt.clone())
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| config.system_prompt.clone());
    let briefs = toolbox.briefs();
    let messages = prompt::build(&PromptInput {
        system_prompt: &system_prompt,
        agent_name: &config.name,
        contact_name: msg.contact_name.as_deref(),
        history: &msg.history,
        pending: &msg.pending,
        knowledge: &knowledge,
        memories: &memories,
        condense_over_chars: msg.condense_over_chars,
        context: &context,
        tools: &briefs,
        tool_results: &msg.tool_results,
    });
    let (price, _) = settings.price_for(&model);
    let request = CompletionRequest {
        model: model.clone(),
        temperature: config.temperature,
        max_tokens: config.max_tokens,
        messages,
        tools: Vec::new(),
        tool_choice: ToolChoice::Auto,
    };
    let loop_settings = LoopSettings {
        max_iterations: config.settings.max_tool_iterations,
        failure_limit: settings.engine.tool_failure_escalation,
        failures_before,
        price,
        max_tokens: config.max_tokens,
        live,
    };
    let (mut outcome, error) = runner::run(
        provider,
        request,
        toolbox,
        tool_context,
        loop_settings,
        budget,
    )
    .await;
    outcome.prompt_tokens += classification.0;
    outcome.completion_tokens += classification.1;
    outcome.cost_usd += classification.2;
    TurnRun {
        outcome,
        error,
        sub_agent_id: sub_agent.map(|s| s.id.to_string()),
        model,
    }
}

impl AgentSupervisor {
    /// The sub-agent whose topics `text` names, else the ones to classify it among (when
    /// classification is on): the same routing for conversations and the chat stream.
    pub(super) fn route(
        &self,
        sub_agents: &[SubAgent],
        text: &str,
    ) -> (Option<SubAgent>, Vec<SubAgent>) {
        let candidates: Vec<Vec<String>> = sub_agents
            .iter()
            .map(|s| s.topics().unwrap_or_default())
            .collect();
        let routed = routing::route(
            text,
            &candidates
                .iter()
                .map(|topics| Candidate { topics })
                .collect::<Vec<_>>(),
        );
        let sub_agent = routed.and_then(|i| sub_agents.get(i).cloned());
        let classify_among = if sub_agent.is_none() && self.settings.llm.classify_topics {
            sub_agents.to_vec()
        } else {
            Vec::new()
        };
        (sub_agent, classify_among)
    }

    fn turn_with(
        &mut self,
        msg: RunTurn,
        loaded: Result<(TurnData, Vec<Hit>), StoreError>,
        me: Addr<AgentSupervisor>,
        started: Instant,
    ) -> ResponseActFuture<Self, Result<TurnDone, TurnFailure>> {
        let (data, knowledge) = match loaded {
            Ok(loaded) => loaded,
            Err(e) => {
                return Box::pin(actix::fut::ready(Err(TurnFailure::Unavailable(
                    e.to_string(),
                ))))
            }
        };
        let text = msg.pending.join("\n");
        // Intents first: a match answers without the LLM, whatever its limits.
        if self.config.active {
            let rules = automation::rules(&data.setup.automations);
            if let Some((rule, intent)) = automation_rules::first_match(&rules, &text) {
                return self.run_automation(msg, rule.clone(), intent, started);
            }
        }
        if let Err(hit) = self.gate.admit(Ask::Request) {
            let record = self.turn_record(
                msg.conversation_id.clone(),
                TurnStatus::Limited,
                Some(hit.as_str()),
                0,
            );
            return self.finish_with_record(record, Err(TurnFailure::Limited(hit)));
        }

        let (sub_agent, classify_among) = self.route(&data.setup.sub_agents, &text);
        let conversation = msg.conversation_id.clone();
        let plan = TurnPlan {
            provider: self.provider.clone(),
            budget: Arc::new(SupervisorBudget(me)),
            config: self.config.clone(),
            settings: self.settings.clone(),
            toolbox: Toolbox::from_rows(data.setup.tools.clone(), self.tools.clone()),
            tool_context: ToolContext {
                tenant: self.config.tenant_id.clone(),
                agent: self.config.id.clone(),
                conversation: Some(conversation.clone()),
                contact: Some(data.contact_id.clone()),
            },
            context: context_lines(&data),
            knowledge: knowledge.iter().map(passage_text).collect(),
            memories: prompt_memories(&data.memories, &text, self.settings.memory.prompt_count),
            sub_agent,
            classify_among,
            failures_before: self.tool_failures.get(&conversation).copied().unwrap_or(0),
            input: TurnInput::from(msg),
            live: (self.settings.realtime.stream_ai_replies
                && self.config.provider_kind == ProviderKind::Openai)
                .then(|| {
                    Arc::new(LiveAnswer::new(
                        self.events.clone(),
                        self.config.tenant_id.clone(),
                        conversation.clone(),
                    )) as Arc<dyn AnswerSink>
                }),
        };
        Box::pin(
            run_plan(plan)
                .into_actor(self)
                .then(move |run, act, _| act.finish_turn(conversation, run, started)),
        )
    }

    fn finish_turn(
        &mut self,
        conversation: ConversationId,
        run: TurnRun,
        started: Instant,
    ) -> ResponseActFuture<Self, Result<TurnDone, TurnFailure>> {
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let TurnRun {
            outcome,
            error,
            sub_agent_id,
            model,
        } = run;
        if !outcome.calls.is_empty() {
            if outcome.consecutive_failures == 0 {
                self.tool_failures.remove(&conversation);
            } else {
                self.tool_failures
                    .insert(conversation.clone(), outcome.consecutive_failures);
            }
        }
        let tool_failures = self.tool_failures.get(&conversation).copied().unwrap_or(0);
        let record = self.run_record(
            Some(conversation),
            &outcome,
            error.as_ref(),
            sub_agent_id.clone(),
            model,
            latency_ms,
        );
        let result = match error {
            None => Ok(TurnDone {
                content: outcome.content.clone(),
                prompt_tokens: outcome.prompt_tokens,
                completion_tokens: outcome.completion_tokens,
                cost_usd: outcome.cost_usd,
                latency_ms,
                effects: outcome.effects.clone(),
                tool_failures,
                sub_agent_id: sub_agent_id.clone(),
                automation_id: None,
                tool_calls: outcome.calls.clone(),
            }),
            Some(LoopError::Limited(hit)) => Err(TurnFailure::Limited(hit)),
            Some(LoopError::Provider(LlmError::BadResponse(reason)))
                if reason == retrieval::NO_MATCH =>
            {
                Err(TurnFailure::NoAnswer)
            }
            Some(LoopError::Provider(e)) => Err(TurnFailure::Provider(e)),
        };
        self.finish_with_record(record, result)
    }

    /// The turn log row of a run (a conversation's turn, or a chat stream's without one).
    pub(super) fn run_record(
        &self,
        conversation: Option<ConversationId>,
        outcome: &LoopOutcome,
        error: Option<&LoopError>,
        sub_agent_id: Option<String>,
        model: String,
        latency_ms: u64,
    ) -> turns::AiTurn {
        let (status, reason) = run_status(outcome, error);
        let mut record = self.turn_record(conversation, status, reason.as_deref(), latency_ms);
        record.sub_agent_id = sub_agent_id;
        record.model = outcome.model.clone().unwrap_or(model);
        record.prompt_tokens = i64::try_from(outcome.prompt_tokens).unwrap_or(i64::MAX);
        record.completion_tokens = i64::try_from(outcome.completion_tokens).unwrap_or(i64::MAX);
        record.cost_usd = outcome.cost_usd;
        record.retries = i32::try_from(outcome.retries).unwrap_or(i32::MAX);
        record.price_flagged = self.settings.price_for(&record.model).1;
        record.tools_used = serde_json::to_string(&outcome.calls).unwrap_or_else(|_| "[]".into());
        record
    }

    /// Writes the turn log row (and the usage counters when tokens were spent), then answers.
    /// A conversation's log is queued behind it in the message writer — committed with the
    /// conversation's next batch, before its reply — so the answer does not wait for it.
    pub(super) fn finish_with_record<T: 'static>(
        &mut self,
        record: turns::AiTurn,
        outcome: T,
    ) -> ResponseActFuture<Self, T> {
        let store = self.store.clone();
        let writer = self.writer.clone();
        let today = chrono::Utc::now().date_naive();
        Box::pin(
            async move {
                let conversation = record.conversation_id.clone();
                let fence = Fence::Owner(record.tenant_id.clone());
                let write = match conversation {
                    Some(conversation) => {
                        let shard = writer.lane_of(&conversation);
                        let log = move |conn: &mut DbConn| log_turn(conn, &record, today, shard);
                        writer
                            .write_behind(&conversation, fence, Box::new(log))
                            .await
                    }
                    None => {
                        store
                            .run(move |conn| log_turn(conn, &record, today, OUTSIDE_LANES))
                            .await
                    }
                };
                if let Err(e) = write {
                    tracing::warn!(error = %e, "turn log write failed");
                }
                outcome
            }
            .into_actor(self),
        )
    }

    /// Runs a matched automation instead of the LLM: data actions here, owner and status
    /// changes as effects for the conversation, messages as the turn's answer.
    fn run_automation(
        &mut self,
        msg: RunTurn,
        rule: Rule,
        intent: String,
        started: Instant,
    ) -> ResponseActFuture<Self, Result<TurnDone, TurnFailure>> {
        // What the skipped LLM call would have cost in prompt tokens, plus the answer.
        let would_be_prompt: usize = self.config.system_prompt.chars().count()
            + msg
                .history
                .iter()
                .map(|h| h.content.chars().count())
                .sum::<usize>()
            + msg.pending.iter().map(|p| p.chars().count()).sum::<usize>();
        let store = self.store.clone();
        let tenant = self.config.tenant_id.clone();
        let conversation = msg.conversation_id.clone();
        let work = automation::execute(store, tenant, conversation, rule.actions.clone());
        let tokens_saved = limits::estimate_prompt_tokens(would_be_prompt)
            + u64::from(self.config.max_tokens.min(256));
        Box::pin(work.into_actor(self).then(move |executed, act, _| {
            let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let mut record = act.turn_record(
                msg.conversation_id.clone(),
                TurnStatus::Automation,
                None,
                latency_ms,
            );
            record.tokens_saved = i64::try_from(tokens_saved).unwrap_or(i64::MAX);
            record.tools_used = serde_json::json!([{
                "automation_id": rule.id,
                "name": rule.name,
                "intent": intent,
                "actions": executed.log,
            }])
            .to_string();
            let done = TurnDone {
                content: executed.messages.join("\n\n"),
                prompt_tokens: 0,
                completion_tokens: 0,
                cost_usd: 0.0,
                latency_ms,
                effects: executed.effects,
                tool_failures: act
                    .tool_failures
                    .get(&msg.conversation_id)
                    .copied()
                    .unwrap_or(0),
                sub_agent_id: None,
                automation_id: Some(rule.id.clone()),
                tool_calls: Vec::new(),
            };
            act.finish_with_record(record, Ok(done))
        }))
    }

    pub(super) fn turn_record(
        &self,
        conversation: impl Into<Option<ConversationId>>,
        status: TurnStatus,
        error_reason: Option<&str>,
        latency_ms: u64,
    ) -> turns::AiTurn {
        turns::AiTurn {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: self.config.tenant_id.clone(),
            agent_id: self.config.id.clone(),
            sub_agent_id: None,
            conversation_id: conversation.into(),
            model: self.config.model.clone(),
            provider: self.config.provider_kind.as_str().into(),
            status,
            error_reason: error_reason.map(str::to_string),
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_usd: 0.0,
            latency_ms: i64::try_from(latency_ms).unwrap_or(i64::MAX),
            retries: 0,
            tools_used: "[]".into(),
            price_flagged: self.price_flagged,
            tokens_saved: 0,
            created_at: crate::store::now(),
        }
    }
}

/// The turn log's status and reason for how a run ended.
fn run_status(outcome: &LoopOutcome, error: Option<&LoopError>) -> (TurnStatus, Option<String>) {
    match error {
        None => (
            TurnStatus::Ok,
            outcome
                .stopped_for_failures
                .then_some("tool_failures".to_string()),
        ),
        Some(LoopError::Limited(hit)) => (TurnStatus::Limited, Some(hit.as_str().to_string())),
        Some(LoopError::Provider(LlmError::BadResponse(reason)))
            if reason == retrieval::NO_MATCH =>
        {
            (TurnStatus::NoAnswer, Some(retrieval::NO_MATCH.to_string()))
        }
        Some(LoopError::Provider(e)) => (TurnStatus::Error, Some(e.reason().to_string())),
    }
}

/// The memories put in a prompt: the `count` most relevant to the messages being answered
/// (`domain::memory::select`), as the lines the prompt lists.
fn prompt_memories(rows: &[memories::Memory], query: &str, count: usize) -> Vec<String> {
    let candidates: Vec<memory::Candidate> = rows
        .iter()
        .map(|m| memory::Candidate {
            content: &m.content,
            updated_at: m.updated_at,
        })
        .collect();
    memory::select(&candidates, query, count)
        .into_iter()
        .filter_map(|i| rows.get(i).map(|m| m.content.clone()))
        .collect()
}

/// The usage counters' shard of turns logged outside the writer's lanes (a staff chat
/// without a conversation), so they never wait on a lane's counter rows either.
const OUTSIDE_LANES: i32 = -1;

/// The turn log row, and the agent's usage counters (in `shard`) when the turn spent tokens.
fn log_turn(
    conn: &mut DbConn,
    record: &turns::AiTurn,
    today: chrono::NaiveDate,
    shard: i32,
) -> StoreResult<()> {
    turns::insert(conn, record)?;
    let spent = record.prompt_tokens > 0
        || record.completion_tokens > 0
        || record.cost_usd > 0.0
        || record.status == TurnStatus::Ok;
    if spent && record.status != TurnStatus::Automation {
        let (day, month) = (turns::day_period(today), turns::month_period(today));
        turns::add_usage(conn, record, &[&day, &month], shard)?;
    }
    Ok(())
}
