//! The conversation's rules as a plain state machine: `ConversationState::handle` takes an
//! event and the time and says what to do as a list of [`Effect`]s. No I/O, no actor, no
//! clock of its own, so every rule (buffering, the context timer, one turn in flight,
//! retries, escalation, reply bookkeeping, memory cadence, tool state) is tested directly;
//! the actor (`actor.rs`) performs the effects and turns their results back into events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{FeedbackSettings, Settings};
use crate::domain::agent::{AgentSettings, OnLimit};
use crate::domain::classification::{self, Classification};
use crate::domain::conversation::{Owner, Status};
use crate::domain::escalation::{self, EscalationReason};
use crate::domain::feedback::{self, Detection};
use crate::domain::limits::LimitHit;
use crate::domain::tenant_settings::{ClassificationMode, TenantSettings};
use crate::domain::ticket::ConversationChanges;
use crate::domain::tool_state::{self, ToolState};
use crate::domain::{memory, AgentId, UserId};
use crate::engine::agent::{Effect as TurnEffect, TurnDone, TurnFailure};
use crate::engine::events::EngineEvent;

/// The rules a conversation follows: the process's (from `Settings`, fixed for its life) and
/// its tenant's run-time settings, which the actor refreshes before each event it feeds.
/// Both are shared: every live conversation holds two pointers, not a copy.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Hand-over and welcome texts, human-request phrases, classification, feedback
    /// escalation, business hours and CSAT (`PATCH /api/v1/settings`).
    pub tenant: Arc<TenantSettings>,
    pub engine: Arc<EngineRules>,
}

/// The process's part of [`Rules`].
#[derive(Debug, Clone)]
pub struct EngineRules {
    pub turn_max_attempts: u32,
    pub turn_retry_backoff: Duration,
    /// How long a turn blocked by a limit waits before it tries again (`on_limit = wait`).
    pub limit_wait: Duration,
    pub tool_failure_escalation: u32,
    /// Detection (`enabled`, `min_score`, `repeat_similarity`); escalation is the tenant's.
    pub feedback: FeedbackSettings,
    /// The memory cadence while a human serves the conversation.
    pub default_memory_every: u32,
    pub tool_state: tool_state::Limits,
}

impl Rules {
    pub fn from_settings(settings: &Settings) -> Rules {
        let engine = &settings.engine;
        Rules {
            tenant: Arc::new(settings.tenant_defaults()),
            engine: Arc::new(EngineRules {
                turn_max_attempts: engine.turn_max_attempts,
                turn_retry_backoff: Duration::from_millis(engine.turn_retry_backoff_ms),
                limit_wait: Duration::from_secs(engine.queue_check_interval_seconds.max(1)),
                tool_failure_escalation: engine.tool_failure_escalation,
                feedback: settings.feedback.clone(),
                default_memory_every: AgentSettings::default().memory_every_n_messages,
                tool_state: tool_state::Limits {
                    entries: engine.tool_state_entries,
                    result_chars: engine.tool_state_result_chars,
                },
            }),
        }
    }
}

/// What the rules need of the stored conversation row.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub owner: Owner,
    pub status: Status,
    /// Highest `seq` of any message.
    pub last_seq: i64,
    /// Every customer message up to this `seq` has been answered (or handed over).
    pub answered_seq: i64,
    pub customer_messages: u32,
    pub category: Option<String>,
    pub priority: String,
    /// Somebody (AI or human) has answered already: no welcome message.
    pub answered_before: bool,
    /// The contact is a VIP (flag or tag).
    pub vip: bool,
}

/// A buffered customer message, not answered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub seq: i64,
    pub content: String,
}

/// The last AI reply, until the customer's next message says how it was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastReply {
    pub message_id: String,
    pub agent_id: Option<String>,
    /// The customer messages the reply answered, to spot the same question asked again.
    pub question: String,
}

/// What routing needs to know about a taken customer message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub asks_for_human: bool,
    /// Negative feedback on the last AI reply that calls for a hand-over.
    pub negative_feedback: bool,
    pub customer_messages: u32,
}

/// Why the single timer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// The context window: messages arriving within it are answered together.
    Context,
    /// A failed turn is tried again.
    Retry,
    /// A limit blocked the turn; try again (or attach the agent again).
    LimitWait,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timer {
    id: u64,
    kind: TimerKind,
    due: Instant,
}

/// The AI agent answering, once its supervisor admitted the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachedAgent {
    pub id: AgentId,
    pub settings: AgentSettings,
}

/// The turn in flight: the customer messages it answers end at `up_to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Turn {
    up_to: i64,
}

/// A durable owner/status change; the actor stamps the times and writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnerWrite {
    Assign {
        owner: Owner,
        escalation_reason: Option<EscalationReason>,
        answered_seq: Option<i64>,
    },
    Close {
        reason: Option<String>,
        answered_seq: i64,
    },
}

