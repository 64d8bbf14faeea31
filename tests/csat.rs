//! CSAT (issue 16, item 7): with the tenant's CSAT on, closing a conversation asks the
//! customer for a 1–5 rating on their channel; a "1".."5" reply is stored as the closed
//! conversation's rating (no new conversation), any other reply starts a normal one, and the
//! ratings are reported by agent, category, channel and day.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::engine::{by_sender, fixture, Fixture};
use support::receiver::ScriptedReceiver;

const WAIT: Duration = Duration::from_secs(15);
const QUESTION: &str = "De 1 a 5, que nota você dá ao atendimento?";

async fn report(f: &Fixture) -> Value {
    let (status, body) = f.app.get("/api/v1/analytics/csat", &f.admin.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn question_sent(receiver: &ScriptedReceiver, conversation: &str) -> Value {
    f_wait(receiver, |body| {
        body["message"]["text"] == QUESTION && body["conversation_id"] == conversation
    })
    .await
    .expect("the CSAT question reached the channel")
}

async fn f_wait(receiver: &ScriptedReceiver, want: impl Fn(&Value) -> bool) -> Option<Value> {
    support::engine::eventually(WAIT, &mut || {
        let found = receiver
            .received()
            .into_iter()
            .map(|r| r.json())
            .find(|b| want(b));
        async move { found }
    })
    .await
}

#[actix_web::test]
async fn a_rating_reply_rates_the_closed_conversation_and_is_reported() {
    let f = fixture(&[], json!({})).await;
    let receiver = f.with_channel().await;
    f.csat_on(QUESTION).await;
    let conversation = f.conversation_of("c1", "m1", "meu pedido atrasou").await;
    f.ai_replies(&conversation, 1).await;
    f.close(&conversation).await;
    question_sent(&receiver, &conversation).await;

    let rated = f.conversation_of("c1", "m2", "5").await;
    assert_eq!(
        rated, conversation,
        "the rating joins the closed conversation"
    );
    let body = f
        .eventually(WAIT, || async {
            let r = report(&f).await;
            (r["rated"] == 1).then_some(r)
        })
        .await
        .expect("the rating is reported");
    assert_eq!(body["asked"], 1);
    assert_eq!(body["response_rate"], 1.0);
    assert_eq!(body["average"], 5.0);
    assert_eq!(body["distribution"]["5"], 1);
    assert_eq!(body["by_agent"][0]["key"], f.agent_id.as_str());
    assert_eq!(body["by_agent"][0]["owner_type"], "ai_agent");
    assert_eq!(body["by_channel"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["by_category"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["by_day"][0]["rated"], 1);
    let c = f.conversation(&conversation).await;
    assert_eq!(c["status"], "closed", "rating does not reopen it");
    let ai = by_sender(&f.messages(&conversation).await, "ai_agent").len();
    assert_eq!(ai, 1, "nobody answers a rating");

    // A second "5" is a new conversation: the question was answered already.
    let again = f.conversation_of("c1", "m3", "5").await;
    assert_ne!(again, conversation);
    f.ai_replies(&again, 1).await;
    assert_eq!(report(&f).await["rated"], 1);
}

#[actix_web::test]
async fn any_other_reply_starts_a_normal_conversation() {
    let f = fixture(&[], json!({})).await;
    let receiver = f.with_channel().await;
    f.csat_on(QUESTION).await;
    let conversation = f
        .conversation_of("c1", "m1", "qual o horário de vocês?")
        .await;
    f.ai_replies(&conversation, 1).await;
    f.close(&conversation).await;
    question_sent(&receiver, &conversation).await;

    let next = f
        .conversation_of("c1", "m2", "5 dias e nada do meu pedido")
        .await;
    assert_ne!(next, conversation);
    f.ai_replies(&next, 1).await;
    let r = report(&f).await;
    assert_eq!(r["rated"], 0, "{r}");
    assert_eq!(r["asked"], 1);
}

#[actix_web::test]
async fn with_csat_off_nothing_is_asked_and_a_digit_is_a_message() {
    let f = fixture(&[], json!({})).await;
    let conversation = f.conversation_of("c1", "m1", "oi").await;
    f.ai_replies(&conversation, 1).await;
    f.close(&conversation).await;
    let next = f.conversation_of("c1", "m2", "5").await;
    assert_ne!(next, conversation);
    f.ai_replies(&next, 1).await;
    assert!(by_sender(&f.messages(&conversation).await, "system").is_empty());
    let r = report(&f).await;
    assert_eq!(
        (r["asked"].clone(), r["rated"].clone()),
        (json!(0), json!(0))
    );
}

/// The web chat page (web/src/chat/csat.ts) relies on this: its socket gets the question as a
/// `message` frame marked `metadata.csat = "question"`, and the `csat:N` its stars send over
/// the socket rates the closed conversation rather than opening a new one.
#[actix_web::test]
async fn the_web_chat_socket_gets_the_question_and_rates_with_csat_n() {
    let app = support::TestApp::spawn().await;
    let admin = app.admin().await;
    let (status, body) = app
        .patch(
            "/api/v1/settings",
            &admin.token,
            &json!({"csat": {"enabled": true, "question": QUESTION}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let integration = support::engine::create(
        &app,
        &admin,
        "/api/v1/integrations",
        &json!({"kind": "webchat", "name": "site"}),
    )
    .await;
    let (status, created) = app
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/webchat/{integration}/session"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let conversation = created["conversation_id"].as_str().expect("id").to_string();
    let token = created["token"].as_str().expect("token");
    let (mut ws, _) = support::ws::WsClient::connect(&app, token).await;
    ws.send(json!({"type": "message", "conversation_id": conversation, "content": "meu cupom não funcionou"}))
        .await;
    let spoke = ws.next_of("message_sent").await;
    let (status, _) = app
        .post(
            &format!("/api/v1/conversations/{conversation}/close"),
            &admin.token,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let seq = spoke["message"]["seq"].as_i64().expect("seq");
    let question = ws.next_message_after(seq).await;
    assert_eq!(question["message"]["content"], QUESTION);
    assert_eq!(question["message"]["sender_type"], "system");
    assert_eq!(question["message"]["metadata"]["csat"], "question");
    assert_eq!(
        question["message"]["conversation_id"],
        conversation.as_str()
    );

    ws.send(json!({"type": "message", "conversation_id": conversation, "content": "csat:4", "client_msg_id": "star-4"}))
        .await;
    let rated = ws.next_of("message_sent").await;
    assert_eq!(
        rated["message"]["conversation_id"],
        conversation.as_str(),
        "the rating joins the closed conversation"
    );
    let (status, report) = app.get("/api/v1/analytics/csat", &admin.token).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["rated"], 1, "{report}");
    assert_eq!(report["distribution"]["4"], 1);
    let (_, c) = app
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            &admin.token,
        )
        .await;
    assert_eq!(c["status"], "closed", "rating does not reopen it");
}

#[actix_web::test]
async fn a_rating_goes_to_webhooks_subscribed_to_csat_rated_only() {
    let f = fixture(&[], json!({})).await;
    let receiver = f.with_channel().await;
    f.csat_on(QUESTION).await;
    let hooks = ScriptedReceiver::start(&[]).await;
    let secret = "a-webhook-secret-of-32-characters";
    for (path, events) in [
        ("/csat", json!(["csat_rated"])),
        ("/closed", json!(["conversation_closed"])),
    ] {
        let (status, hook) = f
            .app
            .post(
                "/api/v1/webhooks",
                &f.admin.token,
                &json!({"url": hooks.url(path), "events": events, "secret": secret}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{hook}");
    }
    let conversation = f.conversation_of("c1", "m1", "meu pedido atrasou").await;
    f.ai_replies(&conversation, 1).await;
    f.close(&conversation).await;
    question_sent(&receiver, &conversation).await;
    let rated = f.conversation_of("c1", "m2", "4").await;
    assert_eq!(rated, conversation);

    let hit = support::engine::eventually(WAIT, &mut || {
        let found = hooks.received().into_iter().find(|r| r.path == "/csat");
        async move { found }
    })
    .await
    .expect("the csat_rated webhook was delivered");
    assert_eq!(hit.header("x-atende-event"), Some("csat_rated"));
    let signature = hit.header("x-atende-signature").expect("signed");
    assert_eq!(
        atende::channels::signature::verify_timestamped(
            secret.as_bytes(),
            signature,
            &hit.body,
            chrono::Utc::now().timestamp(),
            300
        ),
        Ok(()),
        "{signature}"
    );
    let body = hit.json();
    assert_eq!(body["event"], "csat_rated");
    assert_eq!(body["conversation_id"], conversation.as_str());
    assert_eq!(body["data"]["rating"], 4);
    let stored = f.messages(&conversation).await;
    let rating = stored
        .iter()
        .find(|m| m["content"] == "4")
        .expect("the rating message is stored");
    assert_eq!(body["data"]["message_id"], rating["id"]);

    // The close went to its own subscriber; the rating went nowhere else.
    let closed = support::engine::eventually(WAIT, &mut || {
        let found = hooks
            .received()
            .into_iter()
            .find(|r| r.path == "/closed")
            .map(|r| r.json());
        async move { found }
    })
    .await
    .expect("the conversation_closed webhook was delivered");
    assert_eq!(closed["event"], "conversation_closed");
    let to_csat: Vec<String> = hooks
        .received()
        .iter()
        .filter(|r| r.path == "/csat")
        .filter_map(|r| r.header("x-atende-event").map(str::to_string))
        .collect();
    assert_eq!(to_csat, ["csat_rated"]);
}
