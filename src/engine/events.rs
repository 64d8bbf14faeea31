//! Tenant events (conversation_started, message_received, conversation_assigned, …) fanned out
//! to whoever listens: SSE streams, outbound webhooks, WebSocket hubs, tests.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::broadcast;

use crate::domain::agent::OnLimit;
use crate::domain::classification::Classification;
use crate::domain::conversation::{Owner, SenderType};
use crate::domain::desk::NoteKind;
use crate::domain::escalation::EscalationReason;
use crate::domain::feedback::Detection;
use crate::domain::limits::LimitHit;
use crate::domain::ticket::ConversationChanges;
use crate::domain::{
    ContactId, ConversationId, DepartmentId, IntegrationId, MessageId, TenantId, UserId,
};

crate::text_enum! {
    /// The name of an event as clients see it: the SSE `event:` line and `type`, the
    /// webhook `event`, the names a webhook subscribes to.
    pub enum EventKind {
        ConversationStarted => "conversation_started",
        MessageReceived => "message_received",
        MessageSent => "message_sent",
        ConversationAssigned => "conversation_assigned",
        ConversationEscalated => "conversation_escalated",
        ConversationClosed => "conversation_closed",
        LimitReached => "limit_reached",
        DeliveryFailed => "delivery_failed",
        SlaBreached => "sla_breached",
        FeedbackDetected => "feedback_detected",
        ConversationClassified => "conversation_classified",
        ConversationUpdated => "conversation_updated",
        CsatRated => "csat_rated",
        ConversationTransferred => "conversation_transferred",
        NoteAdded => "note_added",
    }
}

impl EventKind {
    /// What an outbound webhook may subscribe to. Channel delivery failures and SLA
    /// breaches stay inside (metrics, SSE, the console).
    pub const WEBHOOK: [EventKind; 13] = [
        EventKind::ConversationStarted,
        EventKind::MessageReceived,
        EventKind::MessageSent,
        EventKind::ConversationAssigned,
        EventKind::ConversationEscalated,
        EventKind::ConversationClosed,
        EventKind::LimitReached,
        EventKind::FeedbackDetected,
        EventKind::ConversationClassified,
        EventKind::ConversationUpdated,
        EventKind::ConversationTransferred,
        EventKind::NoteAdded,
        EventKind::CsatRated,
    ];
}

/// What happened in the engine, with what each kind carries. `data()` is the JSON object
/// clients receive; its shape per kind is the contract in docs/protocol.md. The serde form is
/// only the cluster's wire between nodes (`cluster::realtime`), not a contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EngineEvent {
    ConversationStarted {
        channel: String,
        contact_id: ContactId,
    },
    MessageReceived {
        message_id: MessageId,
        seq: i64,
    },
    MessageSent {
        message_id: MessageId,
        seq: i64,
        sender_type: SenderType,
    },
    ConversationAssigned {
        owner: Owner,
    },
    ConversationEscalated {
        reason: EscalationReason,
        owner: Owner,
    },
    ConversationClosed {
        reason: Option<String>,
    },
    LimitReached {
        reason: LimitHit,
        action: OnLimit,
    },
    DeliveryFailed {
        delivery_id: String,
        integration_id: IntegrationId,
        message_id: MessageId,
        attempts: i32,
        status_code: Option<i32>,
        reason: String,
    },
    SlaBreached {
        owner: Owner,
        /// The tenant's target.
        first_response_minutes: u32,
        /// The target that was missed: the conversation's department's own, or the
        /// tenant's minutes in seconds.
        first_response_seconds: u32,
    },
    FeedbackDetected(FeedbackDetected),
    ConversationClassified(Classification),
    /// Staff changed the conversation as a ticket: only the fields they changed. `by` is
    /// `None` when routing did (a department from the category or the integration).
    ConversationUpdated {
        changes: ConversationChanges,
        by: Option<UserId>,
    },
    /// The customer rated a closed conversation (CSAT, 1..=5).
    CsatRated {
        rating: u8,
        message_id: MessageId,
    },
    /// Staff handed the conversation to a colleague (`owner` is them) or to a department's
    /// queue (`owner` is nobody), with an optional private note.
    ConversationTransferred {
        from: Owner,
        owner: Owner,
        department_id: Option<DepartmentId>,
        by: UserId,
        note_id: Option<String>,
    },
    /// A private note between colleagues: staff only, never the customer's or a channel's.
    NoteAdded(NoteAdded),
}

