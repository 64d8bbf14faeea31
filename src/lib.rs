//! Atende: an actor-based, stateful conversation engine for contact centers.
//! See ARCHITECTURE.md (shared) for the actors and their invariants.

pub mod accounts;
pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod store;
pub mod telemetry;
