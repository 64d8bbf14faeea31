//! Staff roles and what each may do.

use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_unknown() {
        for role in [Role::Admin, Role::Supervisor, Role::Agent] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
        assert_eq!(Role::parse("Admin"), None);
    }

    #[test]
    fn only_admins_manage_users() {
        assert!(Role::Admin.manages_users());
        assert!(!Role::Supervisor.manages_users());
        assert!(Role::Supervisor.oversees_tenant());
        assert!(!Role::Agent.oversees_tenant());
    }
}
