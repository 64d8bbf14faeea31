//! Tenant settings at run time (issue 16, item 9): `GET/PATCH /api/v1/settings` changes what
//! the engine does on the very next message, no restart — hand-over text, human-request
//! phrases, business hours with an out-of-hours auto-reply (on a pinned wall clock) — and bad
//! input changes nothing.

mod support;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::app::assert_field_error;
use support::engine::{by_sender, fixture, Fixture};
use support::receiver::ScriptedReceiver;

const WAIT: Duration = Duration::from_secs(15);

async fn settings(f: &Fixture) -> Value {
    let (status, body) = f.app.get("/api/v1/settings", &f.admin.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn patch(f: &Fixture, body: Value) -> Value {
    let (status, changed) = f.app.patch("/api/v1/settings", &f.admin.token, &body).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    changed
}

/// An AI-served conversation of `contact`: its first message answered by the AI.
async fn ai_conversation(f: &Fixture, contact: &str) -> String {
    let conversation = f
        .conversation_of(contact, &format!("{contact}-1"), "olá, bom dia")
        .await;
    f.ai_replies(&conversation, 1).await;
    conversation
}

/// The conversation's system messages once it has been escalated.
async fn escalated_system_texts(f: &Fixture, conversation: &str) -> (Value, Vec<String>) {
    let c = f
        .eventually(WAIT, || async {
            let c = f.conversation(conversation).await;
            c["escalation_reason"].is_string().then_some(c)
        })
        .await
        .expect("escalated");
    let texts = f
        .eventually(WAIT, || async {
            let messages = f.messages(conversation).await;
            let texts: Vec<String> = by_sender(&messages, "system")
                .iter()
                .filter_map(|m| m["content"].as_str().map(str::to_string))
                .collect();
            (!texts.is_empty()).then_some(texts)
        })
        .await
        .expect("a system message");
    (c, texts)
}

#[actix_web::test]
async fn a_patched_handover_text_is_what_the_next_escalation_sends_to_the_channel() {
    let f = fixture(&[], json!({})).await;
    let receiver = ScriptedReceiver::start(&[]).await;
    let (status, _) = f
        .app
        .patch(
            &format!("/api/v1/integrations/{}", f.integration_id),
            &f.admin.token,
            &json!({"outbound_url": receiver.url("/out")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let before = settings(&f).await;
    assert_eq!(
        before["handover_message"],
        f.app.settings.engine.handover_message.as_str(),
        "nothing set: the process default"
    );
    assert_eq!(before["csat"]["enabled"], false);

    // A conversation already live (its actor running) follows the change too.
    let conversation = ai_conversation(&f, "c1").await;
    let changed = patch(
        &f,
        json!({"handover_message": "Já chamei a equipe humana, aguarde!"}),
    )
    .await;
    assert_eq!(
        changed["handover_message"],
        "Já chamei a equipe humana, aguarde!"
    );
    assert_eq!(
        changed["human_request_phrases"], before["human_request_phrases"],
        "the rest is untouched"
    );
    assert_eq!(settings(&f).await, changed);

    f.inbound("c1", "c1-2", "quero falar com um atendente")
        .await;
    let (c, texts) = escalated_system_texts(&f, &conversation).await;
    assert_eq!(c["escalation_reason"], "customer_requested_human");
    assert_eq!(
        texts,
        vec!["Já chamei a equipe humana, aguarde!".to_string()]
    );
    let sent = f
        .eventually(WAIT, || async {
            receiver
                .received()
                .into_iter()
                .map(|r| r.json())
                .find(|body| body["message"]["text"] == "Já chamei a equipe humana, aguarde!")
        })
        .await
        .expect("the new hand-over text reached the channel");
    assert_eq!(sent["conversation_id"], conversation.as_str());

    // null restores the default.
    let restored = patch(&f, json!({"handover_message": null})).await;
    assert_eq!(restored, before);
}

#[actix_web::test]
async fn patched_phrases_are_the_ones_that_call_a_human() {
    let f = fixture(&[], json!({})).await;
    patch(&f, json!({"human_request_phrases": ["chama o gerente"]})).await;

    // The default phrase is an ordinary question now: the AI answers it.
    let old = ai_conversation(&f, "c1").await;
    f.inbound("c1", "c1-2", "quero falar com um atendente")
        .await;
    f.ai_replies(&old, 2).await;
    assert!(f.conversation(&old).await["escalation_reason"].is_null());

    let new = ai_conversation(&f, "c2").await;
    f.inbound("c2", "c2-2", "Chama o gerente, por favor!").await;
    let (c, texts) = escalated_system_texts(&f, &new).await;
    assert_eq!(c["escalation_reason"], "customer_requested_human");
    assert_eq!(texts, vec![f.app.settings.engine.handover_message.clone()]);
}

#[actix_web::test]
async fn out_of_hours_the_customer_is_told_when_humans_are_back() {
    let f = fixture(&[], json!({})).await;
    patch(
        &f,
        json!({"business_hours": {
            "enabled": true,
            "timezone": "UTC",
            "schedule": [{"day": "mon", "start": "09:00", "end": "18:00"}],
            "out_of_hours_message": "Estamos fechados; voltamos segunda às 9h."
        }}),
    )
    .await;
    // Sunday 2026-03-01 at 15:00 UTC: closed.
    let sunday = Utc
        .with_ymd_and_hms(2026, 3, 1, 15, 0, 0)
        .single()
        .expect("time");
    assert!(f.app.clock.set(sunday));
    let night = ai_conversation(&f, "c1").await;
    // The AI answered at night without an auto-reply: it serves the conversation.
    assert!(by_sender(&f.messages(&night).await, "system").is_empty());
    f.inbound("c1", "c1-2", "quero falar com um atendente")
        .await;
    let (_, texts) = escalated_system_texts(&f, &night).await;
    assert_eq!(
        texts,
        vec!["Estamos fechados; voltamos segunda às 9h.".to_string()]
    );
    // Waiting for a human, still closed: not told twice.
    f.inbound("c1", "c1-3", "alguém aí?").await;
    f.eventually(WAIT, || async {
        let m = f.messages(&night).await;
        (by_sender(&m, "contact").len() == 3).then_some(())
    })
    .await
    .expect("stored");

    // Monday 10:00: open, the hand-over text again.
    let monday = Utc
        .with_ymd_and_hms(2026, 3, 2, 10, 0, 0)
        .single()
        .expect("time");
    assert!(f.app.clock.set(monday));
    let day = ai_conversation(&f, "c2").await;
    f.inbound("c2", "c2-2", "quero falar com um atendente")
        .await;
    let (_, texts) = escalated_system_texts(&f, &day).await;
    assert_eq!(texts, vec![f.app.settings.engine.handover_message.clone()]);
    let night_system = by_sender(&f.messages(&night).await, "system").len();
    assert_eq!(night_system, 1, "told once per stretch of closed hours");
}

#[actix_web::test]
async fn bad_settings_are_refused_and_change_nothing() {
    let f = fixture(&[], json!({})).await;
    let before = settings(&f).await;
    for (body, field) in [
        (json!({"handover_message": "   "}), "handover_message"),
        (json!({"colour": "blue"}), "colour"),
        (
            json!({"human_request_phrases": "falar"}),
            "human_request_phrases",
        ),
        (
            json!({"feedback": {"escalate_min_score": 3}}),
            "feedback.escalate_min_score",
        ),
        (
            json!({"business_hours": {"timezone": "Mars/Base"}}),
            "business_hours.timezone",
        ),
        (
            json!({"business_hours": {"schedule": [{"day": "mon", "start": "18:00", "end": "08:00"}]}}),
            "business_hours.schedule[0].end",
        ),
        (
            json!({"csat": {"enabled": true, "question": ""}}),
            "csat.question",
        ),
        (json!(["not", "an", "object"]), "settings"),
    ] {
        let (status, error) = f.app.patch("/api/v1/settings", &f.admin.token, &body).await;
        assert_field_error(status, &error, field);
    }
    // Only admins change settings; supervisors read them; agents do neither.
    let supervisor = f
        .app
        .user_with_role(&f.admin, "supervisor", "sup@tenant-a.test")
        .await;
    let agent = f
        .app
        .user_with_role(&f.admin, "agent", "agent@tenant-a.test")
        .await;
    let (status, _) = f
        .app
        .patch(
            "/api/v1/settings",
            &supervisor.token,
            &json!({"handover_message": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = f.app.get("/api/v1/settings", &supervisor.token).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = f.app.get("/api/v1/settings", &agent.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(settings(&f).await, before, "nothing changed");

    // One tenant's change is not another's.
    patch(&f, json!({"handover_message": "Só do tenant A"})).await;
    let other = f.app.other_tenant("tenant-b").await;
    let (status, theirs) = f.app.get("/api/v1/settings", &other.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(theirs, before);
}
