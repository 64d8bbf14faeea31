//! Test support: the real app on a random port, fresh databases, typed HTTP helpers and a
//! scripted OpenAI-compatible server.
#![allow(dead_code)]

pub mod app;
pub mod calendar;
pub mod cluster;
pub mod engine;
pub mod evolution;
pub mod knowledge;
pub mod matrix;
pub mod node;
pub mod raw_http;
pub mod receiver;
pub mod scripted_llm;
pub mod webhook;
pub mod ws;

#[allow(unused_imports)]
pub use app::*;
