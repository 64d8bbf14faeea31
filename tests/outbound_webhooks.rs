//! Outbound event webhooks on both backends: a receiver that fails three times then succeeds
//! gets the event exactly once successfully, with four attempts logged and a valid signature
//! on each; a delivery interrupted by a crash is finished by the next start; the admin API
//! validates URLs, events and secrets, never returns the secret and keeps tenants apart.

mod support;

use std::time::Duration;

use atende::app::Application;
use atende::engine::webhooks;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::engine::{eventually, SECRET};
use support::receiver::ScriptedReceiver;
use support::*;

const HOOK_SECRET: &str = "webhook-signing-secret-0001";

#[derive(Debug, Clone)]
struct Hit {
    signature_ok: bool,
    delivery: Option<String>,
    event: Option<String>,
    body: Vec<u8>,
    answered: u16,
}

/// A webhook receiver as an integrator would write it: checks the signature within the
/// replay window, then answers from a script (200 once it runs out).
struct Receiver(ScriptedReceiver);

impl Receiver {
    async fn start(script: &[u16]) -> Receiver {
        Receiver(ScriptedReceiver::start(script).await)
    }

    fn url(&self) -> String {
        self.0.url("/hooks/atende")
    }

    fn hits(&self) -> Vec<Hit> {
        let now = chrono::Utc::now().timestamp();
        self.0
            .received()
            .into_iter()
            .map(|r| Hit {
                signature_ok: r.header(webhooks::SIGNATURE_HEADER).is_some_and(|h| {
                    atende::channels::signature::verify_timestamped(
                        HOOK_SECRET.as_bytes(),
                        h,
                        &r.body,
                        now,
                        300,
                    )
                    .is_ok()
                }),
                delivery: r.header(webhooks::DELIVERY_HEADER).map(str::to_string),
                event: r.header(webhooks::EVENT_HEADER).map(str::to_string),
                answered: r.answered,
                body: r.body,
            })
            .collect()
    }
}

/// A generic integration to make events with, and a signed inbound message on it.
async fn generic_integration(http: &reqwest::Client, base: &str, token: &str) -> String {
    let response: Value = http
        .post(format!("{base}/api/v1/integrations"))
        .bearer_auth(token)
        .json(&json!({"kind": "generic", "name": "site", "secret": SECRET}))
        .send()
        .await
        .expect("integration")
        .json()
        .await
        .expect("json");
    response["id"].as_str().expect("integration id").to_string()
}

async fn inbound(http: &reqwest::Client, base: &str, integration: &str, message_id: &str) {
    let body = support::webhook::generic_body("cliente-1", Some("Cliente Um"), message_id, "Olá");
    let url = format!("{base}/webhooks/generic/{integration}");
    support::webhook::post_signed(http, &url, &body).await;
}

async fn create_webhook(http: &reqwest::Client, base: &str, token: &str, url: &str) -> Value {
    let response = http
        .post(format!("{base}/api/v1/webhooks"))
        .bearer_auth(token)
        .json(&json!({"url": url, "events": ["conversation_started"], "secret": HOOK_SECRET}))
        .send()
        .await
        .expect("webhook");
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.expect("json")
}

async fn deliveries(http: &reqwest::Client, base: &str, token: &str, webhook: &str) -> Vec<Value> {
    let page: Value = http
        .get(format!("{base}/api/v1/webhooks/{webhook}/deliveries"))
        .bearer_auth(token)
        .send()
        .await
        .expect("deliveries")
        .json()
        .await
        .expect("json");
    page["items"].as_array().cloned().unwrap_or_default()
}

async fn token(http: &reqwest::Client, base: &str) -> String {
    let login: Value = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    login["token"].as_str().expect("token").to_string()
}

