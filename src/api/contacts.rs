//! `/api/v1/contacts`: the tenant's customers. Every staff role reads and edits them (agents
//! work with the contacts of their conversations); contacts are never deleted here, since
//! their conversations hang on them. Filters: `q` (name, phone or e-mail contains),
//! `tag`, `integration_id`, `is_vip`.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult};
use super::pagination::Page;
use super::resource;
use crate::auth::Staff;
use crate::domain::agent::nullable;
use crate::domain::role::{listing_reach, may_read_contact};
use crate::domain::{validate, ContactId, IntegrationId};
use crate::store::contacts::{self, Contact};
use crate::store::contacts_admin::{self, ContactChanges, ContactFilter};
use crate::store::{self, json_column, Store};

const MAX_TAGS: usize = 50;
const MAX_TAG_CHARS: usize = 50;
const MAX_PHONE_CHARS: usize = 32;

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactView {
    pub id: String,
    /// The channel the contact came from, when it did.
    pub integration_id: Option<String>,
    /// The contact's id on that channel (WhatsApp: the JID).
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub is_vip: bool,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Value,
    /// Who served the contact last (`user` or `ai_agent`), for sticky assignment.
    pub last_owner_type: Option<String>,
    pub last_owner_id: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl ContactView {
    pub fn from_row(c: Contact) -> ApiResult<Self> {
        Ok(ContactView {
            tags: json_column(&c.tags, "contacts.tags")?,
            custom_fields: json_column(&c.custom_fields, "contacts.custom_fields")?,
            id: c.id.0,
            integration_id: c.integration_id.map(|i| i.0),
            external_id: c.external_id,
            name: c.name,
            phone: c.phone,
            email: c.email,
            is_vip: c.is_vip,
            last_owner_type: c.last_owner_type,
            last_owner_id: c.last_owner_id,
            created_at: c.created_at.and_utc(),
            updated_at: c.updated_at.and_utc(),
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContact {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    #[serde(default)]
    pub is_vip: bool,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Free-form JSON object (at most 16 KiB).
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Value>,
}

/// Keys absent stay as they are; `null` clears name, phone or e-mail.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateContact {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    pub is_vip: Option<bool>,
    /// Replaces the tags.
    pub tags: Option<Vec<String>>,
    /// Replaces the whole object.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ContactQuery {
    /// Name, phone or e-mail contains this (case-insensitive).
    pub q: Option<String>,
    pub tag: Option<String>,
    pub integration_id: Option<String>,
    pub is_vip: Option<bool>,
    /// Comma-separated contact ids (at most `limit`): these contacts in one call, e.g. the
    /// names of a page of conversations.
    pub ids: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

fn parse_name(raw: &str) -> ApiResult<String> {
    if let Some(reason) = validate::check_name(raw) {
        return Err(ApiError::field("name", reason));
    }
    Ok(raw.trim().to_string())
}

/// Digits with the usual separators (`+55 (11) 99999-8888`).
fn parse_phone(raw: &str) -> ApiResult<String> {
    let trimmed = raw.trim();
    let digits = trimmed.chars().filter(char::is_ascii_digit).count();
    let allowed = trimmed
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'));
    if !allowed || digits < 3 || trimmed.chars().count() > MAX_PHONE_CHARS {
        return Err(ApiError::field("phone", "is not a phone number"));
    }
    Ok(trimmed.to_string())
}

fn parse_email(raw: &str) -> ApiResult<String> {
    let email = validate::normalize_email(raw);
    if !validate::is_email(&email) {
        return Err(ApiError::field("email", "is not a valid e-mail address"));
    }
    Ok(email)
}

/// Trimmed, non-empty, each once.
pub fn parse_tags(raw: &[String]) -> ApiResult<String> {
    if raw.len() > MAX_TAGS {
        return Err(ApiError::field("tags", "must have at most 50 tags"));
    }
    let mut tags: Vec<String> = Vec::with_capacity(raw.len());
    for tag in raw {
        let tag = resource::required_text("tags", tag, MAX_TAG_CHARS)?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    Ok(serde_json::Value::from(tags).to_string())
}

#[utoipa::path(get, path = "/api/v1/contacts", tag = "contacts", params(ContactQuery),
    responses((status = 200, description = "A page of contacts, newest first", body = Page<ContactView>)),
    security(("bearer" = [])))]
pub async fn list(
    staff: Staff,
    store: web::Data<Store>,
    query: web::Query<ContactQuery>,
) -> ApiResult<HttpResponse> {
    let limit = resource::limit(query.limit)?;
    let before = resource::cursor(query.cursor.as_deref())?.map(ContactId);
    let integration_id = match query.integration_id.as_deref() {
        Some(raw) => Some(IntegrationId(resource::field_id("integration_id", raw)?)),
        None => None,
    };
    let ids = match query.ids.as_deref() {
        None => None,
        Some(raw) => {
            let ids = raw
                .split(',')
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(|id| resource::field_id("ids", id).map(ContactId))
                .collect::<ApiResult<Vec<_>>>()?;
            if ids.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
                return Err(ApiError::field("ids", "names more contacts than limit"));
            }
            Some(ids)
        }
    };
    let filter = ContactFilter {
        ids,
        q: query
            .q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_string),
        tag: query.tag.as_deref().map(str::trim).map(str::to_string),
        integration_id,
        is_vip: query.is_vip,
        agent_reach: listing_reach(staff.role, &staff.user_id),
    };
    let tenant = staff.tenant_id.clone();
    let rows = store
        .run(move |conn| contacts_admin::list(conn, &tenant, &filter, limit + 1, before.as_ref()))
        .await?;
    let page = Page::from_rows(rows, limit, |c| c.id.to_string(), ContactView::from_row)?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(post, path = "/api/v1/contacts", tag = "contacts", request_body = CreateContact,
    responses((status = 201, body = ContactView), (status = 400, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    staff: Staff,
    store: web::Data<Store>,
    body: web::Json<CreateContact>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let name = body.name.as_deref().map(parse_name).transpose()?;
    let phone = body.phone.as_deref().map(parse_phone).transpose()?;
    let email = body.email.as_deref().map(parse_email).transpose()?;
    if name.is_none() && phone.is_none() && email.is_none() {
        return Err(ApiError::validation(
            "a contact needs at least one of name, phone or email",
        ));
    }
    let tags = parse_tags(&body.tags)?;
    let custom_fields = match &body.custom_fields {
        Some(value) => resource::json_object("custom_fields", value)?,
        None => "{}".into(),
    };
    let now = store::now();
    let row = Contact {
        id: ContactId::new(),
        tenant_id: staff.tenant_id.clone(),
        integration_id: None,
        external_id: None,
        name,
        phone,
        email,
        is_vip: body.is_vip,
        tags,
        custom_fields,
        last_owner_type: None,
        last_owner_id: None,
        created_at: now,
        updated_at: now,
    };
    let stored = store
        .run(move |conn| {
            contacts_admin::insert(conn, &row)?;
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Created().json(ContactView::from_row(stored)?))
}

#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "contacts",
    responses((status = 200, body = ContactView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = ContactId(resource::path_id(&path)?);
    readable(&store, &staff, &id).await?;
    let tenant = staff.tenant_id.clone();
    let row = store
        .run(move |conn| contacts::find(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::Ok().json(ContactView::from_row(row)?))
}

#[utoipa::path(patch, path = "/api/v1/contacts/{id}", tag = "contacts", request_body = UpdateContact,
    responses((status = 200, body = ContactView), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
    body: web::Json<UpdateContact>,
) -> ApiResult<HttpResponse> {
    let id = ContactId(resource::path_id(&path)?);
    readable(&store, &staff, &id).await?;
    let body = body.into_inner();
    let changes = ContactChanges {
        name: body
            .name
            .map(|v| v.as_deref().map(parse_name).transpose())
            .transpose()?,
        phone: body
            .phone
            .map(|v| v.as_deref().map(parse_phone).transpose())
            .transpose()?,
        email: body
            .email
            .map(|v| v.as_deref().map(parse_email).transpose())
            .transpose()?,
        is_vip: body.is_vip,
        tags: body.tags.as_deref().map(parse_tags).transpose()?,
        custom_fields: body
            .custom_fields
            .as_ref()
            .map(|v| resource::json_object("custom_fields", v))
            .transpose()?,
        updated_at: Some(store::now()),
    };
    let tenant = staff.tenant_id.clone();
    let row = store
        .run(move |conn| contacts_admin::update(conn, &tenant, &id, &changes))
        .await?;
    Ok(HttpResponse::Ok().json(ContactView::from_row(row)?))
}

/// Refuses a contact the caller may not read (`domain::role::may_read_contact`): another
/// tenant's is a 404, one reached only through a colleague's conversations a 403.
pub async fn readable(store: &Store, staff: &Staff, contact: &ContactId) -> ApiResult<()> {
    let (tenant, id) = (staff.tenant_id.clone(), contact.clone());
    let owners = store
        .run(move |conn| {
            contacts::find(conn, &tenant, &id)?;
            crate::store::conversations::owners_for_contact(conn, &tenant, &id)
        })
        .await?;
    if may_read_contact(staff.role, &staff.user_id, &owners) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "the contact is reached only through someone else's conversations".into(),
        ))
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/contacts")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/contacts/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update)),
    );
}
