//! `ChannelSender`: delivers AI and human replies to the customer's channel.
//!
//! Every reply gets a `channel_deliveries` row before its first attempt, updated after each,
//! so a restart resumes what was still pending ([`ChannelSender::resume_pending`]). Replies
//! of one conversation go out one at a time in the order they were handed over (a lane per
//! conversation): a customer must not read the answer before the "let me check" that preceded
//! it, even when the first one needed retries. Different conversations never wait on each
//! other.
//!
//! Transient failures (connect errors, timeouts, 408, 429, 5xx, DNS) are retried with
//! exponential backoff and jitter up to `outbound.max_attempts`; anything else is final. A
//! delivery that finally fails is published as a `delivery_failed` tenant event.

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::NaiveDateTime;
use futures::FutureExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::events::{EngineEvent, EventBus};
use super::writer::{Fence, MessageWriter};
use crate::channels::signature;
use crate::cluster::work::WorkClaims;
use crate::config::OutboundSettings;
use crate::domain::ConversationId;
use crate::outbound::{self, backoff::equal_jitter, body, guard};
use crate::secrets::SecretBox;
use crate::store::claims::WorkQueue;
use crate::store::deliveries::{self, AttemptUpdate, ChannelDelivery};
use crate::store::integrations::{Integration, IntegrationKind};
use crate::store::messages::Message;
use crate::store::{Store, StoreError};

/// Identifies the delivery to the receiver, so it can drop a retry it already processed
/// (an attempt can succeed on its side and still time out on ours).
pub const DELIVERY_HEADER: &str = "X-Atende-Delivery";

/// How many pending deliveries `resume_pending` loads per store round trip.
const RESUME_PAGE: i64 = 500;
/// Characters of a refusal's body kept in `last_error`.
const EXCERPT_CHARS: usize = 200;
/// Bytes read of a refusal's body for that excerpt (UTF-8 takes up to 4 per character).
const EXCERPT_BYTES: usize = EXCERPT_CHARS * 4;

/// One reply to deliver.
#[derive(Debug, Clone)]
pub struct ReplyTarget {
    /// Shared with the conversation and the integration cache, not copied per reply.
    pub integration: Arc<Integration>,
    /// The contact's id on the channel (Evolution: the remoteJid).
    pub contact_external_id: String,
    pub conversation_id: ConversationId,
    pub message: Message,
}

/// Cheap to clone; all clones share one HTTP client and one set of lanes.
#[derive(Clone)]
pub struct ChannelSender {
    inner: Arc<Inner>,
    /// Attempt records go through the message writer when there is one: they group-commit
    /// with the conversation's messages instead of paying a commit each.
    writer: Option<MessageWriter>,
    /// Claims shared with other nodes (src/store/claims.rs); None: this process alone.
    claims: Option<Arc<WorkClaims>>,
}

struct Inner {
    store: Store,
    outbound: OutboundSettings,
    secrets: Arc<SecretBox>,
    events: EventBus,
    http: reqwest::Client,
    lanes: Mutex<Lanes>,
}

#[derive(Default)]
struct Lanes {
    /// A conversation has an entry exactly while a task is draining its lane.
    queues: HashMap<ConversationId, VecDeque<Job>>,
    /// Deliveries queued or in flight, so resuming never sends one twice.
    active: HashSet<String>,
}

struct Job {
    target: ReplyTarget,
    delivery: ChannelDelivery,
    /// Read back from the store at start-up (it may have been sent meanwhile), rather than
    /// committed just now with its reply.
    resumed: bool,
    /// The claim committed with the row: the first attempt needs none of its own while it
    /// holds.
    held_until: Option<NaiveDateTime>,
}

/// What one attempt came to.
#[derive(Debug)]
enum Outcome {
    Sent {
        status: Option<u16>,
    },
    Retry {
        status: Option<u16>,
        error: String,
        /// The receiver's `Retry-After`, when it gave one.
        after: Option<Duration>,
    },
    Fail {
        status: Option<u16>,
        error: String,
    },
}

impl Outcome {
    fn fail(error: impl Into<String>) -> Outcome {
        Outcome::Fail {
            status: None,
            error: error.into(),
        }
    }
}

/// An HTTP request ready to go, with the secrets it carries so they can be scrubbed from
/// whatever the receiver answers.
struct Prepared {
    url: String,
    headers: HeaderMap,
    body: Vec<u8>,
    secrets: Vec<SecretString>,
}

