//! Routing to the owning node: every event for a conversation goes through the registry
//! (src/engine/registry.rs), which hands it to the local actor when this node holds the
//! tenant's lease and otherwise sends it here, to the owner, as a NATS request on
//! `<bucket>.node.<node_id>`. A tenant nobody holds is taken by the node that first needs it.
//! The owner answers with what its actor answered; a node that no longer owns the tenant
//! answers `NotOwner` and the sender looks the owner up again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::lease::{self, Leases};
use super::membership::ClusterError;
use crate::domain::limits::LimitHit;
use crate::domain::{AgentId, ConversationId, TenantId};
use crate::engine::conversation::{
    Assign, Close, CustomerMessage, Edit, Escalate, EscalationTimeoutDue, FollowupDue, HumanReply,
    Resume, Take, Transfer,
};
use crate::engine::writer::{Inbound, Ingested};
use crate::engine::EngineError;
use crate::llm::ChatMessage;
use crate::store::messages::Message;
use crate::store::{Store, StoreError};

/// Times a forward looks the owner up again after the node it tried no longer owned the
/// tenant or did not answer (it died; its lease runs out and is taken over meanwhile).
const FORWARD_ATTEMPTS: u32 = 8;

/// An event for a conversation, as it crosses to the owning node: the conversation actor's
/// own message (boxed: a customer message is large, the others small).
#[derive(Debug, Serialize, Deserialize)]
pub enum Command {
    CustomerMessage(Box<CustomerMessage>),
    Resume(Box<Resume>),
    Assign(Box<Assign>),
    Take(Box<Take>),
    Edit(Box<Edit>),
    Transfer(Box<Transfer>),
    Escalate(Box<Escalate>),
    Close(Box<Close>),
    HumanReply(Box<HumanReply>),
    FollowupDue(Box<FollowupDue>),
    EscalationTimeoutDue(Box<EscalationTimeoutDue>),
}

/// What the owner's actor answered.
#[derive(Debug, Serialize, Deserialize)]
pub enum Answer {
    Done,
    Message(Box<Message>),
    Ingested(Box<Ingested>),
    Failed(WireError),
    /// The node no longer holds the tenant's lease.
    NotOwner,
}

/// [`EngineError`] on the wire; store details stay with the node that had them.
#[derive(Debug, Serialize, Deserialize)]
pub enum WireError {
    Closed,
    Taken,
    Forbidden,
    AgentNotFound,
    UserNotFound,
    Limit(LimitHit),
    Fenced,
    Unavailable(String),
}

impl From<&EngineError> for WireError {
    fn from(e: &EngineError) -> Self {
        match e {
            EngineError::Closed => WireError::Closed,
            EngineError::Taken => WireError::Taken,
            EngineError::Forbidden => WireError::Forbidden,
            EngineError::AgentNotFound => WireError::AgentNotFound,
            EngineError::UserNotFound => WireError::UserNotFound,
            EngineError::Limit(hit) => WireError::Limit(*hit),
            EngineError::Store(StoreError::Fenced(_)) => WireError::Fenced,
            EngineError::Store(other) => WireError::Unavailable(other.to_string()),
            EngineError::Unavailable(why) => WireError::Unavailable(why.clone()),
        }
    }
}

impl From<WireError> for EngineError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Closed => EngineError::Closed,
            WireError::Taken => EngineError::Taken,
            WireError::Forbidden => EngineError::Forbidden,
            WireError::AgentNotFound => EngineError::AgentNotFound,
            WireError::UserNotFound => EngineError::UserNotFound,
            WireError::Limit(hit) => EngineError::Limit(hit),
            WireError::Fenced => {
                EngineError::Store(StoreError::Fenced("the owning node changed".into()))
            }
            WireError::Unavailable(why) => EngineError::Unavailable(why),
        }
    }
}

/// A conversation message's answer, to and from the wire.
pub trait Answered: Sized {
    fn into_answer(self) -> Answer;
    /// `Failed` and `NotOwner` become this answer's own failure.
    fn from_answer(answer: Answer) -> Self;
}

impl Answered for () {
    fn into_answer(self) -> Answer {
        Answer::Done
    }
    fn from_answer(_: Answer) -> Self {}
}

