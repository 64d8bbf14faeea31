//! `/api/v1/integrations`: channel integrations (Evolution API, generic webhook, web chat).
//! Follows users.rs. Secrets and API keys are write-only and stored sealed; views say only
//! whether one is set. An API key belongs to the host it was entered for: a PATCH moving
//! `base_url` to another origin must bring a new one. Outbound URLs are checked against the private-target guard here, at
//! configuration time, so an admin learns at once rather than at the first failed delivery.

use std::net::IpAddr;

use actix_web::{web, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::{Host, Url};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::pagination::{Page, PageQuery};
use crate::auth::Staff;
use crate::config::Settings;
use crate::domain::agent::nullable;
use crate::domain::{validate, AgentId, DepartmentId, IntegrationId, Role, TenantId};
use crate::outbound::guard::is_forbidden_ip;
use crate::outbound::origin;
use crate::secrets::{SealContext, SealedField, SecretBox};
use crate::store::integrations::{self, Integration, IntegrationChanges, IntegrationKind};
use crate::store::{self, agents, DbConn, Store, StoreResult};

/// HMAC keys shorter than this are guessable offline from one signed request.
pub const MIN_SECRET_CHARS: usize = 16;
const MAX_SECRET_CHARS: usize = 512;
const MAX_API_KEY_CHARS: usize = 1024;
const MAX_INSTANCE_CHARS: usize = 200;
const MAX_URL_CHARS: usize = 2048;

#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationView {
    pub id: String,
    pub tenant_id: String,
    pub kind: IntegrationKind,
    pub name: String,
    /// Whether an inbound webhook secret is set (the secret itself is never returned).
    pub has_secret: bool,
    pub base_url: Option<String>,
    /// Whether an outbound API key is set (the key itself is never returned).
    pub has_api_key: bool,
    /// Evolution instance name.
    pub instance: Option<String>,
    pub outbound_url: Option<String>,
    pub default_agent_id: Option<String>,
    pub default_department_id: Option<String>,
    /// The funnel new conversations of the integration start in.
    pub default_funnel_id: Option<String>,
    /// The stage of `default_funnel_id` they start in (`null`: the funnel's first stage).
    pub default_stage_id: Option<String>,
    pub enabled: bool,
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// Where the channel sends its events to this integration.
    pub inbound_path: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl IntegrationView {
    pub fn from_row(row: Integration) -> ApiResult<Self> {
        let kind = row.kind()?;
        let config = serde_json::Value::Object(row.config()?);
        let inbound_path = match kind {
            IntegrationKind::Evolution => format!("/webhooks/evolution/{}", row.id),
            IntegrationKind::Generic => format!("/webhooks/generic/{}", row.id),
            IntegrationKind::Webchat => format!("/api/v1/webchat/{}/session", row.id),
        };
        Ok(IntegrationView {
            has_secret: row.has_secret(),
            has_api_key: row.has_api_key(),
            id: row.id.0,
            tenant_id: row.tenant_id.0,
            kind,
            name: row.name,
            base_url: row.base_url,
            instance: row.instance,
            outbound_url: row.outbound_url,
            default_agent_id: row.default_agent_id.map(|a| a.0),
            default_department_id: row.default_department_id.map(|d| d.0),
            default_funnel_id: row.default_funnel_id,
            default_stage_id: row.default_stage_id,
            enabled: row.enabled,
            config,
            inbound_path,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegration {
    pub kind: IntegrationKind,
    pub name: String,
    /// Write-only. HMAC-SHA256 key of signed webhooks; required for `generic`.
    #[schema(value_type = Option<String>)]
    pub secret: Option<SecretString>,
    /// The channel's API (Evolution: the server URL); required for `evolution`.
    pub base_url: Option<String>,
    /// Write-only. Evolution's `apikey`; required for `evolution`.
    #[schema(value_type = Option<String>)]
    pub api_key: Option<SecretString>,
    /// Evolution instance name; required for `evolution`.
    pub instance: Option<String>,
    /// Where a `generic` integration POSTs replies.
    pub outbound_url: Option<String>,
    pub default_agent_id: Option<String>,
    pub default_department_id: Option<String>,
    /// New conversations of the integration start in this funnel of the tenant.
    pub default_funnel_id: Option<String>,
    /// A stage of `default_funnel_id` to start in; without it, the funnel's first stage.
    pub default_stage_id: Option<String>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Free-form JSON object of channel options.
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Value>,
}

fn enabled_by_default() -> bool {
    true
}

/// Keys absent stay as they are; `null` clears an optional one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIntegration {
    /// Accepted only when equal to the current kind: a channel cannot change kind.
    pub kind: Option<IntegrationKind>,
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub secret: Option<Option<SecretString>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub base_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub api_key: Option<Option<SecretString>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub instance: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub outbound_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub default_agent_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub default_department_id: Option<Option<String>>,
    /// `null` clears the funnel, and the stage with it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub default_funnel_id: Option<Option<String>>,
    /// Must be a stage of the (new or kept) `default_funnel_id`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub default_stage_id: Option<Option<String>>,
    pub enabled: Option<bool>,
    /// Replaces the whole config object.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    pub config: Option<Option<serde_json::Value>>,
}

/// Which optional columns a kind cannot work without. Checked on create and whenever a
/// PATCH clears a column, so every stored integration can be served by its channel.
fn required_fields(kind: IntegrationKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        IntegrationKind::Generic => &[(
            "secret",
            "is required for generic integrations: their webhooks are signed with it",
        )],
        IntegrationKind::Evolution => &[
            ("base_url", "is required for evolution integrations"),
            ("api_key", "is required for evolution integrations"),
            ("instance", "is required for evolution integrations"),
        ],
        IntegrationKind::Webchat => &[],
    }
}

fn require(kind: IntegrationKind, field: &str, present: bool) -> ApiResult<()> {
    match required_fields(kind).iter().find(|(f, _)| *f == field) {
        Some((field, reason)) if !present => Err(ApiError::field(field, reason)),
        _ => Ok(()),
    }
}

/// Is `url`'s host `localhost` or a literal address that only reaches this machine or its
/// private network? Other names are not resolved here (DNS may differ at send time); the
/// senders' own guard (`outbound::guard`) checks the addresses they connect to.
pub fn is_private_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            domain == "localhost" || domain.ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => is_forbidden_ip(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_forbidden_ip(IpAddr::V6(ip)),
        None => true,
    }
}

/// An absolute http(s) URL without credentials (they would come back in every view; keys
/// go in `api_key`). Returns it trimmed and without trailing slashes, so senders can append
/// paths.
pub fn check_http_url(raw: &str) -> Result<(String, Url), &'static str> {
    let trimmed = raw.trim();
    if trimmed.len() > MAX_URL_CHARS {
        return Err("is too long");
    }
    let url = Url::parse(trimmed).map_err(|_| "must be an absolute http(s) URL")?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("must be an absolute http(s) URL");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials");
    }
    let normalized = trimmed.trim_end_matches('/').to_string();
    Ok((normalized, url))
}