impl ChannelSender {
    pub fn new(
        store: Store,
        outbound: OutboundSettings,
        secrets: Arc<SecretBox>,
        events: EventBus,
    ) -> Self {
        let timeout = Duration::from_millis(outbound.timeout_ms.max(1));
        let http = outbound::client(&outbound::ClientSpec {
            user_agent: concat!("atende/", env!("CARGO_PKG_VERSION")),
            timeout: Some(timeout),
            connect_timeout: timeout,
            allow_private: outbound.allow_private_targets,
        })
        // Only fails when the TLS backend cannot initialise, where `Client::new` panics too.
        .expect("HTTP client for channel senders");
        ChannelSender {
            inner: Arc::new(Inner {
                store,
                outbound,
                secrets,
                events,
                http,
                lanes: Mutex::new(Lanes::default()),
            }),
            writer: None,
            claims: None,
        }
    }

    /// Claims each send before each attempt, so nodes sharing the store never attempt one
    /// twice; [`ChannelSender::claim_due`] takes over what nobody holds.
    pub fn with_claims(self, claims: Arc<WorkClaims>) -> Self {
        ChannelSender {
            claims: Some(claims),
            ..self
        }
    }

    /// Claims due sends no node holds (the oldest pending one of each conversation) and
    /// runs them here, like a resumed delivery.
    pub async fn claim_due(&self, claims: &WorkClaims) {
        let ids = claims
            .claim_due(&self.inner.store, WorkQueue::ChannelDeliveries)
            .await;
        if ids.is_empty() {
            return;
        }
        let page = self
            .inner
            .store
            .run(move |conn| {
                crate::store::claims::channel_deliveries(conn, &ids)?
                    .into_iter()
                    .map(|d| deliveries::context(conn, &d).map(|ctx| (d, ctx)))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await;
        match page {
            Ok(page) => {
                self.resume_page(page).await;
            }
            Err(e) => tracing::warn!(error = %e, "claimed channel deliveries not read"),
        }
    }

    /// Records attempts through `writer` (group commit) instead of a commit each.
    pub fn with_writer(self, writer: MessageWriter) -> Self {
        ChannelSender {
            writer: Some(writer),
            ..self
        }
    }

    /// Delivers `target.message` in the background. `delivery` is its pending row, committed
    /// with the message by the writer (`MessageWriter::reply`), so a crash before or during
    /// the send leaves a row that the next start resumes. Never blocks; must be called
    /// within the actix runtime.
    /// `held_until`: the claim this node committed with the row, if any.
    pub fn send(
        &self,
        target: ReplyTarget,
        delivery: ChannelDelivery,
        held_until: Option<NaiveDateTime>,
    ) {
        self.enqueue(Job {
            target,
            delivery,
            resumed: false,
            held_until,
        });
    }

    /// Re-sends deliveries left pending by a previous run, oldest first, keeping their
    /// attempt counts and due times. Returns how many were queued. Call it at start-up before
    /// new replies flow, so that resumed replies keep their place ahead of newer ones.
    pub async fn resume_pending(&self) -> Result<usize, StoreError> {
        let mut resumed = 0;
        let mut after: Option<String> = None;
        loop {
            let cursor = after.clone();
            let page = self
                .inner
                .store
                .run(move |conn| {
                    let pending = deliveries::list_pending(conn, cursor.as_deref(), RESUME_PAGE)?;
                    pending
                        .into_iter()
                        .map(|d| deliveries::context(conn, &d).map(|ctx| (d, ctx)))
                        .collect::<Result<Vec<_>, _>>()
                })
                .await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.id.clone());
            resumed += self.resume_page(page).await;
        }
        if resumed > 0 {
            tracing::info!(resumed, "pending channel deliveries resumed");
        }
        Ok(resumed)
    }

    /// Queues rows read back from the store (at start-up, or claimed from other nodes'
    /// leftovers), skipping those this process already runs; how many were queued.
    async fn resume_page(
        &self,
        page: Vec<(ChannelDelivery, deliveries::DeliveryContext)>,
    ) -> usize {
        let mut resumed = 0;
        for (delivery, ctx) in page {
            if self.lanes().active.contains(&delivery.id) {
                continue;
            }
            let (Some(integration), Some(message), Some(contact_external_id)) =
                (ctx.integration, ctx.message, ctx.contact_external_id)
            else {
                self.abandon(
                    delivery,
                    "the integration, message or contact of this delivery no longer exists",
                )
                .await;
                continue;
            };
            let target = ReplyTarget {
                integration: Arc::new(integration),
                contact_external_id,
                conversation_id: delivery.conversation_id.clone(),
                message,
            };
            self.enqueue(Job {
                target,
                delivery,
                resumed: true,
                held_until: None,
            });
            resumed += 1;
        }
        resumed
    }

    fn lanes(&self) -> MutexGuard<'_, Lanes> {
        // The lock is never held across user code that could panic, so a poisoned lock still
        // holds consistent lanes.
        self.inner
            .lanes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn enqueue(&self, job: Job) {
        let conversation = job.delivery.conversation_id.clone();
        {
            let mut lanes = self.lanes();
            lanes.active.insert(job.delivery.id.clone());
            if let Some(queue) = lanes.queues.get_mut(&conversation) {
                queue.push_back(job);
                return;
            }
            lanes.queues.insert(conversation.clone(), VecDeque::new());
        }
        let sender = self.clone();
        actix_web::rt::spawn(async move { sender.drain(conversation, job).await });
    }

    async fn drain(self, conversation: ConversationId, first: Job) {
        let mut job = first;
        loop {
            let id = job.delivery.id.clone();
            // A bug in one delivery must not leave its conversation's lane stuck for good.
            if AssertUnwindSafe(self.deliver(job))
                .catch_unwind()
                .await
                .is_err()
            {
                tracing::error!(delivery = %id, "channel delivery panicked");
            }
            let mut lanes = self.lanes();
            lanes.active.remove(&id);
            match lanes
                .queues
                .get_mut(&conversation)
                .and_then(VecDeque::pop_front)
            {
                Some(next) => job = next,
                None => {
                    lanes.queues.remove(&conversation);
                    return;
                }
            }
        }
    }

    async fn deliver(&self, job: Job) {
        let Job {
            target,
            mut delivery,
            resumed,
            mut held_until,
        } = job;
        // A resumed row may have been sent by the run it was read during: its lane ran
        // before this job, so the store now says whether it is still owed.
        if resumed && !self.still_pending(&delivery.id).await {
            return;
        }
        let max_attempts =
            i32::try_from(self.inner.outbound.max_attempts.max(1)).unwrap_or(i32::MAX);
        if let Some(due) = delivery.next_attempt_at {
            if let Ok(wait) = (due - crate::store::now()).to_std() {
                tokio::time::sleep(wait).await;
            }
        }
        loop {
            if delivery.attempts >= max_attempts {
                // Only resumed rows get here (the limit was lowered, or the process stopped
                // between the last attempt and its record).
                let error = delivery
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "no attempts left".into());
                let status = delivery.last_status_code;
                self.finish_failed(&mut delivery, status, error).await;
                return;
            }
            if let Some(claims) = &self.claims {
                let queue = WorkQueue::ChannelDeliveries;
                let held = held_until
                    .take()
                    .is_some_and(|until| claims.still_holds(until));
                if !held && !claims.hold(&self.inner.store, queue, &delivery.id).await {
                    // Another node holds it (or it is done): that node sends it.
                    return;
                }
            }
            let outcome = self.attempt(&target, &delivery.id).await;
            delivery.attempts += 1;
            match outcome {
                Outcome::Sent { status } => {
                    delivery.status = deliveries::SENT.into();
                    delivery.next_attempt_at = None;
                    delivery.last_status_code = status.map(i32::from);
                    delivery.last_error = None;
                    self.record(&delivery).await;
                    tracing::debug!(delivery = %delivery.id, attempts = delivery.attempts, "channel delivery sent");
                    return;
                }
                Outcome::Retry {
                    status,
                    error,
                    after,
                } if delivery.attempts < max_attempts => {
                    let wait = backoff(&self.inner.outbound, delivery.attempts)
                        .max(after.unwrap_or_default().min(self.max_backoff()));
                    delivery.next_attempt_at = Some(
                        crate::store::now() + chrono::Duration::from_std(wait).unwrap_or_default(),
                    );
                    delivery.last_status_code = status.map(i32::from);
                    tracing::debug!(delivery = %delivery.id, attempt = delivery.attempts, error = %error, "channel delivery will be retried");
                    delivery.last_error = Some(error);
                    self.record(&delivery).await;
                    tokio::time::sleep(wait).await;
                }
                Outcome::Retry { status, error, .. } | Outcome::Fail { status, error } => {
                    self.finish_failed(&mut delivery, status.map(i32::from), error)
                        .await;
                    return;
                }
            }
        }
    }