fn failure(answer: Answer) -> EngineError {
    match answer {
        Answer::Failed(e) => e.into(),
        Answer::NotOwner => EngineError::Unavailable("the conversation's owner moved".into()),
        _ => EngineError::Unavailable("unexpected answer from the owning node".into()),
    }
}

impl Answered for Result<(), EngineError> {
    fn into_answer(self) -> Answer {
        match self {
            Ok(()) => Answer::Done,
            Err(e) => Answer::Failed((&e).into()),
        }
    }
    fn from_answer(answer: Answer) -> Self {
        match answer {
            Answer::Done => Ok(()),
            other => Err(failure(other)),
        }
    }
}

impl Answered for Result<Message, EngineError> {
    fn into_answer(self) -> Answer {
        match self {
            Ok(message) => Answer::Message(Box::new(message)),
            Err(e) => Answer::Failed((&e).into()),
        }
    }
    fn from_answer(answer: Answer) -> Self {
        match answer {
            Answer::Message(message) => Ok(*message),
            other => Err(failure(other)),
        }
    }
}

/// What crosses to the owner: an event for one of its conversations, or an inbound message
/// to store (the owner writes its tenant's conversations, so two nodes never open two
/// conversations for one contact).
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Conversation {
        tenant: TenantId,
        conversation: ConversationId,
        command: Command,
    },
    Accept(Box<Inbound>),
    /// A staff chat with one of the tenant's agents: it takes a slot of the agent's caps.
    Chat(Box<RemoteChat>),
}

impl Request {
    pub fn tenant(&self) -> &TenantId {
        match self {
            Request::Conversation { tenant, .. } => tenant,
            Request::Accept(inbound) => &inbound.tenant_id,
            Request::Chat(chat) => &chat.tenant,
        }
    }
}

/// A staff chat with an agent (`POST /agents/{id}/chat/stream`) received by a node that does
/// not own the tenant. The owner admits it through the agent's supervisor, so the agent's
/// caps hold in the cluster, and publishes the stream's bytes to `reply_to` as they come,
/// then one empty message; the receiving node passes them on to its client.
#[derive(Debug, Serialize, Deserialize)]
pub struct RemoteChat {
    pub tenant: TenantId,
    pub agent: AgentId,
    pub messages: Vec<ChatMessage>,
    pub context: Vec<String>,
    pub reply_to: String,
}

/// Where a tenant's events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Here,
    Node(String),
}

/// This node's side of routing: which node owns a tenant (taking it when nobody does) and
/// sending requests there.
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

struct Inner {
    client: async_nats::Client,
    bucket: String,
    leases: Leases,
    store: Store,
    lease_ms: i64,
    /// Owners of tenants held elsewhere, looked up recently.
    owners: Mutex<HashMap<TenantId, (String, Instant)>>,
    /// One acquisition or renewal at a time, so a renewal's answer never drops a lease taken
    /// while it ran.
    acquiring: tokio::sync::Mutex<()>,
    /// Tenants this node just took: the engine resumes their pending conversations.
    acquired: mpsc::UnboundedSender<TenantId>,
    timeout: Duration,
}

impl Router {
    pub fn new(
        client: async_nats::Client,
        settings: &super::ClusterSettings,
        leases: Leases,
        store: Store,
    ) -> (Router, mpsc::UnboundedReceiver<TenantId>) {
        let (acquired, taken) = mpsc::unbounded_channel();
        let router = Router {
            inner: Arc::new(Inner {
                client,
                bucket: settings.bucket.clone(),
                leases,
                store,
                lease_ms: settings.lease_ms(),
                owners: Mutex::default(),
                acquiring: tokio::sync::Mutex::new(()),
                acquired,
                timeout: Duration::from_millis(settings.forward_timeout_ms),
            }),
        };
        (router, taken)
    }

    pub fn leases(&self) -> &Leases {
        &self.inner.leases
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.inner.client
    }

