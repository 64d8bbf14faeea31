//! Analytics on both backends: a seeded period (conversations, messages, AI turns on three
//! days, plus rows just outside it) must give the totals computed by hand below — tokens,
//! cost, rates, response times, tool usage and the daily series — for the tenant and for one
//! agent; bad periods are refused; tenants are kept apart; Prometheus counts AI turns.

mod support;

use std::time::Duration;

use atende::domain::agent::TurnStatus;
use atende::domain::conversation::Owner;
use atende::domain::escalation::EscalationReason;
use atende::domain::{AgentId, ContactId, ConversationId, MessageId, TenantId, UserId};
use atende::store::contacts::Contact;
use atende::store::conversations::{self, Conversation};
use atende::store::messages::Message;
use atende::store::schema::messages;
use atende::store::turns::{self, AiTurn};
use atende::store::{contacts_admin, DbConn, StoreResult};
use chrono::NaiveDateTime;
use diesel::RunQueryDsl;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::engine::eventually;
use support::*;

fn at(raw: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S").expect("time")
}

struct Seed {
    tenant: TenantId,
    contact: ContactId,
    agent_a: AgentId,
    agent_b: AgentId,
    human: UserId,
}

impl Seed {
    fn conversation(
        &self,
        conn: &mut DbConn,
        created: &str,
        owner: Owner,
        status: &str,
        escalated: bool,
        first_response: Option<&str>,
    ) -> StoreResult<ConversationId> {
        let mut c = Conversation::new_for(&self.tenant, &self.contact, None, "generic");
        c.created_at = at(created);
        c.updated_at = at(created);
        c.status = status.into();
        c.owner_type = owner.kind().into();
        c.owner_id = owner.id().map(str::to_string);
        c.escalation_reason =
            escalated.then(|| EscalationReason::Staff("customer asked for a human".into()));
        c.first_response_at = first_response.map(at);
        c.closed_at = (status == "closed").then(|| at(created));
        conversations::insert(conn, &c)?;
        Ok(c.id)
    }

    #[allow(clippy::too_many_arguments)]
    fn turn(
        &self,
        conn: &mut DbConn,
        agent: &AgentId,
        conversation: &ConversationId,
        created: &str,
        status: &str,
        tokens: (i64, i64),
        cost_usd: f64,
        latency_ms: i64,
        tools: &[&str],
    ) -> StoreResult<()> {
        turns::insert(
            conn,
            &AiTurn {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: self.tenant.clone(),
                agent_id: agent.clone(),
                sub_agent_id: None,
                conversation_id: Some(conversation.clone()),
                model: "gpt-4o-mini".into(),
                provider: "openai".into(),
                status: status.parse().expect("a turn status"),
                error_reason: (status != "ok").then(|| "provider error".to_string()),
                prompt_tokens: tokens.0,
                completion_tokens: tokens.1,
                cost_usd,
                latency_ms,
                retries: 0,
                tools_used: json!(tools).to_string(),
                price_flagged: false,
                tokens_saved: 0,
                created_at: at(created),
            },
        )
    }

    fn message(
        &self,
        conn: &mut DbConn,
        conversation: &ConversationId,
        seq: i64,
        sender: &str,
        created: &str,
    ) -> StoreResult<()> {
        let message = Message {
            id: MessageId::new(),
            tenant_id: self.tenant.clone(),
            conversation_id: conversation.clone(),
            seq,
            sender_type: sender.parse().expect("a sender type"),
            sender_id: None,
            content: format!("{sender} #{seq}"),
            content_type: "text".into(),
            status: "sent".into(),
            direction: if sender == "contact" { "in" } else { "out" }.into(),
            integration_id: None,
            external_id: None,
            metadata: "{}".into(),
            created_at: at(created),
        };
        atende::db_run!(conn, |c| diesel::insert_into(messages::table)
            .values(&message)
            .execute(c))?;
        Ok(())
    }
}

