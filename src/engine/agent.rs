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
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::config::{Price, Settings};
use crate::domain::agent::{AgentLimits, AgentSettings, ProviderKind};
use crate::domain::limits::{self, AdmissionSet, CostBudget, CostLedger, LimitHit};
use crate::domain::{AgentId, ConversationId, TenantId};
use crate::llm::prompt::{self, HistoryItem, PromptInput};
use crate::llm::{CompletionRequest, LlmError, OpenAiProvider, Provider, RetryPolicy};
use crate::secrets::SecretBox;
use crate::store::{agents, turns, Store, StoreError};

use crate::llm::retrieval::{self as retrieval, RetrievalProvider};

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
    store: &Store,
) -> Result<Arc<dyn Provider>, String> {
    use secrecy::ExposeSecret;
    match kind {
        ProviderKind::Retrieval => Ok(Arc::new(RetrievalProvider::new(
            store.clone(),
            row.tenant_id.clone(),
        ))),
        ProviderKind::Openai => {
            let key = match row.api_key(secrets).map_err(|e| e.to_string())? {
                Some(key) => key.expose_secret().to_string(),
                None => settings.llm.default_api_key.expose_secret().to_string(),
            };
            let base_url = row
                .provider_base_url
                .clone()
                .unwrap_or_else(|| settings.llm.default_base_url.clone());
            let provider = OpenAiProvider::new(
                &base_url,
                &key,
                Duration::from_millis(settings.llm.request_timeout_ms),
                RetryPolicy {
                    max_retries: settings.llm.max_retries,
                    initial_backoff: Duration::from_millis(settings.llm.retry_initial_backoff_ms),
                    max_backoff: Duration::from_millis(settings.llm.retry_max_backoff_ms),
                },
            )
            .map_err(|e| e.to_string())?;
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

/// The result of a turn that reached the provider.
#[derive(Debug, Clone)]
pub struct TurnDone {
    pub content: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    pub latency_ms: u64,
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
        settings: &Settings,
    ) {
        let (price, flagged) = settings.price_for(&config.model);
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
}

impl Handler<RunTurn> for AgentSupervisor {
    type Result = ResponseActFuture<Self, Result<TurnDone, TurnFailure>>;

    fn handle(&mut self, msg: RunTurn, _: &mut Self::Context) -> Self::Result {
        let messages = prompt::build(&PromptInput {
            system_prompt: &self.config.system_prompt,
            agent_name: &self.config.name,
            contact_name: msg.contact_name.as_deref(),
            history: &msg.history,
            pending: &msg.pending,
            knowledge: &[],
            memories: &[],
            condense_over_chars: msg.condense_over_chars,
        });
        let prompt_chars: usize = messages.iter().map(|m| m.content.chars().count()).sum();
        let estimate = limits::estimate_cost(
            prompt_chars,
            self.config.max_tokens,
            self.price.prompt,
            self.price.completion,
        );
        self.ledger.roll(chrono::Utc::now().date_naive());
        let admitted = if self.config.active {
            self.take_request()
                .and_then(|()| self.ledger.try_reserve(&self.budget(), estimate))
        } else {
            Err(LimitHit::MaxConversations)
        };
        let reservation = match admitted {
            Ok(reservation) => reservation,
            Err(hit) => {
                let record =
                    self.turn_record(&msg.conversation_id, "limited", Some(hit.as_str()), None, 0);
                let store = self.store.clone();
                return Box::pin(
                    async move {
                        if let Err(e) = store.run(move |conn| turns::insert(conn, &record)).await {
                            tracing::warn!(error = %e, "turn log write failed");
                        }
                        Err(TurnFailure::Limited(hit))
                    }
                    .into_actor(self),
                );
            }
        };
        let request = CompletionRequest {
            model: self.config.model.clone(),
            temperature: self.config.temperature,
            max_tokens: self.config.max_tokens,
            messages,
        };
        let provider = self.provider.clone();
        let started = Instant::now();
        let conversation_id = msg.conversation_id;
        Box::pin(
            async move { provider.complete(request).await }
                .into_actor(self)
                .then(move |result, act, _| {
                    let latency_ms =
                        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    let (outcome, record) = match result {
                        Ok(reply) => {
                            let cost = limits::actual_cost(
                                reply.prompt_tokens,
                                reply.completion_tokens,
                                act.price.prompt,
                                act.price.completion,
                            );
                            act.ledger.settle(reservation, cost);
                            let mut record = act.turn_record(
                                &conversation_id,
                                "ok",
                                None,
                                Some(&reply),
                                latency_ms,
                            );
                            record.cost_usd = cost;
                            (
                                Ok(TurnDone {
                                    content: reply.content,
                                    prompt_tokens: reply.prompt_tokens,
                                    completion_tokens: reply.completion_tokens,
                                    cost_usd: cost,
                                    latency_ms,
                                }),
                                record,
                            )
                        }
                        Err(LlmError::BadResponse(reason)) if reason == retrieval::NO_MATCH => {
                            act.ledger.cancel(reservation);
                            let record = act.turn_record(
                                &conversation_id,
                                "no_answer",
                                Some("no_knowledge_match"),
                                None,
                                latency_ms,
                            );
                            (
                                Err(TurnFailure::NoAnswer("no_knowledge_match".into())),
                                record,
                            )
                        }
                        Err(e) => {
                            act.ledger.cancel(reservation);
                            let record = act.turn_record(
                                &conversation_id,
                                "error",
                                Some(e.reason()),
                                None,
                                latency_ms,
                            );
                            (Err(TurnFailure::Provider(e)), record)
                        }
                    };
                    let store = act.store.clone();
                    let today = chrono::Utc::now().date_naive();
                    async move {
                        let write = store
                            .run(move |conn| {
                                turns::insert(conn, &record)?;
                                if record.status == "ok" {
                                    for period in
                                        [turns::day_period(today), turns::month_period(today)]
                                    {
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
                    .into_actor(act)
                }),
        )
    }
}

impl AgentSupervisor {
    fn turn_record(
        &self,
        conversation: &ConversationId,
        status: &str,
        error_reason: Option<&str>,
        reply: Option<&crate::llm::CompletionReply>,
        latency_ms: u64,
    ) -> turns::AiTurn {
        turns::AiTurn {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: self.config.tenant_id.clone(),
            agent_id: self.config.id.clone(),
            sub_agent_id: None,
            conversation_id: Some(conversation.clone()),
            model: reply.map_or_else(|| self.config.model.clone(), |r| r.model.clone()),
            provider: match self.config.provider_kind {
                ProviderKind::Openai => "openai".into(),
                ProviderKind::Retrieval => "retrieval".into(),
            },
            status: status.into(),
            error_reason: error_reason.map(str::to_string),
            prompt_tokens: reply.map_or(0, |r| i64::try_from(r.prompt_tokens).unwrap_or(i64::MAX)),
            completion_tokens: reply.map_or(0, |r| {
                i64::try_from(r.completion_tokens).unwrap_or(i64::MAX)
            }),
            cost_usd: 0.0,
            latency_ms: i64::try_from(latency_ms).unwrap_or(i64::MAX),
            retries: reply.map_or(0, |r| i32::try_from(r.retries).unwrap_or(i32::MAX)),
            tools_used: "[]".into(),
            price_flagged: self.price_flagged,
            tokens_saved: 0,
            created_at: crate::store::now(),
        }
    }
}

/// Finds (starting on first use) the supervisor of each agent.
pub struct Supervisors {
    running: HashMap<AgentId, Addr<AgentSupervisor>>,
    store: Store,
    settings: Arc<Settings>,
    secrets: Arc<SecretBox>,
}

impl Supervisors {
    pub fn new(store: Store, settings: Arc<Settings>, secrets: Arc<SecretBox>) -> Self {
        Supervisors {
            running: HashMap::new(),
            store,
            settings,
            secrets,
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
            let provider = match provider_for(&row, config.provider_kind, &act.settings, &act.secrets, &act.store) {
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
                                &act.store,
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
