//! AgentSupervisor: one actor per AI agent. It admits conversations up to
//! `max_conversations`, enforces the agent's request rates (governor) and cost budgets
//! (reserve an estimate before a turn, settle with the provider's usage after), runs the LLM
//! turns, and writes each turn to the turn log. The arithmetic lives in `domain::limits`.
//!
//! Admission rules: a conversation holds its slot while it is live and owned by the agent; the
//! slot is released when the conversation is closed, escalated or reassigned, and when its
//! actor passivates with nothing left to answer (an idle conversation does not block new
//! customers). A later message re-requests admission.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures::future::BoxFuture;
use futures::FutureExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::events::EventBus;
use super::live_answer::LiveAnswer;
use crate::config::{Price, Settings};
use crate::domain::agent::{AgentLimits, AgentSettings, ProviderKind};
use crate::domain::automation::{self, Action, Rule};
use crate::domain::conversation::Owner;
use crate::domain::limits::{self, AdmissionSet, CostBudget, CostLedger, LimitHit, Reservation};
use crate::domain::routing::{self, Candidate};
use crate::domain::{AgentId, ContactId, ConversationId, TenantId, UserId};
use crate::llm::prompt::{self, HistoryItem, PromptInput};
use crate::llm::{
    classify, ChatMessage, CompletionRequest, LlmError, OpenAiProvider, Provider, RetryPolicy,
    ToolChoice,
};
use crate::outbound::{origin, Limits};
use crate::secrets::SecretBox;
use crate::store::automations::Automation;
use crate::store::crm::{self, ContactCard};
use crate::store::sub_agents::SubAgent;
use crate::store::tools::{AgentTool, Tool};
use crate::store::{
    agents, automations as automations_store, conversations, sub_agents as sub_agents_store,
    tools as tools_store, turns, users, Store, StoreError,
};
use crate::tools::runner::{self, AnswerSink, CallBudget, LoopError, LoopOutcome, LoopSettings};
use crate::tools::{ToolContext, ToolRuntime, Toolbox};

use crate::llm::retrieval::{self as retrieval, Hit, RetrievalProvider};

pub use crate::tools::Effect;

mod side_calls;
pub use side_calls::SideCall;

/// Characters of one passage in a prompt.
const PASSAGE_CHARS: usize = 1500;

/// What the engine needs of an agent, decoded once from its row.
#[derive(Clone)]
pub struct AgentConfig {
    pub id: AgentId,
    pub tenant_id: TenantId,
    pub name: String,
    pub system_prompt: String,
    pub model: String,
    pub temperature: f32,
    pub max_tokens: u32,
    pub max_conversations: u32,
    pub active: bool,
    pub specialties: Vec<String>,
    pub settings: AgentSettings,
    pub limits: AgentLimits,
    pub provider_kind: ProviderKind,
}

fn provider_for(
    row: &agents::AiAgent,
    kind: ProviderKind,
    settings: &Settings,
    secrets: &SecretBox,
    knowledge: &crate::knowledge::KnowledgeIndex,
) -> Result<Arc<dyn Provider>, String> {
    use secrecy::ExposeSecret;
    // Hybrid knowledge search embeds with the agent's own provider, when it has one.
    knowledge.set_embedding_endpoint(&row.id, None);
    match kind {
        ProviderKind::Retrieval => Ok(Arc::new(RetrievalProvider::new(
            knowledge.clone(),
            row.tenant_id.clone(),
            row.id.clone(),
        ))),
        ProviderKind::Openai => {
            let default_url = &settings.llm.default_base_url;
            let base_url = row
                .provider_base_url
                .clone()
                .unwrap_or_else(|| default_url.clone());
            // The operator's key and URL go together: a tenant-chosen URL never gets the
            // default key, whatever it answers. The operator's URL is trusted like the
            // operator (it may be a local model server); a tenant's passes the guard.
            let operator_endpoint = origin::same_endpoint(default_url, &base_url);
            let key = match row.api_key(secrets).map_err(|e| e.to_string())? {
                Some(key) => key.expose_secret().to_string(),
                None if operator_endpoint => {
                    settings.llm.default_api_key.expose_secret().to_string()
                }
                None => String::new(),
            };
            let mut limits = Limits::from_settings(&settings.outbound);
            limits.allow_private |= operator_endpoint;
            let provider = OpenAiProvider::new(
                &base_url,
                &key,
                Duration::from_millis(settings.llm.request_timeout_ms),
                RetryPolicy {
                    max_retries: settings.llm.max_retries,
                    initial_backoff: Duration::from_millis(settings.llm.retry_initial_backoff_ms),
                    max_backoff: Duration::from_millis(settings.llm.retry_max_backoff_ms),
                },
                limits,
            )
            .map_err(|e| e.to_string())?;
            let endpoint = crate::knowledge::embeddings::EmbeddingEndpoint {
                base_url,
                api_key: key.into(),
                limits,
            };
            knowledge.set_embedding_endpoint(&row.id, Some(endpoint));
            Ok(Arc::new(provider))
        }
    }
}

