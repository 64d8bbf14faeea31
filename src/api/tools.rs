//! `/api/v1/tools`: the tenant's tools, and `/api/v1/agents/{id}/tools/{tool_id}` to attach
//! them to agents with a per-agent config and an enabled flag. Admins write; admins and
//! supervisors read. Secret config values (HTTP headers, webhook secrets) are write-only.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::pagination::{Page, PageQuery};
use crate::auth::Staff;
use crate::domain::{AgentId, Role, ToolId};
use crate::engine::Engine;
use crate::secrets::SecretBox;
use crate::store::tools::{self as tools_store, AgentTool, Tool, ToolChanges};
use crate::store::{self, agents, Store};
use crate::tools::{
    config, schema, system, ToolKind, DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS, MIN_TIMEOUT_MS,
};

const MAX_DESCRIPTION_CHARS: usize = 2000;

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tool_type: ToolKind,
    /// JSON Schema of the arguments.
    #[schema(value_type = Object)]
    pub parameters: Value,
    /// Secret values read `"[redacted]"`.
    #[schema(value_type = Object)]
    pub config: Value,
    pub timeout_ms: i32,
    pub enabled: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

fn kind_of(tool: &Tool) -> ApiResult<ToolKind> {
    ToolKind::parse(&tool.tool_type)
        .ok_or_else(|| ApiError::Internal(format!("tools.tool_type: unknown `{}`", tool.tool_type)))
}

fn json_of(raw: &str, column: &str) -> ApiResult<Value> {
    serde_json::from_str(raw).map_err(|e| ApiError::Internal(format!("{column}: {e}")))
}

