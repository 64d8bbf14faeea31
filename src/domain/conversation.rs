//! Conversation owner and status, and their storage form.

use serde::{Deserialize, Serialize};

use super::{AgentId, UserId};

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

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderType {
    Contact,
    User,
    AiAgent,
    System,
}

impl SenderType {
    pub fn as_str(self) -> &'static str {
        match self {
            SenderType::Contact => "contact",
            SenderType::User => "user",
            SenderType::AiAgent => "ai_agent",
            SenderType::System => "system",
        }
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
}
