//! The HTTP surface: actix-web routes, auth, errors, metrics, OpenAPI.

pub mod agents;
pub mod auth;
pub mod conversations;
pub mod distribution;
pub mod error;
pub mod health;
pub mod integrations;
pub mod metrics;
pub mod openapi;
pub mod pagination;
pub mod session;
pub mod users;
pub mod webhooks;

use actix_web::web;

/// Everything under `/api/v1`, tenant-scoped by the caller's token.
pub fn v1(cfg: &mut web::ServiceConfig) {
    cfg.configure(session::routes)
        .configure(users::routes)
        .configure(agents::routes)
        .configure(integrations::routes)
        .configure(conversations::routes)
        .configure(distribution::routes);
}

/// Unknown routes answer with the JSON error body too.
pub async fn not_found() -> Result<actix_web::HttpResponse, error::ApiError> {
    Err(error::ApiError::NotFound)
}