impl AgentConfig {
    pub fn from_row(row: &agents::AiAgent) -> Result<Self, StoreError> {
        Ok(AgentConfig {
            id: row.id.clone(),
            tenant_id: row.tenant_id.clone(),
            name: row.name.clone(),
            system_prompt: row.system_prompt.clone(),
            model: row.model.clone(),
            temperature: row.temperature as f32,
            max_tokens: u32::try_from(row.max_tokens).unwrap_or(0),
            max_conversations: u32::try_from(row.max_conversations).unwrap_or(0),
            active: row.enabled && row.status == "active",
            specialties: row.specialties()?,
            settings: row.settings()?,
            limits: row.limits()?,
            provider_kind: row.provider_kind()?,
        })
    }
}

/// The result of a turn: the answer (empty when there is nothing to say, e.g. an automation
/// that only closes, or a loop ended by failing tools) and what the conversation must do.
#[derive(Debug, Clone)]
pub struct TurnDone {
    pub content: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    pub latency_ms: u64,
    /// Owner and status changes for the conversation to apply after the answer.
    pub effects: Vec<Effect>,
    /// Consecutive failed tool calls in this conversation, across turns; the conversation
    /// hands over at `engine.tool_failure_escalation`.
    pub tool_failures: u32,
    /// The sub-agent that answered, when one did.
    pub sub_agent_id: Option<String>,
    /// The automation that answered instead of the LLM, when one did.
    pub automation_id: Option<String>,
    /// The tool calls the turn made, for the conversation's tool state.
    pub tool_calls: Vec<crate::tools::CallRecord>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum TurnFailure {
    #[error("limit reached: {0}")]
    Limited(LimitHit),
    #[error("provider failed: {0}")]
    Provider(LlmError),
    /// The provider has nothing to say (retrieval found no passage): hand to a human.
    #[error("no answer: {0}")]
    NoAnswer(String),
    #[error("agent unavailable: {0}")]
    Unavailable(String),
}

impl TurnFailure {
    pub fn reason(&self) -> String {
        match self {
            TurnFailure::Limited(hit) => hit.as_str().to_string(),
            TurnFailure::Provider(e) => e.reason().to_string(),
            TurnFailure::NoAnswer(reason) => reason.clone(),
            TurnFailure::Unavailable(_) => "agent_unavailable".to_string(),
        }
    }
}

pub struct AgentSupervisor {
    config: AgentConfig,
    provider: Arc<dyn Provider>,
    admitted: AdmissionSet,
    per_minute: Option<DefaultDirectRateLimiter>,
    per_hour: Option<DefaultDirectRateLimiter>,
    per_day: Option<DefaultDirectRateLimiter>,
    ledger: CostLedger,
    price: Price,
    price_flagged: bool,
    store: Store,
    settings: Arc<Settings>,
    tools: ToolRuntime,
    /// Where live answer pieces go (the hub relays them to the conversation's room).
    events: EventBus,
    /// Consecutive failed tool calls per conversation (see [`TurnDone::tool_failures`]).
    tool_failures: HashMap<ConversationId, u32>,
}

fn limiter(count: Option<u32>, period: Duration) -> Option<DefaultDirectRateLimiter> {
    let burst = NonZeroU32::new(count?)?;
    // `count` requests per `period`: the whole allowance may be used at once (burst), and it
    // refills evenly over the period.
    let quota = Quota::with_period(period / burst.get())?.allow_burst(burst);
    Some(RateLimiter::direct(quota))
}

impl AgentSupervisor {
    fn apply_config(
        &mut self,
        config: AgentConfig,
        provider: Arc<dyn Provider>,
        settings: &Arc<Settings>,
    ) {
        let (price, flagged) = settings.price_for(&config.model);
        self.settings = settings.clone();
        self.admitted.set_max(config.max_conversations);
        self.per_minute = limiter(config.limits.requests_per_minute, Duration::from_secs(60));
        self.per_hour = limiter(config.limits.requests_per_hour, Duration::from_secs(3600));
        self.per_day = limiter(config.limits.requests_per_day, Duration::from_secs(86_400));
        self.price = price;
        self.price_flagged = flagged;
        self.provider = provider;
        self.config = config;
    }

