//! `/api/v1/automations`: intents checked before the LLM and the actions they run (seed 004).
//! Intents are `{"type": "keyword", "value"}` or `{"type": "regex", "pattern"}`; a bare
//! string is a keyword. Ids an action names (user, agent, stage) must be the tenant's.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::pagination::{Page, PageQuery};
use crate::auth::Staff;
use crate::domain::agent::nullable;
use crate::domain::automation::{self, Action, Intent};
use crate::domain::{validate, AgentId, Role, TenantId, UserId};
use crate::engine::Engine;
use crate::store::automations::{self as store_automations, Automation, AutomationChanges};
use crate::store::{self, agents, crm, users, DbConn, Store, StoreError};

#[derive(Debug, Serialize, ToSchema)]
pub struct AutomationView {
    pub id: String,
    /// `null`: every AI agent of the tenant.
    pub agent_id: Option<String>,
    pub name: String,
    pub intents: Vec<Intent>,
    pub actions: Vec<Action>,
    pub priority: i32,
    pub enabled: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl AutomationView {
    fn from_row(row: Automation) -> ApiResult<Self> {
        Ok(AutomationView {
            intents: row.intents()?,
            actions: row.actions()?,
            id: row.id,
            agent_id: row.agent_id.map(|a| a.0),
            name: row.name,
            priority: row.priority,
            enabled: row.enabled,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        })
    }
}

/// An intent as clients may send it: the full object, or a string meaning a keyword.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum IntentInput {
    Keyword(String),
    Full(Intent),
}

impl IntentInput {
    fn into_intent(self) -> Intent {
        match self {
            IntentInput::Keyword(value) => Intent::Keyword { value },
            IntentInput::Full(intent) => intent,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAutomation {
    pub name: String,
    pub agent_id: Option<String>,
    pub intents: Vec<IntentInput>,
    pub actions: Vec<Action>,
    /// Higher runs first when several match; default 0.
    #[serde(default)]
    pub priority: i32,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAutomation {
    pub name: Option<String>,
    /// `null`: every agent.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub agent_id: Option<Option<String>>,
    pub intents: Option<Vec<IntentInput>>,
    pub actions: Option<Vec<Action>>,
    pub priority: Option<i32>,
    pub enabled: Option<bool>,
}

fn is_admin(role: Role) -> bool {
    role == Role::Admin
}

fn parse_id(raw: &str) -> ApiResult<String> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::NotFound)
}

fn parse_name(raw: &str) -> ApiResult<String> {
    if let Some(reason) = validate::check_name(raw) {
        return Err(ApiError::field("name", reason));
    }
    Ok(raw.trim().to_string())
}

fn invalid(e: automation::Invalid) -> ApiError {
    ApiError::field(&e.field, &e.reason)
}

fn intents_json(input: Vec<IntentInput>) -> ApiResult<String> {
    let intents: Vec<Intent> = input.into_iter().map(IntentInput::into_intent).collect();
    automation::validate_intents(&intents).map_err(invalid)?;
    serde_json::to_string(&intents).map_err(|e| ApiError::Internal(e.to_string()))
}

fn actions_json(actions: &[Action]) -> ApiResult<String> {
    automation::validate_actions(actions).map_err(invalid)?;
    serde_json::to_string(actions).map_err(|e| ApiError::Internal(e.to_string()))
}

fn agent_id(raw: &str) -> ApiResult<AgentId> {
    AgentId::parse(raw).ok_or_else(|| ApiError::field("agent_id", "is not an agent of this tenant"))
}

/// The ids the actions name must be the tenant's: a 400 now beats an automation that
/// silently does nothing later.
fn check_references(
    conn: &mut DbConn,
    tenant: &TenantId,
    actions: &[Action],
) -> Result<(), (String, &'static str)> {
    for (i, action) in actions.iter().enumerate() {
        let field = format!("actions[{i}]");
        let known = match action {
            Action::Assign {
                user_id: Some(user),
                ..
            } => UserId::parse(user)
                .map(|id| users::find(conn, tenant, &id).is_ok())
                .unwrap_or(false),
            Action::Assign {
                agent_id: Some(agent),
                ..
            } => AgentId::parse(agent)
                .map(|id| agents::find(conn, tenant, &id).is_ok())
                .unwrap_or(false),
            Action::MoveToStage { stage_id } => {
                crm::stage_exists(conn, tenant, stage_id).unwrap_or(false)
            }
            _ => true,
        };
        if !known {
            return Err((field, "names a user, agent or stage that does not exist"));
        }
    }
    Ok(())
}

async fn verify(
    store: &Store,
    tenant: &TenantId,
    agent: Option<AgentId>,
    actions: Option<Vec<Action>>,
) -> ApiResult<()> {
    let tenant = tenant.clone();
    let checked = store
        .run(move |conn| {
            if let Some(agent) = &agent {
                if agents::find(conn, &tenant, agent).is_err() {
                    return Ok(Err((
                        "agent_id".to_string(),
                        "is not an agent of this tenant",
                    )));
                }
            }
            Ok(match &actions {
                Some(actions) => check_references(conn, &tenant, actions),
                None => Ok(()),
            })
        })
        .await?;
    checked.map_err(|(field, reason)| ApiError::field(&field, reason))
}

#[utoipa::path(get, path = "/api/v1/automations", tag = "automations", params(PageQuery),
    responses((status = 200, description = "A page of automations", body = Page<AutomationView>)),
    security(("bearer" = [])))]
