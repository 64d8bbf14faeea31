//! The offline retrieval provider: no LLM, no key. A question the knowledge base covers is
//! answered with the passage and its source; one it does not cover goes to a human.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::engine::{by_sender, eventually, SECRET};
use support::knowledge::upload_text;
use support::{Session, TestApp};

const WAIT: Duration = Duration::from_secs(15);

struct Offline {
    app: TestApp,
    admin: Session,
    agent: String,
    integration: String,
}

async fn offline() -> Offline {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    // No provider and no default key: the agent is a retrieval agent.
    let agent = app
        .create_agent(
            &admin,
            json!({"name": "Ajuda", "settings": {"context_timer_seconds": 0}}),
        )
        .await;
    assert_eq!(agent["provider"]["kind"], "retrieval");
    let agent = agent["id"].as_str().expect("id").to_string();
    let integration = app
        .create_integration(
            &admin,
            json!({"kind": "generic", "name": "web", "secret": SECRET, "default_agent_id": agent}),
        )
        .await;
    upload_text(
        &app,
        &admin,
        "Política de trocas",
        "Trocas de produtos podem ser feitas em até 30 dias com a nota fiscal.",
    )
    .await;
    upload_text(
        &app,
        &admin,
        "Horário",
        "Atendemos de segunda a sexta, das 8h às 18h.",
    )
    .await;
    Offline {
        app,
        admin,
        agent,
        integration: integration["id"].as_str().expect("id").to_string(),
    }
}

impl Offline {
    async fn inbound(&self, contact: &str, text: &str) -> String {
        let accepted = self
            .app
            .customer_says(&self.integration, contact, &format!("{contact}-1"), text)
            .await;
        accepted["conversation_id"]
            .as_str()
            .expect("id")
            .to_string()
    }

    async fn conversation(&self, id: &str) -> (Value, Vec<Value>) {
        let (_, c) = self
            .app
            .get(&format!("/api/v1/conversations/{id}"), &self.admin.token)
            .await;
        let (_, m) = self
            .app
            .get(
                &format!("/api/v1/conversations/{id}/messages"),
                &self.admin.token,
            )
            .await;
        (c, m["items"].as_array().cloned().unwrap_or_default())
    }
}

#[actix_web::test]
async fn covered_questions_are_answered_with_the_source_and_others_go_to_a_human() {
    let o = offline().await;
    let covered = o.inbound("c1", "Como faço para trocar um produto?").await;
    let answer = eventually(WAIT, &mut || async {
        let (_, messages) = o.conversation(&covered).await;
        by_sender(&messages, "ai_agent")
            .first()
            .map(|m| m["content"].as_str().unwrap_or_default().to_string())
    })
    .await
    .expect("answered from the knowledge base");
    assert!(answer.contains("30 dias"), "{answer}");
    assert!(answer.contains("Fonte: Política de trocas"), "{answer}");
    let (c, _) = o.conversation(&covered).await;
    assert_eq!(c["owner"]["type"], "ai_agent");

    let uncovered = o.inbound("c2", "Vocês vendem passagens de avião?").await;
    let c = eventually(WAIT, &mut || async {
        let (c, _) = o.conversation(&uncovered).await;
        (c["escalation_reason"] == "no_knowledge_match").then_some(c)
    })
    .await
    .expect("handed to a human");
    assert_ne!(c["owner"]["type"], "ai_agent");
    let (_, messages) = o.conversation(&uncovered).await;
    assert!(by_sender(&messages, "ai_agent").is_empty());
    assert_eq!(
        by_sender(&messages, "system").len(),
        1,
        "the customer is told"
    );
}

#[actix_web::test]
async fn the_retrieval_agent_streams_its_answer_with_the_source() {
    let o = offline().await;
    let response = o
        .app
        .http
        .post(
            o.app
                .url(&format!("/api/v1/agents/{}/chat/stream", o.agent)),
        )
        .bearer_auth(&o.admin.token)
        .json(&json!({"messages": [{"role": "user", "content": "qual o horário de atendimento?"}]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.expect("body");
    assert!(body.contains("event: source"), "{body}");
    assert!(body.contains("\"title\":\"Horário\""), "{body}");
    assert!(body.contains("event: done"), "{body}");
    assert!(body.contains("Fonte: Horário"), "{body}");
}
