//! Plain types and rules, no I/O: ids, roles, owners, money, limits, distribution methods.

pub mod ids;
pub mod role;
pub mod validate;

pub use ids::*;
pub use role::Role;
