//! The WebSocket wire format of docs/protocol.md: one JSON object per text frame, tagged by
//! `type`. Client frames are parsed in two steps (JSON, then the typed frame) so a bad frame
//! gets an error that says which of the two went wrong.

use bytestring::ByteString;
use serde::{Deserialize, Serialize};

use crate::domain::conversation::SenderType;
use crate::error::ErrorCode;
use crate::views::{EventView, MessageView};

/// Client → server.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Message {
        conversation_id: String,
        content: String,
        #[serde(default)]
        client_msg_id: Option<String>,
    },
    Typing {
        conversation_id: String,
        is_typing: bool,
    },
    Read {
        conversation_id: String,
        message_id: String,
    },
    Sync {
        #[serde(default)]
        conversation_id: Option<String>,
        #[serde(default)]
        last_message_id: Option<String>,
        #[serde(default)]
        after_seq: Option<i64>,
    },
    Subscribe {
        conversation_id: String,
    },
    Unsubscribe {
        conversation_id: String,
    },
    RequestSummary {
        conversation_id: String,
    },
    /// Staff: replies they could send now, as `suggestions` to this socket.
    RequestSuggestions {
        conversation_id: String,
    },
    ScheduleConfirm {
        conversation_id: String,
        date: String,
        time: String,
        email: String,
        #[serde(default)]
        phone: Option<String>,
    },
    SetAutoCreate {
        conversation_id: String,
        enabled: bool,
    },
    /// Staff take a conversation for themselves, as `POST /conversations/{id}/take`.
    Take {
        conversation_id: String,
    },
    /// Staff hand the conversation to a colleague or a department, as
    /// `POST /conversations/{id}/transfer`.
    Transfer {
        conversation_id: String,
        #[serde(default)]
        user_id: Option<String>,
        #[serde(default)]
        department_id: Option<String>,
        #[serde(default)]
        note: Option<String>,
    },
    /// Staff write a private note, as `POST /conversations/{id}/notes`.
    Note {
        conversation_id: String,
        content: String,
    },
    Ping,
}

pub const CLIENT_TYPES: &[&str] = &[
    "message",
    "typing",
    "read",
    "sync",
    "subscribe",
    "unsubscribe",
    "request_summary",
    "request_suggestions",
    "schedule_confirm",
    "set_auto_create",
    "take",
    "transfer",
    "note",
    "ping",
];

/// Why a text frame is not a client frame; the message goes to the client as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

impl ClientFrame {
    pub fn parse(text: &str) -> Result<ClientFrame, FrameError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| FrameError(format!("the frame is not valid JSON: {e}")))?;
        let kind = match value.get("type") {
            Some(serde_json::Value::String(kind)) => kind.clone(),
            Some(_) => return Err(FrameError("`type` must be a string".into())),
            None if value.is_object() => return Err(FrameError("the frame has no `type`".into())),
            None => return Err(FrameError("the frame must be a JSON object".into())),
        };
        if !CLIENT_TYPES.contains(&kind.as_str()) {
            return Err(FrameError(format!(
                "unknown frame type `{}` (expected one of: {})",
                clip(&kind, 40),
                CLIENT_TYPES.join(", ")
            )));
        }
        serde_json::from_value(value)
            .map_err(|e| FrameError(format!("invalid `{kind}` frame: {e}")))
    }

    /// The frame's `type`, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientFrame::Message { .. } => "message",
            ClientFrame::Typing { .. } => "typing",
            ClientFrame::Read { .. } => "read",
            ClientFrame::Sync { .. } => "sync",
            ClientFrame::Subscribe { .. } => "subscribe",
            ClientFrame::Unsubscribe { .. } => "unsubscribe",
            ClientFrame::RequestSummary { .. } => "request_summary",
            ClientFrame::RequestSuggestions { .. } => "request_suggestions",
            ClientFrame::ScheduleConfirm { .. } => "schedule_confirm",
            ClientFrame::SetAutoCreate { .. } => "set_auto_create",
            ClientFrame::Take { .. } => "take",
            ClientFrame::Transfer { .. } => "transfer",
            ClientFrame::Note { .. } => "note",
            ClientFrame::Ping => "ping",
        }
    }
}

fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// presence `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceStatus {
    Online,
    Away,
    Offline,
}

impl PresenceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PresenceStatus::Online => "online",
            PresenceStatus::Away => "away",
            PresenceStatus::Offline => "offline",
        }
    }
}

/// Server → client.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Connected {
        user_id: String,
        /// staff | contact
        kind: &'static str,
        /// A web chat customer's conversation.
        #[serde(skip_serializing_if = "Option::is_none")]
        conversation_id: Option<String>,
    },
    Message {
        message: MessageView,
    },
    MessageSent {
        client_msg_id: Option<String>,
        message: MessageView,
    },
    Typing {
        user_id: String,
        conversation_id: String,
        is_typing: bool,
    },
    /// The AI agent is writing an answer (or stopped): the same `typing` frame, naming the
    /// agent instead of a user.
    #[serde(rename = "typing")]
    AiTyping {
        conversation_id: String,
        sender_type: SenderType,
        agent_id: Option<String>,
        is_typing: bool,
    },
    Presence {
        user_id: String,
        status: PresenceStatus,
    },
    Read {
        conversation_id: String,
        message_id: String,
        user_id: String,
    },
    SyncData {
        conversation_id: String,
        messages: Vec<MessageView>,
        /// More missed messages exist: sync again with `after_seq` = the last `seq` here.
        has_more: bool,
    },
    ConversationAssigned {
        conversation_id: String,
        #[serde(flatten)]
        data: serde_json::Map<String, serde_json::Value>,
    },
    ConversationEscalated {
        conversation_id: String,
        #[serde(flatten)]
        data: serde_json::Map<String, serde_json::Value>,
    },
    ConversationClosed {
        conversation_id: String,
        #[serde(flatten)]
        data: serde_json::Map<String, serde_json::Value>,
    },
    /// Staff only: the customer seemed unhappy with an AI reply.
    FeedbackDetected {
        conversation_id: String,
        #[serde(flatten)]
        data: serde_json::Map<String, serde_json::Value>,
    },
    /// Staff only: category and priority given to a new conversation.
    ConversationClassified {
        conversation_id: String,
        #[serde(flatten)]
        data: serde_json::Map<String, serde_json::Value>,
    },
    /// Staff only: tags, priority, category, department or stage changed by a colleague.
    ConversationUpdated {
        conversation_id: String,
        #[serde(flatten)]
        data: serde_json::Map<String, serde_json::Value>,
    },
    /// Staff only: a colleague handed the conversation to someone or to a department.
    ConversationTransferred {
        conversation_id: String,
        #[serde(flatten)]
        data: serde_json::Map<String, serde_json::Value>,
    },
    /// Staff only: a private note (never sent to the customer's socket).
    NoteAdded {
        conversation_id: String,
        #[serde(flatten)]
        data: serde_json::Map<String, serde_json::Value>,
    },
    Suggestions {
        conversation_id: String,
        suggestions: Vec<String>,
        /// Only on the answer to `request_suggestions`: "llm" (the conversation's AI agent
        /// wrote them) or "rules" (no LLM available, or it failed or was at its limits).
        #[serde(skip_serializing_if = "Option::is_none")]
        source: Option<&'static str>,
    },
    SlotPicker {
        conversation_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        email: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        phone: Option<String>,
        /// The date and time the customer named, if any ("YYYY-MM-DD", "HH:MM").
        #[serde(skip_serializing_if = "Option::is_none")]
        date: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        time: Option<String>,
    },
    Summary {
        conversation_id: String,
        summary: String,
        /// "llm" (the conversation's AI agent wrote it) or "extractive" (no LLM available,
        /// or it failed or was at its limits).
        source: &'static str,
    },
    /// A piece of an AI answer being written (when `realtime.stream_ai_replies` is on).
    AiAnswerDelta {
        conversation_id: String,
        stream_id: String,
        index: u32,
        delta: String,
    },
    /// The stream ended: `status` "ok" (the `message` frame with the whole answer follows)
    /// or "failed" (discard the partial text).
    AiAnswerDone {
        conversation_id: String,
        stream_id: String,
        index: u32,
        status: String,
    },
    ScheduleConfirmed {
        conversation_id: String,
        event: EventView,
    },
    AutoCreateUpdated {
        conversation_id: String,
        enabled: bool,
    },
    Error {
        error: String,
        code: ErrorCode,
    },
    Pong,
    /// This node is stopping: reconnect (to any node) after `retry_after_ms` and `sync`.
    /// The socket closes right after with code 1012 (service restart).
    Reconnect {
        reason: crate::shutdown::ReconnectReason,
        retry_after_ms: u64,
    },
}

