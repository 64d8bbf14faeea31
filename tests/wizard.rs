//! The agent wizard on both backends: start → four steps (validated, in order) → publish gives
//! a slug, a public URL and a QR code SVG that decodes back to the URL; the published agent
//! is the default of its integration and answers its first conversation without a restart.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::engine::{by_sender, eventually, SECRET};
use support::scripted_llm::{ScriptedLlm, Step};
use support::*;

const PUBLIC_BASE: &str = "https://atende.example.com";

/// Rasterizes the SVG the QR renderer draws (one `M{x} {y}h{w}v{h}H{x}V{y}` rectangle per
/// dark module run, in pixels) and reads it back with a QR decoder.
fn decode_qr(svg: &str) -> String {
    let number = |name: &str| -> usize {
        regex::Regex::new(&format!(r#"<svg[^>]* {name}="(\d+)""#))
            .expect("regex")
            .captures(svg)
            .and_then(|c| c[1].parse().ok())
            .unwrap_or_else(|| panic!("svg has a {name}"))
    };
    let (width, height) = (number("width"), number("height"));
    let path = regex::Regex::new(r#"<path[^>]* d="([^"]+)""#)
        .expect("regex")
        .captures(svg)
        .map(|c| c[1].to_string())
        .expect("svg has a path");
    let mut dark = vec![false; width * height];
    let rects = regex::Regex::new(r"M(\d+) (\d+)h(\d+)v(\d+)H\d+V\d+").expect("regex");
    let mut count = 0;
    for cap in rects.captures_iter(&path) {
        let [x, y, w, h] = [1, 2, 3, 4].map(|i| cap[i].parse::<usize>().expect("number"));
        for row in y..(y + h).min(height) {
            for col in x..(x + w).min(width) {
                dark[row * width + col] = true;
            }
        }
        count += 1;
    }
    assert!(count > 0, "no modules in {path}");
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        if dark[y * width + x] {
            0
        } else {
            255
        }
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the SVG");
    grids[0].decode().expect("QR code decodes").1
}

async fn put_step(
    app: &TestApp,
    token: &str,
    id: &str,
    step: u8,
    body: Value,
) -> (StatusCode, Value) {
    app.call(
        reqwest::Method::PUT,
        &format!("/api/v1/agents/wizard/{id}/step/{step}"),
        Some(token),
        Some(&body),
    )
    .await
}

fn step1() -> Value {
    json!({"name": "Sofia Clínica", "template": "SUPPORT", "niche": "clínica odontológica", "emoji": "🦷"})
}

fn step2() -> Value {
    json!({"personality": ["friendly", "patient"], "tone": "informal",
        "instructions": "Atendemos de segunda a sexta, das 8h às 18h."})
}

fn step3() -> Value {
    json!({"custom_fields": [
        {"key": "convenio", "label": "Convênio", "type": "select", "required": true, "options": ["Amil", "Particular"]},
        {"key": "email", "label": "E-mail", "type": "email"}
    ]})
}

#[actix_web::test]
async fn the_wizard_publishes_an_agent_whose_qr_decodes_to_its_url_and_who_answers_its_first_conversation(
) {
    let llm = ScriptedLlm::start().await;
    let app = TestApp::spawn_with(&[
        ("llm.default_api_key", "sk-operator-default"),
        ("llm.default_base_url", &llm.base_url),
        ("wizard.public_base_url", PUBLIC_BASE),
    ])
    .await;
    let admin = app.admin().await;
    let integration = app
        .create_integration(
            &admin,
            json!({"kind": "generic", "name": "site", "secret": SECRET}),
        )
        .await;
    let integration_id = integration["id"].as_str().expect("id").to_string();

    let (status, draft) = app
        .post("/api/v1/agents/wizard/start", &admin.token, &json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["next_step"], 1);
    assert_eq!(draft["completed_steps"], json!([]));
    let id = draft["id"].as_str().expect("id").to_string();

    // Out of order: refused, nothing saved.
    let (status, error) = put_step(&app, &admin.token, &id, 2, step2()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert!(error["error"].as_str().expect("message").contains("step 1"));

    // Step 1, with a bad field first.
    let mut bad = step1();
    bad["niche"] = json!("  ");
    let (status, error) = put_step(&app, &admin.token, &id, 1, bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["details"]["field"], "niche");
    assert_eq!(error["details"]["step"], 1);
    let mut bad = step1();
    bad["template"] = json!("WIZARD");
    let (status, _) = put_step(&app, &admin.token, &id, 1, bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, view) = put_step(&app, &admin.token, &id, 1, step1()).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["completed_steps"], json!([1]));
    assert_eq!(view["next_step"], 2);
    let (_, agent) = app.get(&format!("/api/v1/agents/{id}"), &admin.token).await;
    assert_eq!(agent["name"], "Sofia Clínica");
    assert_eq!(agent["agent_type"], "SUPPORT");
    assert_eq!(agent["status"], "draft");

    let (status, _) = put_step(&app, &admin.token, &id, 3, step3()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, error) = put_step(
        &app,
        &admin.token,
        &id,
        2,
        json!({"personality": ["grumpy"], "tone": "informal"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, view) = put_step(&app, &admin.token, &id, 2, step2()).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let prompt = view["system_prompt"].as_str().expect("prompt").to_string();
    assert!(
        prompt.starts_with("Você é Sofia Clínica, um agente de suporte"),
        "{prompt}"
    );
    assert!(prompt.contains("clínica odontológica"));
    assert!(prompt.contains("Tom: informal"));
    assert!(prompt.contains("Atendemos de segunda a sexta"));

    let (status, error) = put_step(
        &app,
        &admin.token,
        &id,
        3,
        json!({"custom_fields": [{"key": "plano", "label": "Plano", "type": "select"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    // The field names the item, so a form can show the error on that row.
    assert_eq!(error["details"]["field"], "custom_fields[0].options");
    let (status, view) = put_step(&app, &admin.token, &id, 3, step3()).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert!(view["system_prompt"]
        .as_str()
        .expect("prompt")
        .contains("Convênio [convenio]"));

    let (status, error) = app
        .post(
            &format!("/api/v1/agents/wizard/{id}/publish"),
            &admin.token,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert!(error["error"].as_str().expect("message").contains("4"));

    let other = app.other_tenant("tenant-b").await;
    let foreign = app
        .create_integration(
            &other,
            json!({"kind": "generic", "name": "theirs", "secret": SECRET}),
        )
        .await;
    let (status, error) = put_step(
        &app,
        &admin.token,
        &id,
        4,
        json!({"integration_ids": [foreign["id"]]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["details"]["field"], "integration_ids");
    let (status, _) = put_step(&app, &admin.token, &id, 9, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, view) = put_step(
        &app,
        &admin.token,
        &id,
        4,
        json!({"integration_ids": [integration_id]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["next_step"], Value::Null);
    assert_eq!(view["completed_steps"], json!([1, 2, 3, 4]));

    // Publish.
    let (status, published) = app
        .post(
            &format!("/api/v1/agents/wizard/{id}/publish"),
            &admin.token,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{published}");
    assert_eq!(published["status"], "active");
    assert_eq!(published["slug"], "sofia-clinica");
    let url = format!("{PUBLIC_BASE}/a/sofia-clinica");
    assert_eq!(published["public_url"], url.as_str());
    let svg = published["qr_svg"].as_str().expect("svg");
    assert!(svg.contains("<svg"));
    assert_eq!(decode_qr(svg), url, "the QR code scans to the public URL");

    let (status, card) = app
        .call(reqwest::Method::GET, "/a/sofia-clinica", None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{card}");
    assert_eq!(card["name"], "Sofia Clínica");
    assert_eq!(card["emoji"], "🦷");
    let (status, _) = app
        .call(reqwest::Method::GET, "/a/nobody-here", None, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, bound) = app
        .get(
            &format!("/api/v1/integrations/{integration_id}"),
            &admin.token,
        )
        .await;
    assert_eq!(bound["default_agent_id"], id.as_str());

    // Published: the wizard no longer changes it.
    let (status, _) = put_step(&app, &admin.token, &id, 1, step1()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .post(
            &format!("/api/v1/agents/wizard/{id}/publish"),
            &admin.token,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A second agent of the same name gets the next free slug.
    let (_, second) = app
        .post("/api/v1/agents/wizard/start", &admin.token, &json!({}))
        .await;
    let second_id = second["id"].as_str().expect("id").to_string();
    for (n, body) in [(1, step1()), (2, step2()), (3, json!({})), (4, json!({}))] {
        let (status, view) = put_step(&app, &admin.token, &second_id, n, body).await;
        assert_eq!(status, StatusCode::OK, "step {n}: {view}");
    }
    let (status, again) = app
        .post(
            &format!("/api/v1/agents/wizard/{second_id}/publish"),
            &admin.token,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["slug"], "sofia-clinica-2");

    // The published agent answers its first conversation, with its generated prompt.
    llm.push(Step::reply("Olá! Sou a Sofia. Qual é o seu convênio?"));
    let body = support::webhook::generic_body(
        "paciente-1",
        Some("Paciente"),
        "w-1",
        "Oi, quero marcar uma limpeza",
    );
    let accepted = app.signed_webhook(&integration_id, &body).await;
    let conversation = accepted["conversation_id"].as_str().expect("conversation");
    let reply = eventually(Duration::from_secs(10), &mut || async {
        let (_, page) = app
            .get(
                &format!("/api/v1/conversations/{conversation}/messages"),
                &admin.token,
            )
            .await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        by_sender(&items, "ai_agent").first().map(|m| (*m).clone())
    })
    .await
    .expect("the published agent answered");
    assert_eq!(reply["content"], "Olá! Sou a Sofia. Qual é o seu convênio?");
    assert_eq!(reply["sender_id"], id.as_str());
    let request = &llm.requests()[0];
    let system = request.body["messages"][0]["content"]
        .as_str()
        .expect("system message")
        .to_string();
    assert!(system.contains("Você é Sofia Clínica"), "{system}");
}

#[actix_web::test]
async fn the_wizard_is_for_admins_of_the_tenant_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (status, draft) = app
        .post(
            "/api/v1/agents/wizard/start",
            &admin.token,
            &json!({"name": "Rascunho"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let id = draft["id"].as_str().expect("id").to_string();

    let other = app.other_tenant("tenant-b").await;
    let (status, _) = app
        .get(&format!("/api/v1/agents/wizard/{id}"), &other.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = put_step(&app, &other.token, &id, 1, step1()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &format!("/api/v1/agents/wizard/{id}/publish"),
            &other.token,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let supervisor = app
        .user_with_role(&admin, "supervisor", "sup@tenant-a.test")
        .await;
    let (status, _) = app
        .post("/api/v1/agents/wizard/start", &supervisor.token, &json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            "/api/v1/agents/wizard/start",
            &admin.token,
            &json!({"name": "x", "extra": true}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A draft never receives conversations; the agent list shows it as a draft.
    let (_, agent) = app.get(&format!("/api/v1/agents/{id}"), &admin.token).await;
    assert_eq!(agent["status"], "draft");
    assert_eq!(agent["name"], "Rascunho");
}
