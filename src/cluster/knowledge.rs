//! Knowledge index changes across nodes. Each node keeps its own in-memory search index,
//! rebuilt from the store at start. A document uploaded, replaced or deleted on one node is
//! announced on the bus subject `<cluster.bucket>.knowledge` with the ids it touched; every
//! other node re-reads those documents from the store and re-indexes them. Re-reading is
//! idempotent, so an announcement delivered late or twice leaves the same index; a node whose
//! announcements fell behind tells its peers to rebuild instead.

use serde::{Deserialize, Serialize};

use super::membership::ClusterError;
use crate::knowledge::KnowledgeIndex;
use crate::store::Store;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
enum Announcement {
    /// Re-read these documents from the store.
    Changed(Vec<String>),
    /// Re-read everything (the sender lost track of what it changed).
    Rebuild,
}

pub async fn spawn_sync(
    client: async_nats::Client,
    bucket: &str,
    node: String,
    index: KnowledgeIndex,
    store: Store,
) -> Result<(), ClusterError> {
    super::relay::spawn(
        client,
        format!("{bucket}.knowledge"),
        node,
        super::relay::receive(index.changes()),
        |change| {
            Some(match change {
                Ok(documents) => Announcement::Changed(documents),
                Err(_) => Announcement::Rebuild,
            })
        },
        move |heard| {
            let (index, store) = (index.clone(), store.clone());
            async move {
                let applied = match heard {
                    Announcement::Rebuild => index.rebuild(&store).await,
                    Announcement::Changed(documents) => index.refresh(&store, documents).await,
                };
                if let Err(e) = applied {
                    tracing::error!(error = %e, "peer's knowledge change not indexed here; the next start rebuilds");
                }
            }
        },
    )
    .await
}
