//! `/api/v1/funnels` and `/api/v1/funnels/{id}/stages`: pipelines and their ordered stages
//! (what `move_to_stage` automations and tools move conversations through). Every staff role
//! reads; admins write. A funnel is returned with its stages in order.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::pagination::{Page, PageQuery};
use super::resource;
use crate::auth::Staff;
use crate::domain::Role;
use crate::store::funnels::{self, Funnel, Stage, StageChanges};
use crate::store::{self, Store, StoreError};

const MAX_NAME_CHARS: usize = 100;
const MAX_STAGES: usize = 50;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StageView {
    pub id: String,
    pub funnel_id: String,
    pub name: String,
    pub position: i32,
}

impl From<Stage> for StageView {
    fn from(s: Stage) -> Self {
        StageView {
            id: s.id,
            funnel_id: s.funnel_id,
            name: s.name,
            position: s.position,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelView {
    pub id: String,
    pub name: String,
    pub stages: Vec<StageView>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl FunnelView {
    fn new(f: Funnel, stages: Vec<StageView>) -> Self {
        FunnelView {
            id: f.id,
            name: f.name,
            stages,
            created_at: f.created_at.and_utc(),
            updated_at: f.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFunnel {
    pub name: String,
    /// Stage names in order (optional; stages can be added later).
    #[serde(default)]
    pub stages: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFunnel {
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStage {
    pub name: String,
    /// Default: after the last stage.
    pub position: Option<i32>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStage {
    pub name: Option<String>,
    pub position: Option<i32>,
}

fn is_admin(role: Role) -> bool {
    role == Role::Admin
}

fn taken(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => {
            ApiError::Conflict("a funnel with this name already exists".into())
        }
        other => other.into(),
    }
}

fn check_position(position: i32) -> ApiResult<i32> {
    if (0..=10_000).contains(&position) {
        Ok(position)
    } else {
        Err(ApiError::field("position", "must be between 0 and 10000"))
    }
}

fn new_stage(staff: &Staff, funnel: &str, name: String, position: i32) -> Stage {
    let now = store::now();
    Stage {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: staff.tenant_id.clone(),
        funnel_id: funnel.to_string(),
        name,
        position,
        created_at: now,
        updated_at: now,
    }
}

async fn view(store: &Store, staff: &Staff, funnel: Funnel) -> ApiResult<FunnelView> {
    let tenant = staff.tenant_id.clone();
    let ids = vec![funnel.id.clone()];
    let stages = store
        .run(move |conn| funnels::stages_of(conn, &tenant, &ids))
        .await?;
    Ok(FunnelView::new(
        funnel,
        stages.into_iter().map(StageView::from).collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/funnels", tag = "funnels", params(PageQuery),
    responses((status = 200, description = "A page of funnels with their stages", body = Page<FunnelView>)),
    security(("bearer" = [])))]
pub async fn list(
    staff: Staff,
    store: web::Data<Store>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let (limit, after) = resource::page(&query)?;
    let tenant = staff.tenant_id.clone();
    let (rows, stages) = store
        .run(move |conn| {
            let rows = funnels::list(conn, &tenant, limit + 1, after.as_deref())?;
            let ids: Vec<String> = rows.iter().map(|f| f.id.clone()).collect();
            let mut by_funnel: HashMap<String, Vec<StageView>> = HashMap::new();
            for stage in funnels::stages_of(conn, &tenant, &ids)? {
                by_funnel
                    .entry(stage.funnel_id.clone())
                    .or_default()
                    .push(stage.into());
            }
            Ok((rows, by_funnel))
        })
        .await?;
    let page = Page::from_rows(
        rows,
        limit,
        |f| f.id.clone(),
        |f| {
            let own = stages.get(&f.id).cloned().unwrap_or_default();
            Ok(FunnelView::new(f, own))
        },
    )?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(post, path = "/api/v1/funnels", tag = "funnels", request_body = CreateFunnel,
    responses((status = 201, body = FunnelView), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    staff: Staff,
    store: web::Data<Store>,
    body: web::Json<CreateFunnel>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let name = resource::required_text("name", &body.name, MAX_NAME_CHARS)?;
    if body.stages.len() > MAX_STAGES {
        return Err(ApiError::field("stages", "must have at most 50 stages"));
    }
    let now = store::now();
    let funnel = Funnel {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: staff.tenant_id.clone(),
        name,
        created_at: now,
        updated_at: now,
    };
    let mut stages = Vec::with_capacity(body.stages.len());
    for (position, stage) in body.stages.iter().enumerate() {
        let name = resource::required_text("stages", stage, MAX_NAME_CHARS)?;
        stages.push(new_stage(
            &staff,
            &funnel.id,
            name,
            i32::try_from(position).unwrap_or(i32::MAX),
        ));
    }
    let row = funnel.clone();
    let created = stages.clone();
    store
        .run(move |conn| funnels::insert(conn, &row, &created))
        .await
        .map_err(taken)?;
    Ok(HttpResponse::Created().json(FunnelView::new(
        funnel,
        stages.into_iter().map(StageView::from).collect(),
    )))
}

#[utoipa::path(get, path = "/api/v1/funnels/{id}", tag = "funnels",
    responses((status = 200, body = FunnelView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = resource::path_id(&path)?;
    let tenant = staff.tenant_id.clone();
    let funnel = store
        .run(move |conn| funnels::find(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::Ok().json(view(&store, &staff, funnel).await?))
}

#[utoipa::path(patch, path = "/api/v1/funnels/{id}", tag = "funnels", request_body = UpdateFunnel,
    responses((status = 200, body = FunnelView), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
    body: web::Json<UpdateFunnel>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let id = resource::path_id(&path)?;
    let name = resource::required_text("name", &body.name, MAX_NAME_CHARS)?;
    let tenant = staff.tenant_id.clone();
    let funnel = store
        .run(move |conn| funnels::rename(conn, &tenant, &id, &name))
        .await
        .map_err(taken)?;
    Ok(HttpResponse::Ok().json(view(&store, &staff, funnel).await?))
}

#[utoipa::path(delete, path = "/api/v1/funnels/{id}", tag = "funnels",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let id = resource::path_id(&path)?;
    let tenant = staff.tenant_id.clone();
    store
        .run(move |conn| funnels::delete(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/funnels/{id}/stages", tag = "funnels",
    responses((status = 200, description = "The funnel's stages in order", body = [StageView]),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_stages(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = resource::path_id(&path)?;
    let tenant = staff.tenant_id.clone();
    let stages = store
        .run(move |conn| {
            funnels::find(conn, &tenant, &id)?;
            funnels::stages_of(conn, &tenant, &[id])
        })
        .await?;
    let views: Vec<StageView> = stages.into_iter().map(StageView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

#[utoipa::path(post, path = "/api/v1/funnels/{id}/stages", tag = "funnels", request_body = CreateStage,
    responses((status = 201, body = StageView), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_stage(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
    body: web::Json<CreateStage>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let funnel = resource::path_id(&path)?;
    let name = resource::required_text("name", &body.name, MAX_NAME_CHARS)?;
    let position = body.position.map(check_position).transpose()?;
    let tenant = staff.tenant_id.clone();
    let template = new_stage(&staff, &funnel, name, 0);
    let stage = store
        .transaction(move |conn| {
            funnels::find(conn, &tenant, &funnel)?;
            let count = funnels::stages_of(conn, &tenant, std::slice::from_ref(&funnel))?.len();
            if count >= MAX_STAGES {
                return Err(StoreError::Conflict("too many stages".into()));
            }
            let position = match position {
                Some(p) => p,
                None => funnels::next_position(conn, &funnel)?,
            };
            let stage = Stage {
                position,
                ..template
            };
            funnels::insert_stage(conn, &stage)?;
            Ok(stage)
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::field("stages", "a funnel has at most 50 stages"),
            other => other.into(),
        })?;
    Ok(HttpResponse::Created().json(StageView::from(stage)))
}

#[utoipa::path(patch, path = "/api/v1/funnels/{id}/stages/{stage_id}", tag = "funnels", request_body = UpdateStage,
    responses((status = 200, body = StageView), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_stage(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<(String, String)>,
    body: web::Json<UpdateStage>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let (funnel, stage) = path.into_inner();
    let funnel = resource::path_id(&funnel)?;
    let stage = resource::path_id(&stage)?;
    let changes = StageChanges {
        name: body
            .name
            .as_deref()
            .map(|n| resource::required_text("name", n, MAX_NAME_CHARS))
            .transpose()?,
        position: body.position.map(check_position).transpose()?,
        updated_at: Some(store::now()),
    };
    let tenant = staff.tenant_id.clone();
    let row = store
        .run(move |conn| funnels::update_stage(conn, &tenant, &funnel, &stage, &changes))
        .await?;
    Ok(HttpResponse::Ok().json(StageView::from(row)))
}

#[utoipa::path(delete, path = "/api/v1/funnels/{id}/stages/{stage_id}", tag = "funnels",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_stage(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let (funnel, stage) = path.into_inner();
    let funnel = resource::path_id(&funnel)?;
    let stage = resource::path_id(&stage)?;
    let tenant = staff.tenant_id.clone();
    store
        .run(move |conn| funnels::delete_stage(conn, &tenant, &funnel, &stage))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/funnels")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/funnels/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .service(
        web::resource("/funnels/{id}/stages")
            .route(web::get().to(list_stages))
            .route(web::post().to(create_stage)),
    )
    .service(
        web::resource("/funnels/{id}/stages/{stage_id}")
            .route(web::patch().to(update_stage))
            .route(web::delete().to(delete_stage)),
    );
}
