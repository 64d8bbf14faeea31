//! AI features on the WebSocket: live AI answers streamed to the conversation's room
//! (`realtime.stream_ai_replies`) and `request_summary` written by the conversation's LLM
//! agent, under its limits, with the extractive summary as the fallback; staff's
//! `request_suggestions` the same way, with rules as the fallback.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::engine::{by_sender, create, fixture, Fixture};
use support::scripted_llm::Step;
use support::ws::WsClient;

const WAIT: Duration = Duration::from_secs(15);

async fn follow(f: &Fixture, conversation: &str) -> WsClient {
    let (mut ws, _) = WsClient::connect(&f.app, &f.admin.token).await;
    ws.send(json!({"type": "subscribe", "conversation_id": conversation}))
        .await;
    ws.barrier().await;
    assert!(
        ws.buffered("error").is_empty(),
        "{:?}",
        ws.buffered("error")
    );
    ws
}

/// The pieces of one live answer up to its `ai_answer_done` frame.
async fn live_answer(ws: &mut WsClient) -> (Vec<Value>, Value) {
    let mut pieces = Vec::new();
    loop {
        let frame = ws.next().await;
        match frame["type"].as_str() {
            Some("ai_answer_delta") => pieces.push(frame),
            Some("ai_answer_done") => return (pieces, frame),
            _ => {}
        }
    }
}

#[actix_web::test]
async fn live_ai_answers_stream_to_the_room_before_the_stored_message() {
    let f = fixture(&[("realtime.stream_ai_replies", "true")], json!({})).await;
    let answer = "Claro! Posso ajudar com a troca do seu produto hoje mesmo.";
    // Time to subscribe before the model starts writing.
    f.llm.push(Step::delayed(800, Step::reply(answer)));
    let conversation = f
        .conversation_of("c1", "c1-m1", "quero trocar um produto")
        .await;
    let mut ws = follow(&f, &conversation).await;

    let (pieces, done) = live_answer(&mut ws).await;
    assert!(pieces.len() > 3, "one piece per streamed chunk: {pieces:?}");
    let text: String = pieces
        .iter()
        .map(|p| p["delta"].as_str().expect("delta"))
        .collect();
    assert_eq!(text, answer);
    let stream = pieces[0]["stream_id"].as_str().expect("stream id");
    for (i, piece) in pieces.iter().enumerate() {
        assert_eq!(piece["conversation_id"], conversation.as_str());
        assert_eq!(piece["stream_id"], stream);
        assert_eq!(piece["index"], i as u64, "in order, no gaps");
    }
    assert_eq!(done["status"], "ok");
    assert_eq!(done["stream_id"], stream);

    let stored = ws.next_of("message").await;
    let stored = if stored["message"]["sender_type"] == "ai_agent" {
        stored
    } else {
        ws.next_of("message").await
    };
    assert_eq!(stored["message"]["sender_type"], "ai_agent");
    assert_eq!(stored["message"]["content"], answer);

    let requests = f.llm.requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].is_stream(), "the model was asked to stream");
}

