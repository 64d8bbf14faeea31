//! ConversationActor: one per live conversation and the only writer of its state, so each
//! conversation is serialized without locks. It buffers the customer's unanswered messages,
//! runs the context timer, keeps at most one AI turn in flight, applies owner changes
//! (assign, escalate, close) and hands replies to the channel sender. Its state is durable in
//! the store at every step, so it can passivate when idle and be rehydrated later.

use std::time::{Duration, Instant};

use actix::prelude::*;
use rand::Rng;

use super::agent::{
    Admit, AgentConfig, AgentSupervisor, Release, RunTurn, SupervisorOf, TurnDone, TurnFailure,
};
use super::insights::{self, FeedbackRecord, MemoryAgent, MemoryJob};
use super::{EngineError, EngineParts};
use crate::channels::sender::ReplyTarget;
use crate::config::ClassificationMode;
use crate::domain::agent::{AgentSettings, OnLimit};
use crate::domain::classification::{self, Classification};
use crate::domain::conversation::{Owner, SenderType, Status};
use crate::domain::{escalation, feedback, memory, ConversationId, UserId};
use crate::llm::prompt::HistoryItem;
use crate::store::conversations::{self, Conversation, OwnerChange};
use crate::store::integrations::{self, Integration};
use crate::store::messages::{self, Message, NewMessage};
use crate::store::{contacts, users, StoreError};

/// What routing needs to know about a taken customer message.
#[derive(Debug, Clone, Copy)]
struct Route {
    asks_for_human: bool,
    /// Negative feedback on the last AI reply that calls for a hand-over.
    negative_feedback: bool,
    customer_messages: u32,
}

#[derive(Debug, Clone)]
struct Pending {
    seq: i64,
    content: String,
}

/// What the actor loaded when it (re)started.
struct Loaded {
    conversation: Conversation,
    contact_name: Option<String>,
    contact_external_id: Option<String>,
    /// The contact's `is_vip` flag or one of `classification.vip_tags`.
    contact_vip: bool,
    integration: Option<Integration>,
}

/// The last AI reply, until the customer's next message says how it was received.
#[derive(Debug, Clone)]
struct LastReply {
    message_id: String,
    agent_id: Option<String>,
    /// The customer messages the reply answered, to spot the same question asked again.
    question: String,
}

/// Messages read at rehydration to find an AI reply still waiting for the customer's
/// reaction (the reply and the customer messages it answered).
const LAST_REPLY_LOOKBACK: i64 = 20;

pub struct ConversationActor {
    id: ConversationId,
    parts: EngineParts,
    state: Option<Loaded>,
    pending: Vec<Pending>,
    turn_in_flight: bool,
    timer: Option<SpawnHandle>,
    failed_attempts: u32,
    agent: Option<(AgentConfig, Addr<AgentSupervisor>)>,
    assignment_requested: bool,
    /// Highest customer `seq` already buffered and checked (escalation phrases, limits).
    checked_seq: i64,
    /// Send the welcome message once the newly assigned agent is attached.
    welcome_due: bool,
    last_activity: Instant,
    /// Feedback detection looks at the first customer message after this reply.
    last_reply: Option<LastReply>,
    /// Classification was attempted (a conversation is classified once, on its first
    /// customer message).
    classified: bool,
    /// Customer messages (by number) taken so far, and up to which number the memory
    /// cadence has been applied. Extraction runs after the AI's reply (the agent's own
    /// cadence is known once it is attached, and the reply may hold a promise worth
    /// remembering), or at once while a human serves the conversation.
    memory_seen: u32,
    memory_checked: u32,
}

impl ConversationActor {
    pub fn new(id: ConversationId, parts: EngineParts) -> Self {
        ConversationActor {
            id,
            parts,
            state: None,
            pending: Vec::new(),
            turn_in_flight: false,
            timer: None,
            failed_attempts: 0,
            agent: None,
            assignment_requested: false,
            checked_seq: 0,
            welcome_due: false,
            last_activity: Instant::now(),
            last_reply: None,
            classified: false,
            memory_seen: 0,
            memory_checked: 0,
        }
    }

    fn conversation(&self) -> Option<&Conversation> {
        self.state.as_ref().map(|s| &s.conversation)
    }

    fn owner(&self) -> Owner {
        self.conversation()
            .map_or(Owner::Nobody, Conversation::owner)
    }

    fn is_closed(&self) -> bool {
        self.conversation()
            .is_none_or(|c| c.status() == Status::Closed)
    }

    /// Nothing to do and nothing in flight: safe to stop (all state is in the store).
    pub fn is_idle(&self) -> bool {
        !self.turn_in_flight && self.pending.is_empty() && self.timer.is_none()
    }

    fn publish(&self, kind: &'static str, data: serde_json::Value) {
        if let Some(c) = self.conversation() {
            self.parts
                .events
                .publish(&c.tenant_id, kind, Some(&self.id), data);
        }
    }

