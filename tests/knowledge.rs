//! The knowledge base over HTTP: uploads (JSON, multipart text/HTML/PDF), BM25 search with
//! Portuguese stemming and accent folding, replacement, deletion, bad input, tenant and agent
//! scoping, and the passages an LLM agent's prompt and the SSE chat stream get.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::engine::{eventually, fixture, Fixture};
use support::knowledge::{pdf, search, titles, upload_json, upload_multipart, upload_text, Part};
use support::scripted_llm::{ScriptedLlm, Step};
use support::{Session, TestApp};

const WAIT: Duration = Duration::from_secs(15);

const EXCHANGE_TITLE: &str = "Política de trocas";
const EXCHANGE_LINES: &[&str] = &[
    "Trocas de produtos podem ser feitas em até 30 dias após a compra.",
    "Para trocar, apresente a nota fiscal e o produto na embalagem original.",
    "Produtos com defeito são trocados sem custo de frete.",
];

const DELIVERY_MARKDOWN: &str = "# Entrega\n\nEntregamos em todo o Brasil.\n\n\
## Prazos\n\nCapitais recebem em até 5 dias úteis; demais cidades em até 10 dias úteis.\n\n\
## Rastreamento\n\nO código de rastreio chega por e-mail assim que o pedido sai do depósito.";

const HOURS_HTML: &str = "<html><head><title>Horário</title><style>p{color:red}</style></head>\
<body><h1>Horário de atendimento</h1><p>Atendemos de segunda a sexta, das 8h às 18h, \
e aos sábados das 9h às 13h.</p><p>Fora desse horário, deixe sua mensagem.</p></body></html>";