/// The period 2026-03-01 .. 2026-03-03 (whole days) and rows on both sides of it.
fn seed(conn: &mut DbConn, s: &Seed) -> StoreResult<()> {
    let (a, b) = (
        Owner::AiAgent(s.agent_a.clone()),
        Owner::AiAgent(s.agent_b.clone()),
    );
    let c1 = s.conversation(
        conn,
        "2026-03-01 10:00:00",
        a.clone(),
        "closed",
        false,
        Some("2026-03-01 10:00:30"),
    )?;
    let c2 = s.conversation(
        conn,
        "2026-03-01 12:00:00",
        Owner::User(s.human.clone()),
        "open",
        true,
        Some("2026-03-01 12:01:00"),
    )?;
    let c3 = s.conversation(
        conn,
        "2026-03-02 09:00:00",
        a.clone(),
        "open",
        false,
        Some("2026-03-02 09:00:10"),
    )?;
    let c4 = s.conversation(conn, "2026-03-03 18:00:00", b, "closed", false, None)?;
    let before = s.conversation(
        conn,
        "2026-02-28 23:00:00",
        a.clone(),
        "closed",
        false,
        Some("2026-02-28 23:00:05"),
    )?;
    let after = s.conversation(conn, "2026-03-04 00:00:00", a, "open", true, None)?;

    let (ag_a, ag_b) = (s.agent_a.clone(), s.agent_b.clone());
    s.turn(
        conn,
        &ag_a,
        &c1,
        "2026-03-01 10:00:20",
        "ok",
        (100, 50),
        0.0015,
        1200,
        &["buscar_pedido"],
    )?;
    s.turn(
        conn,
        &ag_a,
        &c2,
        "2026-03-01 12:00:40",
        "ok",
        (200, 80),
        0.0025,
        800,
        &["buscar_pedido", "transferir_agente"],
    )?;
    s.turn(
        conn,
        &ag_a,
        &c3,
        "2026-03-02 09:00:05",
        "error",
        (0, 0),
        0.0,
        3000,
        &[],
    )?;
    s.turn(
        conn,
        &ag_a,
        &c3,
        "2026-03-02 09:05:00",
        "ok",
        (150, 60),
        0.002,
        1000,
        &[],
    )?;
    s.turn(
        conn,
        &ag_b,
        &c4,
        "2026-03-03 18:00:10",
        "ok",
        (300, 100),
        0.004,
        2000,
        &["buscar_pedido"],
    )?;
    s.turn(
        conn,
        &ag_a,
        &before,
        "2026-02-28 23:00:03",
        "ok",
        (999, 999),
        9.99,
        100,
        &["x"],
    )?;
    s.turn(
        conn,
        &ag_a,
        &after,
        "2026-03-04 00:00:01",
        "ok",
        (999, 999),
        9.99,
        100,
        &["x"],
    )?;

    s.message(conn, &c1, 1, "contact", "2026-03-01 10:00:00")?;
    s.message(conn, &c1, 2, "ai_agent", "2026-03-01 10:00:30")?;
    s.message(conn, &c2, 1, "contact", "2026-03-01 12:00:00")?;
    s.message(conn, &c2, 2, "ai_agent", "2026-03-01 12:01:00")?;
    s.message(conn, &c2, 3, "user", "2026-03-01 12:05:00")?;
    s.message(conn, &c4, 1, "contact", "2026-03-03 18:00:00")?;
    s.message(conn, &c4, 2, "ai_agent", "2026-03-03 18:00:20")?;
    s.message(conn, &before, 1, "contact", "2026-02-28 23:00:00")?;
    s.message(conn, &after, 1, "contact", "2026-03-04 00:00:00")?;
    Ok(())
}

fn close(actual: &Value, expected: f64) {
    let value = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{actual} is a number"));
    assert!(
        (value - expected).abs() < 1e-9,
        "expected {expected}, got {value}"
    );
}

