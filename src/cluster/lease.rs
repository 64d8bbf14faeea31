//! Tenant leases: in cluster mode one node at a time owns a tenant's conversations, its AI
//! agents' supervisors (so their caps hold cluster-wide), its distribution queue and its SLA
//! clock. The lease is a PostgreSQL row (`tenant_leases`) with database-time expiry and a
//! fencing token raised by every take-over; the message writer commits a node's batch only
//! while the node still holds the token it knows ([`Leases::check`]), under a share lock, so
//! a take-over waits for that commit and a node that lost its lease (paused, cut off) writes
//! nothing. No consensus of our own: exclusivity is what PostgreSQL's row locks say.
//!
//! A tenant is owned by one node rather than each conversation by any node: the agent
//! supervisors and the queue span a tenant's conversations, so owning them together keeps
//! every cap a local decision. Tenants spread over the nodes as their traffic arrives.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};

use crate::domain::TenantId;
use crate::store::{DbConn, StoreError, StoreResult};

#[derive(QueryableByName)]
struct Held {
    #[diesel(sql_type = Text)]
    tenant_id: String,
    #[diesel(sql_type = BigInt)]
    token: i64,
}

impl Held {
    fn pair(self) -> (TenantId, i64) {
        (TenantId(self.tenant_id), self.token)
    }
}

#[derive(QueryableByName)]
struct OwnerRow {
    #[diesel(sql_type = Text)]
    node_id: String,
}

fn postgres(conn: &mut DbConn) -> StoreResult<&mut diesel::PgConnection> {
    match conn {
        DbConn::Postgres(pooled) => Ok(&mut *pooled),
        DbConn::Sqlite(_) => Err(StoreError::Unavailable(
            "tenant leases need PostgreSQL".into(),
        )),
    }
}

/// Takes `tenant` for `node` when nobody holds it (no row, or the holder's lease ran out);
/// the new fencing token. `None`: another node holds it.
pub fn acquire(
    conn: &mut DbConn,
    tenant: &TenantId,
    node: &str,
    ttl_ms: i64,
) -> StoreResult<Option<i64>> {
    let held: Vec<Held> = diesel::sql_query(
        "INSERT INTO tenant_leases (tenant_id, node_id, token, expires_at) \
         VALUES ($1, $2, 1, now() + $3 * interval '1 millisecond') \
         ON CONFLICT (tenant_id) DO UPDATE SET node_id = EXCLUDED.node_id, \
         token = tenant_leases.token + 1, expires_at = EXCLUDED.expires_at \
         WHERE tenant_leases.expires_at < now() \
         RETURNING tenant_id, token",
    )
    .bind::<Text, _>(tenant.as_str())
    .bind::<Text, _>(node)
    .bind::<BigInt, _>(ttl_ms)
    .load(postgres(conn)?)?;
    Ok(held.into_iter().next().map(|h| h.token))
}

/// Extends every unexpired lease `node` holds; what it still holds, with the tokens. A lease
/// that ran out before its renewal is not renewed: it is lost (another node may be taking it).
pub fn renew(conn: &mut DbConn, node: &str, ttl_ms: i64) -> StoreResult<HashMap<TenantId, i64>> {
    let held: Vec<Held> = diesel::sql_query(
        "UPDATE tenant_leases SET expires_at = now() + $2 * interval '1 millisecond' \
         WHERE node_id = $1 AND expires_at > now() RETURNING tenant_id, token",
    )
    .bind::<Text, _>(node)
    .bind::<BigInt, _>(ttl_ms)
    .load(postgres(conn)?)?;
    Ok(held.into_iter().map(Held::pair).collect())
}

/// Takes over up to `limit` leases that ran out (their node died or stopped); the tenants
/// taken, with their new tokens. Nodes taking over at once take disjoint leases.
pub fn take_over(
    conn: &mut DbConn,
    node: &str,
    ttl_ms: i64,
    limit: i64,
) -> StoreResult<Vec<(TenantId, i64)>> {
    let held: Vec<Held> = diesel::sql_query(
        "UPDATE tenant_leases SET node_id = $1, token = token + 1, \
         expires_at = now() + $2 * interval '1 millisecond' \
         WHERE tenant_id IN (SELECT l.tenant_id FROM tenant_leases l WHERE l.expires_at < now() \
         ORDER BY l.expires_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
         RETURNING tenant_id, token",
    )
    .bind::<Text, _>(node)
    .bind::<BigInt, _>(ttl_ms)
    .bind::<BigInt, _>(limit)
    .load(postgres(conn)?)?;
    Ok(held.into_iter().map(Held::pair).collect())
}

/// Lets go of everything `node` holds (a graceful stop, or a restart under the same id, whose
/// new process holds nothing yet): the leases run out now, for any node to take over.
pub fn release_all(conn: &mut DbConn, node: &str) -> StoreResult<usize> {
    Ok(diesel::sql_query(
        "UPDATE tenant_leases SET expires_at = now() - interval '1 millisecond' \
         WHERE node_id = $1 AND expires_at >= now()",
    )
    .bind::<Text, _>(node)
    .execute(postgres(conn)?)?)
}