    async fn still_pending(&self, id: &str) -> bool {
        let id = id.to_string();
        match self
            .inner
            .store
            .run(move |conn| deliveries::find(conn, &id))
            .await
        {
            Ok(row) => row.status == deliveries::PENDING,
            // Sending twice is the lesser harm than never sending: receivers de-duplicate.
            Err(e) => {
                tracing::warn!(error = %e, "delivery status not re-read before resuming");
                true
            }
        }
    }

    /// Deliveries queued or being sent right now.
    pub fn in_flight(&self) -> usize {
        self.lanes().active.len()
    }

    /// Marks a resumed row that can no longer be sent as failed.
    async fn abandon(&self, mut delivery: ChannelDelivery, reason: &str) {
        let status = delivery.last_status_code;
        self.finish_failed(&mut delivery, status, reason.to_string())
            .await;
    }

    async fn finish_failed(
        &self,
        delivery: &mut ChannelDelivery,
        status: Option<i32>,
        error: String,
    ) {
        delivery.status = deliveries::FAILED.into();
        delivery.next_attempt_at = None;
        delivery.last_status_code = status;
        delivery.last_error = Some(error.clone());
        self.record(delivery).await;
        tracing::warn!(
            delivery = %delivery.id,
            integration = %delivery.integration_id,
            conversation = %delivery.conversation_id,
            attempts = delivery.attempts,
            status_code = ?status,
            reason = %error,
            "channel delivery failed"
        );
        self.inner.events.publish(
            &delivery.tenant_id,
            Some(&delivery.conversation_id),
            EngineEvent::DeliveryFailed {
                delivery_id: delivery.id.clone(),
                integration_id: delivery.integration_id.clone(),
                message_id: delivery.message_id.clone(),
                attempts: delivery.attempts,
                status_code: status,
                reason: error,
            },
        );
    }

