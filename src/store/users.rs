//! Staff users (human agents, supervisors, admins). Every query is scoped by tenant.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::users;
use super::{DbConn, StoreError, StoreResult};
use crate::domain::{TenantId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub tenant_id: TenantId,
    pub name: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub max_conversations: i32,
    pub specialties: String,
    pub department_ids: String,
    pub available: bool,
    pub presence: String,
    pub working_hours: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Carried in every token issued to the user; bumped when the password changes, which
    /// makes all earlier tokens invalid.
    pub token_version: i64,
}

/// Fields a PATCH may change; `None` leaves a column as it is.
#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub name: Option<String>,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub role: Option<String>,
    pub max_conversations: Option<i32>,
    pub specialties: Option<String>,
    pub department_ids: Option<String>,
    pub available: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConn, user: &User) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(users::table)
        .values(user)
        .execute(c))?;
    Ok(())
}

pub fn find(conn: &mut DbConn, tenant: &TenantId, id: &UserId) -> StoreResult<User> {
    Ok(crate::db_run!(conn, |c| users::table
        .filter(users::tenant_id.eq(tenant))
        .filter(users::id.eq(id))
        .select(User::as_select())
        .first(c))?)
}

/// Candidates for a login: the same e-mail may exist in several tenants.
pub fn find_by_email(conn: &mut DbConn, email: &str) -> StoreResult<Vec<User>> {
    Ok(crate::db_run!(conn, |c| users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .load(c))?)
}

pub fn list(
    conn: &mut DbConn,
    tenant: &TenantId,
    limit: i64,
    after: Option<&UserId>,
) -> StoreResult<Vec<User>> {
    Ok(crate::db_run!(conn, |c| {
        let mut query = users::table
            .filter(users::tenant_id.eq(tenant))
            .select(User::as_select())
            .order(users::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(users::id.gt(after));
        }
        query.load(c)
    })?)
}

pub fn update(
    conn: &mut DbConn,
    tenant: &TenantId,
    id: &UserId,
    changes: &UserChanges,
) -> StoreResult<User> {
    let updated = crate::db_run!(conn, |c| diesel::update(
        users::table
            .filter(users::tenant_id.eq(tenant))
            .filter(users::id.eq(id))
    )
    .set(changes)
    .execute(c))?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    find(conn, tenant, id)
}

/// What authorization needs of a user, whichever tenant it is in: `None` once deleted.
pub fn access(conn: &mut DbConn, id: &UserId) -> StoreResult<Option<(TenantId, String, i64)>> {
    Ok(crate::db_run!(conn, |c| users::table
        .filter(users::id.eq(id))
        .select((users::tenant_id, users::role, users::token_version))
        .first::<(TenantId, String, i64)>(c)
        .optional())?)
}

/// Applies `changes` and, when `revoke_tokens`, bumps the token version in the same
/// transaction: the new password and the end of the old tokens are one change.
pub fn update_revoking(
    conn: &mut DbConn,
    tenant: &TenantId,
    id: &UserId,
    changes: &UserChanges,
    revoke_tokens: bool,
) -> StoreResult<User> {
    crate::db_run!(conn, |c| c.transaction(|c| {
        let target = || {
            users::table
                .filter(users::tenant_id.eq(tenant))
                .filter(users::id.eq(id))
        };
        let updated = diesel::update(target()).set(changes).execute(c)?;
        if updated == 0 {
            return Err(diesel::result::Error::NotFound);
        }
        if revoke_tokens {
            diesel::update(target())
                .set(users::token_version.eq(users::token_version + 1))
                .execute(c)?;
        }
        target().select(User::as_select()).first(c)
    }))
    .map_err(StoreError::from)
}

pub fn delete(conn: &mut DbConn, tenant: &TenantId, id: &UserId) -> StoreResult<()> {
    let deleted = crate::db_run!(conn, |c| diesel::delete(
        users::table
            .filter(users::tenant_id.eq(tenant))
            .filter(users::id.eq(id))
    )
    .execute(c))?;
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Humans who may take conversations now (the `available` flag set by them or an admin).
pub fn available(conn: &mut DbConn, tenant: &TenantId) -> StoreResult<Vec<User>> {
    Ok(crate::db_run!(conn, |c| users::table
        .filter(users::tenant_id.eq(tenant))
        .filter(users::available.eq(true))
        .select(User::as_select())
        .load(c))?)
}

/// Humans who may take conversations now and are connected: `available` and presence
/// `online` (written by the WebSocket hub; `away` and `offline` do not take new work).
pub fn available_online(conn: &mut DbConn, tenant: &TenantId) -> StoreResult<Vec<User>> {
    Ok(crate::db_run!(conn, |c| users::table
        .filter(users::tenant_id.eq(tenant))
        .filter(users::available.eq(true))
        .filter(users::presence.eq("online"))
        .select(User::as_select())
        .load(c))?)
}

/// Users in every tenant: zero means a fresh install (the console's first-run set-up).
pub fn count_all(conn: &mut DbConn) -> StoreResult<i64> {
    Ok(crate::db_run!(conn, |c| users::table
        .count()
        .get_result(c))?)
}
