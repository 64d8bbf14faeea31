//! Tools end to end: the real async-openai client against the scripted server asks for tool
//! calls, the engine runs them (an HTTP tool against a loopback API, system tools), hands the
//! results back, logs every call on the turn and prices the turn from the price table.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::engine::{by_sender, fixture, Fixture};
use support::receiver::ScriptedReceiver;
use support::scripted_llm::Step;

const WAIT: Duration = Duration::from_secs(15);

/// A loopback "order API" for HTTP tools: `/orders/{id}` answers the order as JSON, `/big`
/// with 10 MiB, `/slow` after 5 s.
async fn order_api() -> ScriptedReceiver {
    let api = ScriptedReceiver::start(&[]).await;
    api.answer_text(|r| match r.path.strip_prefix("/orders/") {
        Some(id) => json!({"order": id, "status": "shipped"}).to_string(),
        None if r.path == "/big" => "x".repeat(10 * 1024 * 1024),
        None => String::new(),
    });
    api.delay("/slow", Duration::from_secs(5));
    api
}

async fn create_tool(f: &Fixture, body: Value) -> String {
    let (status, tool) = f.app.post("/api/v1/tools", &f.admin.token, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{tool}");
    let id = tool["id"].as_str().expect("id").to_string();
    let (status, attached) = f
        .app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/agents/{}/tools/{id}", f.agent_id),
            Some(&f.admin.token),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{attached}");
    id
}

fn http_tool(name: &str, url: &str) -> Value {
    json!({
        "name": name,
        "description": "Looks up an order",
        "tool_type": "http",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"]},
        "config": {"url": url, "headers": {"Authorization": "Bearer order-api-token"}},
    })
}

async fn turns(f: &Fixture, conversation: &str) -> Vec<Value> {
    let (status, log) = f
        .app
        .get(
            &format!("/api/v1/conversations/{conversation}/ai-log"),
            &f.admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    log["items"].as_array().cloned().unwrap_or_default()
}

fn tools_used(turn: &Value) -> Vec<Value> {
    serde_json::from_str::<Vec<Value>>(turn["tools_used"].as_str().unwrap_or("[]"))
        .expect("tools_used is JSON")
}

#[actix_web::test]
async fn an_http_tool_and_a_system_tool_answer_log_and_price_the_turn() {
    let api = order_api().await;
    let f = fixture(&[], json!({"model": "gpt-4o"})).await;
    create_tool(
        &f,
        http_tool("consultar_pedido", &api.url("/orders/{{order_id}}")),
    )
    .await;
    create_tool(&f, json!({"name": "add_tag", "tool_type": "system"})).await;
    f.llm.push(Step::ToolCalls(vec![
        ("consultar_pedido".into(), json!({"order_id": "123"})),
        ("add_tag".into(), json!({"tag": "pedido"})),
    ]));
    f.llm.push(Step::Reply {
        content: "Seu pedido 123 foi enviado.".into(),
        prompt_tokens: 1000,
        completion_tokens: 500,
    });
    let conversation = f
        .conversation_of("c1", "c1-m1", "cadê meu pedido 123?")
        .await;
    let ai = f.ai_replies(&conversation, 1).await;
    assert_eq!(ai[0]["content"], "Seu pedido 123 foi enviado.");

    let requests = f.llm.requests();
    assert_eq!(requests.len(), 2);
    let offered: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .expect("tools offered")
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert_eq!(offered, ["consultar_pedido", "add_tag"]);
    let replayed = requests[1].body["messages"].as_array().expect("messages");
    let results: Vec<&Value> = replayed.iter().filter(|m| m["role"] == "tool").collect();
    assert_eq!(results.len(), 2);
    assert!(results[0]["content"]
        .as_str()
        .expect("text")
        .contains("shipped"));
    let seen: Vec<String> = api
        .received()
        .iter()
        .filter_map(|r| r.header("authorization").map(str::to_string))
        .collect();
    assert_eq!(
        seen,
        ["Bearer order-api-token"],
        "the sealed header is opened for the call"
    );

    let log = turns(&f, &conversation).await;
    assert_eq!(log.len(), 1);
    let turn = &log[0];
    assert_eq!(turn["status"], "ok");
    assert_eq!(turn["prompt_tokens"], 1010);
    assert_eq!(turn["completion_tokens"], 505);
    // gpt-4o: $0.0025 / 1K prompt, $0.01 / 1K completion.
    let cost = turn["cost_usd"].as_f64().expect("cost");
    assert!((cost - 0.007575).abs() < 1e-9, "{cost}");
    assert_eq!((cost * 100.0).round() / 100.0, 0.01);
    let calls = tools_used(turn);
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["name"], "consultar_pedido");
    assert_eq!(calls[0]["arguments"], json!({"order_id": "123"}));
    assert_eq!(calls[0]["ok"], true);
    assert_eq!(calls[0]["result"]["body"]["status"], "shipped");
    assert!(calls[0]["duration_ms"].is_u64());
    assert_eq!(calls[1]["name"], "add_tag");
    assert_eq!(calls[1]["ok"], true);
    let c = f.conversation(&conversation).await;
    assert_eq!(c["tags"], json!(["pedido"]));
    assert_eq!(c["owner"]["type"], "ai_agent");
}

#[actix_web::test]
async fn bad_tool_calls_become_error_results_and_the_conversation_continues() {
    let api = order_api().await;
    let f = fixture(&[("engine.tool_failure_escalation", "10")], json!({})).await;
    create_tool(
        &f,
        http_tool("consultar_pedido", &api.url("/orders/{{order_id}}")),
    )
    .await;
    let big = http_tool("baixar_tudo", &api.url("/big"));
    create_tool(&f, big).await;
    let mut slow = http_tool("lento", &api.url("/slow"));
    slow["timeout_ms"] = json!(300);
    create_tool(&f, slow).await;
    f.llm.push(Step::ToolCalls(vec![
        ("nao_existe".into(), json!({})),
        ("consultar_pedido".into(), json!({"order_id": 5})),
        ("baixar_tudo".into(), json!({"order_id": "1"})),
        ("lento".into(), json!({"order_id": "1"})),
    ]));
    f.llm
        .push(Step::reply("Desculpe, não consegui consultar agora."));
    let conversation = f.conversation_of("c1", "c1-m1", "meu pedido?").await;
    let ai = f.ai_replies(&conversation, 1).await;
    assert_eq!(ai[0]["content"], "Desculpe, não consegui consultar agora.");
    let calls = tools_used(&turns(&f, &conversation).await[0]);
    assert_eq!(calls.len(), 4);
    assert!(calls.iter().all(|c| c["ok"] == false), "{calls:?}");
    let error = |i: usize| calls[i]["error"].as_str().unwrap_or_default().to_string();
    assert!(error(0).contains("no tool named"), "{}", error(0));
    assert!(error(1).contains("invalid arguments"), "{}", error(1));
    assert!(error(2).contains("larger than"), "{}", error(2));
    assert!(
        error(3).contains("did not answer within 300 ms"),
        "{}",
        error(3)
    );
    let replayed = &f.llm.requests()[1].body["messages"];
    let results: Vec<Value> = replayed
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| serde_json::from_str(m["content"].as_str().unwrap_or("{}")).expect("json result"))
        .collect();
    assert!(results.iter().all(|r| r["success"] == false));
    assert_eq!(
        f.conversation(&conversation).await["owner"]["type"],
        "ai_agent"
    );
}

