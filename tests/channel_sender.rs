//! ChannelSender against real loopback receivers, on both backends: retries with backoff
//! until accepted, final failures with a `delivery_failed` event, signatures on every
//! attempt, the Evolution API request shape, per-conversation order, the SSRF guard and
//! resuming pending deliveries after a restart.

mod support;

use std::sync::Arc;
use std::time::Duration;

use atende::channels::signature;
use atende::config::OutboundSettings;
use atende::domain::conversation::SenderType;
use atende::domain::{MessageId, TenantId};
use atende::engine::events::{EventBus, TenantEvent};
use atende::engine::sender::{ChannelSender, ReplyTarget};
use atende::secrets::{SealContext, SealedField, SecretBox};
use atende::store::contacts::{self, ChannelIdentity};
use atende::store::conversations::{self, Conversation};
use atende::store::deliveries::{self, ChannelDelivery};
use atende::store::integrations::{self, Integration, IntegrationKind};
use atende::store::messages::{self, Message, NewMessage};
use atende::store::Store;
use serde_json::{json, Value};
use support::receiver::ScriptedReceiver;
use support::*;

const HOOK_SECRET: &str = "hook-secret-for-tests";
const EVOLUTION_KEY: &str = "evolution-api-key-for-tests";

/// What the receiver saw of one request.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    signature_ok: bool,
    apikey: Option<String>,
    delivery: Option<String>,
    body: Value,
    answered: u16,
}

/// A loopback HTTP server that records every request and answers from a script.
struct Receiver(ScriptedReceiver);

impl Receiver {
    async fn start(script: &[u16]) -> Receiver {
        let receiver = ScriptedReceiver::start(script).await;
        receiver.answer_text(|r| format!("answered {}", r.answered));
        Receiver(receiver)
    }

    fn url(&self, path: &str) -> String {
        self.0.url(path)
    }

    fn hits(&self) -> Vec<Hit> {
        self.0
            .received()
            .into_iter()
            .map(|r| Hit {
                path: r.path.clone(),
                signature_ok: r
                    .header(signature::HEADER)
                    .is_some_and(|h| signature::verify(HOOK_SECRET.as_bytes(), &r.body, h)),
                apikey: r.header("apikey").map(str::to_string),
                delivery: r.header("x-atende-delivery").map(str::to_string),
                body: r.json(),
                answered: r.answered,
            })
            .collect()
    }

    /// Answer refusals with the received `apikey` in the body (a careless receiver).
    fn echo_apikey(&self) {
        self.0.answer_text(|r| {
            if r.answered >= 400 {
                format!(
                    "rejected request with apikey {}",
                    r.header("apikey").unwrap_or_default()
                )
            } else {
                format!("answered {}", r.answered)
            }
        });
    }
}

/// The database rows a reply needs: tenant, contact, conversation and integration.
struct Fixture {
    store: Store,
    secrets: Arc<SecretBox>,
    tenant: TenantId,
    integration: Integration,
    contact_external_id: String,
    conversation: Conversation,
}

impl Fixture {
    async fn new(
        app: &TestApp,
        kind: &str,
        configure: impl FnOnce(&mut Integration, &SecretBox),
    ) -> Fixture {
        let secrets = Arc::new(SecretBox::from_settings(&app.settings.secrets));
        let tenant = atende::accounts::ensure_tenant(&app.store, "tenant-a")
            .await
            .expect("tenant")
            .id;
        let kind = IntegrationKind::parse(kind).expect("a known kind");
        let mut integration =
            Integration::bare(&tenant, kind, &format!("{} channel", kind.as_str()));
        configure(&mut integration, &secrets);
        let contact_external_id = "5511999998888@s.whatsapp.net".to_string();
        let (row, who, tenant_id) = (
            integration.clone(),
            ChannelIdentity {
                external_id: contact_external_id.clone(),
                name: Some("Ana".into()),
                ..ChannelIdentity::default()
            },
            tenant.clone(),
        );
        let conversation = app
            .store
            .run(move |conn| {
                integrations::insert(conn, &row)?;
                let contact = contacts::upsert_from_channel(conn, &tenant_id, &row.id, &who)?;
                let conversation =
                    Conversation::new_for(&tenant_id, &contact.id, Some(&row.id), &row.kind);
                conversations::insert(conn, &conversation)?;
                Ok(conversation)
            })
            .await
            .expect("fixture rows");
        Fixture {
            store: app.store.clone(),
            secrets,
            tenant,
            integration,
            contact_external_id,
            conversation,
        }
    }

