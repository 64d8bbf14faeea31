//! WebhookDispatcher: outbound event webhooks. It listens to the tenant [`EventBus`], and for
//! every webhook of the tenant subscribed to the event writes a `webhook_deliveries` row
//! (the durable queue) before the first attempt, then delivers it:
//!
//! - `POST {url}` with the JSON payload, `X-Atende-Event`, `X-Atende-Delivery` (the same on
//!   every retry, for de-duplication) and `X-Atende-Signature: t=<unix>,v1=<hex>`, the
//!   HMAC-SHA256 of `"{t}.{body}"` with the webhook's secret. `t` is the time of the
//!   attempt, so receivers can refuse stale requests (replay window:
//!   `webhooks.signature_tolerance_seconds`) and still accept retries;
//! - any non-2xx answer or transport error is retried with exponential backoff and jitter,
//!   for `webhooks.retry_for_seconds` after the event; then the delivery is failed;
//! - every attempt is logged (`webhook_attempts`: status, latency, response excerpt) and
//!   the delivery row keeps the latest;
//! - at start, pending rows left by a previous run are resumed at their due time.
//!
//! An event is durable for webhooks from the moment its delivery rows are written; the bus
//! itself is in memory. Deliveries of different events are concurrent (bounded by
//! `webhooks.max_in_flight`): receivers must not rely on arrival order, and use the payload's
//! `occurred_at`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use reqwest::header::CONTENT_TYPE;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Semaphore;

use super::events::{EventBus, EventKind, TenantEvent};
use super::metrics::EngineMetrics;
use crate::channels::signature;
use crate::cluster::work::WorkClaims;
use crate::config::WebhookSettings;
use crate::domain::TenantId;
use crate::outbound::{self, backoff::equal_jitter, body, guard};
use crate::secrets::SecretBox;
use crate::store::claims::WorkQueue;
use crate::store::messages::Message;
use crate::store::schema::messages;
use crate::store::webhooks::{
    self, DeliveryUpdate, Webhook, WebhookAttempt, WebhookDelivery, FAILED, PENDING, SUCCEEDED,
};
use crate::store::{Store, StoreError};

pub const SIGNATURE_HEADER: &str = "X-Atende-Signature";
pub const EVENT_HEADER: &str = "X-Atende-Event";
pub const DELIVERY_HEADER: &str = "X-Atende-Delivery";

/// Response bytes kept per attempt.
const EXCERPT_CHARS: usize = 200;
/// How long a tenant's webhook list is trusted before it is read again. Changes made through
/// this process's API take effect at once (the API invalidates); the TTL bounds how stale
/// another process's view can be.
const CACHE_TTL: Duration = Duration::from_secs(30);
const RESUME_PAGE: i64 = 500;

/// A tenant's enabled webhooks and when they were read.
type CachedHooks = (Instant, Arc<Vec<Webhook>>);

/// Delay after the `attempt`-th failure: initial, doubling, capped, with equal jitter so
/// deliveries that failed together do not retry together.
fn backoff(settings: &WebhookSettings, attempt: i32) -> Duration {
    equal_jitter(
        Duration::from_millis(settings.backoff_initial_ms),
        Duration::from_millis(settings.backoff_max_ms),
        u32::try_from(attempt.saturating_sub(1)).unwrap_or(0),
    )
}

#[derive(Clone)]
pub struct WebhookDispatcher {
    inner: Arc<Inner>,
    /// Claims shared with other nodes (src/store/claims.rs); None: this process alone.
    claims: Option<Arc<WorkClaims>>,
}

struct Inner {
    store: Store,
    settings: WebhookSettings,
    allow_private: bool,
    secrets: Arc<SecretBox>,
    metrics: Arc<EngineMetrics>,
    http: reqwest::Client,
    slots: Semaphore,
    cache: Mutex<HashMap<TenantId, CachedHooks>>,
    /// Deliveries scheduled in this process, so resuming never runs one twice.
    active: Mutex<HashSet<String>>,
}

/// What one attempt came to.
struct Attempted {
    status: Option<u16>,
    latency_ms: i64,
    error: Option<String>,
    excerpt: Option<String>,
    /// Retrying cannot help (the URL is refused by the private-target guard).
    permanent: bool,
}