    /// Applies the owner to the AI side: finds the agent's supervisor and settings, then lets
    /// pending messages be answered.
    fn attach_agent(&mut self, ctx: &mut Context<Self>) {
        let Owner::AiAgent(agent_id) = self.owner() else {
            self.agent = None;
            return;
        };
        if self.agent.as_ref().is_some_and(|(c, _)| c.id == agent_id) {
            self.schedule_turn(ctx);
            return;
        }
        let supervisors = self.parts.supervisors.clone();
        let conversation = self.id.clone();
        ctx.wait(
            async move {
                let addr = supervisors
                    .send(SupervisorOf(agent_id))
                    .await
                    .ok()?
                    .ok()??;
                let admitted = addr.send(Admit(conversation)).await.ok()?;
                let config = addr.send(super::agent::GetConfig).await.ok()?;
                Some((config, addr, admitted))
            }
            .into_actor(self)
            .map(|found, act, ctx| match found {
                Some((config, addr, Ok(()))) => {
                    act.agent = Some((config, addr));
                    if std::mem::take(&mut act.welcome_due) {
                        act.welcome(ctx);
                    }
                    act.schedule_turn(ctx);
                }
                Some((config, _, Err(hit))) => {
                    act.agent = None;
                    act.on_limit(hit.as_str().to_string(), config.settings.on_limit, ctx);
                }
                None => act.escalate("agent_unavailable".into(), None, ctx),
            }),
        );
    }

    fn request_assignment(&mut self, humans_only: bool) {
        let Some(state) = &self.state else { return };
        if self.assignment_requested {
            return;
        }
        self.assignment_requested = true;
        let request = super::distributor::RequestAssignment {
            conversation_id: self.id.clone(),
            tenant_id: state.conversation.tenant_id.clone(),
            contact_id: state.conversation.contact_id.clone(),
            preferred_agent: if humans_only {
                None
            } else {
                state
                    .integration
                    .as_ref()
                    .and_then(|i| i.default_agent_id.clone())
            },
            humans_only,
            priority: state.conversation.priority.clone(),
            specialty: state.conversation.category.clone(),
            queued_at: state
                .conversation
                .queued_at
                .unwrap_or(state.conversation.created_at),
            exclude: None,
        };
        self.parts.distributor.do_send(request);
    }

    /// (Re)arms the context timer: messages arriving within the window are answered together.
    fn schedule_turn(&mut self, ctx: &mut Context<Self>) {
        if self.turn_in_flight || self.pending.is_empty() || self.is_closed() {
            return;
        }
        let Some((config, _)) = &self.agent else {
            return;
        };
        if let Some(handle) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        let wait = Duration::from_secs(u64::from(config.settings.context_timer_seconds));
        if wait.is_zero() {
            self.start_turn(ctx);
        } else {
            self.timer = Some(ctx.run_later(wait, |act, ctx| {
                act.timer = None;
                act.start_turn(ctx);
            }));
        }
    }

    fn start_turn(&mut self, ctx: &mut Context<Self>) {
        if self.turn_in_flight || self.pending.is_empty() {
            return;
        }
        let (Some((config, supervisor)), Some(state)) = (&self.agent, &self.state) else {
            return;
        };
        self.turn_in_flight = true;
        let included: Vec<Pending> = self.pending.clone();
        let up_to = included.last().map_or(0, |p| p.seq);
        let first_pending = included.first().map_or(0, |p| p.seq);
        let window = i64::from(config.settings.history_window.max(1));
        let store = self.parts.store.clone();
        let supervisor = supervisor.clone();
        let conversation_id = self.id.clone();
        let contact_name = state.contact_name.clone();
        let condense = self.parts.settings.engine.condense_over_chars;
        let turn = async move {
            let recent = store
                .run({
                    let id = conversation_id.clone();
                    move |conn| messages::recent(conn, &id, window + 64)
                })
                .await
                .map_err(|e| TurnFailure::Unavailable(e.to_string()))?;
            let mut history: Vec<HistoryItem> = recent
                .into_iter()
                .filter(|m| m.seq < first_pending)
                .map(|m| HistoryItem {
                    from_customer: m.sender_type == SenderType::Contact.as_str(),
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
                    contact_name,
                    history,
                    pending: included.into_iter().map(|p| p.content).collect(),
                    condense_over_chars: condense,
                })
                .await
                .map_err(|e| TurnFailure::Unavailable(e.to_string()))?
        };
        ctx.spawn(turn.into_actor(self).map(move |result, act, ctx| {
            act.finish_turn(result, up_to, ctx);
        }));
    }

    fn finish_turn(
        &mut self,
        result: Result<TurnDone, TurnFailure>,
        up_to: i64,
        ctx: &mut Context<Self>,
    ) {
        self.last_activity = Instant::now();
        match result {
            Ok(done) => {
                self.failed_attempts = 0;
                let delay = self.humanized_delay();
                ctx.run_later(delay, move |act, ctx| {
                    act.deliver_ai_reply(done, up_to, ctx)
                });
            }
            Err(TurnFailure::Limited(hit)) => {
                self.turn_in_flight = false;
                let on_limit = self
                    .agent
                    .as_ref()
                    .map_or(OnLimit::Wait, |(c, _)| c.settings.on_limit);
                self.on_limit(hit.as_str().to_string(), on_limit, ctx);
            }
            Err(TurnFailure::Provider(e))
                if e.is_retryable()
                    && self.failed_attempts + 1 < self.parts.settings.engine.turn_max_attempts =>
            {
                self.turn_in_flight = false;
                self.failed_attempts += 1;
                let backoff = Duration::from_millis(
                    self.parts
                        .settings
                        .engine
                        .turn_retry_backoff_ms
                        .saturating_mul(1 << self.failed_attempts.min(10)),
                );
                tracing::warn!(conversation = %self.id, reason = e.reason(), attempt = self.failed_attempts, "AI turn failed; retrying");
                self.timer = Some(ctx.run_later(backoff, |act, ctx| {
                    act.timer = None;
                    act.start_turn(ctx);
                }));
            }
            Err(failure) => {
                self.turn_in_flight = false;
                self.failed_attempts = 0;
                tracing::warn!(conversation = %self.id, reason = %failure.reason(), "AI turn failed; handing over to a human");
                self.escalate(failure.reason(), None, ctx);
            }
        }
    }

