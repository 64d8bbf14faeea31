//! `GET/PUT /api/v1/settings/distribution`: the tenant's distribution method, AI participation
//! and SLA, applied to the next assignment without a restart. New `by_percentage` shares
//! restart the assignment counts they are balanced against.

use actix_web::{web, HttpResponse};

use super::error::{ApiError, ApiResult};
use crate::auth::Staff;
use crate::domain::distribution::DistributionSettings;
use crate::domain::{AgentId, Role, TenantId, UserId};
use crate::engine::distributor::SettingsChanged;
use crate::engine::Engine;
use crate::store::{agents, distribution, users, Store, StoreError};

#[utoipa::path(get, path = "/api/v1/settings/distribution", tag = "distribution",
    responses((status = 200, body = DistributionSettings)), security(("bearer" = [])))]
pub async fn get(staff: Staff, store: web::Data<Store>) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let tenant = staff.tenant_id.clone();
    let settings = store
        .run(move |conn| distribution::get(conn, &tenant))
        .await?;
    Ok(HttpResponse::Ok().json(settings))
}

#[utoipa::path(put, path = "/api/v1/settings/distribution", tag = "distribution", request_body = DistributionSettings,
    responses((status = 200, body = DistributionSettings), (status = 400, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put(
    staff: Staff,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    body: web::Json<DistributionSettings>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::manages_users)?;
    let settings = body.into_inner();
    settings.validate().map_err(|reason| {
        // The reason reads "<field>: <why>".
        let field = reason
            .split_once(':')
            .map_or("settings", |(field, _)| field)
            .to_string();
        ApiError::Validation {
            message: reason,
            details: Some(serde_json::json!({ "field": field })),
        }
    })?;
    let tenant = staff.tenant_id.clone();
    let stored = settings.clone();
    let unknown = store
        .run(move |conn| {
            // A share for someone outside the tenant would be silently ignored by routing.
            for id in stored.shares.keys() {
                let user = match users::find(conn, &tenant, &UserId(id.clone())) {
                    Ok(_) => true,
                    Err(StoreError::NotFound) => false,
                    Err(e) => return Err(e),
                };
                if !user && !agents::exists(conn, &tenant, &AgentId(id.clone()))? {
                    return Ok(Some(id.clone()));
                }
            }
            let before = distribution::get(conn, &tenant)?;
            distribution::put(conn, &tenant, &stored)?;
            if before.shares != stored.shares {
                distribution::reset_assignment_counts(conn, &tenant)?;
            }
            Ok(None)
        })
        .await?;
    if let Some(id) = unknown {
        return Err(ApiError::Validation {
            message: format!("shares: {id} is no user or AI agent of this tenant"),
            details: Some(serde_json::json!({ "field": "shares" })),
        });
    }
    routing_changed(&engine, &staff.tenant_id);
    Ok(HttpResponse::Ok().json(settings))
}

/// The tenant's distribution settings or departments changed: this node's distributor
/// forgets its copies now, and the other nodes' through the cluster relay.
pub(super) fn routing_changed(engine: &Engine, tenant: &TenantId) {
    engine
        .parts
        .distributor
        .do_send(SettingsChanged(tenant.clone()));
    engine
        .parts
        .changes
        .announce(crate::cluster::invalidate::Change::Distribution(
            tenant.clone(),
        ));
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/distribution", web::get().to(get))
        .route("/settings/distribution", web::put().to(put));
}