/// An AI reply the store accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReply {
    pub message_id: String,
    pub seq: i64,
}

#[derive(Debug, Clone)]
pub enum Event {
    /// A durable customer message: live from the channel, or unanswered at rehydration
    /// (`ordinal` is then its number among the conversation's customer messages).
    CustomerMessage {
        message_id: String,
        seq: i64,
        content: String,
        ordinal: Option<u32>,
        /// It came outside the tenant's business hours (judged by the actor's wall clock).
        out_of_hours: bool,
    },
    /// Rehydration took every unanswered message; `escalated` when a hand-over was pending.
    Hydrated {
        escalated: bool,
    },
    AgentAttached(AttachedAgent),
    /// The agent's supervisor refused the conversation (a limit).
    AgentRefused {
        reason: LimitHit,
        on_limit: OnLimit,
    },
    /// The agent could not be found or asked.
    AgentUnavailable,
    TimerFired {
        id: u64,
    },
    TurnFinished(Result<TurnDone, TurnFailure>),
    /// The humanized delay of a finished turn passed: the reply may be stored.
    ReplyDue {
        done: TurnDone,
        up_to: i64,
    },
    ReplyStored {
        reply: Option<StoredReply>,
        agent_id: String,
        up_to: i64,
        done: TurnDone,
    },
    /// Storing the reply failed: the messages stay pending and durable.
    ReplyNotStored,
    /// The LLM classified the first customer message (`Effect::ClassifyWithLlm`).
    Classified {
        result: Classification,
        route: Route,
    },
    /// An owner chosen by the distributor, an operator or a tool (already admitted).
    Assigned {
        owner: Owner,
    },
    Escalate {
        reason: EscalationReason,
        user: Option<UserId>,
    },
    Close {
        reason: Option<String>,
    },
    /// A human's reply was stored.
    HumanReplied {
        seq: i64,
    },
    /// A system message or follow-up was stored.
    OutboundStored {
        seq: i64,
    },
    /// A follow-up scheduled by a tool came due.
    FollowupDue {
        message: String,
        agent_id: Option<String>,
    },
    /// The attached agent's `escalate_after_minutes` ran out.
    EscalationTimeoutDue,
    /// The contact keeps coming back about this category: the agent's recurring-problem
    /// rule hands the conversation to a human before the AI answers.
    RecurringProblem,
    /// The actor is about to stop.
    Passivating,
}

#[derive(Debug, Clone)]
pub enum Effect {
    /// Arms the single timer (replacing any armed one); it reports `Event::TimerFired`.
    SetTimer {
        id: u64,
        after: Duration,
    },
    CancelTimer,
    /// Ask the agent's supervisor to admit the conversation (then `AgentAttached`,
    /// `AgentRefused` or `AgentUnavailable`).
    AttachAgent(AgentId),
    /// Leave the agent's supervisor (frees its slot; queued conversations may move).
    ReleaseAgent,
    RequestAssignment {
        humans_only: bool,
    },
    /// Run one AI turn for these pending messages (then `TurnFinished`).
    RunTurn {
        first_seq: i64,
        pending: Vec<String>,
        /// Earlier tool results, for the prompt.
        tool_results: Vec<String>,
    },
    /// Wait a humanized delay between these bounds (seconds), then `ReplyDue`.
    DelayReply {
        done: TurnDone,
        up_to: i64,
        min_seconds: u32,
        max_seconds: u32,
    },
    /// Store the AI reply and mark the messages up to `up_to` answered (then `ReplyStored`
    /// or `ReplyNotStored`).
    StoreReply {
        done: TurnDone,
        agent_id: AgentId,
        up_to: i64,
    },
    /// Store and send a system message (hand-over notice, welcome, out-of-hours reply).
    SendSystem(String),
    /// The conversation closed with CSAT on: store and send the rating question and record
    /// that the customer's next message may be the rating.
    AskRating {
        question: String,
    },
    /// Store and send a follow-up in the AI agent's name.
    SendFollowup {
        text: String,
        sender_id: Option<String>,
    },
    /// Persist an owner/status change before anything else is handled. `previous` is the
    /// owner it replaces (whose ownership spell it ends), so the write reads nothing first.
    WriteOwner {
        write: OwnerWrite,
        previous: Owner,
    },
    /// Persist the tool state (JSON).
    SaveToolState(String),
    Publish(EngineEvent),
    /// Record negative feedback on an AI reply (announced as `feedback_detected` once
    /// durable).
    RecordFeedback {
        customer_message_id: String,
        reply: LastReply,
        detection: Detection,
    },
    /// Ask the LLM for the classification (then `Classified`).
    ClassifyWithLlm {
        text: String,
        route: Route,
    },
    StoreClassification(Classification),
    /// Extract memories about the contact: with the owning AI agent, or shared ones.
    ExtractMemories {
        every: u32,
        with_agent: bool,
    },
    /// An AI turn asked for an owner change: through the mailbox, with an operator's checks.
    Assign(Owner),
    /// An AI turn asked to close the conversation.
    Close(Option<String>),
    /// A human's slot freed: queued conversations of the tenant may move.
    CapacityFreed,
    /// Arm the durable escalation timeout of this conversation (`escalate_after_minutes`
    /// after it started; once per conversation, so re-attaching changes nothing).
    ArmEscalationTimeout {
        agent_id: AgentId,
        minutes: u32,
    },
}

