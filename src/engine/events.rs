//! Tenant events (conversation_started, message_received, conversation_assigned, …) fanned out
//! to whoever listens: SSE streams, outbound webhooks, WebSocket hubs, tests.

use serde::Serialize;
use tokio::sync::broadcast;

use crate::domain::{ConversationId, TenantId};

#[derive(Debug, Clone, Serialize)]
pub struct TenantEvent {
    pub tenant_id: TenantId,
    /// conversation_started | message_received | message_sent | conversation_assigned |
    /// conversation_escalated | conversation_closed | limit_reached | delivery_failed |
    /// sla_breached | feedback_detected | conversation_classified
    pub kind: &'static str,
    pub conversation_id: Option<ConversationId>,
    pub data: serde_json::Value,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// A bounded broadcast: a listener that falls behind loses the oldest events (and is told
/// so by `RecvError::Lagged`) instead of growing memory.
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<TenantEvent>,
    answers: broadcast::Sender<AnswerDelta>,
}

/// A piece of an AI answer while the model is still writing it (live streaming to the
/// conversation's WebSocket room). Kept off the tenant event stream: token deltas are
/// many and only worth something to sockets watching right now, not to SSE resume buffers
/// or outbound webhooks.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerDelta {
    pub tenant_id: TenantId,
    pub conversation_id: ConversationId,
    /// One per model request; deltas of one stream share it.
    pub stream_id: String,
    /// 0, 1, 2 … within the stream, so a client can spot a gap.
    pub index: u32,
    pub delta: String,
    /// The last piece: `Some("ok")` or `Some("failed")`, with an empty delta.
    pub done: Option<&'static str>,
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        let (answers, _) = broadcast::channel(capacity.max(1));
        EventBus { sender, answers }
    }

    pub fn publish(
        &self,
        tenant_id: &TenantId,
        kind: &'static str,
        conversation_id: Option<&ConversationId>,
        data: serde_json::Value,
    ) {
        tracing::debug!(tenant = %tenant_id, kind, conversation = ?conversation_id, "event");
        // No listener is not an error: events are also recorded in the store where they matter.
        let _ = self.sender.send(TenantEvent {
            tenant_id: tenant_id.clone(),
            kind,
            conversation_id: conversation_id.cloned(),
            data,
            at: chrono::Utc::now(),
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<TenantEvent> {
        self.sender.subscribe()
    }

    pub fn publish_answer(&self, delta: AnswerDelta) {
        // Nobody watching live is fine: the finished message goes out as usual.
        let _ = self.answers.send(delta);
    }

    pub fn subscribe_answers(&self) -> broadcast::Receiver<AnswerDelta> {
        self.answers.subscribe()
    }
}