    fn humanized_delay(&self) -> Duration {
        let Some((config, _)) = &self.agent else {
            return Duration::ZERO;
        };
        let min = config.settings.response_delay_min_seconds;
        let max = config.settings.response_delay_max_seconds.max(min);
        if max == 0 {
            return Duration::ZERO;
        }
        let millis = rand::thread_rng().gen_range(u64::from(min) * 1000..=u64::from(max) * 1000);
        Duration::from_millis(millis)
    }

    /// A limit blocked the turn: wait and try again, or hand over — and record why.
    fn on_limit(&mut self, reason: String, on_limit: OnLimit, ctx: &mut Context<Self>) {
        self.publish("limit_reached", serde_json::json!({ "reason": reason, "action": match on_limit { OnLimit::Wait => "wait", OnLimit::Handover => "handover" } }));
        match on_limit {
            OnLimit::Handover => self.escalate(format!("limit_reached:{reason}"), None, ctx),
            OnLimit::Wait => {
                let retry = Duration::from_secs(
                    self.parts
                        .settings
                        .engine
                        .queue_check_interval_seconds
                        .max(1),
                );
                if let Some(handle) = self.timer.take() {
                    ctx.cancel_future(handle);
                }
                self.timer = Some(ctx.run_later(retry, |act, ctx| {
                    act.timer = None;
                    if act.agent.is_some() {
                        act.start_turn(ctx);
                    } else {
                        act.attach_agent(ctx);
                    }
                }));
            }
        }
    }

    fn deliver_ai_reply(&mut self, done: TurnDone, up_to: i64, ctx: &mut Context<Self>) {
        let Some((config, _)) = &self.agent else {
            self.turn_in_flight = false;
            return;
        };
        let Some(state) = &self.state else { return };
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
        let new = NewMessage {
            tenant_id: state.conversation.tenant_id.clone(),
            conversation_id: self.id.clone(),
            sender_type: SenderType::AiAgent.as_str(),
            sender_id: Some(config.id.to_string()),
            content: done.content,
            content_type: "text".into(),
            direction: "out",
            integration_id: None,
            external_id: None,
            metadata: metadata.to_string(),
        };
        let agent_id = config.id.to_string();
        let effects = done.effects;
        let tool_failures = done.tool_failures;
        let writer = self.parts.writer.clone();
        let store = self.parts.store.clone();
        let id = self.id.clone();
        ctx.wait(
            async move {
                let message = if silent {
                    None
                } else {
                    Some(writer.append(new).await?)
                };
                store
                    .run(move |conn| {
                        conversations::mark_answered(conn, &id, up_to, !silent)?;
                        if silent {
                            Ok(())
                        } else {
                            conversations::set_first_response(conn, &id)
                        }
                    })
                    .await?;
                Ok::<_, StoreError>(message)
            }
            .into_actor(self)
            .map(move |result, act, ctx| {
                act.turn_in_flight = false;
                match result {
                    Ok(message) => {
                        let question = act
                            .pending
                            .iter()
                            .filter(|p| p.seq <= up_to)
                            .map(|p| p.content.as_str())
                            .collect::<Vec<_>>()
                            .join("\n");
                        act.last_reply = message.as_ref().map(|m| LastReply {
                            message_id: m.id.to_string(),
                            agent_id: Some(agent_id),
                            question,
                        });
                        act.pending.retain(|p| p.seq > up_to);
                        if let Some(state) = act.state.as_mut() {
                            state.conversation.answered_seq = state.conversation.answered_seq.max(up_to);
                            if let Some(message) = &message {
                                state.conversation.last_seq = message.seq;
                            }
                        }
                        if let Some(message) = message {
                            act.send_out(message);
                        }
                        act.apply_memory_cadence(ctx);
                        if act.apply_turn_effects(effects, tool_failures, ctx) {
                            return;
                        }
                    }
                    Err(e) => {
                        // The customer's messages stay pending and durable; try again later.
                        tracing::error!(conversation = %act.id, error = %e, "storing the AI reply failed");
                    }
                }
                act.schedule_turn(ctx);
            }),
        );
    }

    /// Hands a stored outbound message to the channel and tells listeners.
    fn send_out(&self, message: Message) {
        self.publish("message_sent", serde_json::json!({ "message_id": message.id, "seq": message.seq, "sender_type": message.sender_type }));
        let Some(state) = &self.state else { return };
        if let (Some(integration), Some(external)) =
            (&state.integration, &state.contact_external_id)
        {
            self.parts.sender.send(ReplyTarget {
                integration: integration.clone(),
                contact_external_id: external.clone(),
                conversation_id: self.id.clone(),
                message,
            });
        }
    }

    fn release_agent(&mut self) {
        if let Some((_, supervisor)) = self.agent.take() {
            supervisor.do_send(Release(self.id.clone()));
            if let Some(c) = self.conversation() {
                // A slot freed: queued conversations of the tenant may now be taken.
                self.parts
                    .distributor
                    .do_send(super::distributor::CapacityFreed(c.tenant_id.clone()));
            }
        }
    }