/// One conversation's live state.
#[derive(Debug, Clone)]
pub struct ConversationState {
    conversation: Snapshot,
    pending: Vec<Pending>,
    turn: Option<Turn>,
    timer: Option<Timer>,
    next_timer: u64,
    failed_attempts: u32,
    /// Boxed, as `last_reply`: an idle conversation keeps neither inline.
    agent: Option<Box<AttachedAgent>>,
    assignment_requested: bool,
    /// Highest customer `seq` already buffered and checked (escalation phrases, limits).
    checked_seq: i64,
    /// Send the welcome message once the newly assigned agent is attached.
    welcome_due: bool,
    /// Feedback detection looks at the first customer message after this reply.
    last_reply: Option<Box<LastReply>>,
    /// Classification was attempted (once, on the first customer message).
    classified: bool,
    /// Customer messages (by number) taken so far, and up to which number the memory
    /// cadence has been applied. Extraction runs after the AI's reply (the agent's own
    /// cadence is known once it is attached, and the reply may hold a promise worth
    /// remembering), or at once while a human serves the conversation.
    memory_seen: u32,
    memory_checked: u32,
    tools: ToolState,
    /// The last customer message came outside business hours.
    out_of_hours: bool,
    /// The out-of-hours reply was sent in this stretch of closed hours.
    out_of_hours_told: bool,
    /// The conversation was handed over to humans (humans answer it next).
    handed_over: bool,
}

impl ConversationState {
    /// The state of a conversation loaded from the store. `unanswered` is how many of its
    /// customer messages are still unanswered (they are fed as events next).
    pub fn restore(
        conversation: Snapshot,
        last_reply: Option<LastReply>,
        tools: ToolState,
        unanswered: usize,
    ) -> ConversationState {
        // The row counts every pending message already: messages before them went through
        // the memory cadence.
        let seen = conversation
            .customer_messages
            .saturating_sub(u32::try_from(unanswered).unwrap_or(u32::MAX));
        ConversationState {
            conversation,
            pending: Vec::new(),
            turn: None,
            timer: None,
            next_timer: 0,
            failed_attempts: 0,
            agent: None,
            assignment_requested: false,
            checked_seq: 0,
            welcome_due: false,
            last_reply: last_reply.map(Box::new),
            classified: false,
            memory_seen: seen,
            memory_checked: seen,
            tools,
            out_of_hours: false,
            out_of_hours_told: false,
            handed_over: false,
        }
    }

    /// The number the first unanswered customer message gets at rehydration.
    pub fn first_unanswered_ordinal(&self) -> u32 {
        self.memory_seen.saturating_add(1)
    }

    /// Staff's ticket changes that routing reads: the next assignment request carries them.
    pub fn edit(&mut self, changes: &ConversationChanges) {
        if let Some(category) = &changes.category {
            self.conversation.category = Some(category.clone());
        }
        if let Some(priority) = changes.priority {
            self.conversation.priority = priority.as_str().to_string();
        }
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.conversation
    }

    pub fn owner(&self) -> &Owner {
        &self.conversation.owner
    }

    pub fn is_closed(&self) -> bool {
        self.conversation.status == Status::Closed
    }

    pub fn pending(&self) -> &[Pending] {
        &self.pending
    }

    pub fn turn_in_flight(&self) -> bool {
        self.turn.is_some()
    }

    pub fn agent(&self) -> Option<&AttachedAgent> {
        self.agent.as_deref()
    }

    pub fn tools(&self) -> &ToolState {
        &self.tools
    }

    /// When the armed timer is due, if one is.
    pub fn timer_due(&self) -> Option<Instant> {
        self.timer.map(|t| t.due)
    }

    /// Nothing to do and nothing in flight: safe to stop (all state is in the store).
    pub fn is_idle(&self) -> bool {
        self.turn.is_none() && self.pending.is_empty() && self.timer.is_none()
    }

