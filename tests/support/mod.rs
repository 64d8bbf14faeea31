//! Test support: the real app on a random port, fresh databases, typed HTTP helpers and a
//! scripted OpenAI-compatible server.
#![allow(dead_code)]

pub mod app;
pub mod scripted_llm;

pub use app::*;