impl ToolView {
    pub fn from_row(tool: Tool) -> ApiResult<Self> {
        let kind = kind_of(&tool)?;
        Ok(ToolView {
            parameters: json_of(&tool.parameters, "tools.parameters")?,
            config: config::redact(kind, &json_of(&tool.config, "tools.config")?),
            id: tool.id.0,
            name: tool.name,
            description: tool.description,
            tool_type: kind,
            timeout_ms: tool.timeout_ms,
            enabled: tool.enabled,
            created_at: tool.created_at.and_utc(),
            updated_at: tool.updated_at.and_utc(),
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTool {
    /// The function name the model calls: letters, digits, `_` and `-`, at most 64. For
    /// `system` tools, one of the built-in names.
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub tool_type: ToolKind,
    /// JSON Schema (`"type": "object"`) of the arguments; required for `http` and
    /// `webhook`, generated for the other kinds.
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    /// 100..=60000, default 10000.
    pub timeout_ms: Option<i32>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTool {
    pub name: Option<String>,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    /// Replaces the config; a secret sent back as `"[redacted]"` keeps its stored value.
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    pub timeout_ms: Option<i32>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachTool {
    /// Merged over the tool's config for this agent (no secrets).
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentToolView {
    pub agent_id: String,
    pub tool_id: String,
    #[schema(value_type = Object)]
    pub config: Value,
    pub enabled: bool,
    pub tool: ToolView,
}

impl AgentToolView {
    fn from_rows(attachment: AgentTool, tool: Tool) -> ApiResult<Self> {
        Ok(AgentToolView {
            agent_id: attachment.agent_id.0,
            tool_id: attachment.tool_id.0,
            config: json_of(&attachment.config, "agent_tools.config")?,
            enabled: attachment.enabled,
            tool: ToolView::from_row(tool)?,
        })
    }
}

fn is_admin(role: Role) -> bool {
    role == Role::Admin
}

fn parse_tool_id(raw: &str) -> ApiResult<ToolId> {
    ToolId::parse(raw).ok_or(ApiError::NotFound)
}

fn parse_agent_id(raw: &str) -> ApiResult<AgentId> {
    AgentId::parse(raw).ok_or(ApiError::NotFound)
}

fn check_name(kind: ToolKind, name: &str) -> ApiResult<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(ApiError::field(
            "name",
            "must be 1 to 64 letters, digits, _ or -",
        ));
    }
    if kind == ToolKind::System && system::definition(name).is_none() {
        let known: Vec<&str> = system::catalog().into_iter().map(|(n, _, _)| n).collect();
        return Err(ApiError::field(
            "name",
            &format!("must name a system tool: {}", known.join(", ")),
        ));
    }
    Ok(())
}

fn check_description(description: &str) -> ApiResult<()> {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::field(
            "description",
            "must be at most 2000 characters",
        ));
    }
    Ok(())
}

fn check_timeout(timeout: i32) -> ApiResult<()> {
    if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&timeout) {
        return Err(ApiError::field(
            "timeout_ms",
            "must be between 100 and 60000",
        ));
    }
    Ok(())
}

/// The parameters a tool of `kind` is stored with: generated, built in, or the admin's.
fn resolve_parameters(
    kind: ToolKind,
    name: &str,
    given: Option<&Value>,
    config: &Value,
) -> ApiResult<Value> {
    if let Some(generated) = config::generated_parameters(kind, config) {
        return Ok(generated);
    }
    if kind == ToolKind::System {
        return system::definition(name)
            .map(|(_, schema)| schema)
            .ok_or_else(|| ApiError::field("name", "must name a system tool"));
    }
    let parameters = given
        .cloned()
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    schema::check_definition(&parameters)
        .map_err(|reason| ApiError::field("parameters", &reason))?;
    Ok(parameters)
}

fn check_config(kind: ToolKind, config: &Value, parameters: &Value) -> ApiResult<()> {
    config::validate(kind, config, parameters).map_err(|reason| ApiError::field("config", &reason))
}

#[utoipa::path(get, path = "/api/v1/tools", tag = "tools", params(PageQuery),
    responses((status = 200, description = "A page of tools", body = Page<ToolView>)),
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
        ToolId::parse,
        tools_store::list,
        |t| t.id.to_string(),
        ToolView::from_row,
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(post, path = "/api/v1/tools", tag = "tools", request_body = CreateTool,
    responses((status = 201, body = ToolView), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    staff: Staff,
    store: web::Data<Store>,
    secrets: web::Data<SecretBox>,
    body: web::Json<CreateTool>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let body = body.into_inner();
    let kind = body.tool_type;
    let name = body.name.trim().to_string();
    check_name(kind, &name)?;
    check_description(&body.description)?;
    let timeout_ms = body.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    check_timeout(timeout_ms)?;
    let config_in = body.config.unwrap_or_else(|| json!({}));
    let parameters = resolve_parameters(kind, &name, body.parameters.as_ref(), &config_in)?;
    check_config(kind, &config_in, &parameters)?;
    let stored_config = config::seal(kind, &config_in, None, &secrets, &staff.tenant_id)
        .map_err(|reason| ApiError::field("config", &reason))?;
    let now = store::now();
    let row = Tool {
        id: ToolId::new(),
        tenant_id: staff.tenant_id.clone(),
        name,
        description: body.description.trim().to_string(),
        tool_type: kind.as_str().to_string(),
        parameters: parameters.to_string(),
        config: stored_config.to_string(),
        timeout_ms,
        enabled: body.enabled,
        created_at: now,
        updated_at: now,
    };
    let stored = store
        .run(move |conn| {
            tools_store::insert(conn, &row)?;
            Ok(row)
        })
        .await
        .map_err(|e| match e {
            store::StoreError::Conflict(_) => {
                ApiError::Conflict("a tool with this name already exists".into())
            }
            other => other.into(),
        })?;
    Ok(HttpResponse::Created().json(ToolView::from_row(stored)?))
}

#[utoipa::path(get, path = "/api/v1/tools/{id}", tag = "tools",
    responses((status = 200, body = ToolView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let id = parse_tool_id(&path)?;
    let tenant = staff.tenant_id.clone();
    let row = store
        .run(move |conn| tools_store::find(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::Ok().json(ToolView::from_row(row)?))
}

#[utoipa::path(patch, path = "/api/v1/tools/{id}", tag = "tools", request_body = UpdateTool,
    responses((status = 200, body = ToolView), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    secrets: web::Data<SecretBox>,
    path: web::Path<String>,
    body: web::Json<UpdateTool>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let id = parse_tool_id(&path)?;
    let body = body.into_inner();
    let (tenant, lookup) = (staff.tenant_id.clone(), id.clone());
    let current = store
        .run(move |conn| tools_store::find(conn, &tenant, &lookup))
        .await?;
    let kind = kind_of(&current)?;
    let mut changes = ToolChanges::default();
    let name = match &body.name {
        Some(name) => {
            let name = name.trim().to_string();
            check_name(kind, &name)?;
            changes.name = Some(name.clone());
            name
        }
        None => current.name.clone(),
    };
    if let Some(description) = &body.description {
        check_description(description)?;
        changes.description = Some(description.trim().to_string());
    }
    if let Some(timeout) = body.timeout_ms {
        check_timeout(timeout)?;
        changes.timeout_ms = Some(timeout);
    }
    changes.enabled = body.enabled;
    let stored_config = json_of(&current.config, "tools.config")?;
    // Secrets are compared sealed; validation sees what the admin sees.
    let config_in = body
        .config
        .clone()
        .unwrap_or_else(|| config::redact(kind, &stored_config));
    let current_parameters = json_of(&current.parameters, "tools.parameters")?;
    let parameters = resolve_parameters(
        kind,
        &name,
        Some(body.parameters.as_ref().unwrap_or(&current_parameters)),
        &config_in,
    )?;
    check_config(kind, &config_in, &parameters)?;
    if body.parameters.is_some() || body.config.is_some() || body.name.is_some() {
        changes.parameters = Some(parameters.to_string());
    }
    if body.config.is_some() {
        changes.config = Some(
            config::seal(
                kind,
                &config_in,
                Some(&stored_config),
                &secrets,
                &staff.tenant_id,
            )
            .map_err(|reason| ApiError::field("config", &reason))?
            .to_string(),
        );
    }
    changes.updated_at = Some(store::now());
    let tenant = staff.tenant_id.clone();
    let (row, agents) = store
        .run(move |conn| {
            let row = tools_store::update(conn, &tenant, &id, &changes)?;
            Ok((row, tools_store::attached_agents(conn, &tenant, &id)?))
        })
        .await
        .map_err(|e| match e {
            store::StoreError::Conflict(_) => {
                ApiError::Conflict("a tool with this name already exists".into())
            }
            other => other.into(),
        })?;
    reload_agents(&engine, agents).await;
    Ok(HttpResponse::Ok().json(ToolView::from_row(row)?))
}

#[utoipa::path(delete, path = "/api/v1/tools/{id}", tag = "tools",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let id = parse_tool_id(&path)?;
    let tenant = staff.tenant_id.clone();
    let agents = store
        .run(move |conn| {
            let agents = tools_store::attached_agents(conn, &tenant, &id)?;
            tools_store::delete(conn, &tenant, &id)?;
            Ok(agents)
        })
        .await?;
    reload_agents(&engine, agents).await;
    Ok(HttpResponse::NoContent().finish())
}

/// The agents' supervisors re-read their tools before their next turn.
async fn reload_agents(engine: &Engine, agents: Vec<AgentId>) {
    for agent in agents {
        super::agents::reload_supervisor(engine, agent).await;
    }
}

#[utoipa::path(get, path = "/api/v1/agents/{id}/tools", tag = "tools",
    responses((status = 200, description = "The agent's tools with their attachment", body = AgentToolList),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_attached(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let agent = parse_agent_id(&path)?;
    let tenant = staff.tenant_id.clone();
    let rows = store
        .run(move |conn| {
            agents::find(conn, &tenant, &agent)?;
            tools_store::for_agent(conn, &tenant, &agent)
        })
        .await?;
    let items = rows
        .into_iter()
        .map(|(a, t)| AgentToolView::from_rows(a, t))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(HttpResponse::Ok().json(AgentToolList { items }))
}

/// The tools attached to an agent, each with the tool itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentToolList {
    pub items: Vec<AgentToolView>,
}

#[utoipa::path(put, path = "/api/v1/agents/{id}/tools/{tool_id}", tag = "tools",
    request_body = AttachTool,
    responses((status = 200, body = AgentToolView), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn attach(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    path: web::Path<(String, String)>,
    body: Option<web::Json<AttachTool>>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let (agent_raw, tool_raw) = path.into_inner();
    let agent = parse_agent_id(&agent_raw)?;
    let tool_id = parse_tool_id(&tool_raw)?;
    let body = body.map(web::Json::into_inner).unwrap_or_default();
    let (tenant, a, t) = (staff.tenant_id.clone(), agent.clone(), tool_id.clone());
    let tool = store
        .run(move |conn| {
            agents::find(conn, &tenant, &a)?;
            tools_store::find(conn, &tenant, &t)
        })
        .await?;
    let kind = kind_of(&tool)?;
    let overrides = body.config.unwrap_or_else(|| json!({}));
    config::check_agent_config(
        kind,
        &overrides,
        &json_of(&tool.config, "tools.config")?,
        &json_of(&tool.parameters, "tools.parameters")?,
    )
    .map_err(|reason| ApiError::field("config", &reason))?;
    let row = AgentTool {
        agent_id: agent.clone(),
        tool_id,
        tenant_id: staff.tenant_id.clone(),
        config: overrides.to_string(),
        enabled: body.enabled.unwrap_or(true),
        created_at: store::now(),
    };
    let saved = store
        .run(move |conn| tools_store::attach(conn, &row))
        .await?;
    reload_agents(&engine, vec![agent]).await;
    Ok(HttpResponse::Ok().json(AgentToolView::from_rows(saved, tool)?))
}

#[utoipa::path(delete, path = "/api/v1/agents/{id}/tools/{tool_id}", tag = "tools",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn detach(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let (agent_raw, tool_raw) = path.into_inner();
    let agent = parse_agent_id(&agent_raw)?;
    let tool = parse_tool_id(&tool_raw)?;
    let tenant = staff.tenant_id.clone();
    let changed = agent.clone();
    store
        .run(move |conn| tools_store::detach(conn, &tenant, &agent, &tool))
        .await?;
    reload_agents(&engine, vec![changed]).await;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/tools")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/tools/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .route("/agents/{id}/tools", web::get().to(list_attached))
    .service(
        web::resource("/agents/{id}/tools/{tool_id}")
            .route(web::put().to(attach))
            .route(web::delete().to(detach)),
    );
}
