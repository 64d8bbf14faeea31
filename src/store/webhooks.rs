//! Outbound event webhooks: the subscriptions (`webhooks`), the durable delivery queue
//! (`webhook_deliveries`: one row per event and webhook, written before the first attempt)
//! and the attempt log (`webhook_attempts`: one row per try). The secret is stored sealed.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use secrecy::SecretString;

use super::executor::transaction;
use super::schema::{webhook_attempts, webhook_deliveries, webhooks};
use super::{json_column, DbConn, StoreError, StoreResult};
use crate::domain::{TenantId, WebhookId};
use crate::secrets::{SealContext, SealedField, SecretBox};

pub const PENDING: &str = "pending";
pub const SUCCEEDED: &str = "succeeded";
pub const FAILED: &str = "failed";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhooks)]
pub struct Webhook {
    pub id: WebhookId,
    pub tenant_id: TenantId,
    pub url: String,
    /// JSON array of event names.
    pub events: String,
    /// Sealed by [`SecretBox`]; never the plaintext.
    pub secret: String,
    pub enabled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Webhook {
    pub fn events(&self) -> StoreResult<Vec<String>> {
        json_column(&self.events, "webhooks.events")
    }

    pub fn subscribes_to(&self, event: &str) -> bool {
        self.enabled && self.events().is_ok_and(|e| e.iter().any(|e| e == event))
    }

    /// The signing secret in clear, for the dispatcher only.
    pub fn secret(&self, secrets: &SecretBox) -> StoreResult<SecretString> {
        secrets
            .open_secret(
                SealContext::new(&self.tenant_id, SealedField::WebhookSecret),
                &self.secret,
            )
            .map_err(|e| StoreError::Corrupt(format!("webhooks.secret: {e}")))
    }
}

#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = webhooks)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub events: Option<String>,
    pub secret: Option<String>,
    pub enabled: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConn, webhook: &Webhook) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(webhooks::table)
        .values(webhook)
        .execute(c))?;
    Ok(())
}

pub fn find(conn: &mut DbConn, tenant: &TenantId, id: &WebhookId) -> StoreResult<Webhook> {
    Ok(crate::db_run!(conn, |c| webhooks::table
        .filter(webhooks::tenant_id.eq(tenant))
        .filter(webhooks::id.eq(id))
        .select(Webhook::as_select())
        .first(c))?)
}

pub fn list(
    conn: &mut DbConn,
    tenant: &TenantId,
    limit: i64,
    after: Option<&WebhookId>,
) -> StoreResult<Vec<Webhook>> {
    Ok(crate::db_run!(conn, |c| {
        let mut query = webhooks::table
            .filter(webhooks::tenant_id.eq(tenant))
            .select(Webhook::as_select())
            .order(webhooks::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(webhooks::id.gt(after));
        }
        query.load(c)
    })?)
}

/// The tenant's enabled webhooks: what the dispatcher fans an event out to.
pub fn enabled_for_tenant(conn: &mut DbConn, tenant: &TenantId) -> StoreResult<Vec<Webhook>> {
    Ok(crate::db_run!(conn, |c| webhooks::table
        .filter(webhooks::tenant_id.eq(tenant))
        .filter(webhooks::enabled.eq(true))
        .select(Webhook::as_select())
        .order(webhooks::id.asc())
        .load(c))?)
}

pub fn update(
    conn: &mut DbConn,
    tenant: &TenantId,
    id: &WebhookId,
    changes: &WebhookChanges,
) -> StoreResult<Webhook> {
    let updated = crate::db_run!(conn, |c| diesel::update(
        webhooks::table
            .filter(webhooks::tenant_id.eq(tenant))
            .filter(webhooks::id.eq(id))
    )
    .set(changes)
    .execute(c))?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    find(conn, tenant, id)
}

