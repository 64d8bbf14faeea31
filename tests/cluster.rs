//! Cluster mode with the real binary (src/cluster, docs/cluster.md): SQLite refuses it at
//! start-up; on PostgreSQL nodes register in a JetStream KV bucket on the machine's NATS
//! (127.0.0.1:4222, started by .ci/run), see each other, and leave on SIGTERM or age out of
//! the bucket after SIGKILL.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::cluster::{cluster_env, members, members_become, Bucket, NATS_URL};
use support::node::{command, Node};
use support::TestDb;

#[test]
fn sqlite_refuses_cluster_mode_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("atende.db").display());
    let mut child = command(&url, &[("ATENDE__CLUSTER__NATS_URL", NATS_URL)])
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a SQLite node started in cluster mode");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cluster.nats_url") && stderr.contains("needs PostgreSQL"),
        "{stderr}"
    );
}

#[actix_web::test]
async fn nodes_join_see_each_other_and_leave_or_age_out() {
    let db = TestDb::create_postgres();
    let bucket = Bucket::new();
    let n1 = Node::start(&db.url(), &cluster_env(&bucket, "n1")).await;
    let mut n2 = Node::start(&db.url(), &cluster_env(&bucket, "n2")).await;
    // Both registered before they served.
    assert_eq!(members(&n1).await, ["n1", "n2"]);
    assert_eq!(members(&n2).await, ["n1", "n2"]);
    let (_, ready) = n2.call(reqwest::Method::GET, "/ready", None, None).await;
    assert_eq!(ready["node_id"], "n2");
    let address = ready["members"][1]["address"].as_str().unwrap_or_default();
    assert!(address.ends_with(&format!(":{}", n2.port)), "{ready}");

    // A graceful stop leaves at once.
    n2.signal("TERM");
    assert!(n2.exited_within(Duration::from_secs(12)).await.is_some());
    members_become(&n1, &["n1"], Duration::from_secs(2)).await;

    // A killed node stops heart-beating and ages out with the bucket's TTL (3 s).
    let mut n3 = Node::start(&db.url(), &cluster_env(&bucket, "n3")).await;
    assert_eq!(members(&n1).await, ["n1", "n3"]);
    n3.signal("KILL");
    assert!(n3.exited_within(Duration::from_secs(5)).await.is_some());
    let gone_after = members_become(&n1, &["n1"], Duration::from_secs(8)).await;
    assert!(
        gone_after >= Duration::from_secs(1),
        "a killed node cannot leave by itself: gone after {gone_after:?}"
    );
}

#[actix_web::test]
async fn a_node_that_cannot_reach_nats_refuses_to_start() {
    let db = TestDb::create_postgres();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let out = command(&db.url(), &[("ATENDE__CLUSTER__NATS_URL", url.as_str())])
        .arg("serve")
        .stdout(Stdio::null())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach NATS"), "{stderr}");
}

/// The ids of the documents a `query` finds on `node`.
async fn found_on(node: &Node, token: &str, query: &str) -> Vec<String> {
    let (status, found) = node
        .call(
            reqwest::Method::POST,
            "/api/v1/knowledge/search",
            Some(token),
            Some(&serde_json::json!({"query": query})),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    found["results"]
        .as_array()
        .unwrap_or_else(|| panic!("results: {found}"))
        .iter()
        .filter_map(|r| r["document_id"].as_str().map(str::to_string))
        .collect()
}

/// Waits until `query` on `node` finds exactly `expected`.
async fn finds_within(node: &Node, token: &str, query: &str, expected: &[&str], within: Duration) {
    let started = Instant::now();
    loop {
        let now = found_on(node, token, query).await;
        if now == expected {
            return;
        }
        assert!(
            started.elapsed() < within,
            "{query:?} finds {now:?} on {}, not {expected:?}, after {within:?}",
            node.port
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn knowledge_changes_made_on_one_node_are_searchable_on_the_others() {
    let db = TestDb::create_postgres();
    let bucket = Bucket::new();
    let n1 = Node::start(&db.url(), &cluster_env(&bucket, "n1")).await;
    let n2 = Node::start(&db.url(), &cluster_env(&bucket, "n2")).await;
    let token = n1.admin_token().await;
    // Both indexes were built at start, before the document existed.
    let uploaded = n1
        .create(
            &token,
            "/api/v1/knowledge/documents",
            &serde_json::json!({"title": "Frete", "content": "O frete é grátis acima de 300 reais."}),
        )
        .await;
    assert_eq!(
        found_on(&n1, &token, "frete grátis").await,
        [uploaded.as_str()]
    );
    finds_within(
        &n2,
        &token,
        "frete grátis",
        &[uploaded.as_str()],
        Duration::from_secs(5),
    )
    .await;

    // A replacement (same title) and a deletion reach the peer too.
    let replaced = n1
        .create(
            &token,
            "/api/v1/knowledge/documents",
            &serde_json::json!({"title": "Frete", "content": "O frete é grátis acima de 500 reais."}),
        )
        .await;
    finds_within(
        &n2,
        &token,
        "frete grátis",
        &[replaced.as_str()],
        Duration::from_secs(5),
    )
    .await;
    let (status, body) = n1
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/knowledge/documents/{replaced}"),
            Some(&token),
            None,
        )
        .await;
    assert!(status.is_success(), "{status}: {body}");
    finds_within(&n2, &token, "frete grátis", &[], Duration::from_secs(5)).await;
}

#[actix_web::test]
async fn a_socket_on_one_node_sees_messages_and_events_produced_on_another() {
    let db = TestDb::create_postgres();
    let bucket = Bucket::new();
    let n1 = Node::start(&db.url(), &cluster_env(&bucket, "n1")).await;
    let n2 = Node::start(&db.url(), &cluster_env(&bucket, "n2")).await;
    let token = n1.admin_token().await;
    let integration = n1
        .create(
            &token,
            "/api/v1/integrations",
            &serde_json::json!({"kind": "generic", "name": "web", "secret": support::engine::SECRET}),
        )
        .await;
    let (mut ws, _) = support::ws::WsClient::connect_url(&n2.ws_url(&token)).await;

    // A customer writes to node 1; a staff socket on node 2 follows the conversation …
    let accepted = n1
        .inbound(&integration, "5511900000009", "x-1", "primeira mensagem")
        .await;
    let conversation = accepted["conversation_id"]
        .as_str()
        .expect("conversation id")
        .to_string();
    ws.send(serde_json::json!({"type": "subscribe", "conversation_id": conversation}))
        .await;
    // Frames are handled in order: once the pong is back, the socket is in the room.
    ws.send(serde_json::json!({"type": "ping"})).await;
    ws.next_of("pong").await;

    // … and sees, live, the next message node 1 stores and a change staff make there.
    n1.inbound(&integration, "5511900000009", "x-2", "segunda mensagem")
        .await;
    let live = ws.next_message_after(1).await;
    assert_eq!(live["message"]["content"], "segunda mensagem", "{live}");
    assert_eq!(live["message"]["conversation_id"], conversation.as_str());
    let (status, changed) = n1
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/conversations/{conversation}"),
            Some(&token),
            Some(&serde_json::json!({"tags": ["vip"]})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    let updated = ws.next_of("conversation_updated").await;
    assert_eq!(
        updated["conversation_id"],
        conversation.as_str(),
        "{updated}"
    );
}