    /// Keeps the in-memory copy in step with an owner/status change and returns the write
    /// that makes it durable.
    fn owner_write(
        &mut self,
        change: OwnerChange,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + 'static {
        let target = self.state.as_mut().map(|state| {
            let c = &mut state.conversation;
            if let Some(s) = &change.status {
                c.status = s.clone();
            }
            if let Some(t) = &change.owner_type {
                c.owner_type = t.clone();
            }
            if let Some(o) = &change.owner_id {
                c.owner_id = o.clone();
            }
            if let Some(r) = &change.escalation_reason {
                c.escalation_reason = r.clone();
            }
            if let Some(a) = change.answered_seq {
                c.answered_seq = c.answered_seq.max(a);
            }
            (c.owner(), c.contact_id.clone())
        });
        let store = self.parts.store.clone();
        let id = self.id.clone();
        async move {
            let Some((owner, contact)) = target else {
                return Err(StoreError::NotFound);
            };
            store
                .run(move |conn| {
                    conversations::change_owner(conn, &id, &change)?;
                    if let Some(owner_id) = owner.id() {
                        contacts::set_last_owner(conn, &contact, owner.kind(), owner_id)?;
                    }
                    Ok(())
                })
                .await
        }
    }

    /// Persists a change before the actor handles anything else.
    fn apply_owner(&mut self, change: OwnerChange, ctx: &mut Context<Self>) {
        let write = self.owner_write(change);
        ctx.wait(write.into_actor(self).map(|result, act, _| {
            if let Err(e) = result {
                tracing::error!(conversation = %act.id, error = %e, "owner change not stored");
            }
        }));
    }

    /// Leaves the AI for a human: a named user, or the distributor's pick among humans.
    fn escalate(&mut self, reason: String, user: Option<UserId>, ctx: &mut Context<Self>) {
        if self.is_closed() {
            return;
        }
        if let Some(handle) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        let was_ai = matches!(self.owner(), Owner::AiAgent(_));
        // What the customer says next answers the hand-over, not the AI's last reply.
        self.last_reply = None;
        self.release_agent();
        let last_seq = self.conversation().map_or(0, |c| c.last_seq);
        self.pending.clear();
        let owner = user.map_or(Owner::Nobody, Owner::User);
        let mut change = OwnerChange::assign(&owner);
        change.escalation_reason = Some(Some(reason.clone()));
        change.answered_seq = Some(last_seq);
        self.apply_owner(change, ctx);
        self.publish(
            "conversation_escalated",
            serde_json::json!({ "reason": reason, "owner": owner }),
        );
        if was_ai {
            self.say_system(self.parts.settings.engine.handover_message.clone(), ctx);
        }
        if owner == Owner::Nobody {
            self.assignment_requested = false;
            self.request_assignment(true);
        }
    }

    /// A system message to the customer (hand-over notice, welcome).
    fn say_system(&mut self, text: String, ctx: &mut Context<Self>) {
        let Some(state) = &self.state else { return };
        if text.trim().is_empty() {
            return;
        }
        let new = NewMessage {
            tenant_id: state.conversation.tenant_id.clone(),
            conversation_id: self.id.clone(),
            sender_type: SenderType::System.as_str(),
            sender_id: None,
            content: text,
            content_type: "text".into(),
            direction: "out",
            integration_id: None,
            external_id: None,
            metadata: "{}".into(),
        };
        let writer = self.parts.writer.clone();
        ctx.wait(writer_append(writer, new).into_actor(self).map(|result, act, _| match result {
            Ok(message) => {
                if let Some(state) = act.state.as_mut() {
                    state.conversation.last_seq = state.conversation.last_seq.max(message.seq);
                }
                act.send_out(message);
            }
            Err(e) => tracing::error!(conversation = %act.id, error = %e, "system message not stored"),
        }));
    }

    /// Takes a durable customer message: from the channel as it arrives, or from the store
    /// when the actor rehydrates. Each message is buffered and checked once: feedback on the
    /// last AI reply, memory extraction, classification (first message), then routing.
    /// `ordinal` is the message's number among the conversation's customer messages when
    /// the caller knows it (rehydration); a live message is counted here.
    fn take_customer_message(
        &mut self,
        message_id: String,
        seq: i64,
        content: String,
        ordinal: Option<u32>,
        ctx: &mut Context<Self>,
    ) {
        self.last_activity = Instant::now();
        let Some(state) = &mut self.state else { return };
        let conversation = &mut state.conversation;
        if seq <= conversation.answered_seq || seq <= self.checked_seq {
            return;
        }
        self.checked_seq = seq;
        if seq > conversation.last_seq {
            // Newer than the row loaded at hydration: count it in memory too.
            conversation.last_seq = seq;
            conversation.customer_messages = conversation.customer_messages.saturating_add(1);
        }
        let customer_messages = u32::try_from(conversation.customer_messages).unwrap_or(u32::MAX);
        let needs_classification = conversation.category.is_none() && !self.classified;
        let asks_for_human =
            escalation::asks_for_human(&content, &self.parts.settings.engine.human_request_phrases);
        let reply = self.last_reply.take();
        self.pending.push(Pending {
            seq,
            content: content.clone(),
        });
        if self.is_closed() {
            return;
        }
        let negative_feedback = match reply {
            Some(reply) => self.check_feedback(message_id, &content, reply, ctx),
            None => false,
        };
        self.memory_seen = self.memory_seen.max(ordinal.unwrap_or(customer_messages));
        if matches!(self.owner(), Owner::User(_)) {
            self.apply_memory_cadence(ctx);
        }
        let route = Route {
            asks_for_human,
            negative_feedback,
            customer_messages,
        };
        if needs_classification {
            self.classified = true;
            self.classify_then_route(content, route, ctx);
        } else {
            self.route(route, ctx);
        }
    }

