//! Channel integrations (Evolution API, generic webhook, web chat). The inbound secret and
//! the outbound API key are stored sealed (src/secrets.rs); `config` is a JSON object.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::schema::{departments, integrations};
use super::{json_column, DbConn, StoreError, StoreResult};
use crate::domain::{AgentId, DepartmentId, IntegrationId, TenantId};
use crate::secrets::{SealContext, SealedField, SecretBox};

/// Which channel an integration speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IntegrationKind {
    /// WhatsApp through Evolution API v2.
    Evolution,
    /// Any webhook-driven channel, HMAC-signed both ways.
    Generic,
    /// The web chat widget.
    Webchat,
}

impl IntegrationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::Evolution => "evolution",
            IntegrationKind::Generic => "generic",
            IntegrationKind::Webchat => "webchat",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "evolution" => Some(IntegrationKind::Evolution),
            "generic" => Some(IntegrationKind::Generic),
            "webchat" => Some(IntegrationKind::Webchat),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = integrations)]
pub struct Integration {
    pub id: IntegrationId,
    pub tenant_id: TenantId,
    /// [`IntegrationKind`] spelling.
    pub kind: String,
    pub name: String,
    /// Sealed by [`SecretBox`]: the HMAC key of signed webhooks.
    pub secret: Option<String>,
    pub base_url: Option<String>,
    /// Sealed by [`SecretBox`]: the key the channel's API wants (Evolution's `apikey`).
    pub api_key: Option<String>,
    /// Evolution instance name.
    pub instance: Option<String>,
    pub outbound_url: Option<String>,
    pub default_agent_id: Option<AgentId>,
    pub default_department_id: Option<DepartmentId>,
    pub enabled: bool,
    /// JSON object.
    pub config: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// New conversations start in this funnel: in `default_stage_id`, else its first stage.
    pub default_funnel_id: Option<String>,
    /// One of `default_funnel_id`'s stages.
    pub default_stage_id: Option<String>,
}

fn open_column(
    secrets: &SecretBox,
    context: SealContext<'_>,
    sealed: Option<&str>,
) -> StoreResult<Option<SecretString>> {
    sealed
        .map(|s| {
            secrets.open_secret(context, s).map_err(|e| {
                StoreError::Corrupt(format!(
                    "{}.{}: {e}",
                    context.field.table(),
                    context.field.column()
                ))
            })
        })
        .transpose()
}

impl Integration {
    /// An enabled integration with only its kind and name: no secret, URLs or defaults.
    pub fn bare(tenant: &TenantId, kind: IntegrationKind, name: &str) -> Integration {
        let now = super::now();
        Integration {
            id: IntegrationId::new(),
            tenant_id: tenant.clone(),
            kind: kind.as_str().into(),
            name: name.into(),
            secret: None,
            base_url: None,
            api_key: None,
            instance: None,
            outbound_url: None,
            default_agent_id: None,
            default_department_id: None,
            enabled: true,
            config: "{}".into(),
            created_at: now,
            updated_at: now,
            default_funnel_id: None,
            default_stage_id: None,
        }
    }

    pub fn kind(&self) -> StoreResult<IntegrationKind> {
        IntegrationKind::parse(&self.kind).ok_or_else(|| {
            StoreError::Corrupt(format!("integrations.kind: unknown `{}`", self.kind))
        })
    }

    pub fn config(&self) -> StoreResult<serde_json::Map<String, serde_json::Value>> {
        json_column(&self.config, "integrations.config")
    }

    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }

    pub fn has_api_key(&self) -> bool {
        self.api_key.is_some()
    }

    /// The webhook secret in clear, for signature checks only.
    pub fn secret(&self, secrets: &SecretBox) -> StoreResult<Option<SecretString>> {
        open_column(
            secrets,
            SealContext::new(&self.tenant_id, SealedField::IntegrationSecret),
            self.secret.as_deref(),
        )
    }

    /// The channel API key in clear, for the outbound sender only.
    pub fn api_key(&self, secrets: &SecretBox) -> StoreResult<Option<SecretString>> {
        open_column(
            secrets,
            SealContext::new(&self.tenant_id, SealedField::IntegrationApiKey),
            self.api_key.as_deref(),
        )
    }
}

