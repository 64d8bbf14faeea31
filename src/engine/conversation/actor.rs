//! ConversationActor: one per live conversation and the only writer of its state, so each
//! conversation is serialized without locks. The rules live in [`ConversationState`]; the
//! actor feeds it events and performs the effects it returns (timers, store writes, asking
//! the agent's supervisor and the distributor, publishing events), turning their results
//! back into events. The state is durable in the store at every step, so the actor can
//! passivate when idle and be rehydrated later.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::NaiveDateTime;
use rand::Rng;

use super::messages::{
    Assign, Close, CustomerMessage, Edit, Escalate, EscalationTimeoutDue, FollowupDue, HumanReply,
    Relinquish, Resume, Take, Transfer, TryPassivate,
};
use super::state::{
    AttachedAgent, ConversationState, Effect, Event, LastReply, OwnerWrite, Rules, Snapshot,
    StoredReply,
};
use crate::domain::conversation::{Owner, SenderType, Status};
use crate::domain::desk::TransferTarget;
use crate::domain::role::{may_open_conversation, may_take};
use crate::domain::tool_state::ToolState;
use crate::domain::{classification, escalation};
use crate::domain::{ContactId, ConversationId, IntegrationId, TenantId, UserId};
use crate::engine::agent::{
    Admit, AgentConfig, AgentSupervisor, GetConfig, Release, RunTurn, SupervisorOf, TurnDone,
    TurnFailure,
};
use crate::engine::distributor::{CapacityFreed, RequestAssignment};
use crate::engine::events::{AiTyping, EngineEvent};
use crate::engine::insights::{self, FeedbackRecord, MemoryAgent, MemoryJob};
use crate::engine::sender::ReplyTarget;
use crate::engine::writer::{AlongWith, Answered, Fence, Stored};
use crate::engine::{EngineError, EngineParts};
use crate::llm::prompt::HistoryItem;
use crate::store::conversations::{self, OwnerChange};
use crate::store::csat::{self, CsatRating};
use crate::store::escalation as escalation_store;
use crate::store::integrations::Integration;
use crate::store::messages::{self, Message, NewMessage};
use crate::store::ownership;
use crate::store::timers::{self, TimerKind};
use crate::store::{contacts, users, DbConn, StoreError, StoreResult};

/// Messages read at rehydration to find an AI reply still waiting for the customer's
/// reaction (the reply and the customer messages it answered).
const LAST_REPLY_LOOKBACK: i64 = 20;

/// What the actor loaded when it (re)started and keeps for performing effects.
struct Loaded {
    tenant_id: TenantId,
    contact_id: ContactId,
    contact_name: Option<String>,
    contact_external_id: Option<String>,
    /// Shared with the integration cache (an idle conversation holds no copy of its own).
    integration: Option<Arc<Integration>>,
    /// The conversation's channel (CSAT is reported by it).
    channel: String,
    /// When the conversation was queued (or created), for the distributor's order.
    queued_at: NaiveDateTime,
    /// When it started: the escalation timeout counts from here.
    started_at: NaiveDateTime,
}

pub struct ConversationActor {
    id: ConversationId,
    /// Shared with every other actor (live conversations are many; each one's size counts).
    parts: Arc<EngineParts>,
    rules: Rules,
    /// Boxed: most of an idle actor's bytes, kept off the actor's own allocation.
    loaded: Option<Box<Loaded>>,
    state: Option<ConversationState>,
    timer: Option<SpawnHandle>,
    /// The attached agent's supervisor (`state.agent()` is its rules side).
    /// Boxed: most live conversations have no AI agent attached, and the pair is large.
    supervisor: Option<Box<(AgentConfig, Addr<AgentSupervisor>)>>,
    /// The AI is writing (a turn or its humanized delay runs): followers were told.
    typing: bool,
    /// Answered when the channel's "typing…" call of the running turn is done: the reply
    /// waits for it (`typing.reply_wait_ms` at most), so it never arrives first.
    presence_done: Option<tokio::sync::oneshot::Receiver<()>>,
    /// A conversation the webhook just opened starts from the rows it committed.
    seed: Option<Box<Seed>>,
}

/// What the inbound batch that opened a conversation committed: the conversation, its
/// contact and its first message. A new actor starts from them instead of reading them back.
pub struct Seed {
    pub conversation: conversations::Conversation,
    pub contact: contacts::Contact,
    pub message: Message,
}

impl ConversationActor {
    pub fn new(id: ConversationId, parts: Arc<EngineParts>) -> Self {
        let rules = parts.rules.clone();
        ConversationActor {
            id,
            parts,
            rules,
            loaded: None,
            state: None,
            timer: None,
            supervisor: None,
            typing: false,
            presence_done: None,
            seed: None,
        }
    }

    /// A conversation the webhook just opened, started from what it committed.
    pub fn seeded(id: ConversationId, parts: Arc<EngineParts>, seed: Seed) -> Self {
        ConversationActor {
            seed: Some(Box::new(seed)),
            ..Self::new(id, parts)
        }
    }

    fn is_closed(&self) -> bool {
        self.state.as_ref().is_none_or(ConversationState::is_closed)
    }

    /// The fence of this conversation's writes: its tenant's lease (cluster mode). Before the
    /// conversation is loaded no tenant is known, and no lease matches the empty one.
    fn fence(&self) -> Fence {
        Fence::Owner(
            self.loaded
                .as_ref()
                .map_or_else(|| TenantId(String::new()), |l| l.tenant_id.clone()),
        )
    }

    /// A write of this conversation's own rows through the writer, under its tenant's fence:
    /// the future of its commit (nothing runs until it is awaited). `write` gets the id.
    fn write_own<F>(&self, write: F) -> impl std::future::Future<Output = StoreResult<()>> + 'static
    where
        F: Fn(&mut DbConn, &ConversationId) -> StoreResult<()> + Send + 'static,
    {
        let writer = self.parts.writer.clone();
        let (id, fence) = (self.id.clone(), self.fence());
        async move {
            let row = id.clone();
            writer
                .write(&id, fence, Box::new(move |conn| write(conn, &row)))
                .await
        }
    }

    /// Feeds one event to the state and performs what it asks for.
    fn step(&mut self, event: Event, ctx: &mut Context<Self>) {
        let Some(state) = self.state.as_mut() else {
            return;
        };
        let effects = state.handle(event, &self.rules, Instant::now());
        self.perform(effects, ctx);
        self.sync_typing();
    }

    /// Tells followers (and the channel, where it shows it) when the AI starts or stops
    /// writing: from the turn's start until its reply is stored or dropped.
    fn sync_typing(&mut self) {
        let (Some(state), Some(loaded)) = (&self.state, &self.loaded) else {
            return;
        };
        let busy = state.turn_in_flight() && state.agent().is_some();
        if busy == self.typing {
            return;
        }
        self.typing = busy;
        self.parts.events.publish_typing(AiTyping {
            tenant_id: loaded.tenant_id.clone(),
            conversation_id: self.id.clone(),
            agent_id: state.agent().map(|a| a.id.to_string()),
            is_typing: busy,
        });
        if !busy {
            self.presence_done = None;
            return;
        }
        let (Some(integration), Some(external)) =
            (&loaded.integration, &loaded.contact_external_id)
        else {
            return;
        };
        let (done, presence_done) = tokio::sync::oneshot::channel();
        self.presence_done = Some(presence_done);
        let presence = self.parts.presence.clone();
        let (integration, external) = (integration.clone(), external.clone());
        let id = self.id.clone();
        actix::spawn(async move {
            if let Err(e) = presence.composing(&integration, &external).await {
                tracing::warn!(conversation = %id, integration = %integration.id, error = %e, "typing presence not shown");
            }
            let _ = done.send(());
        });
    }

