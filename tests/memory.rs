//! Agent memory (issue 7, seed 004): facts about the contact extracted every
//! `memory_every_n_messages` customer messages, carried into the prompts of later
//! conversations with the same contact, visible and erasable per contact, tenant-scoped.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::engine::{by_sender, fixture, Fixture};
use support::scripted_llm::Step;

const WAIT: Duration = Duration::from_secs(15);
const REMEMBER_HEADING: &str = "## What you remember";

/// Sends `text` and waits until the AI has answered `answers` times in the conversation.
async fn say(f: &Fixture, contact: &str, id: &str, text: &str, answers: usize) -> String {
    let (status, accepted) = f.inbound(contact, id, text).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let conversation = accepted["conversation_id"]
        .as_str()
        .expect("conversation id")
        .to_string();
    f.eventually(WAIT, || async {
        let m = f.messages(&conversation).await;
        (by_sender(&m, "ai_agent").len() >= answers).then_some(())
    })
    .await
    .expect("the AI answered");
    conversation
}

async fn memories(f: &Fixture, contact: &str) -> Vec<Value> {
    let (status, body) = f
        .app
        .get(
            &format!("/api/v1/contacts/{contact}/memories"),
            &f.admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

async fn contact_of(f: &Fixture, conversation: &str) -> String {
    f.conversation(conversation).await["contact_id"]
        .as_str()
        .expect("contact")
        .to_string()
}

/// Waits until the contact has at least one memory.
async fn some_memories(f: &Fixture, contact: &str, why: &str) -> Vec<Value> {
    f.eventually(WAIT, || async {
        let items = memories(f, contact).await;
        (!items.is_empty()).then_some(items)
    })
    .await
    .expect(why)
}

/// The system message of the chat request that answered `text`.
fn system_prompt_answering(f: &Fixture, text: &str) -> String {
    let request = f
        .llm
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.last_user_message().as_deref() == Some(text))
        .expect("a request answered the message");
    request.body["messages"][0]["content"]
        .as_str()
        .expect("system message")
        .to_string()
}

const DEFECT_CHAT: [&str; 5] = [
    "Olá, comprei um liquidificador na loja de vocês",
    "O liquidificador chegou com defeito",
    "ele não liga, acho que é defeito de fábrica",
    "meu pedido é o 123456",
    "quero saber o que fazer com o produto com defeito",
];

#[actix_web::test]
async fn a_defect_is_remembered_in_the_next_conversation_until_erased() {
    let f = fixture(&[], json!({})).await;
    let mut conversation = String::new();
    for (i, text) in DEFECT_CHAT.iter().enumerate() {
        conversation = say(&f, "c1", &format!("m{i}"), text, i + 1).await;
    }
    let contact = contact_of(&f, &conversation).await;

    let remembered = f
        .eventually(WAIT, || async {
            let items = memories(&f, &contact).await;
            items
                .iter()
                .any(|m| {
                    m["kind"] == "problem"
                        && m["content"].as_str().is_some_and(|c| c.contains("defeito"))
                })
                .then_some(items)
        })
        .await
        .expect("a memory of the defect after 5 customer messages");
    let problem = remembered
        .iter()
        .find(|m| m["kind"] == "problem")
        .expect("problem");
    assert_eq!(problem["agent_id"], f.agent_id.as_str());
    assert_eq!(problem["source_conversation_id"], conversation.as_str());
    assert!(
        remembered
            .iter()
            .any(|m| m["kind"] == "order" && m["content"] == "Order number: 123456"),
        "{remembered:?}"
    );
    // The same fact twice is one memory.
    let contents: Vec<&str> = remembered
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    let mut unique = contents.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), contents.len(), "{contents:?}");

    // A new conversation with the same contact starts from what it told us.
    f.close(&conversation).await;
    let second = say(&f, "c1", "n1", "oi, tudo bem?", 1).await;
    assert_ne!(second, conversation, "a new conversation");
    let prompt = system_prompt_answering(&f, "oi, tudo bem?");
    assert!(prompt.contains(REMEMBER_HEADING), "{prompt}");
    assert!(prompt.contains("defeito"), "{prompt}");
    assert!(prompt.contains("Order number: 123456"), "{prompt}");

    // Erased: gone from the API and from every later prompt.
    let (status, erased) = f
        .app
        .delete(
            &format!("/api/v1/contacts/{contact}/memories"),
            &f.admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    assert_eq!(erased["deleted"].as_u64(), Some(remembered.len() as u64));
    assert!(memories(&f, &contact).await.is_empty());
    let third_text = "olá de novo, preciso de ajuda";
    say(&f, "c1", "n2", third_text, 2).await;
    let prompt = system_prompt_answering(&f, third_text);
    assert!(!prompt.contains(REMEMBER_HEADING), "{prompt}");
    assert!(!prompt.contains("123456"), "{prompt}");
    f.close(&second).await;
    say(&f, "c1", "p1", "bom dia", 1).await;
    let request = f
        .llm
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.last_user_message().as_deref() == Some("bom dia"))
        .expect("answered");
    let body = request.body.to_string();
    assert!(!body.contains("defeito"), "{body}");
    assert!(!body.contains("123456"), "{body}");
}