    /// How long a node waits for a peer: an answer, or the next piece of a chat stream.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    fn subject(&self, node: &str) -> String {
        node_subject(&self.inner.bucket, node)
    }

    /// The owner of `tenant`, taking its lease when nobody holds it.
    pub async fn resolve(&self, tenant: &TenantId) -> Result<Route, StoreError> {
        let inner = &self.inner;
        if inner.leases.holds(tenant) {
            return Ok(Route::Here);
        }
        let fresh = Duration::from_millis(u64::try_from(inner.lease_ms / 2).unwrap_or(0));
        if let Some(node) = inner.owners.lock().ok().and_then(|owners| {
            owners
                .get(tenant)
                .filter(|(_, at)| at.elapsed() < fresh)
                .map(|(n, _)| n.clone())
        }) {
            return Ok(Route::Node(node));
        }
        let _one = inner.acquiring.lock().await;
        if inner.leases.holds(tenant) {
            return Ok(Route::Here);
        }
        let (me, lease_ms, wanted) = (
            inner.leases.node().to_string(),
            inner.lease_ms,
            tenant.clone(),
        );
        let found = inner
            .store
            .run(move |conn| match lease::owner(conn, &wanted)? {
                Some(owner) => Ok(Err(owner)),
                None => Ok(Ok(lease::acquire(conn, &wanted, &me, lease_ms)?)),
            })
            .await?;
        match found {
            Ok(Some(token)) => {
                tracing::info!(tenant = %tenant, token, "tenant lease taken");
                inner.leases.insert(tenant.clone(), token);
                let _ = inner.acquired.send(tenant.clone());
                Ok(Route::Here)
            }
            Err(owner) if owner != inner.leases.node() => {
                if let Ok(mut owners) = inner.owners.lock() {
                    owners.insert(tenant.clone(), (owner.clone(), Instant::now()));
                }
                Ok(Route::Node(owner))
            }
            // Taken by another node between the two statements, or held here under a lease
            // this node's view lost: the next attempt looks again.
            _ => Err(StoreError::Unavailable(
                "the tenant's lease is changing hands".into(),
            )),
        }
    }

    fn forget_owner(&self, tenant: &TenantId) {
        if let Ok(mut owners) = self.inner.owners.lock() {
            owners.remove(tenant);
        }
    }

    /// Sends `request` to its tenant's owner and returns the answer; `None`: this node owns
    /// the tenant (now), so the caller handles it locally.
    pub async fn forward(&self, request: &Request) -> Option<Answer> {
        let tenant = request.tenant().clone();
        let payload = match serde_json::to_vec(request) {
            Ok(payload) => bytes::Bytes::from(payload),
            Err(e) => {
                return Some(Answer::Failed(WireError::Unavailable(e.to_string())));
            }
        };
        let mut last = String::from("no attempt");
        for attempt in 0..FORWARD_ATTEMPTS {
            if attempt > 0 {
                // The owner died or moved: its lease runs out and is taken over meanwhile.
                let pause = u64::try_from(self.inner.lease_ms / 4).unwrap_or(250);
                tokio::time::sleep(Duration::from_millis(pause.max(50))).await;
            }
            let node = match self.resolve(&tenant).await {
                Ok(Route::Here) => return None,
                Ok(Route::Node(node)) => node,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            let sent = tokio::time::timeout(
                self.inner.timeout,
                self.inner
                    .client
                    .request(self.subject(&node), payload.clone()),
            )
            .await;
            match sent {
                Ok(Ok(reply)) => match serde_json::from_slice::<Answer>(&reply.payload) {
                    Ok(Answer::NotOwner) => {
                        self.forget_owner(&tenant);
                        last = format!("{node} no longer owns the tenant");
                    }
                    Ok(answer) => return Some(answer),
                    Err(e) => {
                        return Some(Answer::Failed(WireError::Unavailable(format!(
                            "unreadable answer from {node}: {e}"
                        ))))
                    }
                },
                Ok(Err(e)) => {
                    self.forget_owner(&tenant);
                    last = format!("{node}: {e}");
                }
                Err(_) => {
                    self.forget_owner(&tenant);
                    last = format!("{node} did not answer in time");
                }
            }
            tracing::debug!(tenant = %tenant, attempt, reason = %last, "forward retried");
        }
        tracing::warn!(tenant = %tenant, reason = %last, "event not delivered to the tenant's owner");
        Some(Answer::Failed(WireError::Unavailable(format!(
            "the conversation's owner is unreachable: {last}"
        ))))
    }

    /// Renews what this node holds and takes over leases that ran out: the tenants lost and
    /// the tenants taken.
    pub async fn keep(
        &self,
        take_at_most: i64,
    ) -> Result<(Vec<TenantId>, Vec<TenantId>), StoreError> {
        let inner = &self.inner;
        let _one = inner.acquiring.lock().await;
        let (me, lease_ms) = (inner.leases.node().to_string(), inner.lease_ms);
        let (renewed, taken) = inner
            .store
            .run(move |conn| {
                let renewed = lease::renew(conn, &me, lease_ms)?;
                let taken = lease::take_over(conn, &me, lease_ms, take_at_most)?;
                Ok((renewed, taken))
            })
            .await?;
        let mut held = renewed;
        held.extend(taken.iter().cloned());
        let lost = inner.leases.replace(held);
        let taken: Vec<TenantId> = taken.into_iter().map(|(t, _)| t).collect();
        for tenant in &taken {
            tracing::info!(tenant = %tenant, "tenant lease taken over");
            self.forget_owner(tenant);
        }
        Ok((lost, taken))
    }

    /// Lets go of every lease (a graceful stop, after the writer flushed): peers take the
    /// tenants over at their next renewal instead of after the lease's time.
    pub async fn release(&self) -> Result<usize, StoreError> {
        let inner = &self.inner;
        let _one = inner.acquiring.lock().await;
        inner.leases.clear();
        let me = inner.leases.node().to_string();
        inner
            .store
            .run(move |conn| lease::release_all(conn, &me))
            .await
    }
}

