//! Departments (sectors): named groups of human agents that distribution and integrations
//! route by. Every query is scoped by tenant.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::executor::transaction;
use super::schema::{ai_agents, conversations, departments, integrations};
use super::{DbConn, StoreError, StoreResult};
use crate::domain::classification::Category;
use crate::domain::conversation::Status;
use crate::domain::department::Queue;
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
    /// Conversations the department handles at once; 0 = no cap.
    pub max_conversations: i32,
    /// First-response target; 0 = the tenant's `first_response_minutes`.
    pub first_response_seconds: i32,
    /// Classification categories routed here (JSON list of `Category` names).
    pub categories: String,
}

impl Department {
    /// The department as routing sees it; unreadable categories route nothing.
    pub fn queue(&self) -> Queue {
        let names: Vec<String> = serde_json::from_str(&self.categories).unwrap_or_default();
        Queue {
            id: self.id.0.clone(),
            categories: names.iter().filter_map(|n| Category::parse(n)).collect(),
            max_conversations: u32::try_from(self.max_conversations).unwrap_or(0),
            first_response_seconds: u32::try_from(self.first_response_seconds).unwrap_or(0),
        }
    }
}

#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = departments)]
pub struct DepartmentChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub updated_at: Option<NaiveDateTime>,
    pub max_conversations: Option<i32>,
    pub first_response_seconds: Option<i32>,
    pub categories: Option<String>,
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

/// Every department of a tenant as routing sees it (a tenant has a handful).
pub fn queues(conn: &mut DbConn, tenant: &TenantId) -> StoreResult<Vec<Queue>> {
    let rows: Vec<Department> = crate::db_run!(conn, |c| departments::table
        .filter(departments::tenant_id.eq(tenant))
        .select(Department::as_select())
        .order(departments::id.asc())
        .load(c))?;
    Ok(rows.iter().map(Department::queue).collect())
}

/// Open conversations (owned by a human or an AI agent) in a department: what its
/// `max_conversations` caps.
pub fn open_conversations(
    conn: &mut DbConn,
    tenant: &TenantId,
    department: &str,
) -> StoreResult<u64> {
    let count: i64 = crate::db_run!(conn, |c| conversations::table
        .filter(conversations::tenant_id.eq(tenant))
        .filter(conversations::department_id.eq(department))
        .filter(conversations::status.eq(Status::Open.as_str()))
        .count()
        .get_result(c))?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// The department of an AI agent (its attachment), if any.
pub fn of_agent(conn: &mut DbConn, agent: &str) -> StoreResult<Option<String>> {
    Ok(crate::db_run!(conn, |c| ai_agents::table
        .filter(ai_agents::id.eq(agent))
        .select(ai_agents::department_id)
        .first::<Option<String>>(c)
        .optional())?
    .flatten())
}

/// The first-response targets in seconds of the departments that set one, by id.
pub fn response_targets(conn: &mut DbConn) -> StoreResult<std::collections::HashMap<String, u32>> {
    let rows: Vec<(String, i32)> = crate::db_run!(conn, |c| departments::table
        .filter(departments::first_response_seconds.gt(0))
        .select((departments::id, departments::first_response_seconds))
        .load(c))?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, seconds)| u32::try_from(seconds).ok().map(|s| (id, s)))
        .collect())
}

/// Puts a conversation into a department's queue unless it is in one already (staff may
/// have set one meanwhile). Returns whether it changed.
pub fn place(
    conn: &mut DbConn,
    conversation: &crate::domain::ConversationId,
    department: &str,
) -> StoreResult<bool> {
    let changed = crate::db_run!(conn, |c| diesel::update(
        conversations::table
            .filter(conversations::id.eq(conversation))
            .filter(conversations::department_id.is_null())
    )
    .set(conversations::department_id.eq(department))
    .execute(c))?;
    Ok(changed > 0)
}
