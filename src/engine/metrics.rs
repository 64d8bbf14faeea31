//! Prometheus metrics of the engine, registered on the application's registry
//! (`api::metrics::Metrics::registry`).
//!
//! Three feeds, so no actor has to know about Prometheus:
//! - tenant events (escalations, limits, conversations, messages, failed channel
//!   deliveries) are counted by a listener on the [`EventBus`];
//! - AI turns, tokens and cost are read from the turn log: every refresh adds the totals of
//!   the turns written since the previous one (one `GROUP BY` over an indexed time range);
//! - gauges (queue length, live conversations) are sampled on the same refresh.
//!
//! Outbound webhooks and the Evolution channel update their counters directly. WebSocket
//! sessions are a gauge the session actor moves (`websocket_sessions`).

use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use prometheus::{
    Counter, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry,
};
use tokio::sync::broadcast::error::RecvError;

use super::events::{EngineEvent, EventBus, EventKind};
use super::registry::LiveCount;
use super::Engine;
use crate::domain::conversation::{Owner, SenderType};
use crate::store::analytics;

pub struct EngineMetrics {
    pub ai_turns: IntCounterVec,
    pub ai_tokens: IntCounterVec,
    pub ai_cost_usd: Counter,
    pub escalations: IntCounter,
    pub limits_reached: IntCounter,
    pub conversations_started: IntCounter,
    pub conversations_closed: IntCounter,
    pub messages: IntCounterVec,
    pub channel_delivery_failures: IntCounter,
    /// Channel events not acted upon, by channel and reason (group message, unknown status…).
    pub channel_events_ignored: IntCounterVec,
    pub queue_length: IntGauge,
    pub live_conversations: IntGauge,
    pub websocket_sessions: IntGauge,
    /// Outbound webhook deliveries that finished, by result (`succeeded`, `failed`).
    pub webhook_deliveries: IntCounterVec,
    /// Outbound webhook attempts that did not succeed (each retry counts).
    pub webhook_failures: IntCounter,
    pub webhook_pending: IntGauge,
    /// Operations metrics (issue 16, item 12); see docs/observability.md.
    pub ops: OpsMetrics,
}

/// Latencies and alert feeds a contact center operates by. Labels are fixed enums only
/// (provider, status): agents, departments and categories are created by tenants at run time,
/// so as labels they would grow without bound across tenants; those breakdowns are the
/// analytics API's (`/analytics/humans`, `/analytics/agents/{id}`, `/csat`).
pub struct OpsMetrics {
    /// Customer message stored → the AI's reply stored.
    pub ai_response: Histogram,
    /// Conversation given to a human → that human's first message.
    pub first_human_response: Histogram,
    /// LLM time of each AI turn that called a model, by provider and outcome.
    pub llm_call: HistogramVec,
    pub sla_breaches: IntCounter,
    pub transfers: IntCounter,
    pub queue_oldest_wait: Gauge,
    /// The highest share of a daily or monthly cost cap any AI agent has spent (0 without caps).
    pub budget_used_ratio_max: Gauge,
}

/// Buckets from sub-second AI replies to humans answering after an hour.
const RESPONSE_BUCKETS: [f64; 14] = [
    0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];
const LLM_BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0,
];