    fn budget(&self) -> CostBudget {
        CostBudget {
            daily_usd: self.config.limits.daily_cost_usd,
            monthly_usd: self.config.limits.monthly_cost_usd,
        }
    }

    /// Takes one request from every rate window, or reports the first window that is full.
    /// A window passed before a later one refuses has spent its cell: the agent may end up a
    /// little under its limits, never over.
    fn take_request(&self) -> Result<(), LimitHit> {
        for (limiter, hit) in [
            (&self.per_day, LimitHit::RequestsPerDay),
            (&self.per_hour, LimitHit::RequestsPerHour),
            (&self.per_minute, LimitHit::RequestsPerMinute),
        ] {
            if let Some(limiter) = limiter {
                limiter.check().map_err(|_| hit)?;
            }
        }
        Ok(())
    }
}

impl Actor for AgentSupervisor {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "Result<(), LimitHit>")]
pub struct Admit(pub ConversationId);

#[derive(Message)]
#[rtype(result = "()")]
pub struct Release(pub ConversationId);

/// Room left for new conversations, for the distributor.
#[derive(Message)]
#[rtype(result = "AgentLoad")]
pub struct GetLoad;

#[derive(Debug, Clone)]
pub struct AgentLoad {
    pub active: u32,
    pub max: u32,
    pub enabled: bool,
    pub specialties: Vec<String>,
}

impl Handler<Admit> for AgentSupervisor {
    type Result = Result<(), LimitHit>;

    fn handle(&mut self, msg: Admit, _: &mut Self::Context) -> Self::Result {
        if !self.config.active {
            return Err(LimitHit::MaxConversations);
        }
        self.admitted.admit(msg.0.as_str()).map(|_| ())
    }
}

impl Handler<Release> for AgentSupervisor {
    type Result = ();

    fn handle(&mut self, msg: Release, _: &mut Self::Context) {
        self.admitted.release(msg.0.as_str());
        self.tool_failures.remove(&msg.0);
    }
}

impl Handler<GetLoad> for AgentSupervisor {
    type Result = MessageResult<GetLoad>;

    fn handle(&mut self, _: GetLoad, _: &mut Self::Context) -> Self::Result {
        MessageResult(AgentLoad {
            active: u32::try_from(self.admitted.len()).unwrap_or(u32::MAX),
            max: self.admitted.max(),
            enabled: self.config.active,
            specialties: self.config.specialties.clone(),
        })
    }
}

/// One AI turn for a conversation.
#[derive(Message)]
#[rtype(result = "Result<TurnDone, TurnFailure>")]
pub struct RunTurn {
    pub conversation_id: ConversationId,
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
        let conversation = msg.conversation_id.clone();
        let uses_llm = self.config.provider_kind == ProviderKind::Openai;
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
                            &conversation,
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
        Box::pin(
            load.into_actor(self)
                .then(move |loaded, act, _| act.turn_with(msg, loaded, me, started)),
        )
    }
}

/// What a turn needs from the store besides the messages.
struct TurnData {
    contact_id: ContactId,
    contact: Option<ContactCard>,
    channel: String,
    sub_agents: Vec<SubAgent>,
    tools: Vec<(AgentTool, Tool)>,
    automations: Vec<Automation>,
    /// What the agent remembers about the contact (most recent first), for the prompt.
    memories: Vec<crate::store::memories::Memory>,
}

