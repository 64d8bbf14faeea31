//! The engine's side of routing in cluster mode (src/cluster/routing.rs): each conversation
//! message as it crosses to the owning node, and the owner handing what it receives to its
//! actors (or, for an inbound message, to its writer).

use actix::prelude::*;
use futures::future::BoxFuture;
use futures::FutureExt;

use super::conversation::{
    Assign, Close, CustomerMessage, Edit, Escalate, EscalationTimeoutDue, FollowupDue, HumanReply,
    Resume, Take, Transfer,
};
use super::registry::{Ask, ConversationRegistry};
use super::Engine;
pub use crate::cluster::routing::Answer;
use crate::cluster::routing::{Answered, Command, Request, WireError};
use crate::domain::{ConversationId, TenantId};

/// A conversation message as it crosses to the owning node.
pub trait Routed {
    fn command(self) -> Command;
}

/// Each conversation message that may cross nodes: its `Command` variant, and the owner
/// handing it back to the actor.
macro_rules! routed {
    ($($message:ident),* $(,)?) => {
        $(impl Routed for $message {
            fn command(self) -> Command {
                Command::$message(Box::new(self))
            }
        })*

        fn to_actor(
            registry: &Addr<ConversationRegistry>,
            tenant: TenantId,
            conversation: ConversationId,
            command: Command,
        ) -> BoxFuture<'static, Answer> {
            match command {
                $(Command::$message(message) => {
                    ask(registry, Ask(tenant, conversation, *message))
                })*
            }
        }
    };
}

routed!(
    CustomerMessage,
    Resume,
    Assign,
    Take,
    Edit,
    Transfer,
    Escalate,
    Close,
    HumanReply,
    FollowupDue,
    EscalationTimeoutDue,
);

/// Asks the local registry; the message is queued before this returns, so requests handed
/// over in order reach the actor in order.
fn ask<M, R>(registry: &Addr<ConversationRegistry>, ask: Ask<M>) -> BoxFuture<'static, Answer>
where
    M: Routed + Message<Result = R> + Send + 'static,
    R: Answered + Send + 'static,
    super::conversation::ConversationActor: Handler<M>,
{
    let pending = registry.send(ask);
    async move {
        match pending.await {
            Ok(Ok(answer)) => answer.into_answer(),
            Ok(Err(e)) | Err(e) => Answer::Failed(WireError::Unavailable(e.to_string())),
        }
    }
    .boxed()
}

/// Hands a conversation's event to its actor here.
pub fn conversation(
    registry: &Addr<ConversationRegistry>,
    request: Request,
) -> BoxFuture<'static, Answer> {
    match request {
        Request::Conversation {
            tenant,
            conversation,
            command,
        } => to_actor(registry, tenant, conversation, command),
        _ => async { Answer::Failed(WireError::Unavailable("not a conversation event".into())) }
            .boxed(),
    }
}

/// What a peer sent this node, the tenant's owner.
pub fn handle(engine: &Engine, request: Request) -> BoxFuture<'static, Answer> {
    match request {
        Request::Accept(inbound) => {
            let engine = engine.clone();
            async move {
                match engine.accept_here(*inbound).await {
                    Ok(ingested) => Answer::Ingested(Box::new(ingested)),
                    Err(e) => Answer::Failed((&super::EngineError::Store(e)).into()),
                }
            }
            .boxed()
        }
        conversation_event => conversation(&engine.registry, conversation_event),
    }
}