#[actix_web::test]
async fn a_receiver_failing_three_times_gets_the_event_once_with_four_signed_attempts_logged() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let receiver = Receiver::start(&[500, 500, 503]).await;
    let hook = create_webhook(&app.http, &app.base, &admin.token, &receiver.url()).await;
    let hook_id = hook["id"].as_str().expect("id").to_string();
    let integration = generic_integration(&app.http, &app.base, &admin.token).await;

    inbound(&app.http, &app.base, &integration, "m-1").await;

    let delivered = eventually(Duration::from_secs(15), &mut || async {
        let items = deliveries(&app.http, &app.base, &admin.token, &hook_id).await;
        (items.len() == 1 && items[0]["status"] == "succeeded").then(|| items[0].clone())
    })
    .await
    .expect("delivery succeeded");

    let hits = receiver.hits();
    assert_eq!(hits.len(), 4, "{hits:?}");
    assert_eq!(
        hits.iter().map(|h| h.answered).collect::<Vec<_>>(),
        vec![500, 500, 503, 200]
    );
    assert_eq!(
        hits.iter().filter(|h| h.answered == 200).count(),
        1,
        "exactly one success"
    );
    assert!(
        hits.iter().all(|h| h.signature_ok),
        "every attempt is signed"
    );
    assert!(hits
        .iter()
        .all(|h| h.event.as_deref() == Some("conversation_started")));
    // The same delivery id and the same body on every retry: receivers can de-duplicate.
    assert!(hits.iter().all(|h| h.delivery == hits[0].delivery));
    assert!(hits.iter().all(|h| h.body == hits[0].body));
    assert_eq!(hits[0].delivery.as_deref(), delivered["id"].as_str());

    let payload: Value = serde_json::from_slice(&hits[0].body).expect("JSON payload");
    assert_eq!(payload["event"], "conversation_started");
    assert_eq!(payload["tenant_id"], admin.tenant_id.as_str());
    assert!(payload["conversation_id"].is_string());
    assert!(payload["id"].is_string());
    assert!(payload["occurred_at"].is_string());
    assert_eq!(payload["data"]["channel"], "generic");

    assert_eq!(delivered["attempts"], 4);
    assert_eq!(delivered["last_status_code"], 200);
    assert_eq!(delivered["last_error"], Value::Null);
    assert_eq!(delivered["response_excerpt"], "receiver answered 200");
    assert_eq!(delivered["payload"], payload);
    let log = delivered["attempt_log"].as_array().expect("attempt log");
    assert_eq!(log.len(), 4, "{delivered}");
    for (i, (entry, code)) in log.iter().zip([500, 500, 503, 200]).enumerate() {
        assert_eq!(entry["attempt"], i + 1);
        assert_eq!(entry["status_code"], code);
        assert!(entry["latency_ms"].as_i64().is_some_and(|ms| ms >= 0));
        assert_eq!(
            entry["response_excerpt"],
            format!("receiver answered {code}")
        );
        assert_eq!(entry["error"].is_null(), code == 200, "{entry}");
    }

    // The delivery is final (succeeded, above): nothing more is owed to the receiver.
    assert_eq!(receiver.hits().len(), 4);

    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("atende_webhook_failures_total 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"atende_webhook_deliveries_total{result="succeeded"} 1"#),
        "{metrics}"
    );
}

