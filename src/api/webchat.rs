//! `POST /api/v1/webchat/{integration_id}/session`: the web chat widget's entry. No login:
//! each call is a new visitor (contact) with a new conversation and a contact token that
//! opens `/ws` for that customer only. Calls are rate limited per client address.

use std::net::IpAddr;
use std::num::NonZeroU32;

use actix_web::{web, HttpRequest, HttpResponse};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::webhooks::integration_for;
use crate::auth::TokenKeys;
use crate::config::RealtimeSettings;
use crate::domain::scheduling::{extract_email, extract_phone};
use crate::engine::events::EngineEvent;
use crate::engine::Engine;
use crate::store::contacts::{self, ChannelIdentity};
use crate::store::conversations::{self, Conversation};
use crate::store::Store;

/// Sessions per client address; forgotten addresses are swept as the map grows.
pub struct WebchatLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl WebchatLimiter {
    pub fn new(settings: &RealtimeSettings) -> Self {
        let per_minute =
            NonZeroU32::new(settings.webchat_sessions_per_minute).unwrap_or(NonZeroU32::MIN);
        WebchatLimiter {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
        }
    }

    fn admit(&self, ip: IpAddr) -> bool {
        if self.limiter.len() > 100_000 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&ip).is_ok()
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionBody {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Contact token: `GET /ws?token=…`, and `GET /calendar/available-slots`.
    pub token: String,
    pub contact_id: String,
    pub conversation_id: String,
}

fn optional(raw: Option<String>) -> Option<String> {
    raw.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

#[utoipa::path(post, path = "/api/v1/webchat/{integration_id}/session", tag = "channels",
    request_body = SessionBody,
    responses((status = 201, body = SessionView), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub async fn create_session(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    store: web::Data<Store>,
    engine: web::Data<Engine>,
    keys: web::Data<TokenKeys>,
    limiter: web::Data<WebchatLimiter>,
) -> ApiResult<HttpResponse> {
    // The socket peer: behind a proxy every visitor shares its address, so the limit is
    // then per proxy (a forwarded header would let anyone pick their own bucket).
    if let Some(peer) = req.peer_addr() {
        if !limiter.admit(peer.ip()) {
            return Err(ApiError::RateLimited(
                "too many web chat sessions from this address; try again in a minute".into(),
            ));
        }
    }
    let integration = integration_for(&engine.parts.integrations, &path, "webchat").await?;
    let body: SessionBody = if body.iter().all(u8::is_ascii_whitespace) {
        SessionBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::validation(format!("invalid JSON body: {e}")))?
    };
    let name = optional(body.name);
    if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err(ApiError::field("name", "is longer than 200 characters"));
    }
    let email = match optional(body.email) {
        Some(raw) => {
            let lower = raw.to_lowercase();
            if extract_email(&lower).as_deref() != Some(lower.as_str()) {
                return Err(ApiError::field("email", "is not a valid e-mail address"));
            }
            Some(lower)
        }
        None => None,
    };
    let phone = match optional(body.phone) {
        Some(raw) => Some(
            extract_phone(&raw).ok_or_else(|| ApiError::field("phone", "is not a phone number"))?,
        ),
        None => None,
    };
    let tenant = integration.tenant_id.clone();
    let integration_id = integration.id.clone();
    let (contact, conversation) = store
        .transaction(move |conn| {
            let contact = contacts::upsert_from_channel(
                conn,
                &tenant,
                &integration_id,
                &ChannelIdentity {
                    external_id: format!("webchat:{}", uuid::Uuid::new_v4()),
                    name,
                    phone,
                    email,
                },
            )?;
            let conversation =
                Conversation::new_for(&tenant, &contact.id, Some(&integration_id), "webchat");
            conversations::insert(conn, &conversation)?;
            Ok((contact, conversation))
        })
        .await?;
    // The conversation waits in the queue for its first message, which wakes its actor and
    // the distributor like any channel's would.
    engine.parts.events.publish(
        &conversation.tenant_id,
        Some(&conversation.id),
        EngineEvent::ConversationStarted {
            channel: "webchat".into(),
            contact_id: contact.id.clone(),
        },
    );
    let token = keys.issue_contact(&contact.id, &conversation.tenant_id, &conversation.id)?;
    Ok(HttpResponse::Created().json(SessionView {
        token,
        contact_id: contact.id.0,
        conversation_id: conversation.id.0,
    }))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/webchat/{integration_id}/session",
        web::post().to(create_session),
    );
}