async fn seeded() -> (TestApp, Session, Seed) {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let a = app.create_agent(&admin, json!({"name": "Agente A"})).await;
    let b = app.create_agent(&admin, json!({"name": "Agente B"})).await;
    let now = atende::store::now();
    let s = Seed {
        tenant: TenantId(admin.tenant_id.clone()),
        contact: ContactId::new(),
        agent_a: AgentId(a["id"].as_str().expect("id").to_string()),
        agent_b: AgentId(b["id"].as_str().expect("id").to_string()),
        human: UserId(admin.user_id.clone()),
    };
    let contact = Contact {
        id: s.contact.clone(),
        tenant_id: s.tenant.clone(),
        integration_id: None,
        external_id: None,
        name: Some("Cliente".into()),
        phone: None,
        email: None,
        is_vip: false,
        tags: "[]".into(),
        custom_fields: "{}".into(),
        last_owner_type: None,
        last_owner_id: None,
        created_at: now,
        updated_at: now,
    };
    let seed_copy = Seed {
        tenant: s.tenant.clone(),
        contact: s.contact.clone(),
        agent_a: s.agent_a.clone(),
        agent_b: s.agent_b.clone(),
        human: s.human.clone(),
    };
    app.store
        .run(move |conn| {
            contacts_admin::insert(conn, &contact)?;
            seed(conn, &seed_copy)
        })
        .await
        .expect("seeded");
    (app, admin, s)
}

#[actix_web::test]
async fn the_dashboard_matches_hand_computed_totals() {
    let (app, admin, _) = seeded().await;
    let (status, body) = app
        .get(
            "/api/v1/analytics/dashboard?from=2026-03-01&to=2026-03-03",
            &admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["period"]["from"], "2026-03-01T00:00:00Z");
    assert_eq!(body["period"]["to"], "2026-03-04T00:00:00Z");

    let c = &body["conversations"];
    assert_eq!(c["total"], 4, "{body}");
    assert_eq!(c["open"], 2);
    assert_eq!(c["queued"], 0);
    assert_eq!(c["closed"], 2);
    assert_eq!(c["escalated"], 1);
    assert_eq!(c["resolved_without_human"], 2);
    close(&c["escalation_rate"], 0.25);
    close(&c["resolution_rate"], 0.5);
    // (30 + 60 + 10) / 3 seconds.
    let first = c["avg_first_response_seconds"].as_f64().expect("number");
    assert!((first - 100.0 / 3.0).abs() < 1e-3, "{first}");

    let m = &body["messages"];
    assert_eq!(m["total"], 7, "{body}");
    assert_eq!(m["inbound"], 3);
    assert_eq!(m["outbound"], 4);
    assert_eq!(
        m["by_sender"],
        json!({"ai_agent": 3, "contact": 3, "user": 1})
    );

    let ai = &body["ai"];
    assert_eq!(ai["turns"], 5, "{body}");
    assert_eq!(ai["turns_by_status"], json!({"error": 1, "ok": 4}));
    assert_eq!(ai["prompt_tokens"], 750);
    assert_eq!(ai["completion_tokens"], 290);
    assert_eq!(ai["total_tokens"], 1040);
    close(&ai["cost_usd"], 0.01);
    assert_eq!(ai["conversations"], 4);
    close(&ai["cost_per_conversation"], 0.0025);
    close(&ai["avg_response_seconds"], 1.25);
    assert_eq!(
        ai["tool_usage"],
        json!({"buscar_pedido": 3, "transferir_agente": 1})
    );

    let daily = body["daily"].as_array().expect("daily");
    assert_eq!(daily.len(), 3, "{body}");
    let expected = [
        ("2026-03-01", 2, 300, 130, 0.004),
        ("2026-03-02", 2, 150, 60, 0.002),
        ("2026-03-03", 1, 300, 100, 0.004),
    ];
    for (day, (date, turns, prompt, completion, cost)) in daily.iter().zip(expected) {
        assert_eq!(day["date"], date);
        assert_eq!(day["turns"], turns);
        assert_eq!(day["prompt_tokens"], prompt);
        assert_eq!(day["completion_tokens"], completion);
        close(&day["cost_usd"], cost);
    }
    // Conversations by the day they were created: (total, escalated, resolved by the AI,
    // mean first response) — 03-01: c1 resolved in 30 s, c2 escalated in 60 s; 03-02: c3 in
    // 10 s; 03-03: c4 resolved, never answered.
    let per_day = [
        (2, 1, 1, Some(45.0)),
        (1, 0, 0, Some(10.0)),
        (1, 0, 1, None),
    ];
    for (day, (total, escalated, resolved, first)) in daily.iter().zip(per_day) {
        assert_eq!(day["conversations"], total, "{day}");
        assert_eq!(day["escalated"], escalated, "{day}");
        assert_eq!(day["resolved_without_human"], resolved, "{day}");
        match first {
            Some(seconds) => {
                let got = day["avg_first_response_seconds"].as_f64().expect("number");
                assert!((got - seconds).abs() < 1e-3, "{day}");
            }
            None => assert!(day["avg_first_response_seconds"].is_null(), "{day}"),
        }
    }
    // Per AI agent, costliest first: A ran 4 turns (640 tokens, $0.006) in c1, c2 and c3;
    // B one (400 tokens, $0.004) in c4. The turns outside the period do not count.
    let by_agent = body["by_agent"].as_array().expect("by_agent");
    assert_eq!(by_agent.len(), 2, "{body}");
    assert_eq!(by_agent[0]["name"], "Agente A");
    assert_eq!(by_agent[0]["turns"], 4);
    assert_eq!(by_agent[0]["total_tokens"], 640);
    close(&by_agent[0]["cost_usd"], 0.006);
    assert_eq!(by_agent[0]["conversations"], 3);
    assert_eq!(by_agent[1]["name"], "Agente B");
    assert_eq!(by_agent[1]["turns"], 1);
    assert_eq!(by_agent[1]["total_tokens"], 400);
    close(&by_agent[1]["cost_usd"], 0.004);
    assert_eq!(by_agent[1]["conversations"], 1);

    // An RFC 3339 window inside the period: only 2026-03-01's afternoon.
    let (status, body) = app
        .get(
            "/api/v1/analytics/dashboard?from=2026-03-01T11:00:00Z&to=2026-03-01T13:00:00Z",
            &admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["conversations"]["total"], 1);
    assert_eq!(body["ai"]["turns"], 1);
    close(&body["ai"]["cost_usd"], 0.0025);
    assert_eq!(body["daily"].as_array().map(Vec::len), Some(1));
}

