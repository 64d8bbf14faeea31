//! `/api/v1/webhooks`: outbound event webhooks (admins only). Follows users.rs. The secret is
//! write-only and stored sealed; the URL must be http(s) and, unless
//! `outbound.allow_private_targets`, not a private, loopback or link-local address.
//! `GET /webhooks/{id}/deliveries` lists deliveries newest first, each with its attempt log.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult};
use super::integrations::{check_outbound_url, MIN_SECRET_CHARS};
use super::pagination::{Page, PageQuery, DEFAULT_LIMIT, MAX_LIMIT};
use crate::auth::Staff;
use crate::config::Settings;
use crate::domain::{Role, TenantId, WebhookId};
use crate::engine::events::EventKind;
use crate::engine::webhooks::WebhookDispatcher;
use crate::engine::Engine;
use crate::outbound::origin;
use crate::secrets::{SealContext, SealedField, SecretBox};
use crate::store::webhooks::{self, Webhook, WebhookAttempt, WebhookChanges, WebhookDelivery};
use crate::store::{self, Store};

const MAX_SECRET_CHARS: usize = 512;

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    /// Always true: a webhook cannot exist without a secret, which is never returned.
    pub has_secret: bool,
    pub enabled: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl WebhookView {
    fn from_row(row: Webhook) -> ApiResult<Self> {
        Ok(WebhookView {
            events: row.events()?,
            has_secret: !row.secret.is_empty(),
            id: row.id.0,
            url: row.url,
            enabled: row.enabled,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    pub url: String,
    /// Any of conversation_started, message_received, message_sent, conversation_assigned,
    /// conversation_escalated, conversation_closed, limit_reached, feedback_detected,
    /// conversation_classified.
    pub events: Vec<String>,
    /// Write-only HMAC key of `X-Atende-Signature`, 16 to 512 characters.
    pub secret: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    /// Write-only; replaces the secret.
    pub secret: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl From<WebhookAttempt> for AttemptView {
    fn from(a: WebhookAttempt) -> Self {
        AttemptView {
            attempt: a.attempt,
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            error: a.error,
            response_excerpt: a.response_excerpt,
            at: a.created_at.and_utc(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub webhook_id: String,
    pub event: String,
    /// pending | succeeded | failed
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub latency_ms: Option<i64>,
    pub response_excerpt: Option<String>,
    /// The body sent (identical on every attempt).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub attempt_log: Vec<AttemptView>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl DeliveryView {
    fn from_row(row: WebhookDelivery, attempts: Vec<WebhookAttempt>) -> Self {
        DeliveryView {
            payload: serde_json::from_str(&row.payload).unwrap_or(serde_json::Value::Null),
            attempt_log: attempts.into_iter().map(AttemptView::from).collect(),
            id: row.id,
            webhook_id: row.webhook_id.0,
            event: row.event,
            status: row.status,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at.map(|t| t.and_utc()),
            last_status_code: row.last_status_code,
            last_error: row.last_error,
            latency_ms: row.latency_ms,
            response_excerpt: row.response_excerpt,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeliveryQuery {
    /// pending | succeeded | failed
    pub status: Option<String>,
    /// 1..=200, default 50.
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

fn is_admin(role: Role) -> bool {
    role == Role::Admin
}

fn parse_id(raw: &str) -> ApiResult<WebhookId> {
    WebhookId::parse(raw).ok_or(ApiError::NotFound)
}

fn parse_url(raw: &str, settings: &Settings) -> ApiResult<String> {
    check_outbound_url(raw, settings.outbound.allow_private_targets)
        .map_err(|reason| ApiError::field("url", reason))
}

/// Known events, each once, in the order given.
fn parse_events(raw: &[String]) -> ApiResult<String> {
    if raw.is_empty() {
        return Err(ApiError::field("events", "must name at least one event"));
    }
    let mut events: Vec<&str> = Vec::with_capacity(raw.len());
    for event in raw {
        let event = event.trim();
        let Some(known) = EventKind::WEBHOOK
            .iter()
            .map(|k| k.as_str())
            .find(|k| *k == event)
        else {
            let names: Vec<&str> = EventKind::WEBHOOK.iter().map(|k| k.as_str()).collect();
            return Err(ApiError::Validation {
                message: format!(
                    "events: `{event}` is not an event; use any of {}",
                    names.join(", ")
                ),
                details: Some(serde_json::json!({"field": "events"})),
            });
        };
        if !events.contains(&known) {
            events.push(known);
        }
    }
    Ok(serde_json::Value::from(events).to_string())
}

fn check_secret(raw: &str) -> ApiResult<()> {
    let len = raw.chars().count();
    if len < MIN_SECRET_CHARS {
        Err(ApiError::field("secret", "must be at least 16 characters"))
    } else if len > MAX_SECRET_CHARS {
        Err(ApiError::field("secret", "must be at most 512 characters"))
    } else {
        Ok(())
    }
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", params(PageQuery),
    responses((status = 200, description = "A page of webhooks", body = Page<WebhookView>),
        (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    staff: Staff,
    store: web::Data<Store>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let limit = query.limit()?;
    let after = query.cursor_id(WebhookId::parse)?;
    let tenant = staff.tenant_id.clone();
    let rows = store
        .run(move |conn| webhooks::list(conn, &tenant, limit + 1, after.as_ref()))
        .await?;
    let page = Page::from_rows(rows, limit, |w| w.id.to_string(), WebhookView::from_row)?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = CreateWebhook,
    responses((status = 201, body = WebhookView), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    staff: Staff,
    store: web::Data<Store>,
    secrets: web::Data<SecretBox>,
    settings: web::Data<Settings>,
    dispatcher: web::Data<WebhookDispatcher>,
    engine: web::Data<Engine>,
    body: web::Json<CreateWebhook>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let body = body.into_inner();
    let url = parse_url(&body.url, &settings)?;
    let events = parse_events(&body.events)?;
    check_secret(&body.secret)?;
    let now = store::now();
    let row = Webhook {
        id: WebhookId::new(),
        tenant_id: staff.tenant_id.clone(),
        url,
        events,
        secret: secrets.seal(
            SealContext::new(&staff.tenant_id, SealedField::WebhookSecret),
            &body.secret,
        ),
        enabled: body.enabled,
        created_at: now,
        updated_at: now,
    };
    let stored = store
        .run(move |conn| {
            webhooks::insert(conn, &row)?;
            Ok(row)
        })
        .await?;
    webhooks_changed(&dispatcher, &engine, &staff.tenant_id);
    Ok(HttpResponse::Created().json(WebhookView::from_row(stored)?))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    responses((status = 200, body = WebhookView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let id = parse_id(&path)?;
    let tenant = staff.tenant_id.clone();
    let row = store
        .run(move |conn| webhooks::find(conn, &tenant, &id))
        .await?;
    Ok(HttpResponse::Ok().json(WebhookView::from_row(row)?))
}

#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", request_body = UpdateWebhook,
    responses((status = 200, body = WebhookView), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    staff: Staff,
    secrets: web::Data<SecretBox>,
    settings: web::Data<Settings>,
    dispatcher: web::Data<WebhookDispatcher>,
    engine: web::Data<Engine>,
    path: web::Path<String>,
    body: web::Json<UpdateWebhook>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let store = &engine.parts.store;
    let id = parse_id(&path)?;
    let body = body.into_inner();
    let mut changes = WebhookChanges::default();
    if let Some(url) = &body.url {
        let url = parse_url(url, &settings)?;
        // The signing secret belongs to the receiver it was agreed with: a new host gets
        // a new secret, in the same request.
        if body.secret.is_none() {
            let (tenant, lookup) = (staff.tenant_id.clone(), id.clone());
            let current = store
                .run(move |conn| webhooks::find(conn, &tenant, &lookup))
                .await?;
            if origin::drops_secret(&current.url, &url, false) {
                return Err(ApiError::field(
                    "secret",
                    "must be given again: url moves to another host, and the stored secret \
                     is never used for it",
                ));
            }
        }
        changes.url = Some(url);
    }
    if let Some(events) = &body.events {
        changes.events = Some(parse_events(events)?);
    }
    if let Some(secret) = &body.secret {
        check_secret(secret)?;
        changes.secret = Some(secrets.seal(
            SealContext::new(&staff.tenant_id, SealedField::WebhookSecret),
            secret,
        ));
    }
    changes.enabled = body.enabled;
    changes.updated_at = Some(store::now());
    let tenant = staff.tenant_id.clone();
    let row = store
        .run(move |conn| webhooks::update(conn, &tenant, &id, &changes))
        .await?;
    webhooks_changed(&dispatcher, &engine, &staff.tenant_id);
    Ok(HttpResponse::Ok().json(WebhookView::from_row(row)?))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    staff: Staff,
    store: web::Data<Store>,
    dispatcher: web::Data<WebhookDispatcher>,
    engine: web::Data<Engine>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let id = parse_id(&path)?;
    let tenant = staff.tenant_id.clone();
    store
        .run(move |conn| webhooks::delete(conn, &tenant, &id))
        .await?;
    webhooks_changed(&dispatcher, &engine, &staff.tenant_id);
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", params(DeliveryQuery),
    responses((status = 200, description = "Deliveries newest first, each with its attempts", body = Page<DeliveryView>),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn deliveries(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
    query: web::Query<DeliveryQuery>,
) -> ApiResult<HttpResponse> {
    staff.require(is_admin)?;
    let id = parse_id(&path)?;
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => return Err(ApiError::field("limit", "must be between 1 and 200")),
    };
    let status = match query.status.as_deref() {
        None => None,
        Some(s @ (webhooks::PENDING | webhooks::SUCCEEDED | webhooks::FAILED)) => {
            Some(s.to_string())
        }
        Some(_) => {
            return Err(ApiError::field(
                "status",
                "must be pending, succeeded or failed",
            ))
        }
    };
    let before = match &query.cursor {
        None => None,
        Some(raw) => Some(
            uuid::Uuid::parse_str(raw)
                .map(|u| u.to_string())
                .map_err(|_| ApiError::field("cursor", "is not a cursor of this list"))?,
        ),
    };
    let tenant = staff.tenant_id.clone();
    let (rows, attempts) = store
        .run(move |conn| {
            // 404 for another tenant's webhook, not an empty list.
            webhooks::find(conn, &tenant, &id)?;
            let rows = webhooks::list_deliveries(
                conn,
                &tenant,
                &id,
                status.as_deref(),
                limit + 1,
                before.as_deref(),
            )?;
            let ids: Vec<String> = rows.iter().map(|d| d.id.clone()).collect();
            let mut by_delivery: HashMap<String, Vec<WebhookAttempt>> = HashMap::new();
            for attempt in webhooks::attempts_of(conn, &ids)? {
                by_delivery
                    .entry(attempt.delivery_id.clone())
                    .or_default()
                    .push(attempt);
            }
            Ok((rows, by_delivery))
        })
        .await?;
    let page = Page::from_rows(
        rows,
        limit,
        |d| d.id.clone(),
        |d| {
            let log = attempts.get(&d.id).cloned().unwrap_or_default();
            Ok(DeliveryView::from_row(d, log))
        },
    )?;
    Ok(HttpResponse::Ok().json(page))
}

/// A tenant's webhooks changed: this node's dispatcher and every other node's read them again.
fn webhooks_changed(dispatcher: &WebhookDispatcher, engine: &Engine, tenant: &TenantId) {
    dispatcher.invalidate(tenant);
    engine
        .parts
        .changes
        .announce(crate::cluster::invalidate::Change::Webhooks(tenant.clone()));
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/webhooks/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .route("/webhooks/{id}/deliveries", web::get().to(deliveries));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_known_and_deduplicated() {
        let parsed = parse_events(&[
            "message_received".into(),
            " conversation_closed ".into(),
            "message_received".into(),
        ])
        .expect("valid");
        assert_eq!(parsed, r#"["message_received","conversation_closed"]"#);
        assert!(parse_events(&[]).is_err());
        assert!(parse_events(&["message_deleted".into()]).is_err());
    }
}
