//! Routing that is measured (issue 16, item 1): `by_performance` ranks by each candidate's
//! own record, `by_percentage` holds the configured shares over persisted counts.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use atende::domain::TenantId;

const WAIT: Duration = Duration::from_secs(30);

async fn put_distribution(
    app: &support::TestApp,
    token: &str,
    body: &Value,
) -> (StatusCode, Value) {
    app.call(
        reqwest::Method::PUT,
        "/api/v1/settings/distribution",
        Some(token),
        Some(body),
    )
    .await
}

/// A human agent with room for `max` conversations; returns its session.
async fn human(
    app: &support::TestApp,
    admin: &support::Session,
    name: &str,
    max: u32,
) -> support::Session {
    let email = format!("{name}@tenant-a.test");
    let password = format!("password-{name}");
    let (status, user) = app
        .post(
            "/api/v1/users",
            &admin.token,
            &json!({
                "name": name, "email": email, "password": password, "role": "agent",
                "max_conversations": max,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    app.login(&email, &password).await
}

async fn generic_integration(app: &support::TestApp, admin: &support::Session) -> String {
    support::engine::create(
        app,
        admin,
        "/api/v1/integrations",
        &json!({"kind": "generic", "name": "web", "secret": support::engine::SECRET}),
    )
    .await
}

async fn owner_of(app: &support::TestApp, token: &str, conversation: &str) -> Option<String> {
    let (_, c) = app
        .get(&format!("/api/v1/conversations/{conversation}"), token)
        .await;
    c["owner"]["id"].as_str().map(str::to_string)
}

/// New conversations from `contacts`, each waited for until someone owns it; their owners.
async fn assigned(
    app: &support::TestApp,
    admin: &support::Session,
    integration: &str,
    contacts: &[&str],
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for contact in contacts {
        let accepted = app
            .customer_says(integration, contact, &format!("m-{contact}"), "oi")
            .await;
        let id = accepted["conversation_id"]
            .as_str()
            .expect("conversation id")
            .to_string();
        let mut check = || owner_of(app, &admin.token, &id);
        let owner = support::engine::eventually(WAIT, &mut check)
            .await
            .expect("assigned");
        out.push((id, owner));
    }
    out
}

#[actix_web::test]
async fn a_better_record_receives_more_conversations() {
    let app = support::TestApp::spawn().await;
    let admin = app.admin().await;
    let ana = human(&app, &admin, "ana", 5).await;
    // Bob has far more room, so by load alone he would get most of what comes next.
    let bob = human(&app, &admin, "bob", 50).await;
    let integration = generic_integration(&app, &admin).await;
    let (status, body) =
        put_distribution(&app, &admin.token, &json!({"method": "round_robin"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A record: round robin gives each two; Ana answers and resolves hers, Bob leaves his.
    let first = assigned(&app, &admin, &integration, &["c1", "c2", "c3", "c4"]).await;
    let of = |who: &str| -> Vec<String> {
        first
            .iter()
            .filter(|(_, owner)| owner == who)
            .map(|(id, _)| id.clone())
            .collect()
    };
    assert_eq!(of(&ana.user_id).len(), 2, "{first:?}");
    assert_eq!(of(&bob.user_id).len(), 2, "{first:?}");
    for id in of(&ana.user_id) {
        let (status, body) = app
            .post(
                &format!("/api/v1/conversations/{id}/messages"),
                &ana.token,
                &json!({"content": "Resolvido!"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = app
            .post(
                &format!("/api/v1/conversations/{id}/close"),
                &ana.token,
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    let (status, body) = put_distribution(
        &app,
        &admin.token,
        &json!({"method": "by_performance", "performance_window_days": 7}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["performance_window_days"], 7);

    // By load Ana (1/5 after the first) would lose to Bob (2/50); by record she gets them all.
    let next = assigned(&app, &admin, &integration, &["c5", "c6", "c7", "c8"]).await;
    let to_ana = next.iter().filter(|(_, o)| *o == ana.user_id).count();
    assert_eq!(to_ana, 4, "{next:?}");
}

/// The AI side of the record, measured by the store on both backends: conversations it ran a
/// turn in, its first reply, feedback on its replies, escalations as unresolved.
#[actix_web::test]
async fn an_ai_agents_record_is_measured_from_its_turns() {
    let f = support::engine::fixture(&[], json!({})).await;
    let answered = f.conversation_of("c1", "m1", "qual o horário?").await;
    let escalated = f.conversation_of("c2", "m2", "e o preço?").await;
    for id in [&answered, &escalated] {
        f.ai_replies(id, 1).await;
    }
    let (status, body) = f
        .app
        .post(
            &format!("/api/v1/conversations/{escalated}/escalate"),
            &f.admin.token,
            &json!({"reason": "manual"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let tenant = TenantId(f.admin.tenant_id.clone());
    let agent = f.agent_id.clone();
    let record = support::engine::eventually(WAIT, &mut || {
        let store = f.app.store.clone();
        let tenant = tenant.clone();
        let agent = agent.clone();
        async move {
            let since = atende::store::now() - chrono::Duration::days(1);
            let records = store
                .run(move |conn| {
                    atende::store::analytics::performance_records(conn, &tenant, since)
                })
                .await
                .expect("records");
            records
                .get(&agent)
                .filter(|r| r.handled == 2 && r.avg_first_response_seconds.is_some())
                .cloned()
        }
    })
    .await
    .expect("both conversations in the agent's record");
    assert_eq!(record.resolved, 0, "{record:?}");
    assert!(record.negative_feedback.is_some(), "{record:?}");
    assert!(record.avg_first_response_seconds.unwrap_or(-1.0) >= 0.0);

    // Closing the answered one resolves it; the escalated one never counts as resolved.
    for id in [&answered, &escalated] {
        let (status, body) = f
            .app
            .post(
                &format!("/api/v1/conversations/{id}/close"),
                &f.admin.token,
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let store = f.app.store.clone();
    let since = atende::store::now() - chrono::Duration::days(1);
    let records = store
        .run(move |conn| atende::store::analytics::performance_records(conn, &tenant, since))
        .await
        .expect("records");
    assert_eq!(
        records.get(&agent).map(|r| r.resolved),
        Some(1),
        "{records:?}"
    );
}

#[actix_web::test]
async fn shares_hold_within_two_points_over_a_thousand_assignments() {
    let app = support::TestApp::spawn().await;
    let admin = app.admin().await;
    let ana = human(&app, &admin, "ana", 1_000).await;
    let bob = human(&app, &admin, "bob", 1_000).await;
    let integration = generic_integration(&app, &admin).await;
    let shares = json!({ana.user_id.clone(): 70, bob.user_id.clone(): 30});
    let (status, body) = put_distribution(
        &app,
        &admin.token,
        &json!({"method": "by_percentage", "shares": shares}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["shares"], shares);

    const TOTAL: usize = 1_000;
    for batch in 0..TOTAL / 50 {
        let sends = (0..50).map(|n| {
            let contact = format!("c{}", batch * 50 + n);
            let integration = integration.clone();
            let app = &app;
            async move {
                app.customer_says(&integration, &contact, &format!("m-{contact}"), "oi")
                    .await
            }
        });
        futures::future::join_all(sends).await;
    }

    let tenant = TenantId(admin.tenant_id.clone());
    let counts = || {
        let store = app.store.clone();
        let tenant = tenant.clone();
        async move {
            store
                .run(move |conn| atende::store::distribution::assignment_counts(conn, &tenant))
                .await
                .expect("counts")
        }
    };
    let counted = support::engine::eventually(Duration::from_secs(120), &mut || {
        let counts = counts();
        async move {
            let counts: HashMap<String, u64> = counts.await;
            (counts.values().sum::<u64>() == TOTAL as u64).then_some(counts)
        }
    })
    .await
    .expect("every conversation assigned and counted");
    let owners: HashMap<String, i64> = {
        let store = app.store.clone();
        let tenant = tenant.clone();
        store
            .run(move |conn| atende::store::conversations::open_count_by_user(conn, &tenant))
            .await
            .expect("owners")
            .into_iter()
            .collect()
    };
    for (who, share) in [(&ana.user_id, 70.0), (&bob.user_id, 30.0)] {
        let count = counted.get(who).copied().unwrap_or(0);
        let percent = count as f64 * 100.0 / TOTAL as f64;
        assert!(
            (percent - share).abs() <= 2.0,
            "{who}: {percent}% for a share of {share}%"
        );
        // The counts are what really happened.
        assert_eq!(owners.get(who).copied(), i64::try_from(count).ok());
    }

    // The counts survive in the store; new shares restart them.
    let (status, body) = put_distribution(
        &app,
        &admin.token,
        &json!({"method": "by_percentage", "shares": {ana.user_id.clone(): 50, bob.user_id.clone(): 50}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(counts().await.is_empty());
}

#[actix_web::test]
async fn bad_shares_are_refused_and_change_nothing() {
    let app = support::TestApp::spawn().await;
    let admin = app.admin().await;
    let ana = human(&app, &admin, "ana", 5).await;
    let other = app.other_tenant("tenant-b").await;
    let before = app
        .get("/api/v1/settings/distribution", &admin.token)
        .await
        .1;
    for shares in [
        json!({ana.user_id.clone(): 90}),
        json!({ana.user_id.clone(): 150}),
        json!({ana.user_id.clone(): 50, other.user_id.clone(): 50}),
        json!({ana.user_id.clone(): 50, "nobody": 50}),
    ] {
        let (status, body) = put_distribution(
            &app,
            &admin.token,
            &json!({"method": "by_percentage", "shares": shares}),
        )
        .await;
        support::assert_field_error(status, &body, "shares");
    }
    let (status, body) = put_distribution(
        &app,
        &admin.token,
        &json!({"method": "by_performance", "performance_window_days": 0}),
    )
    .await;
    support::assert_field_error(status, &body, "performance_window_days");
    let after = app
        .get("/api/v1/settings/distribution", &admin.token)
        .await
        .1;
    assert_eq!(before, after);

    // Shares are the admin's to set.
    let (status, _) = put_distribution(
        &app,
        &ana.token,
        &json!({"method": "by_percentage", "shares": {ana.user_id.clone(): 100}}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
