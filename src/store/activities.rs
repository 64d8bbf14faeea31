//! Activities: tasks, calls, meetings, notes and follow-ups attached to a contact, a
//! conversation and/or a user. Every query is scoped by tenant.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::activities;
use super::{DbConn, StoreError, StoreResult};
use crate::domain::{TenantId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = activities)]
pub struct Activity {
    pub id: String,
    pub tenant_id: TenantId,
    pub contact_id: Option<String>,
    pub conversation_id: Option<String>,
    pub user_id: Option<String>,
    pub kind: String,
    pub title: String,
    pub description: String,
    pub due_at: Option<NaiveDateTime>,
    pub done: bool,
    /// JSON object.
    pub data: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = activities)]
pub struct ActivityChanges {
    pub contact_id: Option<Option<String>>,
    pub conversation_id: Option<Option<String>>,
    pub user_id: Option<Option<String>>,
    pub kind: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub due_at: Option<Option<NaiveDateTime>>,
    pub done: Option<bool>,
    pub data: Option<String>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Default, Clone)]
pub struct ActivityFilter {
    pub contact_id: Option<String>,
    pub conversation_id: Option<String>,
    pub user_id: Option<String>,
    pub kind: Option<String>,
    pub done: Option<bool>,
    pub due_before: Option<NaiveDateTime>,
    pub due_after: Option<NaiveDateTime>,
    /// Only what this agent may read: no contact or a readable one
    /// (`domain::role::may_read_contact`), no conversation or one it may open.
    pub agent_reach: Option<UserId>,
}

pub fn insert(conn: &mut DbConn, activity: &Activity) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(activities::table)
        .values(activity)
        .execute(c))?;
    Ok(())
}

pub fn find(conn: &mut DbConn, tenant: &TenantId, id: &str) -> StoreResult<Activity> {
    Ok(crate::db_run!(conn, |c| activities::table
        .filter(activities::tenant_id.eq(tenant))
        .filter(activities::id.eq(id))
        .select(Activity::as_select())
        .first(c))?)
}

/// Newest first; pages continue `before` an activity id.
pub fn list(
    conn: &mut DbConn,
    tenant: &TenantId,
    filter: &ActivityFilter,
    limit: i64,
    before: Option<&str>,
) -> StoreResult<Vec<Activity>> {
    Ok(crate::db_run!(conn, |c| {
        let mut query = activities::table
            .filter(activities::tenant_id.eq(tenant))
            .select(Activity::as_select())
            .order(activities::id.desc())
            .limit(limit)
            .into_boxed();
        if let Some(v) = &filter.contact_id {
            query = query.filter(activities::contact_id.eq(v));
        }
        if let Some(v) = &filter.conversation_id {
            query = query.filter(activities::conversation_id.eq(v));
        }
        if let Some(v) = &filter.user_id {
            query = query.filter(activities::user_id.eq(v));
        }
        if let Some(v) = &filter.kind {
            query = query.filter(activities::kind.eq(v));
        }
        if let Some(v) = filter.done {
            query = query.filter(activities::done.eq(v));
        }
        if let Some(v) = filter.due_before {
            query = query.filter(activities::due_at.lt(v));
        }
        if let Some(v) = filter.due_after {
            query = query.filter(activities::due_at.ge(v));
        }
        if let Some(me) = &filter.agent_reach {
            let contact = activities::contact_id.assume_not_null();
            query = query
                .filter(
                    activities::contact_id
                        .is_null()
                        .or(contact.eq_any(crate::openable_by_agent!(tenant, &me.0, contact_id)))
                        .or(diesel::dsl::not(
                            contact.eq_any(crate::contacts_with_conversations!(tenant)),
                        )),
                )
                .filter(
                    activities::conversation_id
                        .is_null()
                        .or(activities::conversation_id
                            .assume_not_null()
                            .eq_any(crate::openable_by_agent!(tenant, &me.0, id))),
                );
        }
        if let Some(before) = before {
            query = query.filter(activities::id.lt(before));
        }
        query.load(c)
    })?)
}

pub fn update(
    conn: &mut DbConn,
    tenant: &TenantId,
    id: &str,
    changes: &ActivityChanges,
) -> StoreResult<Activity> {
    let updated = crate::db_run!(conn, |c| diesel::update(
        activities::table
            .filter(activities::tenant_id.eq(tenant))
            .filter(activities::id.eq(id))
    )
    .set(changes)
    .execute(c))?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    find(conn, tenant, id)
}

pub fn delete(conn: &mut DbConn, tenant: &TenantId, id: &str) -> StoreResult<()> {
    let deleted = crate::db_run!(conn, |c| diesel::delete(
        activities::table
            .filter(activities::tenant_id.eq(tenant))
            .filter(activities::id.eq(id))
    )
    .execute(c))?;
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
