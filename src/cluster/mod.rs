//! Cluster mode (docs/cluster.md): several engine nodes on one PostgreSQL database, with
//! NATS JetStream as the bus. Switched on by `cluster.nats_url`; SQLite stays the single-node
//! default and refuses it at start-up.
//!
//! What runs across nodes: membership (each node's key in a JetStream KV bucket whose
//! bucket-wide TTL drops a node that stops heart-beating; NATS 2.9 has no per-key TTL), tenant
//! leases with fencing (`lease`, `keeper`) and routing each conversation's events to the
//! owner (`routing`), the work queues (webhook deliveries, channel sends, timers) claimed from
//! the store (`store::claims`), and the relays of real-time events and knowledge changes. No
//! consensus of our own: liveness is what the KV bucket says, and exclusivity is what
//! PostgreSQL's row locks say.

pub mod invalidate;
pub mod keeper;
pub mod knowledge;
pub mod lease;
pub mod membership;
pub mod presence;
pub mod realtime;
pub mod relay;
pub mod routing;
pub mod sse;
pub mod work;

use serde::Deserialize;

use crate::config::{invalid, ConfigError, DatabaseKind};

pub use membership::{Membership, NodeInfo};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// `nats://host:port` of the bus; empty: a single node (no cluster).
    pub nats_url: String,
    /// This node's id in the cluster; empty: generated at start (`node-` and 12 hex digits).
    pub node_id: String,
    /// How often the node renews its membership key.
    pub heartbeat_interval_seconds: u64,
    /// The membership bucket's TTL: a node not heard of for this long is no longer a member.
    pub member_ttl_seconds: u64,
    /// The JetStream KV bucket holding one key per live node.
    pub bucket: String,
    /// How long a claimed work item (a webhook delivery, a channel send) is held by its
    /// node before another node may take it over (the holder died or lost the database).
    pub claim_seconds: u64,
    /// How often each node looks for unclaimed due work.
    pub poll_interval_ms: u64,
    /// The SSE resume buffer on the bus (`<bucket>_sse`) keeps events this long …
    pub sse_retention_seconds: u64,
    /// … and at most this many (all tenants together).
    pub sse_retention_events: u64,
    /// How long a tenant lease holds without renewal: a node that dies (or is cut off from
    /// the database) loses its tenants this long after its last renewal, and another node
    /// takes them over at its next renewal.
    pub lease_ms: u64,
    /// How often a node renews its leases and takes over the ones that ran out.
    pub lease_renew_ms: u64,
    /// How long a node waits for the owning node's answer to a forwarded event before it
    /// looks the owner up again.
    pub forward_timeout_ms: u64,
}

impl ClusterSettings {
    pub fn enabled(&self) -> bool {
        !self.nats_url.trim().is_empty()
    }