    /// Brings the tenant's run-time settings into the rules, then runs `then`: at once when
    /// they are cached (the common case), else after loading them, before any other message
    /// is handled. A PATCH invalidates the cache, so the next event follows it.
    fn with_current_rules<F>(&mut self, ctx: &mut Context<Self>, then: F)
    where
        F: FnOnce(&mut Self, &mut Context<Self>) + 'static,
    {
        let Some(tenant) = self.loaded.as_ref().map(|l| l.tenant_id.clone()) else {
            then(self, ctx);
            return;
        };
        if let Some(current) = self.parts.tenant_settings.cached(&tenant) {
            self.rules.tenant = current;
            then(self, ctx);
            return;
        }
        let cache = self.parts.tenant_settings.clone();
        ctx.wait(
            async move { cache.get(&tenant).await }
                .into_actor(self)
                .map(move |loaded, act, ctx| {
                    match loaded {
                        Ok(current) => act.rules.tenant = current,
                        // The last known settings stand; the next event tries again.
                        Err(e) => {
                            tracing::warn!(conversation = %act.id, error = %e, "tenant settings not loaded")
                        }
                    }
                    then(act, ctx);
                }),
        );
    }

    /// Whether humans are out of the tenant's business hours now.
    fn out_of_hours(&self) -> bool {
        !self
            .rules
            .tenant
            .business_hours
            .is_open(self.parts.clock.now_utc())
    }

    fn publish(&self, event: EngineEvent) {
        if let Some(loaded) = &self.loaded {
            self.parts
                .events
                .publish(&loaded.tenant_id, Some(&self.id), event);
        }
    }

    fn perform(&mut self, effects: Vec<Effect>, ctx: &mut Context<Self>) {
        for effect in effects {
            self.perform_one(effect, ctx);
        }
    }

    fn perform_one(&mut self, effect: Effect, ctx: &mut Context<Self>) {
        match effect {
            Effect::SetTimer { id, after } => {
                if let Some(handle) = self.timer.take() {
                    ctx.cancel_future(handle);
                }
                self.timer = Some(ctx.run_later(after, move |act, ctx| {
                    act.timer = None;
                    act.step(Event::TimerFired { id }, ctx);
                }));
            }
            Effect::CancelTimer => {
                if let Some(handle) = self.timer.take() {
                    ctx.cancel_future(handle);
                }
            }
            Effect::AttachAgent(agent) => self.attach_agent(agent, ctx),
            Effect::ReleaseAgent => self.release_agent(),
            Effect::RequestAssignment { humans_only } => self.request_assignment(humans_only),
            Effect::RunTurn {
                first_seq,
                pending,
                tool_results,
            } => self.run_turn(first_seq, pending, tool_results, ctx),
            Effect::DelayReply {
                done,
                up_to,
                min_seconds,
                max_seconds,
            } => {
                let delay = humanized_delay(min_seconds, max_seconds);
                let presence = self.presence_done.take();
                let cap = Duration::from_millis(self.parts.settings.typing.reply_wait_ms);
                // Still the turn's work: a graceful shutdown waits for the reply.
                let in_flight = self.parts.turns.enter();
                let wait = async move {
                    let typed = async {
                        if let Some(presence) = presence {
                            let _ = tokio::time::timeout(cap, presence).await;
                        }
                    };
                    futures::join!(tokio::time::sleep(delay), typed);
                };
                ctx.spawn(wait.into_actor(self).map(move |(), act, ctx| {
                    act.step(Event::ReplyDue { done, up_to }, ctx);
                    drop(in_flight);
                }));
            }
            Effect::StoreReply {
                done,
                agent_id,
                up_to,
            } => self.store_reply(done, agent_id.to_string(), up_to, ctx),
            Effect::SendSystem(text) => {
                let new = self.outbound(SenderType::System, None, text, "{}".into());
                self.send_stored(new, "system message", ctx);
            }
            Effect::AskRating { question } => self.ask_rating(question, ctx),
            Effect::SendFollowup { text, sender_id } => {
                let metadata = serde_json::json!({ "followup": true }).to_string();
                let new = self.outbound(SenderType::AiAgent, sender_id, text, metadata);
                self.send_stored(new, "follow-up", ctx);
            }
            Effect::WriteOwner { write, previous } => {
                let write = self.owner_write(write, previous);
                ctx.wait(write.into_actor(self).map(|result, act, _| {
                    if let Err(e) = result {
                        tracing::error!(conversation = %act.id, error = %e, "owner change not stored");
                    }
                }));
            }
            Effect::SaveToolState(json) => {
                ctx.wait(
                    self.write_own(move |conn, id| conversations::set_tool_state(conn, id, &json))
                        .into_actor(self)
                    .map(|result, act, _| {
                        if let Err(e) = result {
                            tracing::error!(conversation = %act.id, error = %e, "tool state not stored");
                        }
                    }),
                );
            }
            Effect::Publish(event) => self.publish(event),
            Effect::RecordFeedback {
                customer_message_id,
                reply,
                detection,
            } => {
                let Some(loaded) = &self.loaded else { return };
                tracing::info!(
                    tenant = %loaded.tenant_id,
                    conversation = %self.id,
                    kind = detection.kind.as_str(),
                    score = detection.score,
                    "negative feedback on an AI reply"
                );
                let record = FeedbackRecord {
                    tenant: loaded.tenant_id.clone(),
                    conversation: self.id.clone(),
                    reply_message_id: reply.message_id,
                    customer_message_id,
                    agent: reply.agent_id,
                    detection,
                };
                let event = record.event();
                // Announced once durable, so a listener that reads analytics on the event
                // counts it.
                ctx.spawn(
                    insights::record_feedback(self.parts.store.clone(), record)
                        .into_actor(self)
                        .map(move |result, act, _| match result {
                            Ok(()) => act.publish(event),
                            Err(e) => {
                                tracing::error!(conversation = %act.id, error = %e, "feedback not stored")
                            }
                        }),
                );
            }
            Effect::ClassifyWithLlm { text, route } => {
                let Some(state) = &self.state else { return };
                let vip = state.snapshot().vip;
                let agent = state.owner().agent().cloned().or_else(|| {
                    self.loaded
                        .as_ref()
                        .and_then(|l| l.integration.as_ref())
                        .and_then(|i| i.default_agent_id.clone())
                });
                let work = insights::classify(
                    self.parts.settings.clone(),
                    self.parts.supervisors.clone(),
                    agent,
                    self.id.clone(),
                    text,
                    vip,
                );
                // Routing needs the category: nothing else is handled until it is known.
                ctx.wait(work.into_actor(self).map(move |result, act, ctx| {
                    act.step(Event::Classified { result, route }, ctx)
                }));
            }
            Effect::StoreClassification(result) => {
                if let Some(loaded) = &self.loaded {
                    tracing::info!(
                        tenant = %loaded.tenant_id,
                        conversation = %self.id,
                        category = result.category.as_str(),
                        priority = result.priority.as_str(),
                        confidence = result.confidence,
                        "conversation classified"
                    );
                }
                // Group-committed on the conversation's lane, ahead of its later writes; the
                // state already holds the category routing needs, so nothing waits for it.
                let stored = self
                    .write_own(move |conn, id| insights::store_classification(conn, id, &result));
                ctx.spawn(stored.into_actor(self).map(|stored, act, _| {
                    if let Err(e) = stored {
                        tracing::error!(conversation = %act.id, error = %e, "classification not stored");
                    }
                }));
            }
            Effect::ExtractMemories { every, with_agent } => {
                self.extract_memories(every, with_agent, ctx)
            }
            // Through the mailbox, so they run the same checks as an operator's request.
            Effect::Assign(owner) => ctx.notify(Assign {
                owner,
                admitted: false,
                only_if_unowned: false,
            }),
            Effect::Close(reason) => ctx.notify(Close { reason }),
            Effect::CapacityFreed => {
                if let Some(loaded) = &self.loaded {
                    self.parts
                        .distributor
                        .do_send(CapacityFreed(loaded.tenant_id.clone()));
                }
            }
            Effect::ArmEscalationTimeout { agent_id, minutes } => {
                self.arm_escalation_timeout(agent_id, minutes, ctx)
            }
        }
    }

