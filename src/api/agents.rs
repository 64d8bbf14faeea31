//! `/api/v1/agents`: AI agents. Follows users.rs. Admins write, admins and supervisors read.
//! The provider API key is write-only and stored sealed; views carry `has_api_key`. It
//! belongs to the host it was entered for: a PATCH moving `provider.base_url` to another
//! origin without a new key drops it. A PATCH of `settings` or `limits` changes only the
//! keys it names.

use actix_web::{web, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::integrations::{check_http_url, is_private_host};
use super::pagination::{Page, PageQuery};
use crate::auth::Staff;
use crate::config::Settings;
use crate::domain::agent::{
    self, nullable, AgentLimits, AgentLimitsPatch, AgentSettings, AgentSettingsPatch, AgentStatus,
    AgentType, InvalidField, ProviderKind,
};
use crate::domain::{validate, AgentId, DepartmentId, Role, TenantId};
use crate::engine::agent::AgentChanged;
use crate::engine::Engine;
use crate::outbound::origin;
use crate::secrets::{SealContext, SealedField, SecretBox};
use crate::store::agents::{self as agents_store, AgentChanges, AiAgent};
use crate::store::{self, integrations, Store};

/// Concurrent PATCHes of one agent are retried this often before answering 409.
const MERGE_ATTEMPTS: usize = 5;

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderView {
    pub kind: ProviderKind,
    pub base_url: Option<String>,
    /// Whether the agent has an API key of its own (the key itself is never returned).
    pub has_api_key: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub description: String,
    pub agent_type: AgentType,
    pub emoji: String,
    pub system_prompt: String,
    pub model: String,
    pub temperature: f64,
    pub max_tokens: i32,
    pub enabled: bool,
    pub status: AgentStatus,
    pub max_conversations: i32,
    pub specialties: Vec<String>,
    pub provider: ProviderView,
    pub settings: AgentSettings,
    pub limits: AgentLimits,
    /// Set by the set-up wizard.
    pub department_id: Option<String>,
    /// Public slug, set when the wizard publishes the agent.
    pub slug: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl AgentView {
    pub fn from_row(row: AiAgent) -> ApiResult<Self> {
        Ok(AgentView {
            agent_type: row.agent_type()?,
            status: row.status()?,
            specialties: row.specialties()?,
            settings: row.settings()?,
            limits: row.limits()?,
            provider: ProviderView {
                kind: row.provider_kind()?,
                has_api_key: row.has_api_key(),
                base_url: row.provider_base_url,
            },
            id: row.id.0,
            tenant_id: row.tenant_id.0,
            name: row.name,
            description: row.description,
            emoji: row.emoji,
            system_prompt: row.system_prompt,
            model: row.model,
            temperature: row.temperature,
            max_tokens: row.max_tokens,
            enabled: row.enabled,
            max_conversations: row.max_conversations,
            department_id: row.department_id.map(|d| d.0),
            slug: row.slug,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        })
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderInput {
    /// Default: `openai` when a key or base URL is given or a default key is configured,
    /// else `retrieval`.
    pub kind: Option<ProviderKind>,
    /// OpenAI-compatible endpoint; default the configured `llm.default_base_url`. An
    /// http(s) URL without credentials, query or fragment. The operator's default key is
    /// only ever sent to the default base URL.
    pub base_url: Option<String>,
    /// Write-only; stored encrypted.
    #[schema(value_type = Option<String>)]
    pub api_key: Option<SecretString>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub agent_type: AgentType,
    #[serde(default)]
    pub emoji: String,
    #[serde(default)]
    pub system_prompt: String,
    /// Default `gpt-4o-mini`.
    pub model: Option<String>,
    /// 0..=2, default 0.7.
    pub temperature: Option<f64>,
    /// Default 1024.
    pub max_tokens: Option<i32>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    #[serde(default)]
    pub status: AgentStatus,
    /// Live conversations at once; default 100.
    pub max_conversations: Option<i32>,
    #[serde(default)]
    pub specialties: Vec<String>,
    #[serde(default)]
    pub provider: ProviderInput,
    #[serde(default)]
    pub settings: AgentSettings,
    #[serde(default)]
    pub limits: AgentLimits,
}

fn enabled_by_default() -> bool {
    true
}

/// Keys absent stay as they are; `null` clears an optional one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderPatch {
    pub kind: Option<ProviderKind>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub base_url: Option<Option<String>>,
    /// Write-only; `null` removes the agent's own key. Moving `base_url` to another origin
    /// without a new key removes it too.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub api_key: Option<Option<SecretString>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgent {
    pub name: Option<String>,
    pub description: Option<String>,
    pub agent_type: Option<AgentType>,
    pub emoji: Option<String>,
    pub system_prompt: Option<String>,
    pub model: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<i32>,
    pub enabled: Option<bool>,
    pub status: Option<AgentStatus>,
    pub max_conversations: Option<i32>,
    pub specialties: Option<Vec<String>>,
    pub provider: Option<ProviderPatch>,
    /// Merged into the current settings: only the keys given change.
    pub settings: Option<AgentSettingsPatch>,
    /// Merged into the current limits: only the keys given change; `null` is unlimited.
    pub limits: Option<AgentLimitsPatch>,
    /// The department the agent is attached to: it is offered that department's
    /// conversations (and only those carry a department it may take); `null` detaches.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub department_id: Option<Option<String>>,
}

fn check(field: &str, reason: Option<&'static str>) -> ApiResult<()> {
    match reason {
        Some(reason) => Err(ApiError::field(field, reason)),
        None => Ok(()),
    }
}

fn nested(object: &str) -> impl Fn(InvalidField) -> ApiError + '_ {
    move |e| ApiError::field(&format!("{object}.{}", e.path()), e.reason)
}

fn parse_name(raw: &str) -> ApiResult<String> {
    check("name", validate::check_name(raw))?;
    Ok(raw.trim().to_string())
}

fn parse_model(raw: &str) -> ApiResult<String> {
    check("model", agent::check_model(raw))?;
    Ok(raw.trim().to_string())
}

fn parse_specialties(raw: &[String]) -> ApiResult<String> {
    let list = agent::normalize_specialties(raw)
        .map_err(|reason| ApiError::field("specialties", reason))?;
    Ok(serde_json::Value::from(list).to_string())
}

/// A tenant's LLM endpoint is an outside URL like any other: http(s), no credentials, query
/// or fragment (paths are appended to it), and no private address unless the operator
/// allows private targets. The operator's own default base URL is always accepted.
fn parse_base_url(raw: &str, settings: &Settings) -> ApiResult<String> {
    let field = |reason: &str| ApiError::field("provider.base_url", reason);
    origin::check_base_url(raw).map_err(field)?;
    let (normalized, url) = check_http_url(raw).map_err(field)?;
    let operator_endpoint = origin::same_endpoint(&settings.llm.default_base_url, &normalized);
    if !settings.outbound.allow_private_targets && !operator_endpoint && is_private_host(&url) {
        return Err(field(
            "must not point at a private, loopback or link-local address",
        ));
    }
    Ok(normalized)
}

/// The stored key belongs to the endpoint it was entered for: a PATCH that moves the
/// effective base URL (an unset one is the default) to another origin without a new key
/// drops the stored one.
fn key_moves_away(current: &AiAgent, next_base_url: Option<&str>, settings: &Settings) -> bool {
    let default = settings.llm.default_base_url.as_str();
    let stored = current.provider_base_url.as_deref().unwrap_or(default);
    current.has_api_key() && origin::drops_secret(stored, next_base_url.unwrap_or(default), false)
}

fn check_api_key(key: &SecretString) -> ApiResult<()> {
    let raw = key.expose_secret();
    if raw.trim().is_empty() {
        return Err(ApiError::field("provider.api_key", "must not be empty"));
    }
    if raw.chars().any(char::is_control) || raw.len() > 4096 {
        return Err(ApiError::field(
            "provider.api_key",
            "must be a single line of at most 4096 bytes",
        ));
    }
    Ok(())
}

/// Surrounding whitespace in a pasted key is never part of it, and providers refuse it.
fn seal_key(secrets: &SecretBox, tenant: &TenantId, key: &SecretString) -> String {
    secrets.seal(
        SealContext::new(tenant, SealedField::AgentApiKey),
        key.expose_secret().trim(),
    )
}

fn to_json<T: Serialize>(value: &T) -> ApiResult<String> {
    serde_json::to_string(value).map_err(|e| ApiError::Internal(e.to_string()))
}

/// Makes a running supervisor re-read its agent (new limits, prompt, key; or stop admitting
/// when deleted). Awaited, so turns requested after the response already see the change;
/// the write is durable either way, so an engine that cannot be reached only delays it.
pub(super) async fn reload_supervisor(engine: &Engine, id: AgentId) {
    engine
        .parts
        .changes
        .announce(crate::cluster::invalidate::Change::Agent(id.clone()));
    if let Err(e) = engine
        .parts
        .supervisors
        .send(AgentChanged(id.clone()))
        .await
    {
        tracing::warn!(agent = %id, error = %e, "agent supervisor not told of the change");
    }
}

fn parse_id(raw: &str) -> ApiResult<AgentId> {
    AgentId::parse(raw).ok_or(ApiError::NotFound)
}

fn is_admin(role: Role) -> bool {
    role == Role::Admin
}

#[utoipa::path(get, path = "/api/v1/agents", tag = "agents",
    params(PageQuery),
    responses((status = 200, description = "A page of AI agents", body = Page<AgentView>),
        (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    staff: Staff,
    store: web::Data<Store>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let page = super::pagination::tenant_page(
        &store,
        &staff.tenant_id,
        &query,
        AgentId::parse,
        agents_store::list,
        |a| a.id.to_string(),
        AgentView::from_row,
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(post, path = "/api/v1/agents", tag = "agents", request_body = CreateAgent,
    responses((status = 201, body = AgentView), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    staff: Staff,
    store: web::Data<Store>,
    secrets: web::Data<SecretBox>,
    settings: web::Data<Settings>,
    body: web::Json<CreateAgent>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let body = body.into_inner();
    let name = parse_name(&body.name)?;
    check("description", agent::check_description(&body.description))?;
    check("emoji", agent::check_emoji(&body.emoji))?;
    check(
        "system_prompt",
        agent::check_system_prompt(&body.system_prompt),
    )?;
    let model = parse_model(body.model.as_deref().unwrap_or(agent::DEFAULT_MODEL))?;
    let temperature = body.temperature.unwrap_or(agent::DEFAULT_TEMPERATURE);
    check("temperature", agent::check_temperature(temperature))?;
    let max_tokens = body.max_tokens.unwrap_or(agent::DEFAULT_MAX_TOKENS);
    check("max_tokens", agent::check_max_tokens(max_tokens))?;
    let max_conversations = body
        .max_conversations
        .unwrap_or(agent::DEFAULT_MAX_CONVERSATIONS);
    check(
        "max_conversations",
        agent::check_max_conversations(max_conversations),
    )?;
    let specialties = parse_specialties(&body.specialties)?;
    let base_url = body
        .provider
        .base_url
        .as_deref()
        .map(|raw| parse_base_url(raw, &settings))
        .transpose()?;
    if let Some(key) = &body.provider.api_key {
        check_api_key(key)?;
    }
    let kind = body.provider.kind.unwrap_or_else(|| {
        ProviderKind::inferred(
            body.provider.api_key.is_some(),
            base_url.is_some(),
            !settings.llm.default_api_key.expose_secret().is_empty(),
        )
    });
    body.settings.validate().map_err(nested("settings"))?;
    body.limits.validate().map_err(nested("limits"))?;

    let now = store::now();
    let row = AiAgent {
        id: AgentId::new(),
        tenant_id: staff.tenant_id.clone(),
        name,
        description: body.description,
        agent_type: body.agent_type.as_str().to_string(),
        emoji: body.emoji.trim().to_string(),
        system_prompt: body.system_prompt,
        model,
        temperature,
        max_tokens,
        enabled: body.enabled,
        status: body.status.as_str().to_string(),
        max_conversations,
        specialties,
        provider_kind: kind.as_str().to_string(),
        provider_base_url: base_url,
        provider_api_key: body
            .provider
            .api_key
            .as_ref()
            .map(|k| seal_key(&secrets, &staff.tenant_id, k)),
        settings: to_json(&body.settings)?,
        limits: to_json(&body.limits)?,
        department_id: None,
        slug: None,
        wizard: "{}".into(),
        created_at: now,
        updated_at: now,
    };
    let stored = store
        .run(move |conn| {
            agents_store::insert(conn, &row)?;
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Created().json(AgentView::from_row(stored)?))
}

#[utoipa::path(get, path = "/api/v1/agents/{id}", tag = "agents",
    responses((status = 200, body = AgentView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let id = parse_id(&path)?;
    let tenant = staff.tenant_id.clone();
    let row = store
        .run(move |conn| agents_store::find(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::Ok().json(AgentView::from_row(row)?))
}

/// Validates the fields that do not depend on the stored agent.
fn plain_changes(
    body: &UpdateAgent,
    secrets: &SecretBox,
    settings: &Settings,
    tenant: &TenantId,
) -> ApiResult<AgentChanges> {
    let mut changes = AgentChanges::default();
    if let Some(name) = &body.name {
        changes.name = Some(parse_name(name)?);
    }
    if let Some(description) = &body.description {
        check("description", agent::check_description(description))?;
        changes.description = Some(description.clone());
    }
    if let Some(emoji) = &body.emoji {
        check("emoji", agent::check_emoji(emoji))?;
        changes.emoji = Some(emoji.trim().to_string());
    }
    if let Some(prompt) = &body.system_prompt {
        check("system_prompt", agent::check_system_prompt(prompt))?;
        changes.system_prompt = Some(prompt.clone());
    }
    if let Some(model) = &body.model {
        changes.model = Some(parse_model(model)?);
    }
    if let Some(temperature) = body.temperature {
        check("temperature", agent::check_temperature(temperature))?;
        changes.temperature = Some(temperature);
    }
    if let Some(max_tokens) = body.max_tokens {
        check("max_tokens", agent::check_max_tokens(max_tokens))?;
        changes.max_tokens = Some(max_tokens);
    }
    if let Some(max) = body.max_conversations {
        check("max_conversations", agent::check_max_conversations(max))?;
        changes.max_conversations = Some(max);
    }
    if let Some(specialties) = &body.specialties {
        changes.specialties = Some(parse_specialties(specialties)?);
    }
    if let Some(provider) = &body.provider {
        changes.provider_kind = provider.kind.map(|k| k.as_str().to_string());
        if let Some(base_url) = &provider.base_url {
            changes.provider_base_url = Some(
                base_url
                    .as_deref()
                    .map(|raw| parse_base_url(raw, settings))
                    .transpose()?,
            );
        }
        if let Some(key) = &provider.api_key {
            if let Some(key) = key {
                check_api_key(key)?;
            }
            changes.provider_api_key = Some(key.as_ref().map(|k| seal_key(secrets, tenant, k)));
        }
    }
    changes.agent_type = body.agent_type.map(|t| t.as_str().to_string());
    changes.status = body.status.map(|s| s.as_str().to_string());
    changes.enabled = body.enabled;
    Ok(changes)
}

#[utoipa::path(patch, path = "/api/v1/agents/{id}", tag = "agents", request_body = UpdateAgent,
    responses((status = 200, body = AgentView), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    secrets: web::Data<SecretBox>,
    settings: web::Data<Settings>,
    path: web::Path<String>,
    body: web::Json<UpdateAgent>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let id = parse_id(&path)?;
    let body = body.into_inner();
    let plain = plain_changes(&body, &secrets, &settings, &staff.tenant_id)?;
    let new_key_given = body.provider.as_ref().is_some_and(|p| p.api_key.is_some());
    let mut plain = plain;
    if let Some(department) = &body.department_id {
        let department = match department {
            None => None,
            Some(raw) => {
                let not_ours =
                    || ApiError::field("department_id", "is not a department of this tenant");
                let id = DepartmentId::parse(raw.trim()).ok_or_else(not_ours)?;
                let (tenant, probe) = (staff.tenant_id.clone(), id.clone());
                let exists = store
                    .run(move |conn| {
                        crate::store::integrations::department_exists(conn, &tenant, &probe)
                    })
                    .await?;
                if !exists {
                    return Err(not_ours());
                }
                Some(id)
            }
        };
        plain.department_id = Some(department);
    }

    // Settings and limits are merged into what is stored, so the write is conditional on
    // the row being unchanged since it was read; a concurrent PATCH makes us merge again.
    for _ in 0..MERGE_ATTEMPTS {
        let (tenant, lookup) = (staff.tenant_id.clone(), id.clone());
        let current = store
            .run(move |conn| agents_store::find(conn, &tenant, &lookup))
            .await?;
        let mut changes = plain.clone();
        if let Some(next) = &plain.provider_base_url {
            if !new_key_given && key_moves_away(&current, next.as_deref(), &settings) {
                changes.provider_api_key = Some(None);
            }
        }
        if let Some(patch) = &body.settings {
            let merged = patch.apply(&current.settings()?);
            merged.validate().map_err(nested("settings"))?;
            changes.settings = Some(to_json(&merged)?);
        }
        if let Some(patch) = &body.limits {
            let merged = patch.apply(&current.limits()?);
            merged.validate().map_err(nested("limits"))?;
            changes.limits = Some(to_json(&merged)?);
        }
        let seen = current.updated_at;
        // Strictly later than what was read, so a write in the same microsecond still
        // counts as a change for the next conditional update.
        changes.updated_at = Some(store::now().max(seen + chrono::TimeDelta::microseconds(1)));
        let (tenant, target) = (staff.tenant_id.clone(), id.clone());
        let updated = store
            .run(move |conn| {
                agents_store::update_if_unchanged(conn, &tenant, &target, seen, &changes)
            })
            .await?;
        if let Some(row) = updated {
            reload_supervisor(&engine, row.id.clone()).await;
            return Ok(HttpResponse::Ok().json(AgentView::from_row(row)?));
        }
    }
    Err(ApiError::Conflict(
        "the agent is being changed by someone else; try again".into(),
    ))
}

#[utoipa::path(delete, path = "/api/v1/agents/{id}", tag = "agents",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let id = parse_id(&path)?;
    let (tenant, target) = (staff.tenant_id.clone(), id.clone());
    store
        .transaction(move |conn| {
            agents_store::delete(conn, &tenant, &target)?;
            integrations::clear_default_agent(conn, &tenant, &target)?;
            Ok(())
        })
        .await?;
    engine.parts.integrations.forget_all();
    engine
        .parts
        .changes
        .announce(crate::cluster::invalidate::Change::AllIntegrations);
    reload_supervisor(&engine, id).await;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/agents")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/agents/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}
