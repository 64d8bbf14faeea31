//! Membership: each node puts its key (its id, with a small JSON record) into a JetStream KV
//! bucket created with a bucket-wide TTL (`max_age`), and puts it again every heartbeat. A
//! node that stops heart-beating ages out of the bucket; one that stops gracefully deletes
//! its key. The members are the bucket's live keys.

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::ClusterSettings;

/// How long connecting to the bus (or reading a bucket) may take at start-up before the
/// node refuses to start.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot reach NATS at cluster.nats_url: {0}")]
    Connect(String),
    #[error("the membership bucket is unusable: {0}")]
    Bucket(String),
    #[error("membership: {0}")]
    Membership(String),
}

/// What a node says about itself in the bucket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeInfo {
    pub node_id: String,
    /// The HTTP address it serves on (`host:port`).
    pub address: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
}

/// This node's membership: alive while the value lives; [`Membership::leave`] on shutdown.
pub struct Membership {
    info: NodeInfo,
    /// The connection to the bus, shared by what else crosses nodes (knowledge changes).
    client: async_nats::Client,
    bucket: kv::Store,
    heartbeat: JoinHandle<()>,
}

impl Membership {
    /// Connects to the bus, opens (or creates) the bucket and registers this node.
    pub async fn join(
        settings: &ClusterSettings,
        node_id: String,
        address: String,
    ) -> Result<Membership, ClusterError> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("atende {node_id}"))
            .connection_timeout(CONNECT_TIMEOUT)
            .connect(settings.nats_url.trim())
            .await
            .map_err(|e| ClusterError::Connect(e.to_string()))?;
        let context = jetstream::new(client.clone());
        let ttl = Duration::from_secs(settings.member_ttl_seconds);
        // The bucket's stream is created as `create_key_value` would; that call first reads
        // the account's info, which a 2.9 server answers without fields this client needs.
        context
            .get_or_create_stream(bucket_stream(
                &settings.bucket,
                ttl,
                "atende cluster members",
            ))
            .await
            .map_err(|e| ClusterError::Bucket(e.to_string()))?;
        let bucket = context
            .get_key_value(settings.bucket.as_str())
            .await
            .map_err(|e| ClusterError::Bucket(e.to_string()))?;
        let info = NodeInfo {
            node_id,
            address,
            started_at: chrono::Utc::now(),
        };
        let record = bytes::Bytes::from(
            serde_json::to_vec(&info).map_err(|e| ClusterError::Membership(e.to_string()))?,
        );
        bucket
            .put(info.node_id.as_str(), record.clone())
            .await
            .map_err(|e| ClusterError::Membership(e.to_string()))?;
        let every = Duration::from_secs(settings.heartbeat_interval_seconds);
        let heartbeat = tokio::spawn(heartbeat(
            bucket.clone(),
            info.node_id.clone(),
            record,
            every,
        ));
        tracing::info!(node = %info.node_id, bucket = %settings.bucket, "joined the cluster");
        Ok(Membership {
            info,
            client,
            bucket,
            heartbeat,
        })
    }

    pub fn node_id(&self) -> &str {
        &self.info.node_id
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The live members (this node included while it heart-beats), by id. Bounded in time:
    /// `/ready` answers even when the bus does not.
    pub async fn members(&self) -> Result<Vec<NodeInfo>, ClusterError> {
        tokio::time::timeout(CONNECT_TIMEOUT, self.read_members())
            .await
            .map_err(|_| ClusterError::Membership("the bus did not answer in time".into()))?
    }

    async fn read_members(&self) -> Result<Vec<NodeInfo>, ClusterError> {
        let failed = |e: &dyn std::fmt::Display| ClusterError::Membership(e.to_string());
        // The keys from the stream's subjects: one request and no consumer. A key listing
        // through a consumer waits for every value it counted at the start, and one that
        // ages out meanwhile never comes.
        let subjects: Vec<(String, usize)> = self
            .bucket
            .stream
            .info_with_subjects(format!("{}>", self.bucket.prefix))
            .await
            .map_err(|e| failed(&e))?
            .try_collect()
            .await
            .map_err(|e| failed(&e))?;
        let mut members = Vec::with_capacity(subjects.len());
        for (subject, _) in subjects {
            let Some(key) = subject.strip_prefix(self.bucket.prefix.as_str()) else {
                continue;
            };
            let value = self.bucket.get(key).await.map_err(|e| failed(&e))?;
            // A key deleted or aged out between the listing and the read is no member.
            if let Some(info) = value.and_then(|v| serde_json::from_slice::<NodeInfo>(&v).ok()) {
                members.push(info);
            }
        }
        members.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        Ok(members)
    }

    /// Leaves at once (a graceful stop) instead of ageing out.
    pub async fn leave(&self) {
        self.heartbeat.abort();
        if let Err(e) = self.bucket.delete(self.info.node_id.as_str()).await {
            tracing::warn!(node = %self.info.node_id, error = %e, "membership key not deleted; it ages out");
        } else {
            tracing::info!(node = %self.info.node_id, "left the cluster");
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// The stream behind a KV bucket with one value per key and a bucket-wide TTL, as the KV
/// API lays it out (`KV_<bucket>` on `$KV.<bucket>.>`).
pub(super) fn bucket_stream(bucket: &str, ttl: Duration, description: &str) -> stream::Config {
    stream::Config {
        name: format!("KV_{bucket}"),
        description: Some(description.into()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age: ttl,
        storage: stream::StorageType::File,
        num_replicas: 1,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    }
}

async fn heartbeat(bucket: kv::Store, node_id: String, record: bytes::Bytes, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if let Err(e) = bucket.put(node_id.as_str(), record.clone()).await {
            // The client reconnects by itself; a node that stays cut off ages out.
            tracing::warn!(node = %node_id, error = %e, "cluster heartbeat failed");
        }
    }
}