#[actix_web::test]
async fn private_targets_are_refused_unless_allowed() {
    let f = fixture(&[("outbound.allow_private_targets", "false")], json!({})).await;
    create_tool(
        &f,
        http_tool("metadata", "http://169.254.169.254/latest/{{order_id}}"),
    )
    .await;
    create_tool(&f, http_tool("local", "http://127.0.0.1:9/{{order_id}}")).await;
    f.llm.push(Step::ToolCalls(vec![
        ("metadata".into(), json!({"order_id": "x"})),
        ("local".into(), json!({"order_id": "x"})),
    ]));
    f.llm.push(Step::reply("Não foi possível."));
    let conversation = f.conversation_of("c1", "c1-m1", "oi").await;
    f.ai_replies(&conversation, 1).await;
    let calls = tools_used(&turns(&f, &conversation).await[0]);
    assert_eq!(calls.len(), 2);
    for call in &calls {
        assert_eq!(call["ok"], false);
        assert!(
            call["error"]
                .as_str()
                .unwrap_or_default()
                .contains("refused"),
            "{call}"
        );
    }
}

#[actix_web::test]
async fn three_failing_tool_calls_hand_over_to_a_human() {
    let f = fixture(&[], json!({})).await;
    create_tool(&f, json!({"name": "calc", "tool_type": "calculator"})).await;
    f.llm.push(Step::ToolCalls(vec![
        ("calc".into(), json!({"expression": "1/0"})),
        ("calc".into(), json!({"expression": "import os"})),
        ("calc".into(), json!({})),
    ]));
    let conversation = f.conversation_of("c1", "c1-m1", "quanto dá?").await;
    f.eventually(WAIT, || async {
        let c = f.conversation(&conversation).await;
        (c["escalation_reason"] == "tool_failures").then_some(())
    })
    .await
    .expect("handed over");
    assert_eq!(
        f.llm.request_count(),
        1,
        "no further model call after the third failure"
    );
    let messages = f.messages(&conversation).await;
    assert_eq!(
        by_sender(&messages, "system").len(),
        1,
        "the customer is told"
    );
}