impl OpsMetrics {
    fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let ops = OpsMetrics {
            ai_response: Histogram::with_opts(
                HistogramOpts::new(
                    "ai_response_seconds",
                    "From a customer message stored to the AI reply stored",
                )
                .buckets(RESPONSE_BUCKETS.to_vec()),
            )?,
            first_human_response: Histogram::with_opts(
                HistogramOpts::new(
                    "first_human_response_seconds",
                    "From a conversation given to a human to that human's first message",
                )
                .buckets(RESPONSE_BUCKETS.to_vec()),
            )?,
            llm_call: HistogramVec::new(
                HistogramOpts::new(
                    "llm_call_duration_seconds",
                    "LLM time of each AI turn that called a model (its model round trips \
                     and the tools they asked for), from the turn log",
                )
                .buckets(LLM_BUCKETS.to_vec()),
                &["provider", "status"],
            )?,
            sla_breaches: IntCounter::new(
                "sla_breaches_total",
                "Conversations whose human first-response target was missed",
            )?,
            transfers: IntCounter::new(
                "transfers_total",
                "Conversations handed by staff to a colleague or a department",
            )?,
            queue_oldest_wait: Gauge::new(
                "queue_oldest_wait_seconds",
                "How long the longest-waiting queued conversation has waited, all tenants",
            )?,
            budget_used_ratio_max: Gauge::new(
                "ai_budget_used_ratio_max",
                "Highest share of a daily or monthly cost cap spent by any AI agent",
            )?,
        };
        registry.register(Box::new(ops.ai_response.clone()))?;
        registry.register(Box::new(ops.first_human_response.clone()))?;
        registry.register(Box::new(ops.llm_call.clone()))?;
        registry.register(Box::new(ops.sla_breaches.clone()))?;
        registry.register(Box::new(ops.transfers.clone()))?;
        registry.register(Box::new(ops.queue_oldest_wait.clone()))?;
        registry.register(Box::new(ops.budget_used_ratio_max.clone()))?;
        Ok(ops)
    }
}

/// What the event listener times: the first unanswered customer message of each
/// conversation and when each was last given to a human. Bounded: past `capacity` tracked
/// conversations the oldest clocks are dropped (a conversation nobody answers must not grow
/// the map forever), and a closed conversation forgets both.
#[derive(Debug, Default)]
pub struct ResponseClocks {
    capacity: usize,
    waiting_ai: HashMap<String, DateTime<Utc>>,
    waiting_human: HashMap<String, DateTime<Utc>>,
}

/// A latency the listener measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measured {
    AiResponse(f64),
    FirstHumanResponse(f64),
}

impl ResponseClocks {
    pub fn new(capacity: usize) -> Self {
        ResponseClocks {
            capacity: capacity.max(1),
            ..Default::default()
        }
    }

    /// Feeds one event; returns the latencies it completes.
    pub fn observe(
        &mut self,
        conversation: &str,
        event: &EngineEvent,
        at: DateTime<Utc>,
    ) -> Vec<Measured> {
        let seconds = |since: DateTime<Utc>| {
            (at - since)
                .num_microseconds()
                .map_or(0.0, |us| us.max(0) as f64 / 1e6)
        };
        let mut out = Vec::new();
        match event {
            // The first unanswered message starts the clock; later ones do not restart it.
            EngineEvent::MessageReceived { .. } if !self.waiting_ai.contains_key(conversation) => {
                Self::bounded_insert(&mut self.waiting_ai, self.capacity, conversation, at);
            }
            EngineEvent::MessageSent {
                sender_type: SenderType::AiAgent,
                ..
            } => {
                if let Some(since) = self.waiting_ai.remove(conversation) {
                    out.push(Measured::AiResponse(seconds(since)));
                }
            }
            EngineEvent::MessageSent {
                sender_type: SenderType::User,
                ..
            } => {
                // A person answered: what the customer waits for next is a new clock.
                self.waiting_ai.remove(conversation);
                if let Some(since) = self.waiting_human.remove(conversation) {
                    out.push(Measured::FirstHumanResponse(seconds(since)));
                }
            }
            EngineEvent::ConversationAssigned { owner }
            | EngineEvent::ConversationEscalated { owner, .. }
            | EngineEvent::ConversationTransferred { owner, .. } => {
                if matches!(owner, Owner::User(_)) {
                    Self::bounded_insert(&mut self.waiting_human, self.capacity, conversation, at);
                } else {
                    self.waiting_human.remove(conversation);
                }
            }
            EngineEvent::ConversationClosed { .. } => {
                self.waiting_ai.remove(conversation);
                self.waiting_human.remove(conversation);
            }
            _ => {}
        }
        out
    }

