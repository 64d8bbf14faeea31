//! Real-time across nodes: every tenant event a node produces (messages, assignments,
//! transfers, notes …) is relayed on `<cluster.bucket>.events`; the other nodes hand it to
//! their WebSocket hub (`EventBus::publish_from_peer`), so a socket on node A sees what node
//! B produced. Webhooks, metrics and the CRM stay with the producing node. A frame lost on the
//! bus is what a client's `sync` after a gap already recovers.

use super::membership::ClusterError;
use crate::engine::events::EventBus;

pub async fn spawn_relay(
    client: async_nats::Client,
    bucket: &str,
    node: String,
    events: EventBus,
) -> Result<(), ClusterError> {
    let local = events.subscribe();
    super::relay::spawn(
        client,
        format!("{bucket}.events"),
        node,
        local,
        |event| {
            if let Err(missed) = &event {
                tracing::warn!(missed, "events not relayed to peers; their clients resync");
            }
            event.ok()
        },
        move |event| {
            events.publish_from_peer(event);
            std::future::ready(())
        },
    )
    .await
}
