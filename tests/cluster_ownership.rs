//! One owner per tenant across real nodes (src/cluster/lease.rs, routing.rs, keeper.rs):
//! three `atende` processes on one PostgreSQL database and the machine's NATS. Events reach
//! the owner whichever node received them; an agent's caps hold across nodes; a node killed
//! under load loses nothing and its conversations resume on the others within 10 s; a paused
//! owner that lost its lease writes nothing when it wakes up.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde_json::json;

use support::cluster::{cluster_env, Bucket};
use support::node::Node;
use support::receiver::ScriptedReceiver;
use support::scripted_llm::{ScriptedLlm, Step};
use support::TestDb;

/// Short leases, so failover is quick in a test: lost 2 s after the last renewal.
const LEASE_MS: &str = "2000";

fn env<'a>(bucket: &'a Bucket, node: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut env = cluster_env(bucket, node);
    env.extend([
        ("ATENDE__CLUSTER__LEASE_MS", LEASE_MS),
        ("ATENDE__CLUSTER__LEASE_RENEW_MS", "400"),
        ("ATENDE__CLUSTER__FORWARD_TIMEOUT_MS", "2000"),
        // A send claimed by a node that dies is taken over this soon.
        ("ATENDE__CLUSTER__CLAIM_SECONDS", "3"),
        // A claim must outlast an attempt.
        ("ATENDE__WEBHOOKS__TIMEOUT_MS", "2000"),
        ("ATENDE__OUTBOUND__TIMEOUT_MS", "2000"),
        ("ATENDE__CLUSTER__POLL_INTERVAL_MS", "200"),
    ]);
    env
}

struct Cluster {
    _db: TestDb,
    nodes: Vec<Node>,
    store: atende::store::Store,
    _bucket: Bucket,
}

impl Cluster {
    async fn start(names: &[&str]) -> Cluster {
        let db = TestDb::create_postgres();
        let bucket = Bucket::new();
        let mut nodes = Vec::new();
        for name in names {
            nodes.push(Node::start(&db.url(), &env(&bucket, name)).await);
        }
        let store = atende::app::open_store(&support::test_settings(&db.url(), &[]))
            .await
            .expect("store opens");
        Cluster {
            _db: db,
            nodes,
            store,
            _bucket: bucket,
        }
    }

    /// `names` with an agent on `llm` whose replies go to `receiver`, and node 1 owning the
    /// tenant once it answered a first message from `contact`: the cluster and the
    /// integration's id.
    async fn warmed_up(
        names: &[&str],
        llm: &ScriptedLlm,
        receiver: &ScriptedReceiver,
        contact: &str,
    ) -> (Cluster, String) {
        let cluster = Cluster::start(names).await;
        let token = cluster.nodes[0].admin_token().await;
        let integration = cluster.agent(&token, llm, receiver, json!({})).await;
        cluster.nodes[0]
            .inbound(&integration, contact, "warm", "aquecimento")
            .await;
        cluster
            .answered("aquecimento", Duration::from_secs(15))
            .await;
        assert_eq!(cluster.owner().await.as_deref(), Some("n1"));
        (cluster, integration)
    }

