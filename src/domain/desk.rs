//! Staff working a conversation together (issue 16, item 3): private notes and transfers.
//! Pure rules; `engine::desk` runs them against the store and the conversation's actor.

use serde::{Deserialize, Serialize};

use super::conversation::Owner;
use super::{DepartmentId, Role, UserId};

/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 4000;

crate::text_enum! {
    /// Why a note exists: written on its own, or given with a transfer.
    pub enum NoteKind {
        Note => "note",
        Transfer => "transfer",
    }
}

/// Where a conversation is transferred.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum TransferTarget {
    /// A colleague, who becomes the owner at once.
    User(UserId),
    /// A department: the conversation waits in its queue for one of its humans.
    Department(DepartmentId),
}

/// A rejected request: the field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// A note's text, trimmed; empty or too long is refused.
pub fn note_text(raw: &str, field: &'static str) -> Result<String, Invalid> {
    let text = raw.trim();
    if text.is_empty() || text.chars().count() > MAX_NOTE_CHARS {
        return Err(invalid(
            field,
            format!("must be 1 to {MAX_NOTE_CHARS} characters"),
        ));
    }
    Ok(text.to_string())
}

/// The target of `{user_id | department_id}`: exactly one, and a well-formed id.
pub fn transfer_target(
    user_id: Option<&str>,
    department_id: Option<&str>,
) -> Result<TransferTarget, Invalid> {
    match (user_id, department_id) {
        (Some(user), None) => UserId::parse(user.trim())
            .map(TransferTarget::User)
            .ok_or_else(|| invalid("user_id", "is not a user of this tenant")),
        (None, Some(department)) => DepartmentId::parse(department.trim())
            .map(TransferTarget::Department)
            .ok_or_else(|| invalid("department_id", "is not a department of this tenant")),
        _ => Err(invalid(
            "target",
            "give exactly one of user_id or department_id",
        )),
    }
}

/// Whether `me` (with `role`) may transfer a conversation now owned by `owner`: admins and
/// supervisors any of their tenant, an agent only its own.
pub fn may_transfer(role: Role, me: &UserId, owner: &Owner) -> bool {
    role.oversees_tenant() || matches!(owner, Owner::User(user) if user == me)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AgentId;

    fn id() -> String {
        uuid::Uuid::now_v7().to_string()
    }

    #[test]
    fn exactly_one_target_is_named() {
        let user = id();
        assert_eq!(
            transfer_target(Some(&user), None),
            Ok(TransferTarget::User(UserId(user.clone())))
        );
        let department = id();
        assert_eq!(
            transfer_target(None, Some(&department)),
            Ok(TransferTarget::Department(DepartmentId(department.clone())))
        );
        let field = |r: Result<TransferTarget, Invalid>| r.expect_err("refused").field;
        assert_eq!(field(transfer_target(None, None)), "target");
        assert_eq!(
            field(transfer_target(Some(&user), Some(&department))),
            "target"
        );
        assert_eq!(field(transfer_target(Some("nope"), None)), "user_id");
        assert_eq!(field(transfer_target(None, Some("x"))), "department_id");
    }

    #[test]
    fn agents_transfer_only_their_own() {
        let me = UserId(id());
        let other = UserId(id());
        assert!(may_transfer(Role::Agent, &me, &Owner::User(me.clone())));
        assert!(!may_transfer(Role::Agent, &me, &Owner::User(other.clone())));
        assert!(!may_transfer(Role::Agent, &me, &Owner::Nobody));
        assert!(!may_transfer(
            Role::Agent,
            &me,
            &Owner::AiAgent(AgentId(id()))
        ));
        assert!(may_transfer(Role::Supervisor, &me, &Owner::User(other)));
        assert!(may_transfer(Role::Admin, &me, &Owner::Nobody));
    }

    #[test]
    fn notes_are_trimmed_and_bounded() {
        assert_eq!(
            note_text("  olha isso ", "content").as_deref(),
            Ok("olha isso")
        );
        assert_eq!(
            note_text("   ", "content").map_err(|e| e.field),
            Err("content")
        );
        assert!(note_text(&"x".repeat(MAX_NOTE_CHARS + 1), "note").is_err());
    }
}
