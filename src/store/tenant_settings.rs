//! Each tenant's run-time settings overrides (`domain::tenant_settings`), and the read-through
//! cache conversations read them from on every message: a PATCH through this node invalidates
//! the tenant's entry at once, so the next message follows it; the time to live bounds what
//! another node may miss.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use serde_json::Value;

use super::schema::tenant_settings;
use super::{json_column, DbConn, Store, StoreResult};
use crate::domain::tenant_settings::TenantSettings;
use crate::domain::TenantId;

/// The tenant's stored overrides (an empty object when it changed nothing).
pub fn overrides(conn: &mut DbConn, tenant: &TenantId) -> StoreResult<Value> {
    let raw: Option<String> = crate::db_run!(conn, |c| tenant_settings::table
        .filter(tenant_settings::tenant_id.eq(tenant))
        .select(tenant_settings::overrides)
        .first(c)
        .optional())?;
    match raw {
        Some(raw) => json_column(&raw, "tenant_settings.overrides"),
        None => Ok(Value::Object(Default::default())),
    }
}

pub fn put_overrides(conn: &mut DbConn, tenant: &TenantId, overrides: &Value) -> StoreResult<()> {
    let raw = overrides.to_string();
    let now = super::now();
    let updated = crate::db_run!(conn, |c| diesel::update(
        tenant_settings::table.filter(tenant_settings::tenant_id.eq(tenant))
    )
    .set((
        tenant_settings::overrides.eq(&raw),
        tenant_settings::updated_at.eq(now),
    ))
    .execute(c))?;
    if updated == 0 {
        crate::db_run!(conn, |c| diesel::insert_into(tenant_settings::table)
            .values((
                tenant_settings::tenant_id.eq(tenant),
                tenant_settings::overrides.eq(&raw),
                tenant_settings::updated_at.eq(now),
            ))
            .execute(c))?;
    }
    Ok(())
}

/// The tenant's effective settings: stored overrides over `defaults`. Overrides that no longer
/// validate (the operator changed a default under them) fall back to the defaults, loudly.
pub fn effective(
    conn: &mut DbConn,
    tenant: &TenantId,
    defaults: &TenantSettings,
) -> StoreResult<TenantSettings> {
    let stored = overrides(conn, tenant)?;
    Ok(defaults.with_overrides(&stored).unwrap_or_else(|e| {
        tracing::error!(tenant = %tenant, error = %e, "stored tenant settings are invalid; defaults apply");
        defaults.clone()
    }))
}

pub struct TenantSettingsCache {
    store: Store,
    defaults: Arc<TenantSettings>,
    entries: moka::sync::Cache<TenantId, Arc<TenantSettings>>,
    /// Bumped by every change: a load that started before it does not fill the cache with
    /// what it read (it may predate the change).
    epoch: AtomicU64,
}

impl TenantSettingsCache {
    pub fn new(store: Store, defaults: TenantSettings, time_to_live: Duration) -> Self {
        Self {
            store,
            defaults: Arc::new(defaults),
            entries: moka::sync::Cache::builder()
                .time_to_live(time_to_live)
                .build(),
            epoch: AtomicU64::new(0),
        }
    }

    pub fn defaults(&self) -> &TenantSettings {
        &self.defaults
    }

    /// The tenant's settings if cached: the common case, answered without waiting.
    pub fn cached(&self, tenant: &TenantId) -> Option<Arc<TenantSettings>> {
        self.entries.get(tenant)
    }

    /// The tenant's settings, from the cache or the store.
    pub async fn get(&self, tenant: &TenantId) -> StoreResult<Arc<TenantSettings>> {
        if let Some(hit) = self.entries.get(tenant) {
            return Ok(hit);
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let key = tenant.clone();
        let defaults = self.defaults.clone();
        let settings = Arc::new(
            self.store
                .run(move |conn| effective(conn, &key, &defaults))
                .await?,
        );
        if self.epoch.load(Ordering::Acquire) == epoch {
            self.entries.insert(tenant.clone(), settings.clone());
        }
        Ok(settings)
    }

    /// After the tenant's settings changed.
    pub fn forget(&self, tenant: &TenantId) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate(tenant);
    }
}
