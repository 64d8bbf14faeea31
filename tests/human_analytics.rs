//! Human analytics (issue 16, item 8): `GET /analytics/humans` reports first response,
//! resolution time, handled, transferred and CSAT per human, per department and for the AI,
//! from the ownership spells written with every owner change. One real conversation: the AI
//! answers, an admin hands it to Ana, Ana answers at once and transfers it to Bob, Bob answers
//! later and it closes, and the customer rates it 5.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::engine::{fixture, Fixture};
use support::Session;

const WAIT: Duration = Duration::from_secs(15);
const QUESTION: &str = "De 1 a 5, como foi o atendimento?";
/// How long Bob waits before answering, so his first response is surely Ana's slower.
const BOB_PAUSE: Duration = Duration::from_millis(1200);
/// The engine's stamps (wall clock, taken inside its own steps) and the test's bounds
/// (monotonic clock, taken around the HTTP calls) come from different clocks; a bound once
/// came out 0.5 ms short on PostgreSQL, so upper bounds get this much slack.
const CLOCK_SLACK_SECONDS: f64 = 0.005;

async fn created(f: &Fixture, path: &str, body: Value) -> Value {
    let (status, created) = f.app.post(path, &f.admin.token, &body).await;
    assert_eq!(status, StatusCode::CREATED, "POST {path}: {created}");
    created
}

async fn member(f: &Fixture, name: &str, department: &Value) -> Session {
    let email = format!("{name}@humans.test");
    created(
        f,
        "/api/v1/users",
        json!({"name": name, "email": email, "password": "user-password", "role": "agent",
               "max_conversations": 5, "department_ids": [department["id"]]}),
    )
    .await;
    f.app.login(&email, "user-password").await
}

async fn ok(f: &Fixture, path: &str, token: &str, body: Value) -> Value {
    let (status, out) = f.app.post(path, token, &body).await;
    assert!(status.is_success(), "POST {path}: {status} {out}");
    out
}

fn seconds(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("a number of seconds, got {v}"))
}

fn find<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array()
        .and_then(|items| items.iter().find(|i| i["id"] == id))
        .unwrap_or_else(|| panic!("{id} in {list}"))
}

