//! Who a live connection speaks for and what it may follow: the rules the WebSocket hub and
//! sessions apply, kept here so they are plain functions with tests and no layer above the
//! domain is needed to read them.

use super::conversation::Owner;
use super::{ContactId, ConversationId, Role, TenantId, UserId};

/// Who a socket speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Staff {
        tenant: TenantId,
        user: UserId,
        role: Role,
    },
    /// A web chat customer: sees only its own conversations.
    Contact {
        tenant: TenantId,
        contact: ContactId,
        conversation: ConversationId,
    },
}

impl Principal {
    pub fn tenant(&self) -> &TenantId {
        match self {
            Principal::Staff { tenant, .. } | Principal::Contact { tenant, .. } => tenant,
        }
    }

    /// The user id of staff, the contact id of a customer (the `user_id` of frames).
    pub fn id(&self) -> &str {
        match self {
            Principal::Staff { user, .. } => user.as_str(),
            Principal::Contact { contact, .. } => contact.as_str(),
        }
    }

    pub fn is_contact(&self) -> bool {
        matches!(self, Principal::Contact { .. })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Principal::Staff { .. } => "staff",
            Principal::Contact { .. } => "contact",
        }
    }
}

/// The `agent` role follows its own and unassigned conversations only (as over REST).
pub fn agent_may_follow(user: &UserId, owner: &Owner) -> bool {
    super::role::may_open_conversation(Role::Agent, user, owner)
}

/// Why a principal may not see a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Another tenant's, or another customer's: its existence is not revealed.
    NotFound,
    /// Another agent's.
    Forbidden,
}

/// Whether `who` may see a conversation of `tenant`, with `contact`, owned by `owner`.
pub fn may_see(
    who: &Principal,
    tenant: &TenantId,
    contact: &ContactId,
    owner: &Owner,
) -> Result<(), Denied> {
    if tenant != who.tenant() {
        return Err(Denied::NotFound);
    }
    match who {
        Principal::Contact { contact: own, .. } if own != contact => Err(Denied::NotFound),
        Principal::Staff {
            user,
            role: Role::Agent,
            ..
        } if !agent_may_follow(user, owner) => Err(Denied::Forbidden),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AgentId;

    fn staff(tenant: &TenantId, user: &UserId, role: Role) -> Principal {
        Principal::Staff {
            tenant: tenant.clone(),
            user: user.clone(),
            role,
        }
    }

    #[test]
    fn tenants_customers_and_agents_see_only_their_own() {
        let (tenant, other_tenant) = (TenantId::new(), TenantId::new());
        let (ana, bia) = (UserId::new(), UserId::new());
        let (contact, other_contact) = (ContactId::new(), ContactId::new());
        let bot = Owner::AiAgent(AgentId::new());
        let customer = Principal::Contact {
            tenant: tenant.clone(),
            contact: contact.clone(),
            conversation: ConversationId::new(),
        };
        let agent = staff(&tenant, &ana, Role::Agent);
        let supervisor = staff(&tenant, &bia, Role::Supervisor);

        assert_eq!(may_see(&customer, &tenant, &contact, &bot), Ok(()));
        assert_eq!(
            may_see(&customer, &tenant, &other_contact, &bot),
            Err(Denied::NotFound)
        );
        assert_eq!(
            may_see(&supervisor, &other_tenant, &contact, &Owner::Nobody),
            Err(Denied::NotFound)
        );
        assert_eq!(
            may_see(&supervisor, &tenant, &contact, &Owner::User(ana.clone())),
            Ok(())
        );
        assert_eq!(
            may_see(&agent, &tenant, &contact, &Owner::User(ana.clone())),
            Ok(())
        );
        assert_eq!(may_see(&agent, &tenant, &contact, &Owner::Nobody), Ok(()));
        assert_eq!(
            may_see(&agent, &tenant, &contact, &Owner::User(bia)),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            may_see(&agent, &tenant, &contact, &bot),
            Err(Denied::Forbidden)
        );
    }
}