    /// Hands a taken customer message to whoever answers it.
    fn route(&mut self, route: Route, ctx: &mut Context<Self>) {
        if self.is_closed() {
            return;
        }
        match self.owner() {
            Owner::User(_) => {
                // A human answers; nothing for the AI to do.
                self.pending.clear();
            }
            Owner::Nobody if route.asks_for_human => {
                self.escalate("customer_requested_human".into(), None, ctx);
            }
            Owner::Nobody => self.request_assignment(false),
            Owner::AiAgent(_) => {
                let escalate_after = self
                    .agent
                    .as_ref()
                    .map_or(0, |(c, _)| c.settings.escalate_after_messages);
                if route.asks_for_human {
                    self.escalate("customer_requested_human".into(), None, ctx);
                } else if route.negative_feedback {
                    self.escalate("negative_feedback".into(), None, ctx);
                } else if escalation::too_many_messages(route.customer_messages, escalate_after) {
                    self.escalate("message_limit".into(), None, ctx);
                } else if self.agent.is_some() {
                    self.schedule_turn(ctx);
                } else {
                    self.attach_agent(ctx);
                }
            }
        }
    }

    /// Checks the customer's reaction to the last AI reply; records and announces negative
    /// feedback. Returns whether it calls for a hand-over (`[feedback] escalate`).
    fn check_feedback(
        &mut self,
        customer_message_id: String,
        content: &str,
        reply: LastReply,
        ctx: &mut Context<Self>,
    ) -> bool {
        let config = &self.parts.settings.feedback;
        if !config.enabled {
            return false;
        }
        let Some(state) = &self.state else {
            return false;
        };
        let Some(detection) = feedback::detect(
            content,
            Some(&reply.question),
            feedback::Rules {
                human_phrases: &self.parts.settings.engine.human_request_phrases,
                repeat_similarity: config.repeat_similarity,
            },
        )
        .filter(|d| d.score >= config.min_score) else {
            return false;
        };
        let escalate = config.escalate && detection.score >= config.escalate_min_score;
        tracing::info!(
            tenant = %state.conversation.tenant_id,
            conversation = %self.id,
            kind = detection.kind.as_str(),
            score = detection.score,
            "negative feedback on an AI reply"
        );
        let record = FeedbackRecord {
            tenant: state.conversation.tenant_id.clone(),
            conversation: self.id.clone(),
            reply_message_id: reply.message_id,
            customer_message_id,
            agent: reply.agent_id,
            detection,
        };
        let event = record.event();
        let store = self.parts.store.clone();
        // Announced once durable, so a listener that reads analytics on the event counts it.
        ctx.spawn(
            insights::record_feedback(store, record)
                .into_actor(self)
                .map(move |result, act, _| match result {
                    Ok(()) => act.publish("feedback_detected", event),
                    Err(e) => {
                        tracing::error!(conversation = %act.id, error = %e, "feedback not stored")
                    }
                }),
        );
        escalate
    }

    /// Every `memory_every_n_messages` customer messages memories about the contact are
    /// extracted: the owning AI agent's setting, applied after its reply; the default one,
    /// applied at once, while a human serves the conversation.
    fn apply_memory_cadence(&mut self, ctx: &mut Context<Self>) {
        let (every, agent) = match (self.owner(), &self.agent) {
            (Owner::User(_), _) => (AgentSettings::default().memory_every_n_messages, None),
            (Owner::AiAgent(_), Some((config, supervisor))) => (
                config.settings.memory_every_n_messages,
                Some(MemoryAgent {
                    id: config.id.clone(),
                    provider_kind: config.provider_kind,
                    supervisor: supervisor.clone(),
                }),
            ),
            // Not attached: wait for the reply, when the agent's cadence is known.
            _ => return,
        };
        let (after, upto) = (self.memory_checked, self.memory_seen);
        self.memory_checked = upto;
        if memory::extraction_due(after, upto, every) {
            self.extract_memories(every, agent, ctx);
        }
    }

