//! ConversationRegistry: routes every event for a conversation to its actor, starting it (which
//! rehydrates it from the store) when it is not live, and passivating actors that stay idle.
//! Routing goes through [`ConversationRegistry`] alone: in cluster mode an event for a
//! tenant another node owns is sent there (src/cluster/routing.rs) behind the same messages.
//!
//! Passivation is a handshake: the registry asks an idle actor to stop and, until it answers,
//! holds that conversation's new events; an actor that stopped gets a fresh successor for the
//! held events, one that declined gets them itself. No event reaches a stopping mailbox.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::dev::{MessageResponse, OneshotSender};
use actix::prelude::*;

use super::conversation::{ConversationActor, CustomerMessage, Relinquish, Seed, TryPassivate};
use super::remote::{self, Routed};
use super::EngineParts;
use crate::cluster::routing::{Answered, Request, Router};
use crate::domain::{ConversationId, TenantId};

type Delivery = Box<dyn FnOnce(&Addr<ConversationActor>) + Send>;

struct Entry {
    tenant: TenantId,
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
    /// Cluster mode: where events for tenants this node does not own go.
    router: Option<Router>,
}

impl ConversationRegistry {
    pub fn new(passivate_after: Duration) -> Self {
        ConversationRegistry {
            live: HashMap::new(),
            parts: None,
            passivate_after,
            router: None,
        }
    }

    /// The router to use for `tenant`'s events when another node (or, for a tenant nobody
    /// holds yet, possibly this one) owns it; `None`: handled here.
    fn elsewhere(&self, tenant: &TenantId) -> Option<Router> {
        self.router
            .as_ref()
            .filter(|router| !router.leases().holds(tenant))
            .cloned()
    }

    fn route(&mut self, tenant: TenantId, id: ConversationId, delivery: Delivery) {
        self.route_seeded(tenant, id, None, delivery);
    }

