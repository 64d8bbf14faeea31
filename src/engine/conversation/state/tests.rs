//! The conversation's invariants, checked on the state machine alone: no acknowledged
//! message is lost, at most one turn is in flight, messages are answered in order, and each
//! customer message is answered once. The clock is a plain `Instant` the tests move; nothing
//! sleeps.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::domain::escalation::ProviderFault;
use crate::domain::tool_state::Limits;
use crate::llm::LlmError;
use crate::tools::CallRecord;

fn tenant() -> TenantSettings {
    use crate::domain::tenant_settings::*;
    TenantSettings {
        handover_message: "Um momento, vou transferir.".into(),
        welcome_message: None,
        human_request_phrases: vec!["falar com humano".into()],
        classification: ClassificationPolicy {
            mode: ClassificationMode::Rules,
            escalate_critical: false,
            escalate_vip: false,
            vip_tags: vec![],
        },
        feedback: FeedbackPolicy {
            escalate: false,
            escalate_min_score: 0.8,
        },
        business_hours: BusinessHours {
            enabled: true,
            timezone: "UTC".into(),
            schedule: vec![],
            out_of_hours_message: "Voltamos amanhã às 9h.".into(),
        },
        csat: CsatPolicy {
            enabled: false,
            question: "Nota de 1 a 5?".into(),
            reply_window_minutes: 60,
        },
    }
}

fn rules() -> Rules {
    Rules {
        tenant: Arc::new(tenant()),
        engine: Arc::new(EngineRules {
            turn_max_attempts: 3,
            turn_retry_backoff: Duration::from_millis(500),
            limit_wait: Duration::from_secs(5),
            tool_failure_escalation: 3,
            feedback: FeedbackSettings {
                enabled: true,
                min_score: 0.5,
                escalate: false,
                escalate_min_score: 0.8,
                repeat_similarity: 0.8,
            },
            default_memory_every: 5,
            tool_state: Limits {
                entries: 4,
                result_chars: 200,
            },
        }),
    }
}

fn agent_id() -> AgentId {
    AgentId("agent-1".into())
}

fn settings(context_timer_seconds: u32) -> AgentSettings {
    AgentSettings {
        context_timer_seconds,
        ..AgentSettings::default()
    }
}

fn snapshot(owner: Owner) -> Snapshot {
    Snapshot {
        owner,
        status: Status::Open,
        last_seq: 0,
        answered_seq: 0,
        customer_messages: 0,
        // Classified already: the rules' classification is tested on its own.
        category: Some("support".into()),
        priority: "medium".into(),
        answered_before: true,
        vip: false,
    }
}

/// A conversation owned by the AI agent, attached, with this context timer.
fn with_agent(context_timer_seconds: u32, now: Instant) -> ConversationState {
    let mut state = ConversationState::restore(
        snapshot(Owner::AiAgent(agent_id())),
        None,
        ToolState::default(),
        0,
    );
    state.handle(
        Event::AgentAttached(AttachedAgent {
            id: agent_id(),
            settings: settings(context_timer_seconds),
        }),
        &rules(),
        now,
    );
    state
}

fn customer(seq: i64, content: &str) -> Event {
    Event::CustomerMessage {
        message_id: format!("m{seq}"),
        seq,
        content: content.into(),
        ordinal: None,
        out_of_hours: false,
    }
}

fn done(content: &str) -> TurnDone {
    TurnDone {
        content: content.into(),
        prompt_tokens: 1,
        completion_tokens: 1,
        cost_usd: 0.0,
        latency_ms: 1,
        effects: Vec::new(),
        tool_failures: 0,
        sub_agent_id: None,
        automation_id: None,
        tool_calls: Vec::new(),
    }
}

fn tool_call(name: &str, arguments: serde_json::Value, result: serde_json::Value) -> CallRecord {
    CallRecord {
        call_id: "call-1".into(),
        name: name.into(),
        arguments,
        ok: true,
        result: Some(result),
        error: None,
        duration_ms: 1,
        timestamp: String::new(),
    }
}

