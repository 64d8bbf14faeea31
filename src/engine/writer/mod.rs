//! The message writer: the one ordered write path for messages. Every append (inbound from a
//! channel, AI reply, human reply) goes through it, so `seq` allocation and external-id
//! de-duplication never race. Appends are grouped into one transaction per batch (group
//! commit): throughput pays one commit per batch, not per message. A caller is answered only
//! after its batch committed, so an acknowledged message is durable.

mod inbound_batch;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::cluster::lease::Leases;
use crate::cluster::work::WorkClaims;
use crate::domain::conversation::SenderType;
use crate::domain::{ContactId, ConversationId, IntegrationId, TenantId};
use crate::store::contacts::{self, ChannelIdentity, Contact};
use crate::store::conversations::{self, Conversation};
use crate::store::deliveries::{self, ChannelDelivery};
use crate::store::executor::transaction;
use crate::store::messages::{self, Message, NewMessage};
use crate::store::{DbConn, Store, StoreError, StoreResult};

/// A message arriving from a channel. Serializable: in cluster mode the node that received it
/// hands it to the tenant's owner.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Inbound {
    pub tenant_id: TenantId,
    pub integration_id: IntegrationId,
    pub channel: &'static str,
    pub contact: ChannelIdentity,
    pub external_id: String,
    pub content: String,
    pub content_type: String,
    pub metadata: serde_json::Value,
    /// Sent by the business itself from another device (e.g. WhatsApp `fromMe`): recorded as
    /// outbound, never answered.
    pub from_business: bool,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Ingested {
    pub conversation: Conversation,
    pub contact: Contact,
    pub message: Message,
    pub duplicate: bool,
    pub new_conversation: bool,
    /// The message is the customer's CSAT rating of the closed conversation it was written
    /// to (no conversation opened, nothing for an agent to answer).
    pub rating: Option<u8>,
}

impl Ingested {
    /// The message opened its conversation and is all it holds: the conversation as
    /// committed (`conversation`, final for the batch) has no other message.
    pub fn opened_with_this_message(&self) -> bool {
        self.new_conversation && self.message.seq == 1 && self.conversation.last_seq == 1
    }
}

/// The channels messages come in from (`Inbound::channel`).
pub const CHANNELS: [&str; 3] = ["generic", "whatsapp", "webchat"];

/// [`Inbound`] as read from a peer: the channel's name is one of [`CHANNELS`].
#[derive(serde::Deserialize)]
struct InboundOnTheWire {
    tenant_id: TenantId,
    integration_id: IntegrationId,
    channel: String,
    contact: ChannelIdentity,
    external_id: String,
    content: String,
    content_type: String,
    metadata: serde_json::Value,
    from_business: bool,
}

impl<'de> serde::Deserialize<'de> for Inbound {
    fn deserialize<D: serde::Deserializer<'de>>(from: D) -> Result<Self, D::Error> {
        Inbound::try_from(InboundOnTheWire::deserialize(from)?).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<InboundOnTheWire> for Inbound {
    type Error = String;

    fn try_from(wire: InboundOnTheWire) -> Result<Self, String> {
        let channel = CHANNELS
            .iter()
            .find(|known| **known == wire.channel)
            .copied()
            .ok_or_else(|| format!("unknown channel {:?}", wire.channel))?;
        Ok(Inbound {
            tenant_id: wire.tenant_id,
            integration_id: wire.integration_id,
            channel,
            contact: wire.contact,
            external_id: wire.external_id,
            content: wire.content,
            content_type: wire.content_type,
            metadata: wire.metadata,
            from_business: wire.from_business,
        })
    }
}

/// What commits together with an outbound message: the reply path is one commit, so a
/// stored reply always has its channel delivery and its answered mark (a crash cannot
/// leave a reply that was never sent, or customer messages answered twice).
#[derive(Debug, Clone, Default)]
pub struct AlongWith {
    /// Record a pending channel delivery of the message to this integration.
    pub deliver_via: Option<IntegrationId>,
    /// Mark the customer's messages answered.
    pub answered: Option<Answered>,
    /// The delivery row starts claimed by this node until then (set by the writer), so its
    /// first attempt needs no claim of its own: one commit less per reply.
    held: Option<(String, chrono::NaiveDateTime)>,
}

impl AlongWith {
    pub fn new(deliver_via: Option<IntegrationId>, answered: Option<Answered>) -> Self {
        AlongWith {
            deliver_via,
            answered,
            held: None,
        }
    }
}

/// What a reply marks on its conversation (answered up to where, an AI reply or not).
pub use crate::store::messages::ReplyMarks as Answered;

/// An outbound message as committed, with the delivery row recorded beside it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub message: Message,
    pub delivery: Option<ChannelDelivery>,
    /// Until when this node holds the delivery's claim (committed with it).
    pub held_until: Option<chrono::NaiveDateTime>,
}

