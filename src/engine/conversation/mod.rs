//! One conversation: its rules as a plain state machine (`state`), the actor that performs
//! what the rules decide (`actor`) and the messages the actor is asked (`messages`).

mod actor;
pub mod messages;
pub mod state;

pub use actor::{user_in_tenant, ConversationActor, Seed};
pub use messages::{
    Assign, Close, CustomerMessage, Edit, Escalate, EscalationTimeoutDue, FollowupDue, HumanReply,
    Relinquish, Resume, Take, Transfer, TryPassivate,
};