    /// Stores the conversation's escalation timeout: durable, so it fires after a restart,
    /// and keyed by the conversation, so arming it again (each time an agent is attached)
    /// keeps the first one.
    fn arm_escalation_timeout(
        &mut self,
        agent_id: crate::domain::AgentId,
        minutes: u32,
        ctx: &mut Context<Self>,
    ) {
        let Some(loaded) = &self.loaded else { return };
        let Some(fire_at) = escalation::timeout_at(loaded.started_at, minutes) else {
            return;
        };
        let timer = timers::Timer {
            id: format!("{}:{}", TimerKind::EscalationTimeout, self.id),
            tenant_id: loaded.tenant_id.clone(),
            conversation_id: self.id.clone(),
            kind: TimerKind::EscalationTimeout.as_str().into(),
            fire_at,
            payload: serde_json::json!({ "agent_id": agent_id }).to_string(),
            fired: false,
            created_at: self.parts.clock.now(),
        };
        let store = self.parts.store.clone();
        ctx.spawn(
            async move { store.run(move |conn| timers::insert_once(conn, &timer)).await }
                .into_actor(self)
                .map(move |result, act, _| match result {
                    Ok(true) => {
                        tracing::debug!(conversation = %act.id, %fire_at, "escalation timeout armed")
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(conversation = %act.id, error = %e, "escalation timeout not stored")
                    }
                }),
        );
    }

    /// The recurring-problem rule of an agent about to take a conversation that nobody
    /// answered yet: how many other conversations of the contact on the same category fall
    /// in the agent's window. `None` when the rule does not apply.
    fn recurring_check(&self) -> Option<RecurringCheck> {
        let (loaded, state) = (self.loaded.as_ref()?, self.state.as_ref()?);
        let snapshot = state.snapshot();
        if snapshot.answered_before {
            return None;
        }
        Some(RecurringCheck {
            tenant: loaded.tenant_id.clone(),
            contact: loaded.contact_id.clone(),
            conversation: self.id.clone(),
            category: snapshot.category.clone()?,
            now: self.parts.clock.now(),
            store: self.parts.store.clone(),
        })
    }

    /// Asks the agent's supervisor to admit the conversation before anything else is
    /// handled.
    fn attach_agent(&mut self, agent_id: crate::domain::AgentId, ctx: &mut Context<Self>) {
        let supervisors = self.parts.supervisors.clone();
        let conversation = self.id.clone();
        let recurring = self.recurring_check();
        ctx.wait(
            async move {
                let addr = supervisors
                    .send(SupervisorOf(agent_id))
                    .await
                    .ok()?
                    .ok()??;
                let config = addr.send(GetConfig).await.ok()?;
                // A returning problem goes to a human before the agent takes a slot.
                if let Some(check) = recurring {
                    if check.applies(&config.settings).await {
                        return Some(Attach::Recurring);
                    }
                }
                let admitted = addr.send(Admit(conversation)).await.ok()?;
                Some(Attach::Answered(Box::new(config), addr, admitted))
            }
            .into_actor(self)
            .map(|found, act, ctx| match found {
                Some(Attach::Recurring) => act.step(Event::RecurringProblem, ctx),
                Some(Attach::Answered(config, addr, Ok(()))) => {
                    let agent = AttachedAgent {
                        id: config.id.clone(),
                        settings: config.settings.clone(),
                    };
                    act.supervisor = Some(Box::new((*config, addr)));
                    act.step(Event::AgentAttached(agent), ctx);
                }
                Some(Attach::Answered(config, _, Err(hit))) => {
                    act.supervisor = None;
                    let event = Event::AgentRefused {
                        reason: hit,
                        on_limit: config.settings.on_limit,
                    };
                    act.step(event, ctx);
                }
                None => act.step(Event::AgentUnavailable, ctx),
            }),
        );
    }

    fn release_agent(&mut self) {
        if let Some((_, supervisor)) = self.supervisor.take().map(|pair| *pair) {
            supervisor.do_send(Release(self.id.clone()));
            if let Some(loaded) = &self.loaded {
                // A slot freed: queued conversations of the tenant may now be taken.
                self.parts
                    .distributor
                    .do_send(CapacityFreed(loaded.tenant_id.clone()));
            }
        }
    }

    fn request_assignment(&self, humans_only: bool) {
        let (Some(loaded), Some(state)) = (&self.loaded, &self.state) else {
            return;
        };
        let snapshot = state.snapshot();
        self.parts.distributor.do_send(RequestAssignment {
            conversation_id: self.id.clone(),
            tenant_id: loaded.tenant_id.clone(),
            contact_id: loaded.contact_id.clone(),
            preferred_agent: if humans_only {
                None
            } else {
                loaded
                    .integration
                    .as_ref()
                    .and_then(|i| i.default_agent_id.clone())
            },
            humans_only,
            priority: snapshot.priority.clone(),
            specialty: snapshot.category.clone(),
            queued_at: loaded.queued_at,
            exclude: None,
            department: None,
        });
    }

