//! Re-sealing every stored secret with the current key (`atende secrets rotate`): values in
//! the legacy v1 format or sealed with a key now listed in `secrets.previous_encryption_keys`
//! are opened and sealed again in the current format. Values already current are left alone,
//! so running it twice changes nothing the second time. All or nothing: a value that opens
//! with none of the configured keys aborts the rotation before anything is written.

use diesel::prelude::*;
use secrecy::ExposeSecret;

use super::executor::transaction;
use super::schema::{ai_agents, integrations, tools, webhooks};
use super::{DbConn, StoreError, StoreResult};
use crate::domain::tool::{secret_slots, ToolKind};
use crate::domain::TenantId;
use crate::secrets::{SealContext, SealedField, SecretBox};

/// How many values were sealed again, and how many sealed values were looked at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RotationReport {
    pub resealed: usize,
    pub examined: usize,
}

/// `sealed` opened for its row and sealed again when it is not current; `None` when current.
fn reseal_value(
    secrets: &SecretBox,
    tenant: &TenantId,
    field: SealedField,
    row_id: &str,
    sealed: &str,
    report: &mut RotationReport,
) -> StoreResult<Option<String>> {
    let context = SealContext::new(tenant, field);
    report.examined += 1;
    let opened = secrets.open_for_rotation(context, sealed).map_err(|e| {
        StoreError::Corrupt(format!(
            "{}.{} of row {row_id}: {e}",
            field.table(),
            field.column()
        ))
    })?;
    if opened.current {
        return Ok(None);
    }
    report.resealed += 1;
    Ok(Some(
        secrets.seal(context, opened.plaintext.expose_secret()),
    ))
}

/// Re-seals one sealed text column (`$field`) of `$table`, row by row: every table keeps
/// its sealed values as text beside `id` and `tenant_id`, nullable or not.
macro_rules! rotate_column {
    ($conn:expr, $secrets:expr, $report:expr, $table:ident . $column:ident, $field:expr) => {{
        let rows: Vec<(String, String, Option<String>)> = crate::db_run!($conn, |c| $table::table
            .filter($table::$column.is_not_null())
            .select(($table::id, $table::tenant_id, $table::$column.nullable()))
            .load(c))?;
        for (id, tenant, sealed) in rows {
            let Some(sealed) = sealed else { continue };
            let tenant = TenantId(tenant);
            if let Some(fresh) = reseal_value($secrets, &tenant, $field, &id, &sealed, $report)? {
                crate::db_run!($conn, |c| diesel::update(
                    $table::table.filter($table::id.eq(&id))
                )
                .set($table::$column.eq(&fresh))
                .execute(c))?;
            }
        }
    }};
}

pub fn rotate(conn: &mut DbConn, secrets: &SecretBox) -> StoreResult<RotationReport> {
    transaction(conn, |conn| {
        let mut report = RotationReport::default();
        rotate_column!(
            conn,
            secrets,
            &mut report,
            ai_agents.provider_api_key,
            SealedField::AgentApiKey
        );
        rotate_column!(
            conn,
            secrets,
            &mut report,
            integrations.secret,
            SealedField::IntegrationSecret
        );
        rotate_column!(
            conn,
            secrets,
            &mut report,
            integrations.api_key,
            SealedField::IntegrationApiKey
        );
        rotate_column!(
            conn,
            secrets,
            &mut report,
            webhooks.secret,
            SealedField::WebhookSecret
        );
        rotate_tools(conn, secrets, &mut report)?;
        Ok(report)
    })
}

fn rotate_tools(
    conn: &mut DbConn,
    secrets: &SecretBox,
    report: &mut RotationReport,
) -> StoreResult<()> {
    let rows: Vec<(String, String, String, String)> = crate::db_run!(conn, |c| tools::table
        .select((tools::id, tools::tenant_id, tools::tool_type, tools::config))
        .load(c))?;
    for (id, tenant, kind, config) in rows {
        let Some(kind) = ToolKind::parse(&kind) else {
            return Err(StoreError::Corrupt(format!(
                "tools.tool_type of row {id}: unknown `{kind}`"
            )));
        };
        let mut stored: serde_json::Value = serde_json::from_str(&config)
            .map_err(|e| StoreError::Corrupt(format!("tools.config of row {id}: {e}")))?;
        let tenant = TenantId(tenant);
        let mut changed = false;
        for slot in secret_slots(kind, &mut stored) {
            let Some(sealed) = slot.as_str() else {
                continue;
            };
            let field = SealedField::ToolConfigSecret;
            if let Some(fresh) = reseal_value(secrets, &tenant, field, &id, sealed, report)? {
                *slot = serde_json::Value::String(fresh);
                changed = true;
            }
        }
        if changed {
            let fresh = stored.to_string();
            crate::db_run!(conn, |c| diesel::update(
                tools::table.filter(tools::id.eq(&id))
            )
            .set(tools::config.eq(&fresh))
            .execute(c))?;
        }
    }
    Ok(())
}