    pub fn handle(&mut self, event: Event, rules: &Rules, now: Instant) -> Vec<Effect> {
        let mut fx = Vec::new();
        match event {
            Event::CustomerMessage {
                message_id,
                seq,
                content,
                ordinal,
                out_of_hours,
            } => {
                self.out_of_hours = out_of_hours;
                self.out_of_hours_told &= out_of_hours;
                self.take_customer_message(message_id, seq, content, ordinal, rules, now, &mut fx)
            }
            Event::Hydrated { escalated } => {
                self.handed_over |= escalated;
                if self.pending.is_empty() && self.conversation.owner == Owner::Nobody {
                    self.request_assignment(escalated, &mut fx);
                }
            }
            Event::AgentAttached(agent) => {
                let settings = agent.settings.clone();
                if settings.escalate_after_minutes > 0 {
                    fx.push(Effect::ArmEscalationTimeout {
                        agent_id: agent.id.clone(),
                        minutes: settings.escalate_after_minutes,
                    });
                }
                self.agent = Some(Box::new(agent));
                if std::mem::take(&mut self.welcome_due) && !self.conversation.answered_before {
                    // The agent's own welcome, else the tenant's.
                    let welcome = settings
                        .welcome_message
                        .or_else(|| rules.tenant.welcome_message.clone());
                    if let Some(text) = welcome {
                        self.say_system(text, &mut fx);
                    }
                }
                self.schedule_turn(now, &mut fx);
            }
            Event::AgentRefused { reason, on_limit } => {
                self.agent = None;
                self.on_limit(reason, on_limit, rules, now, &mut fx);
            }
            Event::AgentUnavailable => {
                self.escalate(EscalationReason::AgentUnavailable, None, rules, &mut fx)
            }
            Event::TimerFired { id } => self.timer_fired(id, now, &mut fx),
            Event::TurnFinished(result) => self.turn_finished(result, rules, now, &mut fx),
            Event::ReplyDue { done, up_to } => match &self.agent {
                Some(agent) => fx.push(Effect::StoreReply {
                    done,
                    agent_id: agent.id.clone(),
                    up_to,
                }),
                // The conversation left the AI meanwhile: the reply is not sent.
                None => self.turn = None,
            },
            Event::ReplyStored {
                reply,
                agent_id,
                up_to,
                done,
            } => self.reply_stored(reply, agent_id, up_to, done, rules, now, &mut fx),
            Event::ReplyNotStored => {
                self.turn = None;
                self.schedule_turn(now, &mut fx);
            }
            Event::Classified { result, route } => {
                self.apply_classification(result, route, rules, now, &mut fx)
            }
            Event::Assigned { owner } => self.assigned(owner, now, &mut fx),
            Event::Escalate { reason, user } => self.escalate(reason, user, rules, &mut fx),
            Event::Close { reason } => self.close(reason, rules, &mut fx),
            Event::HumanReplied { seq } => {
                self.pending.clear();
                // The customer's next message reacts to the human, not to the AI.
                self.last_reply = None;
                self.conversation.last_seq = self.conversation.last_seq.max(seq);
                self.conversation.answered_seq = self.conversation.answered_seq.max(seq);
                self.conversation.answered_before = true;
            }
            Event::OutboundStored { seq } => {
                self.conversation.last_seq = self.conversation.last_seq.max(seq);
            }
            Event::FollowupDue { message, agent_id } => {
                // A human who took over decides for themselves what to send.
                if self.is_closed() || !matches!(self.conversation.owner, Owner::AiAgent(_)) {
                    tracing::info!("follow-up dropped: the conversation left the AI");
                } else if !message.trim().is_empty() {
                    let sender_id =
                        agent_id.or_else(|| self.conversation.owner.id().map(str::to_string));
                    fx.push(Effect::SendFollowup {
                        text: message,
                        sender_id,
                    });
                }
            }
            Event::EscalationTimeoutDue => {
                if escalation::timeout_escalates(&self.conversation.owner, self.is_closed()) {
                    self.escalate(EscalationReason::UnresolvedTimeout, None, rules, &mut fx);
                }
            }
            Event::RecurringProblem => {
                if !self.is_closed() {
                    self.escalate(EscalationReason::RecurringProblem, None, rules, &mut fx);
                }
            }
            Event::Passivating => self.release_agent(&mut fx),
        }
        fx
    }

