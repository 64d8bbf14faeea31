//! Read-through caches in front of the store for what every inbound webhook reads: the
//! integration behind the URL. Writes through the API invalidate the entry at once on this
//! node; the time to live bounds what another node (or a direct database edit) may miss.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::integrations::{self, Integration};
use super::{Store, StoreResult};
use crate::domain::IntegrationId;

pub struct IntegrationCache {
    store: Store,
    entries: moka::sync::Cache<IntegrationId, Arc<Integration>>,
    /// Bumped by every change: a load that started before it does not fill the cache with
    /// what it read (it may predate the change).
    epoch: AtomicU64,
}

impl IntegrationCache {
    pub fn new(store: Store, time_to_live: Duration, capacity: u64) -> Self {
        Self {
            store,
            entries: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(time_to_live)
                .build(),
            epoch: AtomicU64::new(0),
        }
    }

    /// The integration with this id, from the cache or the store.
    pub async fn get(&self, id: &IntegrationId) -> StoreResult<Arc<Integration>> {
        if let Some(hit) = self.entries.get(id) {
            return Ok(hit);
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let key = id.clone();
        let row = Arc::new(
            self.store
                .run(move |conn| integrations::find_by_id(conn, &key))
                .await?,
        );
        if self.epoch.load(Ordering::Acquire) == epoch {
            self.entries.insert(id.clone(), row.clone());
        }
        Ok(row)
    }

    /// After the integration changed or was deleted.
    pub fn forget(&self, id: &IntegrationId) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate(id);
    }

    /// After a change that touches many integrations (an AI agent deleted: defaults cleared).
    pub fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }
}