    fn sender(&self, outbound: &OutboundSettings, events: &EventBus) -> ChannelSender {
        ChannelSender::new(
            self.store.clone(),
            outbound.clone(),
            self.secrets.clone(),
            events.clone(),
        )
    }

    async fn reply(&self, text: &str) -> Message {
        let new = NewMessage {
            tenant_id: self.tenant.clone(),
            conversation_id: self.conversation.id.clone(),
            sender_type: SenderType::AiAgent,
            sender_id: None,
            content: text.into(),
            content_type: "text".into(),
            direction: "outbound",
            integration_id: Some(self.integration.id.clone()),
            external_id: None,
            metadata: "{}".into(),
        };
        self.store
            .run(move |conn| messages::append(conn, new))
            .await
            .expect("reply stored")
    }

    fn target(&self, message: &Message) -> ReplyTarget {
        ReplyTarget {
            integration: std::sync::Arc::new(self.integration.clone()),
            contact_external_id: self.contact_external_id.clone(),
            conversation_id: self.conversation.id.clone(),
            message: message.clone(),
        }
    }

    /// Records the message's pending delivery (as the writer does with the reply) and hands
    /// it to `sender`.
    async fn send(&self, sender: &ChannelSender, message: &Message) {
        let delivery = ChannelDelivery::pending(&self.integration.id, message);
        let row = delivery.clone();
        self.store
            .run(move |conn| deliveries::insert(conn, &row))
            .await
            .expect("delivery recorded");
        sender.send(self.target(message), delivery, None);
    }

    /// Waits for the message's delivery to leave `pending` and returns it.
    async fn settled(&self, message: &MessageId) -> ChannelDelivery {
        for _ in 0..500 {
            let id = message.clone();
            let rows = self
                .store
                .run(move |conn| deliveries::for_message(conn, &id))
                .await
                .expect("deliveries");
            if let Some(row) = rows.into_iter().find(|d| d.status != deliveries::PENDING) {
                return row;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("delivery of message {message} still pending after 10 s");
    }
}

fn generic(receiver: &Receiver) -> impl FnOnce(&mut Integration, &SecretBox) + '_ {
    move |integration, secrets| {
        integration.secret = Some(secrets.seal(
            SealContext::new(&integration.tenant_id, SealedField::IntegrationSecret),
            HOOK_SECRET,
        ));
        integration.outbound_url = Some(receiver.url("/hooks/replies?token=abc"));
    }
}

fn evolution(receiver: &Receiver) -> impl FnOnce(&mut Integration, &SecretBox) + '_ {
    move |integration, secrets| {
        integration.base_url = Some(receiver.url("/evo"));
        integration.instance = Some("loja-1".into());
        integration.api_key = Some(secrets.seal(
            SealContext::new(&integration.tenant_id, SealedField::IntegrationApiKey),
            EVOLUTION_KEY,
        ));
    }
}

async fn next_event(
    events: &mut tokio::sync::broadcast::Receiver<TenantEvent>,
    kind: &str,
) -> TenantEvent {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = events.recv().await.expect("event bus open");
            if event.kind().as_str() == kind {
                return event;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {kind} event within 10 s"))
}

#[actix_web::test]
async fn a_generic_reply_is_retried_until_accepted_and_signed_every_time() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(&[500, 500]).await;
    let fixture = Fixture::new(&app, "generic", generic(&receiver)).await;
    let events = EventBus::new(16);
    let sender = fixture.sender(&app.settings.outbound, &events);

    let message = fixture.reply("Seu pedido saiu para entrega.").await;
    fixture.send(&sender, &message).await;
    let delivery = fixture.settled(&message.id).await;

    assert_eq!(delivery.status, "sent", "{delivery:?}");
    assert_eq!(delivery.attempts, 3);
    assert_eq!(delivery.last_status_code, Some(200));
    assert_eq!(
        delivery.last_error, None,
        "a success clears the earlier error"
    );
    assert_eq!(delivery.next_attempt_at, None);

    let hits = receiver.hits();
    assert_eq!(
        hits.iter().map(|h| h.answered).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    for hit in &hits {
        assert!(hit.signature_ok, "every attempt is signed: {hit:?}");
        assert_eq!(hit.path, "/hooks/replies");
        assert_eq!(hit.delivery.as_deref(), Some(delivery.id.as_str()));
        assert_eq!(
            hit.body,
            json!({
                "conversation_id": fixture.conversation.id,
                "contact": {"external_id": fixture.contact_external_id},
                "message": {"id": message.id, "seq": message.seq, "text": "Seu pedido saiu para entrega."},
            })
        );
    }
}

#[actix_web::test]
async fn a_refused_generic_reply_fails_at_once_with_an_event() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(&[400]).await;
    let fixture = Fixture::new(&app, "generic", generic(&receiver)).await;
    let events = EventBus::new(16);
    let mut listener = events.subscribe();
    let sender = fixture.sender(&app.settings.outbound, &events);

    let message = fixture.reply("Olá!").await;
    fixture.send(&sender, &message).await;
    let delivery = fixture.settled(&message.id).await;

    assert_eq!(delivery.status, "failed", "{delivery:?}");
    assert_eq!(delivery.attempts, 1, "a 400 is final");
    assert_eq!(delivery.last_status_code, Some(400));
    let error = delivery.last_error.clone().expect("reason recorded");
    assert!(error.contains("400"), "{error}");
    assert!(
        !error.contains("token=abc"),
        "the URL stays out of the reason: {error}"
    );
    assert_eq!(receiver.hits().len(), 1);
    assert!(receiver.hits()[0].signature_ok);

    let event = next_event(&mut listener, "delivery_failed").await;
    assert_eq!(event.tenant_id, fixture.tenant);
    assert_eq!(
        event.conversation_id.as_ref(),
        Some(&fixture.conversation.id)
    );
    assert_eq!(event.data()["message_id"], json!(message.id));
    assert_eq!(event.data()["delivery_id"], json!(delivery.id));
    assert_eq!(event.data()["status_code"], json!(400));
    assert!(event.data()["reason"]
        .as_str()
        .is_some_and(|r| r.contains("400")));
}