fn timer_id(fx: &[Effect]) -> Option<u64> {
    fx.iter().find_map(|e| match e {
        Effect::SetTimer { id, .. } => Some(*id),
        _ => None,
    })
}

fn run_turn(fx: &[Effect]) -> Option<(i64, Vec<String>, Vec<String>)> {
    fx.iter().find_map(|e| match e {
        Effect::RunTurn {
            first_seq,
            pending,
            tool_results,
        } => Some((*first_seq, pending.clone(), tool_results.clone())),
        _ => None,
    })
}

/// Finishes the turn in flight with `reply` and stores it as message `reply_seq`.
fn answer(
    state: &mut ConversationState,
    reply: TurnDone,
    reply_seq: i64,
    now: Instant,
) -> Vec<Effect> {
    let rules = rules();
    let fx = state.handle(Event::TurnFinished(Ok(reply)), &rules, now);
    let Some(Effect::DelayReply { done, up_to, .. }) = fx
        .iter()
        .find(|e| matches!(e, Effect::DelayReply { .. }))
        .cloned()
    else {
        panic!("a finished turn waits its delay: {fx:?}");
    };
    let fx = state.handle(Event::ReplyDue { done, up_to }, &rules, now);
    let Some(Effect::StoreReply {
        done,
        agent_id,
        up_to,
    }) = fx.into_iter().next()
    else {
        panic!("the reply is stored");
    };
    state.handle(
        Event::ReplyStored {
            reply: Some(StoredReply {
                message_id: format!("m{reply_seq}"),
                seq: reply_seq,
            }),
            agent_id: agent_id.to_string(),
            up_to,
            done,
        },
        &rules,
        now,
    )
}

#[test]
fn messages_within_the_context_window_are_answered_together() {
    let rules = rules();
    let t0 = Instant::now();
    let mut state = with_agent(5, t0);
    let fx = state.handle(customer(1, "oi"), &rules, t0);
    let first = timer_id(&fx).expect("the context timer starts");
    assert_eq!(state.timer_due(), Some(t0 + Duration::from_secs(5)));
    assert!(run_turn(&fx).is_none());

    let t1 = t0 + Duration::from_secs(2);
    let fx = state.handle(customer(2, "meu pedido"), &rules, t1);
    assert!(matches!(fx.first(), Some(Effect::CancelTimer)));
    let second = timer_id(&fx).expect("the window restarts");
    assert_eq!(state.timer_due(), Some(t1 + Duration::from_secs(5)));

    // The replaced timer firing late does nothing.
    assert!(state
        .handle(Event::TimerFired { id: first }, &rules, t1)
        .is_empty());
    let fx = state.handle(
        Event::TimerFired { id: second },
        &rules,
        t1 + Duration::from_secs(5),
    );
    let (first_seq, pending, _) = run_turn(&fx).expect("one turn for both");
    assert_eq!(first_seq, 1);
    assert_eq!(pending, ["oi", "meu pedido"]);
    assert!(state.turn_in_flight());
    assert!(!state.is_idle());
}

#[test]
fn one_turn_in_flight_and_later_messages_wait_for_the_next() {
    let rules = rules();
    let now = Instant::now();
    let mut state = with_agent(0, now);
    let fx = state.handle(customer(1, "oi"), &rules, now);
    assert_eq!(run_turn(&fx).map(|t| t.1), Some(vec!["oi".to_string()]));
    // Arrives while the turn runs: buffered, no second turn, no timer.
    let fx = state.handle(customer(2, "tudo bem?"), &rules, now);
    assert!(run_turn(&fx).is_none() && timer_id(&fx).is_none(), "{fx:?}");
    assert_eq!(state.pending().len(), 2);

    let fx = answer(&mut state, done("olá"), 3, now);
    // Message 1 is answered; message 2 gets its own turn, in order.
    assert_eq!(state.snapshot().answered_seq, 1);
    let (first_seq, pending, _) = run_turn(&fx).expect("the next turn starts");
    assert_eq!((first_seq, pending), (2, vec!["tudo bem?".to_string()]));
    let fx = answer(&mut state, done("tudo"), 4, now);
    assert!(run_turn(&fx).is_none());
    assert_eq!(state.snapshot().answered_seq, 2);
    assert!(state.is_idle());
}