#[actix_web::test]
async fn calculator_close_and_followup_tools_work() {
    let f = fixture(&[], json!({})).await;
    create_tool(&f, json!({"name": "calc", "tool_type": "calculator"})).await;
    create_tool(
        &f,
        json!({"name": "schedule_followup", "tool_type": "system"}),
    )
    .await;
    create_tool(
        &f,
        json!({"name": "close_conversation", "tool_type": "system"}),
    )
    .await;
    f.llm.push(Step::ToolCalls(vec![
        ("calc".into(), json!({"expression": "199,90 * 3"})),
        (
            "schedule_followup".into(),
            json!({"delay_minutes": 0.02, "message": "Ainda precisa de ajuda?"}),
        ),
    ]));
    f.llm.push(Step::reply("Dá R$ 599,70."));
    let conversation = f
        .conversation_of("c1", "c1-m1", "quanto dá 3 de 199,90?")
        .await;
    let ai = f.ai_replies(&conversation, 2).await;
    assert_eq!(ai[0]["content"], "Dá R$ 599,70.");
    assert_eq!(
        ai[1]["content"], "Ainda precisa de ajuda?",
        "the durable follow-up fired"
    );
    let calls = tools_used(&turns(&f, &conversation).await[0]);
    assert!((calls[0]["result"]["result"].as_f64().expect("number") - 599.7).abs() < 1e-9);

    f.llm.push(Step::ToolCalls(vec![(
        "close_conversation".into(),
        json!({"reason": "resolvido", "message": "Até logo!"}),
    )]));
    f.inbound("c1", "c1-m2", "era só isso, obrigado").await;
    let c = f
        .eventually(WAIT, || async {
            let c = f.conversation(&conversation).await;
            (c["status"] == "closed").then_some(c)
        })
        .await
        .expect("closed by the tool");
    assert_eq!(c["close_reason"], "resolvido");
    let ai = f.ai_replies(&conversation, 3).await;
    assert_eq!(ai[2]["content"], "Até logo!");
    assert_eq!(
        f.llm.request_count(),
        3,
        "the farewell needs no further model call"
    );
}