    /// Runs one AI turn at the agent's supervisor over the history before `first_seq`.
    fn run_turn(
        &mut self,
        first_seq: i64,
        pending: Vec<String>,
        tool_results: Vec<String>,
        ctx: &mut Context<Self>,
    ) {
        let (Some((config, supervisor)), Some(loaded)) = (self.supervisor.as_deref(), &self.loaded)
        else {
            let failure = TurnFailure::Unavailable("no agent attached".into());
            ctx.notify_later(TurnResult(Err(failure)), Duration::ZERO);
            return;
        };
        let window = i64::from(config.settings.history_window.max(1));
        let store = self.parts.store.clone();
        let supervisor = supervisor.clone();
        let conversation_id = self.id.clone();
        let contact_name = loaded.contact_name.clone();
        let (tenant_id, contact_id, channel) = (
            loaded.tenant_id.clone(),
            loaded.contact_id.clone(),
            loaded.channel.clone(),
        );
        let condense = self.parts.settings.engine.condense_over_chars;
        let in_flight = self.parts.turns.enter();
        let turn = async move {
            let _in_flight = in_flight;
            // A conversation's `seq`s start at 1: a turn over its first messages has no
            // history, and a new conversation's first turn reads nothing.
            let recent = if first_seq <= 1 {
                Vec::new()
            } else {
                store
                    .run({
                        let id = conversation_id.clone();
                        move |conn| messages::recent(conn, &id, window + 64)
                    })
                    .await
                    .map_err(|e| TurnFailure::Unavailable(e.to_string()))?
            };
            let mut history: Vec<HistoryItem> = recent
                .into_iter()
                .filter(|m| m.seq < first_seq)
                .map(|m| HistoryItem {
                    from_customer: m.sender_type == SenderType::Contact,
                    content: m.content,
                })
                .collect();
            let keep = usize::try_from(window).unwrap_or(usize::MAX);
            if history.len() > keep {
                history.drain(..history.len() - keep);
            }
            supervisor
                .send(RunTurn {
                    conversation_id,
                    tenant_id,
                    contact_id,
                    channel,
                    contact_name,
                    history,
                    pending,
                    condense_over_chars: condense,
                    tool_results,
                })
                .await
                .map_err(|e| TurnFailure::Unavailable(e.to_string()))?
        };
        ctx.spawn(turn.into_actor(self).map(|result, act, ctx| {
            act.step(Event::TurnFinished(result), ctx);
        }));
    }

    fn store_reply(
        &mut self,
        done: TurnDone,
        agent_id: String,
        up_to: i64,
        ctx: &mut Context<Self>,
    ) {
        // Nothing to say (an automation that only closes, a loop cut short by failing
        // tools): the messages still count as handled, and the effects still apply.
        let silent = done.content.trim().is_empty();
        let mut metadata = serde_json::json!({
            "prompt_tokens": done.prompt_tokens,
            "completion_tokens": done.completion_tokens,
            "cost_usd": done.cost_usd,
            "latency_ms": done.latency_ms,
        });
        if let Some(sub_agent) = &done.sub_agent_id {
            metadata["sub_agent_id"] = serde_json::json!(sub_agent);
        }
        if let Some(automation) = &done.automation_id {
            metadata["automation_id"] = serde_json::json!(automation);
        }
        let new = self.outbound(
            SenderType::AiAgent,
            Some(agent_id.clone()),
            done.content.clone(),
            metadata.to_string(),
        );
        // The reply, its delivery and the answered mark commit together (one commit on the
        // reply path); a turn with nothing to say only marks the messages answered.
        let along = AlongWith::new(
            self.delivery_route(),
            Some(Answered {
                up_to: Some(up_to),
                ai_reply: true,
            }),
        );
        let writer = self.parts.writer.clone();
        let mark_answered =
            self.write_own(move |conn, id| conversations::mark_answered(conn, id, up_to));
        let in_flight = self.parts.turns.enter();
        ctx.wait(
            async move {
                let _in_flight = in_flight;
                match new {
                    Some(new) if !silent => Ok(Some(writer.reply(new, along).await?)),
                    _ => {
                        mark_answered.await?;
                        Ok::<_, StoreError>(None)
                    }
                }
            }
            .into_actor(self)
            .map(move |result, act, ctx| match result {
                Ok(stored) => {
                    let reply = stored.as_ref().map(|s| StoredReply {
                        message_id: s.message.id.to_string(),
                        seq: s.message.seq,
                    });
                    if let Some(stored) = stored {
                        act.send_out(stored);
                    }
                    let event = Event::ReplyStored {
                        reply,
                        agent_id,
                        up_to,
                        done,
                    };
                    act.step(event, ctx);
                }
                Err(e) => {
                    // The customer's messages stay pending and durable; try again later.
                    tracing::error!(conversation = %act.id, error = %e, "storing the AI reply failed");
                    act.step(Event::ReplyNotStored, ctx);
                }
            }),
        );
    }

    /// An outbound message of this conversation (None before it is loaded).
    fn outbound(
        &self,
        sender: SenderType,
        sender_id: Option<String>,
        content: String,
        metadata: String,
    ) -> Option<NewMessage> {
        let loaded = self.loaded.as_ref()?;
        Some(NewMessage {
            tenant_id: loaded.tenant_id.clone(),
            conversation_id: self.id.clone(),
            sender_type: sender,
            sender_id,
            content,
            content_type: "text".into(),
            direction: "out",
            integration_id: None,
            external_id: None,
            metadata,
        })
    }

