//! Channels: how customers reach the engine and how replies reach them. Inbound adapters
//! parse and authenticate what a channel sends (generic webhook, Evolution API, web chat);
//! outbound, [`sender::ChannelSender`] delivers replies durably with retries, through the
//! outbound guard ([`crate::outbound`]), signed with [`signature`] where the channel expects it.

pub mod evolution;
pub mod generic;
pub mod sender;
pub mod signature;
