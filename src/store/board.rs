//! The supervisor's live board at one moment (`GET /api/v1/analytics/live`): the queue, who
//! owns the live conversations, and the staff with their presence. Counted by the database.

use chrono::NaiveDateTime;
use diesel::dsl::{count_star, min};
use diesel::prelude::*;

use super::schema::{ai_agents, conversations, users};
use super::{DbConn, StoreResult};
use crate::domain::TenantId;

/// Queued conversations: how many, and since when the oldest waits.
pub fn queue(conn: &mut DbConn, tenant: &TenantId) -> StoreResult<(i64, Option<NaiveDateTime>)> {
    Ok(crate::db_run!(conn, |c| conversations::table
        .filter(conversations::tenant_id.eq(tenant))
        .filter(conversations::status.eq("queued"))
        .select((count_star(), min(conversations::queued_at)))
        .first::<(i64, Option<NaiveDateTime>)>(c))?)
}

/// Live (not closed) conversations per owner, owned ones only: `(owner_type, owner_id, n)`.
pub fn live_by_owner(
    conn: &mut DbConn,
    tenant: &TenantId,
) -> StoreResult<Vec<(String, Option<String>, i64)>> {
    Ok(crate::db_run!(conn, |c| conversations::table
        .filter(conversations::tenant_id.eq(tenant))
        .filter(conversations::status.ne("closed"))
        .filter(conversations::owner_type.ne("none"))
        .group_by((conversations::owner_type, conversations::owner_id))
        .select((
            conversations::owner_type,
            conversations::owner_id,
            count_star()
        ))
        .load::<(String, Option<String>, i64)>(c))?)
}

/// A staff member as the board shows them.
#[derive(Debug, Clone, Queryable)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub role: String,
    pub presence: String,
    pub available: bool,
    pub max_conversations: i32,
}

/// Every staff member of the tenant, by name.
pub fn people(conn: &mut DbConn, tenant: &TenantId) -> StoreResult<Vec<Person>> {
    Ok(crate::db_run!(conn, |c| users::table
        .filter(users::tenant_id.eq(tenant))
        .order(users::name.asc())
        .select((
            users::id,
            users::name,
            users::role,
            users::presence,
            users::available,
            users::max_conversations
        ))
        .load::<Person>(c))?)
}

/// AI agent names by id, for the owners column.
pub fn agent_names(
    conn: &mut DbConn,
    tenant: &TenantId,
) -> StoreResult<Vec<(String, String, String)>> {
    Ok(crate::db_run!(conn, |c| ai_agents::table
        .filter(ai_agents::tenant_id.eq(tenant))
        .select((ai_agents::id, ai_agents::name, ai_agents::emoji))
        .load::<(String, String, String)>(c))?)
}