#[actix_web::test]
async fn retries_stop_at_max_attempts() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(&[503, 503, 503, 503]).await;
    let fixture = Fixture::new(&app, "generic", generic(&receiver)).await;
    let events = EventBus::new(16);
    let mut listener = events.subscribe();
    let outbound = OutboundSettings {
        max_attempts: 3,
        ..app.settings.outbound.clone()
    };
    let sender = fixture.sender(&outbound, &events);

    let message = fixture.reply("Olá!").await;
    fixture.send(&sender, &message).await;
    let delivery = fixture.settled(&message.id).await;

    assert_eq!(delivery.status, "failed");
    assert_eq!(delivery.attempts, 3);
    assert_eq!(delivery.last_status_code, Some(503));
    assert_eq!(receiver.hits().len(), 3);
    let event = next_event(&mut listener, "delivery_failed").await;
    assert_eq!(event.data()["attempts"], json!(3));
}

#[actix_web::test]
async fn evolution_replies_use_send_text_with_the_apikey_and_the_number() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(&[201]).await;
    let fixture = Fixture::new(&app, "evolution", evolution(&receiver)).await;
    let events = EventBus::new(16);
    let sender = fixture.sender(&app.settings.outbound, &events);

    let message = fixture.reply("Bom dia! Como posso ajudar?").await;
    fixture.send(&sender, &message).await;
    let delivery = fixture.settled(&message.id).await;

    assert_eq!(delivery.status, "sent", "{delivery:?}");
    assert_eq!(delivery.last_status_code, Some(201));
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].path, "/evo/message/sendText/loja-1");
    assert_eq!(hits[0].apikey.as_deref(), Some(EVOLUTION_KEY));
    assert_eq!(
        hits[0].body,
        json!({"number": "5511999998888", "text": "Bom dia! Como posso ajudar?"})
    );
}

#[actix_web::test]
async fn a_receiver_echoing_the_apikey_does_not_leak_it_into_the_log() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(&[401]).await;
    receiver.echo_apikey();
    let fixture = Fixture::new(&app, "evolution", evolution(&receiver)).await;
    let events = EventBus::new(16);
    let mut listener = events.subscribe();
    let sender = fixture.sender(&app.settings.outbound, &events);

    let message = fixture.reply("Olá!").await;
    fixture.send(&sender, &message).await;
    let delivery = fixture.settled(&message.id).await;

    assert_eq!(delivery.status, "failed");
    let error = delivery.last_error.expect("reason");
    assert!(
        error.contains("401") && error.contains("[redacted]"),
        "{error}"
    );
    assert!(!error.contains(EVOLUTION_KEY), "{error}");
    let event = next_event(&mut listener, "delivery_failed").await;
    assert!(!event.data().to_string().contains(EVOLUTION_KEY));
}