    async fn record(&self, delivery: &ChannelDelivery) {
        let id = delivery.id.clone();
        let update = AttemptUpdate {
            status: delivery.status.clone(),
            attempts: delivery.attempts,
            next_attempt_at: delivery.next_attempt_at,
            last_status_code: delivery.last_status_code,
            last_error: delivery.last_error.clone(),
            updated_at: crate::store::now(),
        };
        let result = match &self.writer {
            Some(writer) => {
                writer
                    .write(
                        &delivery.conversation_id,
                        Fence::Claimed,
                        Box::new(move |conn| deliveries::record_attempt(conn, &id, &update)),
                    )
                    .await
            }
            None => {
                self.inner
                    .store
                    .run(move |conn| deliveries::record_attempt(conn, &id, &update))
                    .await
            }
        };
        if let Err(e) = result {
            tracing::warn!(delivery = %delivery.id, error = %e, "channel delivery attempt not recorded");
        }
    }

    fn max_backoff(&self) -> Duration {
        Duration::from_millis(self.inner.outbound.backoff_max_ms)
    }

    async fn attempt(&self, target: &ReplyTarget, delivery_id: &str) -> Outcome {
        let integration = &target.integration;
        if !integration.enabled {
            return Outcome::fail("the integration is disabled");
        }
        let kind = match integration.kind() {
            Ok(kind) => kind,
            Err(_) => {
                return Outcome::fail(format!("unknown integration kind `{}`", integration.kind))
            }
        };
        let prepared = match kind {
            // The WebSocket hub already delivered it to the widget.
            IntegrationKind::Webchat => return Outcome::Sent { status: None },
            IntegrationKind::Generic => self.prepare_generic(target, delivery_id),
            IntegrationKind::Evolution => self.prepare_evolution(target),
        };
        match prepared {
            Ok(prepared) => self.post(prepared).await,
            Err(error) => Outcome::fail(error),
        }
    }

