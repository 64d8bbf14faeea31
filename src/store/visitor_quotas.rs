//! Per-conversation counters of what a web-chat visitor asked for (summaries, bookings), so a
//! contact token cannot spend LLM calls or fill calendars without bound. Taking a unit is one
//! conditional update, so concurrent sockets of the same visitor never pass the cap together.

use diesel::prelude::*;

use super::schema::visitor_quotas;
use super::{DbConn, StoreError, StoreResult};
use crate::domain::quota::VisitorRequest;
use crate::domain::ConversationId;

/// Takes one unit of `kind` for `conversation` if fewer than `cap` were taken; `false` when
/// the cap is reached (nothing changes then).
pub fn take(
    conn: &mut DbConn,
    conversation: &ConversationId,
    kind: VisitorRequest,
    cap: u32,
) -> StoreResult<bool> {
    let cap = i64::from(cap);
    if cap == 0 {
        return Ok(false);
    }
    // An insert that loses a race with another socket's first request finds the row on the
    // second pass.
    for _ in 0..2 {
        let raised = crate::db_run!(conn, |c| diesel::update(
            visitor_quotas::table
                .filter(visitor_quotas::conversation_id.eq(conversation))
                .filter(visitor_quotas::kind.eq(kind.as_str()))
                .filter(visitor_quotas::used.lt(cap))
        )
        .set(visitor_quotas::used.eq(visitor_quotas::used + 1))
        .execute(c))?;
        if raised == 1 {
            return Ok(true);
        }
        let exists: i64 = crate::db_run!(conn, |c| visitor_quotas::table
            .filter(visitor_quotas::conversation_id.eq(conversation))
            .filter(visitor_quotas::kind.eq(kind.as_str()))
            .count()
            .get_result(c))?;
        if exists > 0 {
            return Ok(false);
        }
        let inserted = crate::db_run!(conn, |c| diesel::insert_into(visitor_quotas::table)
            .values((
                visitor_quotas::conversation_id.eq(conversation),
                visitor_quotas::kind.eq(kind.as_str()),
                visitor_quotas::used.eq(1_i64),
            ))
            .execute(c));
        match inserted.map_err(StoreError::from) {
            Ok(_) => return Ok(true),
            Err(StoreError::Conflict(_)) => continue,
            Err(other) => return Err(other),
        }
    }
    Ok(false)
}

/// Gives back a unit taken for a request that then failed (a slot already taken, a bad time),
/// so only what was really done counts.
pub fn give_back(
    conn: &mut DbConn,
    conversation: &ConversationId,
    kind: VisitorRequest,
) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::update(
        visitor_quotas::table
            .filter(visitor_quotas::conversation_id.eq(conversation))
            .filter(visitor_quotas::kind.eq(kind.as_str()))
            .filter(visitor_quotas::used.gt(0_i64))
    )
    .set(visitor_quotas::used.eq(visitor_quotas::used - 1))
    .execute(c))?;
    Ok(())
}
