//! An AI agent's model requests per fixed window (`agent_request_windows`), so its request
//! limits survive a restart: the supervisor records its admitted requests in batches and
//! reads the current windows' counts when it starts or its limits change.

use diesel::prelude::*;

use super::schema::agent_request_windows as windows;
use super::{DbConn, StoreResult};
use crate::domain::limits::WindowKind;
use crate::domain::AgentId;

/// Windows older than this are of no use to any limit and are pruned on the next record.
const KEEP_SECONDS: i64 = 2 * 86_400;

/// Adds `requests` to the windows holding `at` (Unix seconds), one upsert per window, and
/// prunes the agent's old windows.
pub fn record(conn: &mut DbConn, agent: &AgentId, at: i64, requests: u32) -> StoreResult<()> {
    let requests = i64::from(requests);
    super::executor::transaction(conn, |conn| {
        for &kind in WindowKind::ALL {
            let start = kind.start(at);
            crate::db_run!(conn, |c| diesel::insert_into(windows::table)
                .values((
                    windows::agent_id.eq(agent),
                    windows::window_kind.eq(kind),
                    windows::window_start.eq(start),
                    windows::requests.eq(requests),
                ))
                .on_conflict((
                    windows::agent_id,
                    windows::window_kind,
                    windows::window_start
                ))
                .do_update()
                .set(windows::requests.eq(windows::requests + requests))
                .execute(c))?;
        }
        crate::db_run!(conn, |c| diesel::delete(
            windows::table
                .filter(windows::agent_id.eq(agent))
                .filter(windows::window_start.lt(at - KEEP_SECONDS))
        )
        .execute(c))?;
        Ok(())
    })
}

/// Requests already counted in the windows holding `at`.
pub fn used(conn: &mut DbConn, agent: &AgentId, at: i64) -> StoreResult<Vec<(WindowKind, u32)>> {
    let mut used = Vec::with_capacity(WindowKind::ALL.len());
    for &kind in WindowKind::ALL {
        let count: Option<i64> = crate::db_run!(conn, |c| windows::table
            .filter(windows::agent_id.eq(agent))
            .filter(windows::window_kind.eq(kind))
            .filter(windows::window_start.eq(kind.start(at)))
            .select(windows::requests)
            .first(c)
            .optional())?;
        if let Some(count) = count.filter(|c| *c > 0) {
            used.push((kind, u32::try_from(count).unwrap_or(u32::MAX)));
        }
    }
    Ok(used)
}
