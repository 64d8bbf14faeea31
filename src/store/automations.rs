//! Automations: intents checked before the LLM and the actions they run (seed 004). An
//! automation with no agent applies to every AI agent of the tenant.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::automations;
use super::{json_column, DbConn, StoreError, StoreResult};
use crate::domain::automation::{Action, Intent};
use crate::domain::{AgentId, TenantId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = automations)]
pub struct Automation {
    /// A UUIDv7, like every id.
    pub id: String,
    pub tenant_id: TenantId,
    pub agent_id: Option<AgentId>,
    pub name: String,
    /// JSON array of [`Intent`].
    pub intents: String,
    /// JSON array of [`Action`].
    pub actions: String,
    /// Higher runs first when several match.
    pub priority: i32,
    pub enabled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Automation {
    pub fn intents(&self) -> StoreResult<Vec<Intent>> {
        json_column(&self.intents, "automations.intents")
    }

    pub fn actions(&self) -> StoreResult<Vec<Action>> {
        json_column(&self.actions, "automations.actions")
    }
}

#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = automations)]
pub struct AutomationChanges {
    pub agent_id: Option<Option<AgentId>>,
    pub name: Option<String>,
    pub intents: Option<String>,
    pub actions: Option<String>,
    pub priority: Option<i32>,
    pub enabled: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConn, row: &Automation) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(automations::table)
        .values(row)
        .execute(c))?;
    Ok(())
}

pub fn find(conn: &mut DbConn, tenant: &TenantId, id: &str) -> StoreResult<Automation> {
    Ok(crate::db_run!(conn, |c| automations::table
        .filter(automations::tenant_id.eq(tenant))
        .filter(automations::id.eq(id))
        .select(Automation::as_select())
        .first(c))?)
}

pub fn list(
    conn: &mut DbConn,
    tenant: &TenantId,
    limit: i64,
    after: Option<&str>,
) -> StoreResult<Vec<Automation>> {
    Ok(crate::db_run!(conn, |c| {
        let mut query = automations::table
            .filter(automations::tenant_id.eq(tenant))
            .select(Automation::as_select())
            .order(automations::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(automations::id.gt(after));
        }
        query.load(c)
    })?)
}

/// The enabled automations that apply to `agent`, oldest first.
pub fn enabled_for(
    conn: &mut DbConn,
    tenant: &TenantId,
    agent: &AgentId,
) -> StoreResult<Vec<Automation>> {
    Ok(crate::db_run!(conn, |c| automations::table
        .filter(automations::tenant_id.eq(tenant))
        .filter(automations::enabled.eq(true))
        .filter(
            automations::agent_id
                .is_null()
                .or(automations::agent_id.eq(agent))
        )
        .order(automations::id.asc())
        .select(Automation::as_select())
        .load(c))?)
}

pub fn update(
    conn: &mut DbConn,
    tenant: &TenantId,
    id: &str,
    changes: &AutomationChanges,
) -> StoreResult<Automation> {
    let updated = crate::db_run!(conn, |c| diesel::update(
        automations::table
            .filter(automations::tenant_id.eq(tenant))
            .filter(automations::id.eq(id))
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
        automations::table
            .filter(automations::tenant_id.eq(tenant))
            .filter(automations::id.eq(id))
    )
    .execute(c))?;
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
