//! Real-time across cluster nodes with the real binary on PostgreSQL and the machine's NATS
//! (docs/cluster.md): the AI typing, its streamed answer and a colleague's typing reach a
//! socket on another node; presence is per user over all nodes and a killed node's users age
//! out; SSE ids are the bus's, so a client resumes on another node without `resync`.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::cluster::{cluster_env, Bucket};
use support::node::Node;
use support::scripted_llm::{ScriptedLlm, Step};
use support::ws::{SseClient, SseEvent, WsClient};
use support::TestDb;

const WAIT: Duration = Duration::from_secs(15);

async fn start(db: &TestDb, bucket: &Bucket, node: &str, extra: &[(&str, &str)]) -> Node {
    let mut env = cluster_env(bucket, node);
    env.extend_from_slice(extra);
    Node::start(&db.url(), &env).await
}

/// A socket on `node` following `conversation`, in the room once this returns.
async fn follower(node: &Node, token: &str, conversation: &str) -> WsClient {
    let (mut ws, _) = WsClient::connect_url(&node.ws_url(token)).await;
    ws.send(json!({"type": "subscribe", "conversation_id": conversation}))
        .await;
    ws.barrier().await;
    assert!(
        ws.buffered("error").is_empty(),
        "{:?}",
        ws.buffered("error")
    );
    ws
}

/// Waits until the conversation holds an AI message with `content` (read through `node`).
async fn ai_reply_stored(node: &Node, token: &str, conversation: &str, content: &str) {
    let started = Instant::now();
    loop {
        let (status, page) = node
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/conversations/{conversation}/messages?limit=500"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        let stored = page["items"].as_array().is_some_and(|items| {
            items
                .iter()
                .any(|m| m["sender_type"] == "ai_agent" && m["content"] == content)
        });
        if stored {
            return;
        }
        assert!(started.elapsed() < WAIT, "no AI reply {content:?}: {page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn ai_typing_answer_deltas_and_staff_typing_reach_a_socket_on_another_node() {
    let db = TestDb::create_postgres();
    let bucket = Bucket::new();
    let live = [("ATENDE__REALTIME__STREAM_AI_REPLIES", "true")];
    let n1 = start(&db, &bucket, "n1", &live).await;
    let n2 = start(&db, &bucket, "n2", &live).await;
    let llm = ScriptedLlm::start().await;
    let token = n1.admin_token().await;
    let (agent, integration) = n1
        .agent_and_integration(&token, &llm.base_url, json!({}))
        .await;

    // A first exchange on node 1 opens the conversation.
    llm.set_default(Step::reply("Olá! Em que posso ajudar?"));
    let accepted = n1
        .inbound(&integration, "5511900000101", "rt-1", "Oi")
        .await;
    let conversation = accepted["conversation_id"]
        .as_str()
        .expect("conversation id")
        .to_string();
    ai_reply_stored(&n1, &token, &conversation, "Olá! Em que posso ajudar?").await;

    // Staff follow it on node 2; the next AI turn runs on node 1, where the message came in.
    let mut watcher = follower(&n2, &token, &conversation).await;
    let answer = "Claro! A troca pode ser feita em qualquer loja em até 30 dias.";
    llm.set_default(Step::delayed(300, Step::reply(answer)));
    n1.inbound(
        &integration,
        "5511900000101",
        "rt-2",
        "Posso trocar o produto?",
    )
    .await;

    // Until the stored reply is there and the AI stopped typing (in either order).
    let is_reply = |f: &Value| f["type"] == "message" && f["message"]["sender_type"] == "ai_agent";
    let stopped = |f: &Value| {
        f["type"] == "typing" && f["sender_type"] == "ai_agent" && f["is_typing"] == false
    };
    let mut seen: Vec<Value> = Vec::new();
    while !(seen.iter().any(is_reply) && seen.iter().any(stopped)) {
        seen.push(watcher.next().await);
    }
    let reply = seen
        .iter()
        .position(is_reply)
        .unwrap_or_else(|| panic!("no reply: {seen:?}"));
    assert_eq!(seen[reply]["message"]["content"], answer, "{seen:?}");
    let typing = seen
        .iter()
        .position(|f| f["type"] == "typing" && f["is_typing"] == true)
        .unwrap_or_else(|| panic!("no AI typing: {seen:?}"));
    assert!(typing < reply, "the typing before the reply: {seen:?}");
    assert_eq!(seen[typing]["sender_type"], "ai_agent");
    assert_eq!(seen[typing]["agent_id"], agent.as_str());
    assert_eq!(seen[typing]["conversation_id"], conversation.as_str());
    // The answer streamed piece by piece, after the typing and before the stored message.
    let pieces: Vec<&Value> = seen[typing..reply]
        .iter()
        .filter(|f| f["type"] == "ai_answer_delta")
        .collect();
    assert!(!pieces.is_empty(), "no answer deltas: {seen:?}");
    let streamed: String = pieces.iter().filter_map(|f| f["delta"].as_str()).collect();
    assert_eq!(streamed, answer);
    let indexes: Vec<u64> = pieces.iter().filter_map(|f| f["index"].as_u64()).collect();
    assert_eq!(indexes, (0..pieces.len() as u64).collect::<Vec<_>>());
    let done = seen[typing..reply]
        .iter()
        .find(|f| f["type"] == "ai_answer_done")
        .unwrap_or_else(|| panic!("no ai_answer_done before the reply: {seen:?}"));
    assert_eq!(done["status"], "ok");
    assert_eq!(done["stream_id"], pieces[0]["stream_id"]);

    // A colleague typing on node 1 shows on node 2 (frames sockets relay to their room).
    let mut colleague = follower(&n1, &token, &conversation).await;
    colleague
        .send(json!({"type": "typing", "conversation_id": conversation, "is_typing": true}))
        .await;
    let typing = watcher.next_of("typing").await;
    assert_eq!(typing["conversation_id"], conversation.as_str(), "{typing}");
    assert_eq!(typing["is_typing"], true, "{typing}");
    assert!(typing["user_id"].as_str().is_some(), "{typing}");
    assert!(typing.get("sender_type").is_none(), "{typing}");
}