    /// Stores an outbound message before anything else is handled, then sends it.
    fn send_stored(
        &mut self,
        new: Option<NewMessage>,
        what: &'static str,
        ctx: &mut Context<Self>,
    ) {
        let Some(new) = new else { return };
        let along = AlongWith::new(self.delivery_route(), None);
        let writer = self.parts.writer.clone();
        ctx.wait(
            async move { writer.reply(new, along).await }
                .into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok(stored) => {
                        let seq = stored.message.seq;
                        act.send_out(stored);
                        act.step(Event::OutboundStored { seq }, ctx);
                    }
                    Err(e) => {
                        tracing::error!(conversation = %act.id, error = %e, "{what} not stored")
                    }
                }),
        );
    }

    /// Where this conversation's outbound messages go: its integration, when the contact
    /// is reachable there.
    fn delivery_route(&self) -> Option<IntegrationId> {
        let loaded = self.loaded.as_ref()?;
        match (&loaded.integration, &loaded.contact_external_id) {
            (Some(integration), Some(_)) => Some(integration.id.clone()),
            _ => None,
        }
    }

    /// Hands a stored outbound message (with the delivery row committed beside it) to the
    /// channel and tells listeners.
    fn send_out(&self, stored: Stored) {
        let Stored {
            message,
            delivery,
            held_until,
        } = stored;
        self.publish(EngineEvent::MessageSent {
            message_id: message.id.clone(),
            seq: message.seq,
            sender_type: message.sender_type,
        });
        let (Some(loaded), Some(delivery)) = (&self.loaded, delivery) else {
            return;
        };
        if let (Some(integration), Some(external)) =
            (&loaded.integration, &loaded.contact_external_id)
        {
            self.parts.sender.send(
                ReplyTarget {
                    integration: integration.clone(),
                    contact_external_id: external.clone(),
                    conversation_id: self.id.clone(),
                    message,
                },
                delivery,
                held_until,
            );
        }
    }

    /// Feeds a new owner to the state and releases the agent at once when it asks; the future
    /// awaits the owner writes and yields the other effects, to perform once they are durable.
    fn take_owner(
        &mut self,
        owner: Owner,
    ) -> impl std::future::Future<Output = Result<Vec<Effect>, StoreError>> + 'static {
        let mut writes = Vec::new();
        let mut rest = Vec::new();
        if let Some(state) = self.state.as_mut() {
            for effect in state.handle(Event::Assigned { owner }, &self.rules, Instant::now()) {
                match effect {
                    Effect::WriteOwner { write, previous } => {
                        writes.push(self.owner_write(write, previous))
                    }
                    Effect::ReleaseAgent => self.release_agent(),
                    other => rest.push(other),
                }
            }
        }
        async move {
            for write in writes {
                write.await?;
            }
            Ok(rest)
        }
    }

    /// The durable form of an owner/status change.
    fn owner_write(
        &self,
        write: OwnerWrite,
        previous: Owner,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + 'static {
        let (change, owner) = match write {
            OwnerWrite::Assign {
                owner,
                escalation_reason,
                answered_seq,
            } => {
                let mut change = OwnerChange::assign(&owner);
                if let Some(reason) = escalation_reason {
                    change.escalation_reason = Some(Some(reason));
                }
                change.answered_seq = answered_seq;
                (change, Some(owner))
            }
            OwnerWrite::Close {
                reason,
                answered_seq,
            } => {
                let now = crate::store::now();
                let change = OwnerChange {
                    status: Some(Status::Closed.as_str().into()),
                    close_reason: Some(reason),
                    closed_at: Some(Some(now)),
                    answered_seq: Some(answered_seq),
                    updated_at: Some(now),
                    ..Default::default()
                };
                (change, None)
            }
        };
        let contact = self.loaded.as_ref().map(|l| l.contact_id.clone());
        let tenant = self.loaded.as_ref().map(|l| l.tenant_id.clone());
        let at = change.updated_at.unwrap_or_else(crate::store::now);
        // Through the writer: the owner change group-commits with the conversation's
        // messages instead of paying a commit of its own.
        let writer = self.parts.writer.clone();
        let id = self.id.clone();
        async move {
            let (Some(contact), Some(tenant)) = (contact, tenant) else {
                return Err(StoreError::NotFound);
            };
            let conversation = id.clone();
            writer
                .write(
                    &conversation,
                    Fence::Owner(tenant.clone()),
                    Box::new(move |conn| {
                        let department = conversations::change_owner(conn, &id, &change)?;
                        // The ownership history commits with the change it records (no
                        // owner: the conversation closes).
                        let spells = ownership::Change {
                            previous: &previous,
                            next: owner.as_ref(),
                            department,
                            at,
                        };
                        ownership::record(conn, &tenant, &id, spells)?;
                        if let Some(owner) = &owner {
                            if let Some(owner_id) = owner.id() {
                                contacts::set_last_owner(conn, &contact, owner.kind(), owner_id)?;
                            }
                        }
                        Ok(())
                    }),
                )
                .await
        }
    }

    /// Records that a rating is awaited (so a quick reply already finds it), then sends the
    /// tenant's question to the customer's channel.
    fn ask_rating(&mut self, question: String, ctx: &mut Context<Self>) {
        let (Some(loaded), Some(state)) = (&self.loaded, &self.state) else {
            return;
        };
        let snapshot = state.snapshot();
        let asked_at = crate::store::now();
        let window = i64::from(self.rules.tenant.csat.reply_window_minutes);
        let row = CsatRating {
            conversation_id: self.id.clone(),
            tenant_id: loaded.tenant_id.clone(),
            contact_id: loaded.contact_id.clone(),
            owner_type: snapshot
                .owner
                .id()
                .map(|_| snapshot.owner.kind().to_string()),
            owner_id: snapshot.owner.id().map(str::to_string),
            category: snapshot.category.clone(),
            channel: loaded.channel.clone(),
            asked_at,
            expires_at: asked_at + chrono::Duration::minutes(window),
            rating: None,
            rated_at: None,
        };
        let metadata = serde_json::json!({ "csat": "question" }).to_string();
        let new = self.outbound(SenderType::System, None, question, metadata);
        let store = self.parts.store.clone();
        ctx.wait(
            async move { store.run(move |conn| csat::ask(conn, &row)).await }
                .into_actor(self)
                .map(move |asked, act, ctx| match asked {
                    Ok(()) => act.send_stored(new, "CSAT question", ctx),
                    Err(e) => {
                        tracing::error!(conversation = %act.id, error = %e, "CSAT question not recorded")
                    }
                }),
        );
    }

    /// Extracts memories in the background: the owning AI agent's own (with its LLM when
    /// configured), or shared ones while a human serves the conversation.
    fn extract_memories(&mut self, every: u32, with_agent: bool, ctx: &mut Context<Self>) {
        let Some(loaded) = &self.loaded else { return };
        let agent = if with_agent {
            self.supervisor
                .as_deref()
                .map(|(config, supervisor)| MemoryAgent {
                    id: config.id.clone(),
                    provider_kind: config.provider_kind,
                    supervisor: supervisor.clone(),
                })
        } else {
            None
        };
        let job = MemoryJob {
            tenant: loaded.tenant_id.clone(),
            contact: loaded.contact_id.clone(),
            conversation: self.id.clone(),
            agent,
            window: i64::from(every.saturating_mul(self.parts.settings.memory.window_factor)),
        };
        let work =
            insights::extract_memories(self.parts.store.clone(), self.parts.settings.clone(), job);
        ctx.spawn(work.into_actor(self).map(|result, act, _| match result {
            Ok(added) => {
                tracing::debug!(conversation = %act.id, added, "memories extracted")
            }
            Err(e) => tracing::warn!(conversation = %act.id, error = %e, "memories not stored"),
        }));
    }
}

/// What asking an agent to take the conversation came to.
enum Attach {
    Answered(
        Box<AgentConfig>,
        Addr<AgentSupervisor>,
        Result<(), crate::domain::limits::LimitHit>,
    ),
    /// The agent's recurring-problem rule hands the conversation to a human.
    Recurring,
}

/// The data the recurring-problem rule reads, gathered before the actor awaits the store.
struct RecurringCheck {
    tenant: TenantId,
    contact: ContactId,
    conversation: ConversationId,
    category: String,
    now: NaiveDateTime,
    store: crate::store::Store,
}

impl RecurringCheck {
    async fn applies(self, settings: &crate::domain::agent::AgentSettings) -> bool {
        let threshold = settings.recurring_problem_conversations;
        if threshold == 0 {
            return false;
        }
        let since = escalation::recurring_window_start(self.now, settings.recurring_problem_days);
        let RecurringCheck {
            tenant,
            contact,
            conversation,
            category,
            store,
            ..
        } = self;
        let counted = store
            .run(move |conn| {
                escalation_store::same_category_since(
                    conn,
                    &tenant,
                    &contact,
                    &category,
                    since,
                    &conversation,
                )
            })
            .await;
        match counted {
            Ok(earlier) => escalation::recurring_problem(earlier, threshold),
            Err(e) => {
                // The AI answers rather than nobody: the rule is a shortcut, not a gate.
                tracing::warn!(error = %e, "recurring-problem count unavailable");
                false
            }
        }
    }
}

/// A pause between `min` and `max` seconds, so replies do not arrive inhumanly fast.
fn humanized_delay(min: u32, max: u32) -> Duration {
    let max = max.max(min);
    if max == 0 {
        return Duration::ZERO;
    }
    let millis = rand::thread_rng().gen_range(u64::from(min) * 1000..=u64::from(max) * 1000);
    Duration::from_millis(millis)
}

/// A turn that could not even be asked for, reported through the mailbox like any other.
#[derive(Message)]
#[rtype(result = "()")]
struct TurnResult(Result<TurnDone, TurnFailure>);

impl Handler<TurnResult> for ConversationActor {
    type Result = ();

    fn handle(&mut self, msg: TurnResult, ctx: &mut Self::Context) {
        self.step(Event::TurnFinished(msg.0), ctx);
    }
}

