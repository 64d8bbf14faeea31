//! The message writer: the one ordered write path for messages. Every append (inbound from a
//! channel, AI reply, human reply) goes through it, so `seq` allocation and external-id
//! de-duplication never race. Appends are grouped into one transaction per batch (group
//! commit): throughput pays one commit per batch, not per message. A caller is answered only
//! after its batch committed, so an acknowledged message is durable.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::domain::conversation::SenderType;
use crate::domain::{IntegrationId, TenantId};
use crate::store::contacts::{self, ChannelIdentity, Contact};
use crate::store::conversations::{self, Conversation};
use crate::store::executor::transaction;
use crate::store::messages::{self, Message, NewMessage};
use crate::store::{DbConn, Store, StoreError, StoreResult};

/// A message arriving from a channel.
#[derive(Debug, Clone)]
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

#[derive(Debug, Clone)]
pub struct Ingested {
    pub conversation: Conversation,
    pub contact: Contact,
    pub message: Message,
    pub duplicate: bool,
    pub new_conversation: bool,
}

enum Op {
    Inbound(Box<Inbound>, oneshot::Sender<StoreResult<Ingested>>),
    Append(Box<NewMessage>, oneshot::Sender<StoreResult<Message>>),
}

#[derive(Clone)]
pub struct MessageWriter {
    queue: mpsc::Sender<Op>,
}

impl MessageWriter {
    /// Starts the writer task on the current arbiter.
    pub fn start(
        store: Store,
        batch_max: usize,
        batch_wait: Duration,
        queue_capacity: usize,
    ) -> Self {
        let (queue, receiver) = mpsc::channel(queue_capacity.max(1));
        actix_web::rt::spawn(run(store, receiver, batch_max.max(1), batch_wait));
        MessageWriter { queue }
    }

    pub async fn ingest(&self, inbound: Inbound) -> StoreResult<Ingested> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::Inbound(Box::new(inbound), tx)).await?;
        rx.await.map_err(|_| closed())?
    }

    pub async fn append(&self, message: NewMessage) -> StoreResult<Message> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::Append(Box::new(message), tx)).await?;
        rx.await.map_err(|_| closed())?
    }

    async fn submit(&self, op: Op) -> StoreResult<()> {
        // A full queue makes callers wait (back-pressure to the HTTP layer), never drops.
        self.queue.send(op).await.map_err(|_| closed())
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("message writer stopped".into())
}

async fn run(
    store: Store,
    mut receiver: mpsc::Receiver<Op>,
    batch_max: usize,
    batch_wait: Duration,
) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + batch_wait;
        while batch.len() < batch_max {
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
        write_batch(&store, batch).await;
    }
}

enum Outcome {
    Inbound(Box<StoreResult<Ingested>>),
    Append(Box<StoreResult<Message>>),
}

/// Plain data of an op, movable to a store thread; the reply channels stay here.
enum Work {
    Inbound(Box<Inbound>),
    Append(Box<NewMessage>),
}

async fn write_batch(store: &Store, batch: Vec<Op>) {
    let mut replies = Vec::with_capacity(batch.len());
    let mut work = Vec::with_capacity(batch.len());
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
        }
    }
    let result = store
        .run(move |conn| {
            // One transaction for the batch; a savepoint per item so one bad item fails alone.
            transaction(conn, |conn| {
                Ok(work
                    .into_iter()
                    .map(|item| apply(conn, item))
                    .collect::<Vec<_>>())
            })
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
    Append(oneshot::Sender<StoreResult<Message>>),
}

impl Reply {
    fn send(self, outcome: Outcome) {
        // A caller that gave up (dropped its receiver) needs no answer.
        match (self, outcome) {
            (Reply::Inbound(tx), Outcome::Inbound(r)) => drop(tx.send(*r)),
            (Reply::Append(tx), Outcome::Append(r)) => drop(tx.send(*r)),
            (reply, _) => reply.fail(StoreError::Corrupt("writer reply mismatch".into())),
        }
    }

    fn fail(self, err: StoreError) {
        match self {
            Reply::Inbound(tx) => drop(tx.send(Err(err))),
            Reply::Append(tx) => drop(tx.send(Err(err))),
        }
    }
}

fn apply(conn: &mut DbConn, item: Work) -> Outcome {
    match item {
        Work::Inbound(inbound) => {
            Outcome::Inbound(Box::new(transaction(conn, |conn| ingest(conn, &inbound))))
        }
        Work::Append(message) => Outcome::Append(Box::new(transaction(conn, |conn| {
            messages::append(conn, *message)
        }))),
    }
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
        });
    }
    let (conversation, new_conversation) =
        match conversations::find_active_for_contact(conn, &contact.id)? {
            Some(conversation) => (conversation, false),
            None => {
                let conversation = Conversation::new_for(
                    &inbound.tenant_id,
                    &contact.id,
                    Some(&inbound.integration_id),
                    inbound.channel,
                );
                conversations::insert(conn, &conversation)?;
                (conversation, true)
            }
        };
    let (sender_type, direction, sender_id) = if inbound.from_business {
        (SenderType::User.as_str(), "out", None)
    } else {
        (
            SenderType::Contact.as_str(),
            "in",
            Some(contact.id.to_string()),
        )
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
    Ok(Ingested {
        conversation,
        contact,
        message,
        duplicate: false,
        new_conversation,
    })
}
