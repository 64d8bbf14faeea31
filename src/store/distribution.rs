//! Per-tenant distribution settings (a JSON document, `domain::distribution::DistributionSettings`)
//! and the assignment counts `by_percentage` balances.

use std::collections::HashMap;

use diesel::prelude::*;

use super::schema::{assignment_counts, distribution_settings};
use super::{json_column, DbConn, StoreResult};
use crate::domain::conversation::Owner;
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

/// Assignments per owner id since the tenant's shares last changed (over every shard).
pub fn assignment_counts(
    conn: &mut DbConn,
    tenant: &TenantId,
) -> StoreResult<HashMap<String, u64>> {
    let rows: Vec<(String, i64)> = crate::db_run!(conn, |c| assignment_counts::table
        .filter(assignment_counts::tenant_id.eq(tenant))
        .select((
            assignment_counts::owner_id,
            assignment_counts::assigned_total
        ))
        .load(c))?;
    let mut counts: HashMap<String, u64> = HashMap::new();
    for (id, n) in rows {
        *counts.entry(id).or_default() += u64::try_from(n).unwrap_or(0);
    }
    Ok(counts)
}

/// Counts one assignment to `owner` in `shard` (the writer lane it commits on). One upsert,
/// so it may run inside a larger transaction.
pub fn count_assignment(
    conn: &mut DbConn,
    tenant: &TenantId,
    owner: &Owner,
    shard: i32,
) -> StoreResult<()> {
    let Some(owner_id) = owner.id() else {
        return Ok(());
    };
    crate::db_run!(conn, |c| diesel::insert_into(assignment_counts::table)
        .values((
            assignment_counts::tenant_id.eq(tenant),
            assignment_counts::owner_id.eq(owner_id),
            assignment_counts::shard.eq(shard),
            assignment_counts::owner_type.eq(owner.kind()),
            assignment_counts::assigned_total.eq(1_i64),
        ))
        .on_conflict((
            assignment_counts::tenant_id,
            assignment_counts::owner_id,
            assignment_counts::shard,
        ))
        .do_update()
        .set(assignment_counts::assigned_total.eq(assignment_counts::assigned_total + 1))
        .execute(c))?;
    Ok(())
}

/// New shares start a new history: balancing against counts made under the old shares would
/// flood whoever the new shares favour.
pub fn reset_assignment_counts(conn: &mut DbConn, tenant: &TenantId) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::delete(
        assignment_counts::table.filter(assignment_counts::tenant_id.eq(tenant))
    )
    .execute(c))?;
    Ok(())
}
