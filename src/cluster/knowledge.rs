//! Knowledge index changes across nodes. Each node keeps its own in-memory search index,
//! rebuilt from the store at start. A document uploaded, replaced or deleted on one node is
//! announced on the bus subject `<cluster.bucket>.knowledge` with the ids it touched; every
//! other node re-reads those documents from the store and re-indexes them. Re-reading is
//! idempotent, so an announcement delivered late or twice leaves the same index; a node whose
//! announcements fell behind tells its peers to rebuild instead.

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

use super::membership::ClusterError;
use crate::knowledge::KnowledgeIndex;
use crate::store::Store;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Announcement {
    node: String,
    /// The documents to re-read from the store.
    documents: Vec<String>,
    /// Re-read everything (the sender lost track of what it changed).
    rebuild: bool,
}

pub fn subject(bucket: &str) -> String {
    format!("{bucket}.knowledge")
}

/// Subscribes before returning, so a change made once the node serves is not missed.
pub async fn spawn_sync(
    client: async_nats::Client,
    subject: String,
    node: String,
    index: KnowledgeIndex,
    store: Store,
) -> Result<(), ClusterError> {
    let mut incoming = client
        .subscribe(subject.clone())
        .await
        .map_err(|e| ClusterError::Connect(e.to_string()))?;
    let mut local = index.changes();
    {
        let node = node.clone();
        tokio::spawn(async move {
            use futures::StreamExt;
            while let Some(message) = incoming.next().await {
                let Ok(heard) = serde_json::from_slice::<Announcement>(&message.payload) else {
                    tracing::warn!(subject = %message.subject, "unreadable knowledge announcement");
                    continue;
                };
                if heard.node == node {
                    continue;
                }
                let applied = if heard.rebuild {
                    index.rebuild(&store).await
                } else {
                    index.refresh(&store, heard.documents).await
                };
                if let Err(e) = applied {
                    tracing::error!(from = %heard.node, error = %e, "peer's knowledge change not indexed here; the next start rebuilds");
                }
            }
        });
    }
    tokio::spawn(async move {
        loop {
            let announcement = match local.recv().await {
                Ok(documents) => Announcement {
                    node: node.clone(),
                    documents,
                    rebuild: false,
                },
                Err(RecvError::Lagged(_)) => Announcement {
                    node: node.clone(),
                    documents: Vec::new(),
                    rebuild: true,
                },
                Err(RecvError::Closed) => return,
            };
            let Ok(payload) = serde_json::to_vec(&announcement) else {
                continue;
            };
            if let Err(e) = client.publish(subject.clone(), payload.into()).await {
                tracing::warn!(error = %e, "knowledge change not announced to peers");
            }
        }
    });
    Ok(())
}
