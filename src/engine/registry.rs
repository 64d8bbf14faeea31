//! ConversationRegistry: routes every event for a conversation to its actor, starting it (which
//! rehydrates it from the store) when it is not live, and passivating actors that stay idle.
//! Routing goes through [`ConversationRegistry`] alone, so a cluster can later route to the
//! owning node behind the same messages.
//!
//! Passivation is a handshake: the registry asks an idle actor to stop and, until it answers,
//! holds that conversation's new events; an actor that stopped gets a fresh successor for the
//! held events, one that declined gets them itself. No event reaches a stopping mailbox.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::conversation::{ConversationActor, TryPassivate};
use super::EngineParts;
use crate::domain::ConversationId;

type Delivery = Box<dyn FnOnce(&Addr<ConversationActor>) + Send>;

struct Entry {
    addr: Addr<ConversationActor>,
    last_event: Instant,
    /// Events held while the actor decides whether to stop.
    held: Option<Vec<Delivery>>,
}

pub struct ConversationRegistry {
    live: HashMap<ConversationId, Entry>,
    /// Shared by every actor: one pointer each instead of a copy of every handle.
    parts: Option<Arc<EngineParts>>,
    passivate_after: Duration,
}

impl ConversationRegistry {
    pub fn new(passivate_after: Duration) -> Self {
        ConversationRegistry {
            live: HashMap::new(),
            parts: None,
            passivate_after,
        }
    }

    fn route(&mut self, id: ConversationId, delivery: Delivery) {
        let Some(parts) = self.parts.clone() else {
            tracing::error!("registry used before it was wired");
            return;
        };
        let entry = self.live.entry(id.clone()).or_insert_with(|| Entry {
            addr: ConversationActor::new(id, parts).start(),
            last_event: Instant::now(),
            held: None,
        });
        entry.last_event = Instant::now();
        match &mut entry.held {
            Some(held) => held.push(delivery),
            None => delivery(&entry.addr),
        }
    }

    fn sweep(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let idle: Vec<ConversationId> = self
            .live
            .iter()
            .filter(|(_, e)| {
                e.held.is_none() && now.duration_since(e.last_event) >= self.passivate_after
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in idle {
            let Some(entry) = self.live.get_mut(&id) else {
                continue;
            };
            if !entry.addr.connected() {
                self.live.remove(&id);
                continue;
            }
            entry.held = Some(Vec::new());
            let request = entry.addr.send(TryPassivate);
            ctx.spawn(request.into_actor(self).map(move |stopped, act, _| {
                let Some(mut entry) = act.live.remove(&id) else {
                    return;
                };
                let held = entry.held.take().unwrap_or_default();
                if matches!(stopped, Ok(false)) {
                    for delivery in held {
                        delivery(&entry.addr);
                    }
                    entry.last_event = Instant::now();
                    act.live.insert(id, entry);
                } else {
                    for delivery in held {
                        act.route(id.clone(), delivery);
                    }
                }
            }));
        }
    }
}

impl Actor for ConversationRegistry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let every = (self.passivate_after / 4).max(Duration::from_millis(250));
        ctx.run_interval(every, |act, ctx| act.sweep(ctx));
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Wire(pub EngineParts);

impl Handler<Wire> for ConversationRegistry {
    type Result = ();

    fn handle(&mut self, msg: Wire, _: &mut Self::Context) {
        self.parts = Some(Arc::new(msg.0));
    }
}

/// Fire-and-forget event for a conversation.
pub struct Deliver<M>(pub ConversationId, pub M);

impl<M> Message for Deliver<M> {
    type Result = ();
}

impl<M> Handler<Deliver<M>> for ConversationRegistry
where
    M: Message<Result = ()> + Send + 'static,
    ConversationActor: Handler<M>,
{
    type Result = ();

    fn handle(&mut self, msg: Deliver<M>, _: &mut Self::Context) {
        let event = msg.1;
        self.route(msg.0, Box::new(move |addr| addr.do_send(event)));
    }
}

/// A request to a conversation, answered by its actor.
pub struct Ask<M>(pub ConversationId, pub M);

impl<M, R> Message for Ask<M>
where
    M: Message<Result = R>,
    R: Send + 'static,
{
    type Result = Result<R, MailboxError>;
}

impl<M, R> Handler<Ask<M>> for ConversationRegistry
where
    M: Message<Result = R> + Send + 'static,
    R: Send + 'static,
    ConversationActor: Handler<M>,
{
    type Result = ResponseFuture<Result<R, MailboxError>>;

    fn handle(&mut self, msg: Ask<M>, _: &mut Self::Context) -> Self::Result {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let request = msg.1;
        self.route(
            msg.0,
            Box::new(move |addr| {
                let answer = addr.send(request);
                actix::spawn(async move {
                    let _ = tx.send(answer.await);
                });
            }),
        );
        Box::pin(async move { rx.await.unwrap_or(Err(MailboxError::Closed)) })
    }
}

/// How many conversation actors are live (metrics, tests).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct LiveCount;

impl Handler<LiveCount> for ConversationRegistry {
    type Result = usize;

    fn handle(&mut self, _: LiveCount, _: &mut Self::Context) -> usize {
        self.live.len()
    }
}