#[actix_web::test]
async fn humans_and_departments_are_measured_next_to_the_ai() {
    let f = fixture(&[], json!({})).await;
    let receiver = f.with_channel().await;
    f.csat_on(QUESTION).await;
    let support = created(&f, "/api/v1/departments", json!({"name": "Suporte"})).await;
    let ana = member(&f, "Ana", &support).await;
    let bob = member(&f, "Bob", &support).await;

    let conversation = f.conversation_of("c1", "m1", "minha internet caiu").await;
    f.ai_replies(&conversation, 1).await;
    let path = format!("/api/v1/conversations/{conversation}");
    let (status, body) = f
        .app
        .patch(
            &path,
            &f.admin.token,
            &json!({"department_id": support["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Ana: given the conversation, answers at once.
    let ana_started = Instant::now();
    ok(
        &f,
        &format!("{path}/assign"),
        &f.admin.token,
        json!({"user_id": ana.user_id}),
    )
    .await;
    ok(
        &f,
        &format!("{path}/messages"),
        &ana.token,
        json!({"content": "Oi, sou a Ana, vou verificar."}),
    )
    .await;
    let ana_bound = ana_started.elapsed().as_secs_f64() + CLOCK_SLACK_SECONDS;

    // Bob: given it by Ana, answers after a pause, and it closes.
    let bob_started = Instant::now();
    ok(
        &f,
        &format!("{path}/transfer"),
        &ana.token,
        json!({"user_id": bob.user_id, "note": "cliente sem internet"}),
    )
    .await;
    // The only way to put time between an assignment and a reply is to let it pass.
    actix_web::rt::time::sleep(BOB_PAUSE).await;
    ok(
        &f,
        &format!("{path}/messages"),
        &bob.token,
        json!({"content": "Bob aqui: reiniciei sua conexão."}),
    )
    .await;
    let bob_reply_bound = bob_started.elapsed().as_secs_f64() + CLOCK_SLACK_SECONDS;
    f.close(&conversation).await;
    let bob_bound = bob_started.elapsed().as_secs_f64() + CLOCK_SLACK_SECONDS;

    // The customer rates it.
    support::engine::eventually(WAIT, &mut || {
        let asked = receiver
            .received()
            .into_iter()
            .any(|r| r.json()["message"]["text"] == QUESTION);
        async move { asked.then_some(()) }
    })
    .await
    .expect("the CSAT question reached the channel");
    let (status, accepted) = f.inbound("c1", "m2", "5").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");

    let report = f
        .eventually(WAIT, || async {
            let (status, body) = f.app.get("/api/v1/analytics/humans", &f.admin.token).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            (body["humans"]["csat_ratings"] == 1).then_some(body)
        })
        .await
        .expect("the rating is counted");

    let humans = &report["humans"];
    assert_eq!(humans["handled"], 2, "{report}");
    assert_eq!(humans["transferred"], 1, "{report}");
    assert_eq!(humans["resolved"], 1, "{report}");
    assert_eq!(humans["transfer_rate"], 0.5, "{report}");
    assert_eq!(humans["avg_csat"], 5.0, "{report}");

    let a = &find(&report["agents"], &ana.user_id)["figures"];
    let b = &find(&report["agents"], &bob.user_id)["figures"];
    assert_eq!(find(&report["agents"], &ana.user_id)["name"], "Ana");
    assert_eq!(
        (&a["handled"], &a["transferred"], &a["resolved"]),
        (&json!(1), &json!(1), &json!(0)),
        "{report}"
    );
    assert_eq!(
        (&b["handled"], &b["transferred"], &b["resolved"]),
        (&json!(1), &json!(0), &json!(1)),
        "{report}"
    );
    let ana_first = seconds(&a["avg_first_response_seconds"]);
    let bob_first = seconds(&b["avg_first_response_seconds"]);
    assert!(
        (0.0..=ana_bound).contains(&ana_first),
        "Ana answered within {ana_bound}s: {ana_first}"
    );
    assert!(
        (BOB_PAUSE.as_secs_f64()..=bob_reply_bound).contains(&bob_first),
        "Bob answered after his pause: {bob_first} (pause {BOB_PAUSE:?}, reply within {bob_reply_bound}s): {report}"
    );
    assert!(ana_first < bob_first, "Ana replied faster");
    let bob_resolution = seconds(&b["avg_resolution_seconds"]);
    assert!(
        (bob_first..=bob_bound).contains(&bob_resolution),
        "resolution {bob_resolution}s between Bob's reply and the close"
    );
    assert_eq!(
        a["avg_resolution_seconds"],
        Value::Null,
        "Ana resolved none"
    );
    assert_eq!(
        (&b["csat_ratings"], &b["avg_csat"]),
        (&json!(1), &json!(5.0))
    );
    assert_eq!(a["csat_ratings"], 0, "the rating is Bob's, who closed it");

    // The AI, measured the same way: it answered and was handed over.
    let ai = &report["ai"];
    assert_eq!((&ai["handled"], &ai["transferred"]), (&json!(1), &json!(1)));
    assert!(seconds(&ai["avg_first_response_seconds"]) >= 0.0);
    let bot = find(&report["ai_agents"], &f.agent_id);
    assert_eq!(bot["figures"]["handled"], 1);

    // Departments: both humans' spells in Suporte; the AI's began before it had one.
    let department = find(&report["departments"], support["id"].as_str().expect("id"));
    assert_eq!(department["name"], "Suporte");
    assert_eq!(department["humans"]["handled"], 2);
    assert_eq!(department["humans"]["transferred"], 1);
    assert_eq!(department["humans"]["avg_csat"], 5.0);
    let mean = seconds(&department["humans"]["avg_first_response_seconds"]);
    assert!(
        (mean - (ana_first + bob_first) / 2.0).abs() < 1e-6,
        "the department's mean is over its spells: {mean}"
    );
    assert_eq!(department["ai"]["handled"], 0);
    let none = report["departments"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["id"].is_null()))
        .expect("the no-department group");
    assert_eq!(none["ai"]["handled"], 1);

    // A period before any of it is empty; the report is for those who oversee the tenant.
    let (status, empty) = f
        .app
        .get(
            "/api/v1/analytics/humans?from=2026-01-01&to=2026-01-02",
            &f.admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(empty["humans"]["handled"], 0);
    assert_eq!(empty["agents"], json!([]));
    let (status, _) = f.app.get("/api/v1/analytics/humans", &ana.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = f
        .app
        .get("/api/v1/analytics/humans?from=yesterday", &f.admin.token)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[actix_web::test]
async fn tenants_see_only_their_own_handling() {
    let f = fixture(&[], json!({})).await;
    let conversation = f.conversation_of("c1", "m1", "olá").await;
    f.ai_replies(&conversation, 1).await;
    let other = f.app.other_tenant("outra").await;
    let (status, body) = f.app.get("/api/v1/analytics/humans", &other.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ai"]["handled"], 0, "{body}");
    assert_eq!(body["ai_agents"], json!([]));
    let (_, mine) = f.app.get("/api/v1/analytics/humans", &f.admin.token).await;
    assert_eq!(mine["ai"]["handled"], 1, "{mine}");
}