    fn bounded_insert(
        map: &mut HashMap<String, DateTime<Utc>>,
        capacity: usize,
        conversation: &str,
        at: DateTime<Utc>,
    ) {
        if map.len() >= capacity && !map.contains_key(conversation) {
            if let Some(oldest) = map.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone()) {
                map.remove(&oldest);
            }
        }
        map.insert(conversation.to_string(), at);
    }

    pub fn tracked(&self) -> usize {
        self.waiting_ai.len() + self.waiting_human.len()
    }
}

/// What one refresh reads from the store for [`OpsMetrics`].
struct OpsSample {
    latencies: Vec<analytics::TurnLatency>,
    oldest_queued: Option<chrono::NaiveDateTime>,
    budget_used_ratio: f64,
}

impl OpsSample {
    fn read(
        conn: &mut crate::store::DbConn,
        after: chrono::NaiveDateTime,
        up_to: chrono::NaiveDateTime,
    ) -> crate::store::StoreResult<Self> {
        use crate::store::{agents, turns};
        let today = crate::store::now().date();
        let (day, month) = (turns::day_period(today), turns::month_period(today));
        let caps: Vec<(String, Option<f64>, Option<f64>)> = agents::list_active(conn)?
            .into_iter()
            .filter_map(|a| {
                // An agent whose limits do not parse is reported by its supervisor.
                let limits = a.limits().ok()?;
                Some((a.id.0, limits.daily_cost_usd, limits.monthly_cost_usd))
            })
            .filter(|(_, d, m)| d.is_some() || m.is_some())
            .collect();
        let spent: HashMap<(String, bool), f64> = if caps.is_empty() {
            HashMap::new()
        } else {
            analytics::spend_in(conn, &day, &month)?
                .into_iter()
                .map(|s| ((s.agent_id, s.period == month), s.cost_usd))
                .collect()
        };
        Ok(OpsSample {
            latencies: analytics::turn_latencies_between(conn, after, up_to)?,
            oldest_queued: analytics::oldest_queued(conn)?,
            budget_used_ratio: budget_used_ratio(&caps, &spent),
        })
    }
}

/// The highest share of a cap spent: per agent, `spent / cap` for its daily and monthly caps
/// (caps of zero or none are unlimited and ignored); 0 when no agent has a cap.
pub fn budget_used_ratio(
    caps: &[(String, Option<f64>, Option<f64>)],
    spent: &HashMap<(String, bool), f64>,
) -> f64 {
    let mut max: f64 = 0.0;
    for (agent, daily, monthly) in caps {
        for (monthly_cap, cap) in [(false, daily), (true, monthly)] {
            let Some(cap) = cap.filter(|c| c.is_finite() && *c > 0.0) else {
                continue;
            };
            let used = spent
                .get(&(agent.clone(), monthly_cap))
                .copied()
                .unwrap_or(0.0);
            if used.is_finite() {
                max = max.max(used / cap);
            }
        }
    }
    max
}

