//! The conversation engine end to end: signed webhook → durable message → actor →
//! distribution → AI turn against a scripted OpenAI-compatible server → reply stored.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use support::engine::{by_sender, fixture};
use support::scripted_llm::Step;

const WAIT: Duration = Duration::from_secs(15);

#[actix_web::test]
async fn a_message_is_answered_by_the_ai_agent() {
    let f = fixture(&[], json!({})).await;
    f.llm.push(Step::reply("Olá! Como posso ajudar?"));
    let (status, accepted) = f.inbound("c1", "m1", "oi, bom dia").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["duplicate"], false);
    let conversation = accepted["conversation_id"]
        .as_str()
        .expect("id")
        .to_string();

    let messages = f
        .eventually(WAIT, || async {
            let m = f.messages(&conversation).await;
            (by_sender(&m, "ai_agent").len() == 1).then_some(m)
        })
        .await
        .expect("the AI answered");
    assert_eq!(messages[0]["sender_type"], "contact");
    assert_eq!(messages[0]["seq"], 1);
    assert_eq!(messages[1]["content"], "Olá! Como posso ajudar?");
    assert_eq!(messages[1]["seq"], 2);
    let request = &f.llm.requests()[0];
    assert_eq!(request.last_user_message().as_deref(), Some("oi, bom dia"));
    assert_eq!(request.body["model"], "gpt-4o-mini");

    let c = f.conversation(&conversation).await;
    assert_eq!(c["owner"]["type"], "ai_agent");
    assert_eq!(c["owner"]["id"], f.agent_id);
    assert_eq!(c["status"], "open");

    let (status, log) = f
        .app
        .get(
            &format!("/api/v1/conversations/{conversation}/ai-log"),
            &f.admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let turn = &log["items"][0];
    assert_eq!(turn["status"], "ok");
    assert_eq!(turn["prompt_tokens"], 10);
    assert_eq!(turn["completion_tokens"], 5);
}

