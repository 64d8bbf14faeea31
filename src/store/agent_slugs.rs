//! Published agents by their public slug (`/a/{slug}`), and claiming a slug at publish time.

use diesel::prelude::*;

use super::agents::{AgentChanges, AiAgent};
use super::executor::transaction;
use super::schema::ai_agents;
use super::{DbConn, StoreError, StoreResult};
use crate::domain::agent::AgentStatus;
use crate::domain::{AgentId, TenantId};

/// The live (enabled, active) agent with this slug, of any tenant: slugs are global.
pub fn find_live(conn: &mut DbConn, slug: &str) -> StoreResult<Option<AiAgent>> {
    Ok(crate::db_run!(conn, |c| ai_agents::table
        .filter(ai_agents::slug.eq(slug))
        .filter(ai_agents::enabled.eq(true))
        .filter(ai_agents::status.eq(AgentStatus::Active.as_str()))
        .select(AiAgent::as_select())
        .first(c)
        .optional())?)
}

/// Applies `changes` with the first free slug of `candidates` (slugs are unique across
/// tenants). Each try runs in a savepoint, so a taken slug does not spoil the caller's
/// transaction (PostgreSQL aborts a transaction on a failed statement). `Ok(None)` when
/// every candidate was taken.
pub fn publish_with_slug(
    conn: &mut DbConn,
    tenant: &TenantId,
    id: &AgentId,
    candidates: &[String],
    changes: &AgentChanges,
) -> StoreResult<Option<AiAgent>> {
    for slug in candidates {
        let mut attempt = changes.clone();
        attempt.slug = Some(Some(slug.clone()));
        match transaction(conn, |conn| {
            super::agents::update(conn, tenant, id, &attempt)
        }) {
            Ok(agent) => return Ok(Some(agent)),
            Err(StoreError::Conflict(_)) => continue,
            Err(other) => return Err(other),
        }
    }
    Ok(None)
}
