//! `/api/v1/contacts/{id}/memories`: what the AI agents remember about a contact, so an
//! operator can see it and erase it (privacy). Every staff role may read and erase, as they
//! may edit the contact. Erased memories are gone from the next prompt: turns read memories
//! from the store each time. Another tenant's contact is a plain 404.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiResult;
use super::resource;
use crate::auth::Staff;
use crate::domain::ContactId;
use crate::store::memories::{self, Memory};
use crate::store::{contacts, Store};

#[derive(Debug, Serialize, ToSchema)]
pub struct MemoryView {
    pub id: String,
    pub contact_id: String,
    /// The AI agent that remembers it; null when every agent of the tenant may use it
    /// (extracted while a human served the conversation).
    pub agent_id: Option<String>,
    /// email | phone | order | preference | problem | promise | fact
    pub kind: String,
    pub content: String,
    /// The conversation it was first extracted from.
    pub source_conversation_id: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last time the fact was seen again (memories in prompts are ranked by it).
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<Memory> for MemoryView {
    fn from(m: Memory) -> Self {
        MemoryView {
            id: m.id,
            contact_id: m.contact_id.0,
            agent_id: m.agent_id,
            kind: m.kind,
            content: m.content,
            source_conversation_id: m.source_conversation_id,
            created_at: m.created_at.and_utc(),
            updated_at: m.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemoryList {
    pub items: Vec<MemoryView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Erased {
    pub deleted: usize,
}

#[utoipa::path(get, path = "/api/v1/contacts/{id}/memories", tag = "contacts",
    responses((status = 200, body = MemoryList), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let contact = ContactId(resource::path_id(&path)?);
    super::contacts::readable(&store, &staff, &contact).await?;
    let tenant = staff.tenant_id.clone();
    let rows = store
        .run(move |conn| {
            contacts::find(conn, &tenant, &contact)?;
            memories::list(conn, &tenant, &contact)
        })
        .await?;
    Ok(HttpResponse::Ok().json(MemoryList {
        items: rows.into_iter().map(MemoryView::from).collect(),
    }))
}

#[utoipa::path(delete, path = "/api/v1/contacts/{id}/memories", tag = "contacts",
    responses((status = 200, body = Erased), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn erase_all(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let contact = ContactId(resource::path_id(&path)?);
    super::contacts::readable(&store, &staff, &contact).await?;
    let tenant = staff.tenant_id.clone();
    let deleted = store
        .run(move |conn| {
            contacts::find(conn, &tenant, &contact)?;
            memories::delete_all(conn, &tenant, &contact)
        })
        .await?;
    tracing::info!(tenant = %staff.tenant_id, user = %staff.user_id, deleted, "contact memories erased");
    Ok(HttpResponse::Ok().json(Erased { deleted }))
}

#[utoipa::path(delete, path = "/api/v1/contacts/{id}/memories/{memory_id}", tag = "contacts",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn erase_one(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (contact, memory) = path.into_inner();
    let contact = ContactId(resource::path_id(&contact)?);
    let memory = resource::path_id(&memory)?;
    super::contacts::readable(&store, &staff, &contact).await?;
    let tenant = staff.tenant_id.clone();
    store
        .run(move |conn| memories::delete_one(conn, &tenant, &contact, &memory))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/contacts/{id}/memories")
            .route(web::get().to(list))
            .route(web::delete().to(erase_all)),
    )
    .service(
        web::resource("/contacts/{id}/memories/{memory_id}").route(web::delete().to(erase_one)),
    );
}
