//! Durable timers that wake a conversation later (`schedule_followup`). They survive
//! restarts because they live here; the engine's timer actor polls for due ones.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::scheduled_timers;
use super::{DbConn, StoreResult};
use crate::domain::{ConversationId, TenantId};

crate::text_enum! {
    /// What a timer wakes its conversation for (`scheduled_timers.kind`).
    pub enum TimerKind {
        /// A message the AI scheduled (`schedule_followup`).
        Followup => "followup",
        /// The agent's `escalate_after_minutes` ran out.
        EscalationTimeout => "escalation_timeout",
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = scheduled_timers)]
pub struct Timer {
    pub id: String,
    pub tenant_id: TenantId,
    pub conversation_id: ConversationId,
    /// A [`TimerKind`].
    pub kind: String,
    pub fire_at: NaiveDateTime,
    /// JSON; for `followup`: `{"message", "reason"?, "agent_id"?}`; for
    /// `escalation_timeout`: `{"agent_id"}`.
    pub payload: String,
    pub fired: bool,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, timer: &Timer) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(scheduled_timers::table)
        .values(timer)
        .execute(c))?;
    Ok(())
}

pub fn for_conversation(
    conn: &mut DbConn,
    tenant: &TenantId,
    conversation: &ConversationId,
) -> StoreResult<Vec<Timer>> {
    Ok(crate::db_run!(conn, |c| scheduled_timers::table
        .filter(scheduled_timers::tenant_id.eq(tenant))
        .filter(scheduled_timers::conversation_id.eq(conversation))
        .order(scheduled_timers::fire_at.asc())
        .select(Timer::as_select())
        .load(c))?)
}

/// Inserts a timer whose id names what it is for (one per conversation and purpose), unless
/// it exists already, fired or not: arming it again after a restart or a re-attachment
/// changes nothing. Returns whether it was new.
pub fn insert_once(conn: &mut DbConn, timer: &Timer) -> StoreResult<bool> {
    let inserted = crate::db_run!(conn, |c| diesel::insert_into(scheduled_timers::table)
        .values(timer)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}
