//! Conversation owner and status, and their storage form.

use serde::{Deserialize, Serialize};

use super::{AgentId, UserId};

/// The longest message a person may write into a conversation (staff over REST or the
/// socket, customers in the web chat), in characters.
pub const MAX_MESSAGE_CHARS: usize = 65_536;

/// Who answers a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Owner {
    Nobody,
    User(UserId),
    AiAgent(AgentId),
}

impl Owner {
    pub fn kind(&self) -> &'static str {
        match self {
            Owner::Nobody => "none",
            Owner::User(_) => "user",
            Owner::AiAgent(_) => "ai_agent",
        }
    }

    pub fn id(&self) -> Option<&str> {
        match self {
            Owner::Nobody => None,
            Owner::User(id) => Some(id.as_str()),
            Owner::AiAgent(id) => Some(id.as_str()),
        }
    }

    /// Rebuilds an owner from its two columns; unknown kinds read as nobody.
    pub fn from_columns(kind: &str, id: Option<&str>) -> Owner {
        match (kind, id) {
            ("user", Some(id)) => Owner::User(UserId(id.to_string())),
            ("ai_agent", Some(id)) => Owner::AiAgent(AgentId(id.to_string())),
            _ => Owner::Nobody,
        }
    }

    pub fn agent(&self) -> Option<&AgentId> {
        match self {
            Owner::AiAgent(id) => Some(id),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for an owner: nobody with capacity was available.
    Queued,
    /// Owned by a human or an AI agent.
    Open,
    Closed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Open => "open",
            Status::Closed => "closed",
        }
    }

    pub fn parse(raw: &str) -> Option<Status> {
        match raw {
            "queued" => Some(Status::Queued),
            "open" => Some(Status::Open),
            "closed" => Some(Status::Closed),
            _ => None,
        }
    }
}

crate::text_enum! {
    /// Who wrote a message (`messages.sender_type`).
    pub enum SenderType {
        Contact => "contact",
        User => "user",
        AiAgent => "ai_agent",
        System => "system",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_round_trip_through_columns() {
        for owner in [
            Owner::Nobody,
            Owner::User(UserId::new()),
            Owner::AiAgent(AgentId::new()),
        ] {
            assert_eq!(Owner::from_columns(owner.kind(), owner.id()), owner);
        }
        assert_eq!(Owner::from_columns("user", None), Owner::Nobody);
        assert_eq!(Owner::from_columns("alien", Some("x")), Owner::Nobody);
    }

    #[test]
    fn statuses_parse() {
        for s in [Status::Queued, Status::Open, Status::Closed] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("escalated"), None);
    }

    #[test]
    fn sender_types_keep_their_stored_spelling() {
        let spelled: Vec<String> = SenderType::ALL.iter().map(|s| s.to_string()).collect();
        assert_eq!(spelled, ["contact", "user", "ai_agent", "system"]);
        for s in SenderType::ALL {
            assert_eq!(s.as_str().parse::<SenderType>(), Ok(*s));
            assert_eq!(
                serde_json::to_value(s).expect("serializes"),
                serde_json::json!(s.as_str())
            );
        }
        assert!("bot".parse::<SenderType>().is_err());
        assert!(serde_json::from_value::<SenderType>(serde_json::json!("bot")).is_err());
    }
}
