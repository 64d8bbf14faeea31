//! AgentSupervisor: one actor per AI agent, split by concern. This file holds the actor, its
//! configuration and the admission messages; every limit (enabled, `max_conversations`,
//! request rates, cost budgets) is one pure gate, `domain::limits::AgentGate`, which turns,
//! side calls and streams all pass. `turn.rs` is the turn pipeline, `side_calls.rs` the
//! small completions (memory, classification, summary), `stream.rs` the live chat streams;
//! automations run through `engine::automation`, and `llm::factory` builds the provider.
//!
//! Admission rules: a conversation holds its slot while it is live and owned by the agent; the
//! slot is released when the conversation is closed, escalated or reassigned, and when its
//! actor passivates with nothing left to answer (an idle conversation does not block new
//! customers). A later message re-requests admission.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;

use super::events::EventBus;
use crate::config::{Price, Settings};
use crate::domain::agent::{AgentLimits, AgentSettings, ProviderKind};
use crate::domain::escalation::EscalationReason;
use crate::domain::limits::{AgentGate, Ask, CostBudget, LimitHit, RateLimits, WindowKind};
use crate::domain::{AgentId, ConversationId, TenantId};
use crate::engine::writer::MessageWriter;
use crate::llm::factory::{self, ProviderSpec};
use crate::llm::retrieval;
use crate::llm::{LlmError, Provider};
use crate::secrets::SecretBox;
use crate::store::{agents, request_windows, turns, Store, StoreError};
use crate::tools::ToolRuntime;

pub use crate::tools::Effect;

mod request_counts;
mod side_calls;
mod stream;
mod turn;
pub use request_counts::RecordRequests;
pub use side_calls::SideCall;
pub use stream::{OpenStream, StreamEnd, StreamRefused, StreamTicket};
pub use turn::RunTurn;

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

/// The agent's provider, from its row: its own key opened here, the rest in
/// [`factory::provider_for`].
fn provider_for(
    row: &agents::AiAgent,
    kind: ProviderKind,
    settings: &Settings,
    secrets: &SecretBox,
    knowledge: &crate::knowledge::KnowledgeIndex,
) -> Result<Arc<dyn Provider>, String> {
    let spec = ProviderSpec {
        tenant_id: &row.tenant_id,
        agent_id: &row.id,
        kind,
        base_url: row.provider_base_url.clone(),
        api_key: row.api_key(secrets).map_err(|e| e.to_string())?,
    };
    factory::provider_for(spec, settings, knowledge)
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
    #[error("no answer: no knowledge passage matched")]
    NoAnswer,
    #[error("agent unavailable: {0}")]
    Unavailable(String),
}

impl TurnFailure {
    /// Why the conversation goes to a human when this failure ends the AI's attempts.
    pub fn escalation_reason(&self) -> EscalationReason {
        match self {
            TurnFailure::Limited(hit) => EscalationReason::LimitReached(*hit),
            TurnFailure::Provider(e) => EscalationReason::Provider(e.fault()),
            TurnFailure::NoAnswer => EscalationReason::NoKnowledgeMatch,
            TurnFailure::Unavailable(_) => EscalationReason::AgentUnavailable,
        }
    }
}

pub struct AgentSupervisor {
    config: AgentConfig,
    provider: Arc<dyn Provider>,
    /// Enabled, conversation slots, request rates and cost budgets, checked in one place.
    gate: AgentGate,
    price: Price,
    price_flagged: bool,
    store: Store,
    /// Turn logs of a conversation go behind its reply through the message writer.
    writer: MessageWriter,
    settings: Arc<Settings>,
    tools: ToolRuntime,
    /// Where live answer pieces go (the hub relays them to the conversation's room).
    events: EventBus,
    /// Consecutive failed tool calls per conversation (see [`TurnDone::tool_failures`]).
    tool_failures: HashMap<ConversationId, u32>,
    /// Sub-agents, tools and automations as the last turn read them (`None`: read them).
    setup: Option<Arc<turn::AgentSetup>>,
    /// Moves on at every change: a read that started before one is not kept.
    setup_epoch: u64,
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
        self.gate.configure(
            config.active,
            config.max_conversations,
            RateLimits {
                per_minute: config.limits.requests_per_minute,
                per_hour: config.limits.requests_per_hour,
                per_day: config.limits.requests_per_day,
            },
            CostBudget {
                daily_usd: config.limits.daily_cost_usd,
                monthly_usd: config.limits.monthly_cost_usd,
            },
        );
        self.price = price;
        self.price_flagged = flagged;
        self.provider = provider;
        self.config = config;
    }
}

impl Actor for AgentSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.record_requests_periodically(ctx);
    }
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
        self.gate.admit(Ask::Conversation(msg.0.as_str()))
    }
}

impl Handler<Release> for AgentSupervisor {
    type Result = ();

    fn handle(&mut self, msg: Release, _: &mut Self::Context) {
        self.gate.release(msg.0.as_str());
        self.tool_failures.remove(&msg.0);
    }
}

impl Handler<GetLoad> for AgentSupervisor {
    type Result = MessageResult<GetLoad>;

    fn handle(&mut self, _: GetLoad, _: &mut Self::Context) -> Self::Result {
        let (active, max) = self.gate.load();
        MessageResult(AgentLoad {
            active: u32::try_from(active).unwrap_or(u32::MAX),
            max,
            enabled: self.gate.enabled(),
            specialties: self.config.specialties.clone(),
        })
    }
}

