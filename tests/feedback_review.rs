//! Feedback review (issue 16, item 10): `GET /api/v1/feedback` lists detected feedback with
//! the AI reply judged and the customer's message, filtered by kind, agent and period,
//! paginated, for supervisors and admins only.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::app::assert_field_error;
use support::engine::{fixture, Fixture};

const WAIT: Duration = Duration::from_secs(15);

async fn say(f: &Fixture, contact: &str, id: &str, text: &str) -> String {
    f.conversation_of(contact, id, text).await
}

async fn list(f: &Fixture, query: &str) -> Value {
    let (status, body) = f
        .app
        .get(&format!("/api/v1/feedback{query}"), &f.admin.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[actix_web::test]
async fn detected_feedback_is_listed_with_the_reply_and_the_customers_message() {
    let f = fixture(&[], json!({})).await;
    let a = say(&f, "c1", "m1", "como troco o produto?").await;
    let reply_a = f.ai_replies(&a, 1).await.remove(0);
    say(&f, "c1", "m2", "isso não resolveu nada").await;
    let b = say(&f, "c2", "n1", "qual o prazo de entrega?").await;
    f.ai_replies(&b, 1).await;
    say(&f, "c2", "n2", "qual o prazo de entrega?").await;

    let all = f
        .eventually(WAIT, || async {
            let page = list(&f, "").await;
            (page["items"].as_array().map(Vec::len) == Some(2)).then_some(page)
        })
        .await
        .expect("both listed");
    // Newest first.
    assert_eq!(all["items"][0]["kind"], "repeated_question", "{all}");
    let complaint = &all["items"][1];
    assert_eq!(complaint["kind"], "complaint");
    assert_eq!(complaint["conversation_id"], a.as_str());
    assert_eq!(complaint["agent_id"], f.agent_id.as_str());
    assert_eq!(complaint["reply"]["id"], reply_a["id"]);
    assert_eq!(complaint["reply"]["content"], reply_a["content"]);
    assert_eq!(
        complaint["customer_message"]["content"],
        "isso não resolveu nada"
    );
    assert!(all["next_cursor"].is_null());

    let complaints = list(&f, "?kind=complaint").await;
    assert_eq!(complaints["items"].as_array().map(Vec::len), Some(1));
    let by_agent = list(&f, &format!("?agent_id={}", f.agent_id)).await;
    assert_eq!(by_agent["items"].as_array().map(Vec::len), Some(2));
    let other_agent = list(&f, "?agent_id=someone-else").await;
    assert_eq!(other_agent["items"], json!([]));
    let past = list(&f, "?from=2020-01-01&to=2020-01-31").await;
    assert_eq!(past["items"], json!([]));

    // Pages of one.
    let first = list(&f, "?limit=1").await;
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = list(&f, &format!("?limit=1&cursor={cursor}")).await;
    assert_eq!(second["items"][0]["id"], all["items"][1]["id"]);
    assert!(second["next_cursor"].is_null());

    // Bad input and roles.
    let (status, body) = f
        .app
        .get("/api/v1/feedback?kind=angry", &f.admin.token)
        .await;
    assert_field_error(status, &body, "kind");
    let (status, body) = f.app.get("/api/v1/feedback?limit=0", &f.admin.token).await;
    assert_field_error(status, &body, "limit");
    let (status, body) = f
        .app
        .get("/api/v1/feedback?cursor=zzz", &f.admin.token)
        .await;
    assert_field_error(status, &body, "cursor");
    let (status, body) = f
        .app
        .get(
            "/api/v1/feedback?from=2026-02-02&to=2026-02-01",
            &f.admin.token,
        )
        .await;
    assert_field_error(status, &body, "from");
    let agent = f
        .app
        .user_with_role(&f.admin, "agent", "agent@tenant-a.test")
        .await;
    let (status, _) = f.app.get("/api/v1/feedback", &agent.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let supervisor = f
        .app
        .user_with_role(&f.admin, "supervisor", "sup@tenant-a.test")
        .await;
    let (status, _) = f.app.get("/api/v1/feedback", &supervisor.token).await;
    assert_eq!(status, StatusCode::OK);
    let other = f.app.other_tenant("tenant-b").await;
    let (status, theirs) = f.app.get("/api/v1/feedback", &other.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(theirs["items"], json!([]), "another tenant sees none");
}
