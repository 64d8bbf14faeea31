//! `GET/PATCH /api/v1/settings`: the tenant's run-time settings (hand-over and welcome texts,
//! human-request phrases, classification, feedback escalation, business hours, CSAT), read
//! by conversations on their next event — no restart. PATCH is a JSON merge patch over what
//! the tenant changed before; `null` brings a key back to the process default.

use actix_web::{web, HttpResponse};
use serde_json::Value;

use super::error::{ApiError, ApiResult};
use crate::auth::Staff;
use crate::domain::tenant_settings::TenantSettings;
use crate::domain::Role;
use crate::engine::Engine;
use crate::store::executor::transaction;
use crate::store::{tenant_settings, Store};

#[utoipa::path(get, path = "/api/v1/settings", tag = "settings",
    responses((status = 200, body = TenantSettings)), security(("bearer" = [])))]
pub async fn get(staff: Staff, engine: web::Data<Engine>) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let settings = engine.parts.tenant_settings.get(&staff.tenant_id).await?;
    Ok(HttpResponse::Ok().json(&*settings))
}

#[utoipa::path(patch, path = "/api/v1/settings", tag = "settings",
    request_body(content = Object, description = "A JSON merge patch of TenantSettings: keys replace (objects merge), null restores the default"),
    responses((status = 200, body = TenantSettings), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn patch(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::manages_users)?;
    let patch = body.into_inner();
    let tenant = staff.tenant_id.clone();
    let defaults = engine.parts.tenant_settings.defaults().clone();
    // Read, merge and write in one transaction: two admins' patches never undo each other.
    let outcome = store
        .run(move |conn| {
            transaction(conn, |conn| {
                let stored = tenant_settings::overrides(conn, &tenant)?;
                match defaults.patch(&stored, &patch) {
                    Ok((overrides, effective)) => {
                        tenant_settings::put_overrides(conn, &tenant, &overrides)?;
                        Ok(Ok(effective))
                    }
                    Err(refused) => Ok(Err(refused)),
                }
            })
        })
        .await?;
    let effective = outcome.map_err(|e| ApiError::Validation {
        message: e.to_string(),
        details: Some(serde_json::json!({ "field": e.field })),
    })?;
    engine.parts.tenant_settings.forget(&staff.tenant_id);
    engine
        .parts
        .changes
        .announce(crate::cluster::invalidate::Change::TenantSettings(
            staff.tenant_id.clone(),
        ));
    tracing::info!(tenant = %staff.tenant_id, user = %staff.user_id, "tenant settings changed");
    Ok(HttpResponse::Ok().json(effective))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings", web::get().to(get))
        .route("/settings", web::patch().to(patch));
}
