//! `/api/v1/agents` end to end on both backends: every field round trips, settings and
//! limits merge on PATCH, API keys are sealed and never returned, bad input names its field
//! and changes nothing, other tenants see 404, roles are enforced.

mod support;

use atende::domain::agent::ProviderKind;
use atende::domain::AgentId;
use atende::store::agents;
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use support::*;

const API_KEY: &str = "sk-test-PLAINTEXT0123456789abcdef";

fn full_agent() -> Value {
    json!({
        "name": "Sofia",
        "description": "Qualifies inbound leads",
        "agent_type": "SDR",
        "emoji": "🤖",
        "system_prompt": "You are Sofia, a friendly SDR.",
        "model": "gpt-4.1-mini",
        "temperature": 0.3,
        "max_tokens": 512,
        "enabled": true,
        "status": "active",
        "max_conversations": 25,
        "specialties": ["sales", "pricing"],
        "provider": {"kind": "openai", "base_url": "https://llm.example.com/v1/", "api_key": API_KEY},
        "settings": {
            "context_timer_seconds": 6,
            "response_delay_min_seconds": 1,
            "response_delay_max_seconds": 3,
            "welcome_message": "Hi! I'm Sofia.",
            "history_window": 30,
            "memory_every_n_messages": 4,
            "escalate_after_messages": 12,
            "max_tool_iterations": 3,
            "on_limit": "handover",
            "escalate_after_minutes": 5,
            "recurring_problem_conversations": 3,
            "recurring_problem_days": 10
        },
        "limits": {
            "requests_per_minute": 30,
            "requests_per_hour": 600,
            "requests_per_day": 5000,
            "daily_cost_usd": 2.5,
            "monthly_cost_usd": 40.0
        }
    })
}

async fn stored(app: &TestApp, id: &str) -> agents::AiAgent {
    let id = AgentId(id.to_string());
    app.store
        .run(move |conn| agents::find_by_id(conn, &id))
        .await
        .expect("agent row")
}