/// A write that is not a message but belongs on a conversation's ordered path (an owner
/// change, a turn log). Run again if its batch is retried, so it must be repeatable.
pub type Write = Box<dyn Fn(&mut DbConn) -> StoreResult<()> + Send>;

/// Who may commit a [`Write`] in cluster mode.
#[derive(Debug, Clone)]
pub enum Fence {
    /// The conversation's state, written by the tenant's owner: committed only while this
    /// node still holds the tenant's lease (a stale owner writes nothing).
    Owner(TenantId),
    /// A work item's record (a channel delivery attempt): whichever node claimed the item.
    Claimed,
}

enum Op {
    Inbound(Box<Inbound>, oneshot::Sender<StoreResult<Ingested>>),
    Append(
        Box<(NewMessage, AlongWith)>,
        oneshot::Sender<StoreResult<Stored>>,
    ),
    Write(
        ConversationId,
        Fence,
        Write,
        Option<oneshot::Sender<StoreResult<()>>>,
    ),
}

impl Op {
    /// The tenant whose lease must still be held when this commits.
    fn fence(&self) -> Option<TenantId> {
        match self {
            Op::Inbound(inbound, _) => Some(inbound.tenant_id.clone()),
            Op::Append(append, _) => Some(append.0.tenant_id.clone()),
            Op::Write(_, Fence::Owner(tenant), ..) => Some(tenant.clone()),
            Op::Write(_, Fence::Claimed, ..) => None,
        }
    }
}

#[derive(Clone)]
pub struct MessageWriter {
    /// One ordered queue per lane. A contact's inbound messages always take the same lane
    /// (so contact and conversation creation never race), a conversation's appends too; lanes
    /// commit concurrently, which is what lets a server database use more than one connection.
    lanes: Vec<mpsc::Sender<Op>>,
    /// Who claims the delivery rows written with replies (`None`: they start unclaimed).
    claims: Option<Arc<WorkClaims>>,
}

/// How a lane commits: where, how many items per batch, how long a batch waits to fill,
/// and, in cluster mode, the leases its writes are fenced by.
#[derive(Clone)]
struct Lane {
    store: Store,
    batch_max: usize,
    batch_wait: Duration,
    leases: Option<Leases>,
}

impl MessageWriter {
    /// Starts the writer task on the current arbiter.
    /// `leases`: cluster mode, where a tenant's writes commit only while this node holds its
    /// lease (`None`: a single node, which owns every tenant).
    pub fn start(
        store: Store,
        batch_max: usize,
        batch_wait: Duration,
        queue_capacity: usize,
        lanes: usize,
        leases: Option<Leases>,
    ) -> Self {
        let lane = Lane {
            store,
            batch_max: batch_max.max(1),
            batch_wait,
            leases,
        };
        let lanes = (0..lanes.max(1))
            .map(|_| {
                let (queue, receiver) = mpsc::channel(queue_capacity.max(1));
                actix_web::rt::spawn(run(lane.clone(), receiver));
                queue
            })
            .collect();
        MessageWriter {
            lanes,
            claims: None,
        }
    }

