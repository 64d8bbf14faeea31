//! The web chat: a public session endpoint hands out contact tokens; the customer's socket
//! sees only its own conversation, and its messages enter the engine like any channel's (an
//! AI agent answers them, de-duplicated on `client_msg_id`).

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::engine::{by_sender, fixture};
use support::scripted_llm::Step;
use support::ws::WsClient;
use support::TestApp;

async fn session(app: &TestApp, integration: &str, body: Option<&Value>) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        &format!("/api/v1/webchat/{integration}/session"),
        None,
        body,
    )
    .await
}

#[actix_web::test]
async fn a_customer_chats_with_the_ai_agent() {
    let f = fixture(&[], json!({})).await;
    let integration = support::engine::create(
        &f.app,
        &f.admin,
        "/api/v1/integrations",
        &json!({"kind": "webchat", "name": "site", "default_agent_id": f.agent_id}),
    )
    .await;
    let (status, created) = session(
        &f.app,
        &integration,
        Some(&json!({"name": "Maria", "email": "Maria@Ex.com", "phone": "(11) 98765-4321"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().expect("token").to_string();
    let conversation = created["conversation_id"].as_str().expect("id").to_string();
    let contact = created["contact_id"].as_str().expect("id").to_string();

    // The contact was created from the form.
    let (_, view) = f
        .app
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            &f.admin.token,
        )
        .await;
    assert_eq!(view["channel"], "webchat");
    assert_eq!(view["contact_id"], contact.as_str());

    f.llm
        .push(Step::reply("Olá Maria! Posso ajudar com o seu pedido?"));
    let (mut ws, connected) = WsClient::connect(&f.app, &token).await;
    assert_eq!(connected["conversation_id"], conversation.as_str());
    ws.send(json!({"type": "message", "conversation_id": conversation, "content": "Oi, quero saber do meu pedido", "client_msg_id": "k-1"}))
        .await;
    let ack = ws.next_of("message_sent").await;
    assert_eq!(ack["client_msg_id"], "k-1");
    let first = ack["message"]["id"].as_str().expect("id").to_string();

    // The AI agent answered through the engine; the customer sees the reply and quick replies.
    let mut reply = ws.next_of("message").await;
    while reply["message"]["sender_type"] != "ai_agent" {
        reply = ws.next_of("message").await;
    }
    assert_eq!(
        reply["message"]["content"],
        "Olá Maria! Posso ajudar com o seu pedido?"
    );
    let suggestions = ws.next_of("suggestions").await;
    assert_eq!(suggestions["conversation_id"], conversation.as_str());
    assert_eq!(suggestions["suggestions"][0], "Sim");
    assert!(suggestions.get("source").is_none(), "{suggestions}");
    // Reply suggestions are the staff's; the customer has its quick replies.
    ws.send(json!({"type": "request_suggestions", "conversation_id": conversation}))
        .await;
    let refused = ws.next_of("error").await;
    assert_eq!(refused["code"], "FORBIDDEN", "{refused}");
    let asked = f.llm.requests()[0]
        .last_user_message()
        .expect("user message");
    assert!(asked.contains("quero saber do meu pedido"), "{asked}");

    // The same client_msg_id again is the same message, stored once.
    ws.send(json!({"type": "message", "conversation_id": conversation, "content": "Oi, quero saber do meu pedido", "client_msg_id": "k-1"}))
        .await;
    let again = ws.next_of("message_sent").await;
    assert_eq!(again["message"]["id"], first.as_str());
    let messages = f.messages(&conversation).await;
    assert_eq!(by_sender(&messages, "contact").len(), 1);

    // Sync without an id gives the customer's own conversation.
    ws.send(json!({"type": "sync"})).await;
    let synced = ws.next_of("sync_data").await;
    assert_eq!(synced["conversation_id"], conversation.as_str());
    assert!(synced["messages"].as_array().is_some_and(|m| m.len() >= 2));
}

#[actix_web::test]
async fn a_customer_sees_only_its_own_conversation() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let integration = support::engine::create(
        &app,
        &admin,
        "/api/v1/integrations",
        &json!({"kind": "webchat", "name": "site"}),
    )
    .await;
    let (_, one) = session(&app, &integration, None).await;
    let (_, two) = session(&app, &integration, Some(&json!({}))).await;
    let token = one["token"].as_str().expect("token");
    let mine = one["conversation_id"].as_str().expect("id");
    let theirs = two["conversation_id"].as_str().expect("id");
    let (mut ws, _) = WsClient::connect(&app, token).await;
    let (mut other, _) = WsClient::connect(&app, two["token"].as_str().expect("token")).await;
    other
        .send(json!({"type": "message", "conversation_id": theirs, "content": "privado"}))
        .await;
    let private = other.next_of("message_sent").await;
    for frame in [
        json!({"type": "subscribe", "conversation_id": theirs}),
        json!({"type": "sync", "conversation_id": theirs}),
        json!({"type": "sync", "last_message_id": private["message"]["id"]}),
        json!({"type": "message", "conversation_id": theirs, "content": "oi"}),
        json!({"type": "typing", "conversation_id": theirs, "is_typing": true}),
    ] {
        ws.send(frame.clone()).await;
        assert_eq!(ws.error().await["code"], "NOT_FOUND", "{frame}");
    }
    ws.expect_none("message").await;
    // Its own conversation works.
    ws.send(json!({"type": "message", "conversation_id": mine, "content": "oi"}))
        .await;
    ws.next_of("message_sent").await;
    // A contact token is not a staff token.
    let (status, body) = app.get("/api/v1/conversations", token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

#[actix_web::test]
async fn session_requests_are_validated() {
    let app = TestApp::spawn_with(&[("realtime.webchat_sessions_per_minute", "6")]).await;
    let admin = app.admin().await;
    let webchat = support::engine::create(
        &app,
        &admin,
        "/api/v1/integrations",
        &json!({"kind": "webchat", "name": "site"}),
    )
    .await;
    let generic = support::engine::create(
        &app,
        &admin,
        "/api/v1/integrations",
        &json!({"kind": "generic", "name": "gw", "secret": support::engine::SECRET}),
    )
    .await;
    let (status, body) = session(&app, &generic, None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a generic integration has no web chat: {body}"
    );
    let (status, _) = session(&app, "01930000-0000-7000-8000-000000000000", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = session(&app, &webchat, Some(&json!({"email": "not-an-email"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "VALIDATION_ERROR");
    assert_eq!(body["details"]["field"], "email");
    let (status, body) = session(&app, &webchat, Some(&json!({"shoe_size": 42}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = app
        .call_text(
            Method::POST,
            &format!("/api/v1/webchat/{webchat}/session"),
            None,
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "an empty body is a visitor without a form"
    );
    // A disabled integration takes no new visitors.
    let (status, _) = app
        .patch(
            &format!("/api/v1/integrations/{webchat}"),
            &admin.token,
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = session(&app, &webchat, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Six per minute per address (the refused ones count too).
    let (status, body) = session(&app, &webchat, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "RATE_LIMITED");
}

#[actix_web::test]
async fn a_closed_chat_reopens_on_the_next_message() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let integration = support::engine::create(
        &app,
        &admin,
        "/api/v1/integrations",
        &json!({"kind": "webchat", "name": "site"}),
    )
    .await;
    let (_, created) = session(&app, &integration, None).await;
    let first = created["conversation_id"].as_str().expect("id").to_string();
    let (mut ws, _) = WsClient::connect(&app, created["token"].as_str().expect("token")).await;
    ws.send(json!({"type": "message", "conversation_id": first, "content": "primeira"}))
        .await;
    ws.next_of("message_sent").await;
    let (status, _) = app
        .post(
            &format!("/api/v1/conversations/{first}/close"),
            &admin.token,
            &json!({"reason": "resolvido"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        ws.next_of("conversation_closed").await["conversation_id"],
        first.as_str()
    );
    // Writing again opens a new conversation; the socket follows it.
    ws.send(json!({"type": "message", "conversation_id": first, "content": "voltei"}))
        .await;
    let ack = ws.next_of("message_sent").await;
    let second = ack["message"]["conversation_id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_ne!(second, first);
    ws.send(json!({"type": "sync"})).await;
    let synced = ws.next_of("sync_data").await;
    assert_eq!(synced["conversation_id"], second.as_str());
    assert_eq!(synced["messages"][0]["content"], "voltei");
    ws.send(json!({"type": "typing", "conversation_id": second, "is_typing": true}))
        .await;
    ws.barrier().await;
    assert!(ws.buffered("error").is_empty());
}