    /// Extracts memories in the background: the owning AI agent's own (with its LLM when
    /// configured), or shared ones (`agent` None) while a human serves the conversation.
    fn extract_memories(
        &mut self,
        every: u32,
        agent: Option<MemoryAgent>,
        ctx: &mut Context<Self>,
    ) {
        let Some(state) = &self.state else { return };
        let job = MemoryJob {
            tenant: state.conversation.tenant_id.clone(),
            contact: state.conversation.contact_id.clone(),
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

    /// Classifies a new conversation from its first customer message, then routes it. In
    /// `llm` mode the actor waits for the model (routing needs the category), with the
    /// rules' result as the fallback.
    fn classify_then_route(&mut self, text: String, route: Route, ctx: &mut Context<Self>) {
        let Some(state) = &self.state else { return };
        let vip = state.contact_vip;
        if self.parts.settings.classification.mode == ClassificationMode::Rules {
            let result = classification::classify(&text, vip);
            self.apply_classification(result, vip, route, ctx);
            return;
        }
        let agent = self.owner().agent().cloned().or_else(|| {
            state
                .integration
                .as_ref()
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
        ctx.wait(
            work.into_actor(self)
                .map(move |result, act, ctx| act.apply_classification(result, vip, route, ctx)),
        );
    }

    fn apply_classification(
        &mut self,
        result: Classification,
        vip: bool,
        route: Route,
        ctx: &mut Context<Self>,
    ) {
        let Some(state) = self.state.as_mut() else {
            return;
        };
        // In memory at once: the distributor request below carries category and priority.
        state.conversation.category = Some(result.category.as_str().to_string());
        state.conversation.priority = result.priority.as_str().to_string();
        tracing::info!(
            tenant = %state.conversation.tenant_id,
            conversation = %self.id,
            category = result.category.as_str(),
            priority = result.priority.as_str(),
            confidence = result.confidence,
            "conversation classified"
        );
        self.publish("conversation_classified", result.to_json());
        let store = self.parts.store.clone();
        ctx.wait(
            insights::store_classification(store, self.id.clone(), result)
                .into_actor(self)
                .map(|stored, act, _| {
                    if let Err(e) = stored {
                        tracing::error!(conversation = %act.id, error = %e, "classification not stored");
                    }
                }),
        );
        let config = &self.parts.settings.classification;
        let hand_over = classification::escalation_reason(
            &result,
            vip,
            config.escalate_vip,
            config.escalate_critical,
        );
        match hand_over {
            Some(reason) if !matches!(self.owner(), Owner::User(_)) => {
                self.escalate(reason.to_string(), None, ctx)
            }
            _ => self.route(route, ctx),
        }
    }

    /// Welcome message on the first contact with an AI agent.
    fn welcome(&mut self, ctx: &mut Context<Self>) {
        let Some((config, _)) = &self.agent else {
            return;
        };
        let Some(text) = config.settings.welcome_message.clone() else {
            return;
        };
        let first_contact = self
            .conversation()
            .is_some_and(|c| c.ai_replies == 0 && c.first_response_at.is_none());
        if first_contact {
            self.say_system(text, ctx);
        }
    }

    /// Applies what an AI turn asked for (tools, automations) and hands over when tool calls
    /// keep failing (`engine.tool_failure_escalation`). Returns true when the conversation
    /// left the AI or is about to, so no further turn is scheduled.
    fn apply_turn_effects(
        &mut self,
        effects: Vec<super::agent::Effect>,
        tool_failures: u32,
        ctx: &mut Context<Self>,
    ) -> bool {
        use super::agent::Effect;
        let mut leaving = false;
        for effect in effects {
            leaving = true;
            match effect {
                Effect::Escalate { reason } => self.escalate(reason, None, ctx),
                // Through the mailbox, so they run the same checks as an operator's request.
                Effect::Assign { owner } => ctx.notify(Assign {
                    owner,
                    admitted: false,
                }),
                Effect::Close { reason } => ctx.notify(Close { reason }),
            }
        }
        let limit = self.parts.settings.engine.tool_failure_escalation;
        if limit > 0 && tool_failures >= limit {
            tracing::warn!(conversation = %self.id, tool_failures, "tool calls keep failing; handing over to a human");
            self.escalate("tool_failures".into(), None, ctx);
            leaving = true;
        }
        leaving
    }

    /// Sends a follow-up an AI tool scheduled, while the conversation is open and still the
    /// AI's: a human who took over decides for themselves what to send.
    fn send_followup(&mut self, text: String, agent_id: Option<String>, ctx: &mut Context<Self>) {
        if self.is_closed() || !matches!(self.owner(), Owner::AiAgent(_)) {
            tracing::info!(conversation = %self.id, "follow-up dropped: the conversation left the AI");
            return;
        }
        let Some(state) = &self.state else { return };
        if text.trim().is_empty() {
            return;
        }
        let new = NewMessage {
            tenant_id: state.conversation.tenant_id.clone(),
            conversation_id: self.id.clone(),
            sender_type: SenderType::AiAgent.as_str(),
            sender_id: agent_id.or_else(|| self.owner().id().map(str::to_string)),
            content: text,
            content_type: "text".into(),
            direction: "out",
            integration_id: None,
            external_id: None,
            metadata: serde_json::json!({ "followup": true }).to_string(),
        };
        let writer = self.parts.writer.clone();
        ctx.wait(
            writer_append(writer, new)
                .into_actor(self)
                .map(|result, act, _| match result {
                    Ok(message) => {
                        if let Some(state) = act.state.as_mut() {
                            state.conversation.last_seq =
                                state.conversation.last_seq.max(message.seq);
                        }
                        act.send_out(message);
                    }
                    Err(e) => {
                        tracing::error!(conversation = %act.id, error = %e, "follow-up not stored")
                    }
                }),
        );
    }
}

async fn writer_append(
    writer: super::writer::MessageWriter,
    new: NewMessage,
) -> Result<Message, StoreError> {
    writer.append(new).await
}

impl Actor for ConversationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let store = self.parts.store.clone();
        let id = self.id.clone();
        // Rehydrate before any message is handled: the mailbox waits for this.
        ctx.wait(
            async move {
                store
                    .run(move |conn| {
                        let conversation = conversations::find_by_id(conn, &id)?;
                        let contact = contacts::find(conn, &conversation.tenant_id, &conversation.contact_id)?;
                        let integration = match &conversation.integration_id {
                            Some(iid) => integrations::find_by_id(conn, iid).ok(),
                            None => None,
                        };
                        let pending = messages::customer_after(conn, &id, conversation.answered_seq)?;
                        let recent = messages::recent(conn, &id, LAST_REPLY_LOOKBACK)?;
                        Ok((conversation, contact, integration, pending, recent))
                    })
                    .await
            }
            .into_actor(self)
            .map(|loaded, act, ctx| match loaded {
                Ok((conversation, contact, integration, pending, recent)) => {
                    let status = conversation.status();
                    let escalated = conversation.escalation_reason.is_some();
                    let contact_vip = classification::is_vip(
                        contact.is_vip,
                        &contact.tags,
                        &act.parts.settings.classification.vip_tags,
                    );
                    act.last_reply = last_reply(&recent, pending.first().map(|m| m.seq));
                    // The row counts every pending message already: number them back from it.
                    let total = u32::try_from(conversation.customer_messages).unwrap_or(u32::MAX);
                    let first_ordinal = total
                        .saturating_sub(u32::try_from(pending.len()).unwrap_or(u32::MAX))
                        .saturating_add(1);
                    // Messages before the unanswered ones went through the cadence already.
                    act.memory_seen = first_ordinal.saturating_sub(1);
                    act.memory_checked = act.memory_seen;
                    act.state = Some(Loaded {
                        conversation,
                        contact_name: contact.name,
                        contact_external_id: contact.external_id,
                        contact_vip,
                        integration,
                    });
                    if status == Status::Closed {
                        return;
                    }
                    // Unanswered messages go through the same checks as live ones.
                    for (ordinal, message) in (first_ordinal..).zip(pending) {
                        act.take_customer_message(
                            message.id.to_string(),
                            message.seq,
                            message.content,
                            Some(ordinal),
                            ctx,
                        );
                    }
                    if act.pending.is_empty() && act.owner() == Owner::Nobody {
                        act.request_assignment(escalated);
                    }
                }
                Err(e) => {
                    tracing::error!(conversation = %act.id, error = %e, "conversation could not be loaded");
                    ctx.stop();
                }
            }),
        );
    }
}

/// A customer message that is already durable.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CustomerMessage(pub Message);

impl Handler<CustomerMessage> for ConversationActor {
    type Result = ();

    fn handle(&mut self, msg: CustomerMessage, ctx: &mut Self::Context) {
        let message = msg.0;
        self.publish(
            "message_received",
            serde_json::json!({ "message_id": message.id, "seq": message.seq }),
        );
        self.take_customer_message(
            message.id.to_string(),
            message.seq,
            message.content,
            None,
            ctx,
        );
    }
}

/// The AI reply still waiting for the customer's reaction after a restart: the message just
/// before the first unanswered customer message (or the last message when all are
/// answered), if an AI agent sent it, with the customer messages it answered.
fn last_reply(recent: &[Message], first_pending: Option<i64>) -> Option<LastReply> {
    let before: Vec<&Message> = recent
        .iter()
        .filter(|m| first_pending.is_none_or(|first| m.seq < first))
        .collect();
    let (reply, earlier) = before.split_last()?;
    if reply.sender_type != SenderType::AiAgent.as_str() {
        return None;
    }
    let mut question: Vec<&str> = earlier
        .iter()
        .rev()
        .take_while(|m| m.sender_type == SenderType::Contact.as_str())
        .map(|m| m.content.as_str())
        .collect();
    question.reverse();
    Some(LastReply {
        message_id: reply.id.to_string(),
        agent_id: reply.sender_id.clone(),
        question: question.join("\n"),
    })
}

/// Wake up after a restart (the hydration in `started` does the work).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resume;

impl Handler<Resume> for ConversationActor {
    type Result = ();

    fn handle(&mut self, _: Resume, _: &mut Self::Context) {}
}

/// An owner change decided by the distributor or an operator.
#[derive(Message)]
#[rtype(result = "Result<(), EngineError>")]
pub struct Assign {
    pub owner: Owner,
    /// The distributor already admitted the conversation at the agent's supervisor.
    pub admitted: bool,
}

impl Handler<Assign> for ConversationActor {
    type Result = ResponseActFuture<Self, Result<(), EngineError>>;

    fn handle(&mut self, msg: Assign, _: &mut Self::Context) -> Self::Result {
        let supervisors = self.parts.supervisors.clone();
        let id = self.id.clone();
        let closed = self.is_closed();
        let previous = self.owner();
        let previous_agent = previous.agent().cloned();
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
                let write = match &result {
                    Ok(owner) => {
                        if previous.agent() != owner.agent() {
                            act.release_agent();
                        }
                        Some(act.owner_write(OwnerChange::assign(owner)))
                    }
                    Err(_) => None,
                };
                // Answer only once the new owner is durable: callers read it back.
                async move {
                    let owner = result?;
                    if let Some(write) = write {
                        write.await?;
                    }
                    Ok(owner)
                }
                .into_actor(act)
            })
            .map(|result: Result<Owner, EngineError>, act, ctx| {
                let owner = result?;
                act.assignment_requested = false;
                act.publish(
                    "conversation_assigned",
                    serde_json::json!({ "owner": owner }),
                );
                match owner {
                    Owner::AiAgent(_) => {
                        act.welcome_due = true;
                        act.attach_agent(ctx);
                    }
                    Owner::User(_) => act.pending.clear(),
                    Owner::Nobody => {}
                }
                Ok(())
            }),
        )
    }
}

