//! Presence per user over all nodes. Each node keeps one record in the JetStream KV bucket
//! `<cluster.bucket>_presence`: the staff users with a socket on it and their status there
//! (online or away; offline users are left out). It puts the record on every change and
//! again every heartbeat; the bucket has a bucket-wide TTL (`cluster.member_ttl_seconds`,
//! as the membership bucket: NATS 2.9 has no per-key TTL), so the record of a node that died
//! ages out, and a node that stops gracefully deletes its record at once.
//!
//! Every node watches the bucket and shows a user as the best status any node reports
//! (online over away over offline): a user with sockets on two nodes is online once, and
//! stays online when one of the two goes. The hub turns each change of that view into
//! `presence` frames and the stored `users.presence` that the distributor and the REST views
//! read. Every node writes the same view, each change in order, so the store ends up with the
//! cluster's view whichever node's write lands last. Expiry sends no notice on the watch: a
//! node drops a peer's record itself once it has not heard it for the bucket's TTL.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use actix::Addr;
use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::membership::{bucket_stream, ClusterError, CONNECT_TIMEOUT};
use super::ClusterSettings;
use crate::domain::{TenantId, UserId};
use crate::shutdown::Shutdown;
use crate::ws::hub::{ClusterPresence, Hub, PresenceChange, UseClusterPresence};
use crate::ws::protocol::PresenceStatus;

type Who = (TenantId, UserId);

/// One node's record in the bucket.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    users: Vec<Seen>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Seen {
    tenant_id: TenantId,
    user_id: UserId,
    status: PresenceStatus,
}

struct Peer {
    users: HashMap<Who, PresenceStatus>,
    /// When its record was put, as this node reckons it.
    heard: Instant,
}

/// The presence view of one node: its own users, its peers' records, and what it shows.
struct Board {
    node: String,
    mine: HashMap<Who, PresenceStatus>,
    peers: HashMap<String, Peer>,
    shown: HashMap<Who, PresenceStatus>,
    ttl: Duration,
    hub: Addr<Hub>,
}

/// Online over away over offline.
fn rank(status: PresenceStatus) -> u8 {
    match status {
        PresenceStatus::Offline => 0,
        PresenceStatus::Away => 1,
        PresenceStatus::Online => 2,
    }
}

impl Board {
    fn record(&self) -> Result<bytes::Bytes, serde_json::Error> {
        let users = self
            .mine
            .iter()
            .map(|((tenant_id, user_id), status)| Seen {
                tenant_id: tenant_id.clone(),
                user_id: user_id.clone(),
                status: *status,
            })
            .collect();
        serde_json::to_vec(&Record { users }).map(bytes::Bytes::from)
    }

    fn status_of(&self, who: &Who) -> PresenceStatus {
        self.peers
            .values()
            .filter_map(|p| p.users.get(who))
            .chain(self.mine.get(who))
            .copied()
            .max_by_key(|s| rank(*s))
            .unwrap_or(PresenceStatus::Offline)
    }

    /// Brings `shown` up to date for `users`; tells the hub of each change when `notify`.
    fn recompute(&mut self, users: impl IntoIterator<Item = Who>, notify: bool) {
        for who in users {
            let now = self.status_of(&who);
            let before = self
                .shown
                .get(&who)
                .copied()
                .unwrap_or(PresenceStatus::Offline);
            if now == before {
                continue;
            }
            if now == PresenceStatus::Offline {
                self.shown.remove(&who);
            } else {
                self.shown.insert(who.clone(), now);
            }
            if notify {
                let (tenant, user) = who;
                self.hub.do_send(ClusterPresence::Changed(PresenceChange {
                    tenant,
                    user,
                    status: now,
                }));
            }
        }
    }

    /// A change of this node's own sockets (from the hub).
    fn local(&mut self, change: PresenceChange) {
        let who = (change.tenant, change.user);
        if change.status == PresenceStatus::Offline {
            self.mine.remove(&who);
        } else {
            self.mine.insert(who.clone(), change.status);
        }
        self.recompute([who], true);
    }

