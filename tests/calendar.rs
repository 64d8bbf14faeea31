//! Scheduling from the chat (seed 000): a booking wish in the customer's words brings up the
//! slot picker with the e-mail it contained; confirming books the meeting with the human who
//! owns the conversation, it shows in that human's .ics feed, and the slot is gone. Plus the
//! calendar REST API, summaries and auto-created activities.

mod support;

use std::time::Duration;

use chrono::{Duration as Days, Utc};
use reqwest::StatusCode;
use serde_json::json;
use support::ws::WsClient;
use support::{Session, TestApp};

/// An app where Ana (an agent who works every day 08:00–20:00) takes web chat conversations.
async fn setup() -> (TestApp, Session, Session, String) {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (ana, body) = support::calendar::all_week_agent(&app, &admin, "Ana Souza").await;
    assert_eq!(body["timezone"], "America/Sao_Paulo");
    assert_eq!(body["days"]["sun"][0][0], "08:00");
    let integration = support::engine::create(
        &app,
        &admin,
        "/api/v1/integrations",
        &json!({"kind": "webchat", "name": "site"}),
    )
    .await;
    (app, admin, ana, integration)
}

async fn visitor(app: &TestApp, integration: &str) -> (String, String) {
    app.webchat_visitor(integration, "Ana Cliente").await
}

async fn slot_times(app: &TestApp, token: &str, date: &str) -> Vec<String> {
    let (status, body) = app
        .get(
            &format!("/api/v1/calendar/available-slots?date={date}&duration_minutes=60"),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["timezone"], "America/Sao_Paulo");
    body["available_slots"]
        .as_array()
        .expect("slots")
        .iter()
        .map(|s| s["time"].as_str().expect("time").to_string())
        .collect()
}

