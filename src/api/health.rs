//! Liveness, readiness and Prometheus metrics.

use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;
use serde_json::json;

use super::error::ApiError;
use super::metrics::{scrape_allowed, Metrics};
use crate::config::Settings;
use crate::store::Store;

#[utoipa::path(get, path = "/health", tag = "ops", responses((status = 200)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/ready", tag = "ops", responses((status = 200), (status = 503)))]
pub async fn ready(
    store: web::Data<Store>,
    node: web::Data<crate::app::Node>,
    engine: web::Data<crate::engine::Engine>,
) -> HttpResponse {
    if node.shutdown.is_stopping() {
        return unavailable("the node is stopping");
    }
    match store.ping().await {
        Ok(()) => {
            let mut body = json!({"status": "ready", "store": store.backend_name()});
            if let Some(membership) = &node.membership {
                match membership.members().await {
                    Ok(members) => {
                        body["node_id"] = json!(membership.node_id());
                        body["members"] = json!(members);
                        if let Some(router) = &engine.router {
                            // Counts only: this answers without credentials.
                            body["tenants_held"] = json!(router.leases().tenants().len());
                            body["fenced_writes"] = json!(router.leases().fenced());
                        }
                        body["turns_in_flight"] = json!(engine.parts.turns.count());
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cluster membership not read");
                        return unavailable("the cluster bus does not answer");
                    }
                }
            }
            HttpResponse::Ok().json(body)
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            unavailable("the store does not answer")
        }
    }
}

fn unavailable(why: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(crate::error::ErrorBody {
        error: why.into(),
        code: crate::error::ErrorCode::ServiceUnavailable,
        details: None,
    })
}

#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, content_type = "text/plain"), (status = 401, body = crate::error::ErrorBody)),
    security((), ("bearer" = [])))]
pub async fn metrics(
    req: HttpRequest,
    metrics: web::Data<Metrics>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, ApiError> {
    let authorization = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    if !scrape_allowed(settings.metrics.token.expose_secret(), authorization) {
        return Err(ApiError::Auth(
            "metrics need `Authorization: Bearer <metrics.token>`".into(),
        ));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render()))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/ready", web::get().to(ready))
        .route("/metrics", web::get().to(metrics));
}
