//! `/api/v1/tags`: the tenant's labels, unique by name, with an optional `#rrggbb` colour.
//! Every staff role reads; admins and supervisors write.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::pagination::{Page, PageQuery};
use super::resource;
use crate::auth::Staff;
use crate::domain::Role;
use crate::store::tags::{self, Tag, TagChanges};
use crate::store::{self, Store, StoreError};

const MAX_NAME_CHARS: usize = 50;

#[derive(Debug, Serialize, ToSchema)]
pub struct TagView {
    pub id: String,
    pub name: String,
    /// `#rrggbb`, or empty.
    pub color: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl TagView {
    fn from_row(t: Tag) -> ApiResult<Self> {
        Ok(TagView {
            id: t.id,
            name: t.name,
            color: t.color,
            created_at: t.created_at.and_utc(),
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTag {
    pub name: String,
    #[serde(default)]
    pub color: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTag {
    pub name: Option<String>,
    pub color: Option<String>,
}

fn parse_color(raw: &str) -> ApiResult<String> {
    let color = raw.trim().to_ascii_lowercase();
    let valid = color.is_empty()
        || (color.len() == 7
            && color.starts_with('#')
            && color[1..].chars().all(|c| c.is_ascii_hexdigit()));
    if valid {
        Ok(color)
    } else {
        Err(ApiError::field("color", "must be #rrggbb or empty"))
    }
}

fn taken(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::Conflict("a tag with this name already exists".into()),
        other => other.into(),
    }
}

#[utoipa::path(get, path = "/api/v1/tags", tag = "tags", params(PageQuery),
    responses((status = 200, description = "A page of tags", body = Page<TagView>)),
    security(("bearer" = [])))]
pub async fn list(
    staff: Staff,
    store: web::Data<Store>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let (limit, after) = resource::page(&query)?;
    let tenant = staff.tenant_id.clone();
    let rows = store
        .run(move |conn| tags::list(conn, &tenant, limit + 1, after.as_deref()))
        .await?;
    let page = Page::from_rows(rows, limit, |t| t.id.clone(), TagView::from_row)?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(post, path = "/api/v1/tags", tag = "tags", request_body = CreateTag,
    responses((status = 201, body = TagView), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    staff: Staff,
    store: web::Data<Store>,
    body: web::Json<CreateTag>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let row = Tag {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: staff.tenant_id.clone(),
        name: resource::required_text("name", &body.name, MAX_NAME_CHARS)?,
        color: parse_color(&body.color)?,
        created_at: store::now(),
    };
    let stored = store
        .run(move |conn| {
            tags::insert(conn, &row)?;
            Ok(row)
        })
        .await
        .map_err(taken)?;
    Ok(HttpResponse::Created().json(TagView::from_row(stored)?))
}

#[utoipa::path(get, path = "/api/v1/tags/{id}", tag = "tags",
    responses((status = 200, body = TagView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = resource::path_id(&path)?;
    let tenant = staff.tenant_id.clone();
    let row = store
        .run(move |conn| tags::find(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::Ok().json(TagView::from_row(row)?))
}

#[utoipa::path(patch, path = "/api/v1/tags/{id}", tag = "tags", request_body = UpdateTag,
    responses((status = 200, body = TagView), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
    body: web::Json<UpdateTag>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let id = resource::path_id(&path)?;
    let changes = TagChanges {
        name: body
            .name
            .as_deref()
            .map(|n| resource::required_text("name", n, MAX_NAME_CHARS))
            .transpose()?,
        color: body.color.as_deref().map(parse_color).transpose()?,
    };
    let tenant = staff.tenant_id.clone();
    let row = if changes.name.is_none() && changes.color.is_none() {
        store
            .run(move |conn| tags::find(conn, &tenant, &id))
            .await?
    } else {
        store
            .run(move |conn| tags::update(conn, &tenant, &id, &changes))
            .await
            .map_err(taken)?
    };
    Ok(HttpResponse::Ok().json(TagView::from_row(row)?))
}

#[utoipa::path(delete, path = "/api/v1/tags/{id}", tag = "tags",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let id = resource::path_id(&path)?;
    let tenant = staff.tenant_id.clone();
    store
        .run(move |conn| tags::delete(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/tags")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/tags/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}