#[actix_web::test]
async fn a_delivery_interrupted_by_a_crash_completes_after_the_restart() {
    let db = TestDb::create();
    let receiver = Receiver::start(&[500, 502]).await;

    // The first run: its retry is due a few seconds after the first failure, and the process
    // dies before that (its whole actix system is stopped, as a crash would).
    let slow_retry = test_settings(
        &db.url(),
        &[
            ("webhooks.backoff_initial_ms", "4000"),
            ("webhooks.backoff_max_ms", "4000"),
        ],
    );
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let first_run = std::thread::spawn(move || {
        let system = actix_web::rt::System::new();
        system.block_on(async move {
            let app = Application::build(slow_retry)
                .await
                .expect("first run starts");
            port_tx.send(app.port()).expect("port");
            let server = app.run_until_stopped();
            tokio::select! {
                _ = server => {}
                _ = stop_rx => {}
            }
            actix_web::rt::System::current().stop();
        });
    });
    let port = port_rx.recv().expect("first run port");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let token1 = token(&http, &base).await;
    let hook = create_webhook(&http, &base, &token1, &receiver.url()).await;
    let hook_id = hook["id"].as_str().expect("id").to_string();
    let integration = generic_integration(&http, &base, &token1).await;
    inbound(&http, &base, &integration, "m-crash").await;

    let pending = eventually(Duration::from_secs(10), &mut || async {
        let items = deliveries(&http, &base, &token1, &hook_id).await;
        (items.len() == 1 && items[0]["attempts"] == 1).then(|| items[0].clone())
    })
    .await
    .expect("first attempt recorded");
    assert_eq!(pending["status"], "pending");
    assert!(pending["next_attempt_at"].is_string());
    let _ = stop_tx.send(());
    first_run.join().expect("first run stopped");
    assert_eq!(receiver.hits().len(), 1, "the first run made one attempt");

    // The restart resumes the pending delivery at its due time and finishes it.
    let app = Application::build(test_settings(&db.url(), &[]))
        .await
        .expect("second run starts");
    let base = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    let token2 = token(&http, &base).await;
    let done = eventually(Duration::from_secs(20), &mut || async {
        let items = deliveries(&http, &base, &token2, &hook_id).await;
        (items.len() == 1 && items[0]["status"] == "succeeded").then(|| items[0].clone())
    })
    .await
    .expect("delivery finished after the restart");

    let hits = receiver.hits();
    assert_eq!(
        hits.iter().map(|h| h.answered).collect::<Vec<_>>(),
        vec![500, 502, 200],
        "{hits:?}"
    );
    assert!(hits.iter().all(|h| h.signature_ok));
    assert!(hits.iter().all(|h| h.delivery == hits[0].delivery));
    assert_eq!(done["attempts"], 3);
    assert_eq!(done["attempt_log"].as_array().map(Vec::len), Some(3));
    // Final (succeeded): nothing more is owed.
    assert_eq!(
        receiver.hits().len(),
        3,
        "exactly one success, no duplicate"
    );
}

