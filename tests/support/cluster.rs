//! Cluster tests' shared parts: a JetStream bucket of the test's own on the machine's NATS
//! (127.0.0.1:4222, started by .ci/run), the environment that puts a node in it, and what
//! `/ready` says about the members.

use std::time::{Duration, Instant};

use super::node::Node;

pub const NATS_URL: &str = "nats://127.0.0.1:4222";

/// A bucket of this test's own, deleted with what nodes kept beside it when dropped (tests run side by side on one NATS).
pub struct Bucket(pub String);

impl Bucket {
    pub fn new() -> Bucket {
        Bucket(format!("t_{}", uuid::Uuid::new_v4().simple()))
    }
}

impl Drop for Bucket {
    fn drop(&mut self) {
        let name = self.0.clone();
        // Its own runtime: Drop cannot await, and the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(client) = async_nats::connect(NATS_URL).await {
                    // The membership bucket, and what nodes keep beside it: the presence
                    // bucket and the SSE stream.
                    let js = async_nats::jetstream::new(client);
                    let _ = js.delete_key_value(&name).await;
                    let _ = js.delete_key_value(format!("{name}_presence")).await;
                    let _ = js.delete_stream(format!("{name}_sse")).await;
                }
            });
        })
        .join();
    }
}

pub fn cluster_env<'a>(bucket: &'a Bucket, node: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("ATENDE__CLUSTER__NATS_URL", NATS_URL),
        ("ATENDE__CLUSTER__NODE_ID", node),
        ("ATENDE__CLUSTER__BUCKET", bucket.0.as_str()),
        ("ATENDE__CLUSTER__HEARTBEAT_INTERVAL_SECONDS", "1"),
        ("ATENDE__CLUSTER__MEMBER_TTL_SECONDS", "3"),
    ]
}

/// The member ids `node` reports on `/ready`.
pub async fn members(node: &Node) -> Vec<String> {
    let (status, ready) = node.call(reqwest::Method::GET, "/ready", None, None).await;
    assert_eq!(status, 200, "{ready}");
    ready["members"]
        .as_array()
        .unwrap_or_else(|| panic!("members on /ready: {ready}"))
        .iter()
        .filter_map(|m| m["node_id"].as_str().map(str::to_string))
        .collect()
}

/// Waits until `node` reports exactly `expected`; how long that took.
pub async fn members_become(node: &Node, expected: &[&str], within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let now = members(node).await;
        if now == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "members are {now:?}, not {expected:?}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
