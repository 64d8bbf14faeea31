//! The Evolution API (WhatsApp) channel end to end, on both backends: a recorded
//! `messages.upsert` creates contact, conversation and message and the AI reply goes out as
//! `sendText` to a loopback fake Evolution server; `fromMe` messages are stored as outbound
//! and not answered; the echo of our reply is linked to it and `messages.update` READ marks
//! it read; bad input is refused or recorded as ignored, and changes nothing.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::engine::{by_sender, eventually};
use support::receiver::ScriptedReceiver;
use support::scripted_llm::{ScriptedLlm, Step};
use support::*;

const API_KEY: &str = "B6D711FCDE4D4FD5936544120E713976";
const INSTANCE: &str = "loja-centro";
const JID: &str = "5511999998888@s.whatsapp.net";

/// A loopback stand-in for Evolution API v2: it answers `sendText` like Evolution does, with
/// the key WhatsApp gave the message (`BAE5FAKE0001`, `BAE5FAKE0002`, …).
async fn fake_evolution() -> ScriptedReceiver {
    let evolution = ScriptedReceiver::start(&[]).await;
    let sent = AtomicUsize::new(0);
    evolution.answer_json(201, move |_| {
        let n = sent.fetch_add(1, Ordering::SeqCst) + 1;
        json!({
            "key": {"remoteJid": JID, "fromMe": true, "id": format!("BAE5FAKE{n:04}")},
            "pushName": "",
            "status": "PENDING",
            "message": {"conversation": "…"},
            "messageType": "conversation",
            "messageTimestamp": 1717689900
        })
    });
    evolution
}

struct Channel {
    app: TestApp,
    llm: ScriptedLlm,
    evolution: ScriptedReceiver,
    admin: Session,
    integration_id: String,
}

async fn channel() -> Channel {
    let app = TestApp::spawn().await;
    let llm = ScriptedLlm::start().await;
    let evolution = fake_evolution().await;
    let admin = app.admin().await;
    let agent = app
        .create_agent(
            &admin,
            json!({
                "name": "Atendente",
                "model": "gpt-4o-mini",
                "system_prompt": "Você atende clientes da loja.",
                "provider": {"kind": "openai", "base_url": llm.base_url, "api_key": "sk-test"},
                "settings": {"context_timer_seconds": 0},
            }),
        )
        .await;
    let integration = app
        .create_integration(
            &admin,
            json!({
                "kind": "evolution",
                "name": "WhatsApp loja",
                "base_url": evolution.url(""),
                "api_key": API_KEY,
                "instance": INSTANCE,
                "default_agent_id": agent["id"],
            }),
        )
        .await;
    Channel {
        app,
        llm,
        evolution,
        admin,
        integration_id: integration["id"].as_str().expect("id").to_string(),
    }
}

impl Channel {
    async fn post(&self, body: &Value) -> (StatusCode, Value) {
        self.post_to(&self.integration_id, body, None).await
    }

