//! Calendar events (booked meetings) and the working hours they are booked within.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::executor::transaction;
use super::schema::{calendar_events, users};
use super::users::User;
use super::{DbConn, StoreResult};
use crate::domain::{ContactId, ConversationId, TenantId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq)]
#[diesel(table_name = calendar_events)]
pub struct CalendarEvent {
    pub id: String,
    pub tenant_id: TenantId,
    pub user_id: Option<UserId>,
    pub contact_id: Option<ContactId>,
    pub conversation_id: Option<ConversationId>,
    pub title: String,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub created_at: NaiveDateTime,
}

/// Books `event` unless its user already has an event overlapping it; `false` = taken.
/// Check and insert share one transaction, serialized per user: SQLite's `BEGIN IMMEDIATE`
/// admits one writer at a time, PostgreSQL locks the user's row.
pub fn book(conn: &mut DbConn, event: &CalendarEvent) -> StoreResult<bool> {
    transaction(conn, |conn| {
        if let (DbConn::Postgres(pooled), Some(user)) = (&mut *conn, &event.user_id) {
            let c: &mut diesel::PgConnection = &mut *pooled;
            users::table
                .filter(users::id.eq(user))
                .select(users::id)
                .for_update()
                .first::<String>(c)
                .optional()?;
        }
        let overlapping: i64 = crate::db_run!(conn, |c| calendar_events::table
            .filter(calendar_events::tenant_id.eq(&event.tenant_id))
            .filter(calendar_events::user_id.eq(&event.user_id))
            .filter(calendar_events::starts_at.lt(event.ends_at))
            .filter(calendar_events::ends_at.gt(event.starts_at))
            .count()
            .get_result(c))?;
        if overlapping > 0 {
            return Ok(false);
        }
        crate::db_run!(conn, |c| diesel::insert_into(calendar_events::table)
            .values(event)
            .execute(c))?;
        Ok(true)
    })
}

/// Events of `users` overlapping `[from, to)`.
pub fn busy(
    conn: &mut DbConn,
    tenant: &TenantId,
    users: &[UserId],
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> StoreResult<Vec<CalendarEvent>> {
    Ok(crate::db_run!(conn, |c| calendar_events::table
        .filter(calendar_events::tenant_id.eq(tenant))
        .filter(calendar_events::user_id.eq_any(users))
        .filter(calendar_events::starts_at.lt(to))
        .filter(calendar_events::ends_at.gt(from))
        .order(calendar_events::starts_at.asc())
        .select(CalendarEvent::as_select())
        .load(c))?)
}

/// A user's events ending after `since`, oldest first (the .ics feed).
pub fn for_user(
    conn: &mut DbConn,
    tenant: &TenantId,
    user: &UserId,
    since: NaiveDateTime,
    limit: i64,
) -> StoreResult<Vec<CalendarEvent>> {
    Ok(crate::db_run!(conn, |c| calendar_events::table
        .filter(calendar_events::tenant_id.eq(tenant))
        .filter(calendar_events::user_id.eq(user))
        .filter(calendar_events::ends_at.gt(since))
        .order(calendar_events::starts_at.asc())
        .limit(limit)
        .select(CalendarEvent::as_select())
        .load(c))?)
}

/// Who takes meetings booked where no human owns the conversation: the tenant's humans who
/// take conversations (`available`), in a stable order.
pub fn hosts(conn: &mut DbConn, tenant: &TenantId) -> StoreResult<Vec<User>> {
    Ok(crate::db_run!(conn, |c| users::table
        .filter(users::tenant_id.eq(tenant))
        .filter(users::available.eq(true))
        .order(users::id.asc())
        .select(User::as_select())
        .load(c))?)
}

pub fn set_working_hours(
    conn: &mut DbConn,
    tenant: &TenantId,
    user: &UserId,
    spec_json: &str,
) -> StoreResult<usize> {
    Ok(crate::db_run!(conn, |c| diesel::update(
        users::table
            .filter(users::tenant_id.eq(tenant))
            .filter(users::id.eq(user))
    )
    .set((
        users::working_hours.eq(spec_json),
        users::updated_at.eq(super::now()),
    ))
    .execute(c))?)
}

/// The owner of a calendar feed, found by id alone: feed URLs carry no tenant, the key
/// (checked by the caller) is bound to the user's own tenant.
pub fn user_by_id(conn: &mut DbConn, id: &UserId) -> StoreResult<Option<User>> {
    Ok(crate::db_run!(conn, |c| users::table
        .filter(users::id.eq(id))
        .select(User::as_select())
        .first(c)
        .optional())?)
}

/// One meeting by id (any tenant: the caller checks what may see it).
pub fn by_id(conn: &mut DbConn, id: &str) -> StoreResult<Option<CalendarEvent>> {
    Ok(crate::db_run!(conn, |c| calendar_events::table
        .filter(calendar_events::id.eq(id))
        .select(CalendarEvent::as_select())
        .first(c)
        .optional())?)
}
