//! Ownership spells (`domain::handling`): written beside every owner change, in the same
//! transaction (the conversation actor's writer closure), so the history cannot disagree with
//! the conversation row. `store::analytics::handling` sums them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::ownership_spells;
use super::{DbConn, StoreResult};
use crate::domain::conversation::Owner;
use crate::domain::handling::{self, SpellEnd};
use crate::domain::{ConversationId, TenantId};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = ownership_spells)]
pub struct Spell {
    pub id: String,
    pub tenant_id: TenantId,
    pub conversation_id: ConversationId,
    pub owner_type: String,
    pub owner_id: String,
    pub department_id: Option<String>,
    pub started_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
    pub end_reason: Option<String>,
}

/// An owner change, as the conversation's actor (which knows the owner it replaces) sees it.
pub struct Change<'a> {
    /// The owner until now: its spell, if it has one, is the open one.
    pub previous: &'a Owner,
    /// `None`: the conversation closes.
    pub next: Option<&'a Owner>,
    /// The conversation's department: the new spell counts for it.
    pub department: Option<String>,
    pub at: NaiveDateTime,
}

/// Ends the conversation's open spell and opens the next owner's, as
/// [`handling::transition`] decides. Every owner change passes through here, so the open
/// spell is the previous owner's; it is not read back.
pub fn record(
    conn: &mut DbConn,
    tenant: &TenantId,
    conversation: &ConversationId,
    change: Change<'_>,
) -> StoreResult<()> {
    let Change {
        previous,
        next,
        department,
        at: now,
    } = change;
    let open = previous.id().map(|id| (previous.kind(), id));
    let step = handling::transition(open, next);
    if let Some(end) = step.end {
        end_open(conn, conversation, end, now)?;
    }
    if let Some((kind, id)) = step.open {
        let spell = Spell {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant.clone(),
            conversation_id: conversation.clone(),
            owner_type: kind.to_string(),
            owner_id: id,
            department_id: department,
            started_at: now,
            ended_at: None,
            end_reason: None,
        };
        crate::db_run!(conn, |c| diesel::insert_into(ownership_spells::table)
            .values(&spell)
            .execute(c))?;
    }
    Ok(())
}

fn end_open(
    conn: &mut DbConn,
    conversation: &ConversationId,
    end: SpellEnd,
    now: NaiveDateTime,
) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::update(
        ownership_spells::table
            .filter(ownership_spells::conversation_id.eq(conversation))
            .filter(ownership_spells::ended_at.is_null())
    )
    .set((
        ownership_spells::ended_at.eq(now),
        ownership_spells::end_reason.eq(end.as_str()),
    ))
    .execute(c))?;
    Ok(())
}

/// A conversation's spells, oldest first.
pub fn of_conversation(
    conn: &mut DbConn,
    conversation: &ConversationId,
) -> StoreResult<Vec<Spell>> {
    Ok(crate::db_run!(conn, |c| ownership_spells::table
        .filter(ownership_spells::conversation_id.eq(conversation))
        .order(ownership_spells::started_at.asc())
        .select(Spell::as_select())
        .load(c))?)
}
