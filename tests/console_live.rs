//! What the console's live screens stand on, over real HTTP on both backends: `/take` as a
//! compare-and-set (of agents racing for one queued conversation exactly one wins, the
//! others get 409), history read backwards by `seq` (`before_seq`), the conversation list's
//! filters and search, contacts fetched in one batch (`?ids=`), the supervisor board's
//! snapshot (`/analytics/live`), the team's presence and the bots a caller may chat with.

mod support;

use atende::store::schema::conversations;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::*;

/// A new web-chat visitor (its conversation waits in the queue); returns
/// `(conversation_id, contact_id)`.
async fn visitor(app: &TestApp, integration: &str, name: &str) -> (String, String) {
    let (status, session) = app
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/webchat/{integration}/session"),
            None,
            Some(&json!({ "name": name })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    (
        session["conversation_id"]
            .as_str()
            .expect("conversation")
            .to_string(),
        session["contact_id"].as_str().expect("contact").to_string(),
    )
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect()
}

#[actix_web::test]
async fn of_agents_taking_the_same_queued_conversation_one_wins_and_the_others_get_409() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let integration = app.webchat_integration(&admin).await;
    let mut agents = Vec::new();
    for n in 0..4 {
        agents.push(
            app.user_with_role(&admin, "agent", &format!("agent{n}@example.com"))
                .await,
        );
    }
    for round in 0..3 {
        let (conversation, _) = visitor(&app, &integration, &format!("Cliente {round}")).await;
        let path = format!("/api/v1/conversations/{conversation}/take");
        // All at once, over separate connections.
        let empty = json!({});
        let attempts = agents
            .iter()
            .map(|agent| app.post(&path, &agent.token, &empty));
        let results = futures::future::join_all(attempts).await;
        let winners: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, (status, _))| *status == StatusCode::OK)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        for (i, (status, body)) in results.iter().enumerate() {
            if i != winners[0] {
                assert_eq!(*status, StatusCode::CONFLICT, "{body}");
                assert_eq!(body["code"], "CONFLICT");
            }
        }
        let winner = &agents[winners[0]];
        let (_, now) = app
            .get(
                &format!("/api/v1/conversations/{conversation}"),
                &admin.token,
            )
            .await;
        assert_eq!(now["owner"], json!({"type": "user", "id": winner.user_id}));
        assert_eq!(now["status"], "open");
        // Later, too: the queue is empty for this one, so the next agent is told it is taken.
        let late = &agents[(winners[0] + 1) % agents.len()];
        let (status, body) = app.post(&path, &late.token, &json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        // A supervisor may still take it over (a transfer to themselves).
        let (status, body) = app.post(&path, &admin.token, &json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["owner"]["id"], json!(admin.user_id));
    }
    // Another tenant's conversation stays a 404.
    let (conversation, _) = visitor(&app, &integration, "Outro").await;
    let stranger = app.other_tenant("outra").await;
    let (status, _) = app
        .post(
            &format!("/api/v1/conversations/{conversation}/take"),
            &stranger.token,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn history_reads_backwards_by_seq_one_page_at_a_time() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let integration = app.webchat_integration(&admin).await;
    let (conversation, _) = visitor(&app, &integration, "Cliente").await;
    let (status, _) = app
        .post(
            &format!("/api/v1/conversations/{conversation}/take"),
            &admin.token,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for n in 1..=5 {
        let (status, body) = app
            .post(
                &format!("/api/v1/conversations/{conversation}/messages"),
                &admin.token,
                &json!({ "content": format!("resposta {n}") }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let page = |query: String| {
        let path = format!("/api/v1/conversations/{conversation}/messages?{query}");
        let app = &app;
        let token = admin.token.clone();
        async move { app.get(&path, &token).await }
    };
    let seqs = |body: &Value| -> Vec<i64> {
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|m| m["seq"].as_i64().expect("seq"))
            .collect()
    };
    let last = i64::MAX;
    let (status, newest) = page(format!("before_seq={last}&limit=2")).await;
    assert_eq!(status, StatusCode::OK, "{newest}");
    assert_eq!(seqs(&newest), vec![4, 5]);
    assert_eq!(newest["prev_before_seq"], 4);
    assert!(newest["next_after_seq"].is_null());
    let (_, older) = page("before_seq=4&limit=2".into()).await;
    assert_eq!(seqs(&older), vec![2, 3]);
    assert_eq!(older["prev_before_seq"], 2);
    let (_, oldest) = page("before_seq=2&limit=2".into()).await;
    assert_eq!(seqs(&oldest), vec![1]);
    assert!(oldest["prev_before_seq"].is_null(), "{oldest}");
    // A window: after 1 and before 5.
    let (_, window) = page("after_seq=1&before_seq=5&limit=10".into()).await;
    assert_eq!(seqs(&window), vec![2, 3, 4]);
    // Forward paging is as before.
    let (_, forward) = page("after_seq=0&limit=3".into()).await;
    assert_eq!(seqs(&forward), vec![1, 2, 3]);
    assert_eq!(forward["next_after_seq"], 3);
    assert!(forward["prev_before_seq"].is_null());
    for bad in ["before_seq=0", "after_seq=3&before_seq=3", "before_seq=x"] {
        let (status, body) = page(bad.into()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (_, body) = page("before_seq=-1".into()).await;
    assert_eq!(body["details"]["field"], "before_seq");
}

#[actix_web::test]
async fn the_conversation_list_filters_and_searches_and_contacts_come_in_one_batch() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let integration = app.webchat_integration(&admin).await;
    let (joana, joana_contact) = visitor(&app, &integration, "Joana Prado").await;
    let (mauro, mauro_contact) = visitor(&app, &integration, "Mauro Lins").await;
    let (tagged, _) = visitor(&app, &integration, "Zeca").await;
    let id = tagged.clone();
    app.store
        .run(move |conn| {
            atende::db_run!(conn, |c| diesel::update(
                conversations::table.filter(conversations::id.eq(&id))
            )
            .set((
                conversations::tags.eq(r#"["vip","atraso"]"#),
                conversations::priority.eq("high"),
            ))
            .execute(c))?;
            Ok(())
        })
        .await
        .expect("tagged");

    let list = |query: &str| {
        let path = format!("/api/v1/conversations?{query}");
        let app = &app;
        let token = admin.token.clone();
        async move { app.get(&path, &token).await }
    };
    let (status, all) = list("").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&all).len(), 3);
    let (_, found) = list("q=joana").await;
    assert_eq!(ids(&found), vec![joana.clone()]);
    let (_, found) = list("q=LINS").await;
    assert_eq!(ids(&found), vec![mauro.clone()]);
    let (_, found) = list("q=50%25").await;
    assert!(ids(&found).is_empty(), "a % is matched as itself: {found}");
    let (_, found) = list("tag=vip").await;
    assert_eq!(ids(&found), vec![tagged.clone()]);
    let (_, found) = list("tag=vi").await;
    assert!(ids(&found).is_empty(), "a tag matches whole: {found}");
    let (_, found) = list("priority=high").await;
    assert_eq!(ids(&found), vec![tagged.clone()]);
    let (_, found) = list("priority=medium").await;
    assert_eq!(ids(&found).len(), 2, "{found}");
    let (_, found) = list("channel=webchat").await;
    assert_eq!(ids(&found).len(), 3);
    let (_, found) = list("channel=evolution").await;
    assert!(ids(&found).is_empty());
    let (_, found) = list(&format!("integration_id={integration}&q=zeca")).await;
    assert_eq!(ids(&found), vec![tagged.clone()]);
    // One contact's conversations (the side panel's "previous conversations").
    let (_, found) = list(&format!("contact_id={mauro_contact}")).await;
    assert_eq!(ids(&found), vec![mauro.clone()]);
    let (_, found) = list(&format!("contact_id={mauro_contact}&status=closed")).await;
    assert!(ids(&found).is_empty(), "{found}");
    for (bad, field) in [
        ("priority=urgent", "priority"),
        ("integration_id=nope", "integration_id"),
        ("contact_id=nope", "contact_id"),
    ] {
        let (status, body) = list(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["details"]["field"], field);
    }

    // Contacts in one call; ids the caller may not read are left out.
    let (status, batch) = app
        .get(
            &format!("/api/v1/contacts?ids={joana_contact},{mauro_contact}"),
            &admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{batch}");
    let mut names: Vec<&str> = batch["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    names.sort_unstable();
    assert_eq!(names, vec!["Joana Prado", "Mauro Lins"]);
    let (status, body) = app.get("/api/v1/contacts?ids=nope", &admin.token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["details"]["field"], "ids");
    let (status, body) = app
        .get(
            &format!("/api/v1/contacts?ids={joana_contact},{mauro_contact}&limit=1"),
            &admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[actix_web::test]
async fn the_board_snapshot_counts_the_queue_the_owners_and_the_team() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let integration = app.webchat_integration(&admin).await;
    let ana = app.user_with_role(&admin, "agent", "ana@example.com").await;

    let (status, empty) = app.get("/api/v1/analytics/live", &admin.token).await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(empty["queue"]["length"], 0);
    assert!(empty["queue"]["oldest_queued_at"].is_null());
    assert_eq!(empty["owners"], json!([]));

    let (first, _) = visitor(&app, &integration, "Primeira").await;
    let (_second, _) = visitor(&app, &integration, "Segunda").await;
    let (_third, _) = visitor(&app, &integration, "Terceira").await;
    let (_, board) = app.get("/api/v1/analytics/live", &admin.token).await;
    assert_eq!(board["queue"]["length"], 3, "{board}");
    let oldest = board["queue"]["oldest_queued_at"].as_str().expect("oldest");
    let (_, first_view) = app
        .get(&format!("/api/v1/conversations/{first}"), &admin.token)
        .await;
    assert_eq!(
        oldest.get(..19),
        first_view["created_at"].as_str().and_then(|t| t.get(..19)),
        "the first visitor waits longest"
    );

    let (status, _) = app
        .post(
            &format!("/api/v1/conversations/{first}/take"),
            &ana.token,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, board) = app.get("/api/v1/analytics/live", &admin.token).await;
    assert_eq!(board["queue"]["length"], 2, "{board}");
    assert_eq!(
        board["owners"],
        json!([{"owner_type": "user", "owner_id": ana.user_id, "name": "User ana@example.com",
                "emoji": "", "live": 1}])
    );
    let people = board["people"].as_array().expect("people");
    assert_eq!(people.len(), 2);
    let ana_row = people
        .iter()
        .find(|p| p["id"] == json!(ana.user_id))
        .expect("ana on the board");
    assert_eq!(ana_row["load"], 1);
    assert_eq!(ana_row["role"], "agent");
    assert_eq!(ana_row["presence"], "offline");

    // The board is for overseers; presence and the bot list are for every staff role.
    let (status, _) = app.get("/api/v1/analytics/live", &ana.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, team) = app.get("/api/v1/presence", &ana.token).await;
    assert_eq!(status, StatusCode::OK, "{team}");
    assert_eq!(team["people"].as_array().map(Vec::len), Some(2));
    assert!(team["people"][0].get("load").is_none());

    let live = app
        .create_agent(
            &admin,
            json!({"name": "Lia", "status": "active", "enabled": true}),
        )
        .await;
    app.create_agent(&admin, json!({"name": "Rascunho", "status": "draft"}))
        .await;
    let (status, bots) = app.get("/api/v1/bots", &ana.token).await;
    assert_eq!(status, StatusCode::OK, "{bots}");
    assert_eq!(
        ids(&bots),
        vec![live["id"].as_str().expect("id").to_string()]
    );
    let (_, bots) = app.get("/api/v1/bots", &admin.token).await;
    assert_eq!(ids(&bots).len(), 2, "admins may try drafts: {bots}");
    // Another tenant sees none of it.
    let stranger = app.other_tenant("outra").await;
    let (_, theirs) = app.get("/api/v1/analytics/live", &stranger.token).await;
    assert_eq!(theirs["queue"]["length"], 0);
    let (_, theirs) = app.get("/api/v1/bots", &stranger.token).await;
    assert_eq!(theirs["items"], json!([]));
}

/// The socket's `take` frame is the same compare-and-set: the first agent gets the
/// conversation (a `conversation_assigned` frame naming them), the second an error frame
/// with `CONFLICT`, and another tenant's a `NOT_FOUND`.
#[actix_web::test]
async fn the_take_frame_gives_the_conversation_to_the_first_agent_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let integration = app.webchat_integration(&admin).await;
    let first = app
        .user_with_role(&admin, "agent", "first@example.com")
        .await;
    let second = app
        .user_with_role(&admin, "agent", "second@example.com")
        .await;
    let (conversation, _) = visitor(&app, &integration, "Cliente").await;

    let (mut ws_first, _) = ws::WsClient::connect(&app, &first.token).await;
    ws_first
        .send(json!({"type": "take", "conversation_id": conversation}))
        .await;
    let assigned = ws_first.next_of("conversation_assigned").await;
    assert_eq!(assigned["conversation_id"], json!(conversation));
    assert_eq!(
        assigned["owner"],
        json!({"type": "user", "id": first.user_id})
    );

    let (mut ws_second, _) = ws::WsClient::connect(&app, &second.token).await;
    ws_second
        .send(json!({"type": "take", "conversation_id": conversation}))
        .await;
    let refused = ws_second.error().await;
    assert_eq!(refused["code"], "CONFLICT", "{refused}");
    let (_, now) = app
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            &admin.token,
        )
        .await;
    assert_eq!(now["owner"]["id"], json!(first.user_id));

    let stranger = app.other_tenant("outra").await;
    let (mut ws_stranger, _) = ws::WsClient::connect(&app, &stranger.token).await;
    ws_stranger
        .send(json!({"type": "take", "conversation_id": conversation}))
        .await;
    assert_eq!(ws_stranger.error().await["code"], "NOT_FOUND");
}