impl ServerFrame {
    pub fn error(code: ErrorCode, error: impl Into<String>) -> Self {
        ServerFrame::Error {
            error: error.into(),
            code,
        }
    }

    /// Serialized once, shared by every socket it goes to.
    pub fn encode(&self) -> ByteString {
        match serde_json::to_string(self) {
            Ok(json) => ByteString::from(json),
            // Serializing these types cannot fail (string keys, no non-finite floats kept);
            // should it, the client still gets a frame it understands.
            Err(e) => {
                tracing::error!(error = %e, "server frame not serializable");
                ByteString::from_static(
                    r#"{"type":"error","error":"internal error","code":"INTERNAL"}"#,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: serde_json::Value) -> Result<ClientFrame, FrameError> {
        ClientFrame::parse(&value.to_string())
    }

    #[test]
    fn every_client_frame_of_the_protocol_parses() {
        let cases = [
            (
                json!({"type":"message","conversation_id":"c","content":"oi","client_msg_id":"k1"}),
                ClientFrame::Message {
                    conversation_id: "c".into(),
                    content: "oi".into(),
                    client_msg_id: Some("k1".into()),
                },
            ),
            (
                json!({"type":"message","conversation_id":"c","content":"oi"}),
                ClientFrame::Message {
                    conversation_id: "c".into(),
                    content: "oi".into(),
                    client_msg_id: None,
                },
            ),
            (
                json!({"type":"typing","conversation_id":"c","is_typing":true}),
                ClientFrame::Typing {
                    conversation_id: "c".into(),
                    is_typing: true,
                },
            ),
            (
                json!({"type":"read","conversation_id":"c","message_id":"m"}),
                ClientFrame::Read {
                    conversation_id: "c".into(),
                    message_id: "m".into(),
                },
            ),
            (
                json!({"type":"sync","last_message_id":"m"}),
                ClientFrame::Sync {
                    conversation_id: None,
                    last_message_id: Some("m".into()),
                    after_seq: None,
                },
            ),
            (
                json!({"type":"sync","conversation_id":"c","after_seq":7}),
                ClientFrame::Sync {
                    conversation_id: Some("c".into()),
                    last_message_id: None,
                    after_seq: Some(7),
                },
            ),
            (
                json!({"type":"subscribe","conversation_id":"c"}),
                ClientFrame::Subscribe {
                    conversation_id: "c".into(),
                },
            ),
            (
                json!({"type":"unsubscribe","conversation_id":"c"}),
                ClientFrame::Unsubscribe {
                    conversation_id: "c".into(),
                },
            ),
            (
                json!({"type":"request_summary","conversation_id":"c"}),
                ClientFrame::RequestSummary {
                    conversation_id: "c".into(),
                },
            ),
            (
                json!({"type":"request_suggestions","conversation_id":"c"}),
                ClientFrame::RequestSuggestions {
                    conversation_id: "c".into(),
                },
            ),
            (
                json!({"type":"schedule_confirm","conversation_id":"c","date":"2026-03-05","time":"15:00","email":"a@b.co"}),
                ClientFrame::ScheduleConfirm {
                    conversation_id: "c".into(),
                    date: "2026-03-05".into(),
                    time: "15:00".into(),
                    email: "a@b.co".into(),
                    phone: None,
                },
            ),
            (
                json!({"type":"set_auto_create","conversation_id":"c","enabled":false}),
                ClientFrame::SetAutoCreate {
                    conversation_id: "c".into(),
                    enabled: false,
                },
            ),
            (
                json!({"type":"take","conversation_id":"c"}),
                ClientFrame::Take {
                    conversation_id: "c".into(),
                },
            ),
            (
                json!({"type":"transfer","conversation_id":"c","department_id":"d","note":"n"}),
                ClientFrame::Transfer {
                    conversation_id: "c".into(),
                    user_id: None,
                    department_id: Some("d".into()),
                    note: Some("n".into()),
                },
            ),
            (
                json!({"type":"note","conversation_id":"c","content":"só a equipe"}),
                ClientFrame::Note {
                    conversation_id: "c".into(),
                    content: "só a equipe".into(),
                },
            ),
            (json!({"type":"ping"}), ClientFrame::Ping),
        ];
        for (value, expected) in cases {
            let parsed = parse(value.clone()).expect("parses");
            assert_eq!(parsed, expected, "{value}");
            assert_eq!(Some(parsed.kind()), value["type"].as_str());
        }
        assert_eq!(CLIENT_TYPES.len(), 14);
    }

    #[test]
    fn bad_frames_say_what_is_wrong() {
        let err = |text: &str| ClientFrame::parse(text).expect_err("rejected").0;
        assert!(err("hello").starts_with("the frame is not valid JSON"));
        assert_eq!(err("[1,2]"), "the frame must be a JSON object");
        assert_eq!(err(r#"{"content":"x"}"#), "the frame has no `type`");
        assert_eq!(err(r#"{"type":7}"#), "`type` must be a string");
        assert!(err(r#"{"type":"shout"}"#).starts_with("unknown frame type `shout`"));
        let missing = err(r#"{"type":"message","conversation_id":"c"}"#);
        assert!(missing.contains("invalid `message` frame"), "{missing}");
        assert!(missing.contains("content"), "{missing}");
        let wrong = err(r#"{"type":"typing","conversation_id":"c","is_typing":"yes"}"#);
        assert!(wrong.contains("invalid `typing` frame"), "{wrong}");
        let long = format!(r#"{{"type":"{}"}}"#, "x".repeat(500));
        assert!(err(&long).len() < 300);
    }

    fn message() -> MessageView {
        MessageView {
            id: "m1".into(),
            conversation_id: "c1".into(),
            seq: 3,
            sender_type: "contact".into(),
            sender_id: Some("k1".into()),
            content: "oi".into(),
            content_type: "text".into(),
            status: "sent".into(),
            created_at: chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("time"),
            metadata: json!({}),
        }
    }

    fn wire(frame: &ServerFrame) -> serde_json::Value {
        serde_json::from_str(&frame.encode()).expect("valid JSON")
    }

    #[test]
    fn server_frames_match_the_protocol() {
        assert_eq!(
            frame_text(&ServerFrame::Pong),
            r#"{"type":"pong"}"#,
            "pong is exactly this"
        );
        assert_eq!(
            frame_text(&ServerFrame::error(ErrorCode::RateLimited, "slow down")),
            r#"{"type":"error","error":"slow down","code":"RATE_LIMITED"}"#
        );
        assert_eq!(
            wire(&ServerFrame::Message { message: message() }),
            json!({"type":"message","message":{"id":"m1","conversation_id":"c1","seq":3,
                "sender_type":"contact","sender_id":"k1","content":"oi","content_type":"text",
                "status":"sent","created_at":"2026-01-01T00:00:00Z","metadata":{}}})
        );
        assert_eq!(
            wire(&ServerFrame::MessageSent {
                client_msg_id: Some("k".into()),
                message: message()
            })["client_msg_id"],
            "k"
        );
        assert_eq!(
            wire(&ServerFrame::Typing {
                user_id: "u".into(),
                conversation_id: "c".into(),
                is_typing: true
            }),
            json!({"type":"typing","user_id":"u","conversation_id":"c","is_typing":true})
        );
        assert_eq!(
            wire(&ServerFrame::AiTyping {
                conversation_id: "c".into(),
                sender_type: SenderType::AiAgent,
                agent_id: Some("a".into()),
                is_typing: false
            }),
            json!({"type":"typing","conversation_id":"c","sender_type":"ai_agent",
                "agent_id":"a","is_typing":false})
        );
        assert_eq!(
            wire(&ServerFrame::Presence {
                user_id: "u".into(),
                status: PresenceStatus::Away
            }),
            json!({"type":"presence","user_id":"u","status":"away"})
        );
        assert_eq!(
            wire(&ServerFrame::Read {
                conversation_id: "c".into(),
                message_id: "m".into(),
                user_id: "u".into()
            }),
            json!({"type":"read","conversation_id":"c","message_id":"m","user_id":"u"})
        );
        let sync = wire(&ServerFrame::SyncData {
            conversation_id: "c".into(),
            messages: vec![message()],
            has_more: false,
        });
        assert_eq!(sync["type"], "sync_data");
        assert_eq!(sync["messages"][0]["seq"], 3);
        let mut data = serde_json::Map::new();
        data.insert("owner".into(), json!({"type":"user","id":"u"}));
        assert_eq!(
            wire(&ServerFrame::ConversationAssigned {
                conversation_id: "c".into(),
                data
            }),
            json!({"type":"conversation_assigned","conversation_id":"c","owner":{"type":"user","id":"u"}})
        );
        assert_eq!(
            wire(&ServerFrame::ConversationClosed {
                conversation_id: "c".into(),
                data: serde_json::Map::new()
            }),
            json!({"type":"conversation_closed","conversation_id":"c"})
        );
        assert_eq!(
            wire(&ServerFrame::SlotPicker {
                conversation_id: "c".into(),
                email: Some("ana@ex.com".into()),
                phone: None,
                date: None,
                time: None
            }),
            json!({"type":"slot_picker","conversation_id":"c","email":"ana@ex.com"})
        );
        assert_eq!(
            wire(&ServerFrame::Suggestions {
                conversation_id: "c".into(),
                suggestions: vec!["Sim".into()],
                source: None,
            }),
            json!({"type":"suggestions","conversation_id":"c","suggestions":["Sim"]})
        );
        assert_eq!(
            wire(&ServerFrame::Suggestions {
                conversation_id: "c".into(),
                suggestions: vec!["Claro!".into()],
                source: Some("rules"),
            }),
            json!({"type":"suggestions","conversation_id":"c","suggestions":["Claro!"],"source":"rules"})
        );
        assert_eq!(
            wire(&ServerFrame::Summary {
                conversation_id: "c".into(),
                summary: "s".into(),
                source: "llm",
            }),
            json!({"type":"summary","conversation_id":"c","summary":"s","source":"llm"})
        );
        assert_eq!(
            wire(&ServerFrame::Connected {
                user_id: "u".into(),
                kind: "staff",
                conversation_id: None
            }),
            json!({"type":"connected","user_id":"u","kind":"staff"})
        );
        assert_eq!(
            wire(&ServerFrame::AutoCreateUpdated {
                conversation_id: "c".into(),
                enabled: true
            }),
            json!({"type":"auto_create_updated","conversation_id":"c","enabled":true})
        );
    }

    fn frame_text(frame: &ServerFrame) -> String {
        frame.encode().to_string()
    }
}