pub fn node_subject(bucket: &str, node: &str) -> String {
    format!("{bucket}.node.{node}")
}

/// Serves the requests peers send this node: each is answered by `handle` (the engine),
/// or `NotOwner` when this node does not hold the tenant. Subscribed before returning.
pub async fn serve<H, F>(
    client: async_nats::Client,
    bucket: &str,
    leases: Leases,
    handle: H,
) -> Result<(), ClusterError>
where
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: std::future::Future<Output = Answer> + Send + 'static,
{
    let mut incoming = client
        .subscribe(node_subject(bucket, leases.node()))
        .await
        .map_err(|e| ClusterError::Connect(e.to_string()))?;
    // A tokio task, not an actix one: the runtime drops it (and its subscription) while it
    // still runs, at exit.
    tokio::spawn(async move {
        while let Some(message) = incoming.next().await {
            let Some(reply_to) = message.reply.clone() else {
                continue;
            };
            let answer = match serde_json::from_slice::<Request>(&message.payload) {
                Ok(request) if leases.holds(request.tenant()) => Some(handle(request)),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable request from a peer");
                    continue;
                }
            };
            let client = client.clone();
            // Handed to the engine in the order they came (`handle` queues before it
            // returns); answered as they finish.
            tokio::spawn(async move {
                let answer = match answer {
                    Some(pending) => pending.await,
                    None => Answer::NotOwner,
                };
                match serde_json::to_vec(&answer) {
                    Ok(payload) => {
                        if let Err(e) = client.publish(reply_to, payload.into()).await {
                            tracing::warn!(error = %e, "answer to a peer not sent");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "answer to a peer not encoded"),
                }
            });
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_keep_their_meaning_across_the_wire() {
        for e in [
            EngineError::Closed,
            EngineError::Taken,
            EngineError::Forbidden,
            EngineError::Limit(LimitHit::MaxConversations),
        ] {
            let sent = e.to_string();
            let crossed: Answer = serde_json::from_slice(
                &serde_json::to_vec(&Result::<(), EngineError>::Err(e).into_answer())
                    .expect("encodes"),
            )
            .expect("decodes");
            let back = Result::<(), EngineError>::from_answer(crossed);
            assert_eq!(back.map_err(|e| e.to_string()), Err(sent));
        }
        assert!(Result::<(), EngineError>::from_answer(Answer::Done).is_ok());
        assert!(matches!(
            Result::<(), EngineError>::from_answer(Answer::NotOwner),
            Err(EngineError::Unavailable(_))
        ));
        let fenced: EngineError =
            WireError::from(&EngineError::Store(StoreError::Fenced("x".into()))).into();
        assert!(matches!(fenced, EngineError::Store(StoreError::Fenced(_))));
    }

    #[test]
    fn requests_name_their_tenant() {
        let request = Request::Conversation {
            tenant: TenantId("t1".into()),
            conversation: ConversationId("c1".into()),
            command: Command::Close(Box::new(Close { reason: None })),
        };
        let crossed: Request =
            serde_json::from_slice(&serde_json::to_vec(&request).expect("encodes"))
                .expect("decodes");
        assert_eq!(crossed.tenant().as_str(), "t1");
    }
}