impl EngineMetrics {
    pub fn register(registry: &Registry) -> Result<Arc<Self>, prometheus::Error> {
        let metrics = EngineMetrics {
            ai_turns: IntCounterVec::new(
                Opts::new("ai_turns_total", "AI turns by outcome"),
                &["status"],
            )?,
            ai_tokens: IntCounterVec::new(
                Opts::new("ai_tokens_total", "LLM tokens by kind (prompt, completion)"),
                &["kind"],
            )?,
            ai_cost_usd: Counter::new("ai_cost_usd_total", "LLM cost in USD")?,
            escalations: IntCounter::new(
                "escalations_total",
                "Conversations handed from the AI (or the queue) to humans",
            )?,
            limits_reached: IntCounter::new(
                "limits_reached_total",
                "AI turns blocked by a rate, cost or concurrency limit",
            )?,
            conversations_started: IntCounter::new(
                "conversations_started_total",
                "Conversations started",
            )?,
            conversations_closed: IntCounter::new(
                "conversations_closed_total",
                "Conversations closed",
            )?,
            messages: IntCounterVec::new(
                Opts::new("messages_total", "Messages by direction (received, sent)"),
                &["direction"],
            )?,
            channel_delivery_failures: IntCounter::new(
                "channel_delivery_failures_total",
                "Replies that could not be delivered to the customer's channel",
            )?,
            channel_events_ignored: IntCounterVec::new(
                Opts::new(
                    "channel_events_ignored_total",
                    "Inbound channel events recorded and not acted upon, by reason",
                ),
                &["channel", "reason"],
            )?,
            queue_length: IntGauge::new(
                "queue_length",
                "Conversations waiting for an owner, all tenants",
            )?,
            live_conversations: IntGauge::new(
                "live_conversations",
                "Conversation actors in memory",
            )?,
            websocket_sessions: IntGauge::new("websocket_sessions", "Open WebSocket sessions")?,
            webhook_deliveries: IntCounterVec::new(
                Opts::new(
                    "webhook_deliveries_total",
                    "Outbound event webhook deliveries that finished, by result",
                ),
                &["result"],
            )?,
            webhook_failures: IntCounter::new(
                "webhook_failures_total",
                "Outbound event webhook attempts that failed (each retry counts)",
            )?,
            webhook_pending: IntGauge::new(
                "webhook_deliveries_pending",
                "Outbound event webhook deliveries waiting for an attempt",
            )?,
            ops: OpsMetrics::register(registry)?,
        };
        registry.register(Box::new(metrics.ai_turns.clone()))?;
        registry.register(Box::new(metrics.ai_tokens.clone()))?;
        registry.register(Box::new(metrics.ai_cost_usd.clone()))?;
        registry.register(Box::new(metrics.escalations.clone()))?;
        registry.register(Box::new(metrics.limits_reached.clone()))?;
        registry.register(Box::new(metrics.conversations_started.clone()))?;
        registry.register(Box::new(metrics.conversations_closed.clone()))?;
        registry.register(Box::new(metrics.messages.clone()))?;
        registry.register(Box::new(metrics.channel_delivery_failures.clone()))?;
        registry.register(Box::new(metrics.channel_events_ignored.clone()))?;
        registry.register(Box::new(metrics.queue_length.clone()))?;
        registry.register(Box::new(metrics.live_conversations.clone()))?;
        registry.register(Box::new(metrics.websocket_sessions.clone()))?;
        registry.register(Box::new(metrics.webhook_deliveries.clone()))?;
        registry.register(Box::new(metrics.webhook_failures.clone()))?;
        registry.register(Box::new(metrics.webhook_pending.clone()))?;
        // Label sets that exist from the start, so dashboards see zeros instead of gaps.
        for status in ["ok", "error", "limited", "skipped"] {
            metrics.ai_turns.with_label_values(&[status]);
        }
        for kind in ["prompt", "completion"] {
            metrics.ai_tokens.with_label_values(&[kind]);
        }
        for direction in ["received", "sent"] {
            metrics.messages.with_label_values(&[direction]);
        }
        for result in ["succeeded", "failed"] {
            metrics.webhook_deliveries.with_label_values(&[result]);
        }
        Ok(Arc::new(metrics))
    }

    pub fn ignored(&self, channel: &str, reason: &str) {
        self.channel_events_ignored
            .with_label_values(&[channel, reason])
            .inc();
    }

    /// Starts the event listener and the store sampler on the current actix runtime.
    pub fn spawn(self: &Arc<Self>, engine: &Engine, refresh: Duration) {
        let metrics = self.clone();
        let events = engine.parts.events.clone();
        let clocks = ResponseClocks::new(engine.parts.settings.metrics.tracked_conversations);
        actix_web::rt::spawn(async move { metrics.count_events(events, clocks).await });
        let metrics = self.clone();
        let engine = engine.clone();
        actix_web::rt::spawn(async move { metrics.sample(engine, refresh).await });
    }

