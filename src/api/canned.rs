//! `/api/v1/canned-responses`: shortcuts staff expand in replies (`/shortcut …`, see
//! `domain::canned`). Everyone sees the tenant's and their own; admins manage the tenant's,
//! each user their own. `GET ?q=prefix` is the composer's autocomplete.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult};
use super::resource;
use crate::auth::Staff;
use crate::domain::canned::{self, MAX_CONTENT_CHARS};
use crate::domain::Role;
use crate::store::canned::{self as store_canned, CannedChanges, CannedResponse};
use crate::store::{self, Store, StoreError};

/// Whose canned response it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The tenant's, shared by everyone (admins manage them).
    Tenant,
    /// The caller's own.
    Personal,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CannedView {
    pub id: String,
    /// Without the leading `/`.
    pub shortcut: String,
    pub content: String,
    pub scope: Scope,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl CannedView {
    fn from_row(row: CannedResponse) -> Self {
        CannedView {
            scope: if row.user_id.is_some() {
                Scope::Personal
            } else {
                Scope::Tenant
            },
            id: row.id,
            shortcut: row.shortcut,
            content: row.content,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CannedList {
    pub items: Vec<CannedView>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only shortcuts starting with this (with or without the `/`).
    pub q: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCanned {
    pub shortcut: String,
    pub content: String,
    /// Default `personal`; `tenant` needs an admin.
    #[serde(default)]
    pub scope: Option<Scope>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCanned {
    pub shortcut: Option<String>,
    pub content: Option<String>,
}

fn shortcut(raw: &str) -> ApiResult<String> {
    canned::normalize_shortcut(raw).map_err(|e| ApiError::field("shortcut", &e))
}

fn content(raw: &str) -> ApiResult<String> {
    resource::required_text("content", raw, MAX_CONTENT_CHARS)
}

fn taken(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::Conflict("this shortcut is already in use".into()),
        other => other.into(),
    }
}

/// Admins manage the tenant's; everyone their own; another user's is not there at all.
fn may_manage(staff: &Staff, row: &CannedResponse) -> ApiResult<()> {
    match &row.user_id {
        Some(owner) if owner == staff.user_id.as_str() => Ok(()),
        Some(_) => Err(ApiError::NotFound),
        None if staff.role == Role::Admin => Ok(()),
        None => Err(ApiError::Forbidden(
            "only admins manage the tenant's canned responses".into(),
        )),
    }
}

#[utoipa::path(get, path = "/api/v1/canned-responses", tag = "canned-responses", params(ListQuery),
    responses((status = 200, description = "The tenant's and the caller's own, by shortcut", body = CannedList)),
    security(("bearer" = [])))]
pub async fn list(
    staff: Staff,
    store: web::Data<Store>,
    query: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let prefix = match query.q.as_deref().map(str::trim) {
        None | Some("") | Some("/") => None,
        Some(raw) => Some(shortcut(raw).map_err(|_| {
            ApiError::field("q", "must be the start of a shortcut (a-z, 0-9, _ and -)")
        })?),
    };
    let tenant = staff.tenant_id.clone();
    let user = staff.user_id.clone();
    let rows = store
        .run(move |conn| store_canned::visible(conn, &tenant, &user, prefix.as_deref()))
        .await?;
    Ok(HttpResponse::Ok().json(CannedList {
        items: rows.into_iter().map(CannedView::from_row).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/canned-responses", tag = "canned-responses", request_body = CreateCanned,
    responses((status = 201, body = CannedView), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    staff: Staff,
    store: web::Data<Store>,
    body: web::Json<CreateCanned>,
) -> ApiResult<HttpResponse> {
    let scope = body.scope.unwrap_or(Scope::Personal);
    if scope == Scope::Tenant && staff.role != Role::Admin {
        return Err(ApiError::Forbidden(
            "only admins manage the tenant's canned responses".into(),
        ));
    }
    let now = store::now();
    let row = CannedResponse {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: staff.tenant_id.clone(),
        user_id: (scope == Scope::Personal).then(|| staff.user_id.to_string()),
        shortcut: shortcut(&body.shortcut)?,
        content: content(&body.content)?,
        created_at: now,
        updated_at: now,
    };
    let stored = store
        .run(move |conn| {
            store_canned::insert(conn, &row)?;
            Ok(row)
        })
        .await
        .map_err(taken)?;
    Ok(HttpResponse::Created().json(CannedView::from_row(stored)))
}

#[utoipa::path(patch, path = "/api/v1/canned-responses/{id}", tag = "canned-responses", request_body = UpdateCanned,
    responses((status = 200, body = CannedView), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
    body: web::Json<UpdateCanned>,
) -> ApiResult<HttpResponse> {
    let id = resource::path_id(&path)?;
    let changes = CannedChanges {
        shortcut: body.shortcut.as_deref().map(shortcut).transpose()?,
        content: body.content.as_deref().map(content).transpose()?,
        updated_at: Some(store::now()),
    };
    let tenant = staff.tenant_id.clone();
    let probe = id.clone();
    let row = store
        .run(move |conn| store_canned::find(conn, &tenant, &probe))
        .await?;
    may_manage(&staff, &row)?;
    let tenant = staff.tenant_id.clone();
    let row = store
        .run(move |conn| store_canned::update(conn, &tenant, &id, &changes))
        .await
        .map_err(taken)?;
    Ok(HttpResponse::Ok().json(CannedView::from_row(row)))
}

#[utoipa::path(delete, path = "/api/v1/canned-responses/{id}", tag = "canned-responses",
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = resource::path_id(&path)?;
    let tenant = staff.tenant_id.clone();
    let probe = id.clone();
    let row = store
        .run(move |conn| store_canned::find(conn, &tenant, &probe))
        .await?;
    may_manage(&staff, &row)?;
    let tenant = staff.tenant_id.clone();
    store
        .run(move |conn| store_canned::delete(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/canned-responses")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/canned-responses/{id}")
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}
