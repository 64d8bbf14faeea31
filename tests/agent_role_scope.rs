//! The `agent` role's reach (issue 12, finding 9): a contact, its memories and its activities
//! only through a conversation the agent may open (its own or an unassigned one); the chat
//! stream only with live bots (active and enabled). Admins and supervisors keep the tenant.
//! Over real HTTP and WebSocket, on whichever backend `ATENDE_TEST_DATABASE` names.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::app::Session;
use support::engine::{create, fixture, Fixture, SECRET};
use support::scripted_llm::Step;
use support::webhook::generic_body;
use support::ws::WsClient;

/// A conversation (and its contact) arriving on `integration`, which has no default agent,
/// so it stays unassigned.
async fn unassigned(f: &Fixture, integration: &str, contact: &str) -> (String, String) {
    let accepted = f
        .app
        .signed_webhook(
            integration,
            &generic_body(contact, Some(contact), &format!("m-{contact}"), "oi"),
        )
        .await;
    let conversation = accepted["conversation_id"]
        .as_str()
        .expect("conversation id")
        .to_string();
    let (status, view) = f
        .app
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            &f.admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["owner"]["type"], "none", "{view}");
    let contact = view["contact_id"].as_str().expect("contact id").to_string();
    (conversation, contact)
}

/// The contact-data reads an agent might try, each as (path, what).
fn reads(contact: &str, activity: &str) -> Vec<String> {
    vec![
        format!("/api/v1/contacts/{contact}"),
        format!("/api/v1/contacts/{contact}/memories"),
        format!("/api/v1/activities?contact_id={contact}"),
        format!("/api/v1/activities/{activity}"),
    ]
}

fn is_forbidden(status: StatusCode, body: &Value) -> bool {
    status == StatusCode::FORBIDDEN && body["code"] == "FORBIDDEN" && body["error"].is_string()
}

async fn activity_for(f: &Fixture, contact: &str) -> String {
    create(
        &f.app,
        &f.admin,
        "/api/v1/activities",
        &json!({"kind": "task", "title": "call back", "contact_id": contact}),
    )
    .await
}

