//! Scripted OpenAI-compatible server (being written).