impl Actor for ConversationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let store = self.parts.store.clone();
        let integrations = self.parts.integrations.clone();
        let id = self.id.clone();
        let seed = self.seed.take();
        // Rehydrate before any message is handled: the mailbox waits for this.
        ctx.wait(
            async move {
                let (conversation, contact, pending, recent) = match seed {
                    // Just opened: its one message is all there is, and it is unanswered.
                    Some(seed) => {
                        let Seed { conversation, contact, message } = *seed;
                        let recent = vec![message];
                        let pending = unanswered_within(&recent, conversation.answered_seq, LAST_REPLY_LOOKBACK)
                            .unwrap_or_default();
                        (conversation, contact, pending, recent)
                    }
                    None => store
                    .run(move |conn| {
                        let conversation = conversations::find_by_id(conn, &id)?;
                        let contact = contacts::find(conn, &conversation.tenant_id, &conversation.contact_id)?;
                        let recent = messages::recent(conn, &id, LAST_REPLY_LOOKBACK)?;
                        let pending = match unanswered_within(&recent, conversation.answered_seq, LAST_REPLY_LOOKBACK) {
                            Some(pending) => pending,
                            None => messages::customer_after(conn, &id, conversation.answered_seq)?,
                        };
                        Ok((conversation, contact, pending, recent))
                    })
                    .await?,
                };
                // The webhook that woke this conversation has just read it into the cache.
                let integration = match &conversation.integration_id {
                    Some(iid) => integrations.get(iid).await.ok(),
                    None => None,
                };
                Ok::<_, StoreError>((conversation, contact, integration, pending, recent))
            }
            .into_actor(self)
            .map(|loaded, act, ctx| match loaded {
                Ok((conversation, contact, integration, pending, recent)) => {
                    act.loaded = Some(Box::new(Loaded {
                        tenant_id: conversation.tenant_id.clone(),
                        contact_id: conversation.contact_id.clone(),
                        contact_name: contact.name.clone(),
                        contact_external_id: contact.external_id.clone(),
                        integration,
                        channel: conversation.channel.clone(),
                        queued_at: conversation.queued_at.unwrap_or(conversation.created_at),
                        started_at: conversation.created_at,
                    }));
                    // The tenant's VIP tags and rules apply from the first event on.
                    act.with_current_rules(ctx, move |act, ctx| {
                        act.hydrate(conversation, contact, pending, recent, ctx)
                    });
                }
                Err(e) => {
                    tracing::error!(conversation = %act.id, error = %e, "conversation could not be loaded");
                    ctx.stop();
                }
            }),
        );
    }
}

impl ConversationActor {
    /// Builds the state from the rows loaded at (re)start and feeds it what is unanswered.
    fn hydrate(
        &mut self,
        conversation: conversations::Conversation,
        contact: contacts::Contact,
        pending: Vec<Message>,
        recent: Vec<Message>,
        ctx: &mut Context<Self>,
    ) {
        let act = self;
        let status = conversation.status();
        let escalated = conversation.escalation_reason.is_some();
        let vip = classification::is_vip(
            contact.is_vip,
            &contact.tags,
            &act.rules.tenant.classification.vip_tags,
        );
        let last_reply = last_reply(&recent, pending.first().map(|m| m.seq));
        let snapshot = Snapshot {
            owner: conversation.owner(),
            status,
            last_seq: conversation.last_seq,
            answered_seq: conversation.answered_seq,
            customer_messages: u32::try_from(conversation.customer_messages).unwrap_or(0),
            category: conversation.category.clone(),
            priority: conversation.priority.clone(),
            answered_before: conversation.ai_replies > 0
                || conversation.first_response_at.is_some(),
            vip,
        };
        let state = ConversationState::restore(
            snapshot,
            last_reply,
            ToolState::from_json(&conversation.tool_state),
            pending.len(),
        );
        let first_ordinal = state.first_unanswered_ordinal();
        act.state = Some(state);
        if status == Status::Closed {
            return;
        }
        let out_of_hours = act.out_of_hours();
        // Unanswered messages go through the same checks as live ones.
        for (ordinal, message) in (first_ordinal..).zip(pending) {
            let event = Event::CustomerMessage {
                message_id: message.id.to_string(),
                seq: message.seq,
                content: message.content,
                ordinal: Some(ordinal),
                out_of_hours,
            };
            act.step(event, ctx);
        }
        act.step(Event::Hydrated { escalated }, ctx);
    }
}

impl Handler<CustomerMessage> for ConversationActor {
    type Result = ();

    fn handle(&mut self, msg: CustomerMessage, ctx: &mut Self::Context) {
        let message = msg.0;
        self.publish(EngineEvent::MessageReceived {
            message_id: message.id.clone(),
            seq: message.seq,
        });
        self.with_current_rules(ctx, move |act, ctx| {
            let event = Event::CustomerMessage {
                message_id: message.id.to_string(),
                seq: message.seq,
                content: message.content,
                ordinal: None,
                out_of_hours: act.out_of_hours(),
            };
            act.step(event, ctx);
        });
    }
}

/// The AI reply still waiting for the customer's reaction after a restart: the message just
/// before the first unanswered customer message (or the last message when all are
/// answered), if an AI agent sent it, with the customer messages it answered.
/// The customer messages after `answered_seq`, when `recent` (the conversation's last
/// `lookback` messages, oldest first) holds all of them; `None` when older ones may be
/// missing from it and must be read.
fn unanswered_within(recent: &[Message], answered_seq: i64, lookback: i64) -> Option<Vec<Message>> {
    let everything = i64::try_from(recent.len()).is_ok_and(|n| n < lookback);
    let reaches_back = recent.first().is_some_and(|m| m.seq <= answered_seq + 1);
    (everything || reaches_back).then(|| {
        recent
            .iter()
            .filter(|m| m.seq > answered_seq && m.sender_type == SenderType::Contact)
            .cloned()
            .collect()
    })
}

fn last_reply(recent: &[Message], first_pending: Option<i64>) -> Option<LastReply> {
    let before: Vec<&Message> = recent
        .iter()
        .filter(|m| first_pending.is_none_or(|first| m.seq < first))
        .collect();
    let (reply, earlier) = before.split_last()?;
    if reply.sender_type != SenderType::AiAgent {
        return None;
    }
    let mut question: Vec<&str> = earlier
        .iter()
        .rev()
        .take_while(|m| m.sender_type == SenderType::Contact)
        .map(|m| m.content.as_str())
        .collect();
    question.reverse();
    Some(LastReply {
        message_id: reply.id.to_string(),
        agent_id: reply.sender_id.clone(),
        question: question.join("\n"),
    })
}

impl Handler<Resume> for ConversationActor {
    type Result = ();

    fn handle(&mut self, _: Resume, _: &mut Self::Context) {}
}

impl Handler<Assign> for ConversationActor {
    type Result = ResponseActFuture<Self, Result<(), EngineError>>;

