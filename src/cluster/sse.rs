//! The SSE resume buffer on the bus (`GET /api/v1/events` in cluster mode). Every node
//! publishes the tenant events it produces to the JetStream stream `<cluster.bucket>_sse`
//! (subject `<cluster.bucket>.sse.<tenant>`), kept for a retention window
//! (`cluster.sse_retention_seconds`, `cluster.sse_retention_events`). The stream's sequence
//! number is the event's id: unique in the cluster and increasing, whichever node produced
//! the event or serves the stream. Every node follows the stream for its live SSE clients,
//! and a client that resumes with `Last-Event-ID` on any node is served what it missed from
//! the stream itself; only an id older than the window (or one the stream never issued)
//! answers `event: resync`.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures::{Stream, StreamExt};

use super::membership::{ClusterError, CONNECT_TIMEOUT};
use super::ClusterSettings;
use crate::domain::TenantId;
use crate::engine::events::{EventBus, TenantEvent};

/// The events of one tenant after an id, as the stream still holds them.
#[derive(Debug, Default)]
pub struct Backlog {
    pub events: Vec<(u64, TenantEvent)>,
    /// Events after the id are gone (older than the window), or the id is not one the
    /// stream issued: the client reloads state.
    pub gap: bool,
}

#[derive(Clone)]
pub struct SseBus {
    context: jetstream::Context,
    client: async_nats::Client,
    name: String,
    prefix: String,
}

impl SseBus {
    /// Creates the stream, or brings its retention to the configured window.
    pub async fn open(
        client: async_nats::Client,
        settings: &ClusterSettings,
    ) -> Result<SseBus, ClusterError> {
        let context = jetstream::new(client.clone());
        let name = format!("{}_sse", settings.bucket);
        let prefix = format!("{}.sse.", settings.bucket);
        context
            .create_or_update_stream(stream::Config {
                name: name.clone(),
                description: Some("atende SSE events (resume buffer)".into()),
                subjects: vec![format!("{prefix}>")],
                max_age: Duration::from_secs(settings.sse_retention_seconds),
                max_messages: i64::try_from(settings.sse_retention_events).unwrap_or(i64::MAX),
                discard: stream::DiscardPolicy::Old,
                storage: stream::StorageType::File,
                num_replicas: 1,
                ..Default::default()
            })
            .await
            .map_err(|e| ClusterError::Bucket(format!("{name}: {e}")))?;
        Ok(SseBus {
            context,
            client,
            name,
            prefix,
        })
    }

    fn subject(&self, tenant: &TenantId) -> String {
        format!("{}{}", self.prefix, token(tenant))
    }