/// The 3-document Portuguese FAQ: the exchange policy as a PDF, delivery as Markdown (JSON)
/// and opening hours as an HTML file. Returns the three documents as created.
async fn upload_faq(app: &TestApp, admin: &Session) -> Vec<Value> {
    let (status, exchange) = upload_multipart(
        app,
        admin,
        &[
            Part::field("title", EXCHANGE_TITLE),
            Part::file(
                "politica-de-trocas.pdf",
                "application/pdf",
                pdf(EXCHANGE_LINES),
            ),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{exchange}");
    let (status, delivery) = upload_json(
        app,
        admin,
        json!({"title": "Entrega", "content": DELIVERY_MARKDOWN, "content_type": "markdown"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{delivery}");
    let (status, hours) = upload_multipart(
        app,
        admin,
        &[Part::file(
            "Horário de atendimento.html",
            "text/html",
            HOURS_HTML.as_bytes().to_vec(),
        )],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{hours}");
    vec![exchange, delivery, hours]
}

#[actix_web::test]
async fn a_portuguese_faq_is_uploaded_and_the_exchange_policy_ranks_first() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let docs = upload_faq(&app, &admin).await;
    let (exchange, delivery, hours) = (&docs[0], &docs[1], &docs[2]);
    assert_eq!(exchange["source_type"], "pdf");
    assert_eq!(exchange["title"], EXCHANGE_TITLE);
    assert_eq!(exchange["file_name"], "politica-de-trocas.pdf");
    assert!(exchange["chunk_count"].as_u64().expect("count") >= 1);
    assert!(exchange["size_bytes"].as_i64().expect("size") > 0);
    assert_eq!(exchange["agent_id"], Value::Null);
    assert_eq!(delivery["source_type"], "markdown");
    // One chunk per heading section.
    assert_eq!(delivery["chunk_count"], 3);
    assert_eq!(hours["source_type"], "html");
    assert_eq!(hours["title"], "Horário de atendimento");

    // The PDF's text was extracted, accents included.
    let (status, read) = app
        .get(
            &format!(
                "/api/v1/knowledge/documents/{}",
                exchange["id"].as_str().expect("id")
            ),
            &admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    let text = read["content"].as_str().expect("content");
    assert!(text.contains("até 30 dias"), "{text}");
    assert!(text.contains("nota fiscal"), "{text}");

    for question in [
        "como faço para trocar um produto?",
        "Como faço para trôcar um produto?",
        "TROCA DE PRODUTO",
    ] {
        let (status, found) = search(&app, &admin, json!({"query": question})).await;
        assert_eq!(status, StatusCode::OK, "{found}");
        let first = &found["results"][0];
        assert_eq!(first["title"], EXCHANGE_TITLE, "{question}: {found}");
        assert_eq!(first["document_id"], exchange["id"]);
        assert!(first["chunk_id"].as_str().is_some_and(|c| !c.is_empty()));
        assert!(first["score"].as_f64().expect("score") > 0.0);
        assert!(first["excerpt"]
            .as_str()
            .expect("excerpt")
            .contains("30 dias"));
    }
    let found = titles(
        &app,
        &admin,
        json!({"query": "qual o prazo de entrega para capitais?"}),
    )
    .await;
    assert_eq!(found[0], "Entrega", "{found:?}");
    let (_, found) = search(
        &app,
        &admin,
        json!({"query": "prazo de entrega nas capitais", "limit": 1}),
    )
    .await;
    assert_eq!(found["results"].as_array().expect("results").len(), 1);
    assert_eq!(
        found["results"][0]["heading"], "Entrega › Prazos",
        "{found}"
    );
    let found = titles(&app, &admin, json!({"query": "vocês abrem no sábado?"})).await;
    assert_eq!(found[0], "Horário de atendimento", "{found:?}");
    assert!(titles(&app, &admin, json!({"query": "passagens de avião"}))
        .await
        .is_empty());

    let (status, page) = app
        .get("/api/v1/knowledge/documents?limit=2", &admin.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().expect("items").len(), 2);
    assert!(
        page["items"][0].get("content").is_none(),
        "lists leave the text out"
    );
    let cursor = page["next_cursor"].as_str().expect("cursor");
    let (_, rest) = app
        .get(
            &format!("/api/v1/knowledge/documents?limit=2&cursor={cursor}"),
            &admin.token,
        )
        .await;
    assert_eq!(rest["items"].as_array().expect("items").len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);
}

#[actix_web::test]
async fn re_uploading_a_title_replaces_the_document_and_the_index_survives_a_restart() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let first = upload_text(
        &app,
        &admin,
        "Frete",
        "O frete é grátis acima de 200 reais.",
    )
    .await;
    let second = upload_text(
        &app,
        &admin,
        "Frete",
        "O frete é grátis acima de 300 reais.",
    )
    .await;
    assert_ne!(first, second);
    let (status, _) = app
        .get(
            &format!("/api/v1/knowledge/documents/{first}"),
            &admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the old version is gone");
    let (_, found) = search(&app, &admin, json!({"query": "frete grátis"})).await;
    let results = found["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "{found}");
    assert_eq!(results[0]["document_id"], second.as_str());
    assert!(results[0]["excerpt"]
        .as_str()
        .expect("excerpt")
        .contains("300"));

    // A second application on the same database rebuilds the same index at start.
    let restarted = atende::app::Application::build(app.settings.clone())
        .await
        .expect("second app starts");
    let base = format!("http://127.0.0.1:{}", restarted.port());
    actix_web::rt::spawn(restarted.run_until_stopped());
    let response = app
        .http
        .post(format!("{base}/api/v1/knowledge/search"))
        .bearer_auth(&admin.token)
        .json(&json!({"query": "frete"}))
        .send()
        .await
        .expect("search sent");
    assert_eq!(response.status(), StatusCode::OK);
    let found: Value = response.json().await.expect("json");
    assert_eq!(
        found["results"][0]["document_id"],
        second.as_str(),
        "{found}"
    );
    assert_eq!(found["results"].as_array().expect("results").len(), 1);
}

#[actix_web::test]
async fn concurrent_uploads_of_one_title_leave_exactly_the_newest() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let contents: Vec<String> = (0..6)
        .map(|n| format!("Garantia versão {n}: o prazo é de {n}0 dias."))
        .collect();
    let ids = futures::future::join_all(
        contents
            .iter()
            .map(|c| upload_text(&app, &admin, "Garantia", c)),
    )
    .await;
    let newest = ids.iter().max().expect("ids").clone();

    let (status, listed) = app
        .get("/api/v1/knowledge/documents?limit=100", &admin.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let kept: Vec<&Value> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|d| d["title"] == "Garantia")
        .collect();
    assert_eq!(kept.len(), 1, "{listed}");
    assert_eq!(kept[0]["id"], newest.as_str());
    let (_, found) = search(&app, &admin, json!({"query": "garantia prazo"})).await;
    let results = found["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "{found}");
    assert_eq!(results[0]["document_id"], newest.as_str());
}

fn assert_rejected(status: StatusCode, body: &Value, field: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "VALIDATION_ERROR", "{body}");
    assert_eq!(body["details"]["field"], field, "{body}");
}

#[actix_web::test]
async fn bad_documents_and_searches_are_refused_and_nothing_is_half_indexed() {
    let app = TestApp::spawn_with(&[("knowledge.max_document_bytes", "2000")]).await;
    let admin = app.admin().await;

    let (s, b) = upload_json(&app, &admin, json!({"title": "Vazio", "content": "   "})).await;
    assert_rejected(s, &b, "content");
    let (s, b) = upload_json(&app, &admin, json!({"title": "  ", "content": "texto"})).await;
    assert_rejected(s, &b, "title");
    let (s, b) = upload_json(
        &app,
        &admin,
        json!({"title": "X", "content": "x", "content_type": "docx"}),
    )
    .await;
    assert_rejected(s, &b, "content_type");
    let (s, b) = upload_json(
        &app,
        &admin,
        json!({"title": "Grande", "content": "a ".repeat(1001)}),
    )
    .await;
    assert_rejected(s, &b, "content");
    assert!(b["error"].as_str().expect("error").contains("2000"), "{b}");
    let (s, b) = upload_json(
        &app,
        &admin,
        json!({"title": "X", "content": "x", "agent_id": "0192f0a0-0000-7000-8000-000000000000"}),
    )
    .await;
    assert_rejected(s, &b, "agent_id");

    let binary: Vec<u8> = (0u8..=255).cycle().take(600).collect();
    let (s, b) = upload_multipart(
        &app,
        &admin,
        &[Part::file("dados.txt", "text/plain", binary)],
    )
    .await;
    assert_rejected(s, &b, "file");
    let latin1 = b"Pol\xedtica de trocas em at\xe9 30 dias".to_vec();
    let (s, b) = upload_multipart(
        &app,
        &admin,
        &[Part::file("latin1.txt", "text/plain", latin1)],
    )
    .await;
    assert_rejected(s, &b, "file");
    assert!(b["error"].as_str().expect("error").contains("UTF-8"), "{b}");
    let control = b"texto\x00com\x01controle".to_vec();
    let (s, b) = upload_multipart(
        &app,
        &admin,
        &[Part::file("c.md", "text/markdown", control)],
    )
    .await;
    assert_rejected(s, &b, "file");
    let (s, b) = upload_multipart(
        &app,
        &admin,
        &[Part::file("vazio.pdf", "application/pdf", pdf(&[]))],
    )
    .await;
    assert_rejected(s, &b, "file");
    assert!(
        b["error"].as_str().expect("error").contains("no text"),
        "{b}"
    );
    let mut corrupt = pdf(&["Trocas em 30 dias."]);
    corrupt.truncate(corrupt.len() / 2);
    corrupt.extend_from_slice(b"\x00\xff garbage");
    let (s, b) = upload_multipart(
        &app,
        &admin,
        &[Part::file("quebrado.pdf", "application/pdf", corrupt)],
    )
    .await;
    assert_rejected(s, &b, "file");
    let (s, b) = upload_multipart(
        &app,
        &admin,
        &[Part::file(
            "falso.pdf",
            "application/pdf",
            b"hello".to_vec(),
        )],
    )
    .await;
    assert_rejected(s, &b, "file");
    let big = "palavra ".repeat(300).into_bytes();
    let (s, b) =
        upload_multipart(&app, &admin, &[Part::file("grande.txt", "text/plain", big)]).await;
    assert_rejected(s, &b, "file");
    let (s, b) = upload_multipart(&app, &admin, &[Part::field("title", "Sem arquivo")]).await;
    assert_rejected(s, &b, "file");
    let response = app
        .http
        .post(app.url("/api/v1/knowledge/documents"))
        .bearer_auth(&admin.token)
        .header("content-type", "text/plain")
        .body("texto")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Nothing was stored or indexed by any of those.
    let (_, page) = app.get("/api/v1/knowledge/documents", &admin.token).await;
    assert_eq!(page["items"], json!([]), "{page}");
    for query in ["trocas", "palavra", "texto controle", "dados"] {
        assert!(
            titles(&app, &admin, json!({"query": query}))
                .await
                .is_empty(),
            "{query}"
        );
    }

    for (body, field) in [
        (json!({"query": ""}), "query"),
        (json!({"query": "   "}), "query"),
        (json!({"query": "x".repeat(1001)}), "query"),
        (json!({"query": "trocas", "limit": 0}), "limit"),
        (json!({"query": "trocas", "limit": 51}), "limit"),
        (json!({"query": "trocas", "limit": -3}), "limit"),
        (json!({"query": "trocas", "agent_id": "nope"}), "agent_id"),
    ] {
        let (s, b) = search(&app, &admin, body).await;
        assert_rejected(s, &b, field);
    }
    let (s, b) = search(&app, &admin, json!({"query": "trocas", "limit": 50})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

#[actix_web::test]
async fn roles_tenants_and_deletion() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let agent_user = app
        .user_with_role(&admin, "agent", "agente@tenant-a.test")
        .await;
    let (status, body) =
        upload_json(&app, &agent_user, json!({"title": "X", "content": "y"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let id = upload_text(&app, &admin, EXCHANGE_TITLE, &EXCHANGE_LINES.join("\n")).await;
    // Any staff member searches and reads; only admins and supervisors delete.
    assert_eq!(
        titles(&app, &agent_user, json!({"query": "trocar produto"})).await,
        vec![EXCHANGE_TITLE]
    );
    let (status, _) = app
        .delete(
            &format!("/api/v1/knowledge/documents/{id}"),
            &agent_user.token,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Another tenant neither finds, reads nor deletes it, and its own base stays apart.
    let other = app.other_tenant("tenant-b").await;
    assert!(titles(&app, &other, json!({"query": "trocar produto"}))
        .await
        .is_empty());
    let (status, _) = app
        .get(&format!("/api/v1/knowledge/documents/{id}"), &other.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .delete(&format!("/api/v1/knowledge/documents/{id}"), &other.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = app.get("/api/v1/knowledge/documents", &other.token).await;
    assert_eq!(page["items"], json!([]));
    upload_text(
        &app,
        &other,
        "Trocas B",
        "Na loja B trocas só com etiqueta.",
    )
    .await;
    assert_eq!(
        titles(&app, &admin, json!({"query": "trocas"})).await,
        vec![EXCHANGE_TITLE]
    );

    let (status, _) = app
        .delete(&format!("/api/v1/knowledge/documents/{id}"), &admin.token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(titles(&app, &admin, json!({"query": "trocar produto"}))
        .await
        .is_empty());
    let (status, _) = app
        .get(&format!("/api/v1/knowledge/documents/{id}"), &admin.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .delete(&format!("/api/v1/knowledge/documents/{id}"), &admin.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        titles(&app, &other, json!({"query": "trocas"})).await,
        vec!["Trocas B"]
    );
}

#[actix_web::test]
async fn agent_scoped_documents_are_seen_only_by_their_agent() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let agent = |name: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            app.create_agent(admin, json!({"name": name})).await["id"]
                .as_str()
                .expect("id")
                .to_string()
        }
    };
    let (sales, support) = (agent("Vendas").await, agent("Suporte").await);
    upload_text(
        &app,
        &admin,
        "Garantia geral",
        "Todo produto tem garantia legal de 90 dias.",
    )
    .await;
    let (status, scoped) = upload_json(
        &app,
        &admin,
        json!({"title": "Garantia estendida", "content": "Garantia estendida de 2 anos para produtos vendidos pelo time de vendas.", "agent_id": sales}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{scoped}");
    assert_eq!(scoped["agent_id"], sales.as_str());
    // The same title in another scope is another document, not a replacement.
    let (status, _) = upload_json(
        &app,
        &admin,
        json!({"title": "Garantia estendida", "content": "Suporte: garantia estendida só com o plano premium.", "agent_id": support}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let query = |agent: Option<&str>| {
        let mut body = json!({"query": "garantia estendida do produto"});
        if let Some(agent) = agent {
            body["agent_id"] = json!(agent);
        }
        body
    };
    let excerpts = |found: &Value| -> Vec<String> {
        found["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["excerpt"].as_str().expect("excerpt").to_string())
            .collect()
    };
    let (_, as_sales) = search(&app, &admin, query(Some(&sales))).await;
    let as_sales = excerpts(&as_sales);
    assert!(
        as_sales.iter().any(|e| e.contains("2 anos")),
        "{as_sales:?}"
    );
    assert!(
        as_sales.iter().all(|e| !e.contains("premium")),
        "{as_sales:?}"
    );
    assert!(
        as_sales.iter().any(|e| e.contains("90 dias")),
        "tenant-wide: {as_sales:?}"
    );
    let (_, as_support) = search(&app, &admin, query(Some(&support))).await;
    let as_support = excerpts(&as_support);
    assert!(
        as_support.iter().all(|e| !e.contains("2 anos")),
        "{as_support:?}"
    );
    assert!(
        as_support.iter().any(|e| e.contains("premium")),
        "{as_support:?}"
    );
    let (_, everything) = search(&app, &admin, query(None)).await;
    assert_eq!(
        everything["results"].as_array().expect("results").len(),
        3,
        "{everything}"
    );
}

/// System prompts of the model calls that carried knowledge passages (side calls such as
/// classification or memory extraction do not), once there are at least `count`.
async fn knowledge_prompts(llm: &ScriptedLlm, count: usize) -> Vec<String> {
    let llm = llm.clone();
    eventually(WAIT, &mut move || {
        let llm = llm.clone();
        async move {
            let prompts: Vec<String> = llm
                .requests()
                .iter()
                .filter_map(|r| r.body["messages"][0]["content"].as_str())
                .filter(|s| s.contains("## Knowledge base"))
                .map(str::to_string)
                .collect();
            (prompts.len() >= count).then_some(prompts)
        }
    })
    .await
    .expect("model calls with knowledge passages")
}

async fn faq_fixture() -> Fixture {
    let f = fixture(&[], json!({"model": "gpt-4o"})).await;
    upload_faq(&f.app, &f.admin).await;
    f
}

#[actix_web::test]
async fn an_llm_turn_gets_the_top_chunks_with_their_sources() {
    let f = faq_fixture().await;
    f.llm.push(Step::reply(
        "Você pode trocar em até 30 dias com a nota fiscal.",
    ));
    let (status, accepted) = f
        .inbound(
            "5511999990000",
            "m-1",
            "Oi! Como faço para trocar um produto?",
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let system = &knowledge_prompts(&f.llm, 1).await[0];
    let knowledge = system
        .split("## Knowledge base")
        .nth(1)
        .expect("a knowledge section");
    let first = knowledge
        .lines()
        .find(|l| l.starts_with("[1] "))
        .expect("a first passage");
    assert!(
        first.starts_with(&format!("[1] {EXCHANGE_TITLE}: ")),
        "{system}"
    );
    assert!(first.contains("30 dias"), "{system}");
    assert!(
        !knowledge.contains("Horário de atendimento"),
        "irrelevant documents stay out: {system}"
    );
}

#[actix_web::test]
async fn the_chat_stream_emits_a_source_event_per_passage() {
    let f = faq_fixture().await;
    f.llm.push(Step::reply("Trocas em até 30 dias."));
    let response = f
        .app
        .http
        .post(f.app.url(&format!("/api/v1/agents/{}/chat/stream", f.agent_id)))
        .bearer_auth(&f.admin.token)
        .json(&json!({"messages": [{"role": "user", "content": "como faço para trôcar um produto com defeito?"}]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.expect("body");
    let sources: Vec<Value> = body
        .split("\n\n")
        .filter(|frame| frame.lines().any(|l| l == "event: source"))
        .map(|frame| {
            let data = frame
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .expect("data");
            serde_json::from_str::<Value>(data).expect("json")["data"].clone()
        })
        .collect();
    assert!(!sources.is_empty(), "{body}");
    assert_eq!(sources[0]["title"], EXCHANGE_TITLE, "{body}");
    assert!(sources[0]["excerpt"]
        .as_str()
        .expect("excerpt")
        .contains("30 dias"));
    assert!(sources[0]["chunk_id"]
        .as_str()
        .is_some_and(|c| !c.is_empty()));
    // The prompt the model got carries the same passages.
    let system = &knowledge_prompts(&f.llm, 1).await[0];
    assert!(
        system.contains(&format!("[1] {EXCHANGE_TITLE}: ")),
        "{system}"
    );
    assert!(body.contains("event: done"), "{body}");
}

#[actix_web::test]
async fn hybrid_search_embeds_candidates_once_and_keeps_the_best_passage_first() {
    let f = fixture(
        &[("knowledge.embeddings_enabled", "true")],
        json!({"model": "gpt-4o"}),
    )
    .await;
    upload_faq(&f.app, &f.admin).await;
    // Matches the exchange policy and the delivery deadlines: two candidates to re-rank.
    let question = "Como trocar um produto e qual o prazo de entrega?";
    f.llm.push(Step::reply(
        "Trocas em 30 dias; entrega em até 5 dias úteis.",
    ));
    f.llm.push(Step::reply(
        "Trocas em 30 dias; entrega em até 5 dias úteis.",
    ));
    let (status, _) = f.inbound("5511999990001", "h-1", question).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    knowledge_prompts(&f.llm, 1).await;
    let embedded = f.llm.embedding_requests();
    assert_eq!(embedded.len(), 1, "{embedded:?}");
    let inputs = embedded[0]["input"].as_array().expect("inputs");
    assert_eq!(inputs[0], question, "the query first");
    assert!(
        inputs.len() >= 3,
        "the query and at least two chunks: {inputs:?}"
    );
    assert_eq!(embedded[0]["model"], "text-embedding-3-small");

    // The vectors were kept with the chunks...
    let stored = f
        .app
        .store
        .run(|conn| {
            use atende::store::schema::knowledge_chunks::dsl::*;
            use diesel::prelude::*;
            Ok(atende::db_run!(conn, |c| knowledge_chunks
                .filter(embedding.is_not_null())
                .count()
                .get_result::<i64>(c))?)
        })
        .await
        .expect("count");
    assert_eq!(usize::try_from(stored).expect("count"), inputs.len() - 1);
    // ...so the same question from another customer only embeds the question.
    let (status, _) = f.inbound("5511999990002", "h-2", question).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let system = knowledge_prompts(&f.llm, 2).await[1].clone();
    let embedded = f.llm.embedding_requests();
    assert_eq!(embedded.len(), 2);
    assert_eq!(embedded[1]["input"], json!([question]));
    assert!(
        system.contains(&format!("] {EXCHANGE_TITLE}: ")),
        "{system}"
    );
    assert!(system.contains("] Entrega: "), "{system}");
}

#[actix_web::test]
async fn a_failed_database_write_indexes_nothing() {
    use atende::domain::TenantId;
    use atende::knowledge::documents::{upload, Upload};
    use atende::knowledge::extract::SourceType;

    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let index = app.engine.parts.knowledge.clone();
    let before = index.len();
    // A tenant that does not exist: the foreign key refuses the insert.
    let refused = upload(
        &app.store,
        &index,
        Upload {
            tenant: TenantId("0192f0a0-0000-7000-8000-00000000dead".into()),
            agent: None,
            title: "Fantasma".into(),
            source: SourceType::Text,
            bytes: "Trocas fantasmas em 30 dias.".as_bytes().to_vec(),
            file_name: None,
            field: "content",
        },
    )
    .await;
    assert!(refused.is_err(), "the insert must fail");
    assert_eq!(index.len(), before, "nothing reached the index");
    assert!(titles(&app, &admin, json!({"query": "trocas fantasmas"}))
        .await
        .is_empty());
}