/// Finds (starting on first use) the supervisor of each agent.
pub struct Supervisors {
    running: HashMap<AgentId, Addr<AgentSupervisor>>,
    store: Store,
    writer: MessageWriter,
    settings: Arc<Settings>,
    secrets: Arc<SecretBox>,
    tools: ToolRuntime,
    events: EventBus,
}

impl Supervisors {
    pub fn new(
        store: Store,
        writer: MessageWriter,
        settings: Arc<Settings>,
        secrets: Arc<SecretBox>,
        events: EventBus,
        knowledge: crate::knowledge::KnowledgeIndex,
        clock: crate::engine::clock::Clock,
    ) -> Self {
        let tools = ToolRuntime::new(
            store.clone(),
            &settings.outbound,
            secrets.clone(),
            knowledge,
            clock,
            crate::tools::Booking {
                calendar: settings.calendar.clone(),
                links: crate::engine::booking::MeetingLinks::from_settings(&settings),
            },
        );
        Supervisors {
            running: HashMap::new(),
            store,
            writer,
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

/// An agent as the supervisor starts from: its row and config, its open conversations, what
/// it spent today and this month, and its requests in the current rate windows.
type Loaded = (
    agents::AiAgent,
    AgentConfig,
    Vec<ConversationId>,
    f64,
    f64,
    Vec<(WindowKind, u32)>,
);

async fn load(store: Store, id: AgentId) -> Result<Option<Loaded>, StoreError> {
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
            let used = request_windows::used(conn, &id, chrono::Utc::now().timestamp())?;
            Ok(Some((row, config, open, day, month, used)))
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
            let Some((row, config, open, day_spent, month_spent, used)) = loaded? else {
                return Ok(None);
            };
            let provider = match provider_for(&row, config.provider_kind, &act.settings, &act.secrets, act.tools.knowledge()) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(agent = %id, error = %e, "agent provider unusable; answers go to humans");
                    Arc::new(retrieval::Unusable(e)) as Arc<dyn Provider>
                }
            };
            let mut supervisor = AgentSupervisor {
                config: config.clone(),
                provider: provider.clone(),
                gate: AgentGate::new(chrono::Utc::now().date_naive()),
                price: act.settings.llm.default_price,
                price_flagged: true,
                store: act.store.clone(),
                writer: act.writer.clone(),
                settings: act.settings.clone(),
                tools: act.tools.clone(),
                events: act.events.clone(),
                tool_failures: HashMap::new(),
                setup: None,
                setup_epoch: 0,
            };
            supervisor.apply_config(config, provider, &act.settings);
            supervisor.gate.resume(open.iter().map(ConversationId::as_str), day_spent, month_spent);
            supervisor.gate.resume_requests(&used);
            let addr = supervisor.start();
            act.running.insert(id, addr.clone());
            Ok(Some(addr))
        }))
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Reconfigure(
    AgentConfig,
    Arc<dyn Provider>,
    Arc<Settings>,
    Vec<(WindowKind, u32)>,
);

/// The agent's sub-agents, tools or automations may have changed.
#[derive(Message)]
#[rtype(result = "()")]
struct ForgetSetup;

impl Handler<ForgetSetup> for AgentSupervisor {
    type Result = ();

    fn handle(&mut self, _: ForgetSetup, _: &mut Self::Context) {
        self.setup = None;
        self.setup_epoch += 1;
    }
}

impl Handler<Reconfigure> for AgentSupervisor {
    type Result = ();

    fn handle(&mut self, msg: Reconfigure, _: &mut Self::Context) {
        self.apply_config(msg.0, msg.1, &msg.2);
        // The new windows start from what the old ones had used (stored and not yet).
        self.gate.resume_requests(&msg.3);
    }
}

impl Handler<AgentChanged> for Supervisors {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: AgentChanged, _: &mut Self::Context) -> Self::Result {
        // At once, whatever the reload below finds: the next turn reads the setup again.
        if let Some(addr) = self.running.get(&msg.0) {
            addr.do_send(ForgetSetup);
        }
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
                        Ok(Some((row, config, _, _, _, used))) => {
                            let provider = provider_for(
                                &row,
                                config.provider_kind,
                                &act.settings,
                                &act.secrets,
                                act.tools.knowledge(),
                            )
                            .unwrap_or_else(|e| Arc::new(retrieval::Unusable(e)));
                            addr.do_send(Reconfigure(config, provider, act.settings.clone(), used));
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

/// Cluster mode: this node lost the tenant's lease; its agents' supervisors stop (their
/// counts are the new owner's now, which reads them back from the store).
#[derive(Message)]
#[rtype(result = "()")]
pub struct EvictTenant(pub TenantId);

impl Handler<EvictTenant> for Supervisors {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: EvictTenant, _: &mut Self::Context) -> Self::Result {
        let running: Vec<(AgentId, Addr<AgentSupervisor>)> = self
            .running
            .iter()
            .map(|(id, addr)| (id.clone(), addr.clone()))
            .collect();
        Box::pin(
            async move {
                let mut theirs = Vec::new();
                for (id, addr) in running {
                    if let Ok(config) = addr.send(GetConfig).await {
                        if config.tenant_id == msg.0 {
                            theirs.push(id);
                        }
                    }
                }
                theirs
            }
            .into_actor(self)
            .map(|theirs, act, _| {
                for id in theirs {
                    act.running.remove(&id);
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
