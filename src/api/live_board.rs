//! `GET /api/v1/analytics/live` (admins and supervisors): the supervisor board's starting
//! point — queue length and oldest wait, live conversations by owner, staff load and
//! presence. The board then follows `GET /api/v1/events` and reloads this on a `resync`.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiResult;
use crate::auth::Staff;
use crate::domain::agent::AgentStatus;
use crate::domain::role::may_chat_with_agent;
use crate::domain::Role;
use crate::store::{agents, board, Store};

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueView {
    /// Conversations waiting for a person.
    pub length: i64,
    /// When the longest-waiting one entered the queue.
    pub oldest_queued_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OwnerLoad {
    /// user | ai_agent
    pub owner_type: String,
    pub owner_id: String,
    pub name: String,
    /// The AI agent's emoji; empty for people.
    pub emoji: String,
    /// Conversations it owns that are not closed.
    pub live: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonLoad {
    pub id: String,
    pub name: String,
    /// admin | supervisor | agent
    pub role: String,
    /// online | away | offline
    pub presence: String,
    /// Takes conversations from the distributor.
    pub available: bool,
    /// Conversations it owns that are not closed.
    pub load: i64,
    pub max_conversations: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LiveBoard {
    pub at: DateTime<Utc>,
    pub queue: QueueView,
    /// Owned conversations that are not closed, most loaded owner first.
    pub owners: Vec<OwnerLoad>,
    /// Every staff member, by name.
    pub people: Vec<PersonLoad>,
}

#[utoipa::path(get, path = "/api/v1/analytics/live", tag = "analytics",
    responses((status = 200, body = LiveBoard), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn live(staff: Staff, store: web::Data<Store>) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let tenant = staff.tenant_id.clone();
    let ((length, oldest), loads, people, agents) = store
        .run(move |conn| {
            Ok((
                board::queue(conn, &tenant)?,
                board::live_by_owner(conn, &tenant)?,
                board::people(conn, &tenant)?,
                board::agent_names(conn, &tenant)?,
            ))
        })
        .await?;
    let user_names: HashMap<&str, &str> = people
        .iter()
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    let agent_names: HashMap<&str, (&str, &str)> = agents
        .iter()
        .map(|(id, name, emoji)| (id.as_str(), (name.as_str(), emoji.as_str())))
        .collect();
    let mut load_of: HashMap<&str, i64> = HashMap::new();
    let mut owners: Vec<OwnerLoad> = Vec::new();
    for (kind, id, live) in &loads {
        let Some(id) = id.as_deref() else { continue };
        let (name, emoji) = match kind.as_str() {
            "user" => {
                load_of.insert(id, *live);
                (user_names.get(id).copied().unwrap_or_default(), "")
            }
            _ => agent_names.get(id).copied().unwrap_or_default(),
        };
        owners.push(OwnerLoad {
            owner_type: kind.clone(),
            owner_id: id.to_string(),
            name: name.to_string(),
            emoji: emoji.to_string(),
            live: *live,
        });
    }
    owners.sort_by(|a, b| b.live.cmp(&a.live).then_with(|| a.name.cmp(&b.name)));
    let people = people
        .iter()
        .map(|p| PersonLoad {
            id: p.id.clone(),
            name: p.name.clone(),
            role: p.role.clone(),
            presence: p.presence.clone(),
            available: p.available,
            load: load_of.get(p.id.as_str()).copied().unwrap_or(0),
            max_conversations: p.max_conversations,
        })
        .collect();
    Ok(HttpResponse::Ok().json(LiveBoard {
        at: Utc::now(),
        queue: QueueView {
            length,
            oldest_queued_at: oldest.map(|t| t.and_utc()),
        },
        owners,
        people,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Colleague {
    pub id: String,
    pub name: String,
    /// admin | supervisor | agent
    pub role: String,
    /// online | away | offline
    pub presence: String,
    /// Takes conversations from the distributor.
    pub available: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamPresence {
    /// Every staff member of the tenant, by name.
    pub people: Vec<Colleague>,
}

/// Every staff role: who works in the tenant and who is online now (the inbox's "colleagues
/// online"); `presence` frames on `/ws` keep it current afterwards.
#[utoipa::path(get, path = "/api/v1/presence", tag = "users",
    responses((status = 200, body = TeamPresence)), security(("bearer" = [])))]
pub async fn presence(staff: Staff, store: web::Data<Store>) -> ApiResult<HttpResponse> {
    let tenant = staff.tenant_id.clone();
    let people = store.run(move |conn| board::people(conn, &tenant)).await?;
    Ok(HttpResponse::Ok().json(TeamPresence {
        people: people
            .into_iter()
            .map(|p| Colleague {
                id: p.id,
                name: p.name,
                role: p.role,
                presence: p.presence,
                available: p.available,
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Bot {
    pub id: String,
    pub name: String,
    pub emoji: String,
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BotList {
    /// By name.
    pub items: Vec<Bot>,
}

/// Every staff role: the AI agents the caller may talk with through
/// `POST /agents/{id}/chat/stream` (`domain::role::may_chat_with_agent`: live bots for
/// agents, any for admins and supervisors) — the inbox's bot chat picks one of these.
#[utoipa::path(get, path = "/api/v1/bots", tag = "agents",
    responses((status = 200, body = BotList)), security(("bearer" = [])))]
pub async fn bots(staff: Staff, store: web::Data<Store>) -> ApiResult<HttpResponse> {
    let tenant = staff.tenant_id.clone();
    let rows = store
        .run(move |conn| agents::list(conn, &tenant, i64::MAX, None))
        .await?;
    let mut items: Vec<Bot> = rows
        .into_iter()
        .filter(|a| {
            AgentStatus::parse(&a.status)
                .is_some_and(|status| may_chat_with_agent(staff.role, status, a.enabled))
        })
        .map(|a| Bot {
            id: a.id.0,
            name: a.name,
            emoji: a.emoji,
            description: a.description,
        })
        .collect();
    items.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(HttpResponse::Ok().json(BotList { items }))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/analytics/live", web::get().to(live))
        .route("/presence", web::get().to(presence))
        .route("/bots", web::get().to(bots));
}