    /// A record put or deleted in the bucket.
    fn heard(&mut self, entry: kv::Entry, heard: Instant, notify: bool) {
        // This node's record is what `mine` says; one left by its previous run is replaced.
        if entry.key == self.node {
            return;
        }
        let before: HashSet<Who> = self
            .peers
            .get(&entry.key)
            .map(|p| p.users.keys().cloned().collect())
            .unwrap_or_default();
        match entry.operation {
            kv::Operation::Put => match serde_json::from_slice::<Record>(&entry.value) {
                Ok(record) => {
                    let users = record
                        .users
                        .into_iter()
                        .filter(|s| s.status != PresenceStatus::Offline)
                        .map(|s| ((s.tenant_id, s.user_id), s.status))
                        .collect();
                    self.peers.insert(entry.key.clone(), Peer { users, heard });
                }
                Err(e) => {
                    tracing::warn!(node = %entry.key, error = %e, "unreadable presence record; kept the last one");
                    return;
                }
            },
            kv::Operation::Delete | kv::Operation::Purge => {
                self.peers.remove(&entry.key);
            }
        }
        let after: HashSet<Who> = self
            .peers
            .get(&entry.key)
            .map(|p| p.users.keys().cloned().collect())
            .unwrap_or_default();
        self.recompute(before.union(&after).cloned().collect::<Vec<_>>(), notify);
    }

    /// Drops the records the bucket has aged out: peers not heard of for its TTL.
    fn sweep(&mut self) {
        let now = Instant::now();
        let gone: Vec<String> = self
            .peers
            .iter()
            .filter(|(_, p)| now.duration_since(p.heard) >= self.ttl)
            .map(|(node, _)| node.clone())
            .collect();
        for node in gone {
            if let Some(peer) = self.peers.remove(&node) {
                tracing::info!(%node, users = peer.users.len(), "a node's presence aged out");
                self.recompute(peer.users.into_keys().collect::<Vec<_>>(), true);
            }
        }
    }
}

/// When a record read at start was put, as this node reckons it (the server's clock).
fn heard_at(entry: &kv::Entry, ttl: Duration) -> Instant {
    let age = chrono::Utc::now()
        .timestamp()
        .saturating_sub(entry.created.unix_timestamp());
    let age = Duration::from_secs(u64::try_from(age).unwrap_or(0)).min(ttl);
    Instant::now().checked_sub(age).unwrap_or_else(Instant::now)
}

async fn put(bucket: &kv::Store, board: &Board) {
    let record = match board.record() {
        Ok(record) => record,
        Err(e) => {
            tracing::error!(error = %e, "presence record not encoded");
            return;
        }
    };
    if let Err(e) = bucket.put(board.node.as_str(), record).await {
        // The client reconnects by itself; the next change or heartbeat puts it again.
        tracing::warn!(node = %board.node, error = %e, "presence record not put");
    }
}

