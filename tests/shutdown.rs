//! Graceful shutdown of the real binary (src/shutdown.rs): on SIGTERM the node tells its
//! WebSocket and SSE clients to reconnect elsewhere, drains the AI turn in flight and exits
//! within `server.shutdown_timeout_seconds`, losing nothing it acknowledged. Before, an SSE
//! connection whose client had gone kept the node alive for ~29 s.

mod support;

use std::time::{Duration, Instant};

use atende::domain::ConversationId;
use support::node::Node;
use support::scripted_llm::{ScriptedLlm, Step};
use support::ws::{Ended, SseClient, WsClient};
use support::TestDb;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The messages of a conversation as stored, read straight from the database.
async fn stored_messages(db_url: &str, conversation: &str) -> Vec<(String, String)> {
    let store = atende::app::open_store(&support::test_settings(db_url, &[]))
        .await
        .expect("store opens");
    let id = ConversationId(conversation.to_string());
    store
        .run(move |conn| atende::store::messages::recent(conn, &id, 100))
        .await
        .expect("messages read")
        .into_iter()
        .map(|m| (m.sender_type.to_string(), m.content))
        .collect()
}

#[actix_web::test]
async fn sigterm_tells_clients_to_reconnect_drains_the_turn_and_exits_in_time() {
    let db = TestDb::create();
    let llm = ScriptedLlm::start().await;
    let mut node = Node::start(
        &db.url(),
        &[(
            "ATENDE__SERVER__SHUTDOWN_TIMEOUT_SECONDS",
            &SHUTDOWN_TIMEOUT.as_secs().to_string(),
        )],
    )
    .await;
    let admin = node.admin_token().await;
    let (_, integration) = node
        .agent_and_integration(&admin, &llm.base_url, serde_json::json!({}))
        .await;
    // The AI turn is still at the provider when the signal comes.
    llm.answer_when(
        "pergunta em voo",
        Step::delayed(1500, Step::reply("resposta depois do SIGTERM")),
    );

    // An SSE client that went away (its connection lingers in CLOSE-WAIT on the node) …
    let gone = SseClient::open_url(
        &reqwest::Client::new(),
        &node.url("/api/v1/events"),
        &admin,
        None,
    )
    .await;
    drop(gone);
    // … and one that stays, and a socket.
    let mut sse = SseClient::open_url(&node.http, &node.url("/api/v1/events"), &admin, None).await;
    let (mut ws, _) = WsClient::connect_url(&node.ws_url(&admin)).await;

    let accepted = node
        .inbound(
            &integration,
            "5511900000001",
            "in-flight-1",
            "pergunta em voo",
        )
        .await;
    let conversation = accepted["conversation_id"]
        .as_str()
        .expect("conversation id")
        .to_string();
    let asked = Instant::now();
    while llm.requests_containing("pergunta em voo").is_empty() {
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "the turn never reached the LLM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let signalled = Instant::now();
    node.signal("TERM");
    let status = node
        .exited_within(SHUTDOWN_TIMEOUT + Duration::from_secs(2))
        .await
        .expect("the node exits after SIGTERM");
    let took = signalled.elapsed();
    assert!(status.success(), "a graceful stop exits 0: {status}");
    assert!(
        took < SHUTDOWN_TIMEOUT,
        "exited in {took:?}, over server.shutdown_timeout_seconds"
    );

    // The socket was told to reconnect, then closed as a service restart.
    let reconnect = ws.next_of("reconnect").await;
    assert_eq!(reconnect["reason"], "node_stopping");
    assert!(
        reconnect["retry_after_ms"].as_u64().is_some(),
        "{reconnect}"
    );
    match ws.ended(Duration::from_secs(2)).await {
        Some(Ended::Closed(code, _)) => assert_eq!(code, CloseCode::Restart),
        other => panic!("the socket should close with 1012, not {other:?}"),
    }
    // The SSE stream said so too, and ended.
    let event = sse
        .next_of("reconnect", Duration::from_secs(2))
        .await
        .expect("`event: reconnect` before the stream ends");
    assert_eq!(event.data["reason"], "node_stopping");
    assert!(sse.ended(Duration::from_secs(2)).await, "the stream ended");

    // The acknowledged message is kept and the turn in flight was answered before the exit.
    let messages = stored_messages(&db.url(), &conversation).await;
    assert!(
        messages.contains(&("contact".into(), "pergunta em voo".into())),
        "{messages:?}"
    );
    assert!(
        messages.contains(&("ai_agent".into(), "resposta depois do SIGTERM".into())),
        "the in-flight turn was drained: {messages:?}"
    );
    assert!(
        took >= Duration::from_millis(1000),
        "the node waited for the provider's answer ({took:?})"
    );
}

#[actix_web::test]
async fn an_idle_node_with_a_vanished_sse_client_stops_at_once() {
    let db = TestDb::create();
    let mut node = Node::start(&db.url(), &[]).await;
    let admin = node.admin_token().await;
    let gone = SseClient::open_url(
        &reqwest::Client::new(),
        &node.url("/api/v1/events"),
        &admin,
        None,
    )
    .await;
    drop(gone);
    let (status, ready) = node.call(reqwest::Method::GET, "/ready", None, None).await;
    assert_eq!(status, 200, "{ready}");
    let signalled = Instant::now();
    node.signal("TERM");
    let status = node
        .exited_within(Duration::from_secs(12))
        .await
        .expect("the node exits after SIGTERM");
    assert!(status.success(), "{status}");
    // Nothing to drain: well under the default 10 s (it used to take ~29 s).
    assert!(
        signalled.elapsed() < Duration::from_secs(3),
        "took {:?}",
        signalled.elapsed()
    );
}
