//! Departments as queues and colleagues working together (issue 16, items 2 and 3): a
//! conversation waits in its department's queue (its category's, its integration's default)
//! for that department's members only, within the department's capacity; staff transfer
//! with a note; private notes never reach the customer, a channel or the AI; canned
//! responses expand `/shortcut` replies.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::scripted_llm::Step;
use support::ws::{SseClient, WsClient, FRAME_WAIT};
use support::*;

const WAIT: Duration = Duration::from_secs(30);

async fn created(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let (status, created) = app.post(path, token, &body).await;
    assert_eq!(status, StatusCode::CREATED, "POST {path}: {created}");
    created
}

/// An available human agent of `departments`; returns its session.
async fn member(app: &TestApp, admin: &Session, name: &str, departments: &[&Value]) -> Session {
    let email = format!("{name}@queues.test");
    let ids: Vec<&Value> = departments.iter().map(|d| &d["id"]).collect();
    created(
        app,
        &admin.token,
        "/api/v1/users",
        json!({"name": name, "email": email, "password": "user-password", "role": "agent",
               "max_conversations": 5, "department_ids": ids}),
    )
    .await;
    app.login(&email, "user-password").await
}

async fn conversation(app: &TestApp, token: &str, id: &str) -> Value {
    let (status, c) = app.get(&format!("/api/v1/conversations/{id}"), token).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    c
}

async fn owner_of(app: &TestApp, token: &str, id: &str) -> Option<String> {
    conversation(app, token, id).await["owner"]["id"]
        .as_str()
        .map(str::to_string)
}

async fn owned(app: &TestApp, token: &str, id: &str) -> String {
    let mut check = || owner_of(app, token, id);
    support::engine::eventually(WAIT, &mut check)
        .await
        .unwrap_or_else(|| panic!("{id} was never assigned"))
}

async fn says(app: &TestApp, integration: &str, contact: &str, text: &str) -> String {
    let accepted = app
        .customer_says(integration, contact, &format!("m-{contact}"), text)
        .await;
    accepted["conversation_id"]
        .as_str()
        .expect("conversation id")
        .to_string()
}

#[actix_web::test]
async fn a_department_queue_goes_only_to_its_members_within_its_capacity() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let suporte = created(
        &app,
        &admin.token,
        "/api/v1/departments",
        json!({"name": "Suporte", "max_conversations": 1, "categories": ["técnico"],
               "first_response_seconds": 90}),
    )
    .await;
    assert_eq!(suporte["categories"], json!(["technical"]));
    assert_eq!(suporte["max_conversations"], 1);
    assert_eq!(suporte["first_response_seconds"], 90);
    let vendas = created(
        &app,
        &admin.token,
        "/api/v1/departments",
        json!({"name": "Vendas"}),
    )
    .await;
    let ana = member(&app, &admin, "ana", &[&suporte]).await;
    let bob = member(&app, &admin, "bob", &[&vendas]).await;
    let integration = support::engine::create(
        &app,
        &admin,
        "/api/v1/integrations",
        &json!({"kind": "generic", "name": "web", "secret": support::engine::SECRET,
                "default_department_id": vendas["id"]}),
    )
    .await;
    let mut sse = SseClient::open(&app, &admin.token, None).await;

    // Technical: the category's department, whose only member is Ana.
    let first = says(&app, &integration, "c1", "o sistema deu erro no login").await;
    assert_eq!(owned(&app, &admin.token, &first).await, ana.user_id);
    let c = conversation(&app, &admin.token, &first).await;
    assert_eq!(c["department_id"], suporte["id"], "{c}");
    let placed = sse
        .next_of("conversation_updated", FRAME_WAIT)
        .await
        .expect("routing tells staff where it put the conversation");
    assert_eq!(placed.data["data"]["by"], Value::Null);
    assert_eq!(
        placed.data["data"]["changes"]["department_id"],
        suporte["id"]
    );

    // Suporte is at its capacity of one: the next technical one waits, though Bob is free.
    let second = says(&app, &integration, "c2", "aplicativo travou de novo, erro").await;
    // Anything else: the integration's default department, Bob's.
    let third = says(&app, &integration, "c3", "quanto custa o plano anual?").await;
    assert_eq!(owned(&app, &admin.token, &third).await, bob.user_id);
    let c = conversation(&app, &admin.token, &third).await;
    assert_eq!(c["department_id"], vendas["id"]);
    let waiting = conversation(&app, &admin.token, &second).await;
    assert_eq!(waiting["owner"]["type"], "none", "{waiting}");
    assert_eq!(waiting["status"], "queued");
    assert_eq!(waiting["department_id"], suporte["id"]);

    // Room frees in Suporte: the waiting one goes to its member, never to Bob.
    let (status, body) = app
        .post(
            &format!("/api/v1/conversations/{first}/close"),
            &ana.token,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(owned(&app, &admin.token, &second).await, ana.user_id);
}