/// Creates an agent user; their id and token.
async fn staff_user(node: &Node, admin: &str, name: &str) -> (String, String) {
    let email = format!("{}@cluster.test", name.to_lowercase());
    let password = "Cluster-presence-2026!";
    let id = node
        .create(
            admin,
            "/api/v1/users",
            &json!({"name": name, "email": email, "password": password, "role": "agent"}),
        )
        .await;
    let (status, body) = node
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/token",
            None,
            Some(&json!({"email": email, "password": password})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    (id, body["token"].as_str().expect("token").to_string())
}

/// A staff socket watching the team: every `presence` frame it got, in order.
struct Board {
    ws: WsClient,
    log: Vec<(String, String)>,
}

impl Board {
    /// Reads presence frames until `user` is `status`.
    async fn until(&mut self, user: &str, status: &str) {
        let started = Instant::now();
        loop {
            let frame = self.ws.next_of("presence").await;
            let seen = (
                frame["user_id"].as_str().unwrap_or_default().to_string(),
                frame["status"].as_str().unwrap_or_default().to_string(),
            );
            self.log.push(seen.clone());
            if seen.0 == user && seen.1 == status {
                return;
            }
            assert!(
                started.elapsed() < WAIT,
                "{user} not {status}: {:?}",
                self.log
            );
        }
    }

    /// The statuses `user` was shown in, in order.
    fn of(&self, user: &str) -> Vec<&str> {
        self.log
            .iter()
            .filter(|(u, _)| u == user)
            .map(|(_, s)| s.as_str())
            .collect()
    }
}

/// What `GET /api/v1/presence` on `node` says of `user`.
async fn stored_presence(node: &Node, token: &str, user: &str) -> String {
    let (status, body) = node
        .call(reqwest::Method::GET, "/api/v1/presence", Some(token), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["people"]
        .as_array()
        .and_then(|people| people.iter().find(|p| p["id"] == user))
        .and_then(|p| p["presence"].as_str())
        .unwrap_or_else(|| panic!("{user} not in {body}"))
        .to_string()
}

#[actix_web::test]
async fn presence_is_per_user_over_all_nodes_and_a_dead_nodes_users_age_out() {
    let db = TestDb::create_postgres();
    let bucket = Bucket::new();
    let n1 = start(&db, &bucket, "n1", &[]).await;
    let mut n2 = start(&db, &bucket, "n2", &[]).await;
    let admin = n1.admin_token().await;
    let (ana, ana_token) = staff_user(&n1, &admin, "Ana").await;
    let (bia, bia_token) = staff_user(&n1, &admin, "Bia").await;
    let (carla, carla_token) = staff_user(&n1, &admin, "Carla").await;
    // A supervisor's socket on node 1 watches the team.
    let (ws, _) = WsClient::connect_url(&n1.ws_url(&admin)).await;
    let mut board = Board {
        ws,
        log: Vec::new(),
    };

    let (ana_on_1, _) = WsClient::connect_url(&n1.ws_url(&ana_token)).await;
    board.until(&ana, "online").await;
    let (_ana_on_2, _) = WsClient::connect_url(&n2.ws_url(&ana_token)).await;
    // Bia's arrival on node 2 is heard on node 1 after Ana's there (one record per node).
    let (_bia_on_2, _) = WsClient::connect_url(&n2.ws_url(&bia_token)).await;
    board.until(&bia, "online").await;
    assert_eq!(stored_presence(&n2, &admin, &ana).await, "online");

    // Ana leaves node 1 but is still on node 2: she stays online. Carla's arrival on node 1,
    // handled after Ana's goodbye there, is the signal to count Ana's frames.
    ana_on_1.close().await;
    let (_carla_on_1, _) = WsClient::connect_url(&n1.ws_url(&carla_token)).await;
    board.until(&carla, "online").await;
    assert_eq!(board.of(&ana), ["online"], "online once: {:?}", board.log);
    assert_eq!(stored_presence(&n1, &admin, &ana).await, "online");
    assert_eq!(stored_presence(&n2, &admin, &ana).await, "online");

    // Node 2 dies without a goodbye: Ana and Bia age out with the bucket's TTL (3 s), and
    // the store (which the distributor reads) follows; Carla on node 1 stays.
    n2.signal("KILL");
    assert!(n2.exited_within(Duration::from_secs(5)).await.is_some());
    let killed = Instant::now();
    board.until(&ana, "offline").await;
    if board.of(&bia).last() != Some(&"offline") {
        board.until(&bia, "offline").await;
    }
    let after = killed.elapsed();
    assert_eq!(board.of(&ana), ["online", "offline"], "{:?}", board.log);
    assert_eq!(board.of(&carla), ["online"], "{:?}", board.log);
    assert!(
        after >= Duration::from_secs(1),
        "a killed node cannot say goodbye: gone after {after:?}"
    );
    // The store follows (one write at a time: the two may land in separate writes).
    for user in [&ana, &bia] {
        let started = Instant::now();
        while stored_presence(&n1, &admin, user).await != "offline" {
            assert!(started.elapsed() < WAIT, "{user} still stored online");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(stored_presence(&n1, &admin, &carla).await, "online");
}

/// The generic integration of a fresh tenant admin (no AI agent: messages are only stored).
async fn plain_integration(node: &Node, token: &str) -> String {
    node.create(
        token,
        "/api/v1/integrations",
        &json!({"kind": "generic", "name": "web", "secret": support::engine::SECRET}),
    )
    .await
}

async fn sse(node: &Node, token: &str, last_event_id: Option<&str>) -> SseClient {
    SseClient::open_url(
        &node.http,
        &node.url("/api/v1/events"),
        token,
        last_event_id,
    )
    .await
}

/// Posts a customer message through `node`; its message id.
async fn customer_says(node: &Node, integration: &str, external_id: &str, text: &str) -> String {
    let accepted = node
        .inbound(integration, "5511900000201", external_id, text)
        .await;
    accepted["message_id"]
        .as_str()
        .unwrap_or_else(|| panic!("message id: {accepted}"))
        .to_string()
}

/// The next `message_received` event of `message`, and every event read on the way.
async fn message_received(client: &mut SseClient, message: &str) -> (SseEvent, Vec<SseEvent>) {
    let deadline = Instant::now() + WAIT;
    let mut read = Vec::new();
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("no message_received {message}; read {read:?}"));
        let event = client
            .next(left)
            .await
            .unwrap_or_else(|| panic!("no message_received {message}; read {read:?}"));
        if event.event == "message_received" && event.data["data"]["message_id"] == message {
            return (event, read);
        }
        read.push(event);
    }
}

/// An SSE id of the cluster: a plain number.
fn id_of(event: &SseEvent) -> u64 {
    let id = event.id.as_deref().unwrap_or_default();
    id.parse()
        .unwrap_or_else(|_| panic!("a cluster's SSE id is a number: {event:?}"))
}

#[actix_web::test]
async fn sse_resumes_on_another_node_with_the_events_it_missed() {
    let db = TestDb::create_postgres();
    let bucket = Bucket::new();
    let n1 = start(&db, &bucket, "n1", &[]).await;
    let n2 = start(&db, &bucket, "n2", &[]).await;
    let token = n1.admin_token().await;
    let integration = plain_integration(&n1, &token).await;

    // An event produced on node 2 reaches node 1's stream live.
    let mut first = sse(&n1, &token, None).await;
    let one = customer_says(&n2, &integration, "sse-1", "um").await;
    let (seen, _) = message_received(&mut first, &one).await;
    let last = id_of(&seen);
    drop(first);

    // Missed while away, produced on both nodes; a fresh stream shows they are on the bus.
    let mut witness = sse(&n1, &token, None).await;
    let two = customer_says(&n1, &integration, "sse-2", "dois").await;
    let three = customer_says(&n2, &integration, "sse-3", "três").await;
    message_received(&mut witness, &three).await;

    // Resumed on the other node: the missed events, in order, nothing twice, no resync.
    let mut resumed = sse(&n2, &token, Some(&last.to_string())).await;
    let (second, before) = message_received(&mut resumed, &two).await;
    let (third, between) = message_received(&mut resumed, &three).await;
    let read: Vec<&SseEvent> = before.iter().chain(&between).collect();
    assert!(
        read.iter().all(|e| e.event != "resync"),
        "resumed inside the window: {read:?}"
    );
    let mut ids: Vec<u64> = read.iter().map(|e| id_of(e)).collect();
    ids.extend([id_of(&second), id_of(&third)]);
    assert!(ids.iter().all(|id| *id > last), "{ids:?} after {last}");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order: {ids:?}");
    // The stream keeps going live after the backlog.
    let four = customer_says(&n1, &integration, "sse-4", "quatro").await;
    let (fourth, _) = message_received(&mut resumed, &four).await;
    assert!(id_of(&fourth) > id_of(&third));
}

#[actix_web::test]
async fn sse_resyncs_only_for_ids_older_than_the_bus_window() {
    let db = TestDb::create_postgres();
    let bucket = Bucket::new();
    // A window of two events.
    let window = [("ATENDE__CLUSTER__SSE_RETENTION_EVENTS", "2")];
    let n1 = start(&db, &bucket, "n1", &window).await;
    let n2 = start(&db, &bucket, "n2", &window).await;
    let token = n1.admin_token().await;
    let integration = plain_integration(&n1, &token).await;

    let mut witness = sse(&n1, &token, None).await;
    let one = customer_says(&n1, &integration, "w-1", "um").await;
    let (oldest, _) = message_received(&mut witness, &one).await;
    let mut latest = String::new();
    for (n, text) in [(2, "dois"), (3, "três"), (4, "quatro")] {
        latest = customer_says(&n1, &integration, &format!("w-{n}"), text).await;
    }
    let (newest, _) = message_received(&mut witness, &latest).await;

    // The oldest id fell out of the window: resync first.
    let mut stale = sse(&n2, &token, Some(&id_of(&oldest).to_string())).await;
    let event = stale.next(WAIT).await.expect("an event");
    assert_eq!(event.event, "resync", "{event:?}");
    // An id from a single node's run, or one the bus never issued: resync too.
    for foreign in ["deadbeef-3", "999999999"] {
        let mut other = sse(&n2, &token, Some(foreign)).await;
        let event = other.next(WAIT).await.expect("an event");
        assert_eq!(event.event, "resync", "{foreign}: {event:?}");
    }
    // One inside the window resumes without.
    let inside = (id_of(&newest) - 1).to_string();
    let mut fresh = sse(&n2, &token, Some(&inside)).await;
    let event = fresh.next(WAIT).await.expect("an event");
    assert_eq!(event.event, "message_received", "{event:?}");
    assert_eq!(id_of(&event), id_of(&newest));
}