#[test]
fn a_reply_that_could_not_be_stored_loses_no_message() {
    let rules = rules();
    let now = Instant::now();
    let mut state = with_agent(0, now);
    state.handle(customer(1, "oi"), &rules, now);
    state.handle(Event::TurnFinished(Ok(done("olá"))), &rules, now);
    let fx = state.handle(Event::ReplyNotStored, &rules, now);
    assert_eq!(state.snapshot().answered_seq, 0);
    let (_, pending, _) = run_turn(&fx).expect("tried again");
    assert_eq!(pending, ["oi"]);
}

#[test]
fn a_message_is_taken_once_and_never_when_already_answered() {
    let rules = rules();
    let now = Instant::now();
    let mut state = with_agent(0, now);
    state.handle(customer(1, "oi"), &rules, now);
    // The same message again (a redelivery, or rehydration racing a live delivery).
    assert!(state.handle(customer(1, "oi"), &rules, now).is_empty());
    answer(&mut state, done("olá"), 2, now);
    assert!(state.handle(customer(1, "oi"), &rules, now).is_empty());
    assert!(state.pending().is_empty());
}

#[test]
fn a_retryable_failure_backs_off_then_hands_over() {
    let rules = rules();
    let now = Instant::now();
    let mut state = with_agent(0, now);
    state.handle(customer(1, "oi"), &rules, now);
    let timeout = || Event::TurnFinished(Err(TurnFailure::Provider(LlmError::Timeout)));
    let fx = state.handle(timeout(), &rules, now);
    let id = timer_id(&fx).expect("retry armed");
    assert_eq!(state.timer_due(), Some(now + Duration::from_millis(1000)));
    let fx = state.handle(Event::TimerFired { id }, &rules, now);
    assert!(run_turn(&fx).is_some());
    let fx = state.handle(timeout(), &rules, now);
    let id = timer_id(&fx).expect("second retry");
    assert_eq!(state.timer_due(), Some(now + Duration::from_millis(2000)));
    state.handle(Event::TimerFired { id }, &rules, now);
    // The third attempt fails: `turn_max_attempts` is 3.
    let fx = state.handle(timeout(), &rules, now);
    assert!(
        fx.iter().any(|e| matches!(
            e,
            Effect::WriteOwner {
                write: OwnerWrite::Assign {
                    owner: Owner::Nobody,
                    escalation_reason: Some(EscalationReason::Provider(ProviderFault::Timeout)),
                    answered_seq: Some(1)
                },
                previous: Owner::AiAgent(_),
            }
        )),
        "{fx:?}"
    );
    assert!(fx.iter().any(|e| matches!(e, Effect::ReleaseAgent)));
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::RequestAssignment { humans_only: true })));
    assert!(fx.iter().any(|e| matches!(e, Effect::SendSystem(_))));
    assert!(state.pending().is_empty() && state.agent().is_none());
}

#[test]
fn a_failure_that_cannot_pass_hands_over_at_once() {
    let rules = rules();
    let now = Instant::now();
    let mut state = with_agent(0, now);
    state.handle(customer(1, "oi"), &rules, now);
    let fx = state.handle(
        Event::TurnFinished(Err(TurnFailure::Provider(LlmError::InvalidApiKey))),
        &rules,
        now,
    );
    assert!(timer_id(&fx).is_none());
    assert_eq!(*state.owner(), Owner::Nobody);
    assert_eq!(state.snapshot().status, Status::Queued);
}