impl Attempted {
    fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s)) && self.error.is_none()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Never held across code that can panic, so a poisoned lock still holds sane data.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl WebhookDispatcher {
    pub fn new(
        store: Store,
        settings: WebhookSettings,
        allow_private: bool,
        secrets: Arc<SecretBox>,
        metrics: Arc<EngineMetrics>,
    ) -> Self {
        let timeout = Duration::from_millis(settings.timeout_ms.max(1));
        let http = outbound::client(&outbound::ClientSpec {
            user_agent: concat!("atende-webhooks/", env!("CARGO_PKG_VERSION")),
            timeout: Some(timeout),
            connect_timeout: timeout,
            allow_private,
        })
        // Only fails when the TLS backend cannot initialise, where `Client::new` panics too.
        .expect("HTTP client for webhooks");
        WebhookDispatcher {
            inner: Arc::new(Inner {
                slots: Semaphore::new(settings.max_in_flight.max(1)),
                store,
                settings,
                allow_private,
                secrets,
                metrics,
                http,
                cache: Mutex::new(HashMap::new()),
                active: Mutex::new(HashSet::new()),
            }),
            claims: None,
        }
    }

    /// Claims each delivery before each attempt, so nodes sharing the store never attempt
    /// one twice; [`WebhookDispatcher::claim_due`] takes over what nobody holds.
    pub fn with_claims(self, claims: Arc<WorkClaims>) -> Self {
        WebhookDispatcher {
            claims: Some(claims),
            ..self
        }
    }

    /// Claims due deliveries no node holds and runs them here.
    pub async fn claim_due(&self, claims: &WorkClaims) {
        let ids = claims
            .claim_due(&self.inner.store, WorkQueue::WebhookDeliveries)
            .await;
        if ids.is_empty() {
            return;
        }
        match self
            .inner
            .store
            .run(move |conn| crate::store::claims::webhook_deliveries(conn, &ids))
            .await
        {
            Ok(rows) => {
                for delivery in rows {
                    self.schedule(delivery);
                }
            }
            Err(e) => tracing::warn!(error = %e, "claimed webhook deliveries not read"),
        }
    }

    /// Resumes what a previous run left pending and starts listening to `events`. Must be
    /// called within the actix runtime.
    pub async fn start(&self, events: &EventBus) -> Result<usize, StoreError> {
        // Subscribed first so no event published while resuming is missed.
        let receiver = events.subscribe();
        let dispatcher = self.clone();
        actix_web::rt::spawn(async move { dispatcher.listen(receiver).await });
        let resumed = self.resume_pending().await?;
        if resumed > 0 {
            tracing::info!(resumed, "pending webhook deliveries resumed");
        }
        Ok(resumed)
    }

    /// Forgets the cached webhook list of a tenant after it changed.
    pub fn invalidate(&self, tenant: &TenantId) {
        lock(&self.inner.cache).remove(tenant);
    }

    async fn resume_pending(&self) -> Result<usize, StoreError> {
        let mut after: Option<String> = None;
        let mut resumed = 0;
        loop {
            let cursor = after.clone();
            let page = self
                .inner
                .store
                .run(move |conn| webhooks::list_pending(conn, cursor.as_deref(), RESUME_PAGE))
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            for delivery in page {
                if self.schedule(delivery) {
                    resumed += 1;
                }
            }
        }
        Ok(resumed)
    }

    async fn listen(self, mut receiver: tokio::sync::broadcast::Receiver<TenantEvent>) {
        loop {
            match receiver.recv().await {
                Ok(event) => {
                    if !EventKind::WEBHOOK.contains(&event.kind()) {
                        continue;
                    }
                    let dispatcher = self.clone();
                    // Off the listener, so a slow store never makes the listener lag.
                    actix_web::rt::spawn(async move { dispatcher.fan_out(event).await });
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::error!(
                        missed,
                        "webhook dispatcher fell behind; events were not delivered"
                    );
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    async fn subscribers(&self, tenant: &TenantId) -> Result<Arc<Vec<Webhook>>, StoreError> {
        if let Some((at, hooks)) = lock(&self.inner.cache).get(tenant) {
            if at.elapsed() < CACHE_TTL {
                return Ok(hooks.clone());
            }
        }
        let lookup = tenant.clone();
        let hooks = Arc::new(
            self.inner
                .store
                .run(move |conn| webhooks::enabled_for_tenant(conn, &lookup))
                .await?,
        );
        lock(&self.inner.cache).insert(tenant.clone(), (Instant::now(), hooks.clone()));
        Ok(hooks)
    }

    async fn fan_out(&self, event: TenantEvent) {
        let hooks = match self.subscribers(&event.tenant_id).await {
            Ok(hooks) => hooks,
            Err(e) => {
                tracing::error!(tenant = %event.tenant_id, event = %event.kind(), error = %e, "webhooks of the tenant not read; event not delivered");
                return;
            }
        };
        let targets: Vec<&Webhook> = hooks
            .iter()
            .filter(|h| h.subscribes_to(event.kind().as_str()))
            .collect();
        if targets.is_empty() {
            return;
        }
        let payload = match self.payload(&event).await {
            Ok(payload) => payload,
            Err(e) => {
                tracing::error!(event = %event.kind(), error = %e, "webhook payload not built");
                return;
            }
        };
        let deliveries: Vec<WebhookDelivery> = targets
            .iter()
            .map(|hook| WebhookDelivery::pending(hook, event.kind().as_str(), payload.clone()))
            .collect();
        let rows = deliveries.clone();
        let written = self
            .inner
            .store
            .run(move |conn| webhooks::insert_deliveries(conn, &rows))
            .await;
        match written {
            Ok(()) => {
                for delivery in deliveries {
                    self.schedule(delivery);
                }
            }
            // A webhook deleted meanwhile fails the insert of its row (foreign key): write
            // the others one by one.
            Err(_) if deliveries.len() > 1 => {
                for delivery in deliveries {
                    let row = delivery.clone();
                    match self
                        .inner
                        .store
                        .run(move |conn| webhooks::insert_deliveries(conn, &[row]))
                        .await
                    {
                        Ok(()) => {
                            self.schedule(delivery);
                        }
                        Err(e) => {
                            tracing::warn!(webhook = %delivery.webhook_id, error = %e, "webhook delivery not recorded")
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(event = %event.kind(), error = %e, "webhook delivery not recorded")
            }
        }
    }

    /// `{id, event, tenant_id, conversation_id, occurred_at, data}`; message events carry the
    /// message itself in `data.message`.
    async fn payload(&self, event: &TenantEvent) -> Result<String, StoreError> {
        let mut data = event.data();
        if let Some(id) = event.event.message_id().cloned() {
            let tenant = event.tenant_id.clone();
            let message: Option<Message> = self
                .inner
                .store
                .run(move |conn| {
                    use diesel::prelude::*;
                    Ok(crate::db_run!(conn, |c| messages::table
                        .filter(messages::tenant_id.eq(&tenant))
                        .filter(messages::id.eq(&id))
                        .select(Message::as_select())
                        .first(c)
                        .optional())?)
                })
                .await?;
            if let (Some(m), Value::Object(map)) = (message, &mut data) {
                map.insert(
                    "message".into(),
                    json!({
                        "id": m.id,
                        "seq": m.seq,
                        "sender_type": m.sender_type,
                        "sender_id": m.sender_id,
                        "content": m.content,
                        "content_type": m.content_type,
                        "status": m.status,
                        "created_at": m.created_at.and_utc(),
                    }),
                );
            }
        }
        let body = json!({
            "id": uuid::Uuid::now_v7().to_string(),
            "event": event.kind(),
            "tenant_id": event.tenant_id,
            "conversation_id": event.conversation_id,
            "occurred_at": event.at,
            "data": data,
        });
        serde_json::to_string(&body).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// Starts delivering in the background unless this process already is. Returns whether
    /// it started.
    fn schedule(&self, delivery: WebhookDelivery) -> bool {
        if !lock(&self.inner.active).insert(delivery.id.clone()) {
            return false;
        }
        self.inner.metrics.webhook_pending.inc();
        let dispatcher = self.clone();
        actix_web::rt::spawn(async move {
            let id = delivery.id.clone();
            dispatcher.deliver(delivery).await;
            lock(&dispatcher.inner.active).remove(&id);
            dispatcher.inner.metrics.webhook_pending.dec();
        });
        true
    }

    fn deadline(&self, delivery: &WebhookDelivery) -> chrono::NaiveDateTime {
        let retry_for = i64::try_from(self.inner.settings.retry_for_seconds).unwrap_or(i64::MAX);
        delivery.created_at + chrono::Duration::seconds(retry_for.min(10 * 365 * 86_400))
    }

    async fn deliver(&self, mut delivery: WebhookDelivery) {
        loop {
            if let Some(due) = delivery.next_attempt_at {
                if let Ok(wait) = (due - crate::store::now()).to_std() {
                    tokio::time::sleep(wait).await;
                }
            }
            let webhook_id = delivery.webhook_id.clone();
            let webhook = match self
                .inner
                .store
                .run(move |conn| webhooks::find_by_id(conn, &webhook_id))
                .await
            {
                Ok(Some(hook)) if hook.enabled => hook,
                Ok(found) => {
                    let reason = if found.is_some() {
                        "the webhook was disabled"
                    } else {
                        "the webhook was deleted"
                    };
                    self.give_up(&delivery, reason).await;
                    return;
                }
                Err(e) => {
                    // The store is unavailable: try again later, the row stays pending.
                    tracing::warn!(delivery = %delivery.id, error = %e, "webhook not read; retrying");
                    delivery.next_attempt_at = Some(
                        crate::store::now()
                            + chrono::Duration::from_std(backoff(&self.inner.settings, 1))
                                .unwrap_or_default(),
                    );
                    continue;
                }
            };
            if let Some(claims) = &self.claims {
                let queue = WorkQueue::WebhookDeliveries;
                if !claims.hold(&self.inner.store, queue, &delivery.id).await {
                    // Another node holds it (or it is done): that node attempts it.
                    return;
                }
            }
            let attempted = {
                // Concurrency is bounded per process; the permit is held for the request only.
                let Ok(_permit) = self.inner.slots.acquire().await else {
                    return;
                };
                self.attempt(&webhook, &delivery).await
            };
            delivery.attempts += 1;
            let now = crate::store::now();
            let succeeded = attempted.succeeded();
            let retry_at = (!succeeded && !attempted.permanent)
                .then(|| {
                    now + chrono::Duration::from_std(backoff(
                        &self.inner.settings,
                        delivery.attempts,
                    ))
                    .unwrap_or_default()
                })
                .filter(|at| *at <= self.deadline(&delivery));
            delivery.status = if succeeded {
                SUCCEEDED
            } else if retry_at.is_some() {
                PENDING
            } else {
                FAILED
            }
            .into();
            delivery.next_attempt_at = retry_at;
            delivery.last_status_code = attempted.status.map(i32::from);
            delivery.last_error = attempted.error.clone();
            delivery.latency_ms = Some(attempted.latency_ms);
            delivery.response_excerpt = attempted.excerpt.clone();
            let log = WebhookAttempt {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: delivery.tenant_id.clone(),
                delivery_id: delivery.id.clone(),
                webhook_id: delivery.webhook_id.clone(),
                attempt: delivery.attempts,
                status_code: delivery.last_status_code,
                latency_ms: attempted.latency_ms,
                error: attempted.error.clone(),
                response_excerpt: attempted.excerpt.clone(),
                created_at: now,
            };
            let update = DeliveryUpdate {
                status: delivery.status.clone(),
                attempts: delivery.attempts,
                next_attempt_at: delivery.next_attempt_at,
                last_status_code: delivery.last_status_code,
                last_error: delivery.last_error.clone(),
                latency_ms: delivery.latency_ms,
                response_excerpt: delivery.response_excerpt.clone(),
                updated_at: now,
            };
            let recorded = self
                .inner
                .store
                .run(move |conn| webhooks::record_attempt(conn, &log, &update))
                .await;
            match recorded {
                Ok(()) => {}
                Err(StoreError::NotFound) => return,
                Err(e) => {
                    tracing::warn!(delivery = %delivery.id, error = %e, "webhook attempt not recorded")
                }
            }
            if !succeeded {
                self.inner.metrics.webhook_failures.inc();
            }
            match delivery.status.as_str() {
                SUCCEEDED => {
                    self.inner
                        .metrics
                        .webhook_deliveries
                        .with_label_values(&["succeeded"])
                        .inc();
                    return;
                }
                FAILED => {
                    self.inner
                        .metrics
                        .webhook_deliveries
                        .with_label_values(&["failed"])
                        .inc();
                    tracing::warn!(
                        delivery = %delivery.id,
                        webhook = %delivery.webhook_id,
                        event = %delivery.event,
                        attempts = delivery.attempts,
                        status_code = ?delivery.last_status_code,
                        error = ?delivery.last_error,
                        "webhook delivery failed"
                    );
                    return;
                }
                _ => {}
            }
        }
    }

    async fn give_up(&self, delivery: &WebhookDelivery, reason: &'static str) {
        let id = delivery.id.clone();
        if let Err(e) = self
            .inner
            .store
            .run(move |conn| webhooks::give_up(conn, &id, reason))
            .await
        {
            tracing::warn!(delivery = %delivery.id, error = %e, "webhook delivery not closed");
        }
        self.inner
            .metrics
            .webhook_deliveries
            .with_label_values(&["failed"])
            .inc();
    }

    async fn attempt(&self, webhook: &Webhook, delivery: &WebhookDelivery) -> Attempted {
        let started = Instant::now();
        let elapsed =
            |started: Instant| i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let failed = |error: String, permanent: bool| Attempted {
            status: None,
            latency_ms: elapsed(started),
            error: Some(error),
            excerpt: None,
            permanent,
        };
        let url = match guard::check(&webhook.url, self.inner.allow_private).await {
            Ok(url) => url,
            Err(refusal) => {
                let permanent = !refusal.is_retryable();
                return failed(refusal.to_string(), permanent);
            }
        };
        let secret =
            match webhook.secret(&self.inner.secrets) {
                Ok(secret) => secret,
                Err(_) => return failed(
                    "the webhook secret cannot be unsealed (was secrets.encryption_key changed?)"
                        .into(),
                    true,
                ),
            };
        let body = delivery.payload.clone().into_bytes();
        let signature = signature::sign_timestamped(
            secret.expose_secret().as_bytes(),
            chrono::Utc::now().timestamp(),
            &body,
        );
        let sent = self
            .inner
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(EVENT_HEADER, delivery.event.as_str())
            .header(DELIVERY_HEADER, delivery.id.as_str())
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                let message = if e.is_timeout() {
                    format!("timed out after {} ms", self.inner.settings.timeout_ms)
                } else if e.is_connect() {
                    "could not connect".to_string()
                } else {
                    format!("request failed: {}", e.without_url())
                };
                return failed(message, false);
            }
        };
        let status = response.status();
        let excerpt = excerpt(response).await;
        Attempted {
            status: Some(status.as_u16()),
            latency_ms: elapsed(started),
            error: (!status.is_success()).then(|| {
                if status.is_redirection() {
                    format!("HTTP {status}: redirects are not followed")
                } else {
                    format!("HTTP {status}")
                }
            }),
            excerpt,
            permanent: false,
        }
    }
}

/// The start of the receiver's answer, on one line; only that much is read.
async fn excerpt(response: reqwest::Response) -> Option<String> {
    let text = body::excerpt(response, EXCERPT_CHARS * 4, EXCERPT_CHARS, &[]).await;
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let settings = WebhookSettings {
            retry_for_seconds: 60,
            backoff_initial_ms: 100,
            backoff_max_ms: 1000,
            timeout_ms: 1000,
            max_in_flight: 1,
            signature_tolerance_seconds: 300,
        };
        for (attempt, base) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (60, 1000),
        ] {
            for _ in 0..20 {
                let ms = backoff(&settings, attempt).as_millis() as u64;
                assert!(ms >= base / 2 && ms <= base, "attempt {attempt}: {ms}");
            }
        }
    }
}
