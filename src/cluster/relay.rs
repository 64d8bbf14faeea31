//! What one node's local broadcast carries, relayed to the other nodes over a NATS subject:
//! each node publishes its own items with its id and hands its peers' items to `deliver`,
//! skipping its own. Plain NATS (at most once): what crosses here is either re-read from the
//! store by the receiver (knowledge) or live frames whose clients `sync` after a gap.

use std::future::Future;

use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::{self, error::RecvError};

use super::membership::ClusterError;

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    node: String,
    item: T,
}

/// A local broadcast as a stream of items, or of the count of items missed by falling
/// behind; it ends when the broadcast closes.
pub fn receive<T: Clone + Send + 'static>(
    receiver: broadcast::Receiver<T>,
) -> impl Stream<Item = Result<T, u64>> + Send + 'static {
    futures::stream::unfold(receiver, |mut receiver| async move {
        match receiver.recv().await {
            Ok(item) => Some((Ok(item), receiver)),
            Err(RecvError::Lagged(missed)) => Some((Err(missed), receiver)),
            Err(RecvError::Closed) => None,
        }
    })
}

/// Subscribes before returning, so nothing published once the node serves is missed.
/// `local` is what this node produces ([`receive`]); `wire` turns a local item, or the count
/// of items the relay fell behind on, into what is sent (`None`: nothing).
pub async fn spawn<T, L, W, M, D, F>(
    client: async_nats::Client,
    subject: String,
    node: String,
    local: L,
    wire: M,
    deliver: D,
) -> Result<(), ClusterError>
where
    L: Stream<Item = Result<T, u64>> + Send + 'static,
    T: Send + 'static,
    W: Serialize + DeserializeOwned + Send + 'static,
    M: Fn(Result<T, u64>) -> Option<W> + Send + 'static,
    D: Fn(W) -> F + Send + 'static,
    F: Future<Output = ()> + Send,
{
    let mut incoming = client
        .subscribe(subject.clone())
        .await
        .map_err(|e| ClusterError::Connect(e.to_string()))?;
    let me = node.clone();
    tokio::spawn(async move {
        while let Some(message) = incoming.next().await {
            match serde_json::from_slice::<Envelope<W>>(&message.payload) {
                Ok(heard) if heard.node != me => deliver(heard.item).await,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(subject = %message.subject, error = %e, "unreadable item from a peer")
                }
            }
        }
    });
    tokio::spawn(async move {
        let mut local = std::pin::pin!(local);
        while let Some(item) = local.next().await {
            let Some(item) = wire(item) else { continue };
            let envelope = Envelope {
                node: node.clone(),
                item,
            };
            let Ok(payload) = serde_json::to_vec(&envelope) else {
                continue;
            };
            if let Err(e) = client.publish(subject.clone(), payload.into()).await {
                tracing::warn!(subject = %subject, error = %e, "not relayed to peers");
            }
        }
    });
    Ok(())
}
