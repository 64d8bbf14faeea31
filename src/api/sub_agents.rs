//! `/api/v1/agents/{id}/sub-agents`: an agent's topic specialists (seed 003). Routing reads
//! them on every turn, so changes apply to the next message without a restart.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use crate::auth::Staff;
use crate::domain::agent::{self, nullable};
use crate::domain::routing::words;
use crate::domain::{validate, AgentId, Role, SubAgentId};
use crate::engine::Engine;
use crate::store::sub_agents::{self as store_sub_agents, SubAgent, SubAgentChanges};
use crate::store::{self, agents, Store};

pub const MAX_TOPICS: usize = 50;
pub const MAX_TOPIC_CHARS: usize = 100;

#[derive(Debug, Serialize, ToSchema)]
pub struct SubAgentView {
    pub id: String,
    pub agent_id: String,
    pub name: String,
    pub topics: Vec<String>,
    pub system_prompt: String,
    /// `null` uses the agent's model.
    pub model: Option<String>,
    pub is_active: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl SubAgentView {
    fn from_row(row: SubAgent) -> ApiResult<Self> {
        Ok(SubAgentView {
            topics: row.topics()?,
            id: row.id.0,
            agent_id: row.agent_id.0,
            name: row.name,
            system_prompt: row.system_prompt,
            model: row.model,
            is_active: row.is_active,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubAgent {
    pub name: String,
    /// Words or short phrases; a message mentioning one is routed here.
    pub topics: Vec<String>,
    #[serde(default)]
    pub system_prompt: String,
    pub model: Option<String>,
    #[serde(default = "yes")]
    pub is_active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSubAgent {
    pub name: Option<String>,
    pub topics: Option<Vec<String>>,
    pub system_prompt: Option<String>,
    /// `null` goes back to the agent's model.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub model: Option<Option<String>>,
    pub is_active: Option<bool>,
}

fn parse_ids(path: &(String, String)) -> ApiResult<(AgentId, SubAgentId)> {
    Ok((
        AgentId::parse(&path.0).ok_or(ApiError::NotFound)?,
        SubAgentId::parse(&path.1).ok_or(ApiError::NotFound)?,
    ))
}

fn parse_name(raw: &str) -> ApiResult<String> {
    if let Some(reason) = validate::check_name(raw) {
        return Err(ApiError::field("name", reason));
    }
    Ok(raw.trim().to_string())
}

/// Trimmed, deduplicated (case- and accent-insensitively) topics, each with a word in it.
fn parse_topics(raw: &[String]) -> ApiResult<String> {
    if raw.is_empty() || raw.len() > MAX_TOPICS {
        return Err(ApiError::field("topics", "must list 1 to 50 topics"));
    }
    let mut topics: Vec<String> = Vec::new();
    for topic in raw {
        let topic = topic.trim();
        if words(topic).is_empty() || topic.chars().count() > MAX_TOPIC_CHARS {
            return Err(ApiError::field(
                "topics",
                "must each be 1 to 100 characters with a letter or digit",
            ));
        }
        if !topics.iter().any(|t| words(t) == words(topic)) {
            topics.push(topic.to_string());
        }
    }
    serde_json::to_string(&topics).map_err(|e| ApiError::Internal(e.to_string()))
}

fn parse_prompt(raw: &str) -> ApiResult<String> {
    if let Some(reason) = agent::check_system_prompt(raw) {
        return Err(ApiError::field("system_prompt", reason));
    }
    Ok(raw.to_string())
}

fn parse_model(raw: &str) -> ApiResult<String> {
    if let Some(reason) = agent::check_model(raw) {
        return Err(ApiError::field("model", reason));
    }
    Ok(raw.trim().to_string())
}

fn is_admin(role: Role) -> bool {
    role == Role::Admin
}

#[utoipa::path(get, path = "/api/v1/agents/{id}/sub-agents", tag = "sub-agents",
    responses((status = 200, description = "The agent's sub-agents, oldest first", body = SubAgentList),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let agent = AgentId::parse(&path).ok_or(ApiError::NotFound)?;
    let tenant = staff.tenant_id.clone();
    let rows = store
        .run(move |conn| {
            agents::find(conn, &tenant, &agent)?;
            store_sub_agents::list(conn, &tenant, &agent)
        })
        .await?;
    let items = rows
        .into_iter()
        .map(SubAgentView::from_row)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(HttpResponse::Ok().json(SubAgentList { items }))
}

/// An agent's sub-agents (all of them: an agent has few).
#[derive(Debug, Serialize, ToSchema)]
pub struct SubAgentList {
    pub items: Vec<SubAgentView>,
}

#[utoipa::path(post, path = "/api/v1/agents/{id}/sub-agents", tag = "sub-agents",
    request_body = CreateSubAgent,
    responses((status = 201, body = SubAgentView), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    path: web::Path<String>,
    body: web::Json<CreateSubAgent>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let agent = AgentId::parse(&path).ok_or(ApiError::NotFound)?;
    let body = body.into_inner();
    let now = store::now();
    let row = SubAgent {
        id: SubAgentId::new(),
        tenant_id: staff.tenant_id.clone(),
        agent_id: agent.clone(),
        name: parse_name(&body.name)?,
        topics: parse_topics(&body.topics)?,
        system_prompt: parse_prompt(&body.system_prompt)?,
        model: body.model.as_deref().map(parse_model).transpose()?,
        is_active: body.is_active,
        created_at: now,
        updated_at: now,
    };
    let tenant = staff.tenant_id.clone();
    let changed = agent.clone();
    let stored = store
        .run(move |conn| {
            agents::find(conn, &tenant, &agent)?;
            store_sub_agents::insert(conn, &row)?;
            Ok(row)
        })
        .await?;
    super::agents::reload_supervisor(&engine, changed).await;
    Ok(HttpResponse::Created().json(SubAgentView::from_row(stored)?))
}

#[utoipa::path(get, path = "/api/v1/agents/{id}/sub-agents/{sid}", tag = "sub-agents",
    responses((status = 200, body = SubAgentView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let (agent, id) = parse_ids(&path)?;
    let tenant = staff.tenant_id.clone();
    let row = store
        .run(move |conn| store_sub_agents::find(conn, &tenant, &agent, &id))
        .await?;
    Ok(HttpResponse::Ok().json(SubAgentView::from_row(row)?))
}

#[utoipa::path(patch, path = "/api/v1/agents/{id}/sub-agents/{sid}", tag = "sub-agents",
    request_body = UpdateSubAgent,
    responses((status = 200, body = SubAgentView), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    path: web::Path<(String, String)>,
    body: web::Json<UpdateSubAgent>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let (agent, id) = parse_ids(&path)?;
    let body = body.into_inner();
    let changes = SubAgentChanges {
        name: body.name.as_deref().map(parse_name).transpose()?,
        topics: body.topics.as_deref().map(parse_topics).transpose()?,
        system_prompt: body
            .system_prompt
            .as_deref()
            .map(parse_prompt)
            .transpose()?,
        model: match &body.model {
            Some(model) => Some(model.as_deref().map(parse_model).transpose()?),
            None => None,
        },
        is_active: body.is_active,
        updated_at: Some(store::now()),
    };
    let tenant = staff.tenant_id.clone();
    let changed = agent.clone();
    let row = store
        .run(move |conn| store_sub_agents::update(conn, &tenant, &agent, &id, &changes))
        .await?;
    super::agents::reload_supervisor(&engine, changed).await;
    Ok(HttpResponse::Ok().json(SubAgentView::from_row(row)?))
}

#[utoipa::path(delete, path = "/api/v1/agents/{id}/sub-agents/{sid}", tag = "sub-agents",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let (agent, id) = parse_ids(&path)?;
    let tenant = staff.tenant_id.clone();
    let changed = agent.clone();
    store
        .run(move |conn| store_sub_agents::delete(conn, &tenant, &agent, &id))
        .await?;
    super::agents::reload_supervisor(&engine, changed).await;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/agents/{id}/sub-agents")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/agents/{id}/sub-agents/{sid}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}