#[test]
fn asking_for_a_human_escalates_and_clears_the_buffer() {
    let rules = rules();
    let now = Instant::now();
    let mut state = with_agent(5, now);
    state.handle(customer(1, "oi"), &rules, now);
    let fx = state.handle(customer(2, "quero falar com humano"), &rules, now);
    assert!(fx.iter().any(|e| matches!(e, Effect::CancelTimer)));
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Publish(EngineEvent::ConversationEscalated {
            reason: EscalationReason::CustomerRequestedHuman,
            ..
        })
    )));
    assert!(state.pending().is_empty());
    assert_eq!(state.snapshot().answered_seq, 2);
    assert!(state.is_idle());
}

#[test]
fn a_limit_waits_then_asks_the_agent_again() {
    let rules = rules();
    let now = Instant::now();
    let mut state = ConversationState::restore(
        snapshot(Owner::AiAgent(agent_id())),
        None,
        ToolState::default(),
        0,
    );
    let fx = state.handle(customer(1, "oi"), &rules, now);
    assert!(matches!(fx.as_slice(), [Effect::AttachAgent(a)] if *a == agent_id()));
    let fx = state.handle(
        Event::AgentRefused {
            reason: LimitHit::MaxConversations,
            on_limit: OnLimit::Wait,
        },
        &rules,
        now,
    );
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Publish(EngineEvent::LimitReached {
            reason: LimitHit::MaxConversations,
            action: OnLimit::Wait,
        })
    )));
    let id = timer_id(&fx).expect("waits");
    assert_eq!(state.timer_due(), Some(now + rules.engine.limit_wait));
    let fx = state.handle(
        Event::TimerFired { id },
        &rules,
        now + rules.engine.limit_wait,
    );
    assert!(matches!(fx.as_slice(), [Effect::AttachAgent(_)]));
    // Admitted now: the buffered message is answered.
    let fx = state.handle(
        Event::AgentAttached(AttachedAgent {
            id: agent_id(),
            settings: settings(0),
        }),
        &rules,
        now,
    );
    assert_eq!(run_turn(&fx).map(|t| t.1), Some(vec!["oi".to_string()]));
}

#[test]
fn a_human_owner_answers_and_the_memory_cadence_runs_at_once() {
    let rules = rules();
    let now = Instant::now();
    let mut state = ConversationState::restore(
        snapshot(Owner::User(UserId("u1".into()))),
        None,
        ToolState::default(),
        0,
    );
    for seq in 1..=4 {
        let fx = state.handle(customer(seq, "oi"), &rules, now);
        assert!(fx.is_empty(), "{fx:?}");
    }
    let fx = state.handle(customer(5, "oi"), &rules, now);
    assert!(matches!(
        fx.as_slice(),
        [Effect::ExtractMemories {
            every: 5,
            with_agent: false
        }]
    ));
    assert!(state.pending().is_empty());
    state.handle(Event::HumanReplied { seq: 6 }, &rules, now);
    assert_eq!(state.snapshot().answered_seq, 6);
}