    /// Publishes every event this node produces, in order, until the bus closes. An event
    /// the stream did not take is logged: SSE clients of every node miss it (their `sync`
    /// over REST and WebSocket still has the state).
    pub fn spawn_publisher(&self, events: &EventBus) {
        let bus = self.clone();
        let mut local = super::relay::receive(events.subscribe()).boxed();
        tokio::spawn(async move {
            while let Some(event) = local.next().await {
                let event = match event {
                    Ok(event) => event,
                    Err(missed) => {
                        tracing::warn!(missed, "events not published for SSE clients");
                        continue;
                    }
                };
                let Ok(payload) = serde_json::to_vec(&event) else {
                    continue;
                };
                let subject = bus.subject(&event.tenant_id);
                let stored = match bus.context.publish(subject, payload.into()).await {
                    Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(e) = stored {
                    tracing::warn!(kind = %event.kind(), error = %e, "event not stored for SSE clients");
                }
            }
        });
    }

    /// Every event stored from now on, with its id, in the stream's order.
    pub async fn follow(
        &self,
    ) -> Result<impl Stream<Item = (u64, TenantEvent)> + Send + 'static, ClusterError> {
        let stream = self
            .context
            .get_stream(&self.name)
            .await
            .map_err(|e| ClusterError::Bucket(format!("{}: {e}", self.name)))?;
        let consumer = stream
            .create_consumer(consumer::push::OrderedConfig {
                deliver_subject: self.client.new_inbox(),
                description: Some("atende SSE live feed".into()),
                filter_subject: format!("{}>", self.prefix),
                deliver_policy: consumer::DeliverPolicy::New,
                replay_policy: consumer::ReplayPolicy::Instant,
                ..Default::default()
            })
            .await
            .map_err(|e| ClusterError::Bucket(format!("{}: {e}", self.name)))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| ClusterError::Bucket(format!("{}: {e}", self.name)))?;
        Ok(messages.filter_map(|message| async move {
            let message = match message {
                Ok(message) => message,
                Err(e) => {
                    // The ordered consumer recreates itself after a gap; this is logged only.
                    tracing::warn!(error = %e, "SSE live feed");
                    return None;
                }
            };
            decode(&message)
        }))
    }

    /// The tenant's events after `after` still in the stream, and whether some are gone.
    pub async fn since(&self, tenant: &TenantId, after: u64) -> Result<Backlog, ClusterError> {
        let failed = |e: &dyn std::fmt::Display| ClusterError::Bucket(format!("SSE backlog: {e}"));
        tokio::time::timeout(CONNECT_TIMEOUT, async {
            let mut stream = self
                .context
                .get_stream(&self.name)
                .await
                .map_err(|e| failed(&e))?;
            let state = stream.info().await.map_err(|e| failed(&e))?.state.clone();
            if after > state.last_sequence {
                // Not an id of this stream (another cluster's, or a stream since recreated).
                return Ok(Backlog {
                    events: Vec::new(),
                    gap: true,
                });
            }
            let gap = after.saturating_add(1) < state.first_sequence;
            let consumer = stream
                .create_consumer(consumer::push::OrderedConfig {
                    deliver_subject: self.client.new_inbox(),
                    description: Some("atende SSE resume".into()),
                    filter_subject: self.subject(tenant),
                    deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                        start_sequence: after.saturating_add(1),
                    },
                    replay_policy: consumer::ReplayPolicy::Instant,
                    ..Default::default()
                })
                .await
                .map_err(|e| failed(&e))?;
            let mut events = Vec::new();
            if consumer.cached_info().num_pending == 0 {
                return Ok(Backlog { events, gap });
            }
            let mut messages = consumer.messages().await.map_err(|e| failed(&e))?;
            while let Some(message) = messages.next().await {
                let message = message.map_err(|e| failed(&e))?;
                let last = message.info().map(|i| i.pending == 0).unwrap_or(true);
                if let Some(event) = decode(&message) {
                    events.push(event);
                }
                if last {
                    break;
                }
            }
            Ok(Backlog { events, gap })
        })
        .await
        .map_err(|_| failed(&"not read in time"))?
    }
}

fn decode(message: &jetstream::Message) -> Option<(u64, TenantEvent)> {
    let seq = match message.info() {
        Ok(info) => info.stream_sequence,
        Err(e) => {
            tracing::warn!(error = %e, "SSE event without stream metadata");
            return None;
        }
    };
    match serde_json::from_slice::<TenantEvent>(&message.payload) {
        Ok(event) => Some((seq, event)),
        Err(e) => {
            tracing::warn!(seq, error = %e, "unreadable SSE event in the stream");
            None
        }
    }
}

/// A tenant id as one subject token: ids are UUIDs; anything else is hex-encoded behind a
/// `=` (which no id kept as is holds), so a `.`, `*` or `>` can never widen a subject.
fn token(tenant: &TenantId) -> String {
    let raw = tenant.as_str();
    if !raw.is_empty()
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        raw.to_string()
    } else {
        std::iter::once("=".to_string())
            .chain(raw.bytes().map(|b| format!("{b:02x}")))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_tokens_never_widen_a_subject() {
        let uuid = TenantId::new();
        assert_eq!(token(&uuid), uuid.as_str());
        assert_eq!(token(&TenantId("a.>".into())), "=612e3e");
        assert_eq!(token(&TenantId("*".into())), "=2a");
    }
}