    /// Delivery rows written with replies start claimed by this node (see [`AlongWith`]).
    pub fn claiming(self, claims: Arc<WorkClaims>) -> Self {
        MessageWriter {
            claims: Some(claims),
            ..self
        }
    }

    pub async fn ingest(&self, inbound: Inbound) -> StoreResult<Ingested> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::Inbound(Box::new(inbound), tx)).await?;
        rx.await.map_err(|_| closed())?
    }

    pub async fn append(&self, message: NewMessage) -> StoreResult<Message> {
        Ok(self.reply(message, AlongWith::default()).await?.message)
    }

    /// Appends an outbound message with what commits along with it, in one transaction.
    pub async fn reply(&self, message: NewMessage, mut along: AlongWith) -> StoreResult<Stored> {
        if let (Some(_), Some(claims)) = (&along.deliver_via, &self.claims) {
            along.held = Some((claims.node.clone(), claims.window().1));
        }
        let (tx, rx) = oneshot::channel();
        self.submit(Op::Append(Box::new((message, along)), tx))
            .await?;
        rx.await.map_err(|_| closed())?
    }

    /// Commits `write` with the conversation's lane's next batch (group commit, not a
    /// commit of its own) and answers once it is durable.
    pub async fn write(
        &self,
        conversation: &ConversationId,
        fence: Fence,
        write: Write,
    ) -> StoreResult<()> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::Write(conversation.clone(), fence, write, Some(tx)))
            .await?;
        rx.await.map_err(|_| closed())?
    }

    /// Queues `write` without waiting for its commit: it still commits before any append
    /// of the conversation queued after it (same lane, in order). A failure is logged.
    pub async fn write_behind(
        &self,
        conversation: &ConversationId,
        fence: Fence,
        write: Write,
    ) -> StoreResult<()> {
        self.submit(Op::Write(conversation.clone(), fence, write, None))
            .await
    }

    /// Resolves once everything queued before the call is committed (or failed): a no-op
    /// write goes behind it on every lane, whose batches commit in order. A graceful
    /// shutdown waits for this, so no `write_behind` is lost.
    pub async fn flush(&self) -> StoreResult<()> {
        let mut answers = Vec::with_capacity(self.lanes.len());
        for lane in &self.lanes {
            let (tx, rx) = oneshot::channel();
            let barrier: Write = Box::new(|_| Ok(()));
            lane.send(Op::Write(
                ConversationId(String::new()),
                Fence::Claimed,
                barrier,
                Some(tx),
            ))
            .await
            .map_err(|_| closed())?;
            answers.push(rx);
        }
        for answer in answers {
            answer.await.map_err(|_| closed())??;
        }
        Ok(())
    }

    /// The lane `conversation`'s writes commit on: the shard of the counters they update,
    /// so no two lanes ever touch the same counter row.
    pub fn lane_of(&self, conversation: &ConversationId) -> i32 {
        i32::try_from(self.lane_index(lane_key(&[conversation.as_str()]))).unwrap_or(0)
    }

    fn lane_index(&self, key: u64) -> usize {
        usize::try_from(key % self.lanes.len().max(1) as u64).unwrap_or(0)
    }

    async fn submit(&self, op: Op) -> StoreResult<()> {
        let key = match &op {
            Op::Inbound(inbound, _) => lane_key(&[
                inbound.tenant_id.as_str(),
                inbound.integration_id.as_str(),
                &inbound.contact.external_id,
            ]),
            Op::Append(append, _) => lane_key(&[append.0.conversation_id.as_str()]),
            Op::Write(conversation, ..) => lane_key(&[conversation.as_str()]),
        };
        let lane = self.lane_index(key);
        // A full queue makes callers wait (back-pressure to the HTTP layer), never drops.
        match self.lanes.get(lane) {
            Some(queue) => queue.send(op).await.map_err(|_| closed()),
            None => Err(closed()),
        }
    }
}

fn lane_key(parts: &[&str]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut hasher);
    hasher.finish()
}