/// The node holding `tenant`'s unexpired lease.
pub fn owner(conn: &mut DbConn, tenant: &TenantId) -> StoreResult<Option<String>> {
    let rows: Vec<OwnerRow> = diesel::sql_query(
        "SELECT node_id FROM tenant_leases WHERE tenant_id = $1 AND expires_at > now()",
    )
    .bind::<Text, _>(tenant.as_str())
    .load(postgres(conn)?)?;
    Ok(rows.into_iter().next().map(|r| r.node_id))
}

/// Of `tenants`, those `node` still holds with the given tokens, share-locked until the
/// caller's transaction ends (a take-over waits for it).
fn still_held(
    conn: &mut DbConn,
    node: &str,
    tenants: &[(TenantId, i64)],
) -> StoreResult<Vec<TenantId>> {
    let ids: Vec<String> = tenants.iter().map(|(t, _)| t.0.clone()).collect();
    let rows: Vec<Held> = diesel::sql_query(
        "SELECT tenant_id, token FROM tenant_leases \
         WHERE node_id = $1 AND tenant_id = ANY($2) AND expires_at > now() FOR SHARE",
    )
    .bind::<Text, _>(node)
    .bind::<Array<Text>, _>(ids)
    .load(postgres(conn)?)?;
    Ok(tenants
        .iter()
        .filter(|(tenant, token)| {
            rows.iter()
                .any(|r| r.tenant_id == tenant.0 && r.token == *token)
        })
        .map(|(tenant, _)| tenant.clone())
        .collect())
}

/// What this node holds, as it last knew it: the tenants it owns with their fencing tokens.
/// Shared by the registry (route here or to the owner), the writer (fencing), the distributor
/// and the keeper that renews and takes over.
#[derive(Clone)]
pub struct Leases {
    node: Arc<str>,
    held: Arc<RwLock<HashMap<TenantId, i64>>>,
    /// Writes the fence refused since start (`/ready`).
    fenced: Arc<AtomicU64>,
}

impl Leases {
    pub fn new(node: &str) -> Self {
        Leases {
            node: node.into(),
            held: Arc::default(),
            fenced: Arc::default(),
        }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn fenced(&self) -> u64 {
        self.fenced.load(Ordering::Relaxed)
    }

    pub(crate) fn count_fenced(&self, writes: usize) {
        self.fenced
            .fetch_add(u64::try_from(writes).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The token this node holds `tenant` under, if it does.
    pub fn token(&self, tenant: &TenantId) -> Option<i64> {
        self.held.read().ok()?.get(tenant).copied()
    }

    pub fn holds(&self, tenant: &TenantId) -> bool {
        self.token(tenant).is_some()
    }

    pub fn tenants(&self) -> Vec<TenantId> {
        self.held
            .read()
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn insert(&self, tenant: TenantId, token: i64) {
        if let Ok(mut held) = self.held.write() {
            held.insert(tenant, token);
        }
    }

    /// Replaces the view with what the store just renewed; the tenants lost since.
    pub(crate) fn replace(&self, renewed: HashMap<TenantId, i64>) -> Vec<TenantId> {
        let Ok(mut held) = self.held.write() else {
            return Vec::new();
        };
        let lost = lost(&held, &renewed);
        *held = renewed;
        lost
    }

    pub(crate) fn clear(&self) {
        if let Ok(mut held) = self.held.write() {
            held.clear();
        }
    }

    /// The fence of a write batch, inside its transaction: which of `tenants` this node
    /// still holds under the token it knows. Writes for the others must not commit.
    pub fn check(&self, conn: &mut DbConn, tenants: &[TenantId]) -> StoreResult<Vec<TenantId>> {
        let known: Vec<(TenantId, i64)> = tenants
            .iter()
            .filter_map(|t| self.token(t).map(|token| (t.clone(), token)))
            .collect();
        if known.is_empty() {
            return Ok(Vec::new());
        }
        still_held(conn, &self.node, &known)
    }
}

/// Tenants held before and not renewed under the same token.
fn lost(before: &HashMap<TenantId, i64>, renewed: &HashMap<TenantId, i64>) -> Vec<TenantId> {
    before
        .iter()
        .filter(|(tenant, token)| renewed.get(*tenant) != Some(*token))
        .map(|(tenant, _)| tenant.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str) -> TenantId {
        TenantId(id.into())
    }

    #[test]
    fn a_lease_is_lost_when_not_renewed_or_renewed_under_another_token() {
        let before = HashMap::from([(t("a"), 1), (t("b"), 4), (t("c"), 2)]);
        let renewed = HashMap::from([(t("a"), 1), (t("b"), 5), (t("d"), 1)]);
        let mut lost = lost(&before, &renewed);
        lost.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(lost, [t("b"), t("c")]);
        assert!(super::lost(&renewed, &renewed).is_empty());
    }

    #[test]
    fn the_view_answers_what_it_holds() {
        let leases = Leases::new("n1");
        assert!(!leases.holds(&t("a")));
        leases.insert(t("a"), 3);
        assert_eq!(leases.token(&t("a")), Some(3));
        let lost = leases.replace(HashMap::from([(t("b"), 1)]));
        assert_eq!(lost, [t("a")]);
        assert!(leases.holds(&t("b")) && !leases.holds(&t("a")));
        leases.clear();
        assert!(leases.tenants().is_empty());
    }
}
