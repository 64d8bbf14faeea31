//! Automations (seed 004's AI branching): an intent in the customer's message runs the
//! automation's actions before, and instead of, any LLM call.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use support::engine::{by_sender, fixture};

const WAIT: Duration = Duration::from_secs(15);

#[actix_web::test]
async fn a_cancel_intent_runs_its_actions_and_makes_no_llm_request() {
    let f = fixture(&[], json!({})).await;
    let (status, automation) = f
        .app
        .post("/api/v1/automations", &f.admin.token, &json!({
            "name": "Detectar cancelamento",
            "intents": ["cancelar", {"type": "regex", "pattern": "\\bdesist(o|ir)\\b"}],
            "actions": [
                {"type": "send_message", "content": "Entendi que deseja cancelar. Um atendente vai confirmar."},
                {"type": "add_tag", "tag": "cancelamento"},
                {"type": "close", "reason": "cancelamento"}
            ]
        }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{automation}");
    assert_eq!(
        automation["intents"][0],
        json!({"type": "keyword", "value": "cancelar"})
    );

    let (_, accepted) = f.inbound("c1", "m1", "Quero CANCELAR meu pedido").await;
    let conversation = accepted["conversation_id"]
        .as_str()
        .expect("id")
        .to_string();
    let c = f
        .eventually(WAIT, || async {
            let c = f.conversation(&conversation).await;
            (c["status"] == "closed").then_some(c)
        })
        .await
        .expect("closed by the automation");
    assert_eq!(c["close_reason"], "cancelamento");
    assert_eq!(c["tags"], json!(["cancelamento"]));
    let messages = f.messages(&conversation).await;
    let ai = by_sender(&messages, "ai_agent");
    assert_eq!(ai.len(), 1);
    assert!(ai[0]["content"]
        .as_str()
        .unwrap_or_default()
        .starts_with("Entendi que deseja cancelar"));
    assert_eq!(ai[0]["metadata"]["automation_id"], automation["id"]);

    let (_, log) = f
        .app
        .get(
            &format!("/api/v1/conversations/{conversation}/ai-log"),
            &f.admin.token,
        )
        .await;
    let turn = &log["items"][0];
    assert_eq!(turn["status"], "automation");
    assert!(turn["tokens_saved"].as_i64().unwrap_or(0) > 0, "{turn}");
    assert_eq!(turn["prompt_tokens"], 0);

    // No intent: the LLM answers as usual, and its request is the first one: the automation
    // made none.
    let (_, accepted) = f.inbound("c2", "m2", "bom dia").await;
    let other = accepted["conversation_id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(f.llm.wait_for_requests(1, WAIT).await, 1);
    assert_eq!(
        f.llm.requests()[0].last_user_message().as_deref(),
        Some("bom dia"),
        "zero LLM requests for the automation"
    );
    let regex = f.inbound("c3", "m3", "eu desisto").await.1;
    let third = regex["conversation_id"].as_str().expect("id").to_string();
    f.eventually(WAIT, || async {
        let c = f.conversation(&third).await;
        (c["status"] == "closed").then_some(())
    })
    .await
    .expect("the regex intent matched");
    assert_eq!(f.llm.request_count(), 1);
    assert_eq!(f.conversation(&other).await["status"], "open");
}

#[actix_web::test]
async fn an_assign_action_hands_the_conversation_to_a_human() {
    let f = fixture(&[], json!({})).await;
    let human = f
        .app
        .user_with_role(&f.admin, "agent", "ana@tenant-a.test")
        .await;
    let (status, _) = f
        .app
        .post(
            "/api/v1/automations",
            &f.admin.token,
            &json!({
                "name": "VIP", "agent_id": f.agent_id, "priority": 10,
                "intents": [{"type": "keyword", "value": "gerente"}],
                "actions": [{"type": "assign", "user_id": human.user_id}]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, accepted) = f.inbound("c1", "m1", "quero falar com o gerente").await;
    let conversation = accepted["conversation_id"]
        .as_str()
        .expect("id")
        .to_string();
    let c = f
        .eventually(WAIT, || async {
            let c = f.conversation(&conversation).await;
            (c["owner"]["type"] == "user").then_some(c)
        })
        .await
        .expect("assigned");
    assert_eq!(c["owner"]["id"], human.user_id);
    assert_eq!(f.llm.request_count(), 0);
}

#[actix_web::test]
async fn automation_crud_validates_and_isolates_tenants() {
    let f = fixture(&[], json!({})).await;
    let token = &f.admin.token;
    let other = f.app.other_tenant("tenant-b").await;
    let other_agent = f.app.create_agent(&other, json!({"name": "Outro"})).await;
    for (body, field) in [
        (
            json!({"name": "x", "intents": [], "actions": [{"type": "close"}]}),
            "intents",
        ),
        (
            json!({"name": "x", "intents": [{"type": "regex", "pattern": "(oops"}], "actions": [{"type": "close"}]}),
            "intents[0]",
        ),
        (
            json!({"name": "x", "intents": ["a"], "actions": []}),
            "actions",
        ),
        (
            json!({"name": "x", "intents": ["a"], "actions": [{"type": "assign"}]}),
            "actions[0]",
        ),
        (
            json!({"name": "x", "intents": ["a"], "actions": [{"type": "move_to_stage", "stage_id": "nope"}]}),
            "actions[0]",
        ),
        (
            json!({"name": "x", "agent_id": other_agent["id"], "intents": ["a"], "actions": [{"type": "close"}]}),
            "agent_id",
        ),
    ] {
        let (status, err) = f.app.post("/api/v1/automations", token, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
        assert_eq!(err["details"]["field"], field, "{err}");
    }
    let (status, err) = f
        .app
        .post(
            "/api/v1/automations",
            token,
            &json!({"name": "x", "intents": ["a"], "actions": [{"type": "explode"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");

    let (status, created) = f
        .app
        .post("/api/v1/automations", token, &json!({"name": "Oi", "intents": ["oi"], "actions": [{"type": "send_message", "content": "Olá!"}]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let one = format!(
        "/api/v1/automations/{}",
        created["id"].as_str().expect("id")
    );
    let (status, patched) = f
        .app
        .patch(&one, token, &json!({"enabled": false, "priority": 3}))
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["priority"], 3);
    let (status, _) = f.app.get(&one, &other.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = f
        .app
        .patch(&one, &other.token, &json!({"enabled": true}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = f.app.get("/api/v1/automations", &other.token).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(0));
    let (status, _) = f.app.delete(&one, token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = f.app.get(&one, token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
