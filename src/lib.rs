//! Atende: an actor-based, stateful conversation engine for contact centers.
//! See docs/architecture.md for the actors and their invariants.

pub mod accounts;
pub mod api;
pub mod app;
pub mod auth;
pub mod channels;
pub mod cluster;
pub mod config;
pub mod console;
pub mod domain;
pub mod engine;
pub mod error;
pub mod knowledge;
pub mod llm;
pub mod outbound;
pub mod secrets;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod tools;
pub mod views;
pub mod ws;
