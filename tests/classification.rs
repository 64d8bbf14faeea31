//! Classification (issue 7, seed 001): every new conversation gets a category and a priority
//! with a confidence — rules by default, the LLM's JSON when configured, with the rules as the
//! safe fallback — stored on the conversation and used by distribution (by_specialty, queue
//! priority) and escalation (critical priority, VIP contacts).

mod support;

use std::time::Duration;

use atende::llm::extract::CLASSIFICATION_MARKER;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::engine::{create, fixture, Fixture, SECRET};
use support::scripted_llm::Step;

const WAIT: Duration = Duration::from_secs(15);

async fn classified(f: &Fixture, conversation: &str) -> Value {
    f.eventually(WAIT, || async {
        let c = f.conversation(conversation).await;
        c["category"].is_string().then_some(c)
    })
    .await
    .expect("classified")
}

#[actix_web::test]
async fn an_outage_is_technical_and_critical() {
    let f = fixture(&[], json!({})).await;
    let id = f
        .conversation_of("c1", "m1", "o sistema caiu, urgente, nada funciona")
        .await;
    let c = classified(&f, &id).await;
    assert_eq!(c["category"], "technical");
    assert_eq!(c["priority"], "critical");
    let details = &c["metadata"]["classification"];
    assert_eq!(details["source"], "rules");
    assert!(
        details["confidence"].as_f64().expect("confidence") >= 0.5,
        "{c}"
    );
    // Not configured to hand over: the AI answers.
    assert_eq!(f.llm.wait_for_requests(1, WAIT).await, 1);
    assert!(c["escalation_reason"].is_null());

    let id = f
        .conversation_of("c2", "m2", "Quais são os planos? Quanto custa?")
        .await;
    let c = classified(&f, &id).await;
    assert_eq!(
        (c["category"].as_str(), c["priority"].as_str()),
        (Some("commercial"), Some("medium"))
    );
}