#[derive(Message)]
#[rtype(result = "Result<(), EngineError>")]
pub struct Escalate {
    pub reason: String,
    pub user: Option<UserId>,
}

/// Answers after the writes the handler queued with `ctx.wait`: the context polls no other
/// future until those are done, so the caller reads back what it changed.
fn after_writes(
    result: Result<(), EngineError>,
) -> ResponseActFuture<ConversationActor, Result<(), EngineError>> {
    Box::pin(actix::fut::ready(result))
}

impl Handler<Escalate> for ConversationActor {
    type Result = ResponseActFuture<Self, Result<(), EngineError>>;

    fn handle(&mut self, msg: Escalate, ctx: &mut Self::Context) -> Self::Result {
        if self.is_closed() {
            return after_writes(Err(EngineError::Closed));
        }
        self.escalate(msg.reason, msg.user, ctx);
        after_writes(Ok(()))
    }
}

#[derive(Message)]
#[rtype(result = "Result<(), EngineError>")]
pub struct Close {
    pub reason: Option<String>,
}

impl Handler<Close> for ConversationActor {
    type Result = ResponseActFuture<Self, Result<(), EngineError>>;

    fn handle(&mut self, msg: Close, ctx: &mut Self::Context) -> Self::Result {
        if self.is_closed() {
            return after_writes(Err(EngineError::Closed));
        }
        if let Some(handle) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        self.release_agent();
        self.pending.clear();
        let human = matches!(self.owner(), Owner::User(_));
        let last_seq = self.conversation().map_or(0, |c| c.last_seq);
        let now = crate::store::now();
        let change = OwnerChange {
            status: Some(Status::Closed.as_str().into()),
            close_reason: Some(msg.reason.clone()),
            closed_at: Some(Some(now)),
            answered_seq: Some(last_seq),
            updated_at: Some(now),
            ..Default::default()
        };
        self.apply_owner(change, ctx);
        self.publish(
            "conversation_closed",
            serde_json::json!({ "reason": msg.reason }),
        );
        if let Some(state) = &self.state {
            if human {
                self.parts
                    .distributor
                    .do_send(super::distributor::CapacityFreed(
                        state.conversation.tenant_id.clone(),
                    ));
            }
        }
        after_writes(Ok(()))
    }
}

