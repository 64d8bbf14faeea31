//! Seed 001's time and recurrence escalation, end to end: an AI-owned conversation still open
//! `escalate_after_minutes` after it started goes to a human (a durable timer on the
//! engine's clock, which the test moves forward instead of sleeping), and a contact's third
//! conversation on the same category goes straight to a human (`recurring_problem`).

mod support;

use std::time::Duration;

use atende::store::timers;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::engine::{by_sender, fixture, Fixture};
use support::scripted_llm::Step;

const WAIT: Duration = Duration::from_secs(15);

async fn timers_of(f: &Fixture, conversation: &str) -> Vec<timers::Timer> {
    let tenant = atende::domain::TenantId::parse(&f.admin.tenant_id).expect("tenant id");
    let conversation = atende::domain::ConversationId::parse(conversation).expect("id");
    f.app
        .store
        .run(move |conn| timers::for_conversation(conn, &tenant, &conversation))
        .await
        .expect("timers read")
}

async fn escalated(f: &Fixture, conversation: &str) -> Value {
    f.eventually(WAIT, || async {
        let c = f.conversation(conversation).await;
        (!c["escalation_reason"].is_null()).then_some(c)
    })
    .await
    .expect("the conversation was escalated")
}

#[actix_web::test]
async fn an_ai_conversation_still_open_after_the_timeout_goes_to_a_human() {
    let f = fixture(
        &[],
        json!({"settings": {"context_timer_seconds": 0, "escalate_after_minutes": 5}}),
    )
    .await;
    f.llm.set_default(Step::reply("Vou verificar."));
    let open = f.conversation_of("c1", "c1-m1", "meu pedido atrasou").await;
    let resolved = f.conversation_of("c2", "c2-m1", "qual o horário?").await;
    f.ai_replies(&open, 1).await;
    f.ai_replies(&resolved, 1).await;
    f.close(&resolved).await;

    // Armed once per conversation, five minutes after it started, and not due yet.
    for conversation in [&open, &resolved] {
        let armed = f
            .eventually(WAIT, || async {
                let t = timers_of(&f, conversation).await;
                (!t.is_empty()).then_some(t)
            })
            .await
            .expect("the timeout is armed");
        assert_eq!(armed.len(), 1, "{armed:?}");
        assert_eq!(armed[0].kind, "escalation_timeout");
        assert!(!armed[0].fired);
        let started = f.conversation(conversation).await["created_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .expect("created_at")
            .naive_utc();
        let after = armed[0].fire_at - started;
        assert!(
            (after - chrono::TimeDelta::minutes(5)).num_seconds().abs() <= 1,
            "fires {after} after the start"
        );
    }
    assert_eq!(f.conversation(&open).await["owner"]["type"], "ai_agent");

    f.app.clock.advance(Duration::from_secs(6 * 60));
    let c = escalated(&f, &open).await;
    assert_eq!(c["escalation_reason"], "unresolved_timeout");
    assert_ne!(c["owner"]["type"], "ai_agent", "{c}");
    let handover = f
        .eventually(WAIT, || async {
            let m = f.messages(&open).await;
            let system: Vec<Value> = by_sender(&m, "system").into_iter().cloned().collect();
            (!system.is_empty()).then_some(system)
        })
        .await
        .expect("the customer is told a human takes over");
    assert_eq!(handover.len(), 1);

    // The resolved one's timer fired too, and changed nothing.
    f.eventually(WAIT, || async {
        timers_of(&f, &resolved)
            .await
            .iter()
            .all(|t| t.fired)
            .then_some(())
    })
    .await
    .expect("the resolved conversation's timer fired");
    let c = f.conversation(&resolved).await;
    assert_eq!(c["status"], "closed");
    assert!(c["escalation_reason"].is_null(), "{c}");
}

#[actix_web::test]
async fn no_timeout_is_armed_when_the_agent_has_it_off() {
    let f = fixture(&[], json!({})).await;
    f.llm.set_default(Step::reply("Olá!"));
    let conversation = f.conversation_of("c1", "c1-m1", "oi").await;
    f.ai_replies(&conversation, 1).await;
    assert!(timers_of(&f, &conversation).await.is_empty());
}

#[actix_web::test]
async fn a_contacts_third_conversation_on_the_same_category_goes_straight_to_a_human() {
    let f = fixture(
        &[],
        json!({"settings": {"context_timer_seconds": 0,
            "recurring_problem_conversations": 3, "recurring_problem_days": 7}}),
    )
    .await;
    f.llm.set_default(Step::reply("Tente redefinir a senha."));
    for n in 1..=2 {
        let conversation = f
            .conversation_of("c1", &format!("c1-m{n}"), "esqueci a senha do login")
            .await;
        f.ai_replies(&conversation, 1).await;
        assert_eq!(f.conversation(&conversation).await["category"], "technical");
        f.close(&conversation).await;
    }
    // Another contact's first conversation on the category is the AI's.
    let other = f
        .conversation_of("c2", "c2-m1", "esqueci a senha do login")
        .await;
    f.ai_replies(&other, 1).await;
    let calls = f.llm.request_count();

    let third = f
        .conversation_of("c1", "c1-m3", "de novo a senha do login não funciona")
        .await;
    let c = escalated(&f, &third).await;
    assert_eq!(c["escalation_reason"], "recurring_problem");
    assert_eq!(c["category"], "technical");
    assert_ne!(c["owner"]["type"], "ai_agent", "{c}");
    let m = f.messages(&third).await;
    assert!(by_sender(&m, "ai_agent").is_empty(), "{m:?}");
    assert_eq!(f.llm.request_count(), calls, "the AI was not asked");
}

#[actix_web::test]
async fn the_rules_are_per_agent_settings_checked_by_the_api() {
    let f = fixture(&[], json!({})).await;
    let path = format!("/api/v1/agents/{}", f.agent_id);
    for (settings, field) in [
        (
            json!({"escalate_after_minutes": 20_000}),
            "settings.escalate_after_minutes",
        ),
        (
            json!({"recurring_problem_conversations": 101}),
            "settings.recurring_problem_conversations",
        ),
        (
            json!({"recurring_problem_days": 0}),
            "settings.recurring_problem_days",
        ),
    ] {
        let (status, body) = f
            .app
            .patch(&path, &f.admin.token, &json!({"settings": settings}))
            .await;
        support::assert_field_error(status, &body, field);
    }
    let (status, agent) = f
        .app
        .patch(
            &path,
            &f.admin.token,
            &json!({"settings": {"escalate_after_minutes": 5,
                "recurring_problem_conversations": 3, "recurring_problem_days": 14}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{agent}");
    assert_eq!(agent["settings"]["escalate_after_minutes"], 5);
    assert_eq!(agent["settings"]["recurring_problem_conversations"], 3);
    assert_eq!(agent["settings"]["recurring_problem_days"], 14);
    let (_, fresh) = f.app.get(&path, &f.admin.token).await;
    assert_eq!(fresh["settings"]["recurring_problem_days"], 14);
}
