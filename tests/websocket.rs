//! `/ws` end to end with a real WebSocket client over loopback: fan-out to subscribers,
//! acks, typing, read receipts, presence counted over several sockets, sync after a
//! reconnect, tenant isolation, bad frames, flooding, expired tokens, slow consumers, and
//! presence feeding the distributor.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::engine::{create, eventually, SECRET};
use support::ws::{Ended, WsClient};
use support::{Session, TestApp};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);

/// A web chat customer: (token, contact_id, conversation_id).
async fn customer(app: &TestApp, integration: &str) -> (String, String, String) {
    let (status, body) = app
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/webchat/{integration}/session"),
            None,
            Some(&json!({"name": "Maria"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let field = |k: &str| body[k].as_str().expect(k).to_string();
    (
        field("token"),
        field("contact_id"),
        field("conversation_id"),
    )
}

async fn subscribe(client: &mut WsClient, conversation: &str) {
    client
        .send(json!({"type": "subscribe", "conversation_id": conversation}))
        .await;
    client.barrier().await;
    assert!(
        client.buffered("error").is_empty(),
        "{:?}",
        client.buffered("error")
    );
}

async fn signed_webhook(
    app: &TestApp,
    integration: &str,
    contact: &str,
    id: &str,
    text: &str,
) -> Value {
    let body = support::webhook::generic_body(contact, Some("Cliente"), id, text);
    app.signed_webhook(integration, &body).await
}

async fn generic(app: &TestApp, admin: &Session) -> String {
    create(
        app,
        admin,
        "/api/v1/integrations",
        &json!({"kind": "generic", "name": "gw", "secret": SECRET}),
    )
    .await
}

/// The next presence frame about `user`, skipping others.
/// Waits until the distributor holds `count` conversations of `tenant` in its queue.
async fn queued_at_distributor(app: &TestApp, tenant: &atende::domain::TenantId, count: usize) {
    let distributor = app.engine.parts.distributor.clone();
    eventually(WAIT, &mut || {
        let distributor = distributor.clone();
        let tenant = tenant.clone();
        async move {
            let queued = distributor
                .send(atende::engine::distributor::QueueLength(tenant))
                .await
                .ok()?;
            (queued == count).then_some(())
        }
    })
    .await
    .expect("the distributor queued the conversation");
}

async fn presence_of(ws: &mut WsClient, user: &str) -> Value {
    loop {
        let frame = ws.next_of("presence").await;
        if frame["user_id"] == user {
            return frame;
        }
    }
}

async fn message_status(app: &TestApp, admin: &Session, conversation: &str, id: &str) -> String {
    let (_, page) = app
        .get(
            &format!("/api/v1/conversations/{conversation}/messages?limit=500"),
            &admin.token,
        )
        .await;
    page["items"]
        .as_array()
        .and_then(|items| items.iter().find(|m| m["id"] == id))
        .and_then(|m| m["status"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[actix_web::test]
async fn two_agents_and_a_customer_talk_live() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let integration = app.webchat_integration(&admin).await;
    let ana = app.staff(&admin, "agent", "ana@tenant-a.test").await;
    let bia = app.staff(&admin, "agent", "bia@tenant-a.test").await;
    let (customer_token, contact_id, conversation) = customer(&app, &integration).await;

    let (mut ana_ws, connected) = WsClient::connect(&app, &ana.token).await;
    assert_eq!(connected["user_id"], ana.user_id.as_str());
    assert_eq!(connected["kind"], "staff");
    let (mut bia_ws, _) = WsClient::connect(&app, &bia.token).await;
    let (bia_tab, _) = WsClient::connect(&app, &bia.token).await;
    let (mut cust_ws, connected) = WsClient::connect(&app, &customer_token).await;
    assert_eq!(connected["kind"], "contact");
    assert_eq!(connected["user_id"], contact_id.as_str());
    assert_eq!(connected["conversation_id"], conversation.as_str());
    subscribe(&mut ana_ws, &conversation).await;
    subscribe(&mut bia_ws, &conversation).await;

    // The customer's message reaches both subscribed agents; the customer gets the ack.
    cust_ws
        .send(json!({"type": "message", "conversation_id": conversation, "content": "Olá, preciso de ajuda", "client_msg_id": "c-1"}))
        .await;
    let ack = cust_ws.next_of("message_sent").await;
    assert_eq!(ack["client_msg_id"], "c-1");
    assert_eq!(ack["message"]["sender_type"], "contact");
    assert_eq!(ack["message"]["conversation_id"], conversation.as_str());
    let customer_message = ack["message"]["id"].as_str().expect("id").to_string();
    for ws in [&mut ana_ws, &mut bia_ws] {
        let frame = ws.next_of("message").await;
        assert_eq!(frame["message"]["id"], customer_message.as_str());
        assert_eq!(frame["message"]["content"], "Olá, preciso de ajuda");
        assert_eq!(frame["message"]["seq"], 1);
    }
    // Delivered to staff sockets: sent → delivered, stored.
    eventually(WAIT, &mut || {
        let (app, admin, conversation, id) = (&app, &admin, &conversation, &customer_message);
        async move {
            (message_status(app, admin, conversation, id).await == "delivered").then_some(())
        }
    })
    .await
    .expect("customer message marked delivered");

    // Ana replies: the customer gets it, Ana gets the ack with her client_msg_id.
    ana_ws
        .send(json!({"type": "message", "conversation_id": conversation, "content": "Oi Maria, sou a Ana!", "client_msg_id": "a-1"}))
        .await;
    let ack = ana_ws.next_of("message_sent").await;
    assert_eq!(ack["client_msg_id"], "a-1");
    assert_eq!(ack["message"]["sender_type"], "user");
    assert_eq!(ack["message"]["sender_id"], ana.user_id.as_str());
    let reply_id = ack["message"]["id"].as_str().expect("id").to_string();
    // The customer's socket also got its own message first: the room's record.
    let own = cust_ws.next_of("message").await;
    assert_eq!(own["message"]["id"], customer_message.as_str());
    let frame = cust_ws.next_of("message").await;
    assert_eq!(frame["message"]["id"], reply_id.as_str());
    assert_eq!(frame["message"]["content"], "Oi Maria, sou a Ana!");
    assert_eq!(
        bia_ws.next_of("message").await["message"]["id"],
        reply_id.as_str()
    );

    // Typing flows to the others in the room, not back to the typist.
    bia_ws
        .send(json!({"type": "typing", "conversation_id": conversation, "is_typing": true}))
        .await;
    let typing = cust_ws.next_of("typing").await;
    assert_eq!(typing["user_id"], bia.user_id.as_str());
    assert_eq!(typing["is_typing"], true);
    assert_eq!(
        ana_ws.next_of("typing").await["conversation_id"],
        conversation.as_str()
    );
    bia_ws.expect_none("typing").await;

    // The customer reads Ana's reply: a read receipt for the staff, status read in the store.
    cust_ws
        .send(json!({"type": "read", "conversation_id": conversation, "message_id": reply_id}))
        .await;
    let read = ana_ws.next_of("read").await;
    assert_eq!(read["message_id"], reply_id.as_str());
    assert_eq!(read["user_id"], contact_id.as_str());
    assert_eq!(read["conversation_id"], conversation.as_str());
    eventually(WAIT, &mut || {
        let (app, admin, conversation, id) = (&app, &admin, &conversation, &reply_id);
        async move { (message_status(app, admin, conversation, id).await == "read").then_some(()) }
    })
    .await
    .expect("reply marked read");

    // Presence: Bia has two sockets; closing one changes nothing, closing the last does.
    assert_eq!(
        presence_of(&mut ana_ws, &ana.user_id).await["status"],
        "online"
    );
    assert_eq!(
        presence_of(&mut ana_ws, &bia.user_id).await["status"],
        "online"
    );
    bia_tab.close().await;
    bia_ws.close().await;
    // Closing the first tab announced nothing: the only presence change is the last one.
    let offline = presence_of(&mut ana_ws, &bia.user_id).await;
    assert_eq!(offline["status"], "offline");
    ana_ws.barrier().await;
    let later: Vec<Value> = ana_ws
        .buffered("presence")
        .into_iter()
        .filter(|p| p["user_id"] == bia.user_id.as_str())
        .collect();
    assert!(later.is_empty(), "one presence change only: {later:?}");
    let (_, user) = app
        .get(&format!("/api/v1/users/{}", bia.user_id), &admin.token)
        .await;
    let stored = app
        .store
        .run({
            let id = bia.user_id.clone();
            move |conn| {
                use atende::store::schema::users;
                use diesel::prelude::*;
                atende::db_run!(conn, |c| users::table
                    .filter(users::id.eq(&id))
                    .select(users::presence)
                    .first::<String>(c))
                .map_err(Into::into)
            }
        })
        .await
        .expect("presence column");
    assert_eq!(stored, "offline", "{user}");
}

#[actix_web::test]
async fn reconnect_and_sync_returns_exactly_the_missed_messages() {
    let app = TestApp::spawn_with(&[("realtime.sync_max_messages", "20")]).await;
    let admin = app.admin().await;
    let integration = generic(&app, &admin).await;
    let agent = app.staff(&admin, "agent", "ana@tenant-a.test").await;
    let first = signed_webhook(&app, &integration, "c1", "m-0", "mensagem 0").await;
    let conversation = first["conversation_id"].as_str().expect("id").to_string();
    let last_seen = first["message_id"].as_str().expect("id").to_string();

    let (mut ws, _) = WsClient::connect(&app, &agent.token).await;
    subscribe(&mut ws, &conversation).await;
    ws.close().await;

    for i in 1..=50 {
        signed_webhook(
            &app,
            &integration,
            "c1",
            &format!("m-{i}"),
            &format!("mensagem {i}"),
        )
        .await;
    }

    let (mut ws, _) = WsClient::connect(&app, &agent.token).await;
    let mut got: Vec<Value> = Vec::new();
    ws.send(json!({"type": "sync", "last_message_id": last_seen}))
        .await;
    loop {
        let page = ws.next_of("sync_data").await;
        assert_eq!(page["conversation_id"], conversation.as_str());
        let messages = page["messages"].as_array().expect("messages").clone();
        assert!(messages.len() <= 20);
        got.extend(messages);
        if page["has_more"] != true {
            break;
        }
        let after = got.last().and_then(|m| m["seq"].as_i64()).expect("seq");
        ws.send(json!({"type": "sync", "conversation_id": conversation, "after_seq": after}))
            .await;
    }
    let seqs: Vec<i64> = got.iter().filter_map(|m| m["seq"].as_i64()).collect();
    assert_eq!(
        seqs,
        (2..=51).collect::<Vec<i64>>(),
        "exactly the 50, in order"
    );
    let contents: Vec<&str> = got.iter().filter_map(|m| m["content"].as_str()).collect();
    assert_eq!(contents[0], "mensagem 1");
    assert_eq!(contents[49], "mensagem 50");

    // After sync the socket follows the conversation live.
    signed_webhook(&app, &integration, "c1", "m-51", "ao vivo").await;
    let live = ws.next_of("message").await;
    assert_eq!(live["message"]["seq"], 52);

    // Other ways to ask, and wrong ones.
    ws.send(json!({"type": "sync", "conversation_id": conversation, "after_seq": 50}))
        .await;
    let tail = ws.next_of("sync_data").await;
    assert_eq!(tail["messages"].as_array().map(Vec::len), Some(2));
    ws.send(json!({"type": "sync"})).await;
    assert_eq!(ws.error().await["code"], "VALIDATION_ERROR");
    ws.send(json!({"type": "sync", "conversation_id": conversation, "after_seq": -1}))
        .await;
    assert_eq!(ws.error().await["code"], "VALIDATION_ERROR");
    ws.send(json!({"type": "sync", "last_message_id": "01930000-0000-7000-8000-000000000000"}))
        .await;
    assert_eq!(ws.error().await["code"], "NOT_FOUND");
}

#[actix_web::test]
async fn tenants_never_see_each_other() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let integration = generic(&app, &admin).await;
    let other = app.other_tenant("tenant-b").await;
    let accepted = signed_webhook(&app, &integration, "c1", "m-1", "segredo do tenant A").await;
    let conversation = accepted["conversation_id"]
        .as_str()
        .expect("id")
        .to_string();
    let message = accepted["message_id"].as_str().expect("id").to_string();

    let (mut a_ws, _) = WsClient::connect(&app, &admin.token).await;
    subscribe(&mut a_ws, &conversation).await;
    let (mut b_ws, _) = WsClient::connect(&app, &other.token).await;

    for frame in [
        json!({"type": "subscribe", "conversation_id": conversation}),
        json!({"type": "sync", "conversation_id": conversation}),
        json!({"type": "sync", "last_message_id": message}),
        json!({"type": "typing", "conversation_id": conversation, "is_typing": true}),
        json!({"type": "read", "conversation_id": conversation, "message_id": message}),
        json!({"type": "message", "conversation_id": conversation, "content": "invasão"}),
        json!({"type": "request_summary", "conversation_id": conversation}),
        json!({"type": "set_auto_create", "conversation_id": conversation, "enabled": true}),
        json!({"type": "schedule_confirm", "conversation_id": conversation, "date": "2030-01-01", "time": "10:00", "email": "x@y.com"}),
    ] {
        b_ws.send(frame.clone()).await;
        let error = b_ws.error().await;
        assert_eq!(error["code"], "NOT_FOUND", "{frame} → {error}");
    }
    a_ws.expect_none("typing").await;

    signed_webhook(&app, &integration, "c1", "m-2", "outra mensagem de A").await;
    assert_eq!(
        a_ws.next_message_after(1).await["message"]["content"],
        "outra mensagem de A"
    );
    // Tenant A's events and presence never reach tenant B's socket.
    let (a_tab, _) = WsClient::connect(&app, &admin.token).await;
    a_tab.close().await;
    b_ws.barrier().await;
    for kind in ["message", "typing", "conversation_assigned"] {
        assert!(
            b_ws.buffered(kind).is_empty(),
            "tenant B saw a {kind} frame"
        );
    }
    for presence in b_ws.buffered("presence") {
        assert_eq!(
            presence["user_id"],
            other.user_id.as_str(),
            "only its own tenant's presence"
        );
    }
    b_ws.expect_none("message").await;

    // Within a tenant, an agent may not follow a colleague's conversation.
    let ana = app.staff(&admin, "agent", "ana@tenant-a.test").await;
    let bia = app.staff(&admin, "agent", "bia@tenant-a.test").await;
    let (status, _) = app
        .post(
            &format!("/api/v1/conversations/{conversation}/assign"),
            &admin.token,
            &json!({"user_id": ana.user_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (mut bia_ws, _) = WsClient::connect(&app, &bia.token).await;
    bia_ws
        .send(json!({"type": "subscribe", "conversation_id": conversation}))
        .await;
    assert_eq!(bia_ws.error().await["code"], "FORBIDDEN");
    let (mut ana_ws, _) = WsClient::connect(&app, &ana.token).await;
    subscribe(&mut ana_ws, &conversation).await;
}

#[actix_web::test]
async fn reassignment_takes_a_conversation_away_from_other_agents() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let integration = generic(&app, &admin).await;
    let ana = app.staff(&admin, "agent", "ana@tenant-a.test").await;
    let bia = app.staff(&admin, "agent", "bia@tenant-a.test").await;
    let accepted = signed_webhook(&app, &integration, "c1", "m-1", "oi").await;
    let conversation = accepted["conversation_id"]
        .as_str()
        .expect("id")
        .to_string();
    let (mut bia_ws, _) = WsClient::connect(&app, &bia.token).await;
    subscribe(&mut bia_ws, &conversation).await;
    let (mut ana_ws, _) = WsClient::connect(&app, &ana.token).await;

    app.post(
        &format!("/api/v1/conversations/{conversation}/assign"),
        &admin.token,
        &json!({"user_id": ana.user_id}),
    )
    .await;
    // Ana learns the conversation is hers; Bia learns it left her room.
    let assigned = ana_ws.next_of("conversation_assigned").await;
    assert_eq!(assigned["conversation_id"], conversation.as_str());
    assert_eq!(assigned["owner"]["type"], "user");
    assert_eq!(assigned["owner"]["id"], ana.user_id.as_str());
    bia_ws.next_of("conversation_assigned").await;
    // Ana opens her conversation: the message after the assignment reaching her is the
    // signal that it was fanned out.
    subscribe(&mut ana_ws, &conversation).await;
    signed_webhook(&app, &integration, "c1", "m-2", "depois da atribuição").await;
    while ana_ws.next_of("message").await["message"]["content"] != "depois da atribuição" {}
    // "oi" may still be announced live (it was written just before Bia subscribed); what
    // came after the assignment must not reach her.
    bia_ws.barrier().await;
    for frame in bia_ws.buffered("message") {
        assert_eq!(frame["message"]["content"], "oi", "{frame}");
    }

    // …and sees it closed.
    app.post(
        &format!("/api/v1/conversations/{conversation}/close"),
        &admin.token,
        &json!({"reason": "resolvido"}),
    )
    .await;
    let closed = ana_ws.next_of("conversation_closed").await;
    assert_eq!(closed["reason"], "resolvido");
}

#[actix_web::test]
async fn bad_frames_get_errors_and_the_socket_stays_open() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (mut ws, _) = WsClient::connect(&app, &admin.token).await;
    let (mut neighbour, _) = WsClient::connect(&app, &admin.token).await;

    let cases: Vec<(String, &str)> = vec![
        ("not json at all".into(), "VALIDATION_ERROR"),
        ("[1, 2, 3]".into(), "VALIDATION_ERROR"),
        (r#"{"type": "shout"}"#.into(), "VALIDATION_ERROR"),
        (
            r#"{"type": "message", "conversation_id": "x"}"#.into(),
            "VALIDATION_ERROR",
        ),
        (
            r#"{"type": "typing", "conversation_id": "x", "is_typing": "yes"}"#.into(),
            "VALIDATION_ERROR",
        ),
        (
            r#"{"type": "subscribe", "conversation_id": "not-an-id"}"#.into(),
            "NOT_FOUND",
        ),
        (
            r#"{"type": "subscribe", "conversation_id": "01930000-0000-7000-8000-000000000000"}"#
                .into(),
            "NOT_FOUND",
        ),
        (
            r#"{"type": "message", "conversation_id": "x", "content": "   "}"#.into(),
            "VALIDATION_ERROR",
        ),
        (
            format!(r#"{{"type": "ping", "pad": "{}"}}"#, "x".repeat(70_000)),
            "VALIDATION_ERROR",
        ),
    ];
    for (text, code) in &cases {
        ws.send_text(text).await;
        let error = ws.error().await;
        assert_eq!(
            error["code"],
            *code,
            "{} → {error}",
            &text[..text.len().min(80)]
        );
        assert!(error["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    ws.send_raw(Message::binary(vec![1u8, 2, 3])).await;
    assert_eq!(ws.error().await["code"], "VALIDATION_ERROR");
    ws.barrier().await;

    // Past the protocol limit (4 × max_frame_bytes) the socket is closed with 1009.
    ws.send_text(&"y".repeat(300_000)).await;
    match ws.ended(WAIT).await {
        Some(Ended::Closed(code, _)) => assert_eq!(code, CloseCode::Size),
        other => panic!("expected a 1009 close, got {other:?}"),
    }
    // The neighbour never noticed.
    neighbour.barrier().await;
    assert!(neighbour.buffered("error").is_empty());
}

#[actix_web::test]
async fn a_flood_is_rate_limited_and_nothing_else_suffers() {
    let app = TestApp::spawn_with(&[
        ("realtime.frames_per_second", "5"),
        ("realtime.frames_burst", "10"),
    ])
    .await;
    let admin = app.admin().await;
    let (mut flooder, _) = WsClient::connect(&app, &admin.token).await;
    let (mut neighbour, _) = WsClient::connect(&app, &admin.token).await;
    for _ in 0..60 {
        flooder.send(json!({"type": "ping"})).await;
    }
    let mut pongs = 0;
    let mut errors = Vec::new();
    for _ in 0..60 {
        let frame = flooder.next().await;
        match frame["type"].as_str() {
            Some("pong") => pongs += 1,
            Some("error") => errors.push(frame),
            _ => {}
        }
    }
    assert!(
        errors.len() >= 40,
        "limited {}, pongs {pongs}",
        errors.len()
    );
    assert!(pongs >= 10, "the burst gets through: {pongs}");
    for error in &errors {
        assert_eq!(error["code"], "RATE_LIMITED", "{error}");
    }
    // The neighbour has its own budget and was never limited; the flooder recovers after a
    // pause (the bucket refills at 5 frames a second).
    neighbour.barrier().await;
    assert!(neighbour.buffered("error").is_empty());
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        flooder.send(json!({"type": "ping"})).await;
        let answer = flooder.next().await;
        if answer["type"] == "pong" {
            break;
        }
        assert_eq!(answer["code"], "RATE_LIMITED", "{answer}");
        assert!(
            std::time::Instant::now() < deadline,
            "the flooder never recovered"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[actix_web::test]
async fn tokens_are_checked_at_the_handshake_and_on_every_frame() {
    let app = TestApp::spawn().await;
    let (status, body) = WsClient::refused(&app, "garbage").await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "AUTH_ERROR");

    let admin = app.admin().await;
    let mut auth = app.settings.auth.clone();
    auth.token_ttl_seconds = 2;
    let keys = atende::auth::TokenKeys::new(&auth);
    let short = keys
        .issue_staff(
            &atende::domain::UserId(admin.user_id.clone()),
            &atende::domain::TenantId(admin.tenant_id.clone()),
            atende::domain::Role::Admin,
            0,
        )
        .expect("token");
    let (mut ws, _) = WsClient::connect(&app, &short).await;
    // Answered while the token lasts; the first frame after its expiry closes the socket.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        ws.send(json!({"type": "ping"})).await;
        if ws.try_next_of("pong", WAIT).await.is_none() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the token never expired"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    match ws.ended(WAIT).await {
        Some(Ended::Closed(code, reason)) => {
            assert_eq!(code, CloseCode::Policy);
            assert_eq!(reason, "token expired");
        }
        other => panic!("expected a close for the expired token, got {other:?}"),
    }

    // A deleted user's token opens nothing.
    let gone = app.staff(&admin, "agent", "gone@tenant-a.test").await;
    let (status, _) = app
        .delete(&format!("/api/v1/users/{}", gone.user_id), &admin.token)
        .await;
    assert!(status.is_success());
    let (status, body) = WsClient::refused(&app, &gone.token).await;
    assert_eq!(status, 401, "{body}");
}

/// A client that never reads: the hub drops it once its queue is full (its presence goes
/// offline for everyone else), memory stays bounded, and the connection is closed.
#[actix_web::test]
async fn a_slow_consumer_is_disconnected() {
    let app = TestApp::spawn_with(&[
        ("realtime.outbound_queue_frames", "32"),
        ("realtime.tcp_user_timeout_seconds", "2"),
    ])
    .await;
    let admin = app.admin().await;
    let integration = generic(&app, &admin).await;
    let slow_user = app.staff(&admin, "supervisor", "slow@tenant-a.test").await;
    let first = signed_webhook(&app, &integration, "c1", "m-0", "oi").await;
    let conversation = first["conversation_id"].as_str().expect("id").to_string();

    let (mut observer, _) = WsClient::connect(&app, &admin.token).await;
    subscribe(&mut observer, &conversation).await;

    // The slow client: a tiny receive buffer, subscribes, then never reads again.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let stream = socket
        .connect(format!("127.0.0.1:{}", app.port).parse().expect("addr"))
        .await
        .expect("connect");
    let (mut slow, _) =
        tokio_tungstenite::client_async(WsClient::url(&app, &slow_user.token), stream)
            .await
            .expect("handshake");
    {
        use futures::{SinkExt, StreamExt};
        slow.send(Message::text(
            json!({"type": "subscribe", "conversation_id": conversation}).to_string(),
        ))
        .await
        .expect("subscribe");
        slow.send(Message::text(json!({"type": "ping"}).to_string()))
            .await
            .expect("ping");
        loop {
            let frame = slow.next().await.expect("frame").expect("ok");
            if frame.to_text().is_ok_and(|t| t.contains("pong")) {
                break;
            }
        }
    }
    assert_eq!(
        presence_of(&mut observer, &slow_user.user_id).await["status"],
        "online"
    );

    let rss_before = rss_kib();
    let big = "x".repeat(60_000);
    let mut dropped = false;
    for i in 1..=400 {
        signed_webhook(&app, &integration, "c1", &format!("m-{i}"), &big).await;
        let frame = observer.next_message_after(i).await;
        assert_eq!(frame["message"]["seq"], i + 1, "the observer keeps up");
        if let Some(p) = observer.try_next_of("presence", Duration::ZERO).await {
            assert_eq!(p["user_id"], slow_user.user_id.as_str());
            assert_eq!(p["status"], "offline");
            dropped = true;
            break;
        }
    }
    if !dropped {
        let p = presence_of(&mut observer, &slow_user.user_id).await;
        assert_eq!(p["status"], "offline");
    }
    let grown_mib = rss_kib().saturating_sub(rss_before) / 1024;
    assert!(
        grown_mib < 64,
        "RSS grew {grown_mib} MiB with a client that never reads"
    );

    // The others are unaffected, and the slow connection ends.
    signed_webhook(&app, &integration, "c1", "after", "ainda funciona").await;
    assert_eq!(
        observer.next_of("message").await["message"]["content"],
        "ainda funciona"
    );
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        use futures::StreamExt;
        loop {
            match slow.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.reason.to_string()),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Some("reset".to_string()),
            }
        }
    })
    .await
    .expect("the slow connection is closed");
    let reason = ended.unwrap_or_default();
    assert!(
        reason.contains("slow consumer") || reason == "reset",
        "closed with {reason:?}"
    );
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// With `engine.require_presence`, a human takes conversations only while connected.
#[actix_web::test]
async fn presence_feeds_the_distributor() {
    let app = TestApp::spawn_with(&[
        ("engine.require_presence", "true"),
        ("engine.queue_check_interval_seconds", "60"),
    ])
    .await;
    let admin = app.admin().await;
    let integration = generic(&app, &admin).await;
    let (status, body) = app
        .post(
            "/api/v1/users",
            &admin.token,
            &json!({"name": "Ana", "email": "ana@tenant-a.test", "password": "user-password", "role": "agent", "available": true, "max_conversations": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let ana = app.login("ana@tenant-a.test", "user-password").await;

    let tenant = atende::domain::TenantId(admin.tenant_id.clone());
    let accepted = signed_webhook(&app, &integration, "c1", "m-1", "alguém aí?").await;
    let conversation = accepted["conversation_id"]
        .as_str()
        .expect("id")
        .to_string();
    // The distributor tried and queued it: only then is "nobody took it" a fact.
    queued_at_distributor(&app, &tenant, 1).await;
    let (_, c) = app
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            &admin.token,
        )
        .await;
    assert_eq!(c["status"], "queued", "Ana is available but offline: {c}");

    // Ana connects: she is online, the queue is tried at once and she gets it.
    let (mut ws, _) = WsClient::connect(&app, &ana.token).await;
    let assigned = ws.next_of("conversation_assigned").await;
    assert_eq!(assigned["conversation_id"], conversation.as_str());
    assert_eq!(assigned["owner"]["id"], ana.user_id.as_str());

    // Ana leaves: new conversations wait again.
    let (mut observer, _) = WsClient::connect(&app, &admin.token).await;
    ws.close().await;
    loop {
        if presence_of(&mut observer, &ana.user_id).await["status"] == "offline" {
            break;
        }
    }
    let second = signed_webhook(&app, &integration, "c2", "m-2", "e agora?").await;
    let second = second["conversation_id"].as_str().expect("id").to_string();
    queued_at_distributor(&app, &tenant, 1).await;
    let (_, c) = app
        .get(&format!("/api/v1/conversations/{second}"), &admin.token)
        .await;
    assert_eq!(c["status"], "queued", "{c}");
}

#[actix_web::test]
async fn idle_users_show_as_away() {
    let app = TestApp::spawn_with(&[("realtime.away_after_seconds", "1")]).await;
    let admin = app.admin().await;
    let integration = generic(&app, &admin).await;
    let accepted = signed_webhook(&app, &integration, "c1", "m-1", "oi").await;
    let conversation = accepted["conversation_id"]
        .as_str()
        .expect("id")
        .to_string();
    let ana = app.staff(&admin, "supervisor", "ana@tenant-a.test").await;
    let (mut observer, _) = WsClient::connect(&app, &admin.token).await;
    let (mut ana_ws, _) = WsClient::connect(&app, &ana.token).await;
    assert_eq!(
        presence_of(&mut observer, &ana.user_id).await["status"],
        "online"
    );
    // Pings keep the socket alive but are not activity.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        ana_ws.barrier().await;
        observer.barrier().await;
    }
    let away = presence_of(&mut observer, &ana.user_id).await;
    assert_eq!(away["status"], "away");
    ana_ws
        .send(json!({"type": "typing", "conversation_id": conversation, "is_typing": true}))
        .await;
    let back = presence_of(&mut observer, &ana.user_id).await;
    assert_eq!(back["status"], "online");
}

/// A client that stops answering pings is cut after `realtime.client_timeout_seconds`.
#[actix_web::test]
async fn a_silent_client_is_dropped_by_the_heartbeat() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (mut ws, _) = WsClient::connect(&app, &admin.token).await;
    // Not reading means not answering the server's pings (test config: 1 s / 5 s).
    tokio::time::sleep(Duration::from_secs(7)).await;
    let bytes = ws.raw_until_closed(WAIT).await;
    // A close frame (opcode 8) with code 1008 and the reason, then the end of the stream.
    let reason = b"heartbeat timeout";
    let at = bytes
        .windows(reason.len())
        .position(|w| w == reason)
        .expect("the close reason was sent");
    assert_eq!(&bytes[at - 2..at], &1008u16.to_be_bytes());
    assert_eq!(bytes[at - 4], 0x88, "a final close frame");
}

#[actix_web::test]
async fn open_sessions_show_in_the_metrics() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let gauge = |app: &TestApp| {
        let url = app.url("/metrics");
        let http = app.http.clone();
        async move {
            let text = http.get(url).send().await.ok()?.text().await.ok()?;
            text.lines()
                .find(|l| l.starts_with("atende_websocket_sessions "))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<i64>().ok())
        }
    };
    let (client, _) = WsClient::connect(&app, &admin.token).await;
    let open = eventually(Duration::from_secs(5), &mut || async {
        gauge(&app).await.filter(|n| *n == 1)
    })
    .await;
    assert_eq!(open, Some(1));
    client.close().await;
    let closed = eventually(Duration::from_secs(5), &mut || async {
        gauge(&app).await.filter(|n| *n == 0)
    })
    .await;
    assert_eq!(closed, Some(0));
}
