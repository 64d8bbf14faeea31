//! The wire shapes that REST and the WebSocket both show (docs/protocol.md): a message and a
//! booked meeting read the same whichever transport carries them.

use serde::Serialize;
use utoipa::ToSchema;

use crate::store::calendar::CalendarEvent;
use crate::store::messages::Message;

/// docs/protocol.md's `Message`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: String,
    pub conversation_id: String,
    pub seq: i64,
    pub sender_type: String,
    pub sender_id: Option<String>,
    pub content: String,
    pub content_type: String,
    pub status: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

impl MessageView {
    pub fn from_row(m: Message) -> Self {
        MessageView {
            metadata: serde_json::from_str(&m.metadata).unwrap_or(serde_json::Value::Null),
            id: m.id.0,
            conversation_id: m.conversation_id.0,
            seq: m.seq,
            sender_type: m.sender_type.to_string(),
            sender_id: m.sender_id,
            content: m.content,
            content_type: m.content_type,
            status: m.status,
            created_at: m.created_at.and_utc(),
        }
    }
}

/// A booked meeting as the socket and the REST API show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    pub id: String,
    pub user_id: Option<String>,
    pub contact_id: Option<String>,
    pub conversation_id: Option<String>,
    pub title: String,
    pub starts_at: chrono::DateTime<chrono::Utc>,
    pub ends_at: chrono::DateTime<chrono::Utc>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<CalendarEvent> for EventView {
    fn from(e: CalendarEvent) -> Self {
        EventView {
            id: e.id,
            user_id: e.user_id.map(|u| u.0),
            contact_id: e.contact_id.map(|c| c.0),
            conversation_id: e.conversation_id.map(|c| c.0),
            title: e.title,
            starts_at: e.starts_at.and_utc(),
            ends_at: e.ends_at.and_utc(),
            email: e.email,
            phone: e.phone,
            created_at: e.created_at.and_utc(),
        }
    }
}
