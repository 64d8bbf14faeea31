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
pub async fn ready(store: web::Data<Store>) -> HttpResponse {
    match store.ping().await {
        Ok(()) => {
            HttpResponse::Ok().json(json!({"status": "ready", "store": store.backend_name()}))
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(crate::error::ErrorBody {
                error: "the store does not answer".into(),
                code: crate::error::ErrorCode::ServiceUnavailable,
                details: None,
            })
        }
    }
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