/// Lanes for `backend`: SQLite has one writer at a time whatever we do, so one lane; a server
/// database gets `configured` (0 = as many as store threads, at most 4).
pub fn lanes_for(backend: &str, configured: usize, store_threads: usize) -> usize {
    match (backend, configured) {
        ("sqlite", _) => 1,
        (_, 0) => store_threads.clamp(1, 4),
        (_, n) => n,
    }
}

/// Lock conflicts between lanes (two batches touching the same conversation rows in opposite
/// orders): the database aborted one side, and the same batch run again succeeds.
fn is_transient(error: &StoreError) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        StoreError::Database(Error::DatabaseError(kind, info)) => {
            matches!(kind, DatabaseErrorKind::SerializationFailure)
                || info.message().contains("deadlock detected")
        }
        _ => false,
    }
}

/// Times a batch is tried when lanes collide.
const TRANSIENT_ATTEMPTS: usize = 5;

fn closed() -> StoreError {
    StoreError::Unavailable("message writer stopped".into())
}

async fn run(lane: Lane, mut receiver: mpsc::Receiver<Op>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + lane.batch_wait;
        while batch.len() < lane.batch_max {
            match receiver.try_recv() {
                Ok(op) => batch.push(op),
                Err(mpsc::error::TryRecvError::Empty) => {
                    match tokio::time::timeout_at(deadline, receiver.recv()).await {
                        Ok(Some(op)) => batch.push(op),
                        _ => break,
                    }
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        }
        write_batch(&lane, batch).await;
    }
}

enum Outcome {
    Inbound(Box<StoreResult<Ingested>>),
    Append(Box<StoreResult<Stored>>),
    Write(StoreResult<()>),
}

impl Outcome {
    fn error(&self) -> Option<&StoreError> {
        match self {
            Outcome::Inbound(r) => r.as_ref().as_ref().err(),
            Outcome::Append(r) => r.as_ref().as_ref().err(),
            Outcome::Write(r) => r.as_ref().err(),
        }
    }

    fn is_transient(&self) -> bool {
        self.error().is_some_and(is_transient)
    }
}

/// Plain data of an op, movable to a store thread; the reply channels stay here.
enum Work {
    Inbound(Box<Inbound>),
    Append(Box<(NewMessage, AlongWith)>),
    Write(Write),
}

async fn write_batch(lane: &Lane, batch: Vec<Op>) {
    let mut replies = Vec::with_capacity(batch.len());
    let mut work = Vec::with_capacity(batch.len());
    let fences: Vec<Option<TenantId>> = match &lane.leases {
        Some(_) => batch.iter().map(Op::fence).collect(),
        None => vec![None; batch.len()],
    };
    let leases = lane.leases.clone();
    for op in batch {
        match op {
            Op::Inbound(inbound, reply) => {
                work.push(Work::Inbound(inbound));
                replies.push(Reply::Inbound(reply));
            }
            Op::Append(message, reply) => {
                work.push(Work::Append(message));
                replies.push(Reply::Append(reply));
            }
            Op::Write(_, _, write, reply) => {
                work.push(Work::Write(write));
                replies.push(Reply::Write(reply));
            }
        }
    }
    let result = lane
        .store
        .run(move |conn| {
            let mut attempt = 1;
            // Items run bare first: a savepoint each costs two round trips on a server
            // database, and items rarely fail. If one does, the batch is rolled back and runs
            // again guarded — each run of inbound messages as one set under a savepoint,
            // anything else a savepoint per item — so the bad item fails alone.
            let mut guarded = false;
            loop {
                // One transaction for the batch. An item that lost a lock conflict rolls the
                // whole batch back to run again, so that items of one contact never change
                // order.
                let mut collided = false;
                let mut failed_bare = false;
                let result = transaction(conn, |conn| {
                    // Fenced first: the leases stay share-locked until this commits.
                    let fenced = fenced_items(conn, leases.as_ref(), &fences)?;
                    let mut outcomes = Vec::with_capacity(work.len());
                    for run in runs(&work, &fenced) {
                        match run {
                            Run::Inbound(items) => {
                                let written = match guarded {
                                    true => transaction(conn, |conn| {
                                        inbound_batch::write(conn, &items)
                                    }),
                                    false => inbound_batch::write(conn, &items),
                                };
                                match written {
                                    Ok(ingested) => outcomes.extend(
                                        ingested
                                            .into_iter()
                                            .map(|i| Outcome::Inbound(Box::new(Ok(i)))),
                                    ),
                                    Err(e) if is_transient(&e) && attempt < TRANSIENT_ATTEMPTS => {
                                        collided = true;
                                        return Err(e);
                                    }
                                    Err(e) if !guarded => {
                                        failed_bare = true;
                                        return Err(e);
                                    }
                                    Err(e) => {
                                        // Rolled back to the run's savepoint: each item again on
                                        // its own, so the bad one fails alone.
                                        tracing::debug!(error = %e, items = items.len(),
                                        "inbound run failed as a set; writing it item by item");
                                        outcomes.extend(items.iter().map(|item| {
                                            Outcome::Inbound(Box::new(transaction(conn, |conn| {
                                                ingest(conn, item)
                                            })))
                                        }));
                                    }
                                }
                            }
                            Run::One(item) => {
                                let outcome = apply(conn, item, guarded);
                                if let (false, Some(e)) = (guarded, outcome.error()) {
                                    collided = is_transient(e) && attempt < TRANSIENT_ATTEMPTS;
                                    failed_bare = !collided;
                                    return Err(StoreError::Unavailable(e.to_string()));
                                }
                                outcomes.push(outcome);
                            }
                            Run::Fenced(item) => outcomes.push(refused(item)),
                        }
                    }
                    if attempt < TRANSIENT_ATTEMPTS && outcomes.iter().any(Outcome::is_transient) {
                        collided = true;
                        return Err(StoreError::Unavailable(
                            "lock conflict between lanes".into(),
                        ));
                    }
                    Ok(outcomes)
                });
                match result {
                    Err(e) if failed_bare => {
                        tracing::debug!(error = %e, "an item of a message batch failed; running it guarded");
                        guarded = true;
                    }
                    Err(e) if (collided || is_transient(&e)) && attempt < TRANSIENT_ATTEMPTS => {
                        tracing::debug!(attempt, error = %e, "message batch collided; retrying");
                        attempt += 1;
                    }
                    other => return other,
                }
            }
        })
        .await;
    match result {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                reply.send(outcome);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "message batch failed to commit");
            let reason = e.to_string();
            for reply in replies {
                reply.fail(StoreError::Unavailable(reason.clone()));
            }
        }
    }
}