    #[allow(clippy::too_many_arguments)]
    fn take_customer_message(
        &mut self,
        message_id: String,
        seq: i64,
        content: String,
        ordinal: Option<u32>,
        rules: &Rules,
        now: Instant,
        fx: &mut Vec<Effect>,
    ) {
        let c = &mut self.conversation;
        if seq <= c.answered_seq || seq <= self.checked_seq {
            return;
        }
        self.checked_seq = seq;
        if seq > c.last_seq {
            // Newer than the row loaded at hydration: count it in memory too.
            c.last_seq = seq;
            c.customer_messages = c.customer_messages.saturating_add(1);
        }
        let customer_messages = c.customer_messages;
        let needs_classification = c.category.is_none() && !self.classified;
        let asks_for_human =
            escalation::asks_for_human(&content, &rules.tenant.human_request_phrases);
        let reply = self.last_reply.take();
        self.pending.push(Pending {
            seq,
            content: content.clone(),
        });
        if self.is_closed() {
            return;
        }
        let negative_feedback = match reply {
            Some(reply) => self.check_feedback(message_id, &content, *reply, rules, fx),
            None => false,
        };
        self.memory_seen = self.memory_seen.max(ordinal.unwrap_or(customer_messages));
        if matches!(self.conversation.owner, Owner::User(_)) {
            self.apply_memory_cadence(rules, fx);
        }
        let route = Route {
            asks_for_human,
            negative_feedback,
            customer_messages,
        };
        if needs_classification {
            self.classified = true;
            if rules.tenant.classification.mode == ClassificationMode::Llm {
                fx.push(Effect::ClassifyWithLlm {
                    text: content,
                    route,
                });
            } else {
                let result = classification::classify(&content, self.conversation.vip);
                self.apply_classification(result, route, rules, now, fx);
            }
        } else {
            self.route(route, rules, now, fx);
        }
    }

    /// Checks the customer's reaction to the last AI reply. Returns whether it calls for a
    /// hand-over (`[feedback] escalate`).
    fn check_feedback(
        &mut self,
        customer_message_id: String,
        content: &str,
        reply: LastReply,
        rules: &Rules,
        fx: &mut Vec<Effect>,
    ) -> bool {
        let config = &rules.engine.feedback;
        if !config.enabled {
            return false;
        }
        let Some(detection) = feedback::detect(
            content,
            Some(&reply.question),
            feedback::Rules {
                human_phrases: &rules.tenant.human_request_phrases,
                repeat_similarity: config.repeat_similarity,
            },
        )
        .filter(|d| d.score >= config.min_score) else {
            return false;
        };
        let policy = rules.tenant.feedback;
        let escalate = policy.escalate && detection.score >= policy.escalate_min_score;
        fx.push(Effect::RecordFeedback {
            customer_message_id,
            reply,
            detection,
        });
        escalate
    }

    /// Hands a taken customer message to whoever answers it.
    fn route(&mut self, route: Route, rules: &Rules, now: Instant, fx: &mut Vec<Effect>) {
        if self.is_closed() {
            return;
        }
        let humans_answer = match &self.conversation.owner {
            Owner::User(_) => true,
            Owner::Nobody => self.handed_over,
            Owner::AiAgent(_) => false,
        };
        if humans_answer && !route.asks_for_human {
            self.tell_out_of_hours(rules, fx);
        }
        match self.conversation.owner.clone() {
            // A human answers; nothing for the AI to do.
            Owner::User(_) => self.pending.clear(),
            Owner::Nobody if route.asks_for_human => {
                self.escalate(EscalationReason::CustomerRequestedHuman, None, rules, fx)
            }
            Owner::Nobody => self.request_assignment(false, fx),
            Owner::AiAgent(agent) => {
                let escalate_after = self
                    .agent
                    .as_ref()
                    .map_or(0, |a| a.settings.escalate_after_messages);
                if route.asks_for_human {
                    self.escalate(EscalationReason::CustomerRequestedHuman, None, rules, fx);
                } else if route.negative_feedback {
                    self.escalate(EscalationReason::NegativeFeedback, None, rules, fx);
                } else if escalation::too_many_messages(route.customer_messages, escalate_after) {
                    self.escalate(EscalationReason::MessageLimit, None, rules, fx);
                } else if self.agent.is_some() {
                    self.schedule_turn(now, fx);
                } else {
                    fx.push(Effect::AttachAgent(agent));
                }
            }
        }
    }

    fn apply_classification(
        &mut self,
        result: Classification,
        route: Route,
        rules: &Rules,
        now: Instant,
        fx: &mut Vec<Effect>,
    ) {
        // In memory at once: the distributor request carries category and priority.
        self.conversation.category = Some(result.category.as_str().to_string());
        self.conversation.priority = result.priority.as_str().to_string();
        fx.push(Effect::Publish(EngineEvent::ConversationClassified(result)));
        fx.push(Effect::StoreClassification(result));
        let hand_over = classification::escalation_reason(
            &result,
            self.conversation.vip,
            rules.tenant.classification.escalate_vip,
            rules.tenant.classification.escalate_critical,
        );
        match hand_over {
            Some(reason) if !matches!(self.conversation.owner, Owner::User(_)) => {
                self.escalate(reason, None, rules, fx)
            }
            _ => self.route(route, rules, now, fx),
        }
    }