/// [`check_http_url`] plus the private-target guard of `outbound.allow_private_targets`.
pub fn check_outbound_url(raw: &str, allow_private: bool) -> Result<String, &'static str> {
    let (normalized, url) = check_http_url(raw)?;
    if !allow_private && is_private_host(&url) {
        return Err("must not point at a private, loopback or link-local address");
    }
    Ok(normalized)
}

fn outbound_url(field: &str, raw: &str, settings: &Settings) -> ApiResult<String> {
    check_outbound_url(raw, settings.outbound.allow_private_targets)
        .map_err(|reason| ApiError::field(field, reason))
}

fn check_secret(secret: &SecretString) -> ApiResult<()> {
    let len = secret.expose_secret().chars().count();
    if len < MIN_SECRET_CHARS {
        Err(ApiError::field("secret", "must be at least 16 characters"))
    } else if len > MAX_SECRET_CHARS {
        Err(ApiError::field("secret", "must be at most 512 characters"))
    } else {
        Ok(())
    }
}

fn check_api_key(key: &SecretString) -> ApiResult<()> {
    let raw = key.expose_secret();
    if raw.trim().is_empty() {
        Err(ApiError::field("api_key", "must not be empty"))
    } else if raw.chars().count() > MAX_API_KEY_CHARS {
        Err(ApiError::field("api_key", "is too long"))
    } else if raw.chars().any(char::is_control) {
        Err(ApiError::field(
            "api_key",
            "must not contain control characters",
        ))
    } else {
        Ok(())
    }
}

/// Unlike the HMAC secret, which is used byte for byte, an API key is sent as a header
/// value, where surrounding whitespace from a paste is never meant.
fn seal_key(secrets: &SecretBox, tenant: &TenantId, key: &SecretString) -> String {
    secrets.seal(
        SealContext::new(tenant, SealedField::IntegrationApiKey),
        key.expose_secret().trim(),
    )
}

