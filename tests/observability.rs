//! Observability (issue 16, item 12): real traffic — a signed webhook, an AI turn through the
//! scripted LLM, a human reply — fills the latency histograms on `/metrics`, and every metric
//! the Grafana dashboard (`docker/grafana/dashboards/atende.json`) and the Prometheus alert
//! rules (`docker/prometheus/alerts.yml`) name exists there.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::engine::{eventually, fixture, Fixture};

const WAIT: Duration = Duration::from_secs(15);
const TOKEN: &str = "scrape-token-for-observability";

/// The histograms this item adds; each must have observations after the traffic.
const HISTOGRAMS: [&str; 4] = [
    "atende_ai_response_seconds",
    "atende_first_human_response_seconds",
    "atende_webhook_ack_seconds",
    "atende_llm_call_duration_seconds",
];

fn repo_file(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `atende_…` name in a PromQL expression.
fn names_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("atende_") {
        // Part of a longer identifier (e.g. `my_atende_x`) is not a name of ours.
        let before = rest[..start].chars().next_back();
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            names.push(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    names
}

/// The `expr` of every panel target of a Grafana dashboard.
fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            out.push(target["expr"].as_str().expect("expr").to_string());
        }
    }
    out
}

/// The `expr` of every rule of a Prometheus rules file: inline (`expr: …`) or a block
/// scalar (`expr: |` and the lines indented below it).
fn alert_exprs(rules: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = rules.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(value) = line.trim_start().strip_prefix("expr:") {
            let indent = line.len() - line.trim_start().len();
            let value = value.trim();
            if value == "|" || value == ">" {
                let mut block = Vec::new();
                while i + 1 < lines.len() {
                    let next = lines[i + 1];
                    let next_indent = next.len() - next.trim_start().len();
                    if !next.trim().is_empty() && next_indent <= indent {
                        break;
                    }
                    block.push(next.trim());
                    i += 1;
                }
                out.push(block.join(" "));
            } else {
                out.push(value.to_string());
            }
        }
        i += 1;
    }
    out
}

/// Metric names exposed by a text-format scrape: each family's name, and for histograms and
/// summaries the `_bucket` / `_sum` / `_count` series too.
fn exposed(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        names.insert(name.to_string());
        if kind == "histogram" || kind == "summary" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

/// The sum of a series' samples over all its label sets (`name` or `name{…}` lines).
fn total(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn scrape(f: &Fixture) -> Option<String> {
    let response = f
        .app
        .http
        .get(f.app.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .ok()?;
    if response.status() != StatusCode::OK {
        return None;
    }
    response.text().await.ok()
}

#[test]
fn the_expression_parsers_find_every_name() {
    assert_eq!(
        names_in(r#"sum(rate(atende_a_total{x="atende_not"}[5m])) / atende_b + my_atende_c"#),
        vec!["atende_a_total", "atende_not", "atende_b"]
    );
    let rules = "rules:\n  - alert: A\n    expr: atende_x > 1\n  - alert: B\n    expr: |\n      sum(atende_y)\n        / atende_z\n    for: 5m\n";
    assert_eq!(
        alert_exprs(rules),
        vec!["atende_x > 1", "sum(atende_y) / atende_z"]
    );
    let text = "# TYPE atende_h histogram\natende_h_count 3\n# TYPE atende_c counter\natende_c{a=\"b\"} 2\natende_c{a=\"c\"} 1\n";
    assert!(exposed(text).contains("atende_h_bucket"));
    assert!(!exposed(text).contains("atende_c_bucket"));
    assert_eq!(total(text, "atende_c"), 3.0);
    assert_eq!(total(text, "atende_h"), 0.0);
}

#[actix_web::test]
async fn traffic_fills_the_histograms_and_every_dashboard_and_alert_metric_exists() {
    let f = fixture(&[("metrics.token", TOKEN)], json!({})).await;
    let human = f
        .app
        .user_with_role(&f.admin, "agent", "ops@observability.test")
        .await;

    // A webhook, an AI turn.
    let conversation = f
        .conversation_of("c1", "m1", "quero falar do meu pedido")
        .await;
    f.ai_replies(&conversation, 1).await;
    // A human given the conversation replies.
    let path = format!("/api/v1/conversations/{conversation}");
    let (status, body) = f
        .app
        .post(
            &format!("{path}/assign"),
            &f.admin.token,
            &json!({"user_id": human.user_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = f
        .app
        .post(
            &format!("{path}/messages"),
            &human.token,
            &json!({"content": "Oi, posso ajudar."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let text = eventually(WAIT, &mut || async {
        let text = scrape(&f).await?;
        HISTOGRAMS
            .iter()
            .all(|h| total(&text, &format!("{h}_count")) > 0.0)
            .then_some(text)
    })
    .await
    .unwrap_or_else(|| panic!("every new histogram observed the traffic"));
    // One customer message answered once by the AI, one human given it and answering once.
    assert_eq!(
        total(&text, "atende_ai_response_seconds_count"),
        1.0,
        "{text}"
    );
    assert_eq!(
        total(&text, "atende_first_human_response_seconds_count"),
        1.0,
        "{text}"
    );
    assert!(
        text.contains(r#"atende_webhook_ack_seconds_count{source="generic"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"atende_llm_call_duration_seconds_count{provider="openai",status="ok"}"#),
        "{text}"
    );
    let (status, _) = f
        .app
        .http
        .get(f.app.url("/metrics"))
        .send()
        .await
        .map(|r| (r.status(), ()))
        .expect("scrape");
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the token still guards it"
    );

    let names = exposed(&text);
    let dashboard: Value =
        serde_json::from_str(&repo_file("docker/grafana/dashboards/atende.json")).expect("JSON");
    let rules = repo_file("docker/prometheus/alerts.yml");
    let dashboard_exprs = dashboard_exprs(&dashboard);
    let alert_exprs = alert_exprs(&rules);
    assert_eq!(
        alert_exprs.len(),
        rules.matches("- alert:").count(),
        "one expression per alert rule"
    );
    let mut used = BTreeSet::new();
    for expr in dashboard_exprs.iter().chain(&alert_exprs) {
        let found = names_in(expr);
        assert!(!found.is_empty(), "an expression without a metric: {expr}");
        used.extend(found);
    }
    let missing: Vec<&String> = used.iter().filter(|n| !names.contains(*n)).collect();
    assert!(missing.is_empty(), "used but not exposed: {missing:?}");
    // The alerts cover what the issue asks for.
    for needed in [
        "atende_queue_oldest_wait_seconds",
        "atende_sla_breaches_total",
        "atende_ai_turns_total",
        "atende_ai_budget_used_ratio_max",
    ] {
        assert!(
            alert_exprs
                .iter()
                .any(|e| names_in(e).iter().any(|n| n == needed)),
            "an alert on {needed}"
        );
    }
    for histogram in HISTOGRAMS {
        assert!(
            used.contains(&format!("{histogram}_bucket")),
            "the dashboard or alerts chart {histogram}"
        );
    }
}
