//! Channels: what customers' channels send and how they sign it. Inbound adapters parse and
//! authenticate what a channel sends (generic webhook, Evolution API, web chat); [`signature`]
//! is the `X-Atende-Signature` scheme in both directions. Replies go out through the engine's
//! `ChannelSender` (`engine/sender.rs`), which speaks each channel's API.

pub mod evolution;
pub mod generic;
pub mod presence;
pub mod signature;