/// Fields a PATCH may change; `None` leaves a column as it is, `Some(None)` clears a
/// nullable one.
#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = integrations)]
pub struct IntegrationChanges {
    pub name: Option<String>,
    pub secret: Option<Option<String>>,
    pub base_url: Option<Option<String>>,
    pub api_key: Option<Option<String>>,
    pub instance: Option<Option<String>>,
    pub outbound_url: Option<Option<String>>,
    pub default_agent_id: Option<Option<AgentId>>,
    pub default_department_id: Option<Option<DepartmentId>>,
    pub enabled: Option<bool>,
    pub config: Option<String>,
    pub updated_at: Option<NaiveDateTime>,
    pub default_funnel_id: Option<Option<String>>,
    pub default_stage_id: Option<Option<String>>,
}

pub fn insert(conn: &mut DbConn, integration: &Integration) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(integrations::table)
        .values(integration)
        .execute(c))?;
    Ok(())
}

pub fn find(conn: &mut DbConn, tenant: &TenantId, id: &IntegrationId) -> StoreResult<Integration> {
    Ok(crate::db_run!(conn, |c| integrations::table
        .filter(integrations::tenant_id.eq(tenant))
        .filter(integrations::id.eq(id))
        .select(Integration::as_select())
        .first(c))?)
}

/// Channel-side lookup: inbound webhooks name the integration in their path and carry no
/// tenant; the integration's own tenant then scopes everything that follows.
pub fn find_by_id(conn: &mut DbConn, id: &IntegrationId) -> StoreResult<Integration> {
    Ok(crate::db_run!(conn, |c| integrations::table
        .filter(integrations::id.eq(id))
        .select(Integration::as_select())
        .first(c))?)
}

pub fn list(
    conn: &mut DbConn,
    tenant: &TenantId,
    limit: i64,
    after: Option<&IntegrationId>,
) -> StoreResult<Vec<Integration>> {
    Ok(crate::db_run!(conn, |c| {
        let mut query = integrations::table
            .filter(integrations::tenant_id.eq(tenant))
            .select(Integration::as_select())
            .order(integrations::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(integrations::id.gt(after));
        }
        query.load(c)
    })?)
}

pub fn update(
    conn: &mut DbConn,
    tenant: &TenantId,
    id: &IntegrationId,
    changes: &IntegrationChanges,
) -> StoreResult<Integration> {
    let updated = crate::db_run!(conn, |c| diesel::update(
        integrations::table
            .filter(integrations::tenant_id.eq(tenant))
            .filter(integrations::id.eq(id))
    )
    .set(changes)
    .execute(c))?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    find(conn, tenant, id)
}

