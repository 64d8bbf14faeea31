//! CSAT ratings: the question asked when a conversation closed, and the customer's answer.
//! While a question waits (not rated, not expired) and the contact has no open conversation,
//! a "1".."5" reply is written to the closed conversation as its rating instead of opening a
//! new one (`engine::writer`); any other reply opens a conversation as usual.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::csat_ratings;
use super::{DbConn, StoreResult};
use crate::domain::{ContactId, ConversationId, TenantId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = csat_ratings)]
pub struct CsatRating {
    pub conversation_id: ConversationId,
    pub tenant_id: TenantId,
    pub contact_id: ContactId,
    /// Who served the conversation when it closed: `user` or `ai_agent`, and its id.
    pub owner_type: Option<String>,
    pub owner_id: Option<String>,
    pub category: Option<String>,
    pub channel: String,
    pub asked_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub rating: Option<i32>,
    pub rated_at: Option<NaiveDateTime>,
}

/// Records the question (asking again after a reopen replaces the earlier one).
pub fn ask(conn: &mut DbConn, row: &CsatRating) -> StoreResult<()> {
    crate::db_run!(conn, |c| {
        diesel::delete(
            csat_ratings::table.filter(csat_ratings::conversation_id.eq(&row.conversation_id)),
        )
        .execute(c)?;
        diesel::insert_into(csat_ratings::table)
            .values(row)
            .execute(c)
    })?;
    Ok(())
}

/// Each contact's question still waiting for a rating at `now`: its newest one, if that is
/// unrated and unexpired.
pub fn awaiting(
    conn: &mut DbConn,
    contacts: &[&ContactId],
    now: NaiveDateTime,
) -> StoreResult<HashMap<ContactId, ConversationId>> {
    let rows: Vec<(ContactId, ConversationId, Option<i32>, NaiveDateTime)> =
        crate::db_run!(conn, |c| csat_ratings::table
            .filter(csat_ratings::contact_id.eq_any(contacts))
            .filter(csat_ratings::expires_at.gt(now))
            .order(csat_ratings::asked_at.asc())
            .select((
                csat_ratings::contact_id,
                csat_ratings::conversation_id,
                csat_ratings::rating,
                csat_ratings::asked_at,
            ))
            .load(c))?;
    // Ordered oldest first: the newest question of each contact wins.
    let mut newest: HashMap<ContactId, (ConversationId, Option<i32>)> = HashMap::new();
    for (contact, conversation, rating, _) in rows {
        newest.insert(contact, (conversation, rating));
    }
    Ok(newest
        .into_iter()
        .filter(|(_, (_, rating))| rating.is_none())
        .map(|(contact, (conversation, _))| (contact, conversation))
        .collect())
}

/// Stores the rating; false when the question was answered meanwhile (the first wins).
pub fn rate(
    conn: &mut DbConn,
    conversation: &ConversationId,
    rating: u8,
    now: NaiveDateTime,
) -> StoreResult<bool> {
    let updated = crate::db_run!(conn, |c| diesel::update(
        csat_ratings::table
            .filter(csat_ratings::conversation_id.eq(conversation))
            .filter(csat_ratings::rating.is_null())
    )
    .set((
        csat_ratings::rating.eq(i32::from(rating)),
        csat_ratings::rated_at.eq(now),
    ))
    .execute(c))?;
    Ok(updated > 0)
}

pub fn find(conn: &mut DbConn, conversation: &ConversationId) -> StoreResult<Option<CsatRating>> {
    Ok(crate::db_run!(conn, |c| csat_ratings::table
        .filter(csat_ratings::conversation_id.eq(conversation))
        .select(CsatRating::as_select())
        .first(c)
        .optional())?)
}

/// Ratings given in a tenant between `from` and `to` (by when they were given).
pub fn rated_between(
    conn: &mut DbConn,
    tenant: &TenantId,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> StoreResult<Vec<CsatRating>> {
    Ok(crate::db_run!(conn, |c| csat_ratings::table
        .filter(csat_ratings::tenant_id.eq(tenant))
        .filter(csat_ratings::rated_at.ge(from))
        .filter(csat_ratings::rated_at.lt(to))
        .select(CsatRating::as_select())
        .load(c))?)
}

/// How many questions were asked in the period (the response rate's denominator).
pub fn asked_between(
    conn: &mut DbConn,
    tenant: &TenantId,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> StoreResult<i64> {
    Ok(crate::db_run!(conn, |c| csat_ratings::table
        .filter(csat_ratings::tenant_id.eq(tenant))
        .filter(csat_ratings::asked_at.ge(from))
        .filter(csat_ratings::asked_at.lt(to))
        .count()
        .get_result(c))?)
}