    fn request_assignment(&mut self, humans_only: bool, fx: &mut Vec<Effect>) {
        if self.assignment_requested {
            return;
        }
        self.assignment_requested = true;
        fx.push(Effect::RequestAssignment { humans_only });
    }

    fn arm(&mut self, kind: TimerKind, after: Duration, now: Instant, fx: &mut Vec<Effect>) {
        self.next_timer += 1;
        let id = self.next_timer;
        self.timer = Some(Timer {
            id,
            kind,
            due: now + after,
        });
        fx.push(Effect::SetTimer { id, after });
    }

    fn cancel_timer(&mut self, fx: &mut Vec<Effect>) {
        if self.timer.take().is_some() {
            fx.push(Effect::CancelTimer);
        }
    }

    fn timer_fired(&mut self, id: u64, now: Instant, fx: &mut Vec<Effect>) {
        // A timer cancelled or replaced after it fired is stale.
        let Some(timer) = self.timer.filter(|t| t.id == id) else {
            return;
        };
        self.timer = None;
        match timer.kind {
            TimerKind::Context | TimerKind::Retry => self.start_turn(fx),
            TimerKind::LimitWait => {
                if self.agent.is_some() {
                    self.start_turn(fx);
                } else {
                    self.attach_agent(now, fx);
                }
            }
        }
    }

    /// Applies the owner to the AI side: an attached agent answers, another is asked first.
    fn attach_agent(&mut self, now: Instant, fx: &mut Vec<Effect>) {
        let Owner::AiAgent(agent) = self.conversation.owner.clone() else {
            self.release_agent(fx);
            return;
        };
        if self.agent.as_ref().is_some_and(|a| a.id == agent) {
            self.schedule_turn(now, fx);
        } else {
            fx.push(Effect::AttachAgent(agent));
        }
    }

    /// (Re)arms the context timer: messages arriving within the window are answered together.
    fn schedule_turn(&mut self, now: Instant, fx: &mut Vec<Effect>) {
        if self.turn.is_some() || self.pending.is_empty() || self.is_closed() {
            return;
        }
        let Some(agent) = &self.agent else {
            return;
        };
        let wait = Duration::from_secs(u64::from(agent.settings.context_timer_seconds));
        self.cancel_timer(fx);
        if wait.is_zero() {
            self.start_turn(fx);
        } else {
            self.arm(TimerKind::Context, wait, now, fx);
        }
    }

    fn start_turn(&mut self, fx: &mut Vec<Effect>) {
        if self.turn.is_some() || self.agent.is_none() {
            return;
        }
        let (Some(first), Some(last)) = (self.pending.first(), self.pending.last()) else {
            return;
        };
        self.turn = Some(Turn { up_to: last.seq });
        fx.push(Effect::RunTurn {
            first_seq: first.seq,
            pending: self.pending.iter().map(|p| p.content.clone()).collect(),
            tool_results: self.tools.prompt_lines(),
        });
    }

    fn turn_finished(
        &mut self,
        result: Result<TurnDone, TurnFailure>,
        rules: &Rules,
        now: Instant,
        fx: &mut Vec<Effect>,
    ) {
        let Some(turn) = self.turn else {
            return;
        };
        match result {
            Ok(done) => {
                self.failed_attempts = 0;
                self.record_tools(&done, rules, fx);
                let (min_seconds, max_seconds) = self.agent.as_ref().map_or((0, 0), |a| {
                    (
                        a.settings.response_delay_min_seconds,
                        a.settings.response_delay_max_seconds,
                    )
                });
                fx.push(Effect::DelayReply {
                    done,
                    up_to: turn.up_to,
                    min_seconds,
                    max_seconds,
                });
            }
            Err(TurnFailure::Limited(hit)) => {
                self.turn = None;
                let on_limit = self
                    .agent
                    .as_ref()
                    .map_or(OnLimit::Wait, |a| a.settings.on_limit);
                self.on_limit(hit, on_limit, rules, now, fx);
            }
            Err(TurnFailure::Provider(e))
                if e.is_retryable()
                    && self.failed_attempts + 1 < rules.engine.turn_max_attempts =>
            {
                self.turn = None;
                self.failed_attempts += 1;
                let backoff = rules
                    .engine
                    .turn_retry_backoff
                    .saturating_mul(1 << self.failed_attempts.min(10));
                tracing::warn!(
                    reason = e.reason(),
                    attempt = self.failed_attempts,
                    "AI turn failed; retrying"
                );
                self.arm(TimerKind::Retry, backoff, now, fx);
            }
            Err(failure) => {
                self.turn = None;
                self.failed_attempts = 0;
                let reason = failure.escalation_reason();
                tracing::warn!(reason = %reason, "AI turn failed; handing over to a human");
                self.escalate(reason, None, rules, fx);
            }
        }
    }

