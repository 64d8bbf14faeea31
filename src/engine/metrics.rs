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

use prometheus::{Counter, IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use tokio::sync::broadcast::error::RecvError;

use super::events::{EventBus, EventKind};
use super::registry::LiveCount;
use super::Engine;
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
        actix_web::rt::spawn(async move { metrics.count_events(events).await });
        let metrics = self.clone();
        let engine = engine.clone();
        actix_web::rt::spawn(async move { metrics.sample(engine, refresh).await });
    }

    async fn count_events(self: Arc<Self>, events: EventBus) {
        let mut receiver = events.subscribe();
        loop {
            match receiver.recv().await {
                Ok(event) => match event.kind() {
                    EventKind::ConversationStarted => self.conversations_started.inc(),
                    EventKind::ConversationClosed => self.conversations_closed.inc(),
                    EventKind::ConversationEscalated => self.escalations.inc(),
                    EventKind::LimitReached => self.limits_reached.inc(),
                    EventKind::MessageReceived => {
                        self.messages.with_label_values(&["received"]).inc()
                    }
                    EventKind::MessageSent => self.messages.with_label_values(&["sent"]).inc(),
                    EventKind::DeliveryFailed => self.channel_delivery_failures.inc(),
                    // No counter of their own.
                    EventKind::ConversationAssigned
                    | EventKind::SlaBreached
                    | EventKind::FeedbackDetected
                    | EventKind::ConversationClassified
                    | EventKind::ConversationUpdated
                    | EventKind::CsatRated
                    | EventKind::ConversationTransferred
                    | EventKind::NoteAdded => {}
                },
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "metrics fell behind the event bus");
                }
                Err(RecvError::Closed) => return,
            }
        }
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
                    Ok((turns, queued))
                })
                .await;
            match sampled {
                Ok((turns, queued)) => {
                    counted_up_to = up_to;
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
