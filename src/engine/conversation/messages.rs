//! What the conversation actor is asked: by the channels and the API (customer messages,
//! human replies, owner changes), the distributor, the timers service and the registry.

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::conversation::Owner;
use crate::domain::desk::TransferTarget;
use crate::domain::escalation::EscalationReason;
use crate::domain::ticket::ConversationChanges;
use crate::domain::{Role, UserId};
use crate::engine::EngineError;
use crate::store::messages::Message;

/// A customer message that is already durable.
#[derive(Debug, Message, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct CustomerMessage(pub Message);

/// Wake up after a restart (the hydration in `started` does the work).
#[derive(Debug, Message, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct Resume;

/// An owner change decided by the distributor or an operator.
#[derive(Debug, Message, Serialize, Deserialize)]
#[rtype(result = "Result<(), EngineError>")]
pub struct Assign {
    pub owner: Owner,
    /// The distributor already admitted the conversation at the agent's supervisor.
    pub admitted: bool,
    /// The distributor's own assignments apply only while nobody owns the conversation:
    /// staff may have taken or assigned it since it asked. A stale one changes nothing and
    /// answers `Ok` (there is nothing left to assign). Staff assignments and the SLA's
    /// reassignment replace whoever owns it.
    pub only_if_unowned: bool,
}

/// A person takes the conversation for themselves (`POST /conversations/{id}/take`): a
/// compare-and-set against the owner the actor holds, so of two people taking the same
/// conversation the second gets `EngineError::Taken`.
#[derive(Debug, Message, Serialize, Deserialize)]
#[rtype(result = "Result<(), EngineError>")]
pub struct Take {
    pub user: UserId,
    pub role: Role,
}

/// Staff change the conversation as a ticket (`PATCH /conversations/{id}`): through the
/// actor, so the category and priority it routes with are the ones just set.
#[derive(Debug, Message, Serialize, Deserialize)]
#[rtype(result = "Result<(), EngineError>")]
pub struct Edit {
    /// Checked and normalized (`ConversationChanges::normalized`), department and stage
    /// found in the tenant.
    pub changes: ConversationChanges,
    /// The funnel of `changes.stage_id`.
    pub funnel_id: Option<String>,
    pub user: UserId,
}

/// Staff hand the conversation to a colleague or a department (`engine::desk::transfer`,
/// which checked who may and whether the colleague can take it). A compare-and-set: it
/// applies only while `expected` still owns the conversation (`EngineError::Taken`
/// otherwise), so a transfer authorized against one owner never moves another's.
#[derive(Debug, Message, Serialize, Deserialize)]
#[rtype(result = "Result<(), EngineError>")]
pub struct Transfer {
    pub target: TransferTarget,
    pub expected: Owner,
}

#[derive(Debug, Message, Serialize, Deserialize)]
#[rtype(result = "Result<(), EngineError>")]
pub struct Escalate {
    pub reason: EscalationReason,
    pub user: Option<UserId>,
}

#[derive(Debug, Message, Serialize, Deserialize)]
#[rtype(result = "Result<(), EngineError>")]
pub struct Close {
    pub reason: Option<String>,
}

/// A human agent's reply.
#[derive(Debug, Message, Serialize, Deserialize)]
#[rtype(result = "Result<Message, EngineError>")]
pub struct HumanReply {
    pub user: UserId,
    /// The user's role now: the conversation checks it against its owner as it stores the
    /// reply (another agent's conversation is refused), so the caller need not read the
    /// owner first.
    pub role: Role,
    pub content: String,
}

/// Cluster mode: this node lost the tenant's lease. The actor stops without writing anything
/// (its writes would be fenced); the tenant's new owner rehydrates the conversation.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Relinquish;

/// Asked by the registry when the actor has been quiet for a while: stop if idle.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct TryPassivate;

/// A follow-up scheduled by an AI tool (`schedule_followup`) came due (engine/timers.rs).
#[derive(Debug, Message, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct FollowupDue {
    pub message: String,
    pub agent_id: Option<String>,
}

/// The agent's `escalate_after_minutes` ran out (a durable `escalation_timeout` timer,
/// engine/timers.rs): still with the AI, the conversation goes to a human.
#[derive(Debug, Message, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct EscalationTimeoutDue;