fn load_turn(
    conn: &mut crate::store::DbConn,
    tenant: &TenantId,
    agent: &AgentId,
    conversation: &ConversationId,
    uses_llm: bool,
    memory_candidates: i64,
) -> Result<TurnData, StoreError> {
    let row = conversations::find(conn, tenant, conversation)?;
    let contact = crm::contact_card(conn, tenant, &row.contact_id).ok();
    // Read at every turn, never cached: a memory an operator erased is gone from the next
    // prompt.
    let memories = if uses_llm {
        crate::store::memories::for_prompt(conn, tenant, &row.contact_id, agent, memory_candidates)?
    } else {
        Vec::new()
    };
    let (sub_agents, tools) = if uses_llm {
        (
            sub_agents_store::active(conn, tenant, agent)?,
            tools_store::for_agent(conn, tenant, agent)?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(TurnData {
        contact_id: row.contact_id,
        contact,
        channel: row.channel,
        sub_agents,
        tools,
        automations: automations_store::enabled_for(conn, tenant, agent)?,
        memories,
    })
}

/// The automation rules of a turn; one whose stored JSON no longer decodes is skipped.
fn rules(automations: &[Automation]) -> Vec<Rule> {
    automations
        .iter()
        .filter_map(|a| match (a.intents(), a.actions()) {
            (Ok(intents), Ok(actions)) => Some(Rule::new(
                a.id.clone(),
                a.name.clone(),
                a.priority,
                &intents,
                actions,
            )),
            _ => {
                tracing::warn!(automation = %a.id, "automation skipped: stored JSON is corrupt");
                None
            }
        })
        .collect()
}

/// Reserves and settles each model call of a turn at the supervisor, whose mailbox
/// serialises them with every other turn of the agent.
struct SupervisorBudget(Addr<AgentSupervisor>);

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
        self.ledger.roll(chrono::Utc::now().date_naive());
        let budget = self.budget();
        self.ledger.try_reserve(&budget, msg.0)
    }
}

/// Settles a reservation with the actual cost, or cancels it (`None`).
#[derive(Message)]
#[rtype(result = "()")]
struct SettleCall(Reservation, Option<f64>);

impl Handler<SettleCall> for AgentSupervisor {
    type Result = ();