/// A human agent's reply.
#[derive(Message)]
#[rtype(result = "Result<Message, EngineError>")]
pub struct HumanReply {
    pub user: UserId,
    pub content: String,
}

impl Handler<HumanReply> for ConversationActor {
    type Result = ResponseActFuture<Self, Result<Message, EngineError>>;

    fn handle(&mut self, msg: HumanReply, _: &mut Self::Context) -> Self::Result {
        let Some(state) = &self.state else {
            return Box::pin(actix::fut::ready(Err(EngineError::Unavailable(
                "conversation not loaded".into(),
            ))));
        };
        if self.is_closed() {
            return Box::pin(actix::fut::ready(Err(EngineError::Closed)));
        }
        let new = NewMessage {
            tenant_id: state.conversation.tenant_id.clone(),
            conversation_id: self.id.clone(),
            sender_type: SenderType::User.as_str(),
            sender_id: Some(msg.user.to_string()),
            content: msg.content,
            content_type: "text".into(),
            direction: "out",
            integration_id: None,
            external_id: None,
            metadata: "{}".into(),
        };
        let writer = self.parts.writer.clone();
        let store = self.parts.store.clone();
        let id = self.id.clone();
        Box::pin(
            async move {
                let message = writer.append(new).await?;
                let seq = message.seq;
                store
                    .run(move |conn| {
                        conversations::set_first_response(conn, &id)?;
                        conversations::mark_answered(conn, &id, seq, false)
                    })
                    .await?;
                Ok::<_, StoreError>(message)
            }
            .into_actor(self)
            .map(|result, act, _| {
                let message = result.map_err(EngineError::Store)?;
                act.last_activity = Instant::now();
                act.pending.clear();
                // The customer's next message reacts to the human, not to the AI.
                act.last_reply = None;
                if let Some(state) = act.state.as_mut() {
                    state.conversation.last_seq = state.conversation.last_seq.max(message.seq);
                    state.conversation.answered_seq =
                        state.conversation.answered_seq.max(message.seq);
                }
                act.send_out(message.clone());
                Ok(message)
            }),
        )
    }
}

/// Asked by the registry when the actor has been quiet for a while: stop if idle.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct TryPassivate;

impl Handler<TryPassivate> for ConversationActor {
    type Result = bool;

    fn handle(&mut self, _: TryPassivate, ctx: &mut Self::Context) -> bool {
        if !self.is_idle() {
            return false;
        }
        self.release_agent();
        ctx.stop();
        true
    }
}

/// Validates that a user belongs to the conversation's tenant (for assign / escalate).
pub async fn user_in_tenant(
    store: &crate::store::Store,
    tenant: crate::domain::TenantId,
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

/// A follow-up scheduled by an AI tool (`schedule_followup`) came due (engine/timers.rs).
#[derive(Message)]
#[rtype(result = "()")]
pub struct FollowupDue {
    pub message: String,
    pub agent_id: Option<String>,
}

impl Handler<FollowupDue> for ConversationActor {
    type Result = ();

    fn handle(&mut self, msg: FollowupDue, ctx: &mut Self::Context) {
        self.last_activity = Instant::now();
        self.send_followup(msg.message, msg.agent_id, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MessageId, TenantId};

    fn message(seq: i64, sender: SenderType, content: &str) -> Message {
        Message {
            id: MessageId(format!("m{seq}")),
            tenant_id: TenantId("t".into()),
            conversation_id: ConversationId("c".into()),
            seq,
            sender_type: sender.as_str().into(),
            sender_id: (sender == SenderType::AiAgent).then(|| "agent-1".to_string()),
            content: content.into(),
            content_type: "text".into(),
            status: "sent".into(),
            direction: "in".into(),
            integration_id: None,
            external_id: None,
            metadata: "{}".into(),
            created_at: crate::store::now(),
        }
    }

    #[test]
    fn the_reply_awaiting_a_reaction_is_found_after_a_restart() {
        let recent = [
            message(1, SenderType::Contact, "oi"),
            message(2, SenderType::AiAgent, "olá"),
            message(3, SenderType::Contact, "como troco"),
            message(4, SenderType::Contact, "o produto?"),
            message(5, SenderType::AiAgent, "assim"),
            message(6, SenderType::Contact, "não ajudou"),
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
            message(1, SenderType::Contact, "oi"),
            message(2, SenderType::User, "olá, sou a Ana"),
        ];
        assert!(last_reply(&human, None).is_none());
        assert!(last_reply(&recent, Some(4)).is_none());
        assert!(last_reply(&[], None).is_none());
    }
}