#[actix_web::test]
async fn every_field_round_trips_and_patch_merges_settings_and_limits() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let created = app.create_agent(&admin, full_agent()).await;
    let id = created["id"].as_str().expect("id").to_string();

    assert_eq!(created["tenant_id"], admin.tenant_id.as_str());
    assert_eq!(created["name"], "Sofia");
    assert_eq!(created["description"], "Qualifies inbound leads");
    assert_eq!(created["agent_type"], "SDR");
    assert_eq!(created["emoji"], "🤖");
    assert_eq!(created["system_prompt"], "You are Sofia, a friendly SDR.");
    assert_eq!(created["model"], "gpt-4.1-mini");
    assert_eq!(created["temperature"], 0.3);
    assert_eq!(created["max_tokens"], 512);
    assert_eq!(created["enabled"], true);
    assert_eq!(created["status"], "active");
    assert_eq!(created["max_conversations"], 25);
    assert_eq!(created["specialties"], json!(["sales", "pricing"]));
    assert_eq!(
        created["provider"],
        json!({"kind": "openai", "base_url": "https://llm.example.com/v1", "has_api_key": true})
    );
    assert_eq!(created["settings"], full_agent()["settings"]);
    assert_eq!(created["limits"], full_agent()["limits"]);

    let (status, fetched) = app.get(&format!("/api/v1/agents/{id}"), &admin.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, created);
    let (status, list) = app.get("/api/v1/agents", &admin.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"], json!([created]));
    assert_eq!(list["next_cursor"], Value::Null);

    let (status, patched) = app
        .patch(
            &format!("/api/v1/agents/{id}"),
            &admin.token,
            &json!({
                "name": "Sofia 2",
                "agent_type": "SUPPORT",
                "temperature": 1.1,
                "status": "inactive",
                "enabled": false,
                "specialties": ["billing"],
                "provider": {"base_url": null},
                "settings": {"history_window": 50, "welcome_message": null},
                "limits": {"daily_cost_usd": null, "requests_per_minute": 10}
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["name"], "Sofia 2");
    assert_eq!(patched["agent_type"], "SUPPORT");
    assert_eq!(patched["temperature"], 1.1);
    assert_eq!(patched["status"], "inactive");
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["specialties"], json!(["billing"]));
    // Back to the default base URL, another host: the key entered for the old one is
    // dropped rather than sent there.
    assert_eq!(
        patched["provider"],
        json!({"kind": "openai", "base_url": null, "has_api_key": false})
    );
    // Only the keys given changed.
    let mut settings = full_agent()["settings"].clone();
    settings["history_window"] = json!(50);
    settings["welcome_message"] = Value::Null;
    assert_eq!(patched["settings"], settings);
    let mut limits = full_agent()["limits"].clone();
    limits["daily_cost_usd"] = Value::Null;
    limits["requests_per_minute"] = json!(10);
    assert_eq!(patched["limits"], limits);
    assert_eq!(patched["model"], "gpt-4.1-mini");
    assert_eq!(patched["created_at"], created["created_at"]);
    assert_ne!(patched["updated_at"], created["updated_at"]);

    // The engine reads the same values through the row's typed accessors.
    let row = stored(&app, &id).await;
    assert_eq!(row.settings().expect("settings").history_window, 50);
    assert_eq!(row.limits().expect("limits").requests_per_minute, Some(10));
    assert_eq!(row.limits().expect("limits").cost_budget().daily_usd, None);
    assert_eq!(row.specialties().expect("specialties"), vec!["billing"]);
    assert_eq!(row.provider_kind().expect("kind"), ProviderKind::Openai);

    let (status, cleared) = app
        .patch(
            &format!("/api/v1/agents/{id}"),
            &admin.token,
            &json!({"provider": {"api_key": null, "kind": "retrieval"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(
        cleared["provider"],
        json!({"kind": "retrieval", "base_url": null, "has_api_key": false})
    );
    assert_eq!(stored(&app, &id).await.provider_api_key, None);

    let (status, _) = app
        .delete(&format!("/api/v1/agents/{id}"), &admin.token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get(&format!("/api/v1/agents/{id}"), &admin.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "NOT_FOUND");
    let (status, _) = app
        .delete(&format!("/api/v1/agents/{id}"), &admin.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_minimal_agent_gets_sensible_defaults() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let agent = app.create_agent(&admin, json!({"name": "Plain"})).await;
    assert_eq!(agent["model"], "gpt-4o-mini");
    assert_eq!(agent["agent_type"], "CUSTOM");
    assert_eq!(agent["status"], "active");
    assert_eq!(agent["enabled"], true);
    assert_eq!(agent["temperature"], 0.7);
    assert_eq!(agent["max_tokens"], 1024);
    assert_eq!(agent["max_conversations"], 100);
    assert_eq!(agent["specialties"], json!([]));
    // No key given and none configured: an agent that works without an LLM.
    assert_eq!(
        agent["provider"],
        json!({"kind": "retrieval", "base_url": null, "has_api_key": false})
    );
    assert_eq!(
        agent["settings"],
        json!({
            "context_timer_seconds": 0,
            "response_delay_min_seconds": 0,
            "response_delay_max_seconds": 0,
            "welcome_message": null,
            "history_window": 20,
            "memory_every_n_messages": 5,
            "escalate_after_messages": 0,
            "max_tool_iterations": 5,
            "on_limit": "wait",
            "escalate_after_minutes": 0,
            "recurring_problem_conversations": 0,
            "recurring_problem_days": 30
        })
    );
    assert_eq!(
        agent["limits"],
        json!({
            "requests_per_minute": null,
            "requests_per_hour": null,
            "requests_per_day": null,
            "daily_cost_usd": null,
            "monthly_cost_usd": null
        })
    );

    let with_key = app
        .create_agent(
            &admin,
            json!({"name": "Keyed", "provider": {"api_key": "sk-anything-123"}}),
        )
        .await;
    assert_eq!(with_key["provider"]["kind"], "openai");
    assert_eq!(with_key["provider"]["has_api_key"], true);
}

#[actix_web::test]
async fn api_keys_are_sealed_at_rest_and_never_returned() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (status, text) = app
        .call_text(
            Method::POST,
            "/api/v1/agents",
            Some(&admin.token),
            Some(&full_agent()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    assert!(!text.contains(API_KEY), "{text}");
    assert!(!text.contains("\"api_key\""), "{text}");
    let id = serde_json::from_str::<Value>(&text).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();

    let new_key = "sk-test-ROTATED9876543210fedcba";
    let patch = json!({"provider": {"api_key": new_key}, "name": "Rotated"});
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/agents/{id}"), None),
        (Method::GET, "/api/v1/agents".to_string(), None),
        (Method::PATCH, format!("/api/v1/agents/{id}"), Some(&patch)),
        (Method::GET, format!("/api/v1/agents/{id}"), None),
        (Method::GET, "/api/openapi.json".to_string(), None),
    ] {
        let (status, text) = app.call_text(method, &path, Some(&admin.token), body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {text}");
        assert!(
            !text.contains(API_KEY) && !text.contains(new_key),
            "{path}: {text}"
        );
    }

    let row = stored(&app, &id).await;
    let sealed = row.provider_api_key.clone().expect("key stored");
    assert!(
        !sealed.contains(new_key) && !sealed.contains("ROTATED"),
        "{sealed}"
    );
    assert!(sealed.starts_with("v2:"), "{sealed}");
    let context = atende::secrets::SealContext::new(
        &row.tenant_id,
        atende::secrets::SealedField::AgentApiKey,
    );
    assert_eq!(app.secrets().open(context, &sealed).as_deref(), Ok(new_key));
    let opened = row
        .api_key(&app.secrets())
        .expect("opens")
        .expect("present");
    assert_eq!(opened.expose_secret(), new_key);
}

#[actix_web::test]
async fn bad_input_names_the_field_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;

    let with = |patch: Value| {
        let mut body = json!({"name": "Bad"});
        for (k, v) in patch.as_object().expect("object") {
            body[k] = v.clone();
        }
        body
    };
    for (body, field) in [
        (json!({"name": "  "}), "name"),
        (with(json!({"temperature": 2.5})), "temperature"),
        (with(json!({"temperature": -0.1})), "temperature"),
        (with(json!({"max_tokens": 0})), "max_tokens"),
        (with(json!({"max_conversations": -1})), "max_conversations"),
        (with(json!({"model": ""})), "model"),
        (with(json!({"specialties": ["ok", " "]})), "specialties"),
        (with(json!({"emoji": "x".repeat(40)})), "emoji"),
        (
            with(json!({"provider": {"base_url": "ftp://llm.example.com"}})),
            "provider.base_url",
        ),
        (
            with(json!({"provider": {"base_url": "https://u:p@llm.example.com"}})),
            "provider.base_url",
        ),
        (
            with(json!({"provider": {"api_key": "   "}})),
            "provider.api_key",
        ),
        (
            with(
                json!({"settings": {"response_delay_min_seconds": 5, "response_delay_max_seconds": 2}}),
            ),
            "settings.response_delay_min_seconds",
        ),
        (
            with(json!({"settings": {"history_window": 0}})),
            "settings.history_window",
        ),
        (
            with(json!({"settings": {"history_window": 201}})),
            "settings.history_window",
        ),
        (
            with(json!({"limits": {"daily_cost_usd": -1}})),
            "limits.daily_cost_usd",
        ),
        (
            with(json!({"limits": {"requests_per_minute": 0}})),
            "limits.requests_per_minute",
        ),
    ] {
        let (status, response) = app.post("/api/v1/agents", &admin.token, &body).await;
        assert_field_error(status, &response, field);
    }
    // Shape errors (unknown keys, wrong types, unknown enum values) are refused whole.
    for body in [
        with(json!({"colour": "blue"})),
        with(json!({"settings": {"history": 3}})),
        with(json!({"limits": {"per_minute": 3}})),
        with(json!({"provider": {"kind": "anthropic"}})),
        with(json!({"agent_type": "sdr"})),
        with(json!({"status": "paused"})),
        with(json!({"max_tokens": "many"})),
        json!({}),
    ] {
        let (status, response) = app.post("/api/v1/agents", &admin.token, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {response}");
        assert_eq!(response["code"], "VALIDATION_ERROR");
    }
    let (_, list) = app.get("/api/v1/agents", &admin.token).await;
    assert_eq!(list["items"], json!([]), "nothing was created");

    let agent = app.create_agent(&admin, full_agent()).await;
    let path = format!("/api/v1/agents/{}", agent["id"].as_str().expect("id"));
    for (patch, field) in [
        (json!({"name": "Fine", "temperature": 9}), "temperature"),
        (
            json!({"name": "Fine", "settings": {"response_delay_max_seconds": 0}}),
            "settings.response_delay_min_seconds",
        ),
        (
            json!({"settings": {"history_window": 500}}),
            "settings.history_window",
        ),
        (
            json!({"limits": {"monthly_cost_usd": -5}}),
            "limits.monthly_cost_usd",
        ),
        (
            json!({"provider": {"base_url": "not a url"}}),
            "provider.base_url",
        ),
        (json!({"specialties": [""]}), "specialties"),
    ] {
        let (status, response) = app.patch(&path, &admin.token, &patch).await;
        assert_field_error(status, &response, field);
    }
    for patch in [
        json!({"settings": {"unknown": 1}}),
        json!({"provider": {"secret": "x"}}),
        json!({"id": "0192f0a0-0000-7000-8000-000000000000"}),
    ] {
        let (status, _) = app.patch(&path, &admin.token, &patch).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{patch}");
    }
    let (status, after) = app.get(&path, &admin.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after, agent, "refused patches changed nothing");
}

#[actix_web::test]
async fn concurrent_patches_of_different_keys_all_land() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let agent = app.create_agent(&admin, json!({"name": "Busy"})).await;
    let path = format!("/api/v1/agents/{}", agent["id"].as_str().expect("id"));
    let patches = [
        json!({"settings": {"context_timer_seconds": 7}}),
        json!({"settings": {"history_window": 33}}),
        json!({"settings": {"memory_every_n_messages": 9}}),
        json!({"settings": {"escalate_after_messages": 4}}),
        json!({"settings": {"max_tool_iterations": 8}}),
        json!({"settings": {"on_limit": "handover"}}),
        json!({"limits": {"requests_per_minute": 60}}),
        json!({"limits": {"daily_cost_usd": 3.0}}),
    ];
    let calls = patches.iter().map(|patch| {
        let (app, token, path) = (&app, admin.token.clone(), path.clone());
        async move {
            // 409 is the API asking the client to retry after losing a race.
            for _ in 0..20 {
                let (status, body) = app.patch(&path, &token, patch).await;
                if status != StatusCode::CONFLICT {
                    assert_eq!(status, StatusCode::OK, "{body}");
                    return;
                }
            }
            panic!("patch never landed: {patch}");
        }
    });
    futures::future::join_all(calls).await;

    let (_, after) = app.get(&path, &admin.token).await;
    assert_eq!(after["settings"]["context_timer_seconds"], 7);
    assert_eq!(after["settings"]["history_window"], 33);
    assert_eq!(after["settings"]["memory_every_n_messages"], 9);
    assert_eq!(after["settings"]["escalate_after_messages"], 4);
    assert_eq!(after["settings"]["max_tool_iterations"], 8);
    assert_eq!(after["settings"]["on_limit"], "handover");
    assert_eq!(after["limits"]["requests_per_minute"], 60);
    assert_eq!(after["limits"]["daily_cost_usd"], 3.0);
}

#[actix_web::test]
async fn other_tenants_get_404_and_change_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let other = app.other_tenant("tenant-b").await;
    let agent = app.create_agent(&admin, full_agent()).await;
    let path = format!("/api/v1/agents/{}", agent["id"].as_str().expect("id"));

    let (status, body) = app.get(&path, &other.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "NOT_FOUND");
    let (status, _) = app
        .patch(&path, &other.token, &json!({"name": "Stolen"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .patch(
            &path,
            &other.token,
            &json!({"settings": {"history_window": 3}}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.delete(&path, &other.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = app.get("/api/v1/agents", &other.token).await;
    assert_eq!(list["items"], json!([]));

    let (status, after) = app.get(&path, &admin.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after, agent);

    for bad in ["not-an-id", "1%20OR%201=1"] {
        let (status, _) = app
            .get(&format!("/api/v1/agents/{bad}"), &admin.token)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
    }
}

#[actix_web::test]
async fn admins_write_supervisors_read_agents_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let supervisor = app
        .user_with_role(&admin, "supervisor", "sup@tenant-a.test")
        .await;
    let human = app
        .user_with_role(&admin, "agent", "agent@tenant-a.test")
        .await;
    let agent = app.create_agent(&admin, json!({"name": "Shared"})).await;
    let path = format!("/api/v1/agents/{}", agent["id"].as_str().expect("id"));

    let (status, list) = app.get("/api/v1/agents", &supervisor.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let (status, _) = app.get(&path, &supervisor.token).await;
    assert_eq!(status, StatusCode::OK);

    for caller in [&supervisor, &human] {
        let (status, body) = app
            .post("/api/v1/agents", &caller.token, &json!({"name": "Nope"}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["code"], "FORBIDDEN");
        let (status, _) = app
            .patch(&path, &caller.token, &json!({"name": "Nope"}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app.delete(&path, &caller.token).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, _) = app.get("/api/v1/agents", &human.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get(&path, &human.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.call(Method::GET, "/api/v1/agents", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (_, after) = app.get(&path, &admin.token).await;
    assert_eq!(after, agent);
}

#[actix_web::test]
async fn pages_and_the_engine_view_of_active_agents() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let other = app.other_tenant("tenant-b").await;
    let live = app.create_agent(&admin, json!({"name": "Live"})).await;
    app.create_agent(&admin, json!({"name": "Draft", "status": "draft"}))
        .await;
    app.create_agent(&admin, json!({"name": "Off", "status": "inactive"}))
        .await;
    app.create_agent(&admin, json!({"name": "Disabled", "enabled": false}))
        .await;
    let elsewhere = app.create_agent(&other, json!({"name": "Elsewhere"})).await;

    let active = app
        .store
        .run(agents::list_active)
        .await
        .expect("active agents");
    let mut ids: Vec<&str> = active.iter().map(|a| a.id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = vec![
        live["id"].as_str().expect("id"),
        elsewhere["id"].as_str().expect("id"),
    ];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    assert!(active.iter().all(|a| a.is_live()));

    let (status, first) = app.get("/api/v1/agents?limit=3", &admin.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["items"].as_array().map(Vec::len), Some(3));
    let cursor = first["next_cursor"].as_str().expect("more pages");
    let (_, second) = app
        .get(
            &format!("/api/v1/agents?limit=3&cursor={cursor}"),
            &admin.token,
        )
        .await;
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(second["next_cursor"], Value::Null);
    let (status, body) = app.get("/api/v1/agents?limit=0", &admin.token).await;
    assert_field_error(status, &body, "limit");
}

#[actix_web::test]
async fn the_running_agent_uses_its_sealed_key_and_picks_up_a_patch_at_once() {
    let f = support::engine::fixture(&[], json!({})).await;
    let wait = std::time::Duration::from_secs(10);
    let (status, _) = f.inbound("c1", "m1", "hi").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(f.llm.wait_for_requests(1, wait).await, 1);
    let first = &f.llm.requests()[0];
    // The key went in sealed and reaches the provider opened.
    assert_eq!(first.authorization.as_deref(), Some("Bearer sk-test-key"));

    let (status, body) = f
        .app
        .patch(
            &format!("/api/v1/agents/{}", f.agent_id),
            &f.admin.token,
            &json!({
                "system_prompt": "You are the patched agent.",
                "provider": {"api_key": "  sk-rotated-key  "}
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, _) = f.inbound("c2", "m2", "hello again").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(f.llm.wait_for_requests(2, wait).await, 2);
    let second = &f.llm.requests()[1];
    assert_eq!(
        second.authorization.as_deref(),
        Some("Bearer sk-rotated-key"),
        "the pasted whitespace is not part of the key"
    );
    assert!(
        second
            .body
            .to_string()
            .contains("You are the patched agent."),
        "{}",
        second.body
    );
}
