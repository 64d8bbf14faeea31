//! Work queues any node may run (cluster mode, docs/cluster.md): a pending webhook delivery
//! or channel send is claimed by one node for a while (`claimed_by`, `claimed_until`), and
//! every attempt renews the claim first, so two nodes never attempt the same item at once.
//! Unheld due items are claimed in batches with `FOR UPDATE SKIP LOCKED` on PostgreSQL
//! (pollers of several nodes skip each other's rows instead of queueing behind them); SQLite
//! has one writer at a time, so the same statement without the lock clause does.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

use super::{DbConn, StoreResult};

/// A table whose pending rows are claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkQueue {
    WebhookDeliveries,
    ChannelDeliveries,
}

impl WorkQueue {
    fn table(self) -> &'static str {
        match self {
            WorkQueue::WebhookDeliveries => "webhook_deliveries",
            WorkQueue::ChannelDeliveries => "channel_deliveries",
        }
    }

    /// Channel sends of a conversation go out in order: only its oldest pending one may be
    /// claimed by a poller (later ones follow it in the claiming node's lane).
    fn only_oldest(self) -> &'static str {
        match self {
            WorkQueue::WebhookDeliveries => "",
            WorkQueue::ChannelDeliveries => {
                " AND NOT EXISTS (SELECT 1 FROM channel_deliveries o \
                 WHERE o.conversation_id = d.conversation_id AND o.status = 'pending' \
                 AND (o.created_at < d.created_at OR (o.created_at = d.created_at AND o.id < d.id)))"
            }
        }
    }
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = Text)]
    id: String,
}

/// `$n` placeholders for PostgreSQL; SQLite takes the same numbers as `?n` (and has no row
/// locks to skip).
pub(crate) fn for_backend(conn: &DbConn, sql: &str) -> String {
    match conn {
        DbConn::Postgres(_) => sql.to_string(),
        DbConn::Sqlite(_) => sql.replace('$', "?").replace(" FOR UPDATE SKIP LOCKED", ""),
    }
}

/// Claims (or renews) one pending item for `node` until `until`: true when `node` holds it
/// now, false when it is done or another node holds an unexpired claim.
pub fn claim(
    conn: &mut DbConn,
    queue: WorkQueue,
    id: &str,
    node: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> StoreResult<bool> {
    let sql = for_backend(
        conn,
        &format!(
            "UPDATE {} SET claimed_by = $1, claimed_until = $2 \
             WHERE id = $3 AND status = 'pending' \
             AND (claimed_by = $1 OR claimed_until IS NULL OR claimed_until < $4)",
            queue.table()
        ),
    );
    let updated = crate::db_run!(conn, |c| diesel::sql_query(&sql)
        .bind::<Text, _>(node)
        .bind::<Timestamp, _>(until)
        .bind::<Text, _>(id)
        .bind::<Timestamp, _>(now)
        .execute(c))?;
    Ok(updated == 1)
}

/// Claims up to `limit` due pending items that no other node holds; their ids, oldest first.
pub fn claim_due(
    conn: &mut DbConn,
    queue: WorkQueue,
    node: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
    limit: i64,
) -> StoreResult<Vec<String>> {
    let sql = for_backend(
        conn,
        &format!(
            "UPDATE {table} SET claimed_by = $1, claimed_until = $2 WHERE id IN (\
             SELECT d.id FROM {table} d WHERE d.status = 'pending' \
             AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= $3) \
             AND (d.claimed_by = $1 OR d.claimed_until IS NULL OR d.claimed_until < $3){oldest} \
             ORDER BY d.created_at, d.id LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING id",
            table = queue.table(),
            oldest = queue.only_oldest(),
        ),
    );
    let mut claimed: Vec<Claimed> = crate::db_run!(conn, |c| diesel::sql_query(&sql)
        .bind::<Text, _>(node)
        .bind::<Timestamp, _>(until)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load(c))?;
    // RETURNING gives no order.
    claimed.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(claimed.into_iter().map(|c| c.id).collect())
}

/// The claimed webhook deliveries, by id.
pub fn webhook_deliveries(
    conn: &mut DbConn,
    ids: &[String],
) -> StoreResult<Vec<super::webhooks::WebhookDelivery>> {
    use super::schema::webhook_deliveries as t;
    use super::webhooks::WebhookDelivery;
    Ok(crate::db_run!(conn, |c| t::table
        .filter(t::id.eq_any(ids))
        .order(t::id.asc())
        .select(WebhookDelivery::as_select())
        .load(c))?)
}

/// The claimed channel sends, by id.
pub fn channel_deliveries(
    conn: &mut DbConn,
    ids: &[String],
) -> StoreResult<Vec<super::deliveries::ChannelDelivery>> {
    use super::deliveries::ChannelDelivery;
    use super::schema::channel_deliveries as t;
    Ok(crate::db_run!(conn, |c| t::table
        .filter(t::id.eq_any(ids))
        .order(t::id.asc())
        .select(ChannelDelivery::as_select())
        .load(c))?)
}

/// Claims up to `limit` due timers, soonest first: each is marked fired by the one poller
/// that claims it (any node), so it fires at most once in the cluster.
pub fn due_timers(
    conn: &mut DbConn,
    now: NaiveDateTime,
    limit: i64,
) -> StoreResult<Vec<super::timers::Timer>> {
    use super::schema::scheduled_timers as t;
    use super::timers::Timer;
    let sql = for_backend(
        conn,
        "UPDATE scheduled_timers SET fired = TRUE WHERE id IN (\
         SELECT d.id FROM scheduled_timers d WHERE d.fired = FALSE AND d.fire_at <= $1 \
         ORDER BY d.fire_at, d.id LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING id",
    );
    let claimed: Vec<Claimed> = crate::db_run!(conn, |c| diesel::sql_query(&sql)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load(c))?;
    let ids: Vec<String> = claimed.into_iter().map(|c| c.id).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(crate::db_run!(conn, |c| t::table
        .filter(t::id.eq_any(&ids))
        .order((t::fire_at.asc(), t::id.asc()))
        .select(Timer::as_select())
        .load(c))?)
}