/// Deletes the webhook; its deliveries and attempts go with it (foreign keys cascade).
pub fn delete(conn: &mut DbConn, tenant: &TenantId, id: &WebhookId) -> StoreResult<()> {
    transaction(conn, |conn| {
        // Explicit as well as by cascade: the attempt and delivery rows must go even where
        // foreign keys were not enforced when they were written.
        let deliveries: Vec<String> = crate::db_run!(conn, |c| webhook_deliveries::table
            .filter(webhook_deliveries::tenant_id.eq(tenant))
            .filter(webhook_deliveries::webhook_id.eq(id))
            .select(webhook_deliveries::id)
            .load(c))?;
        for chunk in deliveries.chunks(500) {
            crate::db_run!(conn, |c| diesel::delete(
                webhook_attempts::table.filter(webhook_attempts::delivery_id.eq_any(chunk))
            )
            .execute(c))?;
        }
        crate::db_run!(conn, |c| diesel::delete(
            webhook_deliveries::table
                .filter(webhook_deliveries::tenant_id.eq(tenant))
                .filter(webhook_deliveries::webhook_id.eq(id))
        )
        .execute(c))?;
        let deleted = crate::db_run!(conn, |c| diesel::delete(
            webhooks::table
                .filter(webhooks::tenant_id.eq(tenant))
                .filter(webhooks::id.eq(id))
        )
        .execute(c))?;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    })
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct WebhookDelivery {
    pub id: String,
    pub tenant_id: TenantId,
    pub webhook_id: WebhookId,
    pub event: String,
    /// The exact JSON body sent on every attempt (the signature covers it).
    pub payload: String,
    /// pending | succeeded | failed
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub latency_ms: Option<i64>,
    pub response_excerpt: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl WebhookDelivery {
    pub fn pending(webhook: &Webhook, event: &str, payload: String) -> Self {
        let now = super::now();
        WebhookDelivery {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: webhook.tenant_id.clone(),
            webhook_id: webhook.id.clone(),
            event: event.to_string(),
            payload,
            status: PENDING.into(),
            attempts: 0,
            next_attempt_at: Some(now),
            last_status_code: None,
            last_error: None,
            latency_ms: None,
            response_excerpt: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// The outcome of one attempt as the delivery row keeps it. Every column is written, `None`
/// included: a later success clears an earlier error.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = webhook_deliveries, treat_none_as_null = true)]
pub struct DeliveryUpdate {
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub latency_ms: Option<i64>,
    pub response_excerpt: Option<String>,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = webhook_attempts)]
pub struct WebhookAttempt {
    pub id: String,
    pub tenant_id: TenantId,
    pub delivery_id: String,
    pub webhook_id: WebhookId,
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
    pub created_at: NaiveDateTime,
}

pub fn insert_deliveries(conn: &mut DbConn, deliveries: &[WebhookDelivery]) -> StoreResult<()> {
    if deliveries.is_empty() {
        return Ok(());
    }
    transaction(conn, |conn| {
        for delivery in deliveries {
            crate::db_run!(conn, |c| diesel::insert_into(webhook_deliveries::table)
                .values(delivery)
                .execute(c))?;
        }
        Ok(())
    })
}

/// Logs an attempt and moves its delivery on, atomically. `NotFound` when the delivery is
/// gone (its webhook was deleted).
pub fn record_attempt(
    conn: &mut DbConn,
    attempt: &WebhookAttempt,
    update: &DeliveryUpdate,
) -> StoreResult<()> {
    transaction(conn, |conn| {
        let updated = crate::db_run!(conn, |c| diesel::update(
            webhook_deliveries::table.filter(webhook_deliveries::id.eq(&attempt.delivery_id))
        )
        .set(update)
        .execute(c))?;
        if updated == 0 {
            return Err(StoreError::NotFound);
        }
        crate::db_run!(conn, |c| diesel::insert_into(webhook_attempts::table)
            .values(attempt)
            .execute(c))?;
        Ok(())
    })
}

/// Marks a delivery failed without an attempt (its webhook was disabled or its time ran out
/// while the process was down).
pub fn give_up(conn: &mut DbConn, id: &str, reason: &str) -> StoreResult<()> {
    let now = super::now();
    crate::db_run!(conn, |c| diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::id.eq(id))
            .filter(webhook_deliveries::status.eq(PENDING))
    )
    .set((
        webhook_deliveries::status.eq(FAILED),
        webhook_deliveries::next_attempt_at.eq(None::<NaiveDateTime>),
        webhook_deliveries::last_error.eq(reason),
        webhook_deliveries::updated_at.eq(now),
    ))
    .execute(c))?;
    Ok(())
}

/// Webhook by id alone, for the dispatcher (the delivery row already carries the tenant).
pub fn find_by_id(conn: &mut DbConn, id: &WebhookId) -> StoreResult<Option<Webhook>> {
    Ok(crate::db_run!(conn, |c| webhooks::table
        .filter(webhooks::id.eq(id))
        .select(Webhook::as_select())
        .first(c)
        .optional())?)
}

/// Pending deliveries oldest first (ids are time ordered); pages continue `after` an id.
pub fn list_pending(
    conn: &mut DbConn,
    after: Option<&str>,
    limit: i64,
) -> StoreResult<Vec<WebhookDelivery>> {
    Ok(crate::db_run!(conn, |c| {
        let mut query = webhook_deliveries::table
            .filter(webhook_deliveries::status.eq(PENDING))
            .order(webhook_deliveries::id.asc())
            .limit(limit)
            .select(WebhookDelivery::as_select())
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(webhook_deliveries::id.gt(after));
        }
        query.load(c)
    })?)
}

pub fn count_pending(conn: &mut DbConn) -> StoreResult<i64> {
    Ok(crate::db_run!(conn, |c| webhook_deliveries::table
        .filter(webhook_deliveries::status.eq(PENDING))
        .count()
        .get_result(c))?)
}

/// A webhook's deliveries, newest first, optionally of one status; pages continue `before`
/// a delivery id.
pub fn list_deliveries(
    conn: &mut DbConn,
    tenant: &TenantId,
    webhook: &WebhookId,
    status: Option<&str>,
    limit: i64,
    before: Option<&str>,
) -> StoreResult<Vec<WebhookDelivery>> {
    Ok(crate::db_run!(conn, |c| {
        let mut query = webhook_deliveries::table
            .filter(webhook_deliveries::tenant_id.eq(tenant))
            .filter(webhook_deliveries::webhook_id.eq(webhook))
            .order(webhook_deliveries::id.desc())
            .limit(limit)
            .select(WebhookDelivery::as_select())
            .into_boxed();
        if let Some(status) = status {
            query = query.filter(webhook_deliveries::status.eq(status));
        }
        if let Some(before) = before {
            query = query.filter(webhook_deliveries::id.lt(before));
        }
        query.load(c)
    })?)
}

/// The attempts of these deliveries, in attempt order.
pub fn attempts_of(conn: &mut DbConn, deliveries: &[String]) -> StoreResult<Vec<WebhookAttempt>> {
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    Ok(crate::db_run!(conn, |c| webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq_any(deliveries))
        .order((
            webhook_attempts::delivery_id.asc(),
            webhook_attempts::attempt.asc(),
        ))
        .select(WebhookAttempt::as_select())
        .load(c))?)
}
