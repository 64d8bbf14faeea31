//! `/api/v1/activities`: tasks, calls, meetings, e-mails, notes and follow-ups, attached to a
//! contact, a conversation and/or a user (who must be of the caller's tenant). Every staff
//! role reads and writes them, an agent only within its reach (`domain::role`). Filters: `contact_id`, `conversation_id`, `user_id`, `kind`,
//! `done`, `due_before`, `due_after`.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult};
use super::pagination::Page;
use super::resource;
use crate::auth::Staff;
use crate::domain::agent::nullable;
use crate::domain::role::listing_reach;
use crate::domain::{ContactId, ConversationId, TenantId, UserId};
use crate::store::activities::{self, Activity, ActivityChanges, ActivityFilter};
use crate::store::{self, contacts, conversations, json_column, users, DbConn, Store, StoreError};

pub const KINDS: [&str; 6] = ["task", "call", "meeting", "email", "note", "follow_up"];
const MAX_TITLE_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 10_000;

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityView {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub description: String,
    pub contact_id: Option<String>,
    pub conversation_id: Option<String>,
    pub user_id: Option<String>,
    pub due_at: Option<chrono::DateTime<chrono::Utc>>,
    pub done: bool,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl ActivityView {
    fn from_row(a: Activity) -> ApiResult<Self> {
        Ok(ActivityView {
            data: json_column(&a.data, "activities.data")?,
            id: a.id,
            kind: a.kind,
            title: a.title,
            description: a.description,
            contact_id: a.contact_id,
            conversation_id: a.conversation_id,
            user_id: a.user_id,
            due_at: a.due_at.map(|t| t.and_utc()),
            done: a.done,
            created_at: a.created_at.and_utc(),
            updated_at: a.updated_at.and_utc(),
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateActivity {
    /// task | call | meeting | email | note | follow_up
    pub kind: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub contact_id: Option<String>,
    pub conversation_id: Option<String>,
    /// Who it is for; default: nobody in particular.
    pub user_id: Option<String>,
    /// RFC 3339.
    pub due_at: Option<String>,
    #[serde(default)]
    pub done: bool,
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
}

/// Keys absent stay as they are; `null` clears the optional ones.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateActivity {
    pub kind: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub contact_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub conversation_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub user_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub due_at: Option<Option<String>>,
    pub done: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ActivityQuery {
    pub contact_id: Option<String>,
    pub conversation_id: Option<String>,
    pub user_id: Option<String>,
    pub kind: Option<String>,
    pub done: Option<bool>,
    /// RFC 3339: due strictly before.
    pub due_before: Option<String>,
    /// RFC 3339: due at or after.
    pub due_after: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

fn parse_kind(raw: &str) -> ApiResult<String> {
    let kind = raw.trim();
    if KINDS.contains(&kind) {
        Ok(kind.to_string())
    } else {
        Err(ApiError::field(
            "kind",
            "must be task, call, meeting, email, note or follow_up",
        ))
    }
}

/// The ids an activity points at, checked to be of the tenant.
#[derive(Debug, Default, Clone)]
struct Links {
    contact_id: Option<String>,
    conversation_id: Option<String>,
    user_id: Option<String>,
}

/// The first link that is not of the tenant, if any.
fn check_links(
    conn: &mut DbConn,
    tenant: &TenantId,
    links: &Links,
) -> Result<Option<&'static str>, StoreError> {
    fn known<T>(found: Result<T, StoreError>) -> Result<bool, StoreError> {
        match found {
            Ok(_) => Ok(true),
            Err(StoreError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }
    if let Some(id) = &links.contact_id {
        if !known(contacts::find(conn, tenant, &ContactId(id.clone())))? {
            return Ok(Some("contact_id"));
        }
    }
    if let Some(id) = &links.conversation_id {
        if !known(conversations::find(
            conn,
            tenant,
            &ConversationId(id.clone()),
        ))? {
            return Ok(Some("conversation_id"));
        }
    }
    if let Some(id) = &links.user_id {
        if !known(users::find(conn, tenant, &UserId(id.clone())))? {
            return Ok(Some("user_id"));
        }
    }
    Ok(None)
}

/// Runs the link check on a store thread (an id of another tenant reads as unknown), then
/// refuses links the caller may not reach.
async fn verify_links(store: &Store, staff: &Staff, links: Links) -> ApiResult<()> {
    let tenant = staff.tenant_id.clone();
    let checked = links.clone();
    if let Some(field) = store
        .run(move |conn| check_links(conn, &tenant, &checked))
        .await?
    {
        return Err(ApiError::field(field, "is not one of this tenant's"));
    }
    within_reach(store, staff, &links).await
}

/// Refuses an activity's links (contact, conversation) that the caller may not read: an
/// agent reaches an activity only through a contact and conversation it may open.
async fn within_reach(store: &Store, staff: &Staff, links: &Links) -> ApiResult<()> {
    if let Some(contact) = &links.contact_id {
        super::contacts::readable(store, staff, &ContactId(contact.clone())).await?;
    }
    if let Some(conversation) = &links.conversation_id {
        super::conversations::visible(store, staff, conversation).await?;
    }
    Ok(())
}

fn optional_id(field: &str, raw: Option<&str>) -> ApiResult<Option<String>> {
    raw.map(|r| resource::field_id(field, r)).transpose()
}

#[utoipa::path(get, path = "/api/v1/activities", tag = "activities", params(ActivityQuery),
    responses((status = 200, description = "A page of activities, newest first", body = Page<ActivityView>)),
    security(("bearer" = [])))]
pub async fn list(
    staff: Staff,
    store: web::Data<Store>,
    query: web::Query<ActivityQuery>,
) -> ApiResult<HttpResponse> {
    let limit = resource::limit(query.limit)?;
    let before = resource::cursor(query.cursor.as_deref())?;
    let filter = ActivityFilter {
        contact_id: optional_id("contact_id", query.contact_id.as_deref())?,
        conversation_id: optional_id("conversation_id", query.conversation_id.as_deref())?,
        user_id: optional_id("user_id", query.user_id.as_deref())?,
        kind: query.kind.as_deref().map(parse_kind).transpose()?,
        done: query.done,
        due_before: query
            .due_before
            .as_deref()
            .map(|t| resource::timestamp("due_before", t))
            .transpose()?,
        due_after: query
            .due_after
            .as_deref()
            .map(|t| resource::timestamp("due_after", t))
            .transpose()?,
        agent_reach: listing_reach(staff.role, &staff.user_id),
    };
    within_reach(
        &store,
        &staff,
        &Links {
            contact_id: filter.contact_id.clone(),
            conversation_id: filter.conversation_id.clone(),
            user_id: None,
        },
    )
    .await?;
    let tenant = staff.tenant_id.clone();
    let rows = store
        .run(move |conn| activities::list(conn, &tenant, &filter, limit + 1, before.as_deref()))
        .await?;
    let page = Page::from_rows(rows, limit, |a| a.id.clone(), ActivityView::from_row)?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(post, path = "/api/v1/activities", tag = "activities", request_body = CreateActivity,
    responses((status = 201, body = ActivityView), (status = 400, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    staff: Staff,
    store: web::Data<Store>,
    body: web::Json<CreateActivity>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let links = Links {
        contact_id: optional_id("contact_id", body.contact_id.as_deref())?,
        conversation_id: optional_id("conversation_id", body.conversation_id.as_deref())?,
        user_id: optional_id("user_id", body.user_id.as_deref())?,
    };
    let now = store::now();
    let row = Activity {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: staff.tenant_id.clone(),
        contact_id: links.contact_id.clone(),
        conversation_id: links.conversation_id.clone(),
        user_id: links.user_id.clone(),
        kind: parse_kind(&body.kind)?,
        title: resource::required_text("title", &body.title, MAX_TITLE_CHARS)?,
        description: resource::free_text("description", &body.description, MAX_DESCRIPTION_CHARS)?,
        due_at: body
            .due_at
            .as_deref()
            .map(|t| resource::timestamp("due_at", t))
            .transpose()?,
        done: body.done,
        data: match &body.data {
            Some(v) => resource::json_object("data", v)?,
            None => "{}".into(),
        },
        created_at: now,
        updated_at: now,
    };
    verify_links(&store, &staff, links).await?;
    let stored = store
        .run(move |conn| {
            activities::insert(conn, &row)?;
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Created().json(ActivityView::from_row(stored)?))
}

#[utoipa::path(get, path = "/api/v1/activities/{id}", tag = "activities",
    responses((status = 200, body = ActivityView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = resource::path_id(&path)?;
    let row = readable_activity(&store, &staff, &id).await?;
    Ok(HttpResponse::Ok().json(ActivityView::from_row(row)?))
}

#[utoipa::path(patch, path = "/api/v1/activities/{id}", tag = "activities", request_body = UpdateActivity,
    responses((status = 200, body = ActivityView), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
    body: web::Json<UpdateActivity>,
) -> ApiResult<HttpResponse> {
    let id = resource::path_id(&path)?;
    readable_activity(&store, &staff, &id).await?;
    let body = body.into_inner();
    let link = |field: &str, value: &Option<Option<String>>| -> ApiResult<Option<Option<String>>> {
        value
            .as_ref()
            .map(|v| optional_id(field, v.as_deref()))
            .transpose()
    };
    let changes = ActivityChanges {
        contact_id: link("contact_id", &body.contact_id)?,
        conversation_id: link("conversation_id", &body.conversation_id)?,
        user_id: link("user_id", &body.user_id)?,
        kind: body.kind.as_deref().map(parse_kind).transpose()?,
        title: body
            .title
            .as_deref()
            .map(|t| resource::required_text("title", t, MAX_TITLE_CHARS))
            .transpose()?,
        description: body
            .description
            .as_deref()
            .map(|d| resource::free_text("description", d, MAX_DESCRIPTION_CHARS))
            .transpose()?,
        due_at: body
            .due_at
            .as_ref()
            .map(|v| {
                v.as_deref()
                    .map(|t| resource::timestamp("due_at", t))
                    .transpose()
            })
            .transpose()?,
        done: body.done,
        data: body
            .data
            .as_ref()
            .map(|v| resource::json_object("data", v))
            .transpose()?,
        updated_at: Some(store::now()),
    };
    let links = Links {
        contact_id: changes.contact_id.clone().flatten(),
        conversation_id: changes.conversation_id.clone().flatten(),
        user_id: changes.user_id.clone().flatten(),
    };
    verify_links(&store, &staff, links).await?;
    let tenant = staff.tenant_id.clone();
    let row = store
        .run(move |conn| activities::update(conn, &tenant, &id, &changes))
        .await?;
    Ok(HttpResponse::Ok().json(ActivityView::from_row(row)?))
}

#[utoipa::path(delete, path = "/api/v1/activities/{id}", tag = "activities",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = resource::path_id(&path)?;
    readable_activity(&store, &staff, &id).await?;
    let tenant = staff.tenant_id.clone();
    store
        .run(move |conn| activities::delete(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Loads an activity, refusing it when it hangs off a contact or conversation the caller
/// may not read.
async fn readable_activity(store: &Store, staff: &Staff, id: &str) -> ApiResult<Activity> {
    let (tenant, id) = (staff.tenant_id.clone(), id.to_owned());
    let row = store
        .run(move |conn| activities::find(conn, &tenant, &id))
        .await?;
    let links = Links {
        contact_id: row.contact_id.clone(),
        conversation_id: row.conversation_id.clone(),
        user_id: None,
    };
    within_reach(store, staff, &links).await?;
    Ok(row)
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/activities")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/activities/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}