enum Reply {
    Inbound(oneshot::Sender<StoreResult<Ingested>>),
    Append(oneshot::Sender<StoreResult<Stored>>),
    /// `None`: written behind; nobody waits, so a failure is logged here.
    Write(Option<oneshot::Sender<StoreResult<()>>>),
}

impl Reply {
    fn send(self, outcome: Outcome) {
        // A caller that gave up (dropped its receiver) needs no answer.
        match (self, outcome) {
            (Reply::Inbound(tx), Outcome::Inbound(r)) => drop(tx.send(*r)),
            (Reply::Append(tx), Outcome::Append(r)) => drop(tx.send(*r)),
            (Reply::Write(Some(tx)), Outcome::Write(r)) => drop(tx.send(r)),
            (Reply::Write(None), Outcome::Write(r)) => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "a write queued behind a conversation failed");
                }
            }
            (reply, _) => reply.fail(StoreError::Corrupt("writer reply mismatch".into())),
        }
    }

    fn fail(self, err: StoreError) {
        match self {
            Reply::Inbound(tx) => drop(tx.send(Err(err))),
            Reply::Append(tx) => drop(tx.send(Err(err))),
            Reply::Write(Some(tx)) => drop(tx.send(Err(err))),
            Reply::Write(None) => {
                tracing::warn!(error = %err, "a write queued behind a conversation failed");
            }
        }
    }
}