    fn handle(&mut self, msg: Assign, _: &mut Self::Context) -> Self::Result {
        let supervisors = self.parts.supervisors.clone();
        let id = self.id.clone();
        let owner_now = self.state.as_ref().map(|s| s.owner().clone());
        if msg.only_if_unowned && owner_now.as_ref().is_some_and(|o| *o != Owner::Nobody) {
            // Stale: someone took it meanwhile. A slot the distributor reserved for another
            // agent is given back.
            if let (Owner::AiAgent(agent), true) = (&msg.owner, msg.admitted) {
                if owner_now.as_ref().and_then(Owner::agent) != Some(agent) {
                    let agent = agent.clone();
                    actix::spawn(async move {
                        if let Ok(Ok(Some(addr))) = supervisors.send(SupervisorOf(agent)).await {
                            addr.do_send(Release(id));
                        }
                    });
                }
            }
            return Box::pin(actix::fut::ready(Ok(())));
        }
        let closed = self.is_closed();
        // Checked again once the new owner is decided: a `Take` may be handled in between.
        let only_if_unowned = msg.only_if_unowned;
        let admitted_agent = match (&msg.owner, msg.admitted) {
            (Owner::AiAgent(agent), true) => Some(agent.clone()),
            _ => None,
        };
        let release_to = self.parts.supervisors.clone();
        let previous_agent = self.state.as_ref().and_then(|s| s.owner().agent().cloned());
        Box::pin(
            async move {
                if closed {
                    return Err(EngineError::Closed);
                }
                match (&msg.owner, msg.admitted) {
                    (Owner::AiAgent(agent), false) if previous_agent.as_ref() != Some(agent) => {
                        let addr = supervisors
                            .send(SupervisorOf(agent.clone()))
                            .await
                            .map_err(|e| EngineError::Unavailable(e.to_string()))??
                            .ok_or(EngineError::AgentNotFound)?;
                        addr.send(Admit(id))
                            .await
                            .map_err(|e| EngineError::Unavailable(e.to_string()))?
                            .map_err(EngineError::Limit)?;
                    }
                    _ => {}
                }
                Ok(msg.owner)
            }
            .into_actor(self)
            .then(move |result, act, _| {
                let stale = only_if_unowned
                    && act
                        .state
                        .as_ref()
                        .is_some_and(|s| *s.owner() != Owner::Nobody);
                if stale && result.is_ok() {
                    if let Some(agent) = admitted_agent {
                        let id = act.id.clone();
                        actix::spawn(async move {
                            if let Ok(Ok(Some(addr))) = release_to.send(SupervisorOf(agent)).await {
                                addr.do_send(Release(id));
                            }
                        });
                    }
                }
                // The owner write is awaited here; the rest follows once it is durable.
                let durable = match (&result, stale) {
                    (Ok(owner), false) => Some(act.take_owner(owner.clone())),
                    _ => None,
                };
                // Answer only once the new owner is durable: callers read it back.
                async move {
                    result?;
                    match durable {
                        Some(durable) => Ok(durable.await?),
                        None => Ok(Vec::new()),
                    }
                }
                .into_actor(act)
            })
            .map(|result: Result<Vec<Effect>, EngineError>, act, ctx| {
                act.perform(result?, ctx);
                act.sync_typing();
                Ok(())
            }),
        )
    }
}

/// Answers after the writes the handler queued with `ctx.wait`: the context polls no other
/// future until those are done, so the caller reads back what it changed.
fn after_writes(
    result: Result<(), EngineError>,
) -> ResponseActFuture<ConversationActor, Result<(), EngineError>> {
    Box::pin(actix::fut::ready(result))
}

impl Handler<Edit> for ConversationActor {
    type Result = ResponseActFuture<Self, Result<(), EngineError>>;

    /// The in-memory copy changes at once, so an assignment requested while the write runs
    /// already carries the new category and priority; the event follows the write.
    fn handle(&mut self, msg: Edit, _: &mut Self::Context) -> Self::Result {
        let Some(state) = self.state.as_mut().filter(|s| !s.is_closed()) else {
            return after_writes(Err(EngineError::Closed));
        };
        state.edit(&msg.changes);
        let changes = msg.changes.clone();
        let funnel = msg.funnel_id;
        Box::pin(
            self.write_own(move |conn, id| {
                conversations::apply_changes(conn, id, &changes, funnel.as_deref())
            })
            .into_actor(self)
            .map(move |stored, act, _| {
                stored?;
                act.publish(EngineEvent::ConversationUpdated {
                    changes: msg.changes,
                    by: Some(msg.user),
                });
                Ok(())
            }),
        )
    }
}

impl Handler<Take> for ConversationActor {
    type Result = ResponseActFuture<Self, Result<(), EngineError>>;

    /// Checked and applied in one handler call: no other message of this actor runs in
    /// between, so the owner it compares against is the owner it replaces.
    fn handle(&mut self, msg: Take, ctx: &mut Self::Context) -> Self::Result {
        let Some(current) = self
            .state
            .as_ref()
            .filter(|s| !s.is_closed())
            .map(|s| s.owner().clone())
        else {
            return after_writes(Err(EngineError::Closed));
        };
        if !may_take(msg.role, &msg.user, &current) {
            return after_writes(Err(EngineError::Taken));
        }
        let owner = Owner::User(msg.user);
        if current != owner {
            self.step(Event::Assigned { owner }, ctx);
        }
        after_writes(Ok(()))
    }
}

impl Handler<Transfer> for ConversationActor {
    type Result = ResponseActFuture<Self, Result<(), EngineError>>;

    /// To a colleague: they own it at once. To a department: it is put in the department
    /// (durably, before the distributor reads it) and back in the queue, for the
    /// department's humans: a person handed it over, so a person takes it next.
    fn handle(&mut self, msg: Transfer, ctx: &mut Self::Context) -> Self::Result {
        let Some(current) = self
            .state
            .as_ref()
            .filter(|s| !s.is_closed())
            .map(|s| s.owner().clone())
        else {
            return after_writes(Err(EngineError::Closed));
        };
        if current != msg.expected {
            return after_writes(Err(EngineError::Taken));
        }
        let department = match msg.target {
            TransferTarget::User(user) => {
                self.step(
                    Event::Assigned {
                        owner: Owner::User(user),
                    },
                    ctx,
                );
                return after_writes(Ok(()));
            }
            TransferTarget::Department(department) => department,
        };
        let changes = crate::domain::ticket::ConversationChanges {
            department_id: Some(department.0),
            ..Default::default()
        };
        let expected = msg.expected;
        Box::pin(
            self.write_own(move |conn, id| conversations::apply_changes(conn, id, &changes, None))
                .into_actor(self)
                .then(move |stored, act, _| {
                    // Messages ran while the department was written: someone may have taken it.
                    let still = act
                        .state
                        .as_ref()
                        .filter(|s| !s.is_closed())
                        .is_some_and(|s| *s.owner() == expected);
                    // As in `Assign`: the owner write is awaited, the rest follows once durable,
                    // so the caller reads back a queued conversation.
                    let durable = (stored.is_ok() && still).then(|| act.take_owner(Owner::Nobody));
                    async move {
                        stored?;
                        match durable {
                            Some(durable) => Ok(durable.await?),
                            None => Err(EngineError::Taken),
                        }
                    }
                    .into_actor(act)
                })
                .map(|result: Result<Vec<Effect>, EngineError>, act, ctx| {
                    act.perform(result?, ctx);
                    act.request_assignment(true);
                    Ok(())
                }),
        )
    }
}

impl Handler<Escalate> for ConversationActor {
    type Result = ResponseActFuture<Self, Result<(), EngineError>>;