#[actix_web::test]
async fn agent_analytics_cover_the_agents_conversations_and_turns() {
    let (app, admin, seed) = seeded().await;
    let (status, body) = app
        .get(
            &format!(
                "/api/v1/analytics/agents/{}?from=2026-03-01&to=2026-03-03",
                seed.agent_a
            ),
            &admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["agent"]["name"], "Agente A");
    let c = &body["conversations"];
    // c1 and c3 (owned), c2 (escalated away after the agent's turn).
    assert_eq!(c["total"], 3, "{body}");
    assert_eq!(c["escalated"], 1);
    assert_eq!(c["resolved_without_human"], 1);
    close(&c["escalation_rate"], 1.0 / 3.0);
    close(&c["resolution_rate"], 1.0 / 3.0);
    let m = &body["messages"];
    assert_eq!(m["total"], 5, "{body}");
    assert_eq!(m["inbound"], 2);
    let ai = &body["ai"];
    assert_eq!(ai["turns"], 4);
    assert_eq!(ai["turns_by_status"], json!({"error": 1, "ok": 3}));
    assert_eq!(ai["prompt_tokens"], 450);
    assert_eq!(ai["completion_tokens"], 190);
    close(&ai["cost_usd"], 0.006);
    assert_eq!(ai["conversations"], 3);
    close(&ai["cost_per_conversation"], 0.002);
    close(&ai["avg_response_seconds"], 1.0);
    assert_eq!(
        ai["tool_usage"],
        json!({"buscar_pedido": 2, "transferir_agente": 1})
    );
    let daily: Vec<f64> = body["daily"]
        .as_array()
        .expect("daily")
        .iter()
        .map(|d| d["cost_usd"].as_f64().expect("cost"))
        .collect();
    assert_eq!(daily, vec![0.004, 0.002, 0.0]);

    let (_, b) = app
        .get(
            &format!(
                "/api/v1/analytics/agents/{}?from=2026-03-01&to=2026-03-03",
                seed.agent_b
            ),
            &admin.token,
        )
        .await;
    assert_eq!(b["conversations"]["total"], 1);
    assert_eq!(b["conversations"]["resolved_without_human"], 1);
    close(&b["ai"]["cost_usd"], 0.004);
}

