//! "The AI is typing": the web chat customer's socket (and staff following the conversation)
//! get `typing` frames from the AI around its turn, before its reply; a WhatsApp contact gets
//! Evolution's `composing` presence before the reply's `sendText`.

mod support;

use std::time::Duration;

use serde_json::json;
use support::evolution::{whatsapp, API_KEY, INSTANCE};
use support::scripted_llm::Step;
use support::ws::WsClient;

#[actix_web::test]
async fn the_web_chat_socket_and_staff_see_the_ai_typing_before_its_reply() {
    let f = support::engine::fixture(&[], json!({})).await;
    let integration = support::engine::create(
        &f.app,
        &f.admin,
        "/api/v1/integrations",
        &json!({"kind": "webchat", "name": "site", "default_agent_id": f.agent_id}),
    )
    .await;
    let (token, conversation) = f.app.webchat_visitor(&integration, "Maria").await;
    let (mut customer, _) = WsClient::connect(&f.app, &token).await;
    let (mut staff, _) = WsClient::connect(&f.app, &f.admin.token).await;
    staff
        .send(json!({"type": "subscribe", "conversation_id": conversation}))
        .await;
    staff.barrier().await;
    // The model takes a moment: the socket hears the AI typing meanwhile.
    f.llm.push(Step::delayed(
        300,
        Step::reply("Olá Maria! Como posso ajudar?"),
    ));
    customer
        .send(json!({"type": "message", "conversation_id": conversation, "content": "Oi", "client_msg_id": "k-1"}))
        .await;

    for ws in [&mut customer, &mut staff] {
        let mut seen = Vec::new();
        loop {
            let frame = ws.next().await;
            let kind = frame["type"].as_str().unwrap_or_default().to_string();
            if kind == "typing" || kind == "message" {
                seen.push(frame.clone());
            }
            if kind == "typing" && frame["is_typing"] == false {
                break;
            }
        }
        let started = seen
            .iter()
            .position(|f| f["type"] == "typing" && f["is_typing"] == true)
            .expect("typing started");
        let reply = seen
            .iter()
            .position(|f| f["type"] == "message" && f["message"]["sender_type"] == "ai_agent");
        assert!(
            reply.is_none_or(|r| r > started),
            "typing before the reply: {seen:?}"
        );
        let typing = &seen[started];
        assert_eq!(typing["conversation_id"], conversation.as_str());
        assert_eq!(typing["sender_type"], "ai_agent");
        assert_eq!(typing["agent_id"], f.agent_id.as_str());
    }
    // And the reply itself reaches the customer.
    let messages = f.messages(&conversation).await;
    assert!(messages
        .iter()
        .any(|m| m["content"] == "Olá Maria! Como posso ajudar?"));
}

#[actix_web::test]
async fn whatsapp_shows_composing_before_the_reply() {
    let ch = whatsapp(json!({"context_timer_seconds": 0})).await;
    ch.llm.push(Step::reply("Claro! Vou verificar."));
    ch.customer_says("3EB0TYPING01", "Olá, meu pedido não chegou")
        .await;
    let sent = ch.evolution.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    let presence = &sent[0];
    assert_eq!(presence.path, format!("/chat/sendPresence/{INSTANCE}"));
    assert_eq!(presence.header("apikey"), Some(API_KEY));
    let body = presence.json();
    assert_eq!(body["number"], "5511999998888");
    assert_eq!(body["presence"], "composing");
    assert_eq!(
        body["delay"], ch.app.settings.typing.presence_delay_ms,
        "{body}"
    );
    let reply = &sent[1];
    assert_eq!(reply.path, format!("/message/sendText/{INSTANCE}"));
    assert_eq!(reply.json()["text"], "Claro! Vou verificar.");
}