/// The tools offered to the model in the latest request.
fn offered_in_latest(f: &Fixture) -> Vec<String> {
    let requests = f.llm.requests();
    let latest = requests.last().expect("a model request");
    latest.body["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["function"]["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// An agent's supervisor keeps its tools between turns: every change through the API
/// reaches the very next turn.
#[actix_web::test]
async fn tool_changes_reach_the_agents_next_turn() {
    let f = fixture(&[], json!({})).await;
    let add_tag = create_tool(&f, json!({"name": "add_tag", "tool_type": "system"})).await;
    let mut turn = 0;
    let mut next_turn_offers = async |f: &Fixture| {
        turn += 1;
        let contact = format!("c{turn}");
        f.llm.push(Step::reply("Certo."));
        let conversation = f
            .conversation_of(&contact, &format!("{contact}-m1"), "oi")
            .await;
        f.ai_replies(&conversation, 1).await;
        offered_in_latest(f)
    };
    assert_eq!(next_turn_offers(&f).await, ["add_tag"]);

    // Attached after the agent's first turn.
    let calc = create_tool(&f, json!({"name": "calc", "tool_type": "calculator"})).await;
    assert_eq!(next_turn_offers(&f).await, ["add_tag", "calc"]);

    // Renamed.
    let (status, body) = f
        .app
        .patch(
            &format!("/api/v1/tools/{calc}"),
            &f.admin.token,
            &json!({"name": "calculadora"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(next_turn_offers(&f).await, ["add_tag", "calculadora"]);

    // Detached from the agent, then deleted altogether.
    let (status, _) = f
        .app
        .delete(
            &format!("/api/v1/agents/{}/tools/{calc}", f.agent_id),
            &f.admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(next_turn_offers(&f).await, ["add_tag"]);
    let (status, _) = f
        .app
        .delete(&format!("/api/v1/tools/{add_tag}"), &f.admin.token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(next_turn_offers(&f).await.is_empty());
}

#[actix_web::test]
async fn tool_crud_validates_redacts_and_isolates_tenants() {
    let f = fixture(&[], json!({})).await;
    let token = &f.admin.token;
    for (body, field) in [
        (
            json!({"name": "bad name!", "tool_type": "calculator"}),
            "name",
        ),
        (json!({"name": "x", "tool_type": "system"}), "name"),
        (json!({"name": "x", "tool_type": "eval"}), ""),
        (
            json!({"name": "x", "tool_type": "http", "parameters": {"type": "string"}, "config": {"url": "https://a.example"}}),
            "parameters",
        ),
        (
            json!({"name": "x", "tool_type": "http", "config": {"url": "https://{{host}}/"}, "parameters": {"type": "object", "properties": {"host": {"type": "string"}}}}),
            "config",
        ),
        (
            json!({"name": "x", "tool_type": "webhook", "config": {"url": "https://h.example", "secret": "short"}}),
            "config",
        ),
        (
            json!({"name": "x", "tool_type": "calculator", "timeout_ms": 5}),
            "timeout_ms",
        ),
    ] {
        let (status, err) = f.app.post("/api/v1/tools", token, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
        assert_eq!(err["code"], "VALIDATION_ERROR");
        if !field.is_empty() {
            assert_eq!(err["details"]["field"], field, "{err}");
        }
    }
    let (status, tool) = f
        .app
        .post(
            "/api/v1/tools",
            token,
            &http_tool("consultar", "https://api.example.com/o/{{order_id}}"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{tool}");
    assert_eq!(tool["config"]["headers"]["Authorization"], "[redacted]");
    let id = tool["id"].as_str().expect("id");
    let (status, _) = f
        .app
        .post(
            "/api/v1/tools",
            token,
            &http_tool("consultar", "https://a.example/{{order_id}}"),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, raw) = f
        .app
        .call_text(
            reqwest::Method::GET,
            &format!("/api/v1/tools/{id}"),
            Some(token),
            None,
        )
        .await;
    assert!(!raw.contains("order-api-token"), "{raw}");
    let (status, patched) = f
        .app
        .patch(
            &format!("/api/v1/tools/{id}"),
            token,
            &json!({"description": "Pedidos", "enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["enabled"], false);

    let attach = format!("/api/v1/agents/{}/tools/{id}", f.agent_id);
    let (status, err) = f
        .app
        .call(
            reqwest::Method::PUT,
            &attach,
            Some(token),
            Some(&json!({"config": {"headers": {}}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, _) = f
        .app
        .call(
            reqwest::Method::PUT,
            &attach,
            Some(token),
            Some(&json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, listed) = f
        .app
        .get(&format!("/api/v1/agents/{}/tools", f.agent_id), token)
        .await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));

    let other = f.app.other_tenant("tenant-b").await;
    let (status, _) = f
        .app
        .get(&format!("/api/v1/tools/{id}"), &other.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = f
        .app
        .call(
            reqwest::Method::PUT,
            &attach,
            Some(&other.token),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = f.app.get("/api/v1/tools", &other.token).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(0));

    let (status, _) = f.app.delete(&attach, token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = f.app.delete(&attach, token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = f.app.delete(&format!("/api/v1/tools/{id}"), token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}
