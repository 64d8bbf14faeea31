//! Regression tests for issue 12's findings 6, 7, 11, 13 and 14, over real HTTP and WebSocket:
//! dates from input that once panicked a worker, store threads that died with a panicking job,
//! web-chat visitors spending without bound, internal escalation reasons on the customer's
//! socket, PDF extraction that outlived its timeout, sealed secrets movable between rows, and
//! inbound signatures without a timestamp.

mod support;

use atende::store::{StoreError, StoreResult};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::ws::WsClient;
use support::{Session, TestApp};

async fn visitor(app: &TestApp, integration: &str) -> (String, String) {
    app.webchat_visitor(integration, "Visitor").await
}

fn assert_validation(status: StatusCode, body: &Value, what: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
    assert_eq!(body["code"], "VALIDATION_ERROR", "{what}: {body}");
    assert!(body["error"].is_string(), "{what}: {body}");
}

// ---- 11: dates and times from input are total; store threads survive a panic ----

#[actix_web::test]
async fn extreme_dates_get_a_validation_error_and_the_workers_live_on() {
    // One HTTP worker, so a panicking request would take the only worker down with it.
    let app = TestApp::spawn_with(&[("server.workers", "1")]).await;
    let admin = app.admin().await;
    for path in [
        "/api/v1/calendar/available-slots?date=-262143-01-01",
        "/api/v1/calendar/available-slots?date=%2B262142-12-31",
        "/api/v1/calendar/available-slots?date=262142-12-31",
        "/api/v1/analytics/dashboard?to=-262143-01-01",
        "/api/v1/analytics/dashboard?from=-262143-01-01&to=2026-01-01",
        "/api/v1/analytics/dashboard?to=262142-12-31",
    ] {
        let (status, body) = app.get(path, &admin.token).await;
        assert_validation(status, &body, path);
    }
    for body in [
        json!({"starts_at": "9999-12-31T23:00:00Z", "duration_minutes": u32::MAX}),
        json!({"starts_at": "0001-01-01T00:00:00Z", "duration_minutes": 30}),
        json!({"starts_at": "2030-01-01T10:00:00Z", "ends_at": "0001-01-01T00:00:00Z"}),
    ] {
        let (status, reply) = app
            .post("/api/v1/calendar/events", &admin.token, &body)
            .await;
        assert_validation(status, &reply, &body.to_string());
    }
    let (status, slots) = app
        .get(
            &format!(
                "/api/v1/calendar/available-slots?date=2030-01-01&user_id={}",
                admin.user_id
            ),
            &admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{slots}");

    // The same dates on the customer's socket.
    let integration = app.webchat_integration(&admin).await;
    let (token, conversation) = visitor(&app, &integration).await;
    let (mut customer, _) = WsClient::connect(&app, &token).await;
    for (date, time) in [
        ("-262143-01-01", "10:00"),
        ("262142-12-31", "23:59"),
        ("2030-01-01", "+262142-12-31T23:59:59Z"),
        ("2030-01-01", "0001-01-01T00:00:00Z"),
    ] {
        customer
            .send(
                json!({"type": "schedule_confirm", "conversation_id": conversation,
                "date": date, "time": time, "email": "a@b.co"}),
            )
            .await;
        let error = customer.error().await;
        assert_eq!(error["code"], "VALIDATION_ERROR", "{date} {time}: {error}");
    }
    customer.send(json!({"type": "ping"})).await;
    customer.next_of("pong").await;
}

#[actix_web::test]
async fn a_panicking_store_job_costs_only_itself() {
    // One store thread: had the panic killed it, nothing would reach the store afterwards.
    let app = TestApp::spawn_with(&[("database.store_threads", "1")]).await;
    let outcome: StoreResult<()> = app
        .store
        .run(|_conn| -> StoreResult<()> { panic!("a bug inside a store job") })
        .await;
    match outcome {
        Err(StoreError::Panicked(reason)) => assert!(reason.contains("a bug"), "{reason}"),
        other => panic!("expected a caught panic, got {other:?}"),
    }
    for _ in 0..3 {
        let pong: StoreResult<i32> = app.store.run(|_conn| Ok(7)).await;
        assert_eq!(pong.ok(), Some(7));
    }
    // And a request that needs the store (log-in reads the user) still works.
    let admin = app.admin().await;
    let (status, body) = app.get("/api/v1/users", &admin.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let response = app.http.get(app.url("/ready")).send().await.expect("ready");
    assert_eq!(response.status(), StatusCode::OK);
}

// ---- 14: inbound generic signatures carry a timestamp ----

#[actix_web::test]
async fn inbound_signatures_with_a_timestamp_are_accepted_inside_the_window_only() {
    use atende::channels::signature::sign_timestamped;
    let fx = support::engine::fixture(&[], json!({})).await;
    let secret = support::engine::SECRET.as_bytes();
    let payload = |external_id: &str, text: &str| {
        json!({
            "contact": {"external_id": "c-1", "name": "Customer"},
            "message": {"external_id": external_id, "text": text},
        })
        .to_string()
    };
    let now = chrono::Utc::now().timestamp();

    let fresh = payload("m-fresh", "signed just now");
    let (status, accepted) = fx
        .inbound_raw(
            &fresh,
            Some(&sign_timestamped(secret, now, fresh.as_bytes())),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let conversation = accepted["conversation_id"]
        .as_str()
        .expect("id")
        .to_string();

    // A captured request replayed after the window, and one dated in the future (well past
    // the 300 s window: a loaded machine may take seconds between `now` and the check).
    for (external_id, t) in [("m-stale", now - 400), ("m-future", now + 400)] {
        let body = payload(external_id, "replayed");
        let (status, refused) = fx
            .inbound_raw(&body, Some(&sign_timestamped(secret, t, body.as_bytes())))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{external_id}: {refused}");
        assert_eq!(refused["code"], "AUTH_ERROR");
    }
    // Moving the timestamp into the window breaks the signature.
    let body = payload("m-moved", "replayed");
    let moved = sign_timestamped(secret, now - 400, body.as_bytes())
        .replace(&format!("t={}", now - 400), &format!("t={now}"));
    let (status, _) = fx.inbound_raw(&body, Some(&moved)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The legacy form still works.
    let legacy = payload("m-legacy", "legacy signature");
    let (status, accepted) = fx
        .inbound_raw(
            &legacy,
            Some(&atende::channels::signature::sign(
                secret,
                legacy.as_bytes(),
            )),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["conversation_id"], conversation.as_str());

    let texts: Vec<String> = fx
        .messages(&conversation)
        .await
        .iter()
        .filter(|m| m["sender_type"] == "contact")
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(texts, vec!["signed just now", "legacy signature"]);
}

// ---- 6: a web-chat visitor's summaries and bookings are capped; reasons stay internal ----

/// A human who works every day 08:00–20:00 and takes web chat conversations.
async fn host(app: &TestApp, admin: &Session) -> Session {
    support::calendar::all_week_agent(app, admin, "Ana Host")
        .await
        .0
}

#[actix_web::test]
async fn a_visitor_gets_a_bounded_number_of_summaries_and_meetings() {
    let app = TestApp::spawn_with(&[
        ("webchat.max_summaries_per_conversation", "2"),
        ("webchat.max_bookings_per_conversation", "1"),
    ])
    .await;
    let admin = app.admin().await;
    let ana = host(&app, &admin).await;
    let integration = app.webchat_integration(&admin).await;
    let (token, conversation) = visitor(&app, &integration).await;
    let (mut customer, _) = WsClient::connect(&app, &token).await;
    customer
        .send(
            json!({"type": "message", "conversation_id": conversation, "content": "oi, tudo bem?"}),
        )
        .await;
    customer.next_of("message_sent").await;

    for _ in 0..2 {
        customer
            .send(json!({"type": "request_summary", "conversation_id": conversation}))
            .await;
        let summary = customer.next_of("summary").await;
        assert_eq!(summary["conversation_id"], conversation.as_str());
    }
    for _ in 0..3 {
        customer
            .send(json!({"type": "request_summary", "conversation_id": conversation}))
            .await;
        let error = customer.error().await;
        assert_eq!(error["code"], "RATE_LIMITED", "{error}");
    }
    // Staff reading the conversation are not held to the visitor's cap.
    let (mut staff, _) = WsClient::connect(&app, &admin.token).await;
    staff
        .send(json!({"type": "request_summary", "conversation_id": conversation}))
        .await;
    staff.next_of("summary").await;

    // A booking that fails (outside working hours) does not use the visitor's one meeting.
    let date = support::tomorrow();
    customer
        .send(
            json!({"type": "schedule_confirm", "conversation_id": conversation,
            "date": date, "time": "22:00", "email": "v@ex.com"}),
        )
        .await;
    assert_eq!(customer.error().await["code"], "VALIDATION_ERROR");
    customer
        .send(
            json!({"type": "schedule_confirm", "conversation_id": conversation,
            "date": date, "time": "15:00", "email": "v@ex.com"}),
        )
        .await;
    let confirmed = customer.next_of("schedule_confirmed").await;
    assert_eq!(confirmed["event"]["user_id"], ana.user_id.as_str());
    for time in ["16:00", "17:00"] {
        customer
            .send(
                json!({"type": "schedule_confirm", "conversation_id": conversation,
                "date": date, "time": time, "email": "v@ex.com"}),
            )
            .await;
        let error = customer.error().await;
        assert_eq!(error["code"], "RATE_LIMITED", "{time}: {error}");
    }
    // Nothing was booked past the cap: the later slots are still free.
    let (status, slots) = app
        .get(
            &format!("/api/v1/calendar/available-slots?date={date}&duration_minutes=60"),
            &ana.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{slots}");
    let times: Vec<&str> = slots["available_slots"]
        .as_array()
        .expect("slots")
        .iter()
        .filter_map(|s| s["time"].as_str())
        .collect();
    assert!(!times.contains(&"15:00"), "{times:?}");
    assert!(
        times.contains(&"16:00") && times.contains(&"17:00"),
        "{times:?}"
    );
    // A new conversation has its own allowance.
    let (token2, conversation2) = visitor(&app, &integration).await;
    let (mut second, _) = WsClient::connect(&app, &token2).await;
    second
        .send(json!({"type": "request_summary", "conversation_id": conversation2}))
        .await;
    second.next_of("summary").await;
}

#[actix_web::test]
async fn the_customer_never_sees_why_it_was_escalated() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let integration = app.webchat_integration(&admin).await;
    let (token, conversation) = visitor(&app, &integration).await;
    let (mut customer, _) = WsClient::connect(&app, &token).await;
    let (mut staff, _) = WsClient::connect(&app, &admin.token).await;
    customer
        .send(json!({"type": "message", "conversation_id": conversation, "content": "oi"}))
        .await;
    customer.next_of("message_sent").await;

    for reason in ["vip_contact", "ai_transfer: angry customer, premium plan"] {
        let (status, body) = app
            .post(
                &format!("/api/v1/conversations/{conversation}/escalate"),
                &admin.token,
                &json!({"reason": reason}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // Staff see the reason …
        let seen = staff.next_of("conversation_escalated").await;
        assert_eq!(seen["reason"], reason, "{seen}");
        // … the customer learns of the hand-over, not why.
        let told = customer.next_of("conversation_escalated").await;
        assert_eq!(told["conversation_id"], conversation.as_str());
        assert!(told.get("reason").is_none(), "{told}");
        assert!(!told.to_string().contains(reason), "{told}");
    }
}

// ---- 7: PDF extraction runs in a limited child that really stops; tenants have a quota ----

use support::knowledge::{upload_json, upload_multipart, Part};

async fn upload_pdf(app: &TestApp, admin: &Session, title: &str) -> (StatusCode, Value) {
    let pdf = support::knowledge::pdf(&["Prazo de entrega: cinco dias uteis."]);
    upload_multipart(
        app,
        admin,
        &[
            Part::field("title", title),
            Part::file("prazo.pdf", "application/pdf", pdf),
        ],
    )
    .await
}

/// An extractor that stands for a looping parser: `body` runs after it noted its pid.
fn fake_extractor(dir: &std::path::Path, body: &str) -> (String, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let pid_file = dir.join("pid");
    let script = dir.join("extractor.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho $$ > {}\n{body}\n", pid_file.display()),
    )
    .expect("script written");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (script.display().to_string(), pid_file)
}

/// Whether process `pid` has ended (gone, or a zombie waiting to be reaped).
fn ended(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[actix_web::test]
async fn a_pdf_that_never_finishes_is_killed_at_the_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (script, pid_file) = fake_extractor(dir.path(), "exec sleep 600");
    let app = TestApp::spawn_with(&[
        ("knowledge.extractor_path", script.as_str()),
        ("knowledge.extract_timeout_seconds", "1"),
    ])
    .await;
    let admin = app.admin().await;
    let (status, body) = upload_pdf(&app, &admin, "Prazo").await;
    assert_validation(status, &body, "timed-out PDF");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("within 1 seconds")),
        "{body}"
    );
    let pid = std::fs::read_to_string(&pid_file)
        .expect("the extractor ran")
        .trim()
        .to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !ended(&pid) && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ended(&pid), "extractor {pid} still runs after the timeout");
    let (status, list) = app.get("/api/v1/knowledge/documents", &admin.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");
}

#[actix_web::test]
async fn a_pdf_that_burns_cpu_is_stopped_by_its_cpu_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (script, pid_file) = fake_extractor(dir.path(), "while :; do :; done");
    let app = TestApp::spawn_with(&[
        ("knowledge.extractor_path", script.as_str()),
        ("knowledge.extract_cpu_seconds", "1"),
        ("knowledge.extract_timeout_seconds", "120"),
    ])
    .await;
    let admin = app.admin().await;
    let started = std::time::Instant::now();
    let (status, body) = upload_pdf(&app, &admin, "Prazo").await;
    assert_validation(status, &body, "CPU-bound PDF");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("too complex")),
        "stopped by the kernel, not the timeout: {body}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(100));
    let pid = std::fs::read_to_string(&pid_file)
        .expect("ran")
        .trim()
        .to_string();
    assert!(ended(&pid));
}

#[actix_web::test]
async fn each_tenant_has_a_document_and_byte_quota() {
    let app = TestApp::spawn_with(&[
        ("knowledge.max_documents_per_tenant", "2"),
        ("knowledge.max_bytes_per_tenant", "1500"),
    ])
    .await;
    let admin = app.admin().await;
    let other = app.other_tenant("tenant-b").await;
    let text = |n: usize| "Texto de ajuda. ".repeat(n);

    // A real PDF goes through the real extractor child.
    let (status, body) = upload_pdf(&app, &admin, "Prazo").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let pdf_bytes = body["size_bytes"].as_i64().expect("size");
    // Room for the small documents below (1,500 bytes in all), not for the 1,280-byte one.
    assert!(
        (220..1000).contains(&pdf_bytes),
        "the test PDF must leave room for the steps below: {pdf_bytes}"
    );
    let (status, body) =
        upload_json(&app, &admin, json!({"title": "Trocas", "content": text(2)})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A third document is over the document quota; nothing is stored.
    let (status, body) = upload_json(
        &app,
        &admin,
        json!({"title": "Pagamentos", "content": text(2)}),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["code"], "QUOTA_EXCEEDED");
    assert_eq!(body["details"]["quota"], "documents");
    assert_eq!(body["details"]["limit"], 2);

    // Replacing a document by title frees its own room, but not beyond the byte quota.
    let (status, body) =
        upload_json(&app, &admin, json!({"title": "Trocas", "content": text(3)})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = upload_json(
        &app,
        &admin,
        json!({"title": "Trocas", "content": text(80)}),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["details"]["quota"], "bytes");

    let (_, list) = app.get("/api/v1/knowledge/documents", &admin.token).await;
    let mut titles: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|d| d["title"].as_str())
        .collect();
    titles.sort_unstable();
    assert_eq!(titles, vec!["Prazo", "Trocas"]);
    let (_, trocas) = app
        .post(
            "/api/v1/knowledge/search",
            &admin.token,
            &json!({"query": "texto ajuda"}),
        )
        .await;
    assert!(trocas.to_string().contains("Texto de ajuda"), "{trocas}");

    // The quota is per tenant.
    let (status, body) =
        upload_json(&app, &other, json!({"title": "Outro", "content": text(2)})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
