//! Tags: the tenant's labels for contacts and conversations, unique by name.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::tags;
use super::{DbConn, StoreError, StoreResult};
use crate::domain::TenantId;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tags)]
pub struct Tag {
    pub id: String,
    pub tenant_id: TenantId,
    pub name: String,
    pub color: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = tags)]
pub struct TagChanges {
    pub name: Option<String>,
    pub color: Option<String>,
}

pub fn insert(conn: &mut DbConn, tag: &Tag) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(tags::table)
        .values(tag)
        .execute(c))?;
    Ok(())
}

pub fn find(conn: &mut DbConn, tenant: &TenantId, id: &str) -> StoreResult<Tag> {
    Ok(crate::db_run!(conn, |c| tags::table
        .filter(tags::tenant_id.eq(tenant))
        .filter(tags::id.eq(id))
        .select(Tag::as_select())
        .first(c))?)
}

pub fn list(
    conn: &mut DbConn,
    tenant: &TenantId,
    limit: i64,
    after: Option<&str>,
) -> StoreResult<Vec<Tag>> {
    Ok(crate::db_run!(conn, |c| {
        let mut query = tags::table
            .filter(tags::tenant_id.eq(tenant))
            .select(Tag::as_select())
            .order(tags::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(tags::id.gt(after));
        }
        query.load(c)
    })?)
}

pub fn update(
    conn: &mut DbConn,
    tenant: &TenantId,
    id: &str,
    changes: &TagChanges,
) -> StoreResult<Tag> {
    let updated = crate::db_run!(conn, |c| diesel::update(
        tags::table
            .filter(tags::tenant_id.eq(tenant))
            .filter(tags::id.eq(id))
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
        tags::table
            .filter(tags::tenant_id.eq(tenant))
            .filter(tags::id.eq(id))
    )
    .execute(c))?;
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
