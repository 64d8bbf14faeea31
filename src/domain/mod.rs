//! Plain types and rules, no I/O: ids, roles, owners, money, limits, distribution methods.

pub mod agent;
pub mod conversation;
pub mod distribution;
pub mod escalation;
pub mod ids;
pub mod limits;
pub mod role;
pub mod validate;

pub use ids::*;
pub use role::Role;
