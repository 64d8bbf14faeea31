//! Agent actions (issue 16, item 3): `PATCH /conversations/{id}` edits a conversation as a
//! ticket — tags, priority, category, department, stage — checked in full before anything
//! changes, with one `conversation_updated` event for staff (SSE, WebSocket, webhooks) and
//! none for the customer's socket.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::ws::{SseClient, WsClient, FRAME_WAIT};
use support::*;

async fn created(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let (status, created) = app.post(path, token, &body).await;
    assert_eq!(status, StatusCode::CREATED, "POST {path}: {created}");
    created
}

/// A web-chat conversation an agent of the tenant has taken.
struct Taken {
    app: TestApp,
    admin: Session,
    agent: Session,
    customer_token: String,
    conversation: String,
    /// `/api/v1/conversations/{id}`
    path: String,
}

async fn taken(agent_email: &str) -> Taken {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let agent = app.user_with_role(&admin, "agent", agent_email).await;
    let integration = app.webchat_integration(&admin).await;
    let (customer_token, conversation) = app.webchat_visitor(&integration, "Cliente").await;
    let path = format!("/api/v1/conversations/{conversation}");
    let (status, body) = app
        .post(&format!("{path}/take"), &agent.token, &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    Taken {
        app,
        admin,
        agent,
        customer_token,
        conversation,
        path,
    }
}

#[actix_web::test]
async fn staff_edit_a_conversation_and_colleagues_hear_of_it() {
    let Taken {
        app,
        admin,
        agent,
        customer_token,
        conversation,
        path,
    } = taken("agent@example.com").await;

    let department = created(
        &app,
        &admin.token,
        "/api/v1/departments",
        json!({"name": "Suporte"}),
    )
    .await;
    let funnel = created(
        &app,
        &admin.token,
        "/api/v1/funnels",
        json!({"name": "Vendas", "stages": ["Entrada", "Proposta"]}),
    )
    .await;
    let stage = funnel["stages"][1]["id"]
        .as_str()
        .expect("stage")
        .to_string();

    let mut sse = SseClient::open(&app, &admin.token, None).await;
    let (mut supervisor_ws, _) = WsClient::connect(&app, &admin.token).await;
    let (mut customer_ws, _) = WsClient::connect(&app, &customer_token).await;

    let changes = json!({
        "tags": [" vip ", "VIP", "cobrança"],
        "priority": "high",
        "category": "técnico",
        "department_id": department["id"],
        "stage_id": stage,
    });
    let (status, view) = app.patch(&path, &agent.token, &changes).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["tags"], json!(["vip", "cobrança"]));
    assert_eq!(view["priority"], "high");
    assert_eq!(view["category"], "técnico");
    assert_eq!(view["department_id"], department["id"]);
    assert_eq!(view["stage_id"], json!(stage));
    let (_, stored) = app.get(&path, &admin.token).await;
    assert_eq!(stored["tags"], view["tags"]);

    let event = sse
        .next_of("conversation_updated", FRAME_WAIT)
        .await
        .expect("conversation_updated over SSE");
    assert_eq!(
        event.data["conversation_id"],
        json!(conversation),
        "{:?}",
        event.data
    );
    let data = &event.data["data"];
    assert_eq!(data["by"], json!(agent.user_id), "{data}");
    assert_eq!(
        data["changes"]["tags"],
        json!(["vip", "cobrança"]),
        "{data}"
    );
    assert_eq!(data["changes"]["priority"], "high");

    let frame = supervisor_ws.next_of("conversation_updated").await;
    assert_eq!(frame["conversation_id"], json!(conversation));
    assert_eq!(frame["changes"]["category"], "técnico");

    // Only the fields named change.
    let (status, view) = app
        .patch(&path, &agent.token, &json!({"priority": "low"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["priority"], "low");
    assert_eq!(view["tags"], json!(["vip", "cobrança"]));
    let frame = supervisor_ws.next_of("conversation_updated").await;
    assert_eq!(frame["changes"], json!({"priority": "low"}));

    // The customer's socket hears the agent's next message, and never of the edits.
    let (status, body) = app
        .post(
            &format!("{path}/messages"),
            &agent.token,
            &json!({"content": "Olá!"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    customer_ws.next_of("message").await;
    assert!(customer_ws.buffered("conversation_updated").is_empty());
}

#[actix_web::test]
async fn bad_edits_get_the_error_body_and_change_nothing() {
    let Taken {
        app,
        admin,
        agent: owner,
        path,
        ..
    } = taken("owner@example.com").await;
    let colleague = app
        .user_with_role(&admin, "agent", "colleague@example.com")
        .await;
    let other = app.other_tenant("outra").await;
    let foreign = created(
        &app,
        &other.token,
        "/api/v1/departments",
        json!({"name": "Dela"}),
    )
    .await;
    let (_, before) = app.get(&path, &admin.token).await;

    for (body, field) in [
        (json!({}), "changes"),
        (json!({"tags": ["ok", "  "]}), "tags"),
        (json!({"category": ""}), "category"),
        (
            json!({"department_id": foreign["id"], "priority": "high"}),
            "department_id",
        ),
        (json!({"department_id": "nope"}), "department_id"),
        (json!({"stage_id": "nope", "tags": ["x"]}), "stage_id"),
    ] {
        let (status, error) = app.patch(&path, &owner.token, &body).await;
        assert_field_error(status, &error, field);
    }
    for body in [json!({"priority": "urgent"}), json!({"status": "closed"})] {
        let (status, error) = app.patch(&path, &owner.token, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {error}");
        assert_eq!(error["code"], "VALIDATION_ERROR", "{error}");
    }
    // Someone else's conversation: forbidden to an agent, unseen across tenants.
    let (status, _) = app
        .patch(&path, &colleague.token, &json!({"priority": "low"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .patch(&path, &other.token, &json!({"priority": "low"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, after) = app.get(&path, &admin.token).await;
    assert_eq!(before, after);

    // A closed conversation is history.
    let (status, _) = app
        .post(&format!("{path}/close"), &owner.token, &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, error) = app
        .patch(&path, &owner.token, &json!({"priority": "low"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
}
