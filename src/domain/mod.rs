//! Plain types and rules, no I/O: ids, roles, owners, money, limits, distribution methods.

pub mod access;
pub mod agent;
pub mod automation;
pub mod canned;
pub mod classification;
pub mod conversation;
pub mod csat;
pub mod dates;
pub mod department;
pub mod desk;
pub mod distribution;
pub mod escalation;
pub mod feedback;
pub mod handling;
pub mod ids;
pub mod limits;
pub mod memory;
pub mod performance;
pub mod quota;
pub mod role;
pub mod routing;
pub mod scheduling;
pub mod stored;
pub mod summary;
pub mod tenant_settings;
pub mod text;
pub mod ticket;
pub mod tool;
pub mod tool_state;
pub mod validate;
pub mod waiting_queue;
pub mod wizard;

pub use ids::*;
pub use role::Role;
