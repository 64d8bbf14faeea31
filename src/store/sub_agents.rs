//! Sub-agents: specialisations of an AI agent chosen per turn by topic (seed 003).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::sub_agents;
use super::{json_column, DbConn, StoreError, StoreResult};
use crate::domain::{AgentId, SubAgentId, TenantId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sub_agents)]
pub struct SubAgent {
    pub id: SubAgentId,
    pub tenant_id: TenantId,
    pub agent_id: AgentId,
    pub name: String,
    /// JSON array of strings.
    pub topics: String,
    pub system_prompt: String,
    /// Overrides the agent's model; `None` uses it.
    pub model: Option<String>,
    pub is_active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl SubAgent {
    pub fn topics(&self) -> StoreResult<Vec<String>> {
        json_column(&self.topics, "sub_agents.topics")
    }
}

#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = sub_agents)]
pub struct SubAgentChanges {
    pub name: Option<String>,
    pub topics: Option<String>,
    pub system_prompt: Option<String>,
    pub model: Option<Option<String>>,
    pub is_active: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConn, row: &SubAgent) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(sub_agents::table)
        .values(row)
        .execute(c))?;
    Ok(())
}

pub fn find(
    conn: &mut DbConn,
    tenant: &TenantId,
    agent: &AgentId,
    id: &SubAgentId,
) -> StoreResult<SubAgent> {
    Ok(crate::db_run!(conn, |c| sub_agents::table
        .filter(sub_agents::tenant_id.eq(tenant))
        .filter(sub_agents::agent_id.eq(agent))
        .filter(sub_agents::id.eq(id))
        .select(SubAgent::as_select())
        .first(c))?)
}

/// The agent's sub-agents, oldest first (routing breaks ties in this order).
pub fn list(conn: &mut DbConn, tenant: &TenantId, agent: &AgentId) -> StoreResult<Vec<SubAgent>> {
    Ok(crate::db_run!(conn, |c| sub_agents::table
        .filter(sub_agents::tenant_id.eq(tenant))
        .filter(sub_agents::agent_id.eq(agent))
        .order((sub_agents::created_at.asc(), sub_agents::id.asc()))
        .select(SubAgent::as_select())
        .load(c))?)
}

/// The active ones, for routing. Read on every turn, so a change applies at once.
pub fn active(conn: &mut DbConn, tenant: &TenantId, agent: &AgentId) -> StoreResult<Vec<SubAgent>> {
    Ok(list(conn, tenant, agent)?
        .into_iter()
        .filter(|s| s.is_active)
        .collect())
}

pub fn update(
    conn: &mut DbConn,
    tenant: &TenantId,
    agent: &AgentId,
    id: &SubAgentId,
    changes: &SubAgentChanges,
) -> StoreResult<SubAgent> {
    let updated = crate::db_run!(conn, |c| diesel::update(
        sub_agents::table
            .filter(sub_agents::tenant_id.eq(tenant))
            .filter(sub_agents::agent_id.eq(agent))
            .filter(sub_agents::id.eq(id))
    )
    .set(changes)
    .execute(c))?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    find(conn, tenant, agent, id)
}

pub fn delete(
    conn: &mut DbConn,
    tenant: &TenantId,
    agent: &AgentId,
    id: &SubAgentId,
) -> StoreResult<()> {
    let deleted = crate::db_run!(conn, |c| diesel::delete(
        sub_agents::table
            .filter(sub_agents::tenant_id.eq(tenant))
            .filter(sub_agents::agent_id.eq(agent))
            .filter(sub_agents::id.eq(id))
    )
    .execute(c))?;
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