    async fn post_to(
        &self,
        integration: &str,
        body: &Value,
        apikey_header: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .app
            .http
            .post(self.app.url(&format!("/webhooks/evolution/{integration}")))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(key) = apikey_header {
            request = request.header("apikey", key);
        }
        let response = request.send().await.expect("webhook sent");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Waits until `n` replies went out as `sendText`.
    async fn replies_sent(&self, n: usize) {
        let sent = eventually(Duration::from_secs(10), &mut || async {
            let sent = self.texts_sent();
            (sent.len() >= n).then_some(sent)
        })
        .await
        .unwrap_or_else(|| self.texts_sent());
        assert_eq!(sent.len(), n, "replies sent: {sent:?}");
    }

    /// What reached Evolution as `sendText` (the "typing…" presence calls left out).
    fn texts_sent(&self) -> Vec<support::receiver::Received> {
        self.evolution
            .received()
            .into_iter()
            .filter(|r| r.path.contains("/message/sendText/"))
            .collect()
    }

    async fn messages(&self, conversation: &str) -> Vec<Value> {
        let (status, page) = self
            .app
            .get(
                &format!("/api/v1/conversations/{conversation}/messages?limit=200"),
                &self.admin.token,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["items"].as_array().cloned().unwrap_or_default()
    }

    async fn contacts(&self) -> Vec<Value> {
        let (status, page) = self.app.get("/api/v1/contacts", &self.admin.token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["items"].as_array().cloned().unwrap_or_default()
    }
}

/// `messages.upsert` as Evolution API v2 posts it for a customer's text.
fn upsert(id: &str, text: &str) -> Value {
    json!({
        "event": "messages.upsert",
        "instance": INSTANCE,
        "data": {
            "key": {"remoteJid": JID, "fromMe": false, "id": id},
            "pushName": "João Silva",
            "status": "DELIVERY_ACK",
            "message": {
                "conversation": text,
                "messageContextInfo": {"deviceListMetadata": {"senderKeyHash": "Ht0yP7fK0Q=="}, "deviceListMetadataVersion": 2}
            },
            "contextInfo": null,
            "messageType": "conversation",
            "messageTimestamp": 1717689097,
            "instanceId": "2a7e6b9f-0c5d-4a57-9a1e-3e8f1c0d5b21",
            "source": "android"
        },
        "destination": "https://atende.example.com/webhooks/evolution",
        "date_time": "2024-06-06T12:51:37.654Z",
        "sender": "5511988887777@s.whatsapp.net",
        "server_url": "https://evo.example.com",
        "apikey": API_KEY
    })
}

fn from_me(event: &str, id: &str, text: &str) -> Value {
    json!({
        "event": event,
        "instance": INSTANCE,
        "data": {
            "key": {"remoteJid": JID, "fromMe": true, "id": id},
            "pushName": "Loja Centro",
            "message": {"extendedTextMessage": {"text": text}},
            "messageType": "extendedTextMessage",
            "messageTimestamp": 1717689950,
            "status": "SERVER_ACK"
        },
        "date_time": "2024-06-06T12:52:30.000Z",
        "sender": "5511988887777@s.whatsapp.net",
        "apikey": API_KEY
    })
}

fn status_update(key_id: &str, status: &str) -> Value {
    json!({
        "event": "messages.update",
        "instance": INSTANCE,
        "data": {
            "messageId": "clx2h8w0v0001qz8k3g5f9r1b",
            "keyId": key_id,
            "remoteJid": JID,
            "fromMe": true,
            "participant": JID,
            "status": status,
            "instanceId": "2a7e6b9f-0c5d-4a57-9a1e-3e8f1c0d5b21"
        },
        "date_time": "2024-06-06T12:53:00.000Z",
        "apikey": API_KEY
    })
}

fn only_result(body: &Value) -> &Value {
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "{body}");
    &results[0]
}

#[actix_web::test]
async fn an_upsert_creates_contact_conversation_and_message_and_the_reply_goes_out_as_send_text() {
    let ch = channel().await;
    ch.llm
        .push(Step::reply("Claro! Vou verificar o seu pedido."));

    let (status, body) = ch
        .post(&upsert(
            "3EB0C431C26A1916E3B4",
            "Olá, meu pedido não chegou",
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["event"], "messages.upsert");
    let result = only_result(&body);
    assert_eq!(result["outcome"], "accepted", "{body}");
    assert_eq!(result["direction"], "in");
    let conversation = result["conversation_id"]
        .as_str()
        .expect("conversation")
        .to_string();

    // The AI reply reaches Evolution as sendText, on the integration's instance and key.
    let sent = eventually(Duration::from_secs(10), &mut || async {
        let sent = ch.texts_sent();
        (!sent.is_empty()).then_some(sent)
    })
    .await
    .expect("sendText called");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].path, format!("/message/sendText/{INSTANCE}"));
    assert_eq!(sent[0].header("apikey"), Some(API_KEY));
    assert_eq!(
        sent[0].json(),
        json!({"number": "5511999998888", "text": "Claro! Vou verificar o seu pedido."})
    );
    assert_eq!(
        ch.llm.requests()[0].last_user_message().as_deref(),
        Some("Olá, meu pedido não chegou")
    );

    // Contact, conversation and both messages are stored.
    let contacts = ch.contacts().await;
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    assert_eq!(contacts[0]["name"], "João Silva");
    assert_eq!(contacts[0]["phone"], "+5511999998888");
    assert_eq!(contacts[0]["external_id"], JID);
    assert_eq!(contacts[0]["integration_id"], ch.integration_id.as_str());
    let messages = ch.messages(&conversation).await;
    let customer = by_sender(&messages, "contact");
    assert_eq!(customer.len(), 1);
    assert_eq!(customer[0]["content"], "Olá, meu pedido não chegou");
    assert_eq!(customer[0]["content_type"], "text");
    assert_eq!(customer[0]["metadata"]["evolution"]["instance"], INSTANCE);
    assert_eq!(
        customer[0]["metadata"]["timestamp"],
        "2024-06-06T15:51:37+00:00"
    );
    let ai = by_sender(&messages, "ai_agent");
    assert_eq!(ai.len(), 1, "{messages:?}");
    assert_eq!(ai[0]["content"], "Claro! Vou verificar o seu pedido.");

    // Evolution redelivering the same event stores and answers nothing new.
    let (status, again) = ch
        .post(&upsert(
            "3EB0C431C26A1916E3B4",
            "Olá, meu pedido não chegou",
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(only_result(&again)["outcome"], "duplicate");
    // The customer's next message is answered: the redelivery was not, before it.
    ch.llm.push(Step::reply("Chega amanhã."));
    ch.post(&upsert("3EB0C431C26A1916E3B5", "E então?")).await;
    ch.replies_sent(2).await;
    assert_eq!(ch.llm.request_count(), 2);
    let messages = ch.messages(&conversation).await;
    assert_eq!(by_sender(&messages, "contact").len(), 2, "{messages:?}");
    assert_eq!(by_sender(&messages, "ai_agent").len(), 2, "{messages:?}");
}

#[actix_web::test]
async fn from_me_is_stored_as_outbound_unanswered_and_read_receipts_mark_our_reply_read() {
    let ch = channel().await;
    ch.llm
        .push(Step::reply("Pode me passar o número do pedido?"));
    let (_, body) = ch.post(&upsert("3EB0AAAA0001", "Oi, tudo bem?")).await;
    let conversation = only_result(&body)["conversation_id"]
        .as_str()
        .expect("conversation")
        .to_string();
    ch.replies_sent(1).await;
    let reply_id = by_sender(&ch.messages(&conversation).await, "ai_agent")[0]["id"]
        .as_str()
        .expect("reply id")
        .to_string();

    // The business writes from its own phone: stored as outbound, never answered.
    let (status, body) = ch
        .post(&from_me(
            "messages.upsert",
            "3EB0PHONE0001",
            "Oi João, aqui é a Ana da loja",
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let result = only_result(&body);
    assert_eq!(result["outcome"], "accepted", "{body}");
    assert_eq!(result["direction"], "out");
    assert_eq!(result["conversation_id"], conversation.as_str());
    let messages = ch.messages(&conversation).await;
    let business = by_sender(&messages, "user");
    assert_eq!(business.len(), 1, "{messages:?}");
    assert_eq!(business[0]["content"], "Oi João, aqui é a Ana da loja");
    let contacts = ch.contacts().await;
    assert_eq!(
        contacts[0]["name"], "João Silva",
        "the business's pushName never renames the customer"
    );

    // Evolution echoes the reply the engine sent: it is linked, not stored twice.
    let (status, body) = ch
        .post(&from_me(
            "send.message",
            "BAE5FAKE0001",
            "Pode me passar o número do pedido?",
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let result = only_result(&body);
    assert_eq!(result["outcome"], "linked", "{body}");
    assert_eq!(result["message_id"], reply_id.as_str());
    assert_eq!(ch.messages(&conversation).await.len(), 3);

    // Delivery receipts move our reply forward, never back.
    let (_, body) = ch
        .post(&status_update("BAE5FAKE0001", "DELIVERY_ACK"))
        .await;
    assert_eq!(only_result(&body)["status"], "delivered", "{body}");
    let (status, body) = ch.post(&status_update("BAE5FAKE0001", "READ")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let result = only_result(&body);
    assert_eq!(result["outcome"], "updated");
    assert_eq!(result["message_id"], reply_id.as_str());
    assert_eq!(result["status"], "read");
    let (_, body) = ch
        .post(&status_update("BAE5FAKE0001", "DELIVERY_ACK"))
        .await;
    assert_eq!(only_result(&body)["outcome"], "unchanged");
    let messages = ch.messages(&conversation).await;
    let reply = messages
        .iter()
        .find(|m| m["id"] == reply_id.as_str())
        .expect("reply");
    assert_eq!(reply["status"], "read");

    // The business's own phone message gets receipts too; unknown ids are recorded, not errors.
    let (_, body) = ch.post(&status_update("3EB0PHONE0001", "READ")).await;
    assert_eq!(only_result(&body)["outcome"], "updated");
    let (status, body) = ch.post(&status_update("NOPE0000", "READ")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(only_result(&body)["outcome"], "ignored");
    assert_eq!(only_result(&body)["reason"], "unknown_message");
    let (_, body) = ch.post(&status_update("BAE5FAKE0001", "SERVER_ACK")).await;
    assert_eq!(only_result(&body)["reason"], "status_not_tracked");

    // The customer's next message is answered; the business's own message never was.
    ch.llm.push(Step::reply("Obrigado, já localizei."));
    ch.post(&upsert("3EB0AAAA0002", "É o 556677")).await;
    ch.replies_sent(2).await;
    assert_eq!(
        ch.llm.request_count(),
        2,
        "a fromMe message is not answered"
    );
}

#[actix_web::test]
async fn media_is_recorded_with_type_and_caption_and_chat_updates_rename_the_contact() {
    let ch = channel().await;
    let image = json!({
        "event": "messages.upsert", "instance": INSTANCE,
        "data": {
            "key": {"remoteJid": JID, "fromMe": false, "id": "3EB0IMAGE01"},
            "pushName": "João Silva",
            "message": {"imageMessage": {
                "url": "https://mmg.whatsapp.net/o1/v/t62.7118-24/f1/m232/up-oil-image.enc",
                "mimetype": "image/jpeg", "caption": "Chegou quebrado",
                "fileLength": "48213", "height": 1280, "width": 960, "mediaKey": "e3J0c2VjcmV0"
            }},
            "messageType": "imageMessage", "messageTimestamp": 1717689200
        },
        "apikey": API_KEY
    });
    let (status, body) = ch.post(&image).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let conversation = only_result(&body)["conversation_id"]
        .as_str()
        .expect("conversation")
        .to_string();
    let messages = ch.messages(&conversation).await;
    let customer = by_sender(&messages, "contact");
    assert_eq!(customer[0]["content_type"], "image");
    assert_eq!(customer[0]["content"], "Chegou quebrado");
    assert_eq!(
        customer[0]["metadata"]["media"]["caption"],
        "Chegou quebrado"
    );
    assert_eq!(customer[0]["metadata"]["media"]["mimetype"], "image/jpeg");

    let chats = json!({
        "event": "chats.update", "instance": INSTANCE,
        "data": [{"remoteJid": JID, "instanceId": "2a7e", "unreadMessages": 0, "name": "João S. (cliente)"}],
        "apikey": API_KEY
    });
    let (status, body) = ch.post(&chats).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(only_result(&body)["outcome"], "updated");
    assert_eq!(ch.contacts().await[0]["name"], "João S. (cliente)");
}

#[actix_web::test]
async fn bad_input_is_refused_or_recorded_and_changes_nothing() {
    let ch = channel().await;
    let message = upsert("3EB0BAD00001", "oi");

    // Authentication: the integration's apikey, in the body or as a header.
    let mut wrong = message.clone();
    wrong["apikey"] = json!("not-the-key");
    let (status, body) = ch.post(&wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "AUTH_ERROR");
    let mut missing = message.clone();
    missing.as_object_mut().expect("object").remove("apikey");
    let (status, _) = ch.post(&missing).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = ch
        .post_to(&ch.integration_id, &missing, Some(API_KEY))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the apikey header is accepted: {body}"
    );

    // Unknown integrations, and integrations of another kind, are not found.
    let (status, _) = ch
        .post_to("0192f0a0-0000-7000-8000-000000000000", &message, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let generic = ch
        .app
        .create_integration(
            &ch.admin,
            json!({"kind": "generic", "name": "g", "secret": "generic-secret-0123456789"}),
        )
        .await;
    let (status, _) = ch
        .post_to(generic["id"].as_str().expect("id"), &message, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Malformed events are 400 with the field named, and store nothing.
    let before = ch.contacts().await.len();
    let mut no_key = upsert("3EB0BAD00002", "oi");
    no_key["data"].as_object_mut().expect("data").remove("key");
    let (status, body) = ch.post(&no_key).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "VALIDATION_ERROR");
    assert_eq!(body["error"], "data.key is required");
    let (status, body) = ch
        .post(&json!({"instance": INSTANCE, "data": {}, "apikey": API_KEY}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "event is required");
    let response = ch
        .app
        .http
        .post(
            ch.app
                .url(&format!("/webhooks/evolution/{}", ch.integration_id)),
        )
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let mut other_instance = upsert("3EB0BAD00003", "oi");
    other_instance["instance"] = json!("outra-loja");
    let (status, body) = ch.post(&other_instance).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["details"]["field"], "instance");
    // One bad item refuses the whole batch: the good one before it is not stored either.
    let batch = json!({
        "event": "messages.upsert", "instance": INSTANCE, "apikey": API_KEY,
        "data": [
            upsert("3EB0BATCH001", "primeira")["data"].clone(),
            {"key": {"remoteJid": JID, "fromMe": false}, "message": {"conversation": "sem id"}}
        ]
    });
    let (status, body) = ch.post(&batch).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "data[1].key.id is required");

    // Group messages and other events are recorded as ignored, with a reason.
    let mut group = upsert("3EB0GROUP001", "oi grupo");
    group["data"]["key"]["remoteJid"] = json!("120363025246125888@g.us");
    group["data"]["key"]["participant"] = json!(JID);
    let (status, body) = ch.post(&group).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(only_result(&body)["outcome"], "ignored");
    assert_eq!(only_result(&body)["reason"], "group_message");
    let (status, body) = ch
        .post(&json!({
            "event": "connection.update", "instance": INSTANCE, "apikey": API_KEY,
            "data": {"instance": INSTANCE, "state": "open", "statusReason": 200}
        }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(only_result(&body)["reason"], "unsupported_event");

    // Only the message authenticated by header got in; nothing of the refused ones did.
    assert_eq!(ch.contacts().await.len(), before);
    assert_eq!(before, 1);
    let (_, page) = ch.app.get("/api/v1/conversations", &ch.admin.token).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");

    // The ignored items are counted by reason.
    let metrics = ch
        .app
        .http
        .get(ch.app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(
            r#"atende_channel_events_ignored_total{channel="evolution",reason="group_message"} 1"#
        ),
        "{metrics}"
    );
}
