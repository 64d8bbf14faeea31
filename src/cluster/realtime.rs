//! Real-time across nodes: what a node's WebSocket hub shows live — every tenant event
//! (messages, assignments, transfers, notes …), the AI typing and its streamed answer
//! deltas, and the frames sockets relay to their rooms (staff or customer typing, read
//! receipts) — is relayed on `<cluster.bucket>.events`; the other nodes hand it to their hub
//! (`EventBus::publish_from_peer`), so a socket on node A sees what node B produced.
//! Webhooks, metrics and the CRM stay with the producing node. One subject and one relay
//! task keep a node's items in the order it sent them (the typing before the deltas before
//! the stored reply). A frame lost on the bus is what a client's `sync` after a gap already
//! recovers.

use futures::StreamExt;

use super::membership::ClusterError;
use super::relay::receive;
use crate::engine::events::{EventBus, LiveItem};

pub async fn spawn_relay(
    client: async_nats::Client,
    bucket: &str,
    node: String,
    events: EventBus,
) -> Result<(), ClusterError> {
    let local = futures::stream::select_all([
        receive(events.subscribe())
            .map(|e| e.map(LiveItem::Event))
            .boxed(),
        receive(events.subscribe_answers())
            .map(|d| d.map(LiveItem::Answer))
            .boxed(),
        receive(events.subscribe_typing())
            .map(|t| t.map(LiveItem::Typing))
            .boxed(),
        receive(events.subscribe_rooms())
            .map(|r| r.map(LiveItem::Room))
            .boxed(),
    ]);
    super::relay::spawn(
        client,
        format!("{bucket}.events"),
        node,
        local,
        |item| {
            if let Err(missed) = &item {
                tracing::warn!(
                    missed,
                    "live frames not relayed to peers; their clients resync"
                );
            }
            item.ok()
        },
        move |item| {
            events.publish_from_peer(item);
            std::future::ready(())
        },
    )
    .await
}
