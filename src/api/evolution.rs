//! `POST /webhooks/evolution/{integration_id}`: Evolution API v2 (WhatsApp) events.
//!
//! Authenticated by the integration's `apikey`, which Evolution sends in the body of every
//! event (and, when configured with custom headers, as an `apikey` header). The whole event
//! is parsed and checked before anything is written, so a malformed one changes nothing.
//! Then, item by item:
//! - a customer's message is stored (acknowledged only once durable) and its conversation
//!   woken, exactly like the generic webhook ([`crate::engine::Engine::accept`]);
//! - a `fromMe` message (the business writing from its phone, or the echo of a reply the
//!   engine sent) is either linked to that reply, or stored as an outbound message that
//!   nothing answers;
//! - `messages.update` moves a message to `delivered` or `read`;
//! - `chats.update` renames a known contact.
//!
//! Whatever is not acted upon (groups, reactions, unknown statuses, other events) is logged
//! and counted with its reason and answered 200: Evolution resends refused events, and these
//! would never be accepted.

use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::webhooks::integration_for;
use crate::channels::evolution::{self, Envelope, IgnoreReason, InboundMessage, Item};
use crate::engine::metrics::EngineMetrics;
use crate::engine::writer::Inbound;
use crate::engine::Engine;
use crate::secrets::SecretBox;
use crate::store::contacts::ChannelIdentity;
use crate::store::integrations::Integration;
use crate::store::message_status::{self, EchoLink, StatusChange};
use crate::store::{contacts_admin, Store};

/// How far back an echo of the business's own message is matched against the replies the
/// engine sent (the echo normally follows within seconds).
const ECHO_WINDOW_MINUTES: i64 = 30;

/// What happened to one item of an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemOutcome {
    /// `accepted` (stored), `linked` (the echo of a reply the engine sent), `duplicate`,
    /// `updated` (status or contact), `unchanged`, or `ignored`.
    pub outcome: &'static str,
    /// WhatsApp's message id, or the chat's JID.
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// `in` for the customer's messages, `out` for the business's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

impl ItemOutcome {
    fn new(outcome: &'static str, id: Option<String>) -> Self {
        ItemOutcome {
            outcome,
            id,
            conversation_id: None,
            message_id: None,
            direction: None,
            status: None,
            reason: None,
        }
    }