#[actix_web::test]
async fn the_admin_api_validates_hides_the_secret_and_keeps_tenants_apart() {
    // Private targets refused, as in production.
    let app = TestApp::spawn_with(&[("outbound.allow_private_targets", "false")]).await;
    let admin = app.admin().await;
    let good = json!({"url": "https://hooks.example.com/atende", "events": ["message_received", "conversation_closed"], "secret": HOOK_SECRET});
    for (body, field) in [
        (
            json!({"url": "ftp://hooks.example.com/x", "events": ["message_received"], "secret": HOOK_SECRET}),
            "url",
        ),
        (
            json!({"url": "http://127.0.0.1:9000/x", "events": ["message_received"], "secret": HOOK_SECRET}),
            "url",
        ),
        (
            json!({"url": "http://10.1.2.3/x", "events": ["message_received"], "secret": HOOK_SECRET}),
            "url",
        ),
        (
            json!({"url": "http://localhost/x", "events": ["message_received"], "secret": HOOK_SECRET}),
            "url",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "events": [], "secret": HOOK_SECRET}),
            "events",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "events": ["message_deleted"], "secret": HOOK_SECRET}),
            "events",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "events": ["message_received"], "secret": "short"}),
            "secret",
        ),
    ] {
        let (status, error) = app.post("/api/v1/webhooks", &admin.token, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert_eq!(error["code"], "VALIDATION_ERROR");
        assert_eq!(error["details"]["field"], field, "{error}");
    }
    let (status, error) = app
        .post(
            "/api/v1/webhooks",
            &admin.token,
            &json!({"url": "https://hooks.example.com/x", "events": ["message_received"], "secret": HOOK_SECRET, "extra": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");

    let (status, text) = app
        .call_text(
            Method::POST,
            "/api/v1/webhooks",
            Some(&admin.token),
            Some(&good),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    assert!(!text.contains(HOOK_SECRET), "the secret is write-only");
    let created: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        created["events"],
        json!(["message_received", "conversation_closed"])
    );
    assert_eq!(created["has_secret"], true);
    assert_eq!(created["enabled"], true);
    let id = created["id"].as_str().expect("id").to_string();

    let (status, text) = app
        .call_text(Method::GET, "/api/v1/webhooks", Some(&admin.token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!text.contains(HOOK_SECRET));
    let (status, updated) = app
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            &admin.token,
            &json!({"enabled": false, "secret": "another-secret-of-length"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["enabled"], false);
    let (status, _) = app
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            &admin.token,
            &json!({"url": "http://192.168.0.10/x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .get(
            &format!("/api/v1/webhooks/{id}/deliveries?status=lost"),
            &admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Another tenant sees nothing; a supervisor may not manage webhooks.
    let other = app.other_tenant("tenant-b").await;
    for path in [
        format!("/api/v1/webhooks/{id}"),
        format!("/api/v1/webhooks/{id}/deliveries"),
    ] {
        let (status, _) = app.get(&path, &other.token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = app
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            &other.token,
            &json!({"enabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .delete(&format!("/api/v1/webhooks/{id}"), &other.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = app.get("/api/v1/webhooks", &other.token).await;
    assert_eq!(page["items"], json!([]));
    let supervisor = app
        .user_with_role(&admin, "supervisor", "sup@tenant-a.test")
        .await;
    let (status, _) = app.get("/api/v1/webhooks", &supervisor.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, _) = app
        .delete(&format!("/api/v1/webhooks/{id}"), &admin.token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .get(&format!("/api/v1/webhooks/{id}"), &admin.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn only_enabled_subscribed_webhooks_receive_and_message_events_carry_the_message() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let subscribed = Receiver::start(&[]).await;
    let other_event = Receiver::start(&[]).await;
    let disabled = Receiver::start(&[]).await;
    let (status, hook) = app
        .post(
            "/api/v1/webhooks",
            &admin.token,
            &json!({"url": subscribed.url(), "events": ["message_received"], "secret": HOOK_SECRET}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let (_, other_hook) = app
        .post(
            "/api/v1/webhooks",
            &admin.token,
            &json!({"url": other_event.url(), "events": ["conversation_closed"], "secret": HOOK_SECRET}),
        )
        .await;
    let (_, disabled_hook) = app
        .post(
            "/api/v1/webhooks",
            &admin.token,
            &json!({"url": disabled.url(), "events": ["message_received"], "secret": HOOK_SECRET, "enabled": false}),
        )
        .await;
    let integration = generic_integration(&app.http, &app.base, &admin.token).await;
    inbound(&app.http, &app.base, &integration, "m-events").await;

    let hit = eventually(Duration::from_secs(10), &mut || async {
        subscribed.hits().first().cloned()
    })
    .await
    .expect("message_received delivered");
    let payload: Value = serde_json::from_slice(&hit.body).expect("json");
    assert_eq!(payload["event"], "message_received");
    assert_eq!(payload["data"]["message"]["content"], "Olá");
    assert_eq!(payload["data"]["message"]["sender_type"], "contact");
    assert!(hit.signature_ok);
    // The event's fan-out is recorded (the subscribed delivery succeeded): a delivery owed to
    // the others would have its row by now.
    let log = |hook: &Value| {
        format!(
            "/api/v1/webhooks/{}/deliveries",
            hook["id"].as_str().unwrap_or_default()
        )
    };
    eventually(Duration::from_secs(10), &mut || async {
        let (_, page) = app.get(&log(&hook), &admin.token).await;
        (page["items"][0]["status"] == "succeeded").then_some(())
    })
    .await
    .expect("the subscribed delivery is recorded");
    for other in [&other_hook, &disabled_hook] {
        let (status, page) = app.get(&log(other), &admin.token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["items"], json!([]), "{other}");
    }
    assert_eq!(subscribed.hits().len(), 1);
    assert!(other_event.hits().is_empty());
    assert!(disabled.hits().is_empty());
}