pub async fn list(
    staff: Staff,
    store: web::Data<Store>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let limit = query.limit()?;
    let after = query.cursor_id(|raw| parse_id(raw).ok())?;
    let tenant = staff.tenant_id.clone();
    let rows = store
        .run(move |conn| store_automations::list(conn, &tenant, limit + 1, after.as_deref()))
        .await?;
    let page = Page::from_rows(rows, limit, |a| a.id.clone(), AutomationView::from_row)?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(post, path = "/api/v1/automations", tag = "automations",
    request_body = CreateAutomation,
    responses((status = 201, body = AutomationView), (status = 400, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    body: web::Json<CreateAutomation>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let body = body.into_inner();
    let name = parse_name(&body.name)?;
    let agent = body.agent_id.as_deref().map(agent_id).transpose()?;
    let intents = intents_json(body.intents)?;
    let actions = actions_json(&body.actions)?;
    verify(&store, &staff.tenant_id, agent.clone(), Some(body.actions)).await?;
    let now = store::now();
    let row = Automation {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: staff.tenant_id.clone(),
        agent_id: agent,
        name,
        intents,
        actions,
        priority: body.priority,
        enabled: body.enabled,
        created_at: now,
        updated_at: now,
    };
    let stored = store
        .run(move |conn| {
            store_automations::insert(conn, &row)?;
            Ok(row)
        })
        .await?;
    reload_tenants_agents(&engine, &store, &staff.tenant_id).await;
    Ok(HttpResponse::Created().json(AutomationView::from_row(stored)?))
}

#[utoipa::path(get, path = "/api/v1/automations/{id}", tag = "automations",
    responses((status = 200, body = AutomationView), (status = 404, body = crate::error::ErrorBody)),
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
        .run(move |conn| store_automations::find(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::Ok().json(AutomationView::from_row(row)?))
}

#[utoipa::path(patch, path = "/api/v1/automations/{id}", tag = "automations",
    request_body = UpdateAutomation,
    responses((status = 200, body = AutomationView), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    path: web::Path<String>,
    body: web::Json<UpdateAutomation>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let id = parse_id(&path)?;
    let body = body.into_inner();
    let agent = match &body.agent_id {
        Some(Some(raw)) => Some(Some(agent_id(raw)?)),
        Some(None) => Some(None),
        None => None,
    };
    let changes = AutomationChanges {
        agent_id: agent.clone(),
        name: body.name.as_deref().map(parse_name).transpose()?,
        intents: body.intents.map(intents_json).transpose()?,
        actions: body.actions.as_deref().map(actions_json).transpose()?,
        priority: body.priority,
        enabled: body.enabled,
        updated_at: Some(store::now()),
    };
    verify(&store, &staff.tenant_id, agent.flatten(), body.actions).await?;
    let tenant = staff.tenant_id.clone();
    let row = store
        .run(move |conn| store_automations::update(conn, &tenant, &id, &changes))
        .await?;
    reload_tenants_agents(&engine, &store, &staff.tenant_id).await;
    Ok(HttpResponse::Ok().json(AutomationView::from_row(row)?))
}

#[utoipa::path(delete, path = "/api/v1/automations/{id}", tag = "automations",
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
    let tenant = staff.tenant_id.clone();
    store
        .run(move |conn| store_automations::delete(conn, &tenant, &id))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound,
            other => other.into(),
        })?;
    reload_tenants_agents(&engine, &store, &staff.tenant_id).await;
    Ok(HttpResponse::NoContent().finish())
}

/// An automation belongs to one agent or to every agent of the tenant (and may move
/// between them): each of the tenant's supervisors re-reads its automations.
async fn reload_tenants_agents(engine: &Engine, store: &Store, tenant: &TenantId) {
    let tenant = tenant.clone();
    match store
        .run(move |conn| agents::ids_of_tenant(conn, &tenant))
        .await
    {
        Ok(agents) => {
            for agent in agents {
                super::agents::reload_supervisor(engine, agent).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "agents not told of an automation change"),
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/automations")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/automations/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}