    fn ignored(id: Option<String>, reason: IgnoreReason) -> Self {
        ItemOutcome {
            reason: Some(reason.as_str()),
            ..ItemOutcome::new("ignored", id)
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EvolutionAccepted {
    pub event: String,
    pub results: Vec<ItemOutcome>,
}

/// Compares digests rather than the keys, so the comparison time says nothing about how
/// much of a guessed key was right.
fn same_key(given: &str, expected: &str) -> bool {
    Sha256::digest(given.trim().as_bytes()) == Sha256::digest(expected.as_bytes())
}

fn authenticate(
    req: &HttpRequest,
    envelope: &Envelope,
    integration: &Integration,
    secrets: &SecretBox,
) -> ApiResult<()> {
    let expected = integration
        .api_key(secrets)?
        .ok_or_else(|| ApiError::Auth("the integration has no apikey configured".into()))?;
    let header = req.headers().get("apikey").and_then(|h| h.to_str().ok());
    let given = header
        .or(envelope.apikey.as_deref())
        .ok_or_else(|| ApiError::Auth("missing apikey".into()))?;
    if same_key(given, expected.expose_secret()) {
        Ok(())
    } else {
        Err(ApiError::Auth("invalid apikey".into()))
    }
}

#[utoipa::path(post, path = "/webhooks/evolution/{integration_id}", tag = "channels",
    request_body(content = String, description = "An Evolution API v2 webhook event (`messages.upsert`, `send.message`, `messages.update`, `chats.update`) as Evolution sends it, with the instance `apikey` in the body or an `apikey` header"),
    responses((status = 200, body = EvolutionAccepted), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn evolution_inbound(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    store: web::Data<Store>,
    secrets: web::Data<SecretBox>,
    engine: web::Data<Engine>,
    metrics: web::Data<EngineMetrics>,
) -> ApiResult<HttpResponse> {
    let integration = integration_for(&engine.parts.integrations, &path, "evolution").await?;
    let envelope = evolution::envelope(&body).map_err(ApiError::validation)?;
    authenticate(&req, &envelope, &integration, &secrets)?;
    if let (Some(sent), Some(ours)) = (
        envelope.instance.as_deref(),
        integration.instance.as_deref(),
    ) {
        if sent.trim() != ours.trim() {
            return Err(ApiError::field(
                "instance",
                "is not the instance of this integration",
            ));
        }
    }
    let items = envelope.items().map_err(ApiError::validation)?;
    let mut results = Vec::with_capacity(items.len());
    for item in items {
        let outcome = match item {
            Item::Message(message) => {
                receive_message(&engine, &store, &integration, &envelope, message).await?
            }
            Item::Status(update) => {
                let integration_id = integration.id.clone();
                let status = update.status.as_str();
                let external = update.external_id.clone();
                let change = store
                    .run(move |conn| {
                        message_status::advance(conn, &integration_id, &external, status)
                    })
                    .await?;
                match change {
                    StatusChange::Updated(m) | StatusChange::Unchanged(m) => {
                        let changed = m.status == status;
                        ItemOutcome {
                            conversation_id: Some(m.conversation_id.0),
                            message_id: Some(m.id.0),
                            status: Some(m.status),
                            ..ItemOutcome::new(
                                if changed { "updated" } else { "unchanged" },
                                Some(update.external_id),
                            )
                        }
                    }
                    StatusChange::Unknown => {
                        ItemOutcome::ignored(Some(update.external_id), IgnoreReason::UnknownMessage)
                    }
                }
            }
            Item::Chat(chat) => match chat.name {
                Some(name) => {
                    let (tenant, integration_id, jid) = (
                        integration.tenant_id.clone(),
                        integration.id.clone(),
                        chat.remote_jid.clone(),
                    );
                    let renamed = store
                        .run(move |conn| {
                            contacts_admin::rename_from_channel(
                                conn,
                                &tenant,
                                &integration_id,
                                &jid,
                                &name,
                            )
                        })
                        .await?;
                    if renamed {
                        ItemOutcome::new("updated", Some(chat.remote_jid))
                    } else {
                        ItemOutcome::ignored(Some(chat.remote_jid), IgnoreReason::NothingToApply)
                    }
                }
                None => ItemOutcome::ignored(Some(chat.remote_jid), IgnoreReason::NothingToApply),
            },
            Item::Ignored { id, reason } => ItemOutcome::ignored(id, reason),
        };
        if let Some(reason) = outcome.reason {
            metrics.ignored("evolution", reason);
            tracing::info!(
                integration = %integration.id,
                event = %envelope.event,
                id = ?outcome.id,
                reason,
                "evolution event item ignored"
            );
        }
        results.push(outcome);
    }
    Ok(HttpResponse::Ok().json(EvolutionAccepted {
        event: envelope.event,
        results,
    }))
}

async fn receive_message(
    engine: &Engine,
    store: &Store,
    integration: &Integration,
    envelope: &Envelope,
    message: InboundMessage,
) -> ApiResult<ItemOutcome> {
    if message.from_me {
        let since = crate::store::now() - chrono::Duration::minutes(ECHO_WINDOW_MINUTES);
        let (tenant, integration_id) = (integration.tenant_id.clone(), integration.id.clone());
        let (jid, external, text) = (
            message.remote_jid.clone(),
            message.external_id.clone(),
            message.text.clone(),
        );
        let link = store
            .run(move |conn| {
                message_status::link_echo(
                    conn,
                    &tenant,
                    &integration_id,
                    &jid,
                    &external,
                    &text,
                    since,
                )
            })
            .await?;
        match link {
            EchoLink::Linked(m) => {
                return Ok(ItemOutcome {
                    conversation_id: Some(m.conversation_id.0),
                    message_id: Some(m.id.0),
                    direction: Some("out"),
                    ..ItemOutcome::new("linked", Some(message.external_id))
                })
            }
            EchoLink::AlreadyStored(m) => {
                return Ok(ItemOutcome {
                    conversation_id: Some(m.conversation_id.0),
                    message_id: Some(m.id.0),
                    direction: Some(if m.direction == "in" { "in" } else { "out" }),
                    ..ItemOutcome::new("duplicate", Some(message.external_id))
                })
            }
            EchoLink::NoMatch => {}
        }
    }
    let metadata = message.metadata(envelope.instance.as_deref());
    let ingested = engine
        .accept(Inbound {
            tenant_id: integration.tenant_id.clone(),
            integration_id: integration.id.clone(),
            channel: "whatsapp",
            contact: ChannelIdentity {
                external_id: message.remote_jid.clone(),
                name: message.push_name.clone(),
                phone: message.phone(),
                email: None,
            },
            external_id: message.external_id.clone(),
            content: message.text.clone(),
            content_type: message.content_type().to_string(),
            metadata,
            from_business: message.from_me,
        })
        .await?;
    Ok(ItemOutcome {
        conversation_id: Some(ingested.conversation.id.0),
        message_id: Some(ingested.message.id.0),
        direction: Some(if ingested.message.direction == "in" {
            "in"
        } else {
            "out"
        }),
        ..ItemOutcome::new(
            if ingested.duplicate {
                "duplicate"
            } else {
                "accepted"
            },
            Some(message.external_id),
        )
    })
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/webhooks/evolution/{integration_id}",
        web::post().to(evolution_inbound),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_compare_whole() {
        assert!(same_key("B6D711FC", "B6D711FC"));
        assert!(same_key(" B6D711FC\n", "B6D711FC"));
        assert!(!same_key("B6D711F", "B6D711FC"));
        assert!(!same_key("", "B6D711FC"));
    }

    #[test]
    fn outcomes_serialize_without_empty_fields() {
        let ignored = ItemOutcome::ignored(Some("3EB0".into()), IgnoreReason::GroupMessage);
        assert_eq!(
            serde_json::to_value(&ignored).expect("json"),
            json!({"outcome": "ignored", "id": "3EB0", "reason": "group_message"})
        );
    }
}