    async fn count_events(self: Arc<Self>, events: EventBus, mut clocks: ResponseClocks) {
        let mut receiver = events.subscribe();
        loop {
            match receiver.recv().await {
                Ok(event) => {
                    if let Some(conversation) = &event.conversation_id {
                        for measured in
                            clocks.observe(conversation.as_str(), &event.event, event.at)
                        {
                            match measured {
                                Measured::AiResponse(s) => self.ops.ai_response.observe(s),
                                Measured::FirstHumanResponse(s) => {
                                    self.ops.first_human_response.observe(s)
                                }
                            }
                        }
                    }
                    self.count(event.kind());
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "metrics fell behind the event bus");
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    fn count(&self, kind: EventKind) {
        match kind {
            EventKind::ConversationStarted => self.conversations_started.inc(),
            EventKind::ConversationClosed => self.conversations_closed.inc(),
            EventKind::ConversationEscalated => self.escalations.inc(),
            EventKind::LimitReached => self.limits_reached.inc(),
            EventKind::MessageReceived => self.messages.with_label_values(&["received"]).inc(),
            EventKind::MessageSent => self.messages.with_label_values(&["sent"]).inc(),
            EventKind::DeliveryFailed => self.channel_delivery_failures.inc(),
            EventKind::SlaBreached => self.ops.sla_breaches.inc(),
            EventKind::ConversationTransferred => self.ops.transfers.inc(),
            // No counter of their own.
            EventKind::ConversationAssigned
            | EventKind::FeedbackDetected
            | EventKind::ConversationClassified
            | EventKind::ConversationUpdated
            | EventKind::CsatRated
            | EventKind::NoteAdded => {}
        }
    }

    fn record_ops(&self, sample: OpsSample) {
        for turn in sample.latencies {
            let seconds = turn.latency_ms.max(0) as f64 / 1000.0;
            self.ops
                .llm_call
                .with_label_values(&[turn.provider.as_str(), turn.status.as_str()])
                .observe(seconds);
        }
        let wait = sample.oldest_queued.map_or(0.0, |at| {
            (crate::store::now() - at).num_milliseconds().max(0) as f64 / 1000.0
        });
        self.ops.queue_oldest_wait.set(wait);
        self.ops.budget_used_ratio_max.set(sample.budget_used_ratio);
    }

    async fn sample(self: Arc<Self>, engine: Engine, refresh: Duration) {
        let refresh = refresh.max(Duration::from_millis(50));
        // Turns are counted once their row is surely written: those created up to `lag` ago.
        let lag = chrono::Duration::from_std(
            (refresh * 2).clamp(Duration::from_secs(1), Duration::from_secs(30)),
        )
        .unwrap_or_else(|_| chrono::Duration::seconds(1));
        let mut counted_up_to = crate::store::now() - lag;
        let mut ticker = tokio::time::interval(refresh);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let up_to = crate::store::now() - lag;
            let after = counted_up_to;
            let sampled = engine
                .parts
                .store
                .run(move |conn| {
                    let turns = analytics::turns_between(conn, after, up_to)?;
                    let queued = analytics::queued_conversations(conn)?;
                    let ops = OpsSample::read(conn, after, up_to)?;
                    Ok((turns, queued, ops))
                })
                .await;
            match sampled {
                Ok((turns, queued, ops)) => {
                    counted_up_to = up_to;
                    self.record_ops(ops);
                    for t in turns {
                        self.ai_turns
                            .with_label_values(&[t.status.as_str()])
                            .inc_by(u64::try_from(t.turns).unwrap_or(0));
                        self.ai_tokens
                            .with_label_values(&["prompt"])
                            .inc_by(u64::try_from(t.prompt_tokens).unwrap_or(0));
                        self.ai_tokens
                            .with_label_values(&["completion"])
                            .inc_by(u64::try_from(t.completion_tokens).unwrap_or(0));
                        if t.cost_usd.is_finite() && t.cost_usd > 0.0 {
                            self.ai_cost_usd.inc_by(t.cost_usd);
                        }
                    }
                    self.queue_length.set(queued);
                }
                Err(e) => tracing::warn!(error = %e, "metrics sample failed"),
            }
            match engine.registry.send(LiveCount).await {
                Ok(live) => self
                    .live_conversations
                    .set(i64::try_from(live).unwrap_or(i64::MAX)),
                // The engine is stopping.
                Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MessageId, UserId};

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).expect("time")
    }

    fn received() -> EngineEvent {
        EngineEvent::MessageReceived {
            message_id: MessageId::new(),
            seq: 1,
        }
    }

    fn sent(sender_type: SenderType) -> EngineEvent {
        EngineEvent::MessageSent {
            message_id: MessageId::new(),
            seq: 2,
            sender_type,
        }
    }

    #[test]
    fn the_ai_response_runs_from_the_first_unanswered_message() {
        let mut clocks = ResponseClocks::new(10);
        assert!(clocks.observe("c", &received(), at(0)).is_empty());
        // A second message before the reply does not restart the wait.
        assert!(clocks.observe("c", &received(), at(2)).is_empty());
        assert_eq!(
            clocks.observe("c", &sent(SenderType::AiAgent), at(5)),
            vec![Measured::AiResponse(5.0)]
        );
        // Answered: a further AI message measures nothing.
        assert!(clocks
            .observe("c", &sent(SenderType::AiAgent), at(6))
            .is_empty());
        // Other conversations keep their own clocks.
        clocks.observe("d", &received(), at(7));
        assert!(clocks
            .observe("c", &sent(SenderType::AiAgent), at(8))
            .is_empty());
    }

    #[test]
    fn the_first_human_response_runs_from_the_assignment() {
        let mut clocks = ResponseClocks::new(10);
        let owner = Owner::User(UserId("u".into()));
        clocks.observe("c", &EngineEvent::ConversationAssigned { owner }, at(10));
        assert_eq!(
            clocks.observe("c", &sent(SenderType::User), at(40)),
            vec![Measured::FirstHumanResponse(30.0)]
        );
        // Only the first message of the assignment.
        assert!(clocks
            .observe("c", &sent(SenderType::User), at(50))
            .is_empty());
        // Given to the queue: nobody to time.
        let queued = EngineEvent::ConversationAssigned {
            owner: Owner::Nobody,
        };
        clocks.observe("c", &queued, at(60));
        assert!(clocks
            .observe("c", &sent(SenderType::User), at(70))
            .is_empty());
    }

    #[test]
    fn closing_forgets_and_the_map_is_bounded() {
        let mut clocks = ResponseClocks::new(2);
        clocks.observe("a", &received(), at(0));
        clocks.observe("b", &received(), at(1));
        clocks.observe("c", &received(), at(2));
        assert_eq!(clocks.tracked(), 2);
        // The oldest ("a") was dropped.
        assert!(clocks
            .observe("a", &sent(SenderType::AiAgent), at(3))
            .is_empty());
        clocks.observe(
            "b",
            &EngineEvent::ConversationClosed { reason: None },
            at(4),
        );
        assert!(clocks
            .observe("b", &sent(SenderType::AiAgent), at(5))
            .is_empty());
        assert_eq!(clocks.tracked(), 1);
    }

    #[test]
    fn budget_use_is_the_highest_share_of_any_cap() {
        let caps = vec![
            ("a".to_string(), Some(10.0), Some(100.0)),
            ("b".to_string(), None, Some(50.0)),
            ("c".to_string(), Some(0.0), None),
        ];
        let mut spent = HashMap::new();
        spent.insert(("a".to_string(), false), 2.0);
        spent.insert(("a".to_string(), true), 30.0);
        spent.insert(("b".to_string(), true), 45.0);
        spent.insert(("c".to_string(), false), 99.0);
        assert!((budget_used_ratio(&caps, &spent) - 0.9).abs() < 1e-9);
        assert_eq!(budget_used_ratio(&[], &spent), 0.0);
    }
}