#[test]
fn tool_results_reach_the_next_turn_and_are_saved() {
    let rules = rules();
    let now = Instant::now();
    let mut state = with_agent(0, now);
    state.handle(customer(1, "meu pedido 42?"), &rules, now);
    let mut reply = done("Seu pedido foi enviado.");
    reply.tool_calls = vec![tool_call(
        "lookup_order",
        serde_json::json!({ "order": 42 }),
        serde_json::json!({ "status": "shipped" }),
    )];
    let fx = state.handle(Event::TurnFinished(Ok(reply)), &rules, now);
    let saved = fx.iter().find_map(|e| match e {
        Effect::SaveToolState(json) => Some(json.clone()),
        _ => None,
    });
    let saved = saved.expect("the tool state is persisted");
    assert_eq!(ToolState::from_json(&saved), *state.tools());

    // Rehydrated from what was saved, the next turn carries the result.
    let mut state = ConversationState::restore(
        snapshot(Owner::AiAgent(agent_id())),
        None,
        ToolState::from_json(&saved),
        0,
    );
    state.handle(
        Event::AgentAttached(AttachedAgent {
            id: agent_id(),
            settings: settings(0),
        }),
        &rules,
        now,
    );
    let fx = state.handle(customer(3, "e quando chega?"), &rules, now);
    let (_, _, tool_results) = run_turn(&fx).expect("a turn");
    assert_eq!(
        tool_results,
        [r#"lookup_order({"order":42}) → {"status":"shipped"}"#]
    );
}

#[test]
fn rehydration_with_nothing_pending_asks_for_an_owner() {
    let rules = rules();
    let now = Instant::now();
    let mut state =
        ConversationState::restore(snapshot(Owner::Nobody), None, ToolState::default(), 0);
    let fx = state.handle(Event::Hydrated { escalated: true }, &rules, now);
    assert!(matches!(
        fx.as_slice(),
        [Effect::RequestAssignment { humans_only: true }]
    ));
    // Asked once until an owner is decided.
    assert!(state
        .handle(Event::Hydrated { escalated: true }, &rules, now)
        .is_empty());
}

#[test]
fn closing_drops_the_buffer_and_ignores_what_follows() {
    let rules = rules();
    let now = Instant::now();
    let mut state = with_agent(5, now);
    state.handle(customer(1, "oi"), &rules, now);
    let fx = state.handle(Event::Close { reason: None }, &rules, now);
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::WriteOwner {
            write: OwnerWrite::Close {
                answered_seq: 1,
                ..
            },
            previous: Owner::AiAgent(_),
        }
    )));
    assert!(state.is_closed() && state.is_idle());
    assert!(state
        .handle(
            Event::Escalate {
                reason: EscalationReason::Staff("x".into()),
                user: None
            },
            &rules,
            now
        )
        .is_empty());
}

// ---- Property: random event sequences keep the invariants ----------------------------

#[derive(Debug, Clone)]
enum Op {
    Customer { asks_for_human: bool },
    FireTimer,
    TurnOk { with_tool: bool },
    TurnRetryable,
    TurnFatal,
    TurnLimited,
    ReplyDue,
    StoreOk,
    StoreFails,
    HumanTakes,
    HumanReplies,
    AssignAi,
    Escalate,
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Customer { asks_for_human: false }),
        1 => Just(Op::Customer { asks_for_human: true }),
        4 => Just(Op::FireTimer),
        4 => any::<bool>().prop_map(|with_tool| Op::TurnOk { with_tool }),
        1 => Just(Op::TurnRetryable),
        1 => Just(Op::TurnFatal),
        1 => Just(Op::TurnLimited),
        4 => Just(Op::ReplyDue),
        4 => Just(Op::StoreOk),
        1 => Just(Op::StoreFails),
        1 => Just(Op::HumanTakes),
        1 => Just(Op::HumanReplies),
        2 => Just(Op::AssignAi),
        1 => Just(Op::Escalate),
        1 => Just(Op::Close),
    ]
}

/// Plays the actor: performs effects the way it would, with every outside answer (the
/// agent's supervisor, the store) chosen by the random ops.
struct Harness {
    state: ConversationState,
    rules: Rules,
    now: Instant,
    next_seq: i64,
    timer: Option<u64>,
    /// The seqs the requested turn answers, until it ends one way or another.
    turn: Option<Vec<i64>>,
    turn_finished: bool,
    delayed: Option<(TurnDone, i64)>,
    storing: Option<(TurnDone, AgentId, i64)>,
    customer_seqs: Vec<i64>,
    answered_by_reply: BTreeSet<i64>,
    /// Messages a human was given: the human answers them, not the AI.
    handed_to_human: BTreeSet<i64>,
}

impl Harness {
    fn new() -> Harness {
        let now = Instant::now();
        Harness {
            state: with_agent(2, now),
            rules: rules(),
            now,
            next_seq: 0,
            timer: None,
            turn: None,
            turn_finished: false,
            delayed: None,
            storing: None,
            customer_seqs: Vec::new(),
            answered_by_reply: BTreeSet::new(),
            handed_to_human: BTreeSet::new(),
        }
    }