    fn handle(&mut self, msg: SettleCall, _: &mut Self::Context) {
        self.ledger.roll(chrono::Utc::now().date_naive());
        match msg.1 {
            Some(actual) => self.ledger.settle(msg.0, actual),
            None => self.ledger.cancel(msg.0),
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

fn passage_text(hit: &Hit) -> String {
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

/// Everything the turn future needs, moved out of the actor.
struct TurnPlan {
    provider: Arc<dyn Provider>,
    budget: Arc<dyn CallBudget>,
    config: AgentConfig,
    settings: Arc<Settings>,
    toolbox: Toolbox,
    tool_context: ToolContext,
    msg: RunTurn,
    context: Vec<String>,
    knowledge: Vec<String>,
    memories: Vec<String>,
    /// Chosen by topic already; `None` leaves it to classification (when `classify`).
    sub_agent: Option<SubAgent>,
    classify_among: Vec<SubAgent>,
    failures_before: u32,
    live: Option<Arc<dyn AnswerSink>>,
}

/// What the turn future hands back to the actor.
struct TurnRun {
    outcome: LoopOutcome,
    error: Option<LoopError>,
    sub_agent_id: Option<String>,
    model: String,
}

async fn run_plan(plan: TurnPlan) -> TurnRun {
    let TurnPlan {
        provider,
        budget,
        config,
        settings,
        toolbox,
        tool_context,
        msg,
        context,
        knowledge,
        memories,
        mut sub_agent,
        classify_among,
        failures_before,
        live,
    } = plan;
    let mut classification = (0u64, 0u64, 0.0f64);
    if sub_agent.is_none() && !classify_among.is_empty() {
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
            let rules = rules(&data.automations);
            if let Some((rule, intent)) = automation::first_match(&rules, &text) {
                return self.run_automation(msg, rule.clone(), intent, started);
            }
        }
        let admitted = if self.config.active {
            self.take_request()
        } else {
            Err(LimitHit::MaxConversations)
        };
        if let Err(hit) = admitted {
            let record = self.turn_record(
                msg.conversation_id.clone(),
                "limited",
                Some(hit.as_str()),
                0,
            );
            return self.finish_with_record(record, Err(TurnFailure::Limited(hit)));
        }

        let candidates: Vec<Vec<String>> = data
            .sub_agents
            .iter()
            .map(|s| s.topics().unwrap_or_default())
            .collect();
        let routed = routing::route(
            &text,
            &candidates
                .iter()
                .map(|topics| Candidate { topics })
                .collect::<Vec<_>>(),
        );
        let sub_agent = routed.and_then(|i| data.sub_agents.get(i).cloned());
        let classify_among = if sub_agent.is_none() && self.settings.llm.classify_topics {
            data.sub_agents.clone()
        } else {
            Vec::new()
        };
        let conversation = msg.conversation_id.clone();
        let plan = TurnPlan {
            provider: self.provider.clone(),
            budget: Arc::new(SupervisorBudget(me)),
            config: self.config.clone(),
            settings: self.settings.clone(),
            toolbox: Toolbox::from_rows(data.tools.clone(), self.tools.clone()),
            tool_context: ToolContext {
                tenant: self.config.tenant_id.clone(),
                agent: self.config.id.clone(),
                conversation: Some(conversation.clone()),
                contact: Some(data.contact_id.clone()),
            },
            context: context_lines(&data),
            knowledge: knowledge.iter().map(passage_text).collect(),
            memories: super::insights::prompt_memories(
                &data.memories,
                &text,
                self.settings.memory.prompt_count,
            ),
            sub_agent,
            classify_among,
            failures_before: self.tool_failures.get(&conversation).copied().unwrap_or(0),
            live: (self.settings.realtime.stream_ai_replies
                && self.config.provider_kind == ProviderKind::Openai)
                .then(|| {
                    Arc::new(LiveAnswer::new(
                        self.events.clone(),
                        self.config.tenant_id.clone(),
                        conversation.clone(),
                    )) as Arc<dyn AnswerSink>
                }),
            msg,
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
        let (status, reason, result) = match error {
            None => (
                "ok",
                outcome
                    .stopped_for_failures
                    .then_some("tool_failures".to_string()),
                Ok(TurnDone {
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
            ),
            Some(LoopError::Limited(hit)) => (
                "limited",
                Some(hit.as_str().to_string()),
                Err(TurnFailure::Limited(hit)),
            ),
            Some(LoopError::Provider(LlmError::BadResponse(reason)))
                if reason == retrieval::NO_MATCH =>
            {
                (
                    "no_answer",
                    Some(retrieval::NO_MATCH.to_string()),
                    Err(TurnFailure::NoAnswer(retrieval::NO_MATCH.into())),
                )
            }
            Some(LoopError::Provider(e)) => (
                "error",
                Some(e.reason().to_string()),
                Err(TurnFailure::Provider(e)),
            ),
        };
        let mut record =
            self.turn_record(conversation.clone(), status, reason.as_deref(), latency_ms);
        record.sub_agent_id = sub_agent_id;
        record.model = outcome.model.clone().unwrap_or(model);
        record.prompt_tokens = i64::try_from(outcome.prompt_tokens).unwrap_or(i64::MAX);
        record.completion_tokens = i64::try_from(outcome.completion_tokens).unwrap_or(i64::MAX);
        record.cost_usd = outcome.cost_usd;
        record.retries = i32::try_from(outcome.retries).unwrap_or(i32::MAX);
        record.price_flagged = self.settings.price_for(&record.model).1;
        record.tools_used = serde_json::to_string(&outcome.calls).unwrap_or_else(|_| "[]".into());
        self.finish_with_record(record, result)
    }

    /// Writes the turn log row (and the usage counters when tokens were spent), then answers.
    fn finish_with_record<T: 'static>(
        &mut self,
        record: turns::AiTurn,
        outcome: T,
    ) -> ResponseActFuture<Self, T> {
        let store = self.store.clone();
        let today = chrono::Utc::now().date_naive();
        Box::pin(
            async move {
                let spent = record.prompt_tokens > 0
                    || record.completion_tokens > 0
                    || record.cost_usd > 0.0
                    || record.status == "ok";
                let write = store
                    .run(move |conn| {
                        turns::insert(conn, &record)?;
                        if spent && record.status != "automation" {
                            for period in [turns::day_period(today), turns::month_period(today)] {
                                turns::add_usage(
                                    conn,
                                    &record.tenant_id,
                                    &record.agent_id,
                                    &period,
                                    record.prompt_tokens,
                                    record.completion_tokens,
                                    record.cost_usd,
                                )?;
                            }
                        }
                        Ok(())
                    })
                    .await;
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
        let actions = rule.actions.clone();
        let work = async move {
            let mut messages: Vec<String> = Vec::new();
            let mut effects: Vec<Effect> = Vec::new();
            let mut log: Vec<serde_json::Value> = Vec::new();
            for action in actions {
                let result: Result<serde_json::Value, String> = match &action {
                    Action::SendMessage { content } => {
                        messages.push(content.clone());
                        Ok(serde_json::json!({"sent": true}))
                    }
                    Action::AddTag { tag } => {
                        let (tenant, conversation, tag) =
                            (tenant.clone(), conversation.clone(), tag.clone());
                        store
                            .run(move |conn| {
                                crm::add_conversation_tag(conn, &tenant, &conversation, &tag)
                            })
                            .await
                            .map(|added| serde_json::json!({"added": added}))
                            .map_err(|e| e.to_string())
                    }
                    Action::MoveToStage { stage_id } => {
                        let (tenant, conversation, stage) =
                            (tenant.clone(), conversation.clone(), stage_id.clone());
                        store
                            .run(move |conn| {
                                crm::move_to_stage(conn, &tenant, &conversation, &stage)
                            })
                            .await
                            .map(|name| serde_json::json!({"stage": name}))
                            .map_err(|e| e.to_string())
                    }
                    Action::Assign { user_id, agent_id } => {
                        assign_owner(&store, &tenant, user_id.as_deref(), agent_id.as_deref())
                            .await
                            .map(|owner| {
                                effects.push(Effect::Assign {
                                    owner: owner.clone(),
                                });
                                serde_json::json!({"owner": owner})
                            })
                    }
                    Action::Close { reason } => {
                        effects.push(Effect::Close {
                            reason: Some(reason.clone().unwrap_or_else(|| "automation".into())),
                        });
                        Ok(serde_json::json!({"closing": true}))
                    }
                };
                let mut entry = serde_json::to_value(&action).unwrap_or_default();
                match result {
                    Ok(value) => entry["result"] = value,
                    Err(error) => {
                        tracing::warn!(%error, "automation action failed");
                        entry["error"] = serde_json::Value::String(error);
                    }
                }
                log.push(entry);
            }
            (messages, effects, log)
        };
        let tokens_saved = limits::estimate_prompt_tokens(would_be_prompt)
            + u64::from(self.config.max_tokens.min(256));
        Box::pin(
            work.into_actor(self)
                .then(move |(messages, effects, log), act, _| {
                    let latency_ms =
                        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    let mut record = act.turn_record(
                        msg.conversation_id.clone(),
                        "automation",
                        None,
                        latency_ms,
                    );
                    record.tokens_saved = i64::try_from(tokens_saved).unwrap_or(i64::MAX);
                    record.tools_used = serde_json::json!([{
                        "automation_id": rule.id,
                        "name": rule.name,
                        "intent": intent,
                        "actions": log,
                    }])
                    .to_string();
                    let done = TurnDone {
                        content: messages.join("\n\n"),
                        prompt_tokens: 0,
                        completion_tokens: 0,
                        cost_usd: 0.0,
                        latency_ms,
                        effects,
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
                }),
        )
    }

    fn turn_record(
        &self,
        conversation: impl Into<Option<ConversationId>>,
        status: &str,
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
            status: status.into(),
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

/// The owner an automation's `assign` names, checked against the tenant at run time (the
/// user or agent may have been deleted since the automation was saved).
async fn assign_owner(
    store: &Store,
    tenant: &TenantId,
    user_id: Option<&str>,
    agent_id: Option<&str>,
) -> Result<Owner, String> {
    let tenant = tenant.clone();
    match (user_id, agent_id) {
        (Some(user), _) => {
            let id = UserId::parse(user).ok_or("user_id is not an id")?;
            let lookup = id.clone();
            store
                .run(move |conn| users::find(conn, &tenant, &lookup).map(|_| ()))
                .await
                .map_err(|_| "the user does not exist".to_string())?;
            Ok(Owner::User(id))
        }
        (None, Some(agent)) => {
            let id = AgentId::parse(agent).ok_or("agent_id is not an id")?;
            let lookup = id.clone();
            store
                .run(move |conn| agents::find(conn, &tenant, &lookup).map(|_| ()))
                .await
                .map_err(|_| "the agent does not exist".to_string())?;
            Ok(Owner::AiAgent(id))
        }
        (None, None) => Err("assign needs user_id or agent_id".into()),
    }
}

/// Finds (starting on first use) the supervisor of each agent.
pub struct Supervisors {
    running: HashMap<AgentId, Addr<AgentSupervisor>>,
    store: Store,
    settings: Arc<Settings>,
    secrets: Arc<SecretBox>,
    tools: ToolRuntime,
    events: EventBus,
}

impl Supervisors {
    pub fn new(
        store: Store,
        settings: Arc<Settings>,
        secrets: Arc<SecretBox>,
        events: EventBus,
        knowledge: crate::knowledge::KnowledgeIndex,
    ) -> Self {
        let tools = ToolRuntime::new(
            store.clone(),
            &settings.outbound,
            secrets.clone(),
            knowledge,
        );
        Supervisors {
            running: HashMap::new(),
            store,
            settings,
            secrets,
            tools,
            events,
        }
    }
}

impl Actor for Supervisors {
    type Context = Context<Self>;
}

/// The supervisor of an agent; `None` when the agent does not exist.
#[derive(Message)]
#[rtype(result = "Result<Option<Addr<AgentSupervisor>>, StoreError>")]
pub struct SupervisorOf(pub AgentId);

/// Re-reads an agent after it changed (limits, prompt, provider …), without a restart.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AgentChanged(pub AgentId);

async fn load(
    store: Store,
    id: AgentId,
) -> Result<Option<(agents::AiAgent, AgentConfig, Vec<ConversationId>, f64, f64)>, StoreError> {
    store
        .run(move |conn| {
            let row = match agents::find_by_id(conn, &id) {
                Ok(row) => row,
                Err(StoreError::NotFound) => return Ok(None),
                Err(e) => return Err(e),
            };
            let config = AgentConfig::from_row(&row)?;
            let open = crate::store::conversations::open_for_agent(conn, id.as_str())?;
            let today = chrono::Utc::now().date_naive();
            let day = turns::spent(conn, &id, &turns::day_period(today))?;
            let month = turns::spent(conn, &id, &turns::month_period(today))?;
            Ok(Some((row, config, open, day, month)))
        })
        .await
}

impl Handler<SupervisorOf> for Supervisors {
    type Result = ResponseActFuture<Self, Result<Option<Addr<AgentSupervisor>>, StoreError>>;

    fn handle(&mut self, msg: SupervisorOf, _: &mut Self::Context) -> Self::Result {
        if let Some(addr) = self.running.get(&msg.0) {
            let addr = addr.clone();
            return Box::pin(async move { Ok(Some(addr)) }.into_actor(self));
        }
        let store = self.store.clone();
        let id = msg.0.clone();
        Box::pin(load(store, msg.0).into_actor(self).map(move |loaded, act, _| {
            // Another request may have started it while this one was loading.
            if let Some(addr) = act.running.get(&id) {
                return Ok(Some(addr.clone()));
            }
            let Some((row, config, open, day_spent, month_spent)) = loaded? else {
                return Ok(None);
            };
            let provider = match provider_for(&row, config.provider_kind, &act.settings, &act.secrets, act.tools.knowledge()) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(agent = %id, error = %e, "agent provider unusable; answers go to humans");
                    Arc::new(retrieval::Unusable(e)) as Arc<dyn Provider>
                }
            };
            let mut ledger = CostLedger::new(chrono::Utc::now().date_naive());
            ledger.day_spent = day_spent;
            ledger.month_spent = month_spent;
            let mut admitted = AdmissionSet::new(config.max_conversations);
            for conversation in &open {
                // Slots held before a restart are held again; an over-full set cannot happen
                // because admission never exceeded the max.
                let _ = admitted.admit(conversation.as_str());
            }
            let mut supervisor = AgentSupervisor {
                config: config.clone(),
                provider: provider.clone(),
                admitted,
                per_minute: None,
                per_hour: None,
                per_day: None,
                ledger,
                price: act.settings.llm.default_price,
                price_flagged: true,
                store: act.store.clone(),
                settings: act.settings.clone(),
                tools: act.tools.clone(),
                events: act.events.clone(),
                tool_failures: HashMap::new(),
            };
            supervisor.apply_config(config, provider, &act.settings);
            let addr = supervisor.start();
            act.running.insert(id, addr.clone());
            Ok(Some(addr))
        }))
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Reconfigure(AgentConfig, Arc<dyn Provider>, Arc<Settings>);

impl Handler<Reconfigure> for AgentSupervisor {
    type Result = ();

    fn handle(&mut self, msg: Reconfigure, _: &mut Self::Context) {
        self.apply_config(msg.0, msg.1, &msg.2);
    }
}

impl Handler<AgentChanged> for Supervisors {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: AgentChanged, _: &mut Self::Context) -> Self::Result {
        let store = self.store.clone();
        let id = msg.0.clone();
        Box::pin(
            load(store, msg.0)
                .into_actor(self)
                .map(move |loaded, act, _| {
                    let Some(addr) = act.running.get(&id).cloned() else {
                        return;
                    };
                    match loaded {
                        Ok(Some((row, config, ..))) => {
                            let provider = provider_for(
                                &row,
                                config.provider_kind,
                                &act.settings,
                                &act.secrets,
                                act.tools.knowledge(),
                            )
                            .unwrap_or_else(|e| Arc::new(retrieval::Unusable(e)));
                            addr.do_send(Reconfigure(config, provider, act.settings.clone()));
                        }
                        Ok(None) => {
                            // Deleted: stop admitting; conversations it holds go to humans on their next turn.
                            act.running.remove(&id);
                        }
                        Err(e) => tracing::warn!(agent = %id, error = %e, "agent reload failed"),
                    }
                }),
        )
    }
}

#[derive(Message)]
#[rtype(result = "AgentConfig")]
pub struct GetConfig;

impl Handler<GetConfig> for AgentSupervisor {
    type Result = MessageResult<GetConfig>;

    fn handle(&mut self, _: GetConfig, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.config.clone())
    }
}

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
            Err(e) => (StreamOutcome::Failed(e.reason().to_string()), 0.0),
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
    Failed(String),
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
        // Unlike a conversation, a stream may talk to a draft, inactive or disabled agent:
        // who may do so is the API's rule (`may_chat_with_agent`: admins and supervisors,
        // e.g. the wizard's test chat before publishing). Its rate limits apply all the same.
        if let Err(hit) = self.take_request() {
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
        self.ledger.roll(chrono::Utc::now().date_naive());
        let budget = self.budget();
        let reservation = self.ledger.try_reserve(&budget, estimate)?;
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
        self.ledger.roll(chrono::Utc::now().date_naive());
        let mut record = self.turn_record(None, "ok", None, msg.latency_ms);
        record.model = msg.model;
        match msg.outcome {
            StreamOutcome::Answered {
                prompt_tokens,
                completion_tokens,
                retries,
                model,
                cost,
            } => {
                self.ledger.settle(msg.reservation, cost);
                record.prompt_tokens = i64::try_from(prompt_tokens).unwrap_or(i64::MAX);
                record.completion_tokens = i64::try_from(completion_tokens).unwrap_or(i64::MAX);
                record.retries = i32::try_from(retries).unwrap_or(i32::MAX);
                record.cost_usd = cost;
                record.model = model;
            }
            StreamOutcome::Failed(reason) => {
                self.ledger.cancel(msg.reservation);
                record.status = if reason == "bad_response" {
                    "no_answer".into()
                } else {
                    "error".into()
                };
                record.error_reason = Some(reason);
            }
            StreamOutcome::Abandoned { estimate } => {
                self.ledger.settle(msg.reservation, estimate);
                record.status = "abandoned".into();
                record.cost_usd = estimate;
            }
        }
        self.finish_with_record(record, ())
    }
}
