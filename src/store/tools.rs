//! Tools the AI agents may call, and which agent has which (with per-agent config and an
//! enabled flag). `parameters` is the JSON Schema of the arguments; `config` is JSON whose
//! secret values are sealed (src/tools/config.rs decides which).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::executor::transaction;
use super::schema::{agent_tools, tools};
use super::{DbConn, StoreError, StoreResult};
use crate::domain::{AgentId, TenantId, ToolId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tools)]
pub struct Tool {
    pub id: ToolId,
    pub tenant_id: TenantId,
    /// The function name the model calls; unique per tenant.
    pub name: String,
    pub description: String,
    /// http | webhook | calculator | lead_capture | form | search | system
    pub tool_type: String,
    /// JSON Schema of the arguments.
    pub parameters: String,
    /// JSON; shape depends on `tool_type`.
    pub config: String,
    pub timeout_ms: i32,
    pub enabled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = tools)]
pub struct ToolChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub parameters: Option<String>,
    pub config: Option<String>,
    pub timeout_ms: Option<i32>,
    pub enabled: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = agent_tools)]
pub struct AgentTool {
    pub agent_id: AgentId,
    pub tool_id: ToolId,
    pub tenant_id: TenantId,
    /// JSON object merged over the tool's config for this agent.
    pub config: String,
    pub enabled: bool,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, tool: &Tool) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(tools::table)
        .values(tool)
        .execute(c))?;
    Ok(())
}

pub fn find(conn: &mut DbConn, tenant: &TenantId, id: &ToolId) -> StoreResult<Tool> {
    Ok(crate::db_run!(conn, |c| tools::table
        .filter(tools::tenant_id.eq(tenant))
        .filter(tools::id.eq(id))
        .select(Tool::as_select())
        .first(c))?)
}

/// A page of the tenant's tools in id (creation) order.
pub fn list(
    conn: &mut DbConn,
    tenant: &TenantId,
    limit: i64,
    after: Option<&ToolId>,
) -> StoreResult<Vec<Tool>> {
    Ok(crate::db_run!(conn, |c| {
        let mut query = tools::table
            .filter(tools::tenant_id.eq(tenant))
            .select(Tool::as_select())
            .order(tools::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(tools::id.gt(after));
        }
        query.load(c)
    })?)
}

pub fn update(
    conn: &mut DbConn,
    tenant: &TenantId,
    id: &ToolId,
    changes: &ToolChanges,
) -> StoreResult<Tool> {
    let updated = crate::db_run!(conn, |c| diesel::update(
        tools::table
            .filter(tools::tenant_id.eq(tenant))
            .filter(tools::id.eq(id))
    )
    .set(changes)
    .execute(c))?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    find(conn, tenant, id)
}

/// Deletes the tool and detaches it from every agent.
pub fn delete(conn: &mut DbConn, tenant: &TenantId, id: &ToolId) -> StoreResult<()> {
    transaction(conn, |conn| {
        crate::db_run!(conn, |c| diesel::delete(
            agent_tools::table
                .filter(agent_tools::tenant_id.eq(tenant))
                .filter(agent_tools::tool_id.eq(id))
        )
        .execute(c))?;
        let deleted = crate::db_run!(conn, |c| diesel::delete(
            tools::table
                .filter(tools::tenant_id.eq(tenant))
                .filter(tools::id.eq(id))
        )
        .execute(c))?;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    })
}

/// Attaches a tool to an agent, or replaces the config and flag of an existing attachment.
pub fn attach(conn: &mut DbConn, row: &AgentTool) -> StoreResult<AgentTool> {
    transaction(conn, |conn| {
        let updated = crate::db_run!(conn, |c| diesel::update(
            agent_tools::table
                .filter(agent_tools::agent_id.eq(&row.agent_id))
                .filter(agent_tools::tool_id.eq(&row.tool_id))
        )
        .set((
            agent_tools::config.eq(&row.config),
            agent_tools::enabled.eq(row.enabled),
        ))
        .execute(c))?;
        if updated == 0 {
            crate::db_run!(conn, |c| diesel::insert_into(agent_tools::table)
                .values(row)
                .execute(c))?;
        }
        Ok(crate::db_run!(conn, |c| agent_tools::table
            .filter(agent_tools::agent_id.eq(&row.agent_id))
            .filter(agent_tools::tool_id.eq(&row.tool_id))
            .select(AgentTool::as_select())
            .first(c))?)
    })
}

pub fn detach(
    conn: &mut DbConn,
    tenant: &TenantId,
    agent: &AgentId,
    tool: &ToolId,
) -> StoreResult<()> {
    let deleted = crate::db_run!(conn, |c| diesel::delete(
        agent_tools::table
            .filter(agent_tools::tenant_id.eq(tenant))
            .filter(agent_tools::agent_id.eq(agent))
            .filter(agent_tools::tool_id.eq(tool))
    )
    .execute(c))?;
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Every tool attached to the agent, with its attachment, in attachment order. The engine
/// filters on both enabled flags; the API shows them all.
/// The agents a tool is attached to (their supervisors re-read their tools when it changes).
pub fn attached_agents(
    conn: &mut DbConn,
    tenant: &TenantId,
    tool: &ToolId,
) -> StoreResult<Vec<AgentId>> {
    Ok(crate::db_run!(conn, |c| agent_tools::table
        .filter(agent_tools::tenant_id.eq(tenant))
        .filter(agent_tools::tool_id.eq(tool))
        .select(agent_tools::agent_id)
        .load::<AgentId>(c))?)
}

pub fn for_agent(
    conn: &mut DbConn,
    tenant: &TenantId,
    agent: &AgentId,
) -> StoreResult<Vec<(AgentTool, Tool)>> {
    Ok(crate::db_run!(conn, |c| agent_tools::table
        .inner_join(tools::table.on(tools::id.eq(agent_tools::tool_id)))
        .filter(agent_tools::tenant_id.eq(tenant))
        .filter(agent_tools::agent_id.eq(agent))
        .filter(tools::tenant_id.eq(tenant))
        .order((agent_tools::created_at.asc(), tools::id.asc()))
        .select((AgentTool::as_select(), Tool::as_select()))
        .load(c))?)
}
