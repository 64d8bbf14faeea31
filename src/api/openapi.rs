//! The OpenAPI 3 document (`/api/openapi.json`) and interactive docs (`/docs`).

use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_scalar::{Scalar, Servable};

use super::{agents, integrations};
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
    info(title = "Atende", description = "Conversation engine for contact centers. The contract is PROTOCOL.md."),
    paths(
        health::health, health::ready, health::metrics,
        session::token,
        users::list, users::create, users::get, users::update, users::delete,
        agents::list, agents::create, agents::get, agents::update, agents::delete,
        integrations::list, integrations::create, integrations::get, integrations::update,
        integrations::delete,
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
