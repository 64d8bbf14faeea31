//! `users.presence`, written by the WebSocket hub: online, away or offline.

use diesel::prelude::*;

use super::executor::transaction;
use super::schema::users;
use super::{DbConn, StoreResult};
use crate::domain::{TenantId, UserId};

pub const ONLINE: &str = "online";
pub const AWAY: &str = "away";
pub const OFFLINE: &str = "offline";

pub fn set(conn: &mut DbConn, tenant: &TenantId, user: &UserId, status: &str) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::update(
        users::table
            .filter(users::tenant_id.eq(tenant))
            .filter(users::id.eq(user))
    )
    .set(users::presence.eq(status))
    .execute(c))?;
    Ok(())
}

/// At start nobody is connected to this process: presence left over from a previous run
/// (a crash skips the goodbyes) would make the distributor pick people who are not there.
pub fn reset_all(conn: &mut DbConn) -> StoreResult<usize> {
    Ok(crate::db_run!(conn, |c| diesel::update(
        users::table.filter(users::presence.ne(OFFLINE))
    )
    .set(users::presence.eq(OFFLINE))
    .execute(c))?)
}

/// Several users' presence, each as given.
pub fn set_all(conn: &mut DbConn, statuses: &[(&TenantId, &UserId, &str)]) -> StoreResult<()> {
    for (tenant, user, status) in statuses {
        set(conn, tenant, user, status)?;
    }
    Ok(())
}

/// A cluster node's start: the cluster's view (everyone not offline on some node) replaces
/// what the store holds, in one transaction, so no reader sees everyone offline meanwhile.
pub fn replace_all(conn: &mut DbConn, statuses: &[(&TenantId, &UserId, &str)]) -> StoreResult<()> {
    transaction(conn, |conn| {
        reset_all(conn)?;
        set_all(conn, statuses)
    })
}