    fn seq(&mut self) -> i64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn feed(&mut self, event: Event) {
        self.now += Duration::from_millis(700);
        let effects = self.state.handle(event, &self.rules, self.now);
        for effect in effects {
            self.perform(effect);
        }
        self.check();
    }

    fn perform(&mut self, effect: Effect) {
        match effect {
            Effect::SetTimer { id, .. } => self.timer = Some(id),
            Effect::CancelTimer => self.timer = None,
            Effect::AttachAgent(id) => self.feed(Event::AgentAttached(AttachedAgent {
                id,
                settings: settings(2),
            })),
            Effect::RunTurn {
                first_seq, pending, ..
            } => {
                assert!(self.turn.is_none(), "a second turn while one is in flight");
                let batch: Vec<i64> = self.state.pending().iter().map(|p| p.seq).collect();
                assert_eq!(batch.first(), Some(&first_seq));
                assert_eq!(batch.len(), pending.len());
                assert!(
                    batch.iter().all(|s| !self.answered_by_reply.contains(s)),
                    "a turn for a message already answered"
                );
                self.turn = Some(batch);
                self.turn_finished = false;
            }
            Effect::DelayReply { done, up_to, .. } => self.delayed = Some((done, up_to)),
            Effect::StoreReply {
                done,
                agent_id,
                up_to,
            } => self.storing = Some((done, agent_id, up_to)),
            Effect::SendSystem(_) | Effect::SendFollowup { .. } => {
                let seq = self.seq();
                self.feed(Event::OutboundStored { seq });
            }
            Effect::Assign(owner) => self.feed(Event::Assigned { owner }),
            Effect::Close(reason) => self.feed(Event::Close { reason }),
            _ => {}
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Customer { asks_for_human } => {
                let seq = self.seq();
                if !self.state.is_closed() {
                    self.customer_seqs.push(seq);
                }
                let content = if asks_for_human {
                    "quero falar com humano".to_string()
                } else {
                    format!("mensagem {seq}")
                };
                self.feed(customer(seq, &content));
            }
            Op::FireTimer => {
                if let Some(id) = self.timer.take() {
                    self.feed(Event::TimerFired { id });
                }
            }
            Op::TurnOk { with_tool } => {
                if self.turn.is_some() && !self.turn_finished {
                    self.turn_finished = true;
                    let mut reply = done("resposta");
                    if with_tool {
                        reply.tool_calls = vec![tool_call(
                            "lookup",
                            serde_json::json!({ "n": self.next_seq }),
                            serde_json::json!("ok"),
                        )];
                    }
                    self.feed(Event::TurnFinished(Ok(reply)));
                }
            }
            Op::TurnRetryable | Op::TurnFatal | Op::TurnLimited => {
                if self.turn.is_some() && !self.turn_finished {
                    self.turn = None;
                    let failure = match op {
                        Op::TurnRetryable => TurnFailure::Provider(LlmError::Timeout),
                        Op::TurnFatal => TurnFailure::Provider(LlmError::InvalidApiKey),
                        _ => {
                            TurnFailure::Limited(crate::domain::limits::LimitHit::RequestsPerMinute)
                        }
                    };
                    self.feed(Event::TurnFinished(Err(failure)));
                }
            }
            Op::ReplyDue => {
                if let Some((done, up_to)) = self.delayed.take() {
                    self.feed(Event::ReplyDue { done, up_to });
                    if self.storing.is_none() {
                        // Dropped: the conversation left the AI meanwhile.
                        self.turn = None;
                    }
                }
            }
            Op::StoreOk => {
                if let Some((done, agent_id, up_to)) = self.storing.take() {
                    let batch = self.turn.take().unwrap_or_default();
                    for seq in batch.iter().filter(|s| **s <= up_to) {
                        assert!(
                            self.answered_by_reply.insert(*seq),
                            "message {seq} answered twice"
                        );
                    }
                    let seq = self.seq();
                    self.feed(Event::ReplyStored {
                        reply: Some(StoredReply {
                            message_id: format!("m{seq}"),
                            seq,
                        }),
                        agent_id: agent_id.to_string(),
                        up_to,
                        done,
                    });
                }
            }
            Op::StoreFails => {
                if self.storing.take().is_some() {
                    self.turn = None;
                    self.feed(Event::ReplyNotStored);
                }
            }
            Op::HumanTakes => self.feed(Event::Assigned {
                owner: Owner::User(UserId("u1".into())),
            }),
            Op::HumanReplies => {
                if matches!(self.state.owner(), Owner::User(_)) && !self.state.is_closed() {
                    let seq = self.seq();
                    self.feed(Event::HumanReplied { seq });
                }
            }
            Op::AssignAi => {
                if !self.state.is_closed() {
                    self.feed(Event::Assigned {
                        owner: Owner::AiAgent(agent_id()),
                    });
                }
            }
            Op::Escalate => self.feed(Event::Escalate {
                reason: EscalationReason::Staff("operator".into()),
                user: None,
            }),
            Op::Close => self.feed(Event::Close { reason: None }),
        }
    }