fn seal_secret(secrets: &SecretBox, tenant: &TenantId, secret: &SecretString) -> String {
    secrets.seal(
        SealContext::new(tenant, SealedField::IntegrationSecret),
        secret.expose_secret(),
    )
}

/// The instance name goes into Evolution's URL path (`/message/sendText/{instance}`), so
/// nothing that would change the path is allowed.
fn check_instance(raw: &str) -> ApiResult<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(ApiError::field("instance", "must not be empty"));
    }
    if trimmed.chars().count() > MAX_INSTANCE_CHARS {
        return Err(ApiError::field("instance", "is too long"));
    }
    if trimmed
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '?' | '#' | '%' | '\\'))
    {
        return Err(ApiError::field(
            "instance",
            "must not contain spaces or any of / ? # % \\",
        ));
    }
    Ok(trimmed.to_string())
}

fn check_config(value: serde_json::Value) -> ApiResult<String> {
    if !value.is_object() {
        return Err(ApiError::field("config", "must be a JSON object"));
    }
    Ok(value.to_string())
}

fn parse_name(raw: &str) -> ApiResult<String> {
    if let Some(reason) = validate::check_name(raw) {
        return Err(ApiError::field("name", reason));
    }
    Ok(raw.trim().to_string())
}

const NOT_AN_AGENT: &str = "is not an AI agent of this tenant";
const NOT_A_DEPARTMENT: &str = "is not a department of this tenant";

fn parse_agent_ref(raw: &str) -> ApiResult<AgentId> {
    AgentId::parse(raw).ok_or_else(|| ApiError::field("default_agent_id", NOT_AN_AGENT))
}

fn parse_department_ref(raw: &str) -> ApiResult<DepartmentId> {
    DepartmentId::parse(raw)
        .ok_or_else(|| ApiError::field("default_department_id", NOT_A_DEPARTMENT))
}

const NOT_A_FUNNEL: &str = "is not a funnel of this tenant";
const NOT_A_STAGE: &str = "is not a stage of default_funnel_id";

/// The funnel and stage new conversations start in after a create or PATCH: what the body
/// asks for (`Some(None)` clears, `None` keeps `current`). Clearing the funnel clears the
/// stage; a stage needs a funnel. Whether they are the tenant's is checked with the write.
fn starting_stage(
    current: (Option<&str>, Option<&str>),
    funnel: Option<Option<&str>>,
    stage: Option<Option<&str>>,
) -> ApiResult<(Option<String>, Option<String>)> {
    let blank = |field: &str, raw: Option<&str>| match raw {
        Some(raw) if raw.trim().is_empty() => Err(ApiError::field(field, "must not be blank")),
        _ => Ok(raw.map(str::to_string)),
    };
    let new_funnel = match funnel {
        Some(funnel) => blank("default_funnel_id", funnel)?,
        None => current.0.map(str::to_string),
    };
    let new_stage = match (stage, funnel) {
        (Some(stage), _) => blank("default_stage_id", stage)?,
        (None, Some(None)) => None,
        (None, _) => current.1.map(str::to_string),
    };
    if new_stage.is_some() && new_funnel.is_none() {
        return Err(ApiError::field(
            "default_stage_id",
            "needs default_funnel_id: a stage is always one of a funnel's",
        ));
    }
    Ok((new_funnel, new_stage))
}

/// References to check inside the tenant, in the same store call as the write.
#[derive(Default)]
struct References {
    agent: Option<AgentId>,
    department: Option<DepartmentId>,
    /// The default funnel and stage, when the request set either.
    start: Option<(Option<String>, Option<String>)>,
}

