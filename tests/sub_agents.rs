//! Sub-agents routed by topic (seed 003): the sub-agent whose topics the message mentions
//! answers with its own prompt; anything else goes to the main agent. Changes apply at once.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use support::engine::{by_sender, fixture, Fixture};

const WAIT: Duration = Duration::from_secs(15);
const MAIN_PROMPT: &str = "You are a helpful contact-center agent.";
const BILLING_PROMPT: &str = "Você é o especialista do financeiro.";

async fn ask(f: &Fixture, contact: &str, text: &str) -> (String, String) {
    let before = f.llm.request_count();
    let (_, accepted) = f.inbound(contact, &format!("{contact}-1"), text).await;
    let conversation = accepted["conversation_id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(f.llm.wait_for_requests(before + 1, WAIT).await, before + 1);
    f.eventually(WAIT, || async {
        let m = f.messages(&conversation).await;
        (!by_sender(&m, "ai_agent").is_empty()).then_some(())
    })
    .await
    .expect("answered");
    let system = f.llm.requests()[before].body["messages"][0]["content"]
        .as_str()
        .expect("system message")
        .to_string();
    (conversation, system)
}

#[actix_web::test]
async fn billing_questions_go_to_the_billing_sub_agent_and_greetings_to_the_main_agent() {
    let f = fixture(&[], json!({})).await;
    let path = format!("/api/v1/agents/{}/sub-agents", f.agent_id);
    let (status, sub) = f
        .app
        .post(
            &path,
            &f.admin.token,
            &json!({"name": "Cobrança", "topics": ["pagamento", "fatura"],
            "system_prompt": BILLING_PROMPT, "model": "gpt-4o"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");

    let (conversation, system) = ask(&f, "c1", "quero pagar minha fatura").await;
    assert!(system.starts_with(BILLING_PROMPT), "{system}");
    assert_eq!(f.llm.requests()[0].body["model"], "gpt-4o");
    let (_, log) = f
        .app
        .get(
            &format!("/api/v1/conversations/{conversation}/ai-log"),
            &f.admin.token,
        )
        .await;
    assert_eq!(log["items"][0]["sub_agent_id"], sub["id"]);
    let message = &by_sender(&f.messages(&conversation).await, "ai_agent")[0].clone();
    assert_eq!(message["metadata"]["sub_agent_id"], sub["id"]);

    let (_, system) = ask(&f, "c2", "bom dia").await;
    assert!(system.starts_with(MAIN_PROMPT), "{system}");
    assert_eq!(f.llm.requests()[1].body["model"], "gpt-4o-mini");

    // Deactivated: the next message goes to the main agent, no restart needed.
    let (status, patched) = f
        .app
        .patch(
            &format!("{path}/{}", sub["id"].as_str().expect("id")),
            &f.admin.token,
            &json!({"is_active": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let (_, system) = ask(&f, "c3", "minha fatura veio errada").await;
    assert!(system.starts_with(MAIN_PROMPT), "{system}");
}

#[actix_web::test]
async fn a_sub_agent_created_later_is_used_at_once() {
    let f = fixture(&[], json!({})).await;
    let (_, system) = ask(&f, "c1", "qual o prazo de entrega?").await;
    assert!(system.starts_with(MAIN_PROMPT));
    let path = format!("/api/v1/agents/{}/sub-agents", f.agent_id);
    let (status, _) = f
        .app
        .post(
            &path,
            &f.admin.token,
            &json!({"name": "Logística", "topics": ["entrega"],
            "system_prompt": "Você cuida das entregas."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, system) = ask(&f, "c2", "e a entrega?").await;
    assert!(system.starts_with("Você cuida das entregas."), "{system}");
}

#[actix_web::test]
async fn sub_agent_crud_validates_and_isolates_tenants() {
    let f = fixture(&[], json!({})).await;
    let path = format!("/api/v1/agents/{}/sub-agents", f.agent_id);
    for body in [
        json!({"name": "x", "topics": []}),
        json!({"name": "x", "topics": ["  "]}),
        json!({"name": "", "topics": ["a"]}),
        json!({"name": "x", "topics": ["a"], "unknown": 1}),
    ] {
        let (status, err) = f.app.post(&path, &f.admin.token, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
    }
    let (status, sub) = f
        .app
        .post(
            &path,
            &f.admin.token,
            &json!({"name": "Vendas", "topics": ["Preço", "preco", "plano"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    assert_eq!(
        sub["topics"],
        json!(["Preço", "plano"]),
        "duplicates folded"
    );
    let one = format!("{path}/{}", sub["id"].as_str().expect("id"));
    let (status, got) = f.app.get(&one, &f.admin.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["name"], "Vendas");
    let (status, patched) = f
        .app
        .patch(
            &one,
            &f.admin.token,
            &json!({"model": "gpt-4o", "topics": ["planos"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["model"], "gpt-4o");
    let (_, patched) = f
        .app
        .patch(&one, &f.admin.token, &json!({"model": null}))
        .await;
    assert!(patched["model"].is_null());

    let other = f.app.other_tenant("tenant-b").await;
    let (status, _) = f.app.get(&path, &other.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = f
        .app
        .post(&path, &other.token, &json!({"name": "x", "topics": ["a"]}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = f.app.delete(&one, &other.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = f.app.delete(&one, &f.admin.token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = f.app.get(&path, &f.admin.token).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
}

#[actix_web::test]
async fn llm_classification_routes_when_configured_and_malformed_answers_fall_back() {
    let f = fixture(&[("llm.classify_topics", "true")], json!({})).await;
    let path = format!("/api/v1/agents/{}/sub-agents", f.agent_id);
    let (status, _) = f
        .app
        .post(
            &path,
            &f.admin.token,
            &json!({"name": "Logística", "topics": ["entrega"], "system_prompt": "Você cuida das entregas."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    f.llm.push(support::scripted_llm::Step::reply(
        "```json\n{\"topic\": \"entrega\"}\n```",
    ));
    f.llm.push(support::scripted_llm::Step::reply(
        "Seu pacote chega amanhã.",
    ));
    let (_, accepted) = f.inbound("c1", "c1-1", "cadê meu pacote?").await;
    let conversation = accepted["conversation_id"]
        .as_str()
        .expect("id")
        .to_string();
    f.eventually(WAIT, || async {
        let m = f.messages(&conversation).await;
        (!by_sender(&m, "ai_agent").is_empty()).then_some(())
    })
    .await
    .expect("answered");
    let requests = f.llm.requests();
    assert_eq!(requests.len(), 2, "one classification, one answer");
    let system = requests[1].body["messages"][0]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(system.starts_with("Você cuida das entregas."), "{system}");

    // Not JSON: the main agent answers, the conversation goes on.
    f.llm
        .push(support::scripted_llm::Step::reply("entrega, acho"));
    let (_, system) = ask_after(&f, "c2", "e o meu pedido?", 2).await;
    assert!(system.starts_with(MAIN_PROMPT), "{system}");
}

async fn ask_after(f: &Fixture, contact: &str, text: &str, before: usize) -> (String, String) {
    let (_, accepted) = f.inbound(contact, &format!("{contact}-1"), text).await;
    let conversation = accepted["conversation_id"]
        .as_str()
        .expect("id")
        .to_string();
    f.eventually(WAIT, || async {
        let m = f.messages(&conversation).await;
        (!by_sender(&m, "ai_agent").is_empty()).then_some(())
    })
    .await
    .expect("answered");
    let system = f.llm.requests()[before + 1].body["messages"][0]["content"]
        .as_str()
        .expect("system message")
        .to_string();
    (conversation, system)
}