    /// No acknowledged message is lost, and the buffer keeps arrival order.
    fn check(&mut self) {
        if matches!(self.state.owner(), Owner::User(_)) {
            self.handed_to_human
                .extend(self.customer_seqs.iter().copied());
        }
        let pending: Vec<i64> = self.state.pending().iter().map(|p| p.seq).collect();
        assert!(
            pending.windows(2).all(|w| w[0] < w[1]),
            "pending out of order: {pending:?}"
        );
        let snapshot = self.state.snapshot();
        for seq in &self.customer_seqs {
            let kept = pending.contains(seq)
                || *seq <= snapshot.answered_seq
                || self.handed_to_human.contains(seq)
                || self.state.is_closed();
            assert!(kept, "message {seq} lost: {pending:?} {snapshot:?}");
        }
    }

    /// Lets every outside answer succeed until nothing moves.
    fn settle(&mut self) {
        for _ in 0..200 {
            if self.timer.is_some() {
                self.apply(Op::FireTimer);
            } else if self.turn.is_some() && !self.turn_finished {
                self.apply(Op::TurnOk { with_tool: false });
            } else if self.delayed.is_some() {
                self.apply(Op::ReplyDue);
            } else if self.storing.is_some() {
                self.apply(Op::StoreOk);
            } else {
                return;
            }
        }
        panic!("the conversation never settles");
    }
}