impl References {
    /// `Ok(Err(_))` names the reference that does not belong to the tenant.
    fn check(&self, conn: &mut DbConn, tenant: &TenantId) -> StoreResult<Result<(), ApiError>> {
        if let Some(agent) = &self.agent {
            if !agents::exists(conn, tenant, agent)? {
                return Ok(Err(ApiError::field("default_agent_id", NOT_AN_AGENT)));
            }
        }
        if let Some(department) = &self.department {
            if !integrations::department_exists(conn, tenant, department)? {
                return Ok(Err(ApiError::field(
                    "default_department_id",
                    NOT_A_DEPARTMENT,
                )));
            }
        }
        if let Some((Some(funnel), stage)) = &self.start {
            match crate::store::funnels::find(conn, tenant, funnel) {
                Ok(_) => {}
                Err(store::StoreError::NotFound) => {
                    return Ok(Err(ApiError::field("default_funnel_id", NOT_A_FUNNEL)))
                }
                Err(e) => return Err(e),
            }
            if let Some(stage) = stage {
                match crate::store::funnels::find_stage(conn, tenant, funnel, stage) {
                    Ok(_) => {}
                    Err(store::StoreError::NotFound) => {
                        return Ok(Err(ApiError::field("default_stage_id", NOT_A_STAGE)))
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(Ok(()))
    }
}

fn parse_id(raw: &str) -> ApiResult<IntegrationId> {
    IntegrationId::parse(raw).ok_or(ApiError::NotFound)
}

fn is_admin(role: Role) -> bool {
    role == Role::Admin
}

#[utoipa::path(get, path = "/api/v1/integrations", tag = "integrations",
    params(PageQuery),
    responses((status = 200, description = "A page of integrations", body = Page<IntegrationView>),
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
        IntegrationId::parse,
        integrations::list,
        |i| i.id.to_string(),
        IntegrationView::from_row,
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(post, path = "/api/v1/integrations", tag = "integrations",
    request_body = CreateIntegration,
    responses((status = 201, body = IntegrationView), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    staff: Staff,
    store: web::Data<Store>,
    secrets: web::Data<SecretBox>,
    settings: web::Data<Settings>,
    body: web::Json<CreateIntegration>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let body = body.into_inner();
    let kind = body.kind;
    let name = parse_name(&body.name)?;
    if let Some(secret) = &body.secret {
        check_secret(secret)?;
    }
    require(kind, "secret", body.secret.is_some())?;
    let base_url = body
        .base_url
        .as_deref()
        .map(|raw| outbound_url("base_url", raw, &settings))
        .transpose()?;
    require(kind, "base_url", base_url.is_some())?;
    if let Some(key) = &body.api_key {
        check_api_key(key)?;
    }
    require(kind, "api_key", body.api_key.is_some())?;
    let instance = body.instance.as_deref().map(check_instance).transpose()?;
    require(kind, "instance", instance.is_some())?;
    let outbound = body
        .outbound_url
        .as_deref()
        .map(|raw| outbound_url("outbound_url", raw, &settings))
        .transpose()?;
    let refs = References {
        agent: body
            .default_agent_id
            .as_deref()
            .map(parse_agent_ref)
            .transpose()?,
        department: body
            .default_department_id
            .as_deref()
            .map(parse_department_ref)
            .transpose()?,
        start: Some(starting_stage(
            (None, None),
            body.default_funnel_id.as_deref().map(Some),
            body.default_stage_id.as_deref().map(Some),
        )?),
    };
    let (default_funnel_id, default_stage_id) = refs.start.clone().unwrap_or_default();
    let config = check_config(
        body.config
            .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
    )?;

    let now = store::now();
    let row = Integration {
        id: IntegrationId::new(),
        tenant_id: staff.tenant_id.clone(),
        kind: kind.as_str().to_string(),
        name,
        secret: body
            .secret
            .as_ref()
            .map(|s| seal_secret(&secrets, &staff.tenant_id, s)),
        base_url,
        api_key: body
            .api_key
            .as_ref()
            .map(|k| seal_key(&secrets, &staff.tenant_id, k)),
        instance,
        outbound_url: outbound,
        default_agent_id: refs.agent.clone(),
        default_department_id: refs.department.clone(),
        enabled: body.enabled,
        config,
        created_at: now,
        updated_at: now,
        default_funnel_id,
        default_stage_id,
    };
    let tenant = staff.tenant_id.clone();
    let stored = store
        .transaction(move |conn| {
            if let Err(e) = refs.check(conn, &tenant)? {
                return Ok(Err(e));
            }
            integrations::insert(conn, &row)?;
            Ok(Ok(row))
        })
        .await??;
    Ok(HttpResponse::Created().json(IntegrationView::from_row(stored)?))
}

#[utoipa::path(get, path = "/api/v1/integrations/{id}", tag = "integrations",
    responses((status = 200, body = IntegrationView), (status = 404, body = crate::error::ErrorBody)),
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
        .run(move |conn| integrations::find(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::Ok().json(IntegrationView::from_row(row)?))
}

#[utoipa::path(patch, path = "/api/v1/integrations/{id}", tag = "integrations",
    request_body = UpdateIntegration,
    responses((status = 200, body = IntegrationView), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<crate::engine::Engine>,
    secrets: web::Data<SecretBox>,
    settings: web::Data<Settings>,
    path: web::Path<String>,
    body: web::Json<UpdateIntegration>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let id = parse_id(&path)?;
    let body = body.into_inner();
    let tenant = staff.tenant_id.clone();
    let lookup = id.clone();
    // The kind decides what may be cleared; it never changes, so reading it first is safe.
    let current = store
        .run(move |conn| integrations::find(conn, &tenant, &lookup))
        .await?;
    let kind = current.kind()?;
    if body.kind.is_some_and(|k| k != kind) {
        return Err(ApiError::field(
            "kind",
            "cannot be changed; create a new integration instead",
        ));
    }

    let mut changes = IntegrationChanges::default();
    if let Some(name) = &body.name {
        changes.name = Some(parse_name(name)?);
    }
    if let Some(secret) = &body.secret {
        if let Some(secret) = secret {
            check_secret(secret)?;
        }
        require(kind, "secret", secret.is_some())?;
        changes.secret = Some(
            secret
                .as_ref()
                .map(|s| seal_secret(&secrets, &staff.tenant_id, s)),
        );
    }
    if let Some(base_url) = &body.base_url {
        let base_url = base_url
            .as_deref()
            .map(|raw| outbound_url("base_url", raw, &settings))
            .transpose()?;
        require(kind, "base_url", base_url.is_some())?;
        changes.base_url = Some(base_url);
    }
    if let Some(key) = &body.api_key {
        if let Some(key) = key {
            check_api_key(key)?;
        }
        require(kind, "api_key", key.is_some())?;
        changes.api_key = Some(
            key.as_ref()
                .map(|k| seal_key(&secrets, &staff.tenant_id, k)),
        );
    }
    // The stored key belongs to the host it was entered for: moving base_url to another
    // origin without a new key drops it (and a kind that needs one then refuses the PATCH).
    if let (Some(next), Some(stored), None) = (&changes.base_url, &current.base_url, &body.api_key)
    {
        let moves = next
            .as_deref()
            .is_none_or(|next| origin::drops_secret(stored, next, false));
        if moves && current.has_api_key() {
            require(kind, "api_key", false).map_err(|_| {
                ApiError::field(
                    "api_key",
                    "must be given again: base_url moves to another host, and the stored key \
                     is never sent there",
                )
            })?;
            changes.api_key = Some(None);
        }
    }
    if let Some(instance) = &body.instance {
        let instance = instance.as_deref().map(check_instance).transpose()?;
        require(kind, "instance", instance.is_some())?;
        changes.instance = Some(instance);
    }
    if let Some(outbound) = &body.outbound_url {
        changes.outbound_url = Some(
            outbound
                .as_deref()
                .map(|raw| outbound_url("outbound_url", raw, &settings))
                .transpose()?,
        );
    }
    let mut refs = References::default();
    if let Some(agent) = &body.default_agent_id {
        let agent = agent.as_deref().map(parse_agent_ref).transpose()?;
        refs.agent = agent.clone();
        changes.default_agent_id = Some(agent);
    }
    if let Some(department) = &body.default_department_id {
        let department = department
            .as_deref()
            .map(parse_department_ref)
            .transpose()?;
        refs.department = department.clone();
        changes.default_department_id = Some(department);
    }
    if body.default_funnel_id.is_some() || body.default_stage_id.is_some() {
        let (funnel, stage) = starting_stage(
            (
                current.default_funnel_id.as_deref(),
                current.default_stage_id.as_deref(),
            ),
            body.default_funnel_id.as_ref().map(Option::as_deref),
            body.default_stage_id.as_ref().map(Option::as_deref),
        )?;
        refs.start = Some((funnel.clone(), stage.clone()));
        changes.default_funnel_id = Some(funnel);
        changes.default_stage_id = Some(stage);
    }
    changes.enabled = body.enabled;
    if let Some(config) = body.config {
        changes.config = Some(check_config(config.unwrap_or(serde_json::Value::Null))?);
    }
    changes.updated_at = Some(store::now());

    let tenant = staff.tenant_id.clone();
    let row = store
        .transaction(move |conn| {
            if let Err(e) = refs.check(conn, &tenant)? {
                return Ok(Err(e));
            }
            integrations::update(conn, &tenant, &id, &changes).map(Ok)
        })
        .await??;
    engine.parts.integrations.forget(&row.id);
    engine
        .parts
        .changes
        .announce(crate::cluster::invalidate::Change::Integration(
            row.id.clone(),
        ));
    Ok(HttpResponse::Ok().json(IntegrationView::from_row(row)?))
}

#[utoipa::path(delete, path = "/api/v1/integrations/{id}", tag = "integrations",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<crate::engine::Engine>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let id = parse_id(&path)?;
    let tenant = staff.tenant_id.clone();
    let gone = id.clone();
    store
        .run(move |conn| integrations::delete(conn, &tenant, &id))
        .await?;
    engine.parts.integrations.forget(&gone);
    engine
        .parts
        .changes
        .announce(crate::cluster::invalidate::Change::Integration(
            gone.clone(),
        ));
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/integrations")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/integrations/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_is_private(raw: &str) -> bool {
        is_private_host(&Url::parse(raw).expect("url"))
    }

    #[test]
    fn private_loopback_and_link_local_hosts_are_recognised() {
        for raw in [
            "http://localhost:8080",
            "http://LOCALHOST./x",
            "http://api.localhost",
            "http://127.0.0.1",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://10.1.2.3",
            "http://172.16.0.1",
            "http://192.168.1.10",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1",
            "http://0.0.0.0",
            "http://[::1]",
            "http://[::]",
            "http://[fd00::1]",
            "http://[fe80::1]",
            "http://[::ffff:127.0.0.1]",
            "http://[::ffff:10.0.0.1]",
        ] {
            assert!(host_is_private(raw), "{raw}");
        }
        for raw in [
            "https://api.example.com",
            "http://8.8.8.8",
            "http://172.32.0.1",
            "http://[2001:db8::1]",
            "https://localhost.example.com",
        ] {
            assert!(!host_is_private(raw), "{raw}");
        }
    }

    #[test]
    fn urls_must_be_http_without_credentials() {
        assert_eq!(
            check_outbound_url(" https://evo.example.com/ ", false),
            Ok("https://evo.example.com".into())
        );
        assert!(check_outbound_url("ftp://example.com", true).is_err());
        assert!(check_outbound_url("example.com", true).is_err());
        assert!(check_outbound_url("https://user:pw@example.com", true).is_err());
        assert!(check_outbound_url("http://127.0.0.1:9000", false).is_err());
        assert_eq!(
            check_outbound_url("http://127.0.0.1:9000/hook", true),
            Ok("http://127.0.0.1:9000/hook".into())
        );
    }

    #[test]
    fn instance_names_cannot_escape_the_path() {
        assert_eq!(check_instance(" main ").ok().as_deref(), Some("main"));
        for bad in ["", "a/b", "../x", "a?b", "a b", "a%2f"] {
            assert!(check_instance(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kinds_require_what_their_channel_needs() {
        assert!(require(IntegrationKind::Generic, "secret", false).is_err());
        assert!(require(IntegrationKind::Webchat, "secret", false).is_ok());
        for field in ["base_url", "api_key", "instance"] {
            assert!(require(IntegrationKind::Evolution, field, false).is_err());
            assert!(require(IntegrationKind::Evolution, field, true).is_ok());
        }
        assert!(require(IntegrationKind::Evolution, "outbound_url", false).is_ok());
    }

    #[test]
    fn the_starting_stage_follows_its_funnel() {
        let kept = (Some("f1"), Some("s1"));
        let ok = |v: ApiResult<(Option<String>, Option<String>)>| v.expect("valid");
        let pair = |f: Option<&str>, s: Option<&str>| (f.map(String::from), s.map(String::from));
        assert_eq!(
            ok(starting_stage(kept, None, None)),
            pair(Some("f1"), Some("s1"))
        );
        // A new funnel keeps the stage only if the body says so; the store checks it.
        assert_eq!(
            ok(starting_stage(kept, Some(Some("f2")), None)),
            pair(Some("f2"), Some("s1"))
        );
        assert_eq!(
            ok(starting_stage(kept, Some(Some("f2")), Some(None))),
            pair(Some("f2"), None)
        );
        assert_eq!(ok(starting_stage(kept, Some(None), None)), pair(None, None));
        assert!(starting_stage(kept, Some(None), Some(Some("s1"))).is_err());
        assert!(starting_stage((None, None), None, Some(Some("s1"))).is_err());
        assert!(starting_stage((None, None), Some(Some(" ")), None).is_err());
        assert_eq!(
            ok(starting_stage((None, None), Some(Some("f1")), None)),
            pair(Some("f1"), None)
        );
    }
}