    pub fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease_ms).unwrap_or(i64::MAX)
    }

    pub(crate) fn validate(&self, database: DatabaseKind) -> Result<(), ConfigError> {
        if self.claim_seconds == 0 {
            return Err(invalid("cluster.claim_seconds", "must be at least 1"));
        }
        if self.poll_interval_ms == 0 {
            return Err(invalid("cluster.poll_interval_ms", "must be at least 1"));
        }
        if self.sse_retention_seconds == 0 {
            return Err(invalid(
                "cluster.sse_retention_seconds",
                "must be at least 1",
            ));
        }
        if self.sse_retention_events == 0 || i64::try_from(self.sse_retention_events).is_err() {
            return Err(invalid(
                "cluster.sse_retention_events",
                "must be at least 1 (and fit a signed 64-bit number)",
            ));
        }
        if !self.node_id.is_empty() && !valid_key(&self.node_id) {
            return Err(invalid(
                "cluster.node_id",
                "may hold only letters, digits, `-` and `_` (at most 64)",
            ));
        }
        if !self.enabled() {
            return Ok(());
        }
        if matches!(database, DatabaseKind::Sqlite(_)) {
            return Err(invalid(
                "cluster.nats_url",
                "cluster mode needs PostgreSQL: database.url is SQLite, which serves a single \
                 node (unset cluster.nats_url, or use a postgres:// database)",
            ));
        }
        let url = self.nats_url.trim();
        if !["nats://", "tls://"].iter().any(|s| url.starts_with(s)) {
            return Err(invalid(
                "cluster.nats_url",
                "must be a nats:// or tls:// URL such as nats://127.0.0.1:4222",
            ));
        }
        if self.heartbeat_interval_seconds == 0 {
            return Err(invalid(
                "cluster.heartbeat_interval_seconds",
                "must be at least 1",
            ));
        }
        if self.member_ttl_seconds <= self.heartbeat_interval_seconds {
            return Err(invalid(
                "cluster.member_ttl_seconds",
                "must be longer than cluster.heartbeat_interval_seconds",
            ));
        }
        if self.lease_renew_ms == 0 || self.lease_ms < 2 * self.lease_renew_ms {
            return Err(invalid(
                "cluster.lease_ms",
                "must be at least twice cluster.lease_renew_ms (and that at least 1)",
            ));
        }
        if self.forward_timeout_ms == 0 {
            return Err(invalid("cluster.forward_timeout_ms", "must be at least 1"));
        }
        if !valid_key(&self.bucket) {
            return Err(invalid(
                "cluster.bucket",
                "may hold only letters, digits, `-` and `_` (at most 64)",
            ));
        }
        Ok(())
    }

    /// This node's id for membership and work claims: the configured one; else a fresh one
    /// in cluster mode, and [`work::SINGLE_NODE`] for a single node (which, after a
    /// restart, then holds and resumes at once what it held before).
    pub fn node_id(&self) -> String {
        if !self.node_id.is_empty() {
            self.node_id.clone()
        } else if self.enabled() {
            let id = uuid::Uuid::new_v4().simple().to_string();
            format!("node-{}", &id[..12])
        } else {
            work::SINGLE_NODE.to_string()
        }
    }
}

/// A NATS KV key and bucket name we accept: a strict subset of what NATS allows.
fn valid_key(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= 64
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> ClusterSettings {
        ClusterSettings {
            nats_url: url.into(),
            node_id: String::new(),
            heartbeat_interval_seconds: 2,
            member_ttl_seconds: 10,
            bucket: "atende_nodes".into(),
            claim_seconds: 60,
            poll_interval_ms: 1000,
            sse_retention_seconds: 3600,
            sse_retention_events: 100_000,
            lease_ms: 5000,
            lease_renew_ms: 1000,
            forward_timeout_ms: 5000,
        }
    }

    #[test]
    fn sqlite_refuses_cluster_mode_and_postgres_takes_it() {
        let sqlite = DatabaseKind::Sqlite("x.db".into());
        assert!(settings("").validate(sqlite.clone()).is_ok());
        let refused = settings("nats://127.0.0.1:4222")
            .validate(sqlite)
            .expect_err("refused");
        assert!(
            refused.to_string().contains("needs PostgreSQL"),
            "{refused}"
        );
        assert!(settings("nats://127.0.0.1:4222")
            .validate(DatabaseKind::Postgres)
            .is_ok());
        assert!(settings("http://127.0.0.1:4222")
            .validate(DatabaseKind::Postgres)
            .is_err());
        let mut short_ttl = settings("nats://127.0.0.1:4222");
        short_ttl.member_ttl_seconds = 2;
        assert!(short_ttl.validate(DatabaseKind::Postgres).is_err());
        let mut no_window = settings("nats://127.0.0.1:4222");
        no_window.sse_retention_events = 0;
        assert!(no_window.validate(DatabaseKind::Postgres).is_err());
        let mut short_lease = settings("nats://127.0.0.1:4222");
        short_lease.lease_ms = 1500;
        assert!(short_lease.validate(DatabaseKind::Postgres).is_err());
        let mut bad_id = settings("nats://127.0.0.1:4222");
        bad_id.node_id = "a.b".into();
        assert!(bad_id.validate(DatabaseKind::Postgres).is_err());
    }

    #[test]
    fn generated_node_ids_are_valid_keys_and_differ() {
        let s = settings("nats://127.0.0.1:4222");
        let (a, b) = (s.node_id(), s.node_id());
        assert!(valid_key(&a) && a.starts_with("node-"), "{a}");
        assert_ne!(a, b);
        assert_eq!(settings("").node_id(), work::SINGLE_NODE);
        let mut named = settings("");
        named.node_id = "n1".into();
        assert_eq!(named.node_id(), "n1");
        assert!(named.validate(DatabaseKind::Postgres).is_ok());
    }
}