    fn prepare_generic(&self, target: &ReplyTarget, delivery_id: &str) -> Result<Prepared, String> {
        let integration = &target.integration;
        let url = integration
            .outbound_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .ok_or("the generic integration has no outbound_url")?;
        let secret = integration
            .secret(&self.inner.secrets)
            .map_err(|_| unsealable("secret"))?
            .ok_or("the generic integration has no secret to sign replies with")?;
        let body = serde_json::to_vec(&json!({
            "conversation_id": target.conversation_id,
            "contact": {"external_id": target.contact_external_id},
            "message": {
                "id": target.message.id,
                "seq": target.message.seq,
                "text": target.message.content,
            },
        }))
        .map_err(|e| format!("reply could not be encoded: {e}"))?;
        let mut headers = HeaderMap::new();
        let signed = signature::sign(secret.expose_secret().as_bytes(), &body);
        headers.insert(
            HeaderName::from_static("x-atende-signature"),
            header_value(&signed)?,
        );
        headers.insert(
            HeaderName::from_static("x-atende-delivery"),
            header_value(delivery_id)?,
        );
        Ok(Prepared {
            url: url.trim().to_string(),
            headers,
            body,
            secrets: vec![secret],
        })
    }

    fn prepare_evolution(&self, target: &ReplyTarget) -> Result<Prepared, String> {
        let integration = &target.integration;
        let crate::channels::evolution::Endpoint {
            base_url: base,
            instance,
            api_key,
        } = crate::channels::evolution::endpoint(integration, &self.inner.secrets)?;
        let number = evolution_number(&target.contact_external_id).ok_or_else(|| {
            format!(
                "contact id `{}` has no phone number digits",
                target.contact_external_id
            )
        })?;
        let url = send_text_url(base, instance)?;
        let body = serde_json::to_vec(&json!({
            "number": number,
            "text": target.message.content,
        }))
        .map_err(|e| format!("reply could not be encoded: {e}"))?;
        let mut headers = HeaderMap::new();
        let mut key = HeaderValue::from_str(api_key.expose_secret())
            .map_err(|_| "the evolution api_key is not a valid header value".to_string())?;
        key.set_sensitive(true);
        headers.insert(HeaderName::from_static("apikey"), key);
        Ok(Prepared {
            url,
            headers,
            body,
            secrets: vec![api_key],
        })
    }

    async fn post(&self, prepared: Prepared) -> Outcome {
        let allow_private = self.inner.outbound.allow_private_targets;
        let url = match guard::check(&prepared.url, allow_private).await {
            Ok(url) => url,
            Err(refusal) if refusal.is_retryable() => {
                return Outcome::Retry {
                    status: None,
                    error: refusal.to_string(),
                    after: None,
                }
            }
            Err(refusal) => return Outcome::fail(refusal.to_string()),
        };
        let sent = self
            .inner
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .headers(prepared.headers)
            .body(prepared.body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return self.transport_failure(e),
        };
        let status = response.status();
        let code = Some(status.as_u16());
        if status.is_success() {
            return Outcome::Sent { status: code };
        }
        let after = outbound::backoff::retry_after(response.headers());
        let secrets: Vec<&str> = prepared.secrets.iter().map(|s| s.expose_secret()).collect();
        let excerpt = body::excerpt(
            response,
            EXCERPT_BYTES.min(self.inner.outbound.max_error_body_bytes),
            EXCERPT_CHARS,
            &secrets,
        )
        .await;
        let error = if status.is_redirection() {
            format!("HTTP {status}: redirects are not followed")
        } else if excerpt.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {excerpt}")
        };
        if is_retryable_status(status.as_u16()) {
            Outcome::Retry {
                status: code,
                error,
                after,
            }
        } else {
            Outcome::Fail {
                status: code,
                error,
            }
        }
    }

    fn transport_failure(&self, error: reqwest::Error) -> Outcome {
        if error.is_builder() {
            return Outcome::fail(format!("request could not be built: {}", chain(error)));
        }
        let message = if error.is_timeout() {
            format!("timed out after {} ms", self.inner.outbound.timeout_ms)
        } else if error.is_connect() {
            format!("could not connect: {}", chain(error))
        } else {
            format!("request failed: {}", chain(error))
        };
        Outcome::Retry {
            status: None,
            error: message,
            after: None,
        }
    }
}

