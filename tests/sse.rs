//! `GET /api/v1/events`: the tenant's events as SSE, resumable with `Last-Event-ID` from a
//! bounded buffer, with keep-alive comments, for overseers of that tenant only.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use support::engine::{create, SECRET};
use support::ws::SseClient;
use support::TestApp;

const WAIT: Duration = Duration::from_secs(10);

async fn inbound(app: &TestApp, integration: &str, contact: &str, id: &str) -> String {
    let body = support::webhook::generic_body(contact, None, id, &format!("mensagem {id}"));
    let accepted = app.signed_webhook(integration, &body).await;
    accepted["message_id"].as_str().expect("id").to_string()
}

/// Waits until a client that stayed connected got the `message_received` of `message`: the
/// log holds it (and, in order, every event before it) by then.
async fn seen_live(watcher: &mut SseClient, message: &str) {
    loop {
        let event = watcher
            .next_of("message_received", WAIT)
            .await
            .expect("the message's event");
        if event.data["data"]["message_id"] == message {
            return;
        }
    }
}

#[actix_web::test]
async fn events_stream_live_and_resume_after_a_disconnect() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let integration = create(
        &app,
        &admin,
        "/api/v1/integrations",
        &json!({"kind": "generic", "name": "gw", "secret": SECRET}),
    )
    .await;
    let mut sse = SseClient::open(&app, &admin.token, None).await;
    inbound(&app, &integration, "c1", "m1").await;
    let started = sse
        .next_of("conversation_started", WAIT)
        .await
        .expect("started");
    assert_eq!(started.data["type"], "conversation_started");
    assert_eq!(started.data["tenant_id"], admin.tenant_id.as_str());
    assert_eq!(started.data["data"]["channel"], "generic");
    let received = sse
        .next_of("message_received", WAIT)
        .await
        .expect("received");
    let last_id = received.id.clone().expect("event id");
    let mut watcher = SseClient::open(&app, &admin.token, None).await;
    drop(sse);

    // Missed while away: three messages.
    let mut missed = Vec::new();
    for i in 2..=4 {
        missed.push(inbound(&app, &integration, "c1", &format!("m{i}")).await);
    }
    seen_live(&mut watcher, &missed[2]).await;
    let mut sse = SseClient::open(&app, &admin.token, Some(&last_id)).await;
    let mut got = Vec::new();
    let mut ids = Vec::new();
    while got.len() < 3 {
        let event = sse.next(WAIT).await.expect("missed event");
        ids.push(event.id.clone().expect("id"));
        if event.event == "message_received" {
            got.push(
                event.data["data"]["message_id"]
                    .as_str()
                    .expect("id")
                    .to_string(),
            );
        }
    }
    assert_eq!(got, missed, "exactly the missed messages, in order");
    let seq = |id: &str| {
        id.rsplit('-')
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .expect("n")
    };
    assert!(ids.windows(2).all(|w| seq(&w[0]) < seq(&w[1])), "{ids:?}");
    assert!(seq(&ids[0]) > seq(&last_id));
    // …then live.
    let live = inbound(&app, &integration, "c1", "m5").await;
    let event = sse.next_of("message_received", WAIT).await.expect("live");
    assert_eq!(event.data["data"]["message_id"], live.as_str());

    // An id from another run (or too old) asks the client to reload state first.
    let mut sse = SseClient::open(&app, &admin.token, Some("00000000-5")).await;
    let first = sse.next(WAIT).await.expect("first event");
    assert_eq!(first.event, "resync");
}

#[actix_web::test]
async fn a_small_buffer_reports_the_gap() {
    let app = TestApp::spawn_with(&[("realtime.sse_buffer_events", "2")]).await;
    let admin = app.admin().await;
    let integration = create(
        &app,
        &admin,
        "/api/v1/integrations",
        &json!({"kind": "generic", "name": "gw", "secret": SECRET}),
    )
    .await;
    let mut sse = SseClient::open(&app, &admin.token, None).await;
    inbound(&app, &integration, "c1", "m1").await;
    let seen = sse.next_of("message_received", WAIT).await.expect("event");
    let mut watcher = SseClient::open(&app, &admin.token, None).await;
    drop(sse);
    let mut last = String::new();
    for i in 2..=6 {
        last = inbound(&app, &integration, "c1", &format!("m{i}")).await;
    }
    seen_live(&mut watcher, &last).await;
    let mut sse = SseClient::open(&app, &admin.token, seen.id.as_deref()).await;
    assert_eq!(sse.next(WAIT).await.expect("event").event, "resync");
    // Then what is still kept: the last two.
    let kept: Vec<String> = vec![
        sse.next(WAIT).await.expect("kept").event,
        sse.next(WAIT).await.expect("kept").event,
    ];
    assert_eq!(kept.len(), 2);
}

#[actix_web::test]
async fn keep_alive_comments_flow_on_an_idle_stream() {
    let app = TestApp::spawn_with(&[("realtime.sse_keepalive_seconds", "1")]).await;
    let admin = app.admin().await;
    let mut sse = SseClient::open(&app, &admin.token, None).await;
    assert!(sse.next(Duration::from_millis(2500)).await.is_none());
    assert!(
        sse.comments >= 2,
        "connected + at least one keep-alive: {}",
        sse.comments
    );
}

#[actix_web::test]
async fn only_the_tenants_overseers_get_its_events() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let integration = create(
        &app,
        &admin,
        "/api/v1/integrations",
        &json!({"kind": "generic", "name": "gw", "secret": SECRET}),
    )
    .await;
    let other = app.other_tenant("tenant-b").await;
    let mut b = SseClient::open(&app, &other.token, None).await;
    let mut a = SseClient::open(&app, &admin.token, None).await;
    inbound(&app, &integration, "c1", "m1").await;
    a.next_of("message_received", WAIT)
        .await
        .expect("tenant A sees it");
    assert!(
        b.next(Duration::from_millis(800)).await.is_none(),
        "tenant B sees nothing"
    );

    let agent = app
        .user_with_role(&admin, "agent", "agent@tenant-a.test")
        .await;
    let (status, body) = app.get("/api/v1/events", &agent.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app
        .call(reqwest::Method::GET, "/api/v1/events", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // EventSource cannot set headers: ?token= works too.
    let response = app
        .http
        .get(app.url(&format!("/api/v1/events?token={}", admin.token)))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
}