    /// As [`Self::route`]; an actor started for it begins from `seed` when there is one.
    fn route_seeded(
        &mut self,
        tenant: TenantId,
        id: ConversationId,
        seed: Option<Seed>,
        delivery: Delivery,
    ) {
        let Some(parts) = self.parts.clone() else {
            tracing::error!("registry used before it was wired");
            return;
        };
        let entry = self.live.entry(id.clone()).or_insert_with(|| Entry {
            tenant,
            addr: match seed {
                Some(seed) => ConversationActor::seeded(id, parts, seed),
                None => ConversationActor::new(id, parts),
            }
            .start(),
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
                        act.route(entry.tenant.clone(), id.clone(), delivery);
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
pub struct Wire(pub EngineParts, pub Option<Router>);

impl Handler<Wire> for ConversationRegistry {
    type Result = ();

    fn handle(&mut self, msg: Wire, _: &mut Self::Context) {
        self.parts = Some(Arc::new(msg.0));
        self.router = msg.1;
    }
}

/// This node lost `tenant`'s lease: its conversations' actors stop (their state may be stale
/// by the time it owns the tenant again; the next owner rehydrates from the store).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Evict(pub TenantId);

impl Handler<Evict> for ConversationRegistry {
    type Result = usize;

    fn handle(&mut self, msg: Evict, _: &mut Self::Context) -> usize {
        let gone: Vec<ConversationId> = self
            .live
            .iter()
            .filter(|(_, e)| e.tenant == msg.0)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            if let Some(entry) = self.live.remove(id) {
                entry.addr.do_send(Relinquish);
            }
        }
        gone.len()
    }
}

/// Sends a conversation's event to the tenant's owner; handled here after all when this node
/// turned out to own it (it took the tenant's lease on the way). The owner's answer.
async fn via_owner(
    router: Router,
    registry: Addr<ConversationRegistry>,
    request: Request,
) -> remote::Answer {
    match router.forward(&request).await {
        Some(answer) => answer,
        None => remote::conversation(&registry, request).await,
    }
}

/// Fire-and-forget event for a conversation of a tenant.
pub struct Deliver<M>(pub TenantId, pub ConversationId, pub M);

impl<M> Message for Deliver<M> {
    type Result = ();
}

impl<M> Handler<Deliver<M>> for ConversationRegistry
where
    M: Routed + Message<Result = ()> + Send + 'static,
    ConversationActor: Handler<M>,
{
    type Result = ();

    fn handle(&mut self, msg: Deliver<M>, ctx: &mut Self::Context) {
        let Deliver(tenant, id, event) = msg;
        if let Some(router) = self.elsewhere(&tenant) {
            let request = Request::Conversation {
                tenant,
                conversation: id,
                command: event.command(),
            };
            actix::spawn(via_owner(router, ctx.address(), request));
            return;
        }
        self.route(tenant, id, Box::new(move |addr| addr.do_send(event)));
    }
}

/// The first message of a conversation the webhook just opened, with the rows it
/// committed: the actor started for it reads nothing back.
pub struct DeliverFirst(pub TenantId, pub Seed);

impl Message for DeliverFirst {
    type Result = ();
}

impl Handler<DeliverFirst> for ConversationRegistry {
    type Result = ();

    fn handle(&mut self, msg: DeliverFirst, ctx: &mut Self::Context) {
        let DeliverFirst(tenant, seed) = msg;
        let id = seed.conversation.id.clone();
        let event = CustomerMessage(seed.message.clone());
        if self.elsewhere(&tenant).is_some() {
            // Another node owns the tenant: the message travels as any other.
            return self.handle(Deliver(tenant, id, event), ctx);
        }
        self.route_seeded(
            tenant,
            id,
            Some(seed),
            Box::new(move |addr| addr.do_send(event)),
        );
    }
}

/// A request to a conversation of a tenant, answered by its actor.
pub struct Ask<M>(pub TenantId, pub ConversationId, pub M);

impl<M, R> Message for Ask<M>
where
    M: Message<Result = R>,
    R: Send + 'static,
{
    type Result = Result<R, MailboxError>;
}

impl<M, R> Handler<Ask<M>> for ConversationRegistry
where
    M: Routed + Message<Result = R> + Send + 'static,
    R: Answered + Send + 'static,
    ConversationActor: Handler<M>,
{
    type Result = ResponseFuture<Result<R, MailboxError>>;

    fn handle(&mut self, msg: Ask<M>, ctx: &mut Self::Context) -> Self::Result {
        let Ask(tenant, id, request) = msg;
        if let Some(router) = self.elsewhere(&tenant) {
            let request = Request::Conversation {
                tenant,
                conversation: id,
                command: request.command(),
            };
            let answer = via_owner(router, ctx.address(), request);
            return Box::pin(async move { Ok(R::from_answer(answer.await)) });
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.route(
            tenant,
            id,
            Box::new(move |addr| addr.do_send::<Answering<M>>(Answering(request, tx))),
        );
        // The actor dropped the request (it stopped): as `Addr::send` would say.
        Box::pin(async move { rx.await.map_err(|_| MailboxError::Closed) })
    }
}

/// A request whose answer comes back on its own channel, sent with `do_send`: it is in the
/// mailbox the moment it is sent, however full that is. `Addr::send` parks a request that
/// finds the mailbox full and enqueues it only when its future is polled, so two requests
/// sent one after the other could arrive swapped; these arrive in the order sent.
pub struct Answering<M: Message>(pub M, pub OneshotSender<M::Result>);

impl<M: Message> Message for Answering<M> {
    type Result = ();
}

/// Answers `request` (its result on its own channel) as the actor's handler for it would.
fn answer<A, M>(actor: &mut A, Answering(request, tx): Answering<M>, ctx: &mut A::Context)
where
    A: Actor + Handler<M>,
    M: Message,
{
    let response = <A as Handler<M>>::handle(actor, request, ctx);
    response.handle(ctx, Some(tx));
}

impl<M> Handler<Answering<M>> for ConversationActor
where
    M: Message + Send + 'static,
    M::Result: Send,
    ConversationActor: Handler<M>,
{
    type Result = ();

    fn handle(&mut self, msg: Answering<M>, ctx: &mut Self::Context) {
        answer(self, msg, ctx);
    }
}

impl<M, R> Handler<Answering<Ask<M>>> for ConversationRegistry
where
    M: Routed + Message<Result = R> + Send + 'static,
    R: Answered + Send + 'static,
    ConversationActor: Handler<M>,
{
    type Result = ();

    fn handle(&mut self, msg: Answering<Ask<M>>, ctx: &mut Self::Context) {
        answer(self, msg, ctx);
    }
}

/// Asks a conversation as [`Ask`] does, but the request is queued at the registry now, and
/// from there at the conversation as soon as the registry handles it: requests one caller
/// makes one after another reach the conversation in that order, whatever its load. (A
/// tenant another node owns gets each request forwarded on its own, as with [`Ask`].)
pub fn ask_in_order<M, R>(
    registry: &Addr<ConversationRegistry>,
    tenant: TenantId,
    id: ConversationId,
    request: M,
) -> impl std::future::Future<Output = Result<R, MailboxError>>
where
    M: Routed + Message<Result = R> + Send + 'static,
    R: Answered + Send + 'static,
    ConversationActor: Handler<M>,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    registry.do_send(Answering(Ask(tenant, id, request), tx));
    async move { rx.await.unwrap_or(Err(MailboxError::Closed)) }
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