    fn handle(&mut self, msg: Escalate, ctx: &mut Self::Context) -> Self::Result {
        if self.is_closed() {
            return after_writes(Err(EngineError::Closed));
        }
        let event = Event::Escalate {
            reason: msg.reason,
            user: msg.user,
        };
        // The hand-over text is the tenant's current one.
        self.with_current_rules(ctx, move |act, ctx| act.step(event, ctx));
        after_writes(Ok(()))
    }
}

impl Handler<Close> for ConversationActor {
    type Result = ResponseActFuture<Self, Result<(), EngineError>>;

    fn handle(&mut self, msg: Close, ctx: &mut Self::Context) -> Self::Result {
        if self.is_closed() {
            return after_writes(Err(EngineError::Closed));
        }
        let event = Event::Close { reason: msg.reason };
        // Whether CSAT is asked, and how, is the tenant's current choice.
        self.with_current_rules(ctx, move |act, ctx| act.step(event, ctx));
        after_writes(Ok(()))
    }
}

impl Handler<HumanReply> for ConversationActor {
    type Result = ResponseActFuture<Self, Result<Message, EngineError>>;

    fn handle(&mut self, msg: HumanReply, _: &mut Self::Context) -> Self::Result {
        if self.state.is_none() {
            return Box::pin(actix::fut::ready(Err(EngineError::Unavailable(
                "conversation not loaded".into(),
            ))));
        }
        if self.is_closed() {
            return Box::pin(actix::fut::ready(Err(EngineError::Closed)));
        }
        // Against the owner as it is now, whatever the caller read before.
        let allowed = self
            .state
            .as_ref()
            .is_some_and(|s| may_open_conversation(msg.role, &msg.user, s.owner()));
        if !allowed {
            return Box::pin(actix::fut::ready(Err(EngineError::Forbidden)));
        }
        let Some(new) = self.outbound(
            SenderType::User,
            Some(msg.user.to_string()),
            msg.content,
            "{}".into(),
        ) else {
            return Box::pin(actix::fut::ready(Err(EngineError::Unavailable(
                "conversation not loaded".into(),
            ))));
        };
        let along = AlongWith::new(
            self.delivery_route(),
            Some(Answered {
                up_to: None,
                ai_reply: false,
            }),
        );
        let writer = self.parts.writer.clone();
        Box::pin(
            async move { writer.reply(new, along).await }
                .into_actor(self)
                .map(|result, act, ctx| {
                    let stored = result.map_err(EngineError::Store)?;
                    let message = stored.message.clone();
                    act.step(Event::HumanReplied { seq: message.seq }, ctx);
                    act.send_out(stored);
                    Ok(message)
                }),
        )
    }
}

impl Handler<Relinquish> for ConversationActor {
    type Result = ();

    fn handle(&mut self, _: Relinquish, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<TryPassivate> for ConversationActor {
    type Result = bool;

    fn handle(&mut self, _: TryPassivate, ctx: &mut Self::Context) -> bool {
        if !self.state.as_ref().is_none_or(ConversationState::is_idle) {
            return false;
        }
        self.step(Event::Passivating, ctx);
        self.release_agent();
        ctx.stop();
        true
    }
}

impl Handler<EscalationTimeoutDue> for ConversationActor {
    type Result = ();

    fn handle(&mut self, _: EscalationTimeoutDue, ctx: &mut Self::Context) {
        self.step(Event::EscalationTimeoutDue, ctx);
    }
}

impl Handler<FollowupDue> for ConversationActor {
    type Result = ();

    fn handle(&mut self, msg: FollowupDue, ctx: &mut Self::Context) {
        let event = Event::FollowupDue {
            message: msg.message,
            agent_id: msg.agent_id,
        };
        self.step(event, ctx);
    }
}

/// Validates that a user belongs to the conversation's tenant (for assign / escalate).
pub async fn user_in_tenant(
    store: &crate::store::Store,
    tenant: TenantId,
    user: UserId,
) -> Result<(), EngineError> {
    store
        .run(move |conn| users::find(conn, &tenant, &user).map(|_| ()))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => EngineError::UserNotFound,
            other => EngineError::Store(other),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Live conversations are many and most sit idle: what is only there while an agent
    /// answers (its supervisor, config) is boxed, so each idle one pays for a pointer.
    #[test]
    fn an_idle_conversation_actor_keeps_large_parts_off_its_own_allocation() {
        let size = std::mem::size_of::<ConversationActor>();
        assert!(size <= 400, "ConversationActor is {size} bytes");
        let state = std::mem::size_of::<ConversationState>();
        assert!(state <= 280, "ConversationState is {state} bytes");
    }

    #[test]
    fn the_reply_awaiting_a_reaction_is_found_after_a_restart() {
        let recent = [
            Message::sample(1, SenderType::Contact, "oi"),
            Message::sample(2, SenderType::AiAgent, "olá"),
            Message::sample(3, SenderType::Contact, "como troco"),
            Message::sample(4, SenderType::Contact, "o produto?"),
            Message::sample(5, SenderType::AiAgent, "assim"),
            Message::sample(6, SenderType::Contact, "não ajudou"),
        ];
        let reply = last_reply(&recent, Some(6)).expect("reply 5 awaits a reaction");
        assert_eq!(reply.message_id, "m5");
        assert_eq!(reply.agent_id.as_deref(), Some("agent-1"));
        assert_eq!(reply.question, "como troco\no produto?");
        // Nothing pending: the last message is the reply.
        assert_eq!(
            last_reply(&recent[..5], None).map(|r| r.message_id),
            Some("m5".to_string())
        );
        // The customer spoke last and was answered by a human, or nobody replied.
        let human = [
            Message::sample(1, SenderType::Contact, "oi"),
            Message::sample(2, SenderType::User, "olá, sou a Ana"),
        ];
        assert!(last_reply(&human, None).is_none());
        assert!(last_reply(&recent, Some(4)).is_none());
        assert!(last_reply(&[], None).is_none());
    }

    #[test]
    fn unanswered_messages_come_from_the_recent_ones_when_those_reach_back_far_enough() {
        let recent = [
            Message::sample(5, SenderType::Contact, "oi"),
            Message::sample(6, SenderType::AiAgent, "olá"),
            Message::sample(7, SenderType::Contact, "preço?"),
            Message::sample(8, SenderType::User, "nota"),
            Message::sample(9, SenderType::Contact, "e o frete?"),
        ];
        let seqs = |found: Option<Vec<Message>>| {
            found.map(|m| m.iter().map(|m| m.seq).collect::<Vec<_>>())
        };
        // The window is full (5 of 5) but starts right after the answered seq.
        assert_eq!(seqs(unanswered_within(&recent, 6, 5)), Some(vec![7, 9]));
        assert_eq!(seqs(unanswered_within(&recent, 4, 5)), Some(vec![5, 7, 9]));
        // Full and starting later than that: messages 4 and before may be unanswered too.
        assert_eq!(seqs(unanswered_within(&recent, 2, 5)), None);
        // Fewer than the window: that is the whole conversation.
        assert_eq!(seqs(unanswered_within(&recent, 2, 20)), Some(vec![5, 7, 9]));
        assert_eq!(seqs(unanswered_within(&recent, 9, 5)), Some(vec![]));
        assert_eq!(seqs(unanswered_within(&[], 0, 20)), Some(vec![]));
    }
}