fn system_texts(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::SendSystem(text) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn after_hours(seq: i64, content: &str) -> Event {
    match customer(seq, content) {
        Event::CustomerMessage {
            message_id,
            seq,
            content,
            ordinal,
            ..
        } => Event::CustomerMessage {
            message_id,
            seq,
            content,
            ordinal,
            out_of_hours: true,
        },
        other => other,
    }
}

#[test]
fn the_tenants_handover_text_and_phrases_are_the_ones_in_the_rules() {
    let now = Instant::now();
    let mut rules = rules();
    let mut custom = tenant();
    custom.handover_message = "A Ana já vem.".into();
    custom.human_request_phrases = vec!["chama a ana".into()];
    rules.tenant = Arc::new(custom);
    let mut state = with_agent(0, now);
    // The old phrase is an ordinary question now.
    let fx = state.handle(customer(1, "falar com humano"), &rules, now);
    assert!(system_texts(&fx).is_empty(), "{fx:?}");
    assert!(run_turn(&fx).is_some());
    let mut state = with_agent(0, now);
    let fx = state.handle(customer(1, "Chama a Ana, por favor"), &rules, now);
    assert_eq!(system_texts(&fx), vec!["A Ana já vem.".to_string()]);
}

#[test]
fn out_of_hours_a_hand_over_says_when_humans_are_back_once_per_stretch() {
    let now = Instant::now();
    let rules = rules();
    let mut state = with_agent(0, now);
    let fx = state.handle(after_hours(1, "falar com humano"), &rules, now);
    assert_eq!(
        system_texts(&fx),
        vec!["Voltamos amanhã às 9h.".to_string()]
    );
    // Still closed: the customer waiting for a human is not told again.
    let fx = state.handle(after_hours(2, "alô?"), &rules, now);
    assert!(system_texts(&fx).is_empty(), "{fx:?}");
    // Open again, then closed again: a new stretch, told again.
    let fx = state.handle(customer(3, "oi"), &rules, now);
    assert!(system_texts(&fx).is_empty(), "{fx:?}");
    let fx = state.handle(after_hours(4, "ainda aí?"), &rules, now);
    assert_eq!(
        system_texts(&fx),
        vec!["Voltamos amanhã às 9h.".to_string()]
    );
    // In hours, the hand-over text.
    let mut state = with_agent(0, now);
    let fx = state.handle(customer(1, "falar com humano"), &rules, now);
    assert_eq!(
        system_texts(&fx),
        vec!["Um momento, vou transferir.".to_string()]
    );
    // An AI serving the conversation answers at night without the auto-reply.
    let mut state = with_agent(0, now);
    let fx = state.handle(after_hours(1, "qual o prazo?"), &rules, now);
    assert!(system_texts(&fx).is_empty(), "{fx:?}");
    assert!(run_turn(&fx).is_some());
}

#[test]
fn closing_asks_for_a_rating_only_when_csat_is_on_and_the_customer_spoke() {
    let now = Instant::now();
    let mut rules = rules();
    let asks = |fx: &[Effect]| {
        fx.iter().find_map(|e| match e {
            Effect::AskRating { question } => Some(question.clone()),
            _ => None,
        })
    };
    let mut state = with_agent(0, now);
    state.handle(customer(1, "oi"), &rules, now);
    let fx = state.handle(Event::Close { reason: None }, &rules, now);
    assert_eq!(asks(&fx), None, "CSAT off");
    let mut on = tenant();
    on.csat.enabled = true;
    rules.tenant = Arc::new(on);
    let mut state = with_agent(0, now);
    let fx = state.handle(Event::Close { reason: None }, &rules, now);
    assert_eq!(asks(&fx), None, "nobody spoke");
    let mut state = with_agent(0, now);
    state.handle(customer(1, "oi"), &rules, now);
    let fx = state.handle(Event::Close { reason: None }, &rules, now);
    assert_eq!(asks(&fx).as_deref(), Some("Nota de 1 a 5?"));
}

#[test]
fn the_tenants_welcome_applies_when_the_agent_has_none() {
    let now = Instant::now();
    let mut rules = rules();
    let mut custom = tenant();
    custom.welcome_message = Some("Bem-vindo!".into());
    rules.tenant = Arc::new(custom);
    let mut fresh = snapshot(Owner::Nobody);
    fresh.answered_before = false;
    let mut state = ConversationState::restore(fresh, None, ToolState::default(), 0);
    state.handle(
        Event::Assigned {
            owner: Owner::AiAgent(agent_id()),
        },
        &rules,
        now,
    );
    let fx = state.handle(
        Event::AgentAttached(AttachedAgent {
            id: agent_id(),
            settings: settings(0),
        }),
        &rules,
        now,
    );
    assert_eq!(system_texts(&fx), vec!["Bem-vindo!".to_string()]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_event_sequences_keep_the_invariants(ops in proptest::collection::vec(op(), 1..60)) {
        let mut harness = Harness::new();
        for op in ops {
            harness.apply(op);
        }
        harness.settle();
        let state = &harness.state;
        if matches!(state.owner(), Owner::AiAgent(_)) && !state.is_closed() && state.agent().is_some() {
            // Every customer message the AI owns was answered, each once.
            prop_assert!(state.pending().is_empty(), "unanswered: {:?}", state.pending());
            prop_assert!(!state.turn_in_flight());
            for seq in &harness.customer_seqs {
                prop_assert!(
                    *seq <= state.snapshot().answered_seq || harness.handed_to_human.contains(seq),
                    "message {} never answered", seq
                );
            }
        }
    }
}