#[actix_web::test]
async fn a_streamed_turn_still_calls_tools_and_only_the_answer_is_shown() {
    let f = fixture(&[("realtime.stream_ai_replies", "true")], json!({})).await;
    let (status, tool) = f
        .app
        .post(
            "/api/v1/tools",
            &f.admin.token,
            &json!({"name": "calc", "tool_type": "calculator"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{tool}");
    let (status, attached) = f
        .app
        .call(
            reqwest::Method::PUT,
            &format!(
                "/api/v1/agents/{}/tools/{}",
                f.agent_id,
                tool["id"].as_str().expect("id")
            ),
            Some(&f.admin.token),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{attached}");
    f.llm.push(Step::delayed(
        800,
        Step::ToolCalls(vec![("calc".into(), json!({"expression": "3 * 199.9"}))]),
    ));
    f.llm.push(Step::reply("Três unidades custam R$ 599,70."));
    let conversation = f
        .conversation_of("c2", "c2-m1", "quanto custam 3 unidades?")
        .await;
    let mut ws = follow(&f, &conversation).await;

    let (pieces, done) = live_answer(&mut ws).await;
    let text: String = pieces
        .iter()
        .map(|p| p["delta"].as_str().expect("delta"))
        .collect();
    assert_eq!(text, "Três unidades custam R$ 599,70.");
    assert_eq!(done["status"], "ok");

    let requests = f.llm.requests();
    assert_eq!(requests.len(), 2, "tool round, then the answer");
    assert!(requests.iter().all(|r| r.is_stream()));
    let second = &requests[1].body["messages"];
    let tool_result = second
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("the tool result went back to the model");
    assert!(
        tool_result["content"]
            .as_str()
            .is_some_and(|c| c.contains("599.7")),
        "{tool_result}"
    );
    let ai = support::engine::eventually(WAIT, &mut || async {
        let m = f.messages(&conversation).await;
        let ai: Vec<Value> = by_sender(&m, "ai_agent").into_iter().cloned().collect();
        (!ai.is_empty()).then_some(ai)
    })
    .await
    .expect("answer stored");
    assert_eq!(ai[0]["content"], "Três unidades custam R$ 599,70.");
}

#[actix_web::test]
async fn without_the_setting_nothing_streams() {
    let f = fixture(&[], json!({})).await;
    f.llm
        .push(Step::delayed(500, Step::reply("Olá! Como posso ajudar?")));
    let conversation = f.conversation_of("c3", "c3-m1", "oi").await;
    let mut ws = follow(&f, &conversation).await;
    let stored = ws.next_of("message").await;
    let stored = if stored["message"]["sender_type"] == "ai_agent" {
        stored
    } else {
        ws.next_of("message").await
    };
    assert_eq!(stored["message"]["content"], "Olá! Como posso ajudar?");
    assert!(ws.buffered("ai_answer_delta").is_empty());
    assert!(!f.llm.requests()[0].is_stream());
}

/// The agent's analytics once its log holds two turns (the conversation's turn and a side
/// call, whose log line is written after the reply).
async fn usage_after_two_turns(f: &Fixture) -> Value {
    let path = format!("/api/v1/analytics/agents/{}", f.agent_id);
    support::engine::eventually(WAIT, &mut || async {
        let (status, usage) = f.app.get(&path, &f.admin.token).await;
        assert_eq!(status, StatusCode::OK, "{usage}");
        (usage["ai"]["turns"] == 2).then_some(usage)
    })
    .await
    .expect("the side call is logged")
}

/// The second request the scripted LLM got (the first is the conversation's AI turn): a side
/// call whose instruction starts with `instruction`; its transcript.
fn side_call(f: &Fixture, instruction: &str) -> String {
    let requests = f.llm.requests();
    assert_eq!(requests.len(), 2);
    let messages = requests[1].body["messages"].as_array().expect("messages");
    assert!(
        messages[0]["content"]
            .as_str()
            .is_some_and(|s| s.starts_with(instruction)),
        "{}",
        messages[0]
    );
    requests[1].last_user_message().expect("transcript")
}

async fn answered(f: &Fixture, conversation: &str, count: usize) {
    support::engine::eventually(WAIT, &mut || async {
        let m = f.messages(conversation).await;
        (by_sender(&m, "ai_agent").len() >= count).then_some(())
    })
    .await
    .expect("the AI answered");
}

#[actix_web::test]
async fn summaries_are_written_by_the_agents_llm_within_its_limits() {
    let f = fixture(&[], json!({})).await;
    f.llm.push(Step::reply(
        "Posso ajudar com a troca. Qual o número do pedido?",
    ));
    let conversation = f
        .conversation_of("c4", "c4-m1", "Quero trocar um produto com defeito")
        .await;
    answered(&f, &conversation, 1).await;

    let summary_text = "- Cliente quer trocar um produto com defeito.\n- Falta o número do pedido.";
    f.llm.push(Step::Reply {
        content: summary_text.into(),
        prompt_tokens: 120,
        completion_tokens: 30,
    });
    let (mut ws, _) = WsClient::connect(&f.app, &f.admin.token).await;
    ws.send(json!({"type": "request_summary", "conversation_id": conversation}))
        .await;
    let summary = ws.next_of("summary").await;
    assert_eq!(summary["conversation_id"], conversation.as_str());
    assert_eq!(summary["summary"], summary_text);
    assert_eq!(summary["source"], "llm");

    let transcript = side_call(&f, "Resuma a conversa");
    assert!(
        transcript.contains("Cliente: Quero trocar um produto com defeito"),
        "{transcript}"
    );
    assert!(
        transcript.contains("Assistente: Posso ajudar com a troca"),
        "{transcript}"
    );
    let requests = f.llm.requests();
    assert!(
        requests[1].body["max_completion_tokens"]
            .as_u64()
            .is_some_and(|t| t <= 100),
        "capped by the agent's max_tokens: {}",
        requests[1].body
    );

    // Counted against the agent like any request (its log line is written after the reply).
    let usage = usage_after_two_turns(&f).await;
    // The turn (10/5) plus the summary (120/30).
    assert_eq!(usage["ai"]["prompt_tokens"], 130, "{usage}");
    assert_eq!(usage["ai"]["completion_tokens"], 35, "{usage}");
    assert_eq!(usage["ai"]["turns"], 2, "{usage}");
    assert_eq!(usage["ai"]["turns_by_status"]["summary"], 1, "{usage}");
}

#[actix_web::test]
async fn a_failing_or_limited_llm_falls_back_to_the_extractive_summary() {
    let f = fixture(&[], json!({"limits": {"requests_per_minute": 2}})).await;
    f.llm.push(Step::reply("Olá! Em que posso ajudar?"));
    let conversation = f
        .conversation_of("c5", "c5-m1", "Olá, meu pedido 12345 não chegou")
        .await;
    answered(&f, &conversation, 1).await;

    // The provider rejects the key: extractive summary, no error frame.
    f.llm.push(Step::error(
        401,
        "invalid_request_error",
        Some("invalid_api_key"),
        "Incorrect API key provided",
    ));
    let (mut ws, _) = WsClient::connect(&f.app, &f.admin.token).await;
    ws.send(json!({"type": "request_summary", "conversation_id": conversation}))
        .await;
    let summary = ws.next_of("summary").await;
    assert_eq!(summary["source"], "extractive");
    assert!(
        summary["summary"]
            .as_str()
            .is_some_and(|s| s.contains("pedido 12345")),
        "{summary}"
    );
    assert_eq!(f.llm.request_count(), 2);

    // The per-minute limit is spent (turn + failed summary): no request at all this time.
    ws.send(json!({"type": "request_summary", "conversation_id": conversation}))
        .await;
    let summary = ws.next_of("summary").await;
    assert_eq!(summary["source"], "extractive");
    assert_eq!(f.llm.request_count(), 2, "the limit held");
    assert!(ws.buffered("error").is_empty());
}

#[actix_web::test]
async fn a_human_summarizing_an_escalated_conversation_uses_the_agent_that_answered() {
    let f = fixture(&[], json!({})).await;
    f.llm.push(Step::reply("Entendi, vou verificar."));
    let conversation = f
        .conversation_of("c6", "c6-m1", "minha fatura veio errada")
        .await;
    answered(&f, &conversation, 1).await;
    let user = create(
        &f.app,
        &f.admin,
        "/api/v1/users",
        &json!({"name": "Ana", "email": "ana@ex.com", "password": "password-123", "role": "agent"}),
    )
    .await;
    let (status, assigned) = f
        .app
        .post(
            &format!("/api/v1/conversations/{conversation}/assign"),
            &f.admin.token,
            &json!({"user_id": user}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{assigned}");
    f.llm.push(Step::reply("- Fatura com erro."));
    let (mut ws, _) = WsClient::connect(&f.app, &f.admin.token).await;
    ws.send(json!({"type": "request_summary", "conversation_id": conversation}))
        .await;
    let summary = ws.next_of("summary").await;
    assert_eq!(summary["source"], "llm");
    assert_eq!(summary["summary"], "- Fatura com erro.");
}

#[actix_web::test]
async fn reply_suggestions_for_staff_come_from_the_agents_llm_then_from_rules() {
    let f = fixture(&[], json!({})).await;
    f.llm
        .push(Step::reply("Posso ajudar com a troca. Qual o defeito?"));
    let conversation = f
        .conversation_of("c7", "c7-m1", "Vocês trocam um produto com defeito?")
        .await;
    answered(&f, &conversation, 1).await;

    f.llm.push(Step::Reply {
        content: "1. Olá! Vou cuidar da sua troca.\n2. Qual o número do pedido?\n- Qual o número do pedido?\n3. Pode mandar uma foto do defeito?".into(),
        prompt_tokens: 80,
        completion_tokens: 20,
    });
    // Another socket following the conversation: the suggestions are the asker's alone.
    let mut other = follow(&f, &conversation).await;
    let (mut ws, _) = WsClient::connect(&f.app, &f.admin.token).await;
    ws.send(json!({"type": "request_suggestions", "conversation_id": conversation}))
        .await;
    let written = ws.next_of("suggestions").await;
    assert_eq!(written["conversation_id"], conversation.as_str());
    assert_eq!(written["source"], "llm", "{written}");
    assert_eq!(
        written["suggestions"],
        json!([
            "Olá! Vou cuidar da sua troca.",
            "Qual o número do pedido?",
            "Pode mandar uma foto do defeito?"
        ])
    );
    let transcript = side_call(&f, "Você ajuda um atendente humano");
    assert!(
        transcript.contains("Cliente: Vocês trocam um produto com defeito?"),
        "{transcript}"
    );

    // Counted and logged like the other side calls.
    let usage = usage_after_two_turns(&f).await;
    assert_eq!(usage["ai"]["turns_by_status"]["suggestions"], 1, "{usage}");
    assert_eq!(usage["ai"]["prompt_tokens"], 90, "{usage}");

    // The provider fails: the rules answer (no person wrote yet, the customer asked a
    // question), and no error frame.
    f.llm.push(Step::error(
        401,
        "invalid_request_error",
        Some("invalid_api_key"),
        "Incorrect API key provided",
    ));
    ws.send(json!({"type": "request_suggestions", "conversation_id": conversation}))
        .await;
    let ruled = ws.next_of("suggestions").await;
    assert_eq!(ruled["source"], "rules", "{ruled}");
    assert_eq!(
        ruled["suggestions"],
        json!([
            "Olá! Vou continuar o seu atendimento a partir daqui.",
            "Um momento, vou verificar isso para você.",
            "Pode me dar mais detalhes?"
        ])
    );
    assert_eq!(f.llm.request_count(), 3);
    assert!(ws.buffered("error").is_empty());

    ws.send(json!({"type": "request_suggestions", "conversation_id": "not-a-conversation"}))
        .await;
    assert_eq!(ws.next_of("error").await["code"], "NOT_FOUND");
    other.barrier().await;
    assert!(other.buffered("suggestions").is_empty());
}
