//! `/api/v1/departments`: sectors that human agents belong to (`users.department_ids`) and
//! that integrations and distribution route by. Every staff role reads; admins write.
//! Deleting a department unsets it where it was an integration's default or a
//! conversation's department.
//!
//! A department is a queue (`domain::department`): `categories` routes classified
//! conversations to it (a category belongs to at most one department of a tenant),
//! `max_conversations` caps what it handles at once and `first_response_seconds` is its own
//! first-response SLA.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::pagination::{Page, PageQuery};
use super::resource;
use crate::auth::Staff;
use crate::domain::classification::Category;
use crate::domain::department::{self, MAX_DEPARTMENT_CONVERSATIONS, MAX_FIRST_RESPONSE_SECONDS};
use crate::domain::{DepartmentId, Role};
use crate::engine::Engine;
use crate::store::departments::{self, Department, DepartmentChanges};
use crate::store::executor::transaction;
use crate::store::{self, Store, StoreError};

const MAX_NAME_CHARS: usize = 100;
const MAX_DESCRIPTION_CHARS: usize = 2000;

#[derive(Debug, Serialize, ToSchema)]
pub struct DepartmentView {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Conversations the department handles at once; 0 = no cap.
    pub max_conversations: u32,
    /// First-response target; 0 = the tenant's `first_response_minutes`.
    pub first_response_seconds: u32,
    /// Classification categories routed here: technical, commercial, support, complaint,
    /// praise.
    pub categories: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl DepartmentView {
    fn from_row(d: Department) -> ApiResult<Self> {
        let queue = d.queue();
        Ok(DepartmentView {
            max_conversations: queue.max_conversations,
            first_response_seconds: queue.first_response_seconds,
            categories: queue
                .categories
                .iter()
                .map(|c| c.as_str().to_string())
                .collect(),
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
    /// 0 (default) = no cap.
    #[serde(default)]
    pub max_conversations: u32,
    /// 0 (default) = the tenant's `first_response_minutes`.
    #[serde(default)]
    pub first_response_seconds: u32,
    /// Categories routed here (English or Portuguese names).
    #[serde(default)]
    pub categories: Vec<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDepartment {
    pub name: Option<String>,
    pub description: Option<String>,
    pub max_conversations: Option<u32>,
    pub first_response_seconds: Option<u32>,
    /// Replaces the categories routed here.
    pub categories: Option<Vec<String>>,
}

/// The queue settings checked: `(max_conversations, first_response_seconds)` as stored.
fn queue_numbers(max: Option<u32>, seconds: Option<u32>) -> ApiResult<(Option<i32>, Option<i32>)> {
    let max = max
        .map(|m| {
            (m <= MAX_DEPARTMENT_CONVERSATIONS)
                .then(|| i32::try_from(m).ok())
                .flatten()
                .ok_or_else(|| {
                    ApiError::field(
                        "max_conversations",
                        &format!("must be at most {MAX_DEPARTMENT_CONVERSATIONS} (0 = no cap)"),
                    )
                })
        })
        .transpose()?;
    let seconds = seconds
        .map(|s| {
            (s <= MAX_FIRST_RESPONSE_SECONDS)
                .then(|| i32::try_from(s).ok())
                .flatten()
                .ok_or_else(|| {
                    ApiError::field(
                        "first_response_seconds",
                        &format!(
                            "must be at most {MAX_FIRST_RESPONSE_SECONDS} (0 = the tenant's target)"
                        ),
                    )
                })
        })
        .transpose()?;
    Ok((max, seconds))
}

/// The categories parsed, as stored (a JSON list of API names).
fn categories_column(raw: &[String]) -> ApiResult<(Vec<Category>, String)> {
    let parsed =
        department::parse_categories(raw).map_err(|e| ApiError::field("categories", &e))?;
    let names: Vec<&str> = parsed.iter().map(|c| c.as_str()).collect();
    let json = serde_json::to_string(&names).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((parsed, json))
}

/// A category already routed to another department of the tenant (checked in the write's
/// connection, so two admins cannot both map it).
fn category_clash(
    conn: &mut crate::store::DbConn,
    tenant: &crate::domain::TenantId,
    wanted: &[Category],
    except: Option<&DepartmentId>,
) -> Result<Option<String>, StoreError> {
    let queues = departments::queues(conn, tenant)?;
    Ok(
        department::taken_category(wanted, &queues, except.map(DepartmentId::as_str))
            .map(|(c, _)| c.as_str().to_string()),
    )
}

fn clash_error(category: String) -> ApiError {
    ApiError::Conflict(format!(
        "the category {category} is already routed to another department"
    ))
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
    engine: web::Data<Engine>,
    body: web::Json<CreateDepartment>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let now = store::now();
    let (max, seconds) = queue_numbers(
        Some(body.max_conversations),
        Some(body.first_response_seconds),
    )?;
    let (categories, categories_json) = categories_column(&body.categories)?;
    let row = Department {
        id: DepartmentId::new(),
        tenant_id: staff.tenant_id.clone(),
        name: resource::required_text("name", &body.name, MAX_NAME_CHARS)?,
        description: resource::free_text("description", &body.description, MAX_DESCRIPTION_CHARS)?,
        created_at: now,
        updated_at: now,
        max_conversations: max.unwrap_or(0),
        first_response_seconds: seconds.unwrap_or(0),
        categories: categories_json,
    };
    let stored = store
        .run(move |conn| {
            transaction(conn, |conn| {
                if let Some(clash) = category_clash(conn, &row.tenant_id, &categories, None)? {
                    return Ok(Err(clash));
                }
                departments::insert(conn, &row)?;
                Ok(Ok(row))
            })
        })
        .await
        .map_err(taken)?
        .map_err(clash_error)?;
    super::distribution::routing_changed(&engine, &staff.tenant_id);
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
    engine: web::Data<Engine>,
    path: web::Path<String>,
    body: web::Json<UpdateDepartment>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let id = DepartmentId(resource::path_id(&path)?);
    let (max, seconds) = queue_numbers(body.max_conversations, body.first_response_seconds)?;
    let categories = body
        .categories
        .as_deref()
        .map(categories_column)
        .transpose()?;
    let changes = DepartmentChanges {
        max_conversations: max,
        first_response_seconds: seconds,
        categories: categories.as_ref().map(|(_, json)| json.clone()),
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
    let wanted = categories.map(|(parsed, _)| parsed);
    let row = store
        .run(move |conn| {
            transaction(conn, |conn| {
                if let Some(wanted) = &wanted {
                    if let Some(clash) = category_clash(conn, &tenant, wanted, Some(&id))? {
                        return Ok(Err(clash));
                    }
                }
                departments::update(conn, &tenant, &id, &changes).map(Ok)
            })
        })
        .await
        .map_err(taken)?
        .map_err(clash_error)?;
    super::distribution::routing_changed(&engine, &staff.tenant_id);
    Ok(HttpResponse::Ok().json(DepartmentView::from_row(row)?))
}

#[utoipa::path(delete, path = "/api/v1/departments/{id}", tag = "departments",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let id = DepartmentId(resource::path_id(&path)?);
    let tenant = staff.tenant_id.clone();
    store
        .run(move |conn| departments::delete(conn, &tenant, &id))
        .await?;
    super::distribution::routing_changed(&engine, &staff.tenant_id);
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