/// Opens (or creates) the bucket, reads the other nodes' records, hands the hub the cluster's
/// view and its link for this node's changes, and keeps both current until the node stops.
pub async fn spawn(
    client: async_nats::Client,
    settings: &ClusterSettings,
    node: String,
    hub: Addr<Hub>,
    shutdown: &Shutdown,
) -> Result<(), ClusterError> {
    let context = jetstream::new(client);
    let ttl = Duration::from_secs(settings.member_ttl_seconds);
    let name = format!("{}_presence", settings.bucket);
    let bucket_error = |e: &dyn std::fmt::Display| ClusterError::Bucket(format!("{name}: {e}"));
    context
        .get_or_create_stream(bucket_stream(&name, ttl, "atende presence per node"))
        .await
        .map_err(|e| bucket_error(&e))?;
    let bucket = context
        .get_key_value(name.as_str())
        .await
        .map_err(|e| bucket_error(&e))?;
    let mut board = Board {
        node,
        mine: HashMap::new(),
        peers: HashMap::new(),
        shown: HashMap::new(),
        ttl,
        hub: hub.clone(),
    };
    // Our (empty) record first: the watch then has at least one entry to deliver before it
    // is current, and a record left by this node's previous run no longer counts.
    bucket
        .put(
            board.node.as_str(),
            board.record().map_err(|e| bucket_error(&e))?,
        )
        .await
        .map_err(|e| bucket_error(&e))?;
    let mut watch = bucket
        .watch_with_history(">")
        .await
        .map_err(|e| bucket_error(&e))?;
    tokio::time::timeout(CONNECT_TIMEOUT, async {
        while let Some(entry) = watch.next().await {
            let entry = entry.map_err(|e| bucket_error(&e))?;
            let current = entry.seen_current;
            let heard = heard_at(&entry, ttl);
            board.heard(entry, heard, false);
            if current {
                return Ok(());
            }
        }
        Err(bucket_error(&"the watch ended"))
    })
    .await
    .map_err(|_| bucket_error(&"not read in time"))??;
    board.sweep();
    let view = board
        .shown
        .iter()
        .map(|((tenant, user), status)| PresenceChange {
            tenant: tenant.clone(),
            user: user.clone(),
            status: *status,
        })
        .collect();
    hub.do_send(ClusterPresence::Snapshot(view));
    let (link, changes) = mpsc::unbounded_channel();
    hub.do_send(UseClusterPresence(link));
    let every = Duration::from_secs(settings.heartbeat_interval_seconds);
    tokio::spawn(run(
        board,
        bucket,
        Some(watch),
        changes,
        every,
        shutdown.watch(),
    ));
    Ok(())
}

async fn next_entry(watch: &mut Option<kv::Watch>) -> Option<Result<kv::Entry, kv::WatcherError>> {
    match watch {
        Some(watch) => watch.next().await,
        None => std::future::pending().await,
    }
}

async fn run(
    mut board: Board,
    bucket: kv::Store,
    mut watch: Option<kv::Watch>,
    mut changes: mpsc::UnboundedReceiver<PresenceChange>,
    every: Duration,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let mut beat = tokio::time::interval(every);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat.tick().await;
    loop {
        tokio::select! {
            _ = crate::shutdown::stopping(&mut stopping) => {
                // Peers drop this node's users now instead of after the TTL.
                if let Err(e) = bucket.delete(board.node.as_str()).await {
                    tracing::warn!(node = %board.node, error = %e, "presence record not deleted; it ages out");
                }
                return;
            }
            change = changes.recv() => {
                let Some(change) = change else { return };
                board.local(change);
                // A burst of changes (many sockets closing) is one put.
                while let Ok(change) = changes.try_recv() {
                    board.local(change);
                }
                put(&bucket, &board).await;
            }
            entry = next_entry(&mut watch) => match entry {
                Some(Ok(entry)) => board.heard(entry, Instant::now(), true),
                Some(Err(e)) => tracing::warn!(error = %e, "presence watch"),
                None => {
                    tracing::warn!("presence watch ended; watching again at the next heartbeat");
                    watch = None;
                }
            },
            _ = beat.tick() => {
                put(&bucket, &board).await;
                board.sweep();
                if watch.is_none() {
                    // Re-reading every record is idempotent: each replaces the peer's last.
                    match bucket.watch_with_history(">").await {
                        Ok(again) => watch = Some(again),
                        Err(e) => tracing::warn!(error = %e, "presence watch not restarted"),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_beats_away_beats_offline() {
        let mut all = [
            PresenceStatus::Away,
            PresenceStatus::Online,
            PresenceStatus::Offline,
        ];
        all.sort_by_key(|s| std::cmp::Reverse(rank(*s)));
        assert_eq!(
            all,
            [
                PresenceStatus::Online,
                PresenceStatus::Away,
                PresenceStatus::Offline
            ]
        );
    }

    #[test]
    fn records_read_back() {
        let record = Record {
            users: vec![Seen {
                tenant_id: TenantId("t".into()),
                user_id: UserId("u".into()),
                status: PresenceStatus::Away,
            }],
        };
        let wire = serde_json::to_vec(&record).expect("encodes");
        let back: Record = serde_json::from_slice(&wire).expect("decodes");
        assert_eq!(back.users[0].status, PresenceStatus::Away);
        assert_eq!(back.users[0].user_id, UserId("u".into()));
    }
}