/// The `note_added` event: the note as staff see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoteAdded {
    pub note_id: String,
    pub author_id: UserId,
    pub kind: NoteKind,
    pub content: String,
}

/// The `feedback_detected` event: the AI reply the customer reacted to, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackDetected {
    pub conversation_id: ConversationId,
    /// The AI reply the customer reacted to.
    pub message_id: String,
    /// The customer's message that carried the feedback.
    pub customer_message_id: String,
    pub agent_id: Option<String>,
    pub detection: Detection,
}

impl EngineEvent {
    pub fn kind(&self) -> EventKind {
        match self {
            EngineEvent::ConversationStarted { .. } => EventKind::ConversationStarted,
            EngineEvent::MessageReceived { .. } => EventKind::MessageReceived,
            EngineEvent::MessageSent { .. } => EventKind::MessageSent,
            EngineEvent::ConversationAssigned { .. } => EventKind::ConversationAssigned,
            EngineEvent::ConversationEscalated { .. } => EventKind::ConversationEscalated,
            EngineEvent::ConversationClosed { .. } => EventKind::ConversationClosed,
            EngineEvent::LimitReached { .. } => EventKind::LimitReached,
            EngineEvent::DeliveryFailed { .. } => EventKind::DeliveryFailed,
            EngineEvent::SlaBreached { .. } => EventKind::SlaBreached,
            EngineEvent::FeedbackDetected(_) => EventKind::FeedbackDetected,
            EngineEvent::ConversationClassified(_) => EventKind::ConversationClassified,
            EngineEvent::ConversationUpdated { .. } => EventKind::ConversationUpdated,
            EngineEvent::CsatRated { .. } => EventKind::CsatRated,
            EngineEvent::ConversationTransferred { .. } => EventKind::ConversationTransferred,
            EngineEvent::NoteAdded(_) => EventKind::NoteAdded,
        }
    }

    /// The event's `data` object as it goes over SSE, webhooks and WebSocket frames.
    pub fn data(&self) -> serde_json::Value {
        match self {
            EngineEvent::ConversationStarted {
                channel,
                contact_id,
            } => json!({ "channel": channel, "contact_id": contact_id }),
            EngineEvent::MessageReceived { message_id, seq } => {
                json!({ "message_id": message_id, "seq": seq })
            }
            EngineEvent::MessageSent {
                message_id,
                seq,
                sender_type,
            } => json!({ "message_id": message_id, "seq": seq, "sender_type": sender_type }),
            EngineEvent::ConversationAssigned { owner } => json!({ "owner": owner }),
            EngineEvent::ConversationEscalated { reason, owner } => {
                json!({ "reason": reason, "owner": owner })
            }
            EngineEvent::ConversationClosed { reason } => json!({ "reason": reason }),
            EngineEvent::LimitReached { reason, action } => {
                json!({ "reason": reason, "action": action })
            }
            EngineEvent::DeliveryFailed {
                delivery_id,
                integration_id,
                message_id,
                attempts,
                status_code,
                reason,
            } => json!({
                "delivery_id": delivery_id,
                "integration_id": integration_id,
                "message_id": message_id,
                "attempts": attempts,
                "status_code": status_code,
                "reason": reason,
            }),
            EngineEvent::SlaBreached {
                owner,
                first_response_minutes,
                first_response_seconds,
            } => json!({
                "owner": owner,
                "first_response_minutes": first_response_minutes,
                "first_response_seconds": first_response_seconds,
            }),
            EngineEvent::FeedbackDetected(f) => json!({
                "conversation_id": f.conversation_id,
                "message_id": f.message_id,
                "customer_message_id": f.customer_message_id,
                "agent_id": f.agent_id,
                "kind": f.detection.kind.as_str(),
                "score": f.detection.score,
            }),
            EngineEvent::ConversationClassified(c) => c.to_json(),
            EngineEvent::ConversationUpdated { changes, by } => {
                json!({ "changes": changes, "by": by })
            }
            EngineEvent::CsatRated { rating, message_id } => {
                json!({ "rating": rating, "message_id": message_id })
            }
            EngineEvent::ConversationTransferred {
                from,
                owner,
                department_id,
                by,
                note_id,
            } => json!({
                "from": from,
                "owner": owner,
                "department_id": department_id,
                "by": by,
                "note_id": note_id,
            }),
            EngineEvent::NoteAdded(note) => json!({
                "note_id": note.note_id,
                "author_id": note.author_id,
                "kind": note.kind,
                "content": note.content,
            }),
        }
    }

