//! Inbound channel webhooks. `POST /webhooks/generic/{integration_id}`: HMAC-checked, parsed,
//! made durable by the message writer, then answered 202 and handed to the engine.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use crate::channels::{generic, signature};
use crate::config::Settings;
use crate::domain::IntegrationId;
use crate::engine::writer::Inbound;
use crate::engine::Engine;
use crate::secrets::SecretBox;
use crate::store::cache::IntegrationCache;
use crate::store::contacts::ChannelIdentity;
use crate::store::integrations::Integration;

pub const SIGNATURE_HEADER: &str = "X-Atende-Signature";

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub conversation_id: String,
    pub message_id: String,
    pub duplicate: bool,
}

/// The enabled integration of `kind` behind a webhook URL (cached); anything else is a
/// plain 404.
pub async fn integration_for(
    cache: &IntegrationCache,
    raw_id: &str,
    kind: &str,
) -> ApiResult<Arc<Integration>> {
    let id = IntegrationId::parse(raw_id).ok_or(ApiError::NotFound)?;
    let integration = cache.get(&id).await?;
    if integration.kind != kind || !integration.enabled {
        return Err(ApiError::NotFound);
    }
    Ok(integration)
}

#[utoipa::path(post, path = "/webhooks/generic/{integration_id}", tag = "channels",
    request_body(content = String, description = "`{contact:{external_id,name?,phone?,email?}, message:{external_id,text,timestamp?}}` signed with X-Atende-Signature: t=<unix>,v1=<hex HMAC-SHA256 of \"t.body\"> (or the legacy sha256=<hex HMAC-SHA256 of the body>)"),
    responses((status = 202, body = Accepted), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn generic_inbound(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    secrets: web::Data<SecretBox>,
    engine: web::Data<Engine>,
    settings: web::Data<Settings>,
) -> ApiResult<HttpResponse> {
    let integration = integration_for(&engine.parts.integrations, &path, "generic").await?;
    let secret = integration
        .secret(&secrets)?
        .ok_or_else(|| ApiError::Auth("the integration has no secret configured".into()))?;
    let header = req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| ApiError::Auth(format!("missing {SIGNATURE_HEADER} header")))?;
    let channels = &settings.channels;
    signature::verify_inbound(
        secret.expose_secret().as_bytes(),
        &body,
        header,
        chrono::Utc::now().timestamp(),
        channels.inbound_signature_tolerance_seconds,
        channels.accept_legacy_signatures,
    )
    .map_err(|e| ApiError::Auth(e.to_string()))?;
    let payload = generic::parse(&body).map_err(ApiError::validation)?;
    let ingested = engine
        .accept(Inbound {
            tenant_id: integration.tenant_id.clone(),
            integration_id: integration.id.clone(),
            channel: "generic",
            contact: ChannelIdentity {
                external_id: payload.contact.external_id,
                name: payload.contact.name,
                phone: payload.contact.phone,
                email: payload.contact.email,
            },
            external_id: payload.message.external_id,
            content: payload.message.text,
            content_type: "text".into(),
            metadata: serde_json::json!({ "timestamp": payload.message.timestamp }),
            from_business: false,
        })
        .await?;
    Ok(HttpResponse::Accepted().json(Accepted {
        conversation_id: ingested.conversation.id.0,
        message_id: ingested.message.id.0,
        duplicate: ingested.duplicate,
    }))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/webhooks/generic/{integration_id}",
        web::post().to(generic_inbound),
    );
}