#[actix_web::test]
async fn bad_periods_other_tenants_and_roles_are_refused() {
    let (app, admin, seed) = seeded().await;
    for (query, field) in [
        ("from=2026-03-05&to=2026-03-01", "from"),
        ("from=2026-03-01T10:00:00Z&to=2026-03-01T10:00:00Z", "from"),
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
        ("from=2020-01-01&to=2026-03-01", "to"),
    ] {
        let (status, body) = app
            .get(
                &format!("/api/v1/analytics/dashboard?{query}"),
                &admin.token,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["code"], "VALIDATION_ERROR");
        assert_eq!(body["details"]["field"], field, "{query}: {body}");
    }
    let (status, body) = app.get("/api/v1/analytics/dashboard", &admin.token).await;
    assert_eq!(status, StatusCode::OK, "the default period works: {body}");
    assert_eq!(body["daily"].as_array().map(Vec::len), Some(31));

    let other = app.other_tenant("tenant-b").await;
    let (status, _) = app
        .get(
            &format!("/api/v1/analytics/agents/{}", seed.agent_a),
            &other.token,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, theirs) = app
        .get(
            "/api/v1/analytics/dashboard?from=2026-03-01&to=2026-03-03",
            &other.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(theirs["conversations"]["total"], 0);
    assert_eq!(theirs["ai"]["turns"], 0);
    assert_eq!(theirs["messages"]["total"], 0);

    let agent = app
        .user_with_role(&admin, "agent", "agent@tenant-a.test")
        .await;
    let (status, _) = app.get("/api/v1/analytics/dashboard", &agent.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn prometheus_counts_new_ai_turns_and_exposes_the_engine_gauges() {
    let (app, _, seed) = seeded().await;
    let now = atende::store::now();
    let tenant = seed.tenant.clone();
    let agent = seed.agent_a.clone();
    app.store
        .run(move |conn| {
            turns::insert(
                conn,
                &AiTurn {
                    id: uuid::Uuid::now_v7().to_string(),
                    tenant_id: tenant,
                    agent_id: agent,
                    sub_agent_id: None,
                    conversation_id: None,
                    model: "gpt-4o-mini".into(),
                    provider: "openai".into(),
                    status: TurnStatus::Ok,
                    error_reason: None,
                    prompt_tokens: 40,
                    completion_tokens: 2,
                    cost_usd: 0.25,
                    latency_ms: 10,
                    retries: 0,
                    tools_used: "[]".into(),
                    price_flagged: false,
                    tokens_saved: 0,
                    created_at: now,
                },
            )
        })
        .await
        .expect("turn");
    let text = eventually(Duration::from_secs(10), &mut || async {
        let text = app
            .http
            .get(app.url("/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains(r#"atende_ai_turns_total{status="ok"} 1"#)
            .then_some(text)
    })
    .await
    .expect("the new turn is counted (the seeded March turns are history, not counted)");
    assert!(
        text.contains(r#"atende_ai_tokens_total{kind="prompt"} 40"#),
        "{text}"
    );
    assert!(
        text.contains(r#"atende_ai_tokens_total{kind="completion"} 2"#),
        "{text}"
    );
    assert!(text.contains("atende_ai_cost_usd_total 0.25"), "{text}");
    for gauge in [
        "atende_queue_length",
        "atende_live_conversations",
        "atende_websocket_sessions",
        "atende_escalations_total",
        "atende_webhook_failures_total",
    ] {
        assert!(text.contains(gauge), "{gauge} missing: {text}");
    }
}
