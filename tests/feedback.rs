//! Feedback detection (issue 7, seed 004): the customer's message after an AI reply is
//! checked for complaints, requests for a human, repeated questions and negative words;
//! negative feedback is recorded, raised as `feedback_detected` (SSE, outbound webhooks),
//! counted in analytics and hands the conversation over when configured.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::engine::{by_sender, fixture, Fixture};
use support::ws::{SseClient, WsClient};

const WAIT: Duration = Duration::from_secs(15);

async fn say(f: &Fixture, id: &str, text: &str) -> String {
    let (status, accepted) = f.inbound("c1", id, text).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    accepted["conversation_id"]
        .as_str()
        .expect("conversation id")
        .to_string()
}

async fn analytics(f: &Fixture, path: &str) -> Value {
    let (status, body) = f.app.get(path, &f.admin.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[actix_web::test]
async fn a_complaint_asking_for_a_human_is_recorded_announced_counted_and_escalated() {
    let f = fixture(&[], json!({})).await;
    let mut sse = SseClient::open(&f.app, &f.admin.token, None).await;
    let (mut admin_socket, _) = WsClient::connect(&f.app, &f.admin.token).await;
    let conversation = say(&f, "m1", "como faço para trocar o produto?").await;
    let reply = f.ai_replies(&conversation, 1).await.remove(0);
    let classified = admin_socket.next_of("conversation_classified").await;
    assert_eq!(classified["conversation_id"], conversation.as_str());
    assert!(classified["category"].is_string(), "{classified}");

    say(
        &f,
        "m2",
        "isso não resolveu nada, quero falar com um atendente",
    )
    .await;
    let event = sse
        .next_of("feedback_detected", WAIT)
        .await
        .expect("feedback_detected on the tenant stream");
    let data = &event.data["data"];
    assert_eq!(data["conversation_id"], conversation.as_str());
    assert_eq!(data["message_id"], reply["id"]);
    assert_eq!(data["agent_id"], f.agent_id.as_str());
    assert_eq!(data["kind"], "complaint");
    assert!(data["score"].as_f64().expect("score") > 0.9, "{data}");
    assert_eq!(event.data["conversation_id"], conversation.as_str());
    let frame = admin_socket.next_of("feedback_detected").await;
    assert_eq!(frame["conversation_id"], conversation.as_str());
    assert_eq!(frame["kind"], "complaint");
    assert_eq!(frame["message_id"], reply["id"]);

    let c = f
        .eventually(WAIT, || async {
            let c = f.conversation(&conversation).await;
            c["escalation_reason"].is_string().then_some(c)
        })
        .await
        .expect("escalated");
    assert_eq!(c["escalation_reason"], "customer_requested_human");
    assert_ne!(c["owner"]["type"], "ai_agent");
    assert_eq!(
        f.llm.request_count(),
        1,
        "the complaint is not answered by the AI"
    );

    let dashboard = analytics(&f, "/api/v1/analytics/dashboard").await;
    assert_eq!(dashboard["ai"]["negative_feedback"], 1, "{dashboard}");
    assert_eq!(
        dashboard["ai"]["negative_feedback_by_kind"],
        json!({"complaint": 1})
    );
    let per_agent = analytics(&f, &format!("/api/v1/analytics/agents/{}", f.agent_id)).await;
    assert_eq!(per_agent["ai"]["negative_feedback"], 1, "{per_agent}");
}

#[actix_web::test]
async fn negative_feedback_hands_over_only_when_configured() {
    // Off (the default): recorded, and the AI keeps the conversation.
    let f = fixture(&[], json!({})).await;
    let conversation = say(&f, "m1", "qual o prazo de entrega?").await;
    f.ai_replies(&conversation, 1).await;
    say(&f, "m2", "isso não ajudou em nada").await;
    f.ai_replies(&conversation, 2).await;
    let c = f.conversation(&conversation).await;
    assert!(c["escalation_reason"].is_null(), "{c}");
    let dashboard = f
        .eventually(WAIT, || async {
            let d = analytics(&f, "/api/v1/analytics/dashboard").await;
            (d["ai"]["negative_feedback"] == 1).then_some(d)
        })
        .await
        .expect("counted");
    assert_eq!(
        dashboard["ai"]["negative_feedback_by_kind"],
        json!({"complaint": 1})
    );

    // On: handed to a human with reason negative_feedback.
    let f = fixture(&[("feedback.escalate", "true")], json!({})).await;
    let conversation = say(&f, "m1", "qual o prazo de entrega?").await;
    f.ai_replies(&conversation, 1).await;
    say(&f, "m2", "That didn't help at all, useless").await;
    let c = f
        .eventually(WAIT, || async {
            let c = f.conversation(&conversation).await;
            c["escalation_reason"].is_string().then_some(c)
        })
        .await
        .expect("escalated");
    assert_eq!(c["escalation_reason"], "negative_feedback");
    let messages = f.messages(&conversation).await;
    assert_eq!(by_sender(&messages, "ai_agent").len(), 1);
    assert_eq!(
        by_sender(&messages, "system").len(),
        1,
        "the hand-over notice"
    );
}

#[actix_web::test]
async fn repeated_questions_count_and_satisfied_customers_do_not() {
    let f = fixture(&[], json!({})).await;
    let conversation = say(&f, "m1", "Como faço para trocar o produto?").await;
    f.ai_replies(&conversation, 1).await;
    say(&f, "m2", "obrigado, era isso!").await;
    f.ai_replies(&conversation, 2).await;
    say(&f, "m3", "como eu faço pra trocar o produto").await;
    f.ai_replies(&conversation, 3).await;
    // Only the first message after a reply is judged, and only once.
    say(&f, "m4", "como eu faço pra trocar o produto").await;
    f.ai_replies(&conversation, 4).await;
    let dashboard = f
        .eventually(WAIT, || async {
            let d = analytics(&f, "/api/v1/analytics/dashboard").await;
            (d["ai"]["negative_feedback"].as_i64() >= Some(1)).then_some(d)
        })
        .await
        .expect("counted");
    // m3 repeats m1? No: m2 came in between, so m3 is judged against m2's question and m4
    // against m3's — the repeat.
    assert_eq!(
        dashboard["ai"]["negative_feedback_by_kind"],
        json!({"repeated_question": 1}),
        "{dashboard}"
    );
}

#[actix_web::test]
async fn feedback_is_delivered_to_outbound_webhooks() {
    use support::engine::create;
    let f = fixture(&[], json!({})).await;
    let receiver = support::receiver::ScriptedReceiver::start(&[]).await;
    create(
        &f.app,
        &f.admin,
        "/api/v1/webhooks",
        &json!({"url": receiver.url("/hooks"), "events": ["feedback_detected"], "secret": "webhook-secret-0123456789"}),
    )
    .await;
    let conversation = say(&f, "m1", "quero trocar de plano").await;
    f.ai_replies(&conversation, 1).await;
    say(&f, "m2", "péssimo, você não entendeu nada").await;
    let body = f
        .eventually(WAIT, || async {
            receiver.received().first().map(|r| r.json())
        })
        .await
        .expect("a delivery");
    assert_eq!(body["event"], "feedback_detected", "{body}");
    assert_eq!(body["conversation_id"], conversation.as_str());
    assert_eq!(body["data"]["kind"], "complaint");
    assert_eq!(body["data"]["agent_id"], f.agent_id.as_str());
}

#[actix_web::test]
async fn feedback_is_detected_after_the_conversation_was_passivated() {
    let f = fixture(&[("engine.passivate_after_seconds", "1")], json!({})).await;
    let conversation = say(&f, "m1", "como troco o produto?").await;
    let reply = f.ai_replies(&conversation, 1).await.remove(0);
    f.all_passivated(WAIT).await;
    let mut sse = SseClient::open(&f.app, &f.admin.token, None).await;
    // The rehydrated actor finds the AI reply the customer is reacting to in the store.
    say(&f, "m2", "não ajudou").await;
    let event = sse
        .next_of("feedback_detected", WAIT)
        .await
        .expect("feedback_detected after rehydration");
    assert_eq!(event.data["data"]["message_id"], reply["id"]);
    assert_eq!(event.data["data"]["kind"], "complaint");
}
