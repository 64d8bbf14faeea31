//! The HTTP surface: actix-web routes, auth, errors, metrics, OpenAPI.

pub mod activities;
pub mod agents;
pub mod analytics;
pub mod auth;
pub mod automations;
pub mod calendar;
pub mod caller;
pub mod canned;
pub mod chat_stream;
pub mod contacts;
pub mod conversations;
pub mod csat;
pub mod departments;
pub mod distribution;
pub mod error;
pub mod events;
pub mod evolution;
pub mod feedback;
pub mod funnels;
pub mod health;
pub mod integrations;
pub mod knowledge;
pub mod live_board;
pub mod memories;
pub mod metrics;
pub mod openapi;
pub mod pagination;
pub mod resource;
pub mod session;
pub mod settings;
pub mod sub_agents;
pub mod tags;
pub mod tools;
pub mod users;
pub mod webchat;
pub mod webhooks;
pub mod webhooks_admin;
pub mod wizard;

use actix_web::web;

/// Everything under `/api/v1`, tenant-scoped by the caller's token.
pub fn v1(cfg: &mut web::ServiceConfig) {
    cfg.configure(session::routes)
        .configure(users::routes)
        .configure(agents::routes)
        .configure(integrations::routes)
        .configure(conversations::routes)
        .configure(distribution::routes);
    cfg.configure(events::routes)
        .configure(webchat::routes)
        .configure(calendar::routes);
    cfg.configure(webhooks_admin::routes);
    cfg.configure(contacts::routes);
    cfg.configure(memories::routes);
    cfg.configure(departments::routes);
    cfg.configure(canned::routes);
    cfg.configure(funnels::routes);
    cfg.configure(tags::routes);
    cfg.configure(activities::routes);
    cfg.configure(wizard::routes);
    cfg.configure(analytics::routes);
    cfg.configure(live_board::routes);
    cfg.configure(tools::routes);
    cfg.configure(sub_agents::routes);
    cfg.configure(automations::routes);
    cfg.configure(chat_stream::routes);
    cfg.configure(knowledge::routes);
    cfg.configure(settings::routes);
    cfg.configure(csat::routes);
    cfg.configure(feedback::routes);
    cfg.configure(crate::console::api_routes);
}

/// Unknown routes answer with the JSON error body too.
pub async fn not_found() -> Result<actix_web::HttpResponse, error::ApiError> {
    Err(error::ApiError::NotFound)
}