#[actix_web::test]
async fn an_agent_reads_contacts_only_through_conversations_it_may_open() {
    let f = fixture(&[], json!({})).await;
    let queue = create(
        &f.app,
        &f.admin,
        "/api/v1/integrations",
        &json!({"kind": "generic", "name": "queue", "secret": SECRET}),
    )
    .await;
    let ana: Session = f
        .app
        .user_with_role(&f.admin, "agent", "ana@scope.test")
        .await;
    let bia = f
        .app
        .user_with_role(&f.admin, "agent", "bia@scope.test")
        .await;
    let sup = f
        .app
        .user_with_role(&f.admin, "supervisor", "sup@scope.test")
        .await;

    // Nobody but the admin assigns here: the staff are away and the AI agent takes no
    // conversations, so the owners set below are the owners read.
    for user in [&ana, &bia, &sup] {
        let (status, body) = f
            .app
            .patch(
                &format!("/api/v1/users/{}", user.user_id),
                &f.admin.token,
                &json!({"available": false}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, mut distribution) = f
        .app
        .get("/api/v1/settings/distribution", &f.admin.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{distribution}");
    distribution["assign_to_ai_agent"] = json!(false);
    distribution["sticky"] = json!(false);
    // No SLA reassignment either: nobody answers in this test.
    distribution["first_response_minutes"] = json!(0);
    let (status, body) = f
        .app
        .call(
            reqwest::Method::PUT,
            "/api/v1/settings/distribution",
            Some(&f.admin.token),
            Some(&distribution),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Bia's conversation (assigned by the admin) and one still in the queue.
    let (theirs, their_contact) = unassigned(&f, &queue, "c-theirs").await;
    let (status, assigned) = f
        .app
        .post(
            &format!("/api/v1/conversations/{theirs}/assign"),
            &f.admin.token,
            &json!({"user_id": bia.user_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{assigned}");
    let (queued, queued_contact) = unassigned(&f, &queue, "c-queued").await;
    // The distributor may hand the queued one to someone; pin it to Ana (her own).
    let (status, assigned) = f
        .app
        .post(
            &format!("/api/v1/conversations/{queued}/assign"),
            &f.admin.token,
            &json!({"user_id": ana.user_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{assigned}");
    // The owner column follows an assignment through the writer: wait until the store says
    // who owns each contact's conversation (a positive signal) before checking reads.
    for (contact, owner) in [(&their_contact, &bia), (&queued_contact, &ana)] {
        let path = format!("/api/v1/conversations?owner={}", owner.user_id);
        let stored = f
            .eventually(std::time::Duration::from_secs(10), || async {
                let (_, list) = f.app.get(&path, &f.admin.token).await;
                list["items"]
                    .as_array()?
                    .iter()
                    .any(|c| c["contact_id"] == contact.as_str())
                    .then_some(())
            })
            .await;
        assert!(
            stored.is_some(),
            "{contact}: the assignment to {} is stored",
            owner.user_id
        );
    }
    let their_activity = activity_for(&f, &their_contact).await;
    let queued_activity = activity_for(&f, &queued_contact).await;

    for path in reads(&their_contact, &their_activity) {
        let (status, body) = f.app.get(&path, &ana.token).await;
        assert!(is_forbidden(status, &body), "ana {path}: {status} {body}");
        for who in [&bia, &sup, &f.admin] {
            let (status, body) = f.app.get(&path, &who.token).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
        }
    }
    for path in reads(&queued_contact, &queued_activity) {
        let (status, body) = f.app.get(&path, &ana.token).await;
        assert_eq!(status, StatusCode::OK, "ana {path}: {body}");
    }
    let (status, body) = f
        .app
        .get(&format!("/api/v1/contacts/{queued_contact}"), &ana.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], queued_contact.as_str());

    // Listings show Ana exactly what she may read: a lead entered by hand (no conversation
    // yet) and her conversation's contact and activity, never Bia's.
    let lead = create(
        &f.app,
        &f.admin,
        "/api/v1/contacts",
        &json!({"name": "lead by hand"}),
    )
    .await;
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|item| item["id"].as_str().map(str::to_string))
            .collect()
    };
    let (status, contacts) = f.app.get("/api/v1/contacts", &ana.token).await;
    assert_eq!(status, StatusCode::OK, "{contacts}");
    let mut seen = ids(&contacts);
    seen.sort();
    let mut expected = vec![queued_contact.clone(), lead.clone()];
    expected.sort();
    assert_eq!(seen, expected, "ana's contacts: {contacts}");
    let (_, contacts) = f.app.get("/api/v1/contacts", &sup.token).await;
    assert!(ids(&contacts).contains(&their_contact), "{contacts}");
    let (status, activities) = f.app.get("/api/v1/activities", &ana.token).await;
    assert_eq!(status, StatusCode::OK, "{activities}");
    assert_eq!(
        ids(&activities),
        vec![queued_activity.clone()],
        "{activities}"
    );
    let (_, activities) = f.app.get("/api/v1/activities", &sup.token).await;
    assert_eq!(ids(&activities).len(), 2, "{activities}");
    for link in [
        json!({"contact_id": their_contact}),
        json!({"conversation_id": theirs}),
    ] {
        let mut body = json!({"kind": "note", "title": "ana was here"});
        body.as_object_mut()
            .expect("object")
            .extend(link.as_object().expect("object").clone());
        let (status, refused) = f.app.post("/api/v1/activities", &ana.token, &body).await;
        assert!(is_forbidden(status, &refused), "{status} {refused}");
    }
    let (_, activities) = f.app.get("/api/v1/activities", &f.admin.token).await;
    assert_eq!(ids(&activities).len(), 2, "nothing stored: {activities}");

    // Writes on the refused contact change nothing.
    let (status, body) = f
        .app
        .patch(
            &format!("/api/v1/contacts/{their_contact}"),
            &ana.token,
            &json!({"name": "renamed by ana"}),
        )
        .await;
    assert!(is_forbidden(status, &body), "{status} {body}");
    let (status, body) = f
        .app
        .delete(&format!("/api/v1/activities/{their_activity}"), &ana.token)
        .await;
    assert!(is_forbidden(status, &body), "{status} {body}");
    let (status, body) = f
        .app
        .get(&format!("/api/v1/contacts/{their_contact}"), &f.admin.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(body["name"], "renamed by ana", "{body}");
    let (status, _) = f
        .app
        .get(
            &format!("/api/v1/activities/{their_activity}"),
            &f.admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Another tenant's admin does not learn that the contact exists.
    let stranger = f.app.other_tenant("scope-other").await;
    for path in reads(&their_contact, &their_activity) {
        let (status, body) = f.app.get(&path, &stranger.token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }

    // Over WebSocket: subscribe and sync on Bia's conversation are refused, the queued one
    // is followed.
    let (mut ws, _) = WsClient::connect(&f.app, &ana.token).await;
    ws.send(json!({"type": "subscribe", "conversation_id": theirs}))
        .await;
    assert_eq!(ws.error().await["code"], "FORBIDDEN");
    ws.send(json!({"type": "sync", "conversation_id": theirs, "after_seq": 0}))
        .await;
    assert_eq!(ws.error().await["code"], "FORBIDDEN");
    ws.send(json!({"type": "subscribe", "conversation_id": queued}))
        .await;
    ws.barrier().await;
    assert!(
        ws.buffered("error").is_empty(),
        "{:?}",
        ws.buffered("error")
    );

    // Server-sent events stay for admins and supervisors.
    let (status, body) = f.app.get("/api/v1/events", &ana.token).await;
    assert!(is_forbidden(status, &body), "{status} {body}");
}

async fn stream(f: &Fixture, agent: &str, token: &str) -> (StatusCode, String) {
    let response = f
        .app
        .http
        .post(f.app.url(&format!("/api/v1/agents/{agent}/chat/stream")))
        .bearer_auth(token)
        .json(&json!({"messages": [{"role": "user", "content": "oi"}]}))
        .send()
        .await
        .expect("sent");
    let status = response.status();
    (status, response.text().await.expect("body"))
}

fn forbidden_text(status: StatusCode, text: &str) -> bool {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    is_forbidden(status, &body)
}

#[actix_web::test]
async fn an_agent_chats_only_with_live_bots() {
    let f = fixture(&[], json!({})).await;
    let ana = f
        .app
        .user_with_role(&f.admin, "agent", "ana@chat.test")
        .await;
    let sup = f
        .app
        .user_with_role(&f.admin, "supervisor", "sup@chat.test")
        .await;
    let provider = json!({"kind": "openai", "base_url": f.llm.base_url, "api_key": "sk-test"});
    let draft = create(
        &f.app,
        &f.admin,
        "/api/v1/agents",
        &json!({"name": "Draft", "status": "draft", "model": "gpt-4o-mini", "provider": provider}),
    )
    .await;
    let disabled = create(
        &f.app,
        &f.admin,
        "/api/v1/agents",
        &json!({"name": "Off", "enabled": false, "model": "gpt-4o-mini", "provider": provider}),
    )
    .await;

    for agent in [&draft, &disabled] {
        let (status, text) = stream(&f, agent, &ana.token).await;
        assert!(forbidden_text(status, &text), "{status} {text}");
    }
    // Nothing reached the provider for the refused calls.
    assert_eq!(f.llm.requests().len(), 0);

    f.llm.push(Step::reply("olá"));
    let (status, text) = stream(&f, &f.agent_id, &ana.token).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("event: done"), "{text}");

    // A supervisor passes the role rule for a draft (the engine's own limits still apply:
    // a draft takes no conversations, so the stream may be refused as at its limit).
    let (status, text) = stream(&f, &draft, &sup.token).await;
    assert!(
        !forbidden_text(status, &text) && status != StatusCode::NOT_FOUND,
        "{status} {text}"
    );

    // Another tenant's bot is not found, whatever its state.
    let stranger = f.app.other_tenant("chat-other").await;
    let (status, text) = stream(&f, &f.agent_id, &stranger.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
}