/// Delay after the `attempt`-th failure: `backoff_initial_ms` doubling per attempt, capped at
/// `backoff_max_ms`, with "equal jitter" (half fixed, half random) so that deliveries failing
/// together do not retry together, yet never retry at once.
fn backoff(outbound: &OutboundSettings, attempt: i32) -> Duration {
    equal_jitter(
        Duration::from_millis(outbound.backoff_initial_ms),
        Duration::from_millis(outbound.backoff_max_ms),
        u32::try_from(attempt.saturating_sub(1)).unwrap_or(0),
    )
}

fn unsealable(column: &str) -> String {
    format!("the integration {column} cannot be unsealed (was secrets.encryption_key changed?)")
}

fn header_value(raw: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(raw).map_err(|_| "a header value is not valid".to_string())
}

/// 408, 429 and 5xx may succeed later; any other answer is the receiver's final word.
fn is_retryable_status(code: u16) -> bool {
    code == 408 || code == 429 || (500..600).contains(&code)
}

/// An error and its causes on one line, without the URL (it may carry credentials or
/// tokens in its query).
fn chain(error: reqwest::Error) -> String {
    outbound::error_chain(&error.without_url())
}

/// The `number` Evolution API wants for a remoteJid: the digits of a person's jid
/// (`5511999998888@s.whatsapp.net`, possibly with a `:device` suffix, or a bare phone number
/// such as `+55 11 99999-8888`), or the whole jid of a group (`…@g.us`), which is addressed
/// by it.
pub fn evolution_number(external_id: &str) -> Option<String> {
    let id = external_id.trim();
    if id.ends_with("@g.us") {
        return Some(id.to_string());
    }
    let user = id.split('@').next().unwrap_or(id);
    let user = user.split(':').next().unwrap_or(user);
    let digits: String = user.chars().filter(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

/// `{base_url}/message/sendText/{instance}`, with the instance name escaped as one segment.
fn send_text_url(base: &str, instance: &str) -> Result<String, String> {
    crate::channels::evolution::api_url(base, &["message", "sendText", instance])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evolution_numbers_are_the_digits_of_the_jid() {
        assert_eq!(
            evolution_number("5511999998888@s.whatsapp.net").as_deref(),
            Some("5511999998888")
        );
        assert_eq!(
            evolution_number("5511999998888:12@s.whatsapp.net").as_deref(),
            Some("5511999998888")
        );
        assert_eq!(
            evolution_number(" +55 (11) 99999-8888 ").as_deref(),
            Some("5511999998888")
        );
        assert_eq!(
            evolution_number("120363025246125888@g.us").as_deref(),
            Some("120363025246125888@g.us")
        );
        assert_eq!(evolution_number("no-digits@s.whatsapp.net"), None);
        assert_eq!(evolution_number(""), None);
    }

    #[test]
    fn send_text_urls_keep_the_base_path_and_escape_the_instance() {
        assert_eq!(
            send_text_url("https://evo.example.com", "main").as_deref(),
            Ok("https://evo.example.com/message/sendText/main")
        );
        assert_eq!(
            send_text_url("https://evo.example.com/api/", "loja 1/a").as_deref(),
            Ok("https://evo.example.com/api/message/sendText/loja%201%2Fa")
        );
        assert!(send_text_url("not a url", "main").is_err());
        assert!(send_text_url("mailto:a@b.c", "main").is_err());
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let outbound = OutboundSettings {
            allow_private_targets: false,
            timeout_ms: 1000,
            max_attempts: 10,
            backoff_initial_ms: 100,
            backoff_max_ms: 1000,
            max_response_bytes: 1024,
            max_error_body_bytes: 1024,
        };
        for (attempt, base) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            for _ in 0..50 {
                let ms = backoff(&outbound, attempt).as_millis() as u64;
                assert!(ms >= base / 2 && ms <= base, "attempt {attempt}: {ms} ms");
            }
        }
        let zero = OutboundSettings {
            backoff_initial_ms: 0,
            ..outbound
        };
        assert_eq!(backoff(&zero, 3), Duration::ZERO);
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        for code in [408, 429, 500, 502, 503, 504, 599] {
            assert!(is_retryable_status(code), "{code}");
        }
        for code in [200, 301, 400, 401, 403, 404, 409, 410, 422] {
            assert!(!is_retryable_status(code), "{code}");
        }
    }
}
