//! `/api/v1/departments`: sectors that human agents belong to (`users.department_ids`) and
//! that integrations and distribution route by. Every staff role reads; admins write.
//! Deleting a department unsets it where it was an integration's default or a
//! conversation's department.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::pagination::{Page, PageQuery};
use super::resource;
use crate::auth::Staff;
use crate::domain::{DepartmentId, Role};
use crate::store::departments::{self, Department, DepartmentChanges};
use crate::store::{self, Store, StoreError};

const MAX_NAME_CHARS: usize = 100;
const MAX_DESCRIPTION_CHARS: usize = 2000;

#[derive(Debug, Serialize, ToSchema)]
pub struct DepartmentView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl DepartmentView {
    fn from_row(d: Department) -> ApiResult<Self> {
        Ok(DepartmentView {
            id: d.id.0,
            name: d.name,
            description: d.description,
            created_at: d.created_at.and_utc(),
            updated_at: d.updated_at.and_utc(),
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDepartment {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDepartment {
    pub name: Option<String>,
    pub description: Option<String>,
}

fn is_admin(role: Role) -> bool {
    role == Role::Admin
}

fn taken(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => {
            ApiError::Conflict("a department with this name already exists".into())
        }
        other => other.into(),
    }
}

#[utoipa::path(get, path = "/api/v1/departments", tag = "departments", params(PageQuery),
    responses((status = 200, description = "A page of departments", body = Page<DepartmentView>)),
    security(("bearer" = [])))]
pub async fn list(
    staff: Staff,
    store: web::Data<Store>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let (limit, after) = resource::page(&query)?;
    let after = after.map(DepartmentId);
    let tenant = staff.tenant_id.clone();
    let rows = store
        .run(move |conn| departments::list(conn, &tenant, limit + 1, after.as_ref()))
        .await?;
    let page = Page::from_rows(rows, limit, |d| d.id.to_string(), DepartmentView::from_row)?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(post, path = "/api/v1/departments", tag = "departments", request_body = CreateDepartment,
    responses((status = 201, body = DepartmentView), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    staff: Staff,
    store: web::Data<Store>,
    body: web::Json<CreateDepartment>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let now = store::now();
    let row = Department {
        id: DepartmentId::new(),
        tenant_id: staff.tenant_id.clone(),
        name: resource::required_text("name", &body.name, MAX_NAME_CHARS)?,
        description: resource::free_text("description", &body.description, MAX_DESCRIPTION_CHARS)?,
        created_at: now,
        updated_at: now,
    };
    let stored = store
        .run(move |conn| {
            departments::insert(conn, &row)?;
            Ok(row)
        })
        .await
        .map_err(taken)?;
    Ok(HttpResponse::Created().json(DepartmentView::from_row(stored)?))
}

#[utoipa::path(get, path = "/api/v1/departments/{id}", tag = "departments",
    responses((status = 200, body = DepartmentView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = DepartmentId(resource::path_id(&path)?);
    let tenant = staff.tenant_id.clone();
    let row = store
        .run(move |conn| departments::find(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::Ok().json(DepartmentView::from_row(row)?))
}

#[utoipa::path(patch, path = "/api/v1/departments/{id}", tag = "departments", request_body = UpdateDepartment,
    responses((status = 200, body = DepartmentView), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
    body: web::Json<UpdateDepartment>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let id = DepartmentId(resource::path_id(&path)?);
    let changes = DepartmentChanges {
        name: body
            .name
            .as_deref()
            .map(|n| resource::required_text("name", n, MAX_NAME_CHARS))
            .transpose()?,
        description: body
            .description
            .as_deref()
            .map(|d| resource::free_text("description", d, MAX_DESCRIPTION_CHARS))
            .transpose()?,
        updated_at: Some(store::now()),
    };
    let tenant = staff.tenant_id.clone();
    let row = store
        .run(move |conn| departments::update(conn, &tenant, &id, &changes))
        .await
        .map_err(taken)?;
    Ok(HttpResponse::Ok().json(DepartmentView::from_row(row)?))
}

#[utoipa::path(delete, path = "/api/v1/departments/{id}", tag = "departments",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let id = DepartmentId(resource::path_id(&path)?);
    let tenant = staff.tenant_id.clone();
    store
        .run(move |conn| departments::delete(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/departments")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/departments/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}