    /// The message an event is about, for listeners that show or send the message itself.
    pub fn message_id(&self) -> Option<&MessageId> {
        match self {
            EngineEvent::MessageReceived { message_id, .. }
            | EngineEvent::MessageSent { message_id, .. } => Some(message_id),
            _ => None,
        }
    }

    /// The conversation's new owner, for events that change or name it.
    pub fn owner(&self) -> Option<&Owner> {
        match self {
            EngineEvent::ConversationAssigned { owner }
            | EngineEvent::ConversationEscalated { owner, .. }
            | EngineEvent::SlaBreached { owner, .. }
            | EngineEvent::ConversationTransferred { owner, .. } => Some(owner),
            _ => None,
        }
    }
}

/// One event of one tenant, as the bus carries it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantEvent {
    pub tenant_id: TenantId,
    pub conversation_id: Option<ConversationId>,
    pub event: EngineEvent,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl TenantEvent {
    pub fn kind(&self) -> EventKind {
        self.event.kind()
    }

    pub fn data(&self) -> serde_json::Value {
        self.event.data()
    }
}

/// A bounded broadcast: a listener that falls behind loses the oldest events (and is told
/// so by `RecvError::Lagged`) instead of growing memory.
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<TenantEvent>,
    answers: broadcast::Sender<AnswerDelta>,
    typing: broadcast::Sender<AiTyping>,
    rooms: broadcast::Sender<RoomFrame>,
    peers: broadcast::Sender<LiveItem>,
}

/// What this node's WebSocket hub shows live, as it crosses to the other nodes' hubs
/// (`cluster::realtime`). The serde form is only the cluster's wire, not a contract.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LiveItem {
    Event(TenantEvent),
    Answer(AnswerDelta),
    Typing(AiTyping),
    Room(RoomFrame),
}

/// Who in a conversation's room gets a relayed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Audience {
    Everyone,
    Customers,
    Staff,
}

/// A frame one socket relayed to the others following its conversation (a colleague or the
/// customer typing, a read receipt, a booking confirmed), already encoded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomFrame {
    pub tenant_id: TenantId,
    pub conversation_id: ConversationId,
    pub frame: String,
    pub audience: Audience,
}

/// The AI is writing an answer in a conversation (its turn or its humanized delay runs), or
/// stopped. Live only, like [`AnswerDelta`]: worth something to sockets watching now, not to
/// SSE resume buffers or outbound webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiTyping {
    pub tenant_id: TenantId,
    pub conversation_id: ConversationId,
    pub agent_id: Option<String>,
    pub is_typing: bool,
}