/// The distributor keeps a tenant's departments between assignments: a department created,
/// changed or deleted through the API routes the very next conversation.
#[actix_web::test]
async fn department_changes_route_the_next_conversation_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ana = member(&app, &admin, "ana", &[]).await;
    let integration = support::engine::create(
        &app,
        &admin,
        "/api/v1/integrations",
        &json!({"kind": "generic", "name": "web", "secret": support::engine::SECRET}),
    )
    .await;

    // No department yet: routing reads (and keeps) none, and Ana takes it.
    let before = says(&app, &integration, "c1", "bom dia").await;
    assert_eq!(owned(&app, &admin.token, &before).await, ana.user_id);
    assert_eq!(
        conversation(&app, &admin.token, &before).await["department_id"],
        Value::Null
    );

    // A department made the integration's default: the next one waits in it, for its members
    // (Ana is none), though Ana has room.
    let vendas = created(
        &app,
        &admin.token,
        "/api/v1/departments",
        json!({"name": "Vendas"}),
    )
    .await;
    let (status, body) = app
        .patch(
            &format!("/api/v1/integrations/{integration}"),
            &admin.token,
            &json!({"default_department_id": vendas["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let routed = says(&app, &integration, "c2", "quero comprar").await;
    let (token, wanted) = (&admin.token, &vendas["id"]);
    let mut placed = || {
        let (app, routed) = (&app, &routed);
        async move {
            let c = conversation(app, token, routed).await;
            (c["department_id"] == *wanted).then_some(c)
        }
    };
    let c = support::engine::eventually(WAIT, &mut placed)
        .await
        .expect("the new department routes the next conversation");
    assert_eq!(c["owner"]["type"], "none", "{c}");

    // Deleted: routing forgets it, and Ana takes the next one again.
    let (status, _) = app
        .delete(
            &format!("/api/v1/departments/{}", vendas["id"].as_str().expect("id")),
            &admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let after = says(&app, &integration, "c3", "boa tarde").await;
    assert_eq!(owned(&app, &admin.token, &after).await, ana.user_id);
}

#[actix_web::test]
async fn ai_agents_take_only_their_departments_conversations() {
    let f = support::engine::fixture(&[], json!({})).await;
    let (status, body) = f
        .app
        .call(
            reqwest::Method::PUT,
            "/api/v1/settings/distribution",
            Some(&f.admin.token),
            Some(&json!({"assign_to_ai_agent": true, "prefer_ai": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let vendas = created(
        &f.app,
        &f.admin.token,
        "/api/v1/departments",
        json!({"name": "Vendas", "categories": ["commercial"]}),
    )
    .await;
    let bob = member(&f.app, &f.admin, "bob", &[&vendas]).await;
    // The integration's default agent is not attached to Vendas: a human of Vendas serves.
    let sales = f
        .conversation_of("c1", "m1", "quero um orçamento do plano")
        .await;
    assert_eq!(owned(&f.app, &f.admin.token, &sales).await, bob.user_id);

    // Attached, it is offered Vendas' conversations.
    let (status, agent) = f
        .app
        .patch(
            &format!("/api/v1/agents/{}", f.agent_id),
            &f.admin.token,
            &json!({"department_id": vendas["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{agent}");
    assert_eq!(agent["department_id"], vendas["id"]);
    f.llm.push(Step::reply("Claro! Qual plano?"));
    let attached = f
        .conversation_of("c2", "m2", "qual o preço do plano?")
        .await;
    assert_eq!(owned(&f.app, &f.admin.token, &attached).await, f.agent_id);

    let (status, error) = f
        .app
        .patch(
            &format!("/api/v1/agents/{}", f.agent_id),
            &f.admin.token,
            &json!({"department_id": "not-a-department"}),
        )
        .await;
    assert_field_error(status, &error, "department_id");
}

#[actix_web::test]
async fn department_settings_are_checked_and_categories_belong_to_one_department() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let agent = app
        .user_with_role(&admin, "agent", "agent@queues.test")
        .await;
    let suporte = created(
        &app,
        &admin.token,
        "/api/v1/departments",
        json!({"name": "Suporte", "categories": ["support"]}),
    )
    .await;
    for (body, field) in [
        (
            json!({"name": "A", "categories": ["weather"]}),
            "categories",
        ),
        (
            json!({"name": "B", "max_conversations": 100_001}),
            "max_conversations",
        ),
        (
            json!({"name": "C", "first_response_seconds": 700_000}),
            "first_response_seconds",
        ),
    ] {
        let (status, error) = app.post("/api/v1/departments", &admin.token, &body).await;
        assert_field_error(status, &error, field);
    }
    let (status, error) = app
        .post(
            "/api/v1/departments",
            &admin.token,
            &json!({"name": "Outro", "categories": ["suporte"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    let (status, _) = app
        .post("/api/v1/departments", &agent.token, &json!({"name": "Meu"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let path = format!(
        "/api/v1/departments/{}",
        suporte["id"].as_str().expect("id")
    );
    let (status, updated) = app
        .patch(
            &path,
            &admin.token,
            &json!({"max_conversations": 3, "categories": ["support", "complaint"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["categories"], json!(["support", "complaint"]));
    assert_eq!(updated["max_conversations"], 3);
    let (_, list) = app.get("/api/v1/departments", &admin.token).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
}

/// A web-chat conversation Ana took, with colleagues around.
struct Desk {
    app: TestApp,
    admin: Session,
    ana: Session,
    bob: Session,
    customer_token: String,
    conversation: String,
    path: String,
}

async fn desk() -> Desk {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ana = member(&app, &admin, "ana", &[]).await;
    let bob = member(&app, &admin, "bob", &[]).await;
    let integration = app.webchat_integration(&admin).await;
    let (customer_token, conversation) = app.webchat_visitor(&integration, "Cliente").await;
    let path = format!("/api/v1/conversations/{conversation}");
    let (status, body) = app
        .post(&format!("{path}/take"), &ana.token, &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    Desk {
        app,
        admin,
        ana,
        bob,
        customer_token,
        conversation,
        path,
    }
}

#[actix_web::test]
async fn a_transfer_hands_over_with_a_private_note() {
    let Desk {
        app,
        admin,
        ana,
        bob,
        customer_token,
        conversation,
        path,
    } = desk().await;
    let receiver = support::receiver::ScriptedReceiver::start(&[]).await;
    created(
        &app,
        &admin.token,
        "/api/v1/webhooks",
        json!({"url": receiver.url("/hooks"), "events": ["conversation_transferred", "note_added"],
               "secret": "hook-secret-long-enough-0123456789"}),
    )
    .await;
    let mut sse = SseClient::open(&app, &admin.token, None).await;
    let (mut customer_ws, _) = WsClient::connect(&app, &customer_token).await;

    let (status, view) = app
        .post(
            &format!("{path}/transfer"),
            &ana.token,
            &json!({"user_id": bob.user_id, "note": "Pediu desconto de 20%; já ofereci 10%."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["owner"]["id"], json!(bob.user_id));

    let event = sse
        .next_of("conversation_transferred", FRAME_WAIT)
        .await
        .expect("conversation_transferred over SSE");
    let data = &event.data["data"];
    assert_eq!(data["from"], json!({"type": "user", "id": ana.user_id}));
    assert_eq!(data["owner"], json!({"type": "user", "id": bob.user_id}));
    assert_eq!(data["by"], json!(ana.user_id));
    let note_id = data["note_id"].as_str().expect("the note's id").to_string();

    // The note is Bob's to read now; Ana no longer owns the conversation.
    let (status, notes) = app.get(&format!("{path}/notes"), &bob.token).await;
    assert_eq!(status, StatusCode::OK, "{notes}");
    assert_eq!(notes["items"][0]["id"], json!(note_id));
    assert_eq!(notes["items"][0]["kind"], "transfer");
    assert_eq!(notes["items"][0]["author_id"], json!(ana.user_id));
    assert_eq!(
        notes["items"][0]["content"],
        "Pediu desconto de 20%; já ofereci 10%."
    );
    let (status, _) = app
        .post(
            &format!("{path}/transfer"),
            &ana.token,
            &json!({"user_id": ana.user_id}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Webhooks hear both.
    let hooks = receiver.wait_for(2, WAIT).await;
    let mut kinds: Vec<String> = hooks
        .iter()
        .map(|h| h.json()["event"].as_str().unwrap_or_default().to_string())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["conversation_transferred", "note_added"]);

    // Bob replies; the customer hears it and nothing of the hand-over.
    let (status, body) = app
        .post(
            &format!("{path}/messages"),
            &bob.token,
            &json!({"content": "Oi, sou o Bob."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    customer_ws.next_of("message").await;
    assert!(customer_ws.buffered("conversation_transferred").is_empty());
    assert!(customer_ws.buffered("note_added").is_empty());
    let _ = conversation;
}

#[actix_web::test]
async fn bad_transfers_are_refused_and_change_nothing() {
    let Desk {
        app,
        admin,
        ana,
        bob,
        path,
        ..
    } = desk().await;
    let busy = member(&app, &admin, "carla", &[]).await;
    let (status, _) = app
        .patch(
            &format!("/api/v1/users/{}", busy.user_id),
            &admin.token,
            &json!({"available": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
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
        (json!({}), "target"),
        (
            json!({"user_id": bob.user_id, "department_id": foreign["id"]}),
            "target",
        ),
        (json!({"user_id": "nope"}), "user_id"),
        (json!({"user_id": other.user_id}), "user_id"),
        (json!({"user_id": ana.user_id}), "user_id"),
        (json!({"department_id": foreign["id"]}), "department_id"),
        (json!({"user_id": bob.user_id, "note": "   "}), "note"),
    ] {
        let (status, error) = app
            .post(&format!("{path}/transfer"), &ana.token, &body)
            .await;
        assert_field_error(status, &error, field);
    }
    let (status, error) = app
        .post(
            &format!("{path}/transfer"),
            &ana.token,
            &json!({"user_id": busy.user_id}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert_eq!(error["code"], "ROUTING_ERROR");
    // Not hers to give.
    let (status, _) = app
        .post(
            &format!("{path}/transfer"),
            &bob.token,
            &json!({"user_id": bob.user_id}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            &format!("{path}/transfer"),
            &other.token,
            &json!({"user_id": other.user_id}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, after) = app.get(&path, &admin.token).await;
    assert_eq!(before, after);
    let (_, notes) = app.get(&format!("{path}/notes"), &admin.token).await;
    assert_eq!(notes["items"], json!([]));
}

#[actix_web::test]
async fn a_transfer_to_a_department_waits_for_its_members() {
    let Desk {
        app,
        admin,
        ana,
        path,
        conversation,
        ..
    } = desk().await;
    let financeiro = created(
        &app,
        &admin.token,
        "/api/v1/departments",
        json!({"name": "Financeiro"}),
    )
    .await;
    let dora = member(&app, &admin, "dora", &[&financeiro]).await;
    let (mut supervisor_ws, _) = WsClient::connect(&app, &admin.token).await;
    let (status, view) = app
        .post(
            &format!("{path}/transfer"),
            &ana.token,
            &json!({"department_id": financeiro["id"], "note": "Segunda via do boleto."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["department_id"], financeiro["id"]);
    let frame = supervisor_ws.next_of("conversation_transferred").await;
    assert_eq!(frame["conversation_id"], json!(conversation));
    assert_eq!(frame["department_id"], financeiro["id"]);
    assert_eq!(frame["owner"]["type"], "nobody");
    // Only Dora belongs to Financeiro (Ana and Bob are as free).
    assert_eq!(owned(&app, &admin.token, &conversation).await, dora.user_id);

    // Supervisors transfer over the socket too.
    supervisor_ws
        .send(json!({"type": "transfer", "conversation_id": conversation, "user_id": ana.user_id}))
        .await;
    let answer = supervisor_ws.next_of("conversation_transferred").await;
    assert_eq!(answer["owner"]["id"], json!(ana.user_id), "{answer}");
    assert_eq!(
        owner_of(&app, &admin.token, &conversation).await,
        Some(ana.user_id.clone())
    );
}

#[actix_web::test]
async fn private_notes_never_reach_the_customer_or_a_channel() {
    let Desk {
        app,
        ana,
        customer_token,
        conversation,
        path,
        ..
    } = desk().await;
    let secret = "NOTA-PRIVADA-7731: cliente inadimplente";
    let (mut customer_ws, _) = WsClient::connect(&app, &customer_token).await;
    let (mut ana_ws, _) = WsClient::connect(&app, &ana.token).await;
    ana_ws
        .send(json!({"type": "subscribe", "conversation_id": conversation}))
        .await;
    ana_ws.barrier().await;

    let (status, note) = app
        .post(
            &format!("{path}/notes"),
            &ana.token,
            &json!({"content": format!("  {secret} ")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{note}");
    assert_eq!(note["content"], secret);
    assert_eq!(note["kind"], "note");
    let frame = ana_ws.next_of("note_added").await;
    assert_eq!(frame["content"], secret);

    // Over the socket too.
    ana_ws
        .send(json!({"type": "note", "conversation_id": conversation, "content": "segunda nota"}))
        .await;
    let answer = ana_ws.next_of("note_added").await;
    assert_eq!(answer["content"], "segunda nota");

    // A customer's socket may not write one.
    customer_ws
        .send(json!({"type": "note", "conversation_id": conversation, "content": "x"}))
        .await;
    let error = customer_ws.next_of("error").await;
    assert_eq!(error["code"], "FORBIDDEN", "{error}");

    // The positive signal: the customer gets Ana's next message. The notes went nowhere.
    let (status, body) = app
        .post(
            &format!("{path}/messages"),
            &ana.token,
            &json!({"content": "Vamos resolver isso."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    customer_ws.next_of("message").await;
    assert!(customer_ws.buffered("note_added").is_empty());
    let (status, history) = app
        .call_text(
            reqwest::Method::GET,
            &format!("{path}/messages"),
            Some(&ana.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!history.contains("NOTA-PRIVADA"), "{history}");

    let (status, notes) = app.get(&format!("{path}/notes"), &ana.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(notes["items"].as_array().map(Vec::len), Some(2), "{notes}");

    for (body, status) in [
        (json!({"content": ""}), StatusCode::BAD_REQUEST),
        (
            json!({"content": "x".repeat(4001)}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"text": "x"}), StatusCode::BAD_REQUEST),
    ] {
        let (got, error) = app.post(&format!("{path}/notes"), &ana.token, &body).await;
        assert_eq!(got, status, "{body} → {error}");
    }
}

#[actix_web::test]
async fn notes_stay_out_of_the_ai_prompt_and_the_channel() {
    let receiver = support::receiver::ScriptedReceiver::start(&[]).await;
    let f = support::engine::fixture(&[], json!({})).await;
    let (status, _) = f
        .app
        .patch(
            &format!("/api/v1/integrations/{}", f.integration_id),
            &f.admin.token,
            &json!({"outbound_url": receiver.url("/out")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    f.llm.push(Step::reply("Olá! Como posso ajudar?"));
    let id = f.conversation_of("c1", "m1", "oi, tudo bem?").await;
    receiver.wait_for(1, WAIT).await;

    let secret = "NOTA-INTERNA-4242";
    let (status, body) = f
        .app
        .post(
            &format!("/api/v1/conversations/{id}/notes"),
            &f.admin.token,
            &json!({"content": format!("{secret}: não oferecer reembolso")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    f.llm.push(Step::reply("Posso verificar seu pedido."));
    f.inbound("c1", "m2", "e meu pedido?").await;
    // The positive signal: the second turn reached the LLM and its reply the channel.
    assert!(f.llm.wait_for_requests(2, WAIT).await >= 2);
    let sent = receiver.wait_for(2, WAIT).await;
    assert!(!f.llm.requests_containing("e meu pedido?").is_empty());
    assert!(f.llm.requests_containing(secret).is_empty());
    for request in sent {
        let body = String::from_utf8_lossy(&request.body).to_string();
        assert!(!body.contains(secret), "{body}");
    }
}

#[actix_web::test]
async fn canned_responses_expand_for_their_owners() {
    let Desk {
        app,
        admin,
        ana,
        bob,
        customer_token,
        conversation,
        path,
    } = desk().await;
    let tenant_one = created(
        &app,
        &admin.token,
        "/api/v1/canned-responses",
        json!({"shortcut": "/Ola", "content": "Olá! Em que posso ajudar?", "scope": "tenant"}),
    )
    .await;
    assert_eq!(tenant_one["shortcut"], "ola");
    assert_eq!(tenant_one["scope"], "tenant");
    created(
        &app,
        &ana.token,
        "/api/v1/canned-responses",
        json!({"shortcut": "prazo", "content": "O prazo de entrega é de 5 dias úteis."}),
    )
    .await;
    created(
        &app,
        &bob.token,
        "/api/v1/canned-responses",
        json!({"shortcut": "pix", "content": "Nossa chave Pix é 123."}),
    )
    .await;
    // Agents cannot write the tenant's; a shortcut is unique in its scope.
    let (status, _) = app
        .post(
            "/api/v1/canned-responses",
            &ana.token,
            &json!({"shortcut": "x", "content": "y", "scope": "tenant"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            "/api/v1/canned-responses",
            &ana.token,
            &json!({"shortcut": "prazo", "content": "outro"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, error) = app
        .post(
            "/api/v1/canned-responses",
            &ana.token,
            &json!({"shortcut": "com espaço", "content": "y"}),
        )
        .await;
    assert_field_error(status, &error, "shortcut");

    // Autocomplete: the tenant's and her own, never Bob's.
    let (status, list) = app.get("/api/v1/canned-responses", &ana.token).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let shortcuts: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["shortcut"].as_str())
        .collect();
    assert_eq!(shortcuts, ["ola", "prazo"]);
    let (_, list) = app.get("/api/v1/canned-responses?q=/pr", &ana.token).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");

    let (mut customer_ws, _) = WsClient::connect(&app, &customer_token).await;
    let (status, message) = app
        .post(
            &format!("{path}/messages"),
            &ana.token,
            &json!({"content": "/ola Maria"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    assert_eq!(message["content"], "Olá! Em que posso ajudar? Maria");
    let got = customer_ws.next_of("message").await;
    assert_eq!(got["message"]["content"], "Olá! Em que posso ajudar? Maria");

    // Bob's shortcut is not Ana's: refused, nothing sent.
    let (_, before) = app.get(&format!("{path}/messages"), &ana.token).await;
    let (status, error) = app
        .post(
            &format!("{path}/messages"),
            &ana.token,
            &json!({"content": "/pix"}),
        )
        .await;
    assert_field_error(status, &error, "content");
    let (_, after) = app.get(&format!("{path}/messages"), &ana.token).await;
    // The same messages (a status may have moved on to `delivered` meanwhile).
    let ids = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .map(|items| items.iter().map(|m| m["id"].to_string()).collect())
            .unwrap_or_default()
    };
    assert!(!ids(&before).is_empty(), "{before}");
    assert_eq!(ids(&before), ids(&after));

    // Over the socket, her own.
    let (mut ana_ws, _) = WsClient::connect(&app, &ana.token).await;
    ana_ws
        .send(
            json!({"type": "message", "conversation_id": conversation, "content": "/prazo",
                     "client_msg_id": "k1"}),
        )
        .await;
    let sent = ana_ws.next_of("message_sent").await;
    assert_eq!(
        sent["message"]["content"],
        "O prazo de entrega é de 5 dias úteis."
    );
    ana_ws
        .send(json!({"type": "message", "conversation_id": conversation, "content": "/nada"}))
        .await;
    let error = ana_ws.next_of("error").await;
    assert_eq!(error["code"], "VALIDATION_ERROR", "{error}");
    // A literal slash.
    ana_ws
        .send(
            json!({"type": "message", "conversation_id": conversation, "content": "//nada",
                     "client_msg_id": "k2"}),
        )
        .await;
    let sent = ana_ws.next_of("message_sent").await;
    assert_eq!(sent["message"]["content"], "/nada");

    // Only admins change the tenant's; nobody sees another's own.
    let tenant_path = format!(
        "/api/v1/canned-responses/{}",
        tenant_one["id"].as_str().expect("id")
    );
    let (status, _) = app
        .patch(&tenant_path, &ana.token, &json!({"content": "mudado"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, updated) = app
        .patch(&tenant_path, &admin.token, &json!({"content": "Oi!"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["content"], "Oi!");
    let (status, _) = app.delete(&tenant_path, &bob.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.delete(&tenant_path, &admin.token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}
