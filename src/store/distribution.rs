//! Per-tenant distribution settings (a JSON document, `domain::distribution::DistributionSettings`).

use diesel::prelude::*;

use super::schema::distribution_settings;
use super::{json_column, DbConn, StoreResult};
use crate::domain::distribution::DistributionSettings;
use crate::domain::TenantId;

pub fn get(conn: &mut DbConn, tenant: &TenantId) -> StoreResult<DistributionSettings> {
    let raw: Option<String> = crate::db_run!(conn, |c| distribution_settings::table
        .filter(distribution_settings::tenant_id.eq(tenant))
        .select(distribution_settings::settings)
        .first(c)
        .optional())?;
    match raw {
        Some(raw) => json_column(&raw, "distribution_settings.settings"),
        None => Ok(DistributionSettings::default()),
    }
}

pub fn put(
    conn: &mut DbConn,
    tenant: &TenantId,
    settings: &DistributionSettings,
) -> StoreResult<()> {
    let raw =
        serde_json::to_string(settings).map_err(|e| super::StoreError::Corrupt(e.to_string()))?;
    let now = super::now();
    let updated = crate::db_run!(conn, |c| diesel::update(
        distribution_settings::table.filter(distribution_settings::tenant_id.eq(tenant))
    )
    .set((
        distribution_settings::settings.eq(&raw),
        distribution_settings::updated_at.eq(now),
    ))
    .execute(c))?;
    if updated == 0 {
        crate::db_run!(conn, |c| diesel::insert_into(distribution_settings::table)
            .values((
                distribution_settings::tenant_id.eq(tenant),
                distribution_settings::settings.eq(&raw),
                distribution_settings::updated_at.eq(now),
            ))
            .execute(c))?;
    }
    Ok(())
}