    /// Keeps what this turn's successful tool calls returned, for the turns after it.
    fn record_tools(&mut self, done: &TurnDone, rules: &Rules, fx: &mut Vec<Effect>) {
        let mut changed = false;
        for call in done.tool_calls.iter().filter(|c| c.ok) {
            let Some(result) = &call.result else { continue };
            changed |=
                self.tools
                    .record(&call.name, &call.arguments, result, rules.engine.tool_state);
        }
        if changed {
            fx.push(Effect::SaveToolState(self.tools.to_json()));
        }
    }

    /// A limit blocked the turn: wait and try again, or hand over — and record why.
    fn on_limit(
        &mut self,
        reason: LimitHit,
        on_limit: OnLimit,
        rules: &Rules,
        now: Instant,
        fx: &mut Vec<Effect>,
    ) {
        fx.push(Effect::Publish(EngineEvent::LimitReached {
            reason,
            action: on_limit,
        }));
        match on_limit {
            OnLimit::Handover => {
                self.escalate(EscalationReason::LimitReached(reason), None, rules, fx)
            }
            OnLimit::Wait => {
                self.cancel_timer(fx);
                self.arm(TimerKind::LimitWait, rules.engine.limit_wait, now, fx);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn reply_stored(
        &mut self,
        reply: Option<StoredReply>,
        agent_id: String,
        up_to: i64,
        done: TurnDone,
        rules: &Rules,
        now: Instant,
        fx: &mut Vec<Effect>,
    ) {
        self.turn = None;
        let question = self
            .pending
            .iter()
            .filter(|p| p.seq <= up_to)
            .map(|p| p.content.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        self.last_reply = reply.as_ref().map(|r| {
            Box::new(LastReply {
                message_id: r.message_id.clone(),
                agent_id: Some(agent_id),
                question,
            })
        });
        self.pending.retain(|p| p.seq > up_to);
        let c = &mut self.conversation;
        c.answered_seq = c.answered_seq.max(up_to);
        if let Some(reply) = &reply {
            c.last_seq = c.last_seq.max(reply.seq);
            c.answered_before = true;
        }
        // A meeting the AI booked is confirmed to the customer in the engine's words (with
        // its calendar link), whatever the model said about it.
        for confirmation in crate::tools::system::meeting_confirmations(&done.tool_calls) {
            self.say_system(confirmation, fx);
        }
        self.apply_memory_cadence(rules, fx);
        if !self.apply_turn_effects(done.effects, done.tool_failures, rules, fx) {
            self.schedule_turn(now, fx);
        }
    }

    /// Applies what an AI turn asked for (tools, automations) and hands over when tool calls
    /// keep failing (`engine.tool_failure_escalation`). Returns true when the conversation
    /// left the AI or is about to, so no further turn is scheduled.
    fn apply_turn_effects(
        &mut self,
        effects: Vec<TurnEffect>,
        tool_failures: u32,
        rules: &Rules,
        fx: &mut Vec<Effect>,
    ) -> bool {
        let mut leaving = false;
        for effect in effects {
            leaving = true;
            match effect {
                TurnEffect::Escalate { reason } => self.escalate(reason, None, rules, fx),
                TurnEffect::Assign { owner } => fx.push(Effect::Assign(owner)),
                TurnEffect::Close { reason } => fx.push(Effect::Close(reason)),
            }
        }
        let limit = rules.engine.tool_failure_escalation;
        if limit > 0 && tool_failures >= limit {
            tracing::warn!(
                tool_failures,
                "tool calls keep failing; handing over to a human"
            );
            self.escalate(EscalationReason::ToolFailures, None, rules, fx);
            leaving = true;
        }
        leaving
    }

    /// Every `memory_every_n_messages` customer messages memories about the contact are
    /// extracted: the owning AI agent's setting, applied after its reply; the default one,
    /// applied at once, while a human serves the conversation.
    fn apply_memory_cadence(&mut self, rules: &Rules, fx: &mut Vec<Effect>) {
        let (every, with_agent) = match (&self.conversation.owner, &self.agent) {
            (Owner::User(_), _) => (rules.engine.default_memory_every, false),
            (Owner::AiAgent(_), Some(agent)) => (agent.settings.memory_every_n_messages, true),
            // Not attached: wait for the reply, when the agent's cadence is known.
            _ => return,
        };
        let (after, upto) = (self.memory_checked, self.memory_seen);
        self.memory_checked = upto;
        if memory::extraction_due(after, upto, every) {
            fx.push(Effect::ExtractMemories { every, with_agent });
        }
    }

    fn release_agent(&mut self, fx: &mut Vec<Effect>) {
        if self.agent.take().is_some() {
            fx.push(Effect::ReleaseAgent);
        }
    }

    /// Sends the out-of-hours reply once per stretch of closed hours; true when it was sent
    /// now or earlier in this stretch.
    fn tell_out_of_hours(&mut self, rules: &Rules, fx: &mut Vec<Effect>) -> bool {
        let hours = &rules.tenant.business_hours;
        let text = hours.out_of_hours_message.trim();
        if !self.out_of_hours || !hours.enabled || text.is_empty() {
            return false;
        }
        if !self.out_of_hours_told {
            self.out_of_hours_told = true;
            self.say_system(text.to_string(), fx);
        }
        true
    }

    fn say_system(&mut self, text: String, fx: &mut Vec<Effect>) {
        if !text.trim().is_empty() {
            fx.push(Effect::SendSystem(text));
        }
    }

    /// Keeps the in-memory row in step with an owner/status change.
    fn write_owner(&mut self, write: OwnerWrite, fx: &mut Vec<Effect>) {
        let c = &mut self.conversation;
        let previous = c.owner.clone();
        match &write {
            OwnerWrite::Assign {
                owner,
                answered_seq,
                ..
            } => {
                c.status = if *owner == Owner::Nobody {
                    Status::Queued
                } else {
                    Status::Open
                };
                c.owner = owner.clone();
                if let Some(seq) = answered_seq {
                    c.answered_seq = c.answered_seq.max(*seq);
                }
            }
            OwnerWrite::Close { answered_seq, .. } => {
                c.status = Status::Closed;
                c.answered_seq = c.answered_seq.max(*answered_seq);
            }
        }
        fx.push(Effect::WriteOwner { write, previous });
    }

    /// Leaves the AI for a human: a named user, or the distributor's pick among humans.
    fn escalate(
        &mut self,
        reason: EscalationReason,
        user: Option<UserId>,
        rules: &Rules,
        fx: &mut Vec<Effect>,
    ) {
        if self.is_closed() {
            return;
        }
        self.cancel_timer(fx);
        let was_ai = matches!(self.conversation.owner, Owner::AiAgent(_));
        // What the customer says next answers the hand-over, not the AI's last reply.
        self.last_reply = None;
        self.release_agent(fx);
        self.pending.clear();
        let owner = user.map_or(Owner::Nobody, Owner::User);
        let last_seq = self.conversation.last_seq;
        self.write_owner(
            OwnerWrite::Assign {
                owner: owner.clone(),
                escalation_reason: Some(reason.clone()),
                answered_seq: Some(last_seq),
            },
            fx,
        );
        fx.push(Effect::Publish(EngineEvent::ConversationEscalated {
            reason,
            owner: owner.clone(),
        }));
        self.handed_over = true;
        // Out of hours the customer learns when humans are back instead of "a moment".
        if !self.tell_out_of_hours(rules, fx) && was_ai {
            self.say_system(rules.tenant.handover_message.clone(), fx);
        }
        if owner == Owner::Nobody {
            self.assignment_requested = false;
            self.request_assignment(true, fx);
        }
    }

    fn assigned(&mut self, owner: Owner, now: Instant, fx: &mut Vec<Effect>) {
        if self.conversation.owner.agent() != owner.agent() {
            self.release_agent(fx);
        }
        self.write_owner(
            OwnerWrite::Assign {
                owner: owner.clone(),
                escalation_reason: None,
                answered_seq: None,
            },
            fx,
        );
        self.assignment_requested = false;
        fx.push(Effect::Publish(EngineEvent::ConversationAssigned {
            owner: owner.clone(),
        }));
        match owner {
            Owner::AiAgent(_) => {
                self.handed_over = false;
                self.welcome_due = true;
                self.attach_agent(now, fx);
            }
            Owner::User(_) => self.pending.clear(),
            Owner::Nobody => {}
        }
    }

    fn close(&mut self, reason: Option<String>, rules: &Rules, fx: &mut Vec<Effect>) {
        if self.is_closed() {
            return;
        }
        self.cancel_timer(fx);
        self.release_agent(fx);
        self.pending.clear();
        let human = matches!(self.conversation.owner, Owner::User(_));
        let last_seq = self.conversation.last_seq;
        self.write_owner(
            OwnerWrite::Close {
                reason: reason.clone(),
                answered_seq: last_seq,
            },
            fx,
        );
        fx.push(Effect::Publish(EngineEvent::ConversationClosed { reason }));
        let csat = &rules.tenant.csat;
        // Only a conversation the customer spoke in is rated.
        if csat.enabled && self.conversation.customer_messages > 0 {
            fx.push(Effect::AskRating {
                question: csat.question.clone(),
            });
        }
        if human {
            fx.push(Effect::CapacityFreed);
        }
    }
}

#[cfg(test)]
mod tests;