#[actix_web::test]
async fn messages_within_the_context_window_get_one_turn() {
    let f = fixture(
        &[("engine.passivate_after_seconds", "1")],
        json!({"settings": {"context_timer_seconds": 1}}),
    )
    .await;
    for (i, text) in ["quero trocar", "um produto", "que veio com defeito"]
        .iter()
        .enumerate()
    {
        let (status, _) = f.inbound("c1", &format!("m{i}"), text).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    assert_eq!(f.llm.wait_for_requests(1, WAIT).await, 1);
    // A passivated actor was idle: nothing buffered, no timer, no turn left to run.
    f.all_passivated(WAIT).await;
    assert_eq!(
        f.llm.request_count(),
        1,
        "exactly one LLM request for the three messages"
    );
    let asked = f.llm.requests()[0]
        .last_user_message()
        .expect("user message");
    for text in ["quero trocar", "um produto", "que veio com defeito"] {
        assert!(asked.contains(text), "{asked}");
    }
}

#[actix_web::test]
async fn a_message_during_a_turn_waits_for_the_next_turn() {
    let f = fixture(&[], json!({})).await;
    f.llm.push(Step::delayed(800, Step::reply("first answer")));
    f.llm.push(Step::reply("second answer"));
    let (_, a) = f.inbound("c1", "m1", "primeira pergunta").await;
    let conversation = a["conversation_id"].as_str().expect("id").to_string();
    assert_eq!(f.llm.wait_for_requests(1, WAIT).await, 1);
    f.inbound("c1", "m2", "segunda pergunta").await;
    assert_eq!(f.llm.wait_for_requests(2, WAIT).await, 2);
    assert_eq!(f.llm.max_in_flight(), 1, "never two turns at once");
    let requests = f.llm.requests();
    assert_eq!(
        requests[1].last_user_message().as_deref(),
        Some("segunda pergunta")
    );
    let first_end = requests[0].finished_at.expect("first answered");
    assert!(requests[1].started_at >= first_end);
    let messages = f
        .eventually(WAIT, || async {
            let m = f.messages(&conversation).await;
            (by_sender(&m, "ai_agent").len() == 2).then_some(m)
        })
        .await
        .expect("both answered");
    let seqs: Vec<i64> = messages.iter().filter_map(|m| m["seq"].as_i64()).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
}

#[actix_web::test]
async fn a_duplicate_webhook_is_stored_once() {
    let f = fixture(&[], json!({})).await;
    let sends = (0..5).map(|_| f.inbound("c1", "same-id", "olá"));
    let results = futures::future::join_all(sends).await;
    let mut conversation = None;
    let mut duplicates = 0;
    for (status, body) in &results {
        assert_eq!(*status, StatusCode::ACCEPTED, "{body}");
        conversation.get_or_insert_with(|| body["conversation_id"].clone());
        assert_eq!(
            body["conversation_id"],
            *conversation.as_ref().expect("set")
        );
        if body["duplicate"] == true {
            duplicates += 1;
        }
    }
    assert_eq!(duplicates, 4);
    let conversation = conversation
        .and_then(|c| c.as_str().map(str::to_string))
        .expect("id");
    let messages = f.messages(&conversation).await;
    assert_eq!(by_sender(&messages, "contact").len(), 1);
}

#[actix_web::test]
async fn bad_webhooks_are_refused_and_store_nothing() {
    let f = fixture(&[], json!({})).await;
    let body =
        json!({"contact": {"external_id": "c1"}, "message": {"external_id": "m1", "text": "oi"}})
            .to_string();
    let (status, err) = f.inbound_raw(&body, Some("sha256=00ff")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(err["code"], "AUTH_ERROR");
    let (status, _) = f.inbound_raw(&body, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let bad = "{\"contact\": {}}";
    let signature =
        atende::channels::signature::sign(support::engine::SECRET.as_bytes(), bad.as_bytes());
    let (status, err) = f.inbound_raw(bad, Some(&signature)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["code"], "VALIDATION_ERROR");
    let unknown = f
        .app
        .http
        .post(
            f.app
                .url("/webhooks/generic/01930000-0000-7000-8000-000000000000"),
        )
        .body(body.clone())
        .send()
        .await
        .expect("sent");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let (_, list) = f.app.get("/api/v1/conversations", &f.admin.token).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
    assert_eq!(f.llm.request_count(), 0);
}

#[actix_web::test]
async fn max_conversations_is_never_exceeded() {
    let f = fixture(&[], json!({"max_conversations": 10})).await;
    f.llm.set_default(Step::delayed(200, Step::reply("ok")));
    let ids: Vec<(String, String)> = (0..200)
        .map(|i| (format!("c{i}"), format!("m{i}")))
        .collect();
    let sends = ids.iter().map(|(c, m)| f.inbound(c, m, "preciso de ajuda"));
    let results = futures::future::join_all(sends).await;
    assert!(results.iter().all(|(s, _)| *s == StatusCode::ACCEPTED));
    assert_eq!(f.llm.wait_for_requests(10, WAIT).await, 10);
    // Every conversation was decided (admitted or queued) before anything is counted.
    f.eventually(WAIT, || async {
        let (_, queued) = f
            .app
            .get(
                "/api/v1/conversations?status=queued&limit=200",
                &f.admin.token,
            )
            .await;
        (queued["items"].as_array().map(Vec::len) == Some(190)).then_some(())
    })
    .await
    .expect("190 conversations queued");
    f.wait_for_turns("ok", 10, WAIT).await;
    assert!(
        f.llm.max_in_flight() <= 10,
        "max in flight {}",
        f.llm.max_in_flight()
    );
    let (_, owned) = f
        .app
        .get(
            "/api/v1/conversations?owner=ai_agent&limit=200",
            &f.admin.token,
        )
        .await;
    let (_, queued) = f
        .app
        .get(
            "/api/v1/conversations?status=queued&limit=200",
            &f.admin.token,
        )
        .await;
    assert_eq!(owned["items"].as_array().map(Vec::len), Some(10));
    assert_eq!(queued["items"].as_array().map(Vec::len), Some(190));
    assert_eq!(
        f.llm.request_count(),
        10,
        "only admitted conversations reach the LLM"
    );
}

#[actix_web::test]
async fn the_rate_limit_holds_under_concurrency() {
    let f = fixture(&[], json!({"limits": {"requests_per_minute": 5}})).await;
    let ids: Vec<(String, String)> = (0..50)
        .map(|i| (format!("c{i}"), format!("m{i}")))
        .collect();
    let sends = ids.iter().map(|(c, m)| f.inbound(c, m, "oi"));
    futures::future::join_all(sends).await;
    assert_eq!(f.llm.wait_for_requests(5, WAIT).await, 5);
    // Every other conversation's turn was refused by the limit before the count.
    f.wait_for_turns("limited", 45, WAIT).await;
    assert_eq!(f.llm.request_count(), 5);
}

#[actix_web::test]
async fn a_daily_budget_for_three_turns_allows_three() {
    let f = fixture(
        &[
            ("llm.prices.budget-model.prompt", "0"),
            ("llm.prices.budget-model.completion", "0.01"),
        ],
        json!({"model": "budget-model", "max_tokens": 50, "limits": {"daily_cost_usd": 0.0015}}),
    )
    .await;
    f.llm.set_default(Step::Reply {
        content: "ok".into(),
        prompt_tokens: 40,
        completion_tokens: 50,
    });
    for i in 0..5 {
        f.inbound(&format!("c{i}"), &format!("m{i}"), "quanto custa?")
            .await;
        let expected = (i + 1).min(3);
        f.llm
            .wait_for_requests(expected, Duration::from_secs(3))
            .await;
        // The turn is decided (answered, or refused by the budget) before the next one.
        if i < 3 {
            f.wait_for_turns("ok", i + 1, WAIT).await;
        } else {
            f.wait_for_turns("limited", i - 2, WAIT).await;
        }
    }
    assert_eq!(
        f.llm.request_count(),
        3,
        "0.0015 USD at 0.0005 per turn is three turns"
    );
}

#[actix_web::test]
async fn provider_failures_retry_then_hand_over_with_the_reason() {
    let f = fixture(&[], json!({})).await;
    f.llm.push(Step::error(
        401,
        "invalid_request_error",
        Some("invalid_api_key"),
        "Incorrect API key",
    ));
    let (_, a) = f.inbound("c1", "m1", "oi").await;
    let conversation = a["conversation_id"].as_str().expect("id").to_string();
    let c = f
        .eventually(WAIT, || async {
            let c = f.conversation(&conversation).await;
            (c["escalation_reason"] == "invalid_api_key").then_some(c)
        })
        .await
        .expect("handed over");
    assert_ne!(c["owner"]["type"], "ai_agent");
    let messages = f.messages(&conversation).await;
    assert_eq!(
        by_sender(&messages, "contact").len(),
        1,
        "the customer's message is kept"
    );
    assert_eq!(
        by_sender(&messages, "system").len(),
        1,
        "the customer is told"
    );
}

#[actix_web::test]
async fn asking_for_a_human_escalates() {
    let f = fixture(&[], json!({})).await;
    let (_, a) = f
        .inbound(
            "c1",
            "m1",
            "isso não resolveu, quero falar com um atendente",
        )
        .await;
    let conversation = a["conversation_id"].as_str().expect("id").to_string();
    f.eventually(WAIT, || async {
        let c = f.conversation(&conversation).await;
        (c["escalation_reason"] == "customer_requested_human").then_some(())
    })
    .await
    .expect("escalated");
    assert_eq!(f.llm.request_count(), 0);
}

#[actix_web::test]
async fn operators_reply_assign_escalate_and_close() {
    let f = fixture(&[], json!({})).await;
    let agent = f
        .app
        .user_with_role(&f.admin, "agent", "human@tenant-a.test")
        .await;
    let (_, a) = f.inbound("c1", "m1", "oi").await;
    let conversation = a["conversation_id"].as_str().expect("id").to_string();
    f.llm.wait_for_requests(1, WAIT).await;

    let path = format!("/api/v1/conversations/{conversation}");
    // The agent role cannot touch a conversation the AI owns.
    let (status, _) = f
        .app
        .post(
            &format!("{path}/messages"),
            &agent.token,
            &json!({"content": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, c) = f
        .app
        .post(
            &format!("{path}/escalate"),
            &f.admin.token,
            &json!({"reason": "vip", "user_id": agent.user_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["owner"]["type"], "user");
    assert_eq!(c["owner"]["id"], agent.user_id);
    assert_eq!(c["escalation_reason"], "vip");

    let (status, m) = f
        .app
        .post(
            &format!("{path}/messages"),
            &agent.token,
            &json!({"content": "Olá, sou a Ana"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    assert_eq!(m["sender_type"], "user");
    let (status, m) = f
        .app
        .post(
            &format!("{path}/messages"),
            &agent.token,
            &json!({"content": "  "}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{m}");

    let (status, _) = f
        .app
        .post(
            &format!("{path}/assign"),
            &agent.token,
            &json!({"agent_id": f.agent_id}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, c) = f
        .app
        .post(
            &format!("{path}/assign"),
            &f.admin.token,
            &json!({"agent_id": f.agent_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["owner"]["type"], "ai_agent");

    let (status, c) = f
        .app
        .post(
            &format!("{path}/close"),
            &f.admin.token,
            &json!({"reason": "resolved"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "closed");
    let (status, err) = f
        .app
        .post(&format!("{path}/close"), &f.admin.token, &json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");

    let (_, page) = f
        .app
        .get(&format!("{path}/messages?after_seq=1"), &f.admin.token)
        .await;
    let seqs: Vec<i64> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|m| m["seq"].as_i64())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1) && seqs.first() == Some(&2),
        "{seqs:?}"
    );

    // Another tenant sees none of it.
    let other = f.app.other_tenant("tenant-b").await;
    let (status, _) = f.app.get(&path, &other.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = f
        .app
        .post(&format!("{path}/close"), &other.token, &json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn queued_conversations_are_assigned_when_a_human_frees_up() {
    let app = support::TestApp::spawn_with(&[("engine.queue_check_interval_seconds", "1")]).await;
    let admin = app.admin().await;
    // Humans only: no default agent, AI distribution off (the default).
    let (status, human) = app
        .post("/api/v1/users", &admin.token,
            &json!({"name": "Ana", "email": "ana@tenant-a.test", "password": "password-ana", "role": "agent", "max_conversations": 1}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{human}");
    let integration = support::engine::create(
        &app,
        &admin,
        "/api/v1/integrations",
        &json!({"kind": "generic", "name": "web", "secret": support::engine::SECRET}),
    )
    .await;
    let first = app.customer_says(&integration, "c1", "m1", "oi").await;
    let second = app.customer_says(&integration, "c2", "m2", "oi").await;
    let get = |id: serde_json::Value| {
        let path = format!("/api/v1/conversations/{}", id.as_str().unwrap_or_default());
        let app = &app;
        let token = admin.token.clone();
        async move { app.get(&path, &token).await.1 }
    };
    let wait_owner = |id: serde_json::Value, owner: Option<String>| {
        let get = &get;
        async move {
            support::engine::eventually(WAIT, &mut || {
                let id = id.clone();
                let owner = owner.clone();
                async move {
                    let c = get(id).await;
                    (c["owner"]["id"].as_str().map(str::to_string) == owner).then_some(c)
                }
            })
            .await
        }
    };
    let human_id = human["id"].as_str().map(str::to_string);
    let c1 = wait_owner(first["conversation_id"].clone(), human_id.clone())
        .await
        .expect("first goes to Ana");
    assert_eq!(c1["status"], "open");
    let c2 = get(second["conversation_id"].clone()).await;
    assert_eq!(c2["status"], "queued", "Ana is full: {c2}");

    let close = format!(
        "/api/v1/conversations/{}/close",
        first["conversation_id"].as_str().unwrap_or_default()
    );
    let (status, _) = app.post(&close, &admin.token, &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let c2 = wait_owner(second["conversation_id"].clone(), human_id)
        .await
        .expect("queued one assigned after capacity freed");
    assert_eq!(c2["status"], "open");
}

/// The distributor's queue never takes a conversation away from whoever staff gave it to
/// while it waited: when capacity frees, the queue skips it and serves the next one.
#[actix_web::test]
async fn a_queued_conversation_assigned_by_hand_stays_with_its_new_owner() {
    let app = support::TestApp::spawn_with(&[("engine.queue_check_interval_seconds", "1")]).await;
    let admin = app.admin().await;
    let user = |name: &str, available: bool| {
        json!({"name": name, "email": format!("{name}@tenant-a.test"), "password": format!("password-{name}"),
            "role": "agent", "max_conversations": 1, "available": available})
    };
    let (status, ana) = app
        .post("/api/v1/users", &admin.token, &user("ana", true))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ana}");
    // Bob is away: only the admin gives him work.
    let (status, bob) = app
        .post("/api/v1/users", &admin.token, &user("bob", false))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bob}");
    let integration = support::engine::create(
        &app,
        &admin,
        "/api/v1/integrations",
        &json!({"kind": "generic", "name": "web", "secret": support::engine::SECRET}),
    )
    .await;
    let mut conversations = Vec::new();
    for contact in ["c1", "c2", "c3"] {
        let accepted = app
            .signed_webhook(
                &integration,
                &support::webhook::generic_body(contact, None, &format!("m-{contact}"), "oi"),
            )
            .await;
        conversations.push(
            accepted["conversation_id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    let owner_of = |id: String| {
        let app = &app;
        let token = admin.token.clone();
        async move {
            let (_, view) = app
                .get(&format!("/api/v1/conversations/{id}"), &token)
                .await;
            view["owner"]["id"].as_str().map(str::to_string)
        }
    };
    let ana_id = ana["id"].as_str().expect("id").to_string();
    let bob_id = bob["id"].as_str().expect("id").to_string();
    // Ana (capacity 1) gets the first; the other two wait.
    support::engine::eventually(WAIT, &mut || {
        let owner = owner_of(conversations[0].clone());
        let ana_id = ana_id.clone();
        async move { (owner.await == Some(ana_id)).then_some(()) }
    })
    .await
    .expect("the first goes to Ana");
    let (status, body) = app
        .post(
            &format!("/api/v1/conversations/{}/assign", conversations[1]),
            &admin.token,
            &json!({"user_id": bob_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Ana frees up: the queue serves the third (the second is Bob's now).
    let (status, _) = app
        .post(
            &format!("/api/v1/conversations/{}/close", conversations[0]),
            &admin.token,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    support::engine::eventually(WAIT, &mut || {
        let owner = owner_of(conversations[2].clone());
        let ana_id = ana_id.clone();
        async move { (owner.await == Some(ana_id)).then_some(()) }
    })
    .await
    .expect("the third goes to Ana");
    assert_eq!(
        owner_of(conversations[1].clone()).await,
        Some(bob_id),
        "Bob keeps his"
    );
}

/// Two available humans for round robin; returns (admin, [ana, bob] ids, integration id).
async fn two_humans(
    app: &support::TestApp,
    distribution: serde_json::Value,
) -> (support::Session, Vec<String>, String) {
    let admin = app.admin().await;
    let mut ids = Vec::new();
    for name in ["ana", "bob"] {
        let (status, user) = app
            .post("/api/v1/users", &admin.token, &json!({
                "name": name, "email": format!("{name}@tenant-a.test"), "password": "password-123",
                "role": "agent", "max_conversations": 5,
            }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        ids.push(user["id"].as_str().expect("id").to_string());
    }
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/settings/distribution",
            Some(&admin.token),
            Some(&distribution),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let integration = support::engine::create(
        app,
        &admin,
        "/api/v1/integrations",
        &json!({"kind": "generic", "name": "web", "secret": support::engine::SECRET}),
    )
    .await;
    (admin, ids, integration)
}

async fn owner_of(app: &support::TestApp, token: &str, conversation: &str) -> Option<String> {
    let (_, c) = app
        .get(&format!("/api/v1/conversations/{conversation}"), token)
        .await;
    c["owner"]["id"].as_str().map(str::to_string)
}

#[actix_web::test]
async fn the_previous_owner_gets_the_contact_back() {
    let app = support::TestApp::spawn().await;
    let (admin, humans, integration) = two_humans(&app, json!({"method": "round_robin"})).await;
    let first = app.customer_says(&integration, "c1", "m1", "oi").await;
    let first_id = first["conversation_id"].as_str().expect("id").to_string();
    let mut owner_check = || owner_of(&app, &admin.token, &first_id);
    let owner = support::engine::eventually(WAIT, &mut owner_check)
        .await
        .expect("assigned");
    let (status, _) = app
        .post(
            &format!("/api/v1/conversations/{first_id}/close"),
            &admin.token,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Round robin would now pick the other human; the contact's previous owner wins.
    let again = app.customer_says(&integration, "c1", "m2", "voltei").await;
    let again_id = again["conversation_id"].as_str().expect("id").to_string();
    assert_ne!(again_id, first_id, "a closed conversation is not reopened");
    let mut check = || owner_of(&app, &admin.token, &again_id);
    let sticky = support::engine::eventually(WAIT, &mut check)
        .await
        .expect("assigned");
    assert_eq!(sticky, owner);

    // A new contact continues the rotation.
    let other = app.customer_says(&integration, "c2", "m3", "oi").await;
    let other_id = other["conversation_id"].as_str().expect("id").to_string();
    let mut check = || owner_of(&app, &admin.token, &other_id);
    let next = support::engine::eventually(WAIT, &mut check)
        .await
        .expect("assigned");
    assert_ne!(next, owner);
    assert!(humans.contains(&next));
}

#[actix_web::test]
async fn a_late_first_response_is_reassigned() {
    let app = support::TestApp::spawn_with(&[
        ("engine.sla_minute_ms", "300"),
        ("engine.sla_check_interval_ms", "200"),
    ])
    .await;
    let (admin, humans, integration) = two_humans(
        &app,
        json!({"method": "round_robin", "first_response_minutes": 1}),
    )
    .await;
    let accepted = app.customer_says(&integration, "c1", "m1", "oi").await;
    let id = accepted["conversation_id"]
        .as_str()
        .expect("id")
        .to_string();
    let reassigned = reassigned_after_the_sla(&app, &admin.token, &id).await;
    assert!(humans.contains(&reassigned));

    // Answered in time: the owner stays. A conversation opened after the answer and left
    // unanswered is reassigned by a later sweep, and that sweep saw the answered one too.
    let (status, _) = app
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            &admin.token,
            &json!({"content": "Olá!"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let late = app.customer_says(&integration, "c2", "m2", "alguém?").await;
    let late = late["conversation_id"].as_str().expect("id").to_string();
    reassigned_after_the_sla(&app, &admin.token, &late).await;
    assert_eq!(
        owner_of(&app, &admin.token, &id).await.as_deref(),
        Some(reassigned.as_str())
    );
}

/// Waits for the conversation's first owner, then for the SLA to give it to another; the
/// new owner.
async fn reassigned_after_the_sla(app: &support::TestApp, token: &str, id: &str) -> String {
    let mut check = || owner_of(app, token, id);
    let first = support::engine::eventually(WAIT, &mut check)
        .await
        .expect("assigned");
    support::engine::eventually(WAIT, &mut || {
        let first = first.clone();
        async move { owner_of(app, token, id).await.filter(|o| *o != first) }
    })
    .await
    .expect("reassigned after the SLA")
}

#[actix_web::test]
async fn welcome_delay_and_message_limit_follow_the_agent_settings() {
    let f = fixture(
        &[],
        json!({"settings": {
            "welcome_message": "Bem-vindo à loja!",
            "response_delay_min_seconds": 1, "response_delay_max_seconds": 1,
            "escalate_after_messages": 2,
        }}),
    )
    .await;
    let (_, a) = f.inbound("c1", "m1", "oi").await;
    let conversation = a["conversation_id"].as_str().expect("id").to_string();
    let messages = f
        .eventually(WAIT, || async {
            let m = f.messages(&conversation).await;
            (by_sender(&m, "ai_agent").len() == 1).then_some(m)
        })
        .await
        .expect("answered");
    let senders: Vec<&str> = messages
        .iter()
        .filter_map(|m| m["sender_type"].as_str())
        .collect();
    assert_eq!(senders, vec!["contact", "system", "ai_agent"]);
    assert_eq!(messages[1]["content"], "Bem-vindo à loja!");
    let llm_done = f.llm.requests()[0].finished_at.expect("answered");
    let _ = llm_done;
    let replied: chrono::DateTime<chrono::Utc> = messages[2]["created_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("time");
    let asked: chrono::DateTime<chrono::Utc> = messages[0]["created_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("time");
    assert!(
        replied - asked >= chrono::Duration::milliseconds(1000),
        "humanized delay: {}",
        replied - asked
    );

    f.inbound("c1", "m2", "e agora?").await;
    f.llm.wait_for_requests(2, WAIT).await;
    f.inbound("c1", "m3", "mais uma").await;
    let c = f
        .eventually(WAIT, || async {
            let c = f.conversation(&conversation).await;
            (c["escalation_reason"] == "message_limit").then_some(c)
        })
        .await
        .expect("escalated after 2 customer messages");
    assert_ne!(c["owner"]["type"], "ai_agent");
}

#[actix_web::test]
async fn idle_conversations_passivate_and_come_back() {
    let f = fixture(
        &[("engine.passivate_after_seconds", "1")],
        json!({"max_conversations": 1}),
    )
    .await;
    let (_, a) = f.inbound("c1", "m1", "oi").await;
    let conversation = a["conversation_id"].as_str().expect("id").to_string();
    f.llm.wait_for_requests(1, WAIT).await;
    f.all_passivated(WAIT).await;
    // Its admission slot was released: another customer gets the only slot.
    let (_, b) = f.inbound("c2", "m2", "oi").await;
    f.llm.wait_for_requests(2, WAIT).await;
    let other = b["conversation_id"].as_str().expect("id").to_string();
    assert_eq!(f.conversation(&other).await["owner"]["type"], "ai_agent");
    // The first comes back from the store when its customer writes again.
    f.all_passivated(WAIT).await;
    f.inbound("c1", "m3", "voltei").await;
    assert_eq!(f.llm.wait_for_requests(3, WAIT).await, 3);
    let messages = f
        .eventually(WAIT, || async {
            let m = f.messages(&conversation).await;
            (by_sender(&m, "ai_agent").len() == 2).then_some(m)
        })
        .await
        .expect("answered after rehydration");
    let seqs: Vec<i64> = messages.iter().filter_map(|m| m["seq"].as_i64()).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
}

/// The system message of a logged chat request.
fn system_prompt(request: &support::scripted_llm::LoggedRequest) -> String {
    request.body["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[actix_web::test]
async fn earlier_tool_results_reach_later_turns_also_after_rehydration() {
    let f = fixture(&[("engine.passivate_after_seconds", "1")], json!({})).await;
    f.attach_tool(&json!({"name": "calc", "tool_type": "calculator"}))
        .await;
    f.llm.push(Step::ToolCalls(vec![(
        "calc".into(),
        json!({"expression": "6 * 7"}),
    )]));
    f.llm.push(Step::reply("Dá 42."));
    let conversation = f.conversation_of("c1", "m1", "quanto é 6 vezes 7?").await;
    f.eventually(WAIT, || async {
        let m = f.messages(&conversation).await;
        (by_sender(&m, "ai_agent").len() == 1).then_some(())
    })
    .await
    .expect("turn 1 answered");
    let first = f.llm.requests();
    assert_eq!(first.len(), 2, "a tool call, then the answer");
    assert!(
        !system_prompt(&first[0]).contains("Earlier tool results"),
        "nothing to remember on the first turn"
    );

    // Turn 2: the result of turn 1's call is in the prompt, not only in turn 1's messages.
    f.inbound("c1", "m2", "e o dobro?").await;
    assert_eq!(f.llm.wait_for_requests(3, WAIT).await, 3);
    let second = system_prompt(&f.llm.requests()[2]);
    assert!(second.contains("Earlier tool results"), "{second}");
    assert!(
        second.contains(r#"calc({"expression":"6 * 7"})"#),
        "{second}"
    );
    assert!(second.contains("42"), "{second}");

    // Persisted with the conversation: a rehydrated actor still knows it.
    f.all_passivated(WAIT).await;
    f.inbound("c1", "m3", "obrigado").await;
    assert_eq!(f.llm.wait_for_requests(4, WAIT).await, 4);
    let third = system_prompt(&f.llm.requests()[3]);
    assert!(third.contains(r#"calc({"expression":"6 * 7"})"#), "{third}");
}

#[actix_web::test]
async fn the_reply_goes_out_through_the_integration_signed() {
    let receiver = support::receiver::ScriptedReceiver::start(&[]).await;
    let f = fixture(&[], json!({})).await;
    let (status, _) = f
        .app
        .patch(
            &format!("/api/v1/integrations/{}", f.integration_id),
            &f.admin.token,
            &json!({"outbound_url": receiver.url("/out")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    f.llm.push(Step::reply("Seu pedido chega amanhã."));
    let (_, a) = f.inbound("c9", "m1", "cadê meu pedido?").await;
    let got = receiver.wait_for(1, WAIT).await;
    let first = got.first().expect("the receiver got the reply");
    assert_eq!(
        (first.method.as_str(), first.path.as_str()),
        ("POST", "/out")
    );
    let signature = first
        .header("X-Atende-Signature")
        .unwrap_or_default()
        .to_string();
    let body = String::from_utf8_lossy(&first.body).to_string();
    assert!(atende::channels::signature::verify(
        support::engine::SECRET.as_bytes(),
        body.as_bytes(),
        &signature
    ));
    let sent: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(sent["conversation_id"], a["conversation_id"]);
    assert_eq!(sent["contact"]["external_id"], "c9");
    assert_eq!(sent["message"]["text"], "Seu pedido chega amanhã.");
    assert_eq!(sent["message"]["seq"], 2);
}