#[actix_web::test]
async fn memories_are_counted_per_agent_setting_and_zero_turns_them_off() {
    let f = fixture(&[], json!({"settings": {"memory_every_n_messages": 0}})).await;
    let mut conversation = String::new();
    for (i, text) in DEFECT_CHAT.iter().enumerate() {
        conversation = say(&f, "c1", &format!("m{i}"), text, i + 1).await;
    }
    let contact = contact_of(&f, &conversation).await;
    // An extraction runs after the reply it follows: once a later message is answered, the
    // earlier ones' would have been stored.
    say(&f, "c1", "m-later", "obrigado", DEFECT_CHAT.len() + 1).await;
    assert!(memories(&f, &contact).await.is_empty());

    let f = fixture(&[], json!({"settings": {"memory_every_n_messages": 2}})).await;
    let conversation = say(&f, "c2", "a1", "meu e-mail é ana@example.com", 1).await;
    let contact = contact_of(&f, &conversation).await;
    // Another customer's first message, answered: the signal that c2's first is done too.
    say(&f, "c3", "b1", "bom dia", 1).await;
    assert!(
        memories(&f, &contact).await.is_empty(),
        "not before the 2nd"
    );
    say(&f, "c2", "a2", "obrigado", 2).await;
    let items = some_memories(&f, &contact, "extracted at the 2nd message").await;
    assert_eq!(items[0]["kind"], "email");
    assert_eq!(items[0]["content"], "E-mail: ana@example.com");
}

#[actix_web::test]
async fn memories_are_tenant_scoped_and_erasable_one_by_one() {
    let f = fixture(&[], json!({"settings": {"memory_every_n_messages": 1}})).await;
    let conversation = say(&f, "c1", "m1", "O pedido 556677 veio quebrado", 1).await;
    let contact = contact_of(&f, &conversation).await;
    let items = f
        .eventually(WAIT, || async {
            let items = memories(&f, &contact).await;
            (items.len() >= 2).then_some(items)
        })
        .await
        .expect("order and problem remembered");

    let other = f.app.other_tenant("tenant-b").await;
    let path = format!("/api/v1/contacts/{contact}/memories");
    let one = format!("{path}/{}", items[0]["id"].as_str().expect("id"));
    for (status, body) in [
        f.app.get(&path, &other.token).await,
        f.app.delete(&path, &other.token).await,
        f.app.delete(&one, &other.token).await,
    ] {
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["code"], "NOT_FOUND");
    }
    assert_eq!(memories(&f, &contact).await.len(), items.len());
    let (status, body) = f
        .app
        .get("/api/v1/contacts/not-an-id/memories", &f.admin.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, _) = f.app.delete(&one, &f.admin.token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = f.app.delete(&one, &f.admin.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(memories(&f, &contact).await.len(), items.len() - 1);
}

#[actix_web::test]
async fn the_llm_extracts_when_configured_and_rules_stand_in_for_bad_json() {
    use atende::llm::extract::MEMORY_MARKER;
    let f = fixture(
        &[("memory.extractor", "auto")],
        json!({"settings": {"memory_every_n_messages": 2}}),
    )
    .await;
    f.llm.answer_when(
        MEMORY_MARKER,
        Step::reply(
            r#"{"memories": [{"kind": "preference", "content": "Prefers to be contacted by e-mail"}]}"#,
        ),
    );
    say(&f, "c1", "m1", "oi", 1).await;
    let conversation = say(&f, "c1", "m2", "me escreva por e-mail, por favor", 2).await;
    let contact = contact_of(&f, &conversation).await;
    let items = some_memories(&f, &contact, "the LLM's memory").await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["kind"], "preference");
    assert_eq!(items[0]["content"], "Prefers to be contacted by e-mail");
    let asked = f.llm.requests_containing(MEMORY_MARKER);
    assert_eq!(asked.len(), 1);
    let transcript = asked[0].last_user_message().expect("transcript");
    assert!(
        transcript.contains("Customer: me escreva por e-mail"),
        "{transcript}"
    );
    // The side call is accounted for in the turn log under its own status.
    let (status, log) = f
        .app
        .get(
            &format!("/api/v1/conversations/{conversation}/ai-log"),
            &f.admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        log["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|t| t["status"] == "memory"),
        "{log}"
    );

    // Malformed JSON: the rules extract instead.
    f.llm.answer_when(
        MEMORY_MARKER,
        Step::reply("Sure! The customer likes blenders."),
    );
    say(&f, "c1", "m3", "o liquidificador veio com defeito", 3).await;
    say(&f, "c1", "m4", "o pedido é 998877", 4).await;
    let items = f
        .eventually(WAIT, || async {
            let items = memories(&f, &contact).await;
            items
                .iter()
                .any(|m| m["content"] == "Order number: 998877")
                .then_some(items)
        })
        .await
        .expect("rules used after a malformed answer");
    assert!(items.iter().any(|m| m["kind"] == "problem"), "{items:?}");
    assert_eq!(f.llm.requests_containing(MEMORY_MARKER).len(), 2);
}

#[actix_web::test]
async fn the_cadence_holds_across_passivation() {
    let f = fixture(
        &[("engine.passivate_after_seconds", "1")],
        json!({"settings": {"memory_every_n_messages": 3}}),
    )
    .await;
    let mut conversation = String::new();
    for (i, text) in ["oi", "meu pedido 445566 atrasou", "ainda espero"]
        .iter()
        .enumerate()
    {
        conversation = say(&f, "c1", &format!("m{i}"), text, i + 1).await;
        // Each message wakes a passivated actor: the count comes from the store.
        f.all_passivated(WAIT).await;
    }
    let contact = contact_of(&f, &conversation).await;
    let items = some_memories(&f, &contact, "extracted at the 3rd message").await;
    assert!(
        items.iter().any(|m| m["content"] == "Order number: 445566"),
        "{items:?}"
    );
}