    async fn rows<T>(&self, sql: &'static str) -> Vec<T>
    where
        T: QueryableByName<diesel::pg::Pg> + Send + 'static,
    {
        self.store
            .run(move |conn| match conn {
                atende::store::DbConn::Postgres(c) => {
                    Ok(diesel::sql_query(sql).load::<T>(&mut **c)?)
                }
                atende::store::DbConn::Sqlite(_) => Ok(Vec::new()),
            })
            .await
            .expect("query runs")
    }

    /// The node holding the (only) tenant's lease.
    async fn owner(&self) -> Option<String> {
        self.rows::<Named>("SELECT node_id AS name FROM tenant_leases WHERE expires_at > now()")
            .await
            .into_iter()
            .next()
            .map(|r| r.name)
    }

    /// `name → n` rows of a counting query.
    async fn counts(&self, sql: &'static str) -> HashMap<String, i64> {
        self.rows::<Counted>(sql)
            .await
            .into_iter()
            .map(|r| (r.name, r.n))
            .collect()
    }

    /// AI replies by content: how many times each text was stored.
    async fn ai_replies(&self) -> HashMap<String, i64> {
        self.counts(
            "SELECT content AS name, count(*) AS n FROM messages \
             WHERE sender_type = 'ai_agent' GROUP BY content",
        )
        .await
    }

    /// Customer messages by external id: how many times each was stored.
    async fn customer_messages(&self) -> HashMap<String, i64> {
        self.counts(
            "SELECT external_id AS name, count(*) AS n FROM messages \
             WHERE sender_type = 'contact' GROUP BY external_id",
        )
        .await
    }

    /// Waits until `text` is answered (the scripted model echoes it).
    async fn answered(&self, text: &str, within: Duration) -> Duration {
        let started = Instant::now();
        let reply = format!("reply to: {text}");
        loop {
            if self.ai_replies().await.contains_key(&reply) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "{text:?} not answered within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Each of `texts` was answered exactly once, and no customer message was stored twice.
    async fn answered_once<T: AsRef<str>>(&self, texts: &[T]) {
        let replies = self.ai_replies().await;
        for text in texts {
            let text = text.as_ref();
            assert_eq!(
                replies.get(&format!("reply to: {text}")),
                Some(&1),
                "{text}"
            );
        }
        let stored = self.customer_messages().await;
        assert!(stored.values().all(|n| *n == 1), "{stored:?}");
    }

    /// An agent answering with the scripted model, and a generic integration whose replies
    /// go to `receiver`: the integration's id.
    async fn agent(
        &self,
        token: &str,
        llm: &ScriptedLlm,
        receiver: &ScriptedReceiver,
        extra: serde_json::Value,
    ) -> String {
        let first = &self.nodes[0];
        let (_, integration) = first
            .agent_and_integration(token, &llm.base_url, extra)
            .await;
        let (status, body) = first
            .call(
                reqwest::Method::PATCH,
                &format!("/api/v1/integrations/{integration}"),
                Some(token),
                Some(&json!({"outbound_url": receiver.url("/out")})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        integration
    }
}

#[derive(QueryableByName)]
struct Named {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Ownership {
    #[diesel(sql_type = Text)]
    owner_type: String,
    #[diesel(sql_type = Text)]
    status: String,
}

/// `/ready` of a node.
async fn ready(node: &Node) -> serde_json::Value {
    let (status, body) = node.call(reqwest::Method::GET, "/ready", None, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[actix_web::test]
async fn messages_through_any_node_reach_the_owner_once_and_are_seen_live_on_every_node() {
    let llm = ScriptedLlm::start().await;
    let receiver = ScriptedReceiver::start(&[]).await;
    let cluster = Cluster::start(&["n1", "n2", "n3"]).await;
    let token = cluster.nodes[0].admin_token().await;
    let integration = cluster.agent(&token, &llm, &receiver, json!({})).await;
    let [n1, n2, n3] = [&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]];

    // The first message comes in through node 3, which takes the tenant.
    let accepted = n3
        .inbound(&integration, "5511900000100", "first", "primeira")
        .await;
    cluster.answered("primeira", Duration::from_secs(15)).await;
    assert_eq!(cluster.owner().await.as_deref(), Some("n3"));
    assert_eq!(ready(n3).await["tenants_held"], 1);
    assert_eq!(ready(n1).await["tenants_held"], 0);

    // A staff socket on node 1 follows the conversation and sees, live, the reply node 3
    // produces to a message that came in through node 1.
    let conversation = accepted["conversation_id"]
        .as_str()
        .expect("id")
        .to_string();
    let (mut ws, _) = support::ws::WsClient::connect_url(&n1.ws_url(&token)).await;
    ws.send(json!({"type": "subscribe", "conversation_id": conversation}))
        .await;
    ws.send(json!({"type": "ping"})).await;
    ws.next_of("pong").await;
    n1.inbound(&integration, "5511900000100", "second", "segunda")
        .await;
    let reply = loop {
        let frame = ws.next_of("message").await;
        if frame["message"]["sender_type"] == "ai_agent" {
            break frame;
        }
    };
    assert_eq!(reply["message"]["content"], "reply to: segunda", "{reply}");

    // Many customers, each writing through every node in turn: every message is stored
    // once and answered once, all by the owner.
    let nodes = [n1, n2, n3];
    let mut texts = Vec::new();
    for round in 0..3 {
        let mut sent = Vec::new();
        for customer in 0..9 {
            let node = nodes[(customer + round) % 3];
            let text = format!("cliente {customer} rodada {round}");
            let contact = format!("55119000002{customer:02}");
            let external = format!("c{customer}-r{round}");
            let integration = integration.clone();
            sent.push(async move {
                node.inbound(&integration, &contact, &external, &text).await;
                text
            });
        }
        for text in futures::future::join_all(sent).await {
            cluster.answered(&text, Duration::from_secs(20)).await;
            texts.push(text);
        }
    }
    cluster.answered_once(&texts).await;
    assert_eq!(cluster.customer_messages().await.len(), 2 + texts.len());
    assert_eq!(cluster.owner().await.as_deref(), Some("n3"));
    // Only the owner called the model.
    assert_eq!(llm.request_count(), 2 + texts.len());
}

#[actix_web::test]
async fn an_agents_max_conversations_holds_with_load_spread_over_three_nodes() {
    let llm = ScriptedLlm::start().await;
    let receiver = ScriptedReceiver::start(&[]).await;
    let cluster = Cluster::start(&["n1", "n2", "n3"]).await;
    let token = cluster.nodes[0].admin_token().await;
    let integration = cluster
        .agent(&token, &llm, &receiver, json!({"max_conversations": 2}))
        .await;
    // Six customers at once, two through each node.
    let mut sent = Vec::new();
    for customer in 0..6 {
        let node = &cluster.nodes[customer % 3];
        let integration = integration.clone();
        sent.push(async move {
            node.inbound(
                &integration,
                &format!("55119000003{customer:02}"),
                &format!("m{customer}"),
                &format!("oi {customer}"),
            )
            .await
        });
    }
    futures::future::join_all(sent).await;
    // Two conversations go to the agent and four wait for it; never more than two with it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = cluster
            .rows::<Ownership>("SELECT owner_type, status FROM conversations")
            .await;
        let with_agent = rows.iter().filter(|r| r.owner_type == "ai_agent").count();
        let queued = rows.iter().filter(|r| r.status == "queued").count();
        assert!(
            with_agent <= 2,
            "{with_agent} conversations with an agent capped at 2"
        );
        if rows.len() == 6 && with_agent == 2 && queued == 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} conversations, {with_agent} with the agent, {queued} queued",
            rows.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    llm.wait_for_requests(2, Duration::from_secs(10)).await;
    let replies: i64 = cluster.ai_replies().await.values().sum();
    assert_eq!(replies, 2);
    assert_eq!(
        llm.request_count(),
        2,
        "only the two admitted conversations were answered"
    );
}

#[actix_web::test]
async fn a_node_killed_under_load_loses_nothing_and_its_conversations_resume_within_ten_seconds() {
    let llm = ScriptedLlm::start().await;
    let receiver = ScriptedReceiver::start(&[]).await;
    let (mut cluster, integration) =
        Cluster::warmed_up(&["n1", "n2", "n3"], &llm, &receiver, "5511900000400").await;

    // Customers keep writing through nodes 2 and 3 (and the model answers slowly enough
    // that turns are in flight on node 1) while node 1 is killed.
    llm.set_default(Step::delayed(150, Step::Echo));
    let mut acked = Vec::new();
    let mut refused = Vec::new();
    let mut killed_at = None;
    let mut first_after_kill = None;
    for i in 0..60 {
        if i == 20 {
            cluster.nodes[0].signal("KILL");
            killed_at = Some(Instant::now());
        }
        let node = &cluster.nodes[1 + i % 2];
        let text = format!("pedido {i}");
        let (status, body) = node
            .try_inbound(
                &integration,
                &format!("55119000005{i:02}"),
                &format!("p{i}"),
                &text,
            )
            .await;
        if status == 202 {
            if killed_at.is_some() && first_after_kill.is_none() {
                first_after_kill = Some(text.clone());
            }
            acked.push(text);
        } else {
            refused.push((text, status, body));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed_at = killed_at.expect("killed");
    assert!(cluster.nodes[0]
        .exited_within(Duration::from_secs(5))
        .await
        .is_some());

    // The conversations resume on the survivors within 10 s of the kill.
    let first = first_after_kill.expect("a message acknowledged after the kill");
    cluster.answered(&first, Duration::from_secs(30)).await;
    let failover = killed_at.elapsed();
    for text in &acked {
        cluster.answered(text, Duration::from_secs(30)).await;
    }
    let owner = cluster.owner().await;
    assert!(matches!(owner.as_deref(), Some("n2" | "n3")), "{owner:?}");
    println!(
        "failover: first reply after SIGKILL in {failover:?}; {} acknowledged, {} refused",
        acked.len(),
        refused.len()
    );
    // Every acknowledged message is stored once and answered once.
    cluster.answered_once(&acked).await;
    // Refusals are clear errors the channel retries, and few.
    assert!(refused.len() <= 5, "{refused:?}");
    assert!(
        refused.iter().all(|(_, status, _)| *status == 503),
        "{refused:?}"
    );
    assert!(
        failover <= Duration::from_secs(10),
        "failover took {failover:?}"
    );
    // Every stored reply reaches the channel.
    let total: i64 = cluster.ai_replies().await.values().sum();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let delivered: std::collections::HashSet<String> = receiver
            .received()
            .iter()
            .filter_map(|r| r.json()["message"]["text"].as_str().map(str::to_string))
            .collect();
        if i64::try_from(delivered.len()).unwrap_or(0) >= total {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {total} replies delivered",
            delivered.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn a_paused_owner_that_lost_its_lease_writes_nothing_when_it_wakes_up() {
    let llm = ScriptedLlm::start().await;
    let receiver = ScriptedReceiver::start(&[]).await;
    let (cluster, integration) =
        Cluster::warmed_up(&["n1", "n2"], &llm, &receiver, "5511900000600").await;
    let [n1, n2] = [&cluster.nodes[0], &cluster.nodes[1]];

    // Node 1 asks the model and is paused while it waits for the answer …
    llm.answer_when("pausa", Step::delayed(1_500, Step::reply("resposta")));
    n1.inbound(&integration, "5511900000600", "pause", "pausa")
        .await;
    llm.wait_for_requests(2, Duration::from_secs(10)).await;
    n1.signal("STOP");
    // … its lease runs out, node 2 takes the tenant over and answers the same message.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cluster.ai_replies().await.contains_key("resposta") {
        assert!(Instant::now() < deadline, "node 2 never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(cluster.owner().await.as_deref(), Some("n2"));
    assert_eq!(llm.requests_containing("pausa").len(), 2);

    // Node 1 wakes up with the model's answer waiting: it finishes its turn and finds it
    // no longer owns the tenant — nothing it wrote commits.
    n1.signal("CONT");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let state = ready(n1).await;
        if state["tenants_held"] == 0 && state["turns_in_flight"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "node 1 still busy: {state}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(cluster.ai_replies().await.get("resposta"), Some(&1));
    // And it sends what comes next to the new owner (another customer: this one's history
    // holds "pausa", which the model above answers slowly).
    n1.inbound(&integration, "5511900000601", "after", "depois")
        .await;
    cluster.answered("depois", Duration::from_secs(15)).await;
    assert_eq!(cluster.ai_replies().await.get("resposta"), Some(&1));
    assert!(ready(n2).await["tenants_held"] == 1);
}

#[actix_web::test]
async fn a_node_stopped_gracefully_hands_its_tenants_over_at_once() {
    let llm = ScriptedLlm::start().await;
    let receiver = ScriptedReceiver::start(&[]).await;
    let (mut cluster, integration) =
        Cluster::warmed_up(&["n1", "n2"], &llm, &receiver, "5511900000700").await;
    cluster.nodes[0].signal("TERM");
    let status = cluster.nodes[0]
        .exited_within(Duration::from_secs(12))
        .await
        .expect("node 1 stops");
    // A clean exit: an orchestrator reads anything else as a crash.
    assert!(status.success(), "{status}");
    // The lease was let go, not left to run out: node 2 serves the tenant at once.
    let started = Instant::now();
    cluster.nodes[1]
        .inbound(&integration, "5511900000700", "two", "dois")
        .await;
    cluster.answered("dois", Duration::from_secs(15)).await;
    assert_eq!(cluster.owner().await.as_deref(), Some("n2"));
    assert!(
        started.elapsed() < Duration::from_millis(2_000),
        "took {:?}",
        started.elapsed()
    );
}

/// A staff chat with an agent (`POST /agents/{id}/chat/stream`) through `node`: status and
/// body (the SSE text, or the error body).
async fn chat(node: &Node, token: &str, agent: &str, question: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(node.url(&format!("/api/v1/agents/{agent}/chat/stream")))
        .bearer_auth(token)
        .json(&json!({"messages": [{"role": "user", "content": question}]}))
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[actix_web::test]
async fn a_chat_with_an_agent_runs_on_the_tenants_owner_and_takes_its_slot_there() {
    let llm = ScriptedLlm::start().await;
    let cluster = Cluster::start(&["n1", "n2"]).await;
    let token = cluster.nodes[0].admin_token().await;
    let [n1, n2] = [&cluster.nodes[0], &cluster.nodes[1]];
    let (agent, _) = n1
        .agent_and_integration(&token, &llm.base_url, json!({"max_conversations": 1}))
        .await;
    // Node 1 takes the tenant with a first chat; node 2's chat is answered there and its
    // bytes relayed.
    let (status, here) = chat(n1, &token, &agent, "pergunta um").await;
    assert_eq!(status, 200, "{here}");
    assert!(here.contains("event: done"), "{here}");
    assert_eq!(cluster.owner().await.as_deref(), Some("n1"));
    let (status, relayed) = chat(n2, &token, &agent, "pergunta dois").await;
    assert_eq!(status, 200, "{relayed}");
    assert!(relayed.contains("reply to: pergunta dois"), "{relayed}");
    assert!(relayed.contains("event: done"), "{relayed}");
    assert_eq!(ready(n2).await["tenants_held"], 0);
    assert_eq!(llm.request_count(), 2);

    // A slow chat through node 1 holds the agent's one slot; a chat through node 2 meets
    // the same supervisor and is refused, without reaching the model.
    llm.answer_when("demorada", Step::delayed(2_000, Step::reply("devagar")));
    let slow = {
        let (url, token, agent) = (n1.url(""), token.clone(), agent.clone());
        actix_web::rt::spawn(async move {
            let response = reqwest::Client::new()
                .post(format!("{url}/api/v1/agents/{agent}/chat/stream"))
                .bearer_auth(token)
                .json(&json!({"messages": [{"role": "user", "content": "demorada"}]}))
                .send()
                .await
                .expect("sent");
            (
                response.status().as_u16(),
                response.text().await.expect("body"),
            )
        })
    };
    llm.wait_for_requests(3, Duration::from_secs(10)).await;
    let (status, refused) = chat(n2, &token, &agent, "pergunta três").await;
    assert_eq!(status, 429, "{refused}");
    assert!(refused.contains("max_conversations"), "{refused}");
    let (status, slow) = slow.await.expect("slow chat");
    assert_eq!(status, 200, "{slow}");
    assert!(slow.contains("devagar"), "{slow}");
    assert_eq!(llm.request_count(), 3);
}

#[actix_web::test]
async fn a_rolling_restart_under_load_loses_nothing_and_answers_everything_once() {
    let llm = ScriptedLlm::start().await;
    let receiver = ScriptedReceiver::start(&[]).await;
    let (mut cluster, integration) =
        Cluster::warmed_up(&["n1", "n2"], &llm, &receiver, "5511900000900").await;
    llm.set_default(Step::delayed(100, Step::Echo));

    // One node at a time is stopped (SIGTERM) and started again under its id, while
    // customers keep writing through the other.
    let mut sent: Vec<(String, u16)> = Vec::new();
    for (restarted, writing) in [(0, 1), (1, 0)] {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let load = {
            let url = cluster.nodes[writing].url(&format!("/webhooks/generic/{integration}"));
            let stop = stop.clone();
            actix_web::rt::spawn(async move {
                let http = reqwest::Client::new();
                let mut sent = Vec::new();
                let mut k = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let text = format!("rodada {restarted} pedido {k}");
                    let body = support::webhook::generic_body(
                        &format!("55119000009{:02}", k % 7),
                        None,
                        &format!("r{restarted}-{k}"),
                        &text,
                    );
                    let (status, _) = support::webhook::try_post_signed(&http, &url, &body).await;
                    sent.push((text, status));
                    k += 1;
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                sent
            })
        };
        let name = ["n1", "n2"][restarted];
        cluster.nodes[restarted].signal("TERM");
        assert!(
            cluster.nodes[restarted]
                .exited_within(Duration::from_secs(12))
                .await
                .is_some(),
            "{name} did not stop"
        );
        cluster.nodes[restarted] =
            Node::start(&cluster._db.url(), &env(&cluster._bucket, name)).await;
        // Both nodes serve for a moment before the next one goes.
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        sent.extend(load.await.expect("load"));
    }

    let acked: Vec<&String> = sent
        .iter()
        .filter(|(_, status)| *status == 202)
        .map(|(text, _)| text)
        .collect();
    let refused: Vec<&(String, u16)> = sent.iter().filter(|(_, s)| *s != 202).collect();
    println!(
        "rolling restart: {} acknowledged, {} refused",
        acked.len(),
        refused.len()
    );
    assert!(acked.len() >= 20, "too little load: {sent:?}");
    // Refused messages were not taken (the channel sends them again): a clear 503.
    assert!(refused.iter().all(|(_, s)| *s == 503), "{refused:?}");
    for text in &acked {
        cluster.answered(text, Duration::from_secs(30)).await;
    }
    cluster.answered_once(&acked).await;
}