pub fn delete(conn: &mut DbConn, tenant: &TenantId, id: &IntegrationId) -> StoreResult<()> {
    let deleted = crate::db_run!(conn, |c| diesel::delete(
        integrations::table
            .filter(integrations::tenant_id.eq(tenant))
            .filter(integrations::id.eq(id))
    )
    .execute(c))?;
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Unsets a deleted agent as the default of the tenant's integrations, so new
/// conversations go to the distributor rather than to an agent that no longer exists.
pub fn clear_default_agent(
    conn: &mut DbConn,
    tenant: &TenantId,
    agent: &AgentId,
) -> StoreResult<usize> {
    Ok(crate::db_run!(conn, |c| diesel::update(
        integrations::table
            .filter(integrations::tenant_id.eq(tenant))
            .filter(integrations::default_agent_id.eq(agent))
    )
    .set(integrations::default_agent_id.eq(None::<AgentId>))
    .execute(c))?)
}

/// Whether `id` is a department of `tenant` (a default department must not point across
/// tenants).
pub fn department_exists(
    conn: &mut DbConn,
    tenant: &TenantId,
    id: &DepartmentId,
) -> StoreResult<bool> {
    let count: i64 = crate::db_run!(conn, |c| departments::table
        .filter(departments::tenant_id.eq(tenant))
        .filter(departments::id.eq(id))
        .count()
        .get_result(c))?;
    Ok(count > 0)
}

/// The enabled web chat integration a published agent answers on (its public chat page opens
/// sessions there); the oldest when there are several.
pub fn webchat_for_agent(
    conn: &mut DbConn,
    tenant: &TenantId,
    agent: &AgentId,
) -> StoreResult<Option<Integration>> {
    Ok(crate::db_run!(conn, |c| integrations::table
        .filter(integrations::tenant_id.eq(tenant))
        .filter(integrations::kind.eq(IntegrationKind::Webchat.as_str()))
        .filter(integrations::enabled.eq(true))
        .filter(integrations::default_agent_id.eq(agent))
        .select(Integration::as_select())
        .order(integrations::created_at.asc())
        .first(c)
        .optional())?)
}

/// The funnel and stage new conversations of `ids` start in, for the integrations that name
/// a default funnel: their `default_stage_id`, else the funnel's first stage (none when the
/// funnel has no stages).
pub fn starting_stages(
    conn: &mut DbConn,
    ids: &[IntegrationId],
) -> StoreResult<std::collections::HashMap<IntegrationId, (String, Option<String>)>> {
    use super::schema::stages;
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(IntegrationId, TenantId, Option<String>, Option<String>)> =
        crate::db_run!(conn, |c| integrations::table
            .filter(integrations::id.eq_any(ids))
            .filter(integrations::default_funnel_id.is_not_null())
            .select((
                integrations::id,
                integrations::tenant_id,
                integrations::default_funnel_id,
                integrations::default_stage_id,
            ))
            .load(c))?;
    let mut out = std::collections::HashMap::new();
    for (id, tenant, funnel, stage) in rows {
        let Some(funnel) = funnel else { continue };
        let stage = match stage {
            Some(stage) => Some(stage),
            None => crate::db_run!(conn, |c| stages::table
                .filter(stages::tenant_id.eq(&tenant))
                .filter(stages::funnel_id.eq(&funnel))
                .order((stages::position.asc(), stages::id.asc()))
                .select(stages::id)
                .first::<String>(c)
                .optional())?,
        };
        out.insert(id, (funnel, stage));
    }
    Ok(out)
}

/// Puts new conversations in their integration's default funnel and stage.
pub fn start_in_default_stages(
    conn: &mut DbConn,
    conversations: &mut [super::conversations::Conversation],
) -> StoreResult<()> {
    let mut ids: Vec<IntegrationId> = conversations
        .iter()
        .filter_map(|c| c.integration_id.clone())
        .collect();
    ids.sort_by(|a, b| a.0.cmp(&b.0));
    ids.dedup();
    let starts = starting_stages(conn, &ids)?;
    for conversation in conversations {
        let start = conversation
            .integration_id
            .as_ref()
            .and_then(|id| starts.get(id));
        if let Some((funnel, stage)) = start {
            conversation.funnel_id = Some(funnel.clone());
            conversation.stage_id = stage.clone();
        }
    }
    Ok(())
}

/// Takes a deleted funnel (and its stages) out of the integrations that start there.
pub fn forget_funnel(conn: &mut DbConn, tenant: &TenantId, funnel: &str) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::update(
        integrations::table
            .filter(integrations::tenant_id.eq(tenant))
            .filter(integrations::default_funnel_id.eq(funnel))
    )
    .set((
        integrations::default_funnel_id.eq(None::<String>),
        integrations::default_stage_id.eq(None::<String>),
    ))
    .execute(c))?;
    Ok(())
}

/// Takes a deleted stage out of the integrations that start there; they keep the funnel
/// (and so start in its first stage).
pub fn forget_stage(conn: &mut DbConn, tenant: &TenantId, stage: &str) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::update(
        integrations::table
            .filter(integrations::tenant_id.eq(tenant))
            .filter(integrations::default_stage_id.eq(stage))
    )
    .set(integrations::default_stage_id.eq(None::<String>))
    .execute(c))?;
    Ok(())
}