#[actix_web::test]
async fn replies_of_one_conversation_arrive_in_order_despite_retries() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(&[500, 500]).await;
    let fixture = Fixture::new(&app, "generic", generic(&receiver)).await;
    let events = EventBus::new(16);
    let sender = fixture.sender(&app.settings.outbound, &events);

    let first = fixture.reply("Um momento, vou verificar.").await;
    let second = fixture.reply("Encontrei: chega amanhã.").await;
    fixture.send(&sender, &first).await;
    fixture.send(&sender, &second).await;
    assert_eq!(fixture.settled(&first.id).await.status, "sent");
    assert_eq!(fixture.settled(&second.id).await.status, "sent");

    let order: Vec<(Value, u16)> = receiver
        .hits()
        .into_iter()
        .map(|h| (h.body["message"]["id"].clone(), h.answered))
        .collect();
    let (first_id, second_id) = (json!(first.id), json!(second.id));
    assert_eq!(
        order,
        [
            (first_id.clone(), 500),
            (first_id, 500),
            (json!(first.id), 200),
            (second_id, 200)
        ]
    );
}

#[actix_web::test]
async fn private_targets_are_refused_when_not_allowed() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(&[]).await;
    let fixture = Fixture::new(&app, "generic", generic(&receiver)).await;
    let events = EventBus::new(16);
    let outbound = OutboundSettings {
        allow_private_targets: false,
        ..app.settings.outbound.clone()
    };
    let sender = fixture.sender(&outbound, &events);

    let message = fixture.reply("Olá!").await;
    fixture.send(&sender, &message).await;
    let delivery = fixture.settled(&message.id).await;

    assert_eq!(delivery.status, "failed");
    assert_eq!(delivery.attempts, 1, "a forbidden target is final");
    assert_eq!(delivery.last_status_code, None);
    let error = delivery.last_error.expect("reason");
    assert!(error.contains("loopback"), "{error}");
    assert!(
        receiver.hits().is_empty(),
        "nothing reached the loopback receiver"
    );
}

#[actix_web::test]
async fn webchat_replies_need_no_request() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::new(&app, "webchat", |_, _| {}).await;
    let events = EventBus::new(16);
    let sender = fixture.sender(&app.settings.outbound, &events);

    let message = fixture.reply("Olá!").await;
    fixture.send(&sender, &message).await;
    let delivery = fixture.settled(&message.id).await;
    assert_eq!(delivery.status, "sent");
    assert_eq!(delivery.attempts, 1);
    assert_eq!(delivery.last_status_code, None);
}

#[actix_web::test]
async fn pending_deliveries_resume_after_a_restart() {
    // The sender built below stands for the restarted process. The app's own poller (its
    // first poll is one interval after start) must not take the rows too: one process runs
    // one sender, and two in one process share a node id, so claims would not part them.
    let app = TestApp::spawn_with(&[("cluster.poll_interval_ms", "3600000")]).await;
    let receiver = Receiver::start(&[]).await;
    let fixture = Fixture::new(&app, "generic", generic(&receiver)).await;

    // As a previous run left them: one reply already tried once, one whose message is gone.
    let message = fixture.reply("Resposta pendente").await;
    let mut interrupted = ChannelDelivery::pending(&fixture.integration.id, &message);
    interrupted.attempts = 1;
    interrupted.last_status_code = Some(503);
    interrupted.last_error = Some("HTTP 503".into());
    let mut orphan = ChannelDelivery::pending(&fixture.integration.id, &message);
    orphan.message_id = MessageId::new();
    let rows = (interrupted.clone(), orphan.clone());
    fixture
        .store
        .run(move |conn| {
            deliveries::insert(conn, &rows.0)?;
            deliveries::insert(conn, &rows.1)
        })
        .await
        .expect("pending rows");

    let events = EventBus::new(16);
    let mut listener = events.subscribe();
    let sender = fixture.sender(&app.settings.outbound, &events);
    assert_eq!(sender.resume_pending().await.expect("resumed"), 1);
    // Read while the first resume may still be sending it: never sent twice either way.
    assert!(sender.resume_pending().await.expect("resumed again") <= 1);

    let delivery = fixture.settled(&message.id).await;
    for _ in 0..500 {
        if sender.in_flight() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(sender.in_flight(), 0, "every resumed job ran");
    assert_eq!(
        sender.resume_pending().await.expect("resumed once more"),
        0,
        "nothing is owed once it was sent"
    );
    assert_eq!(delivery.id, interrupted.id);
    assert_eq!(delivery.status, "sent");
    assert_eq!(delivery.attempts, 2, "the earlier attempt still counts");
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    assert!(hits[0].signature_ok);
    assert_eq!(hits[0].body["message"]["text"], "Resposta pendente");

    let event = next_event(&mut listener, "delivery_failed").await;
    assert_eq!(event.data()["delivery_id"], json!(orphan.id));
    let id = orphan.id.clone();
    let orphan = fixture
        .store
        .run(move |conn| deliveries::find(conn, &id))
        .await
        .expect("orphan row");
    assert_eq!(orphan.status, "failed");
}
