//! Departments (sectors): named groups of human agents that distribution and integrations
//! route by. Every query is scoped by tenant.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::executor::transaction;
use super::schema::{conversations, departments, integrations};
use super::{DbConn, StoreError, StoreResult};
use crate::domain::{DepartmentId, TenantId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = departments)]
pub struct Department {
    pub id: DepartmentId,
    pub tenant_id: TenantId,
    pub name: String,
    pub description: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = departments)]
pub struct DepartmentChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConn, department: &Department) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(departments::table)
        .values(department)
        .execute(c))?;
    Ok(())
}

pub fn find(conn: &mut DbConn, tenant: &TenantId, id: &DepartmentId) -> StoreResult<Department> {
    Ok(crate::db_run!(conn, |c| departments::table
        .filter(departments::tenant_id.eq(tenant))
        .filter(departments::id.eq(id))
        .select(Department::as_select())
        .first(c))?)
}

pub fn list(
    conn: &mut DbConn,
    tenant: &TenantId,
    limit: i64,
    after: Option<&DepartmentId>,
) -> StoreResult<Vec<Department>> {
    Ok(crate::db_run!(conn, |c| {
        let mut query = departments::table
            .filter(departments::tenant_id.eq(tenant))
            .select(Department::as_select())
            .order(departments::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(departments::id.gt(after));
        }
        query.load(c)
    })?)
}

pub fn update(
    conn: &mut DbConn,
    tenant: &TenantId,
    id: &DepartmentId,
    changes: &DepartmentChanges,
) -> StoreResult<Department> {
    let updated = crate::db_run!(conn, |c| diesel::update(
        departments::table
            .filter(departments::tenant_id.eq(tenant))
            .filter(departments::id.eq(id))
    )
    .set(changes)
    .execute(c))?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    find(conn, tenant, id)
}

/// Deletes the department and unsets it where it was a default (integrations) or a routing
/// field (conversations), so nothing routes to a department that no longer exists.
pub fn delete(conn: &mut DbConn, tenant: &TenantId, id: &DepartmentId) -> StoreResult<()> {
    transaction(conn, |conn| {
        let deleted = crate::db_run!(conn, |c| diesel::delete(
            departments::table
                .filter(departments::tenant_id.eq(tenant))
                .filter(departments::id.eq(id))
        )
        .execute(c))?;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        crate::db_run!(conn, |c| diesel::update(
            integrations::table
                .filter(integrations::tenant_id.eq(tenant))
                .filter(integrations::default_department_id.eq(id))
        )
        .set(integrations::default_department_id.eq(None::<DepartmentId>))
        .execute(c))?;
        crate::db_run!(conn, |c| diesel::update(
            conversations::table
                .filter(conversations::tenant_id.eq(tenant))
                .filter(conversations::department_id.eq(id.as_str()))
        )
        .set(conversations::department_id.eq(None::<String>))
        .execute(c))?;
        Ok(())
    })
}