/// A batch cut into runs, in order: consecutive inbound messages are written as one set;
/// anything else one by one; what the fence refused is not written.
enum Run<'a> {
    Inbound(Vec<&'a Inbound>),
    One(&'a Work),
    Fenced(&'a Work),
}

fn runs<'a>(work: &'a [Work], fenced: &[bool]) -> Vec<Run<'a>> {
    let mut runs: Vec<Run<'_>> = Vec::new();
    for (i, item) in work.iter().enumerate() {
        if fenced.get(i).copied().unwrap_or(false) {
            runs.push(Run::Fenced(item));
            continue;
        }
        match (item, runs.last_mut()) {
            (Work::Inbound(inbound), Some(Run::Inbound(items))) => items.push(inbound),
            (Work::Inbound(inbound), _) => runs.push(Run::Inbound(vec![inbound])),
            (other, _) => runs.push(Run::One(other)),
        }
    }
    runs
}

/// Which items of the batch must not commit: those of tenants this node no longer holds
/// under the token it knows (cluster mode).
fn fenced_items(
    conn: &mut DbConn,
    leases: Option<&Leases>,
    fences: &[Option<TenantId>],
) -> StoreResult<Vec<bool>> {
    let Some(leases) = leases else {
        return Ok(vec![false; fences.len()]);
    };
    let mut tenants: Vec<TenantId> = fences.iter().flatten().cloned().collect();
    tenants.sort_by(|a, b| a.0.cmp(&b.0));
    tenants.dedup();
    if tenants.is_empty() {
        return Ok(vec![false; fences.len()]);
    }
    let held = leases.check(conn, &tenants)?;
    let fenced: Vec<bool> = fences
        .iter()
        .map(|f| f.as_ref().is_some_and(|t| !held.contains(t)))
        .collect();
    let refused = fenced.iter().filter(|f| **f).count();
    if refused > 0 {
        tracing::warn!(
            writes = refused,
            "writes fenced: this node no longer owns their tenant"
        );
        leases.count_fenced(refused);
    }
    Ok(fenced)
}

fn refused(item: &Work) -> Outcome {
    let fenced = || StoreError::Fenced("this node no longer owns the tenant".into());
    match item {
        Work::Inbound(_) => Outcome::Inbound(Box::new(Err(fenced()))),
        Work::Append(_) => Outcome::Append(Box::new(Err(fenced()))),
        Work::Write(_) => Outcome::Write(Err(fenced())),
    }
}

/// One item, under a savepoint of its own when `guarded`.
fn apply(conn: &mut DbConn, item: &Work, guarded: bool) -> Outcome {
    fn run<R>(
        conn: &mut DbConn,
        guarded: bool,
        work: impl FnOnce(&mut DbConn) -> StoreResult<R>,
    ) -> StoreResult<R> {
        match guarded {
            true => transaction(conn, work),
            false => work(conn),
        }
    }
    match item {
        Work::Inbound(inbound) => {
            Outcome::Inbound(Box::new(run(conn, guarded, |conn| ingest(conn, inbound))))
        }
        Work::Append(append) => Outcome::Append(Box::new(run(conn, guarded, |conn| {
            let (message, along) = &**append;
            append_with(conn, message.clone(), along)
        }))),
        Work::Write(write) => Outcome::Write(run(conn, guarded, |conn| write(conn))),
    }
}

/// The message, its pending delivery and its answered mark, in the caller's transaction.
fn append_with(conn: &mut DbConn, new: NewMessage, along: &AlongWith) -> StoreResult<Stored> {
    let message = match along.answered {
        Some(marks) => messages::append_reply(conn, new, marks)?,
        None => messages::append(conn, new)?,
    };
    let delivery = match &along.deliver_via {
        Some(integration) => {
            let delivery = ChannelDelivery::pending(integration, &message);
            match &along.held {
                Some((node, until)) => deliveries::insert_held(conn, &delivery, node, *until)?,
                None => deliveries::insert(conn, &delivery)?,
            }
            Some(delivery)
        }
        None => None,
    };
    let held_until = delivery
        .as_ref()
        .and(along.held.as_ref())
        .map(|(_, until)| *until);
    Ok(Stored {
        message,
        delivery,
        held_until,
    })
}

