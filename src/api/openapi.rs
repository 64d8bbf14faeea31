//! The OpenAPI 3 document (`/api/openapi.json`) and interactive docs (`/docs`).

use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use super::canned;
use super::conversations;
use super::knowledge;
use super::live_board;
use super::memories;
use super::{
    activities, analytics, contacts, departments, distribution, evolution, funnels, tags,
    webhooks_admin, wizard,
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

/// Handlers in different modules share names (`list`, `get`, …), and utoipa takes the
/// function name as the operationId, which OpenAPI requires to be unique (the console's type
/// generator keys operations by it). Prefix each with its tag: `conversations_list`.
struct UniqueOperationIds;

impl Modify for UniqueOperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut seen = std::collections::HashSet::new();
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ];
            for operation in operations.into_iter().flatten() {
                let base = operation
                    .operation_id
                    .clone()
                    .unwrap_or_else(|| path.clone());
                let tag = operation
                    .tags
                    .as_ref()
                    .and_then(|t| t.first())
                    .cloned()
                    .unwrap_or_default();
                let mut id = if tag.is_empty() {
                    base.clone()
                } else {
                    format!("{tag}_{base}")
                };
                let mut n = 2;
                while !seen.insert(id.clone()) {
                    id = format!("{tag}_{base}_{n}");
                    n += 1;
                }
                operation.operation_id = Some(id);
            }
        }
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
        calendar::available_slots, calendar::create_event, calendar::ics_feed, calendar::meeting_ics, calendar::feed_url,
        calendar::get_working_hours, calendar::put_working_hours,
        evolution::evolution_inbound,
        webhooks_admin::list, webhooks_admin::create, webhooks_admin::get, webhooks_admin::update,
        webhooks_admin::delete, webhooks_admin::deliveries,
        wizard::start, wizard::get, wizard::put_step, wizard::publish, wizard::public_agent,
        contacts::list, contacts::create, contacts::get, contacts::update,
        memories::list, memories::erase_all, memories::erase_one,
        departments::list, departments::create, departments::get, departments::update,
        departments::delete,
        distribution::get, distribution::put,
        funnels::list, funnels::create, funnels::get, funnels::update, funnels::delete,
        funnels::list_stages, funnels::create_stage, funnels::update_stage, funnels::delete_stage,
        tags::list, tags::create, tags::get, tags::update, tags::delete,
        activities::list, activities::create, activities::get, activities::update,
        activities::delete,
        analytics::dashboard, analytics::agent, live_board::live, live_board::presence, live_board::bots,
        tools::list, tools::create, tools::get, tools::update, tools::delete,
        tools::list_attached, tools::attach, tools::detach,
        sub_agents::list, sub_agents::create, sub_agents::get, sub_agents::update,
        sub_agents::delete,
        automations::list, automations::create, automations::get, automations::update,
        automations::delete,
        chat_stream::chat_stream,
        knowledge::upload, knowledge::list, knowledge::get, knowledge::delete,
        knowledge::search,
        conversations::list, conversations::get, conversations::messages, conversations::reply,
        conversations::assign, conversations::take, conversations::escalate, conversations::close, conversations::update,
        conversations::ai_log,
        conversations::transfer, conversations::notes, conversations::add_note,
        canned::list, canned::create, canned::update, canned::delete,
        crate::console::setup::status, crate::console::setup::complete,
        super::settings::get, super::settings::patch, super::csat::report,
        super::feedback::list,
        analytics::humans,
    ),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&BearerAuth, &UniqueOperationIds),
)]
pub struct ApiDoc;

/// The document as the console's type generator reads it (`web/src/api/openapi.json`):
/// pretty, with a final newline, so the committed copy diffs well.
pub fn document_json() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    // The reference's scripts are vendored into the binary (utoipa-swagger-ui's `vendored`
    // feature): `/docs` works on a network without internet.
    cfg.service(SwaggerUi::new("/docs/{_:.*}").url("/api/openapi.json", ApiDoc::openapi()));
    cfg.route(
        "/docs",
        web::get().to(|| async {
            HttpResponse::Found()
                .insert_header(("Location", "/docs/"))
                .finish()
        }),
    );
}