/// A piece of an AI answer while the model is still writing it (live streaming to the
/// conversation's WebSocket room). Kept off the tenant event stream: token deltas are
/// many and only worth something to sockets watching right now, not to SSE resume buffers
/// or outbound webhooks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnswerDelta {
    pub tenant_id: TenantId,
    pub conversation_id: ConversationId,
    /// One per model request; deltas of one stream share it.
    pub stream_id: String,
    /// 0, 1, 2 … within the stream, so a client can spot a gap.
    pub index: u32,
    pub delta: String,
    /// The last piece: `Some("ok")` or `Some("failed")`, with an empty delta. Owned once it
    /// crossed from another node.
    pub done: Option<std::borrow::Cow<'static, str>>,
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        let (answers, _) = broadcast::channel(capacity.max(1));
        let (typing, _) = broadcast::channel(capacity.max(1));
        let (rooms, _) = broadcast::channel(capacity.max(1));
        let (peers, _) = broadcast::channel(capacity.max(1));
        EventBus {
            sender,
            answers,
            typing,
            rooms,
            peers,
        }
    }

    /// What another node of the cluster showed live (`cluster::realtime`). It goes to this
    /// node's WebSocket hub only: webhooks, metrics and the CRM already ran on the node that
    /// produced it.
    pub fn publish_from_peer(&self, item: LiveItem) {
        let _ = self.peers.send(item);
    }

    pub fn subscribe_peers(&self) -> broadcast::Receiver<LiveItem> {
        self.peers.subscribe()
    }

    /// A frame this node's hub relayed to a room, for the other nodes' hubs. Only the
    /// cluster relay listens; a single node has no listener.
    pub fn publish_room(&self, frame: impl FnOnce() -> RoomFrame) {
        if self.rooms.receiver_count() > 0 {
            let _ = self.rooms.send(frame());
        }
    }

    pub fn subscribe_rooms(&self) -> broadcast::Receiver<RoomFrame> {
        self.rooms.subscribe()
    }

    pub fn publish(
        &self,
        tenant_id: &TenantId,
        conversation_id: Option<&ConversationId>,
        event: EngineEvent,
    ) {
        tracing::debug!(tenant = %tenant_id, kind = %event.kind(), conversation = ?conversation_id, "event");
        // No listener is not an error: events are also recorded in the store where they matter.
        let _ = self.sender.send(TenantEvent {
            tenant_id: tenant_id.clone(),
            conversation_id: conversation_id.cloned(),
            event,
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

    pub fn publish_typing(&self, typing: AiTyping) {
        // Nobody watching is fine: typing is only a hint.
        let _ = self.typing.send(typing);
    }

    pub fn subscribe_typing(&self) -> broadcast::Receiver<AiTyping> {
        self.typing.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::classification::{Category, Source};
    use crate::domain::distribution::Priority;
    use crate::domain::escalation::ProviderFault;
    use crate::domain::feedback::FeedbackKind;
    use crate::domain::{AgentId, UserId};

    /// The wire shape of every kind, pinned: SSE, webhooks and WebSocket frames carry
    /// `kind()` and `data()` as they are.
    #[test]
    fn every_kind_keeps_its_name_and_data() {
        let user = UserId("u1".into());
        let agent = AgentId("a1".into());
        let detection = Detection {
            kind: FeedbackKind::Complaint,
            score: 0.5,
            signals: Vec::new(),
        };
        let classification = Classification {
            category: Category::ALL[0],
            priority: Priority::High,
            confidence: 0.75,
            source: Source::Rules,
        };
        let cases = [
            (
                EngineEvent::ConversationStarted {
                    channel: "webchat".into(),
                    contact_id: ContactId("k1".into()),
                },
                "conversation_started",
                json!({"channel": "webchat", "contact_id": "k1"}),
            ),
            (
                EngineEvent::MessageReceived {
                    message_id: MessageId("m1".into()),
                    seq: 3,
                },
                "message_received",
                json!({"message_id": "m1", "seq": 3}),
            ),
            (
                EngineEvent::MessageSent {
                    message_id: MessageId("m2".into()),
                    seq: 4,
                    sender_type: SenderType::AiAgent,
                },
                "message_sent",
                json!({"message_id": "m2", "seq": 4, "sender_type": "ai_agent"}),
            ),
            (
                EngineEvent::ConversationAssigned {
                    owner: Owner::AiAgent(agent.clone()),
                },
                "conversation_assigned",
                json!({"owner": {"type": "ai_agent", "id": "a1"}}),
            ),
            (
                EngineEvent::ConversationEscalated {
                    reason: EscalationReason::Provider(ProviderFault::Timeout),
                    owner: Owner::User(user.clone()),
                },
                "conversation_escalated",
                json!({"reason": "timeout", "owner": {"type": "user", "id": "u1"}}),
            ),
            (
                EngineEvent::ConversationClosed { reason: None },
                "conversation_closed",
                json!({"reason": null}),
            ),
            (
                EngineEvent::LimitReached {
                    reason: LimitHit::DailyCost,
                    action: OnLimit::Handover,
                },
                "limit_reached",
                json!({"reason": "daily_cost", "action": "handover"}),
            ),
            (
                EngineEvent::DeliveryFailed {
                    delivery_id: "d1".into(),
                    integration_id: IntegrationId("i1".into()),
                    message_id: MessageId("m3".into()),
                    attempts: 5,
                    status_code: Some(400),
                    reason: "HTTP 400".into(),
                },
                "delivery_failed",
                json!({"delivery_id": "d1", "integration_id": "i1", "message_id": "m3",
                       "attempts": 5, "status_code": 400, "reason": "HTTP 400"}),
            ),
            (
                EngineEvent::SlaBreached {
                    owner: Owner::Nobody,
                    first_response_minutes: 10,
                    first_response_seconds: 600,
                },
                "sla_breached",
                json!({"owner": {"type": "nobody"}, "first_response_minutes": 10,
                       "first_response_seconds": 600}),
            ),
            (
                EngineEvent::FeedbackDetected(FeedbackDetected {
                    conversation_id: ConversationId("c1".into()),
                    message_id: "m4".into(),
                    customer_message_id: "m5".into(),
                    agent_id: Some("a1".into()),
                    detection,
                }),
                "feedback_detected",
                json!({"conversation_id": "c1", "message_id": "m4", "customer_message_id": "m5",
                       "agent_id": "a1", "kind": "complaint", "score": 0.5}),
            ),
            (
                EngineEvent::ConversationClassified(classification),
                "conversation_classified",
                classification.to_json(),
            ),
            (
                EngineEvent::ConversationUpdated {
                    changes: crate::domain::ticket::ConversationChanges {
                        priority: Some(crate::domain::distribution::Priority::High),
                        tags: Some(vec!["vip".into()]),
                        ..Default::default()
                    },
                    by: Some(user.clone()),
                },
                "conversation_updated",
                json!({"changes": {"tags": ["vip"], "priority": "high"}, "by": "u1"}),
            ),
            (
                EngineEvent::ConversationTransferred {
                    from: Owner::User(user.clone()),
                    owner: Owner::Nobody,
                    department_id: Some(DepartmentId("d1".into())),
                    by: user.clone(),
                    note_id: Some("n1".into()),
                },
                "conversation_transferred",
                json!({"from": {"type": "user", "id": "u1"}, "owner": {"type": "nobody"},
                       "department_id": "d1", "by": "u1", "note_id": "n1"}),
            ),
            (
                EngineEvent::NoteAdded(NoteAdded {
                    note_id: "n1".into(),
                    author_id: user.clone(),
                    kind: NoteKind::Transfer,
                    content: "cliente VIP".into(),
                }),
                "note_added",
                json!({"note_id": "n1", "author_id": "u1", "kind": "transfer",
                       "content": "cliente VIP"}),
            ),
            (
                EngineEvent::CsatRated {
                    rating: 5,
                    message_id: MessageId("m9".into()),
                },
                "csat_rated",
                json!({"rating": 5, "message_id": "m9"}),
            ),
        ];
        assert_eq!(cases.len(), EventKind::ALL.len(), "every kind is pinned");
        for (event, name, data) in cases {
            assert_eq!(event.kind().as_str(), name);
            assert_eq!(event.data(), data, "{name}");
            // The cluster relays events between nodes in their serde form: it reads back whole.
            let relayed = TenantEvent {
                tenant_id: TenantId("t1".into()),
                conversation_id: Some(ConversationId("c1".into())),
                event: event.clone(),
                at: chrono::Utc::now(),
            };
            let wire = serde_json::to_vec(&relayed).expect("serializes");
            let back: TenantEvent = serde_json::from_slice(&wire).expect("reads back");
            assert_eq!(back.event, event, "{name}");
            assert_eq!(back.tenant_id, relayed.tenant_id);
        }
        assert_eq!(
            EngineEvent::ConversationAssigned {
                owner: Owner::User(user)
            }
            .owner(),
            Some(&Owner::User(UserId("u1".into())))
        );
    }

    #[test]
    fn webhooks_see_every_conversation_event_and_no_internal_kind() {
        assert!(!EventKind::WEBHOOK.contains(&EventKind::DeliveryFailed));
        assert!(!EventKind::WEBHOOK.contains(&EventKind::SlaBreached));
        assert!(EventKind::WEBHOOK.contains(&EventKind::CsatRated));
        assert_eq!(EventKind::WEBHOOK.len() + 2, EventKind::ALL.len());
    }
}
