//! Canned responses: the tenant's (`user_id` NULL) and each user's own.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::canned_responses;
use super::{DbConn, StoreError, StoreResult};
use crate::domain::{TenantId, UserId};

/// Most canned responses one user sees (the tenant's plus their own).
pub const MAX_VISIBLE: i64 = 500;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = canned_responses)]
#[diesel(treat_none_as_default_value = false)]
pub struct CannedResponse {
    pub id: String,
    pub tenant_id: TenantId,
    /// `None`: the tenant's, shared by everyone.
    pub user_id: Option<String>,
    pub shortcut: String,
    pub content: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = canned_responses)]
pub struct CannedChanges {
    pub shortcut: Option<String>,
    pub content: Option<String>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConn, row: &CannedResponse) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(canned_responses::table)
        .values(row)
        .execute(c))?;
    Ok(())
}

/// What `user` sees: the tenant's and their own, by shortcut (their own first on a tie),
/// optionally only shortcuts starting with `prefix`.
pub fn visible(
    conn: &mut DbConn,
    tenant: &TenantId,
    user: &UserId,
    prefix: Option<&str>,
) -> StoreResult<Vec<CannedResponse>> {
    let mut rows: Vec<CannedResponse> = crate::db_run!(conn, |c| {
        let mut query = canned_responses::table
            .filter(canned_responses::tenant_id.eq(tenant))
            .filter(
                canned_responses::user_id
                    .is_null()
                    .or(canned_responses::user_id.eq(user.as_str())),
            )
            .select(CannedResponse::as_select())
            .order(canned_responses::shortcut.asc())
            .limit(MAX_VISIBLE)
            .into_boxed();
        if let Some(prefix) = prefix {
            // Shortcuts are `a-z 0-9 _ -`: `_` is a LIKE wildcard, so it is escaped.
            let pattern = format!("{}%", prefix.replace('_', "\\_"));
            query = query.filter(canned_responses::shortcut.like(pattern).escape('\\'));
        }
        query.load(c)
    })?;
    rows.sort_by(|a, b| {
        a.shortcut
            .cmp(&b.shortcut)
            .then_with(|| b.user_id.is_some().cmp(&a.user_id.is_some()))
    });
    Ok(rows)
}

/// The text `user` gets for `shortcut`: their own, else the tenant's.
pub fn lookup(
    conn: &mut DbConn,
    tenant: &TenantId,
    user: &UserId,
    shortcut: &str,
) -> StoreResult<Option<String>> {
    let rows: Vec<(Option<String>, String)> = crate::db_run!(conn, |c| canned_responses::table
        .filter(canned_responses::tenant_id.eq(tenant))
        .filter(canned_responses::shortcut.eq(shortcut))
        .filter(
            canned_responses::user_id
                .is_null()
                .or(canned_responses::user_id.eq(user.as_str())),
        )
        .select((canned_responses::user_id, canned_responses::content))
        .load(c))?;
    let own = rows.iter().find(|(owner, _)| owner.is_some());
    Ok(own
        .or_else(|| rows.first())
        .map(|(_, content)| content.clone()))
}

pub fn find(conn: &mut DbConn, tenant: &TenantId, id: &str) -> StoreResult<CannedResponse> {
    Ok(crate::db_run!(conn, |c| canned_responses::table
        .filter(canned_responses::tenant_id.eq(tenant))
        .filter(canned_responses::id.eq(id))
        .select(CannedResponse::as_select())
        .first(c))?)
}

pub fn update(
    conn: &mut DbConn,
    tenant: &TenantId,
    id: &str,
    changes: &CannedChanges,
) -> StoreResult<CannedResponse> {
    let updated = crate::db_run!(conn, |c| diesel::update(
        canned_responses::table
            .filter(canned_responses::tenant_id.eq(tenant))
            .filter(canned_responses::id.eq(id))
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
        canned_responses::table
            .filter(canned_responses::tenant_id.eq(tenant))
            .filter(canned_responses::id.eq(id))
    )
    .execute(c))?;
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
