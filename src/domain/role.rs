//! Staff roles and what each may do.

use serde::{Deserialize, Serialize};

use super::agent::AgentStatus;
use super::conversation::Owner;
use super::UserId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything in its tenant.
    Admin,
    /// Conversations, reports, assignment.
    Supervisor,
    /// Its own and unassigned conversations.
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Agent => "agent",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "admin" => Some(Role::Admin),
            "supervisor" => Some(Role::Supervisor),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }

    /// Admins and supervisors oversee the whole tenant: listings, reports, assignment.
    pub fn oversees_tenant(self) -> bool {
        matches!(self, Role::Admin | Role::Supervisor)
    }

    pub fn manages_users(self) -> bool {
        self == Role::Admin
    }
}

/// Whether `role` (as user `me`) may open a conversation with `owner`: admins and
/// supervisors any of their tenant; an agent its own and the unassigned (queued) ones, so
/// it can pick work from the queue but never read a colleague's or an AI agent's.
pub fn may_open_conversation(role: Role, me: &UserId, owner: &Owner) -> bool {
    if role.oversees_tenant() {
        return true;
    }
    match owner {
        Owner::Nobody => true,
        Owner::User(user) => user == me,
        Owner::AiAgent(_) => false,
    }
}

/// Whether user `me` (with `role`) may take a conversation now owned by `current` for
/// themselves: one nobody owns (the queue) or already theirs; admins and supervisors may
/// take any (a transfer to themselves). Decided inside the conversation's actor, its only
/// writer, so two people taking the same conversation cannot both win.
pub fn may_take(role: Role, me: &UserId, current: &Owner) -> bool {
    role.oversees_tenant()
        || match current {
            Owner::Nobody => true,
            Owner::User(user) => user == me,
            Owner::AiAgent(_) => false,
        }
}

/// Whether `role` may read (and edit) a contact, its memories and its activities, given the
/// owners of that contact's conversations: an agent only through a conversation it may open,
/// because a contact's record is the context of that work, not a directory of the tenant. A
/// contact with no conversation yet (a lead staff entered by hand) is nobody's work: open.
pub fn may_read_contact<'a>(
    role: Role,
    me: &UserId,
    conversation_owners: impl IntoIterator<Item = &'a Owner>,
) -> bool {
    let mut owners = conversation_owners.into_iter().peekable();
    role.oversees_tenant()
        || owners.peek().is_none()
        || owners.any(|owner| may_open_conversation(role, me, owner))
}

/// Whose reach bounds a tenant-wide listing (contacts, activities): an agent's own, so a
/// list shows exactly what `may_open_conversation` and `may_read_contact` let it open;
/// overseers list the whole tenant (`None`).
pub fn listing_reach(role: Role, me: &UserId) -> Option<UserId> {
    (!role.oversees_tenant()).then(|| me.clone())
}

/// Whether `role` may chat (`/agents/{id}/chat/stream`) with an AI agent in this state:
/// admins and supervisors with any agent of the tenant (to try drafts out); other staff only
/// with live bots (active and enabled), the ones the tenant put in front of customers.
pub fn may_chat_with_agent(role: Role, status: AgentStatus, enabled: bool) -> bool {
    role.oversees_tenant() || (status == AgentStatus::Active && enabled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taking_is_for_the_queue_or_your_own_unless_you_oversee() {
        let me = UserId::new();
        let other = Owner::User(UserId::new());
        let ai = Owner::AiAgent(crate::domain::AgentId::new());
        assert!(may_take(Role::Agent, &me, &Owner::Nobody));
        assert!(may_take(Role::Agent, &me, &Owner::User(me.clone())));
        assert!(!may_take(Role::Agent, &me, &other));
        assert!(!may_take(Role::Agent, &me, &ai));
        for role in [Role::Admin, Role::Supervisor] {
            assert!(may_take(role, &me, &other));
            assert!(may_take(role, &me, &ai));
        }
    }

    #[test]
    fn round_trips_and_rejects_unknown() {
        for role in [Role::Admin, Role::Supervisor, Role::Agent] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
        assert_eq!(Role::parse("Admin"), None);
    }

    #[test]
    fn agents_open_their_own_and_queued_conversations_only() {
        let me = UserId("u-me".into());
        let other = Owner::User(UserId("u-other".into()));
        let bot = Owner::AiAgent(crate::domain::AgentId("a-1".into()));
        let mine = Owner::User(me.clone());
        assert!(may_open_conversation(Role::Agent, &me, &mine));
        assert!(may_open_conversation(Role::Agent, &me, &Owner::Nobody));
        assert!(!may_open_conversation(Role::Agent, &me, &other));
        assert!(!may_open_conversation(Role::Agent, &me, &bot));
        for role in [Role::Admin, Role::Supervisor] {
            assert!(may_open_conversation(role, &me, &other));
            assert!(may_open_conversation(role, &me, &bot));
        }
    }

    #[test]
    fn only_agents_listings_are_bounded() {
        let me = UserId("u-me".into());
        assert_eq!(listing_reach(Role::Agent, &me), Some(me.clone()));
        assert_eq!(listing_reach(Role::Supervisor, &me), None);
        assert_eq!(listing_reach(Role::Admin, &me), None);
    }

    #[test]
    fn contacts_are_read_through_an_openable_conversation() {
        let me = UserId("u-me".into());
        let other = Owner::User(UserId("u-other".into()));
        assert!(may_read_contact(Role::Agent, &me, []));
        assert!(!may_read_contact(Role::Agent, &me, [&other]));
        assert!(may_read_contact(Role::Agent, &me, [&other, &Owner::Nobody]));
        assert!(may_read_contact(
            Role::Agent,
            &me,
            [&Owner::User(me.clone())]
        ));
        assert!(may_read_contact(Role::Supervisor, &me, [&other]));
        assert!(may_read_contact(Role::Admin, &me, []));
    }

    #[test]
    fn agents_chat_only_with_live_bots() {
        assert!(may_chat_with_agent(Role::Agent, AgentStatus::Active, true));
        assert!(!may_chat_with_agent(
            Role::Agent,
            AgentStatus::Active,
            false
        ));
        assert!(!may_chat_with_agent(Role::Agent, AgentStatus::Draft, true));
        assert!(!may_chat_with_agent(
            Role::Agent,
            AgentStatus::Inactive,
            true
        ));
        for role in [Role::Admin, Role::Supervisor] {
            assert!(may_chat_with_agent(role, AgentStatus::Draft, false));
            assert!(may_chat_with_agent(role, AgentStatus::Inactive, true));
        }
    }

    #[test]
    fn only_admins_manage_users() {
        assert!(Role::Admin.manages_users());
        assert!(!Role::Supervisor.manages_users());
        assert!(Role::Supervisor.oversees_tenant());
        assert!(!Role::Agent.oversees_tenant());
    }
}
