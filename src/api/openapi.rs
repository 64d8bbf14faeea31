//! The OpenAPI 3 document (`/api/openapi.json`) and interactive docs (`/docs`).

use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_scalar::{Scalar, Servable};

use super::knowledge;
use super::memories;
use super::{
    activities, analytics, contacts, departments, evolution, funnels, tags, webhooks_admin, wizard,
};
use super::{agents, integrations};
use super::{automations, chat_stream, sub_agents, tools};
use super::{calendar, events, webchat};
use super::{health, session, users};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Atende", description = "Conversation engine for contact centers. The contract is docs/protocol.md."),
    paths(
        health::health, health::ready, health::metrics,
        session::token,
        users::list, users::create, users::get, users::update, users::delete,
        agents::list, agents::create, agents::get, agents::update, agents::delete,
        integrations::list, integrations::create, integrations::get, integrations::update,
        integrations::delete,
        events::stream, webchat::create_session,
        calendar::available_slots, calendar::create_event, calendar::ics_feed, calendar::feed_url,
        calendar::get_working_hours, calendar::put_working_hours,
        evolution::evolution_inbound,
        webhooks_admin::list, webhooks_admin::create, webhooks_admin::get, webhooks_admin::update,
        webhooks_admin::delete, webhooks_admin::deliveries,
        wizard::start, wizard::get, wizard::put_step, wizard::publish, wizard::public_agent,
        contacts::list, contacts::create, contacts::get, contacts::update,
        memories::list, memories::erase_all, memories::erase_one,
        departments::list, departments::create, departments::get, departments::update,
        departments::delete,
        funnels::list, funnels::create, funnels::get, funnels::update, funnels::delete,
        funnels::list_stages, funnels::create_stage, funnels::update_stage, funnels::delete_stage,
        tags::list, tags::create, tags::get, tags::update, tags::delete,
        activities::list, activities::create, activities::get, activities::update,
        activities::delete,
        analytics::dashboard, analytics::agent,
        tools::list, tools::create, tools::get, tools::update, tools::delete,
        tools::list_attached, tools::attach, tools::detach,
        sub_agents::list, sub_agents::create, sub_agents::get, sub_agents::update,
        sub_agents::delete,
        automations::list, automations::create, automations::get, automations::update,
        automations::delete,
        chat_stream::chat_stream,
        knowledge::upload, knowledge::list, knowledge::get, knowledge::delete,
        knowledge::search,
    ),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/openapi.json", web::get().to(openapi_json))
        .service(Scalar::with_url("/docs", ApiDoc::openapi()));
}
