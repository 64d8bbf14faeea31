//! AI agents. Admin queries are scoped by tenant; the engine also reads agents by id alone
//! (`find_by_id`, `list_active`) because it serves every tenant. The provider API key is
//! stored sealed (src/secrets.rs); settings, limits and specialties are JSON text.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use secrecy::SecretString;

use super::schema::ai_agents;
use super::{json_column, DbConn, StoreError, StoreResult};
use crate::domain::agent::{AgentLimits, AgentSettings, AgentStatus, AgentType, ProviderKind};
use crate::domain::{AgentId, DepartmentId, TenantId};
use crate::secrets::{SealContext, SealedField, SecretBox};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ai_agents)]
pub struct AiAgent {
    pub id: AgentId,
    pub tenant_id: TenantId,
    pub name: String,
    pub description: String,
    /// [`AgentType`] spelling.
    pub agent_type: String,
    pub emoji: String,
    pub system_prompt: String,
    pub model: String,
    pub temperature: f64,
    pub max_tokens: i32,
    pub enabled: bool,
    /// [`AgentStatus`] spelling.
    pub status: String,
    pub max_conversations: i32,
    /// JSON array of strings.
    pub specialties: String,
    /// [`ProviderKind`] spelling.
    pub provider_kind: String,
    pub provider_base_url: Option<String>,
    /// Sealed by [`SecretBox`]; never the plaintext.
    pub provider_api_key: Option<String>,
    /// JSON [`AgentSettings`].
    pub settings: String,
    /// JSON [`AgentLimits`].
    pub limits: String,
    pub department_id: Option<DepartmentId>,
    pub slug: Option<String>,
    /// JSON object of the set-up wizard's answers.
    pub wizard: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl AiAgent {
    pub fn settings(&self) -> StoreResult<AgentSettings> {
        json_column(&self.settings, "ai_agents.settings")
    }

    pub fn limits(&self) -> StoreResult<AgentLimits> {
        json_column(&self.limits, "ai_agents.limits")
    }

    pub fn specialties(&self) -> StoreResult<Vec<String>> {
        json_column(&self.specialties, "ai_agents.specialties")
    }

    pub fn provider_kind(&self) -> StoreResult<ProviderKind> {
        ProviderKind::parse(&self.provider_kind).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "ai_agents.provider_kind: unknown `{}`",
                self.provider_kind
            ))
        })
    }

    pub fn agent_type(&self) -> StoreResult<AgentType> {
        AgentType::parse(&self.agent_type).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "ai_agents.agent_type: unknown `{}`",
                self.agent_type
            ))
        })
    }

    pub fn status(&self) -> StoreResult<AgentStatus> {
        AgentStatus::parse(&self.status).ok_or_else(|| {
            StoreError::Corrupt(format!("ai_agents.status: unknown `{}`", self.status))
        })
    }

    /// Whether the engine should give this agent conversations.
    pub fn is_live(&self) -> bool {
        self.enabled && self.status == AgentStatus::Active.as_str()
    }

    pub fn has_api_key(&self) -> bool {
        self.provider_api_key.is_some()
    }

    /// The agent's own provider API key in clear, for the LLM client only. A value that does
    /// not open (the encryption key changed) is corruption, not "no key": silently falling
    /// back to the default key would bill another account.
    pub fn api_key(&self, secrets: &SecretBox) -> StoreResult<Option<SecretString>> {
        self.provider_api_key
            .as_deref()
            .map(|sealed| {
                secrets
                    .open_secret(
                        SealContext::new(&self.tenant_id, SealedField::AgentApiKey),
                        sealed,
                    )
                    .map_err(|e| StoreError::Corrupt(format!("ai_agents.provider_api_key: {e}")))
            })
            .transpose()
    }
}

/// Fields a PATCH may change; `None` leaves a column as it is, `Some(None)` clears a
/// nullable one.
#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = ai_agents)]
pub struct AgentChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub agent_type: Option<String>,
    pub emoji: Option<String>,
    pub system_prompt: Option<String>,
    pub model: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<i32>,
    pub enabled: Option<bool>,
    pub status: Option<String>,
    pub max_conversations: Option<i32>,
    pub specialties: Option<String>,
    pub provider_kind: Option<String>,
    pub provider_base_url: Option<Option<String>>,
    pub provider_api_key: Option<Option<String>>,
    pub settings: Option<String>,
    pub limits: Option<String>,
    pub department_id: Option<Option<DepartmentId>>,
    pub slug: Option<Option<String>>,
    pub wizard: Option<String>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConn, agent: &AiAgent) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(ai_agents::table)
        .values(agent)
        .execute(c))?;
    Ok(())
}