#[actix_web::test]
async fn critical_and_vip_conversations_go_to_a_human_when_configured() {
    let f = fixture(
        &[
            ("classification.escalate_critical", "true"),
            ("classification.escalate_vip", "true"),
        ],
        json!({}),
    )
    .await;
    let id = f
        .conversation_of("c1", "m1", "o sistema caiu, urgente, nada funciona")
        .await;
    let c = f
        .eventually(WAIT, || async {
            let c = f.conversation(&id).await;
            (c["escalation_reason"].is_string() && c["category"].is_string()).then_some(c)
        })
        .await
        .expect("handed over");
    assert_eq!(c["escalation_reason"], "critical_priority");
    assert_eq!(c["priority"], "critical");
    assert_ne!(c["owner"]["type"], "ai_agent");

    // A VIP (tag) with an ordinary question goes to a human too.
    let ordinary = f.conversation_of("c2", "m2", "bom dia").await;
    let contact = f.conversation(&ordinary).await["contact_id"]
        .as_str()
        .expect("contact")
        .to_string();
    f.eventually(WAIT, || async {
        (f.llm.request_count() >= 1).then_some(())
    })
    .await
    .expect("an ordinary customer is answered by the AI");
    f.close(&ordinary).await;
    let (status, body) = f
        .app
        .patch(
            &format!("/api/v1/contacts/{contact}"),
            &f.admin.token,
            &json!({"tags": ["VIP"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let vip = f.conversation_of("c2", "m3", "bom dia de novo").await;
    assert_ne!(vip, ordinary);
    let c = f
        .eventually(WAIT, || async {
            let c = f.conversation(&vip).await;
            (c["escalation_reason"].is_string() && c["category"].is_string()).then_some(c)
        })
        .await
        .expect("handed over");
    assert_eq!(c["escalation_reason"], "vip_contact");
    // VIPs are served one level sooner.
    assert_eq!(c["priority"], "high");
    assert_eq!(f.llm.request_count(), 1);
}

/// A generic integration without a default agent (so the distribution method decides) and
/// a signed message on it.
async fn plain_integration(f: &Fixture) -> String {
    create(
        &f.app,
        &f.admin,
        "/api/v1/integrations",
        &json!({"kind": "generic", "name": "routing", "secret": SECRET}),
    )
    .await
}

async fn inbound_on(f: &Fixture, integration: &str, contact: &str, text: &str) -> String {
    let body = support::webhook::generic_body(contact, None, &format!("{contact}-1"), text);
    let accepted = f.app.signed_webhook(integration, &body).await;
    accepted["conversation_id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn by_specialty(f: &Fixture, assign_to_ai_agent: bool) {
    let (status, body) = f
        .app
        .call(
            reqwest::Method::PUT,
            "/api/v1/settings/distribution",
            Some(&f.admin.token),
            Some(&json!({
                "method": "by_specialty", "assign_to_ai_agent": assign_to_ai_agent,
                "prefer_ai": false, "max_queue_wait_minutes": 0, "first_response_minutes": 0,
                "sticky": false,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn owner_of(f: &Fixture, conversation: &str) -> Value {
    f.eventually(WAIT, || async {
        let c = f.conversation(conversation).await;
        c["owner"]["id"].is_string().then_some(c)
    })
    .await
    .expect("assigned")
}

#[actix_web::test]
async fn by_specialty_sends_each_category_to_its_specialist_human() {
    let f = fixture(&[], json!({})).await;
    by_specialty(&f, false).await;
    let mut ids = Vec::new();
    for (email, specialty) in [
        ("tec@tenant-a.test", "technical"),
        ("com@tenant-a.test", "Commercial"),
    ] {
        ids.push(
            create(
                &f.app,
                &f.admin,
                "/api/v1/users",
                &json!({
                    "name": email, "email": email, "password": "user-password",
                    "role": "agent", "max_conversations": 5, "specialties": [specialty],
                    "available": true,
                }),
            )
            .await,
        );
    }
    let integration = plain_integration(&f).await;
    let commercial = inbound_on(
        &f,
        &integration,
        "buyer",
        "quero comprar o plano anual, qual o preço?",
    )
    .await;
    let technical = inbound_on(&f, &integration, "broken", "erro no login do aplicativo").await;
    let c = owner_of(&f, &commercial).await;
    assert_eq!(c["category"], "commercial");
    assert_eq!(c["owner"], json!({"type": "user", "id": ids[1]}));
    let c = owner_of(&f, &technical).await;
    assert_eq!(c["category"], "technical");
    assert_eq!(c["owner"], json!({"type": "user", "id": ids[0]}));
}

#[actix_web::test]
async fn by_specialty_sends_a_commercial_conversation_to_the_commercial_ai_agent() {
    let f = fixture(&[], json!({"specialties": ["technical"]})).await;
    by_specialty(&f, true).await;
    let sales = create(
        &f.app,
        &f.admin,
        "/api/v1/agents",
        &json!({
            "name": "Vendas", "model": "gpt-4o-mini", "specialties": ["commercial"],
            "provider": {"kind": "openai", "base_url": f.llm.base_url, "api_key": "sk-test-key"},
            "settings": {"context_timer_seconds": 0},
        }),
    )
    .await;
    let integration = plain_integration(&f).await;
    let id = inbound_on(
        &f,
        &integration,
        "buyer",
        "Quais são os planos? Quanto custa?",
    )
    .await;
    let c = owner_of(&f, &id).await;
    assert_eq!(c["owner"], json!({"type": "ai_agent", "id": sales}));
}

#[actix_web::test]
async fn the_llm_classifies_when_configured_with_the_rules_as_fallback() {
    let f = fixture(&[("classification.mode", "llm")], json!({})).await;
    f.llm.answer_when(
        CLASSIFICATION_MARKER,
        Step::reply(r#"{"categoria": "elogio", "prioridade": "baixa", "confianca": 0.97}"#),
    );
    let id = f.conversation_of("c1", "m1", "vocês são demais").await;
    let c = classified(&f, &id).await;
    assert_eq!(c["category"], "praise");
    assert_eq!(c["priority"], "low");
    assert_eq!(c["metadata"]["classification"]["source"], "llm");
    assert_eq!(c["metadata"]["classification"]["confidence"], 0.97);
    let asked = f.llm.requests_containing(CLASSIFICATION_MARKER);
    assert_eq!(asked.len(), 1);
    assert_eq!(
        asked[0].last_user_message().as_deref(),
        Some("vocês são demais")
    );
    // Classified before the chat turn, which still answers.
    f.eventually(WAIT, || async {
        let m = f.messages(&id).await;
        (support::engine::by_sender(&m, "ai_agent").len() == 1).then_some(())
    })
    .await
    .expect("answered");

    // Malformed JSON (seed 001's fallback): the rules decide.
    f.llm.answer_when(
        CLASSIFICATION_MARKER,
        Step::reply("{\"category\": \"technical\", \"priority\""),
    );
    let id = f
        .conversation_of("c2", "m2", "o sistema caiu, urgente, nada funciona")
        .await;
    let c = classified(&f, &id).await;
    assert_eq!(c["category"], "technical");
    assert_eq!(c["priority"], "critical");
    assert_eq!(c["metadata"]["classification"]["source"], "rules");
}