#[actix_web::test]
async fn a_booking_wish_becomes_a_meeting_in_the_feed() {
    let (app, admin, ana, integration) = setup().await;
    let (token, conversation) = visitor(&app, &integration).await;
    let (mut customer, _) = WsClient::connect(&app, &token).await;
    customer
        .send(json!({"type": "set_auto_create", "conversation_id": conversation, "enabled": true}))
        .await;
    assert_eq!(
        customer.next_of("auto_create_updated").await["enabled"],
        true
    );

    customer
        .send(json!({"type": "message", "conversation_id": conversation,
            "content": "podemos marcar amanhã às 15h? meu email é ana@ex.com"}))
        .await;
    let picker = customer.next_of("slot_picker").await;
    assert_eq!(picker["conversation_id"], conversation.as_str());
    assert_eq!(picker["email"], "ana@ex.com");
    assert_eq!(picker["date"], support::tomorrow().as_str());
    assert_eq!(picker["time"], "15:00");

    // The distributor gave the conversation to Ana: she hosts its meetings.
    let date = support::tomorrow();
    let before = slot_times(&app, &token, &date).await;
    assert!(before.contains(&"15:00".to_string()), "{before:?}");
    assert_eq!(before, slot_times(&app, &ana.token, &date).await);

    customer
        .send(
            json!({"type": "schedule_confirm", "conversation_id": conversation,
            "date": date, "time": "15:00", "email": "ana@ex.com", "phone": "+55 11 98765-4321"}),
        )
        .await;
    let confirmed = customer.next_of("schedule_confirmed").await;
    let event = &confirmed["event"];
    assert_eq!(event["user_id"], ana.user_id.as_str());
    assert_eq!(event["conversation_id"], conversation.as_str());
    assert_eq!(event["email"], "ana@ex.com");
    assert_eq!(event["phone"], "+5511987654321");
    assert_eq!(event["title"], "Reunião com Ana Cliente");
    let starts_at = event["starts_at"].as_str().expect("start").to_string();
    assert!(
        starts_at.ends_with("T18:00:00Z"),
        "15:00 in São Paulo is 18:00 UTC: {starts_at}"
    );

    // The slot (and the ones overlapping it) is gone.
    let after = slot_times(&app, &token, &date).await;
    for taken in ["14:30", "15:00", "15:30"] {
        assert!(
            !after.contains(&taken.to_string()),
            "{taken} still offered: {after:?}"
        );
    }
    assert!(after.contains(&"16:00".to_string()));
    customer
        .send(
            json!({"type": "schedule_confirm", "conversation_id": conversation,
            "date": date, "time": "15:00", "email": "ana@ex.com"}),
        )
        .await;
    let error = customer.error().await;
    // One error mapping: a taken slot is CONFLICT over the socket as over REST (409).
    assert_eq!(error["code"], "CONFLICT");
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("no longer available")),
        "{error}"
    );

    // The meeting is in Ana's feed, through its key, as RFC 5545.
    let (status, feed) = app
        .get(
            &format!("/api/v1/calendar/{}/feed", ana.user_id),
            &ana.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{feed}");
    let url = feed["ics_url"].as_str().expect("url");
    let response = app.http.get(app.url(url)).send().await.expect("feed");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/calendar")));
    let ics = response.text().await.expect("body");
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"), "{ics}");
    let dtstart = format!("DTSTART:{}T180000Z", date.replace('-', ""));
    assert!(ics.contains(&dtstart), "{ics}");
    assert!(ics.contains("SUMMARY:Reunião com Ana Cliente\r\n"), "{ics}");
    assert!(ics.contains("mailto:ana@ex.com"));
    // Without the key: only with a token of someone allowed; a wrong key reveals nothing.
    let bare = format!("/api/v1/calendar/{}.ics", ana.user_id);
    let (status, _) = app.call_text(reqwest::Method::GET, &bare, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .call_text(
            reqwest::Method::GET,
            &format!("{bare}?key=00ff"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, text) = app
        .call_text(reqwest::Method::GET, &bare, Some(&admin.token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains(&dtstart));
    let other = app.other_tenant("tenant-b").await;
    let (status, _) = app
        .call_text(reqwest::Method::GET, &bare, Some(&other.token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Auto-create turned the request and the booking into activities.
    let activities = wait_for_activities(&app, &admin, &conversation, 2).await;
    let kinds: Vec<&str> = activities.iter().map(|(k, _, _)| k.as_str()).collect();
    assert!(
        kinds.contains(&"task") && kinds.contains(&"meeting"),
        "{activities:?}"
    );
    // …and closing the conversation leaves a follow-up with its summary.
    let (status, _) = app
        .post(
            &format!("/api/v1/conversations/{conversation}/close"),
            &admin.token,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let activities = wait_for_activities(&app, &admin, &conversation, 3).await;
    let follow_up = activities
        .iter()
        .find(|(kind, _, _)| kind == "follow_up")
        .expect("follow-up activity");
    assert!(
        follow_up.2.contains("Cliente: podemos marcar"),
        "{follow_up:?}"
    );
}

async fn wait_for_activities(
    app: &TestApp,
    admin: &Session,
    conversation: &str,
    at_least: usize,
) -> Vec<(String, String, String)> {
    let tenant = atende::domain::TenantId(admin.tenant_id.clone());
    let id = atende::domain::ConversationId(conversation.to_string());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (tenant, id) = (tenant.clone(), id.clone());
        let rows = app
            .store
            .run(move |conn| atende::store::auto_create::for_conversation(conn, &tenant, &id))
            .await
            .expect("activities");
        if rows.len() >= at_least || std::time::Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn bad_confirmations_change_nothing() {
    let (app, _admin, ana, integration) = setup().await;
    let (token, conversation) = visitor(&app, &integration).await;
    let (mut customer, _) = WsClient::connect(&app, &token).await;
    customer
        .send(json!({"type": "message", "conversation_id": conversation, "content": "oi"}))
        .await;
    customer.next_of("message_sent").await;
    let date = support::tomorrow();
    let cases = [
        (
            json!({"date": date, "time": "15:00", "email": "nope"}),
            "e-mail",
        ),
        (
            json!({"date": "amanhã", "time": "15:00", "email": "a@b.co"}),
            "YYYY-MM-DD",
        ),
        (
            json!({"date": date, "time": "3pm", "email": "a@b.co"}),
            "HH:MM",
        ),
        (
            json!({"date": "2020-01-01", "time": "15:00", "email": "a@b.co"}),
            "passed",
        ),
        (
            json!({"date": date, "time": "22:00", "email": "a@b.co"}),
            "working hours",
        ),
        (
            json!({"date": date, "time": "15:00", "email": "a@b.co", "phone": "12"}),
            "phone",
        ),
    ];
    for (fields, hint) in cases {
        let mut frame = fields.clone();
        frame["type"] = json!("schedule_confirm");
        frame["conversation_id"] = json!(conversation);
        customer.send(frame).await;
        let error = customer.error().await;
        assert_eq!(error["code"], "VALIDATION_ERROR", "{fields}");
        assert!(
            error["error"].as_str().is_some_and(|e| e.contains(hint)),
            "{fields} → {error}"
        );
    }
    let (_, feed) = app
        .get(
            &format!("/api/v1/calendar/{}/feed", ana.user_id),
            &ana.token,
        )
        .await;
    let ics = app
        .http
        .get(app.url(feed["ics_url"].as_str().expect("url")))
        .send()
        .await
        .expect("feed")
        .text()
        .await
        .expect("text");
    assert!(!ics.contains("BEGIN:VEVENT"), "nothing was booked: {ics}");
}

#[actix_web::test]
async fn the_calendar_api() {
    let (app, admin, ana, _) = setup().await;
    let bia = app
        .user_with_role(&admin, "agent", "bia@tenant-a.test")
        .await;
    let start = (Utc::now() + Days::days(2))
        .format("%Y-%m-%dT13:00:00Z")
        .to_string();
    let (status, event) = app
        .post(
            "/api/v1/calendar/events",
            &ana.token,
            &json!({"starts_at": start, "duration_minutes": 30, "title": "Demo", "email": "c@ex.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    assert_eq!(event["user_id"], ana.user_id.as_str());
    assert_eq!(event["title"], "Demo");
    let (status, body) = app
        .post(
            "/api/v1/calendar/events",
            &admin.token,
            &json!({"starts_at": start, "user_id": ana.user_id}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "overlaps: {body}");
    let (status, _) = app
        .post(
            "/api/v1/calendar/events",
            &bia.token,
            &json!({"starts_at": start, "user_id": ana.user_id}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "agents book only for themselves"
    );
    let (status, body) = app
        .post(
            "/api/v1/calendar/events",
            &ana.token,
            &json!({"starts_at": start, "ends_at": start}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = app
        .post(
            "/api/v1/calendar/events",
            &ana.token,
            &json!({"starts_at": start, "conversation_id": "01930000-0000-7000-8000-000000000000"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["details"]["field"], "conversation_id");

    // Slots: a bad date, a bad duration, another tenant's user.
    let (status, _) = app
        .get("/api/v1/calendar/available-slots?date=tomorrow", &ana.token)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .get(
            &format!(
                "/api/v1/calendar/available-slots?date={}&duration_minutes=0",
                support::tomorrow()
            ),
            &ana.token,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let other = app.other_tenant("tenant-b").await;
    let (status, _) = app
        .get(
            &format!(
                "/api/v1/calendar/available-slots?date={}&user_id={}",
                support::tomorrow(),
                ana.user_id
            ),
            &other.token,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Working hours are validated and only the user or an admin changes them.
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/calendar/{}/working-hours", ana.user_id),
            Some(&ana.token),
            Some(&json!({"days": {"mon": [["18:00", "09:00"]]}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/calendar/{}/working-hours", ana.user_id),
            Some(&bia.token),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, hours) = app
        .get(
            &format!("/api/v1/calendar/{}/working-hours", bia.user_id),
            &bia.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{hours}");
    assert_eq!(
        hours["days"]["mon"][0],
        json!(["09:00", "18:00"]),
        "the defaults"
    );
    assert_eq!(hours["days"]["sat"], json!([]));
}

#[actix_web::test]
async fn summaries_on_request() {
    let (app, admin, _ana, integration) = setup().await;
    let (token, conversation) = visitor(&app, &integration).await;
    let (mut customer, _) = WsClient::connect(&app, &token).await;
    for text in [
        "Olá, bom dia",
        "Quero trocar um produto que veio com defeito.",
        "O pedido é 12345 e meu email é maria@ex.com",
    ] {
        customer
            .send(json!({"type": "message", "conversation_id": conversation, "content": text}))
            .await;
        customer.next_of("message_sent").await;
    }
    let (mut staff, _) = WsClient::connect(&app, &admin.token).await;
    staff
        .send(json!({"type": "request_summary", "conversation_id": conversation}))
        .await;
    let summary = staff.next_of("summary").await;
    assert_eq!(summary["conversation_id"], conversation.as_str());
    let text = summary["summary"].as_str().expect("text");
    assert!(text.contains("3 mensagens"), "{text}");
    assert!(text.contains("Cliente: Quero trocar um produto"), "{text}");
    assert!(text.contains("maria@ex.com"), "{text}");
}