pub fn find(conn: &mut DbConn, tenant: &TenantId, id: &AgentId) -> StoreResult<AiAgent> {
    Ok(crate::db_run!(conn, |c| ai_agents::table
        .filter(ai_agents::tenant_id.eq(tenant))
        .filter(ai_agents::id.eq(id))
        .select(AiAgent::as_select())
        .first(c))?)
}

/// Engine-side lookup: the id alone, whatever the tenant. Never call it with an id taken
/// from a request without checking the tenant afterwards.
pub fn find_by_id(conn: &mut DbConn, id: &AgentId) -> StoreResult<AiAgent> {
    Ok(crate::db_run!(conn, |c| ai_agents::table
        .filter(ai_agents::id.eq(id))
        .select(AiAgent::as_select())
        .first(c))?)
}

pub fn exists(conn: &mut DbConn, tenant: &TenantId, id: &AgentId) -> StoreResult<bool> {
    let count: i64 = crate::db_run!(conn, |c| ai_agents::table
        .filter(ai_agents::tenant_id.eq(tenant))
        .filter(ai_agents::id.eq(id))
        .count()
        .get_result(c))?;
    Ok(count > 0)
}

pub fn list(
    conn: &mut DbConn,
    tenant: &TenantId,
    limit: i64,
    after: Option<&AgentId>,
) -> StoreResult<Vec<AiAgent>> {
    Ok(crate::db_run!(conn, |c| {
        let mut query = ai_agents::table
            .filter(ai_agents::tenant_id.eq(tenant))
            .select(AiAgent::as_select())
            .order(ai_agents::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(ai_agents::id.gt(after));
        }
        query.load(c)
    })?)
}

/// Enabled agents with status `active`, of every tenant: the supervisors the engine starts.
/// Every agent id of a tenant.
pub fn ids_of_tenant(conn: &mut DbConn, tenant: &TenantId) -> StoreResult<Vec<AgentId>> {
    Ok(crate::db_run!(conn, |c| ai_agents::table
        .filter(ai_agents::tenant_id.eq(tenant))
        .select(ai_agents::id)
        .load::<AgentId>(c))?)
}

pub fn list_active(conn: &mut DbConn) -> StoreResult<Vec<AiAgent>> {
    Ok(crate::db_run!(conn, |c| ai_agents::table
        .filter(ai_agents::enabled.eq(true))
        .filter(ai_agents::status.eq(AgentStatus::Active.as_str()))
        .select(AiAgent::as_select())
        .order(ai_agents::id.asc())
        .load(c))?)
}

pub fn update(
    conn: &mut DbConn,
    tenant: &TenantId,
    id: &AgentId,
    changes: &AgentChanges,
) -> StoreResult<AiAgent> {
    let updated = crate::db_run!(conn, |c| diesel::update(
        ai_agents::table
            .filter(ai_agents::tenant_id.eq(tenant))
            .filter(ai_agents::id.eq(id))
    )
    .set(changes)
    .execute(c))?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    find(conn, tenant, id)
}

/// Like [`update`], but only while the row is still as the caller read it (same
/// `updated_at`): a read-modify-write such as merging settings then loses no concurrent
/// change. `Ok(None)` means the row changed or vanished meanwhile; read it again.
pub fn update_if_unchanged(
    conn: &mut DbConn,
    tenant: &TenantId,
    id: &AgentId,
    seen_updated_at: NaiveDateTime,
    changes: &AgentChanges,
) -> StoreResult<Option<AiAgent>> {
    let updated = crate::db_run!(conn, |c| diesel::update(
        ai_agents::table
            .filter(ai_agents::tenant_id.eq(tenant))
            .filter(ai_agents::id.eq(id))
            .filter(ai_agents::updated_at.eq(seen_updated_at))
    )
    .set(changes)
    .execute(c))?;
    if updated == 0 {
        return Ok(None);
    }
    find(conn, tenant, id).map(Some)
}

pub fn delete(conn: &mut DbConn, tenant: &TenantId, id: &AgentId) -> StoreResult<()> {
    let deleted = crate::db_run!(conn, |c| diesel::delete(
        ai_agents::table
            .filter(ai_agents::tenant_id.eq(tenant))
            .filter(ai_agents::id.eq(id))
    )
    .execute(c))?;
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