/// Contact upsert → conversation find-or-create → de-duplicated append.
fn ingest(conn: &mut DbConn, inbound: &Inbound) -> StoreResult<Ingested> {
    let contact = contacts::upsert_from_channel(
        conn,
        &inbound.tenant_id,
        &inbound.integration_id,
        &inbound.contact,
    )?;
    if let Some(existing) =
        messages::find_by_external(conn, &inbound.integration_id, &inbound.external_id)?
    {
        let conversation = conversations::find_by_id(conn, &existing.conversation_id)?;
        return Ok(Ingested {
            conversation,
            contact,
            message: existing,
            duplicate: true,
            new_conversation: false,
            rating: None,
        });
    }
    let mut rating = None;
    let (conversation, new_conversation) =
        match conversations::find_active_for_contact(conn, &contact.id)? {
            Some(conversation) => (conversation, false),
            None if !inbound.from_business
                && crate::domain::csat::parse_rating(&inbound.content).is_some() =>
            {
                match awaiting_rating(conn, &contact.id)? {
                    Some(closed) => {
                        rating = crate::domain::csat::parse_rating(&inbound.content);
                        (closed, false)
                    }
                    None => (open_conversation(conn, inbound, &contact.id)?, true),
                }
            }
            None => (open_conversation(conn, inbound, &contact.id)?, true),
        };
    let (sender_type, direction, sender_id) = if inbound.from_business {
        (SenderType::User, "out", None)
    } else {
        (SenderType::Contact, "in", Some(contact.id.to_string()))
    };
    let message = messages::append(
        conn,
        NewMessage {
            tenant_id: inbound.tenant_id.clone(),
            conversation_id: conversation.id.clone(),
            sender_type,
            sender_id,
            content: inbound.content.clone(),
            content_type: inbound.content_type.clone(),
            direction,
            integration_id: Some(inbound.integration_id.clone()),
            external_id: Some(inbound.external_id.clone()),
            metadata: inbound.metadata.to_string(),
        },
    )?;
    if let Some(rating) = rating {
        crate::store::csat::rate(conn, &conversation.id, rating, crate::store::now())?;
    }
    Ok(Ingested {
        conversation,
        contact,
        message,
        duplicate: false,
        new_conversation,
        rating,
    })
}

/// The contact's closed conversation whose CSAT question is still waiting, if any.
fn awaiting_rating(conn: &mut DbConn, contact: &ContactId) -> StoreResult<Option<Conversation>> {
    let waiting = crate::store::csat::awaiting(conn, &[contact], crate::store::now())?;
    match waiting.get(contact) {
        Some(id) => Ok(Some(conversations::find_by_id(conn, id)?)),
        None => Ok(None),
    }
}

fn open_conversation(
    conn: &mut DbConn,
    inbound: &Inbound,
    contact: &ContactId,
) -> StoreResult<Conversation> {
    let mut conversation = Conversation::new_for(
        &inbound.tenant_id,
        contact,
        Some(&inbound.integration_id),
        inbound.channel,
    );
    crate::store::integrations::start_in_default_stages(
        conn,
        std::slice::from_mut(&mut conversation),
    )?;
    conversations::insert(conn, &conversation)?;
    Ok(conversation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_writes_through_one_lane_and_postgres_through_several() {
        assert_eq!(lanes_for("sqlite", 8, 4), 1);
        assert_eq!(lanes_for("postgres", 0, 4), 4);
        assert_eq!(lanes_for("postgres", 0, 16), 4);
        assert_eq!(lanes_for("postgres", 0, 0), 1);
        assert_eq!(lanes_for("postgres", 6, 2), 6);
    }

    #[test]
    fn a_contacts_messages_always_take_the_same_lane() {
        let a = lane_key(&["t", "i", "contact-1"]);
        assert_eq!(a, lane_key(&["t", "i", "contact-1"]));
        // Parts are hashed as a list: moving a boundary changes the key.
        assert_ne!(lane_key(&["t", "ic", "ontact-1"]), a);
    }
}
