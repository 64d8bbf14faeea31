//! `cargo bench --bench soak`: load and crashes together (issue 15).
//!
//! The release engine runs as a real process (`atende serve`) on a fresh database, with an AI
//! agent answering through the scripted OpenAI-compatible server and replies going to a
//! receiver in this process. Signed webhooks arrive at a steady rate while the engine is
//! killed with SIGKILL every few seconds and started again. At the end, read straight from
//! the database and the receiver:
//!
//! - every acknowledged (202) message is stored exactly once;
//! - every stored AI reply has exactly one channel delivery row, and the receiver saw it under
//!   exactly one delivery id (a redelivery after a crash reuses the id, so receivers de-dup);
//! - no reply was left undelivered.
//!
//! `--help` lists the environment variables that size the run.

#[allow(dead_code)]
#[path = "../tests/support/app.rs"]
mod app;
// Carries its own `#![allow(dead_code)]`.
#[path = "../tests/support/scripted_llm.rs"]
mod scripted_llm;

#[path = "common/process_bench.rs"]
mod process_bench;

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use anyhow::{bail, Context as _};
use diesel::{Connection, RunQueryDsl};
use futures::StreamExt;
use process_bench::env_number;
use serde_json::{json, Value};

use scripted_llm::{ScriptedLlm, Step};

const SECRET: &str = "soak-integration-secret";

const HELP: &str = "\
soak — webhooks at a steady rate while the engine is SIGKILLed and restarted

usage: [VAR=value ...] cargo bench --bench soak [-- --help]

environment (defaults in brackets):
  ATENDE_BENCH_DATABASE        sqlite | postgres                                   [sqlite]
  ATENDE_BENCH_POSTGRES_URL    admin URL; a fresh database is created and dropped
                                             [postgres://postgres@127.0.0.1:5432/postgres]
  ATENDE_SOAK_RATE             webhooks per second                                 [2000]
  ATENDE_SOAK_SECONDS          how long the load lasts                             [300]
  ATENDE_SOAK_KILL_EVERY       seconds between SIGKILLs                            [30]
  ATENDE_SOAK_CONTACTS         distinct contacts                                   [5000]
  ATENDE_SOAK_SETTLE_SECONDS   longest wait for replies and deliveries at the end  [300]
";

struct Config {
    rate: u64,
    seconds: u64,
    kill_every: u64,
    contacts: u64,
    settle: Duration,
}

impl Config {
    fn from_env() -> anyhow::Result<Config> {
        Ok(Config {
            rate: env_number("ATENDE_SOAK_RATE", 2000)?.max(1),
            seconds: env_number("ATENDE_SOAK_SECONDS", 300)?.max(1),
            kill_every: env_number("ATENDE_SOAK_KILL_EVERY", 30)?.max(1),
            contacts: env_number("ATENDE_SOAK_CONTACTS", 5000)?.max(1),
            settle: Duration::from_secs(env_number("ATENDE_SOAK_SETTLE_SECONDS", 300)?),
        })
    }
}

fn main() {
    if !process_bench::wanted("soak", HELP) {
        return;
    }
    let backend = std::env::var("ATENDE_BENCH_DATABASE").unwrap_or_else(|_| "sqlite".into());
    std::env::set_var("ATENDE_TEST_DATABASE", &backend);
    if let Ok(url) = std::env::var("ATENDE_BENCH_POSTGRES_URL") {
        std::env::set_var("ATENDE_TEST_POSTGRES_URL", url);
    }
    let result = Config::from_env().and_then(|config| {
        let db = app::TestDb::create();
        let outcome = actix_web::rt::System::new().block_on(soak(&config, &db, &backend));
        drop(db);
        outcome
    });
    process_bench::exit_with("soak", result);
}

/// What the reply receiver saw: delivery ids per reply message id.
#[derive(Default)]
struct Seen {
    deliveries: Mutex<HashMap<String, HashSet<String>>>,
    posts: std::sync::atomic::AtomicUsize,
}

async fn receive(req: HttpRequest, body: web::Bytes, seen: web::Data<Seen>) -> HttpResponse {
    seen.posts
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let delivery = req
        .headers()
        .get("x-atende-delivery")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(message) = body["message"]["id"].as_str() {
        seen.deliveries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(message.to_string())
            .or_default()
            .insert(delivery);
    }
    HttpResponse::Ok().finish()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn start_engine(db_url: &str, port: u16) -> anyhow::Result<Child> {
    Command::new(env!("CARGO_BIN_EXE_atende"))
        .env("ATENDE_ENV", "development")
        .env("ATENDE_CONFIG_DIR", app::config_dir())
        .env("ATENDE__DATABASE__URL", db_url)
        .env("ATENDE__SERVER__HOST", "127.0.0.1")
        .env("ATENDE__SERVER__PORT", port.to_string())
        .env("ATENDE__BOOTSTRAP__TENANT", "soak")
        .env("ATENDE__BOOTSTRAP__ADMIN_EMAIL", app::ADMIN_EMAIL)
        .env("ATENDE__BOOTSTRAP__ADMIN_PASSWORD", app::ADMIN_PASSWORD)
        .env("ATENDE__OUTBOUND__ALLOW_PRIVATE_TARGETS", "true")
        .env("ATENDE__LOG__LEVEL", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start the engine")
}

async fn wait_ready(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{base}/ready")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the engine did not become ready")
}

async fn create(
    http: &reqwest::Client,
    url: String,
    token: &str,
    body: Value,
) -> anyhow::Result<String> {
    let response = http.post(url).bearer_auth(token).json(&body).send().await?;
    let status = response.status();
    let created: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{status}: {created}");
    }
    Ok(created["id"].as_str().context("an id")?.to_string())
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// One number from the database (the engine may be running: reads only).
fn count(db_url: &str, sql: &str) -> anyhow::Result<i64> {
    let rows: Vec<Count> = match db_url.strip_prefix("sqlite://") {
        Some(path) => {
            diesel::sql_query(sql).load(&mut diesel::SqliteConnection::establish(path)?)?
        }
        None => diesel::sql_query(sql).load(&mut diesel::PgConnection::establish(db_url)?)?,
    };
    Ok(rows.first().map_or(0, |r| r.n))
}

fn ids(db_url: &str, sql: &str) -> anyhow::Result<Vec<String>> {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
    let rows: Vec<Id> = match db_url.strip_prefix("sqlite://") {
        Some(path) => {
            diesel::sql_query(sql).load(&mut diesel::SqliteConnection::establish(path)?)?
        }
        None => diesel::sql_query(sql).load(&mut diesel::PgConnection::establish(db_url)?)?,
    };
    Ok(rows.into_iter().map(|r| r.id).collect())
}

async fn soak(config: &Config, db: &app::TestDb, backend: &str) -> anyhow::Result<bool> {
    let db_url = db.url();
    let llm = ScriptedLlm::start().await;
    llm.set_default(Step::reply("Recebido, já vou verificar."));
    let seen = web::Data::new(Seen::default());
    let receiver_url = process_bench::start_receiver(seen.clone(), receive)?;

    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut engine = start_engine(&db_url, port)?;
    wait_ready(&http, &base).await?;
    let login: Value = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"email": app::ADMIN_EMAIL, "password": app::ADMIN_PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"].as_str().context("token")?.to_string();
    let agent = create(
        &http,
        format!("{base}/api/v1/agents"),
        &token,
        json!({"name": "Soak bot", "model": "gpt-4o-mini", "max_tokens": 50, "max_conversations": 1_000_000,
            "provider": {"kind": "openai", "base_url": llm.base_url, "api_key": "sk-soak"},
            "settings": {"context_timer_seconds": 0}}),
    )
    .await?;
    let integration = create(
        &http,
        format!("{base}/api/v1/integrations"),
        &token,
        json!({"kind": "generic", "name": "soak", "secret": SECRET, "default_agent_id": agent,
            "outbound_url": receiver_url}),
    )
    .await?;
    let webhook_url = format!("{base}/webhooks/generic/{integration}");

    println!(
        "soak on {backend}: {} webhooks/s for {} s, SIGKILL every {} s, {} contacts",
        config.rate, config.seconds, config.kill_every, config.contacts
    );
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let total = config.rate * config.seconds;
    let started = Instant::now();
    let load = {
        let (acknowledged, url, http) = (acknowledged.clone(), webhook_url.clone(), http.clone());
        let (rate, contacts) = (config.rate, config.contacts);
        actix_web::rt::spawn(async move {
            futures::stream::iter(0..total)
                .map(|i| {
                    let (url, http, acknowledged) =
                        (url.clone(), http.clone(), acknowledged.clone());
                    async move {
                        // A steady rate: message i leaves at i / rate seconds.
                        let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
                        tokio::time::sleep_until(due.into()).await;
                        let external = format!("soak-{i}");
                        let body = json!({
                            "contact": {"external_id": format!("soak-contact-{}", i % contacts)},
                            "message": {"external_id": external, "text": format!("mensagem {i}")},
                        })
                        .to_string();
                        let signature =
                            atende::channels::signature::sign(SECRET.as_bytes(), body.as_bytes());
                        let sent = http
                            .post(&url)
                            .header("content-type", "application/json")
                            .header("X-Atende-Signature", signature)
                            .body(body)
                            .send()
                            .await;
                        if sent.is_ok_and(|r| r.status() == reqwest::StatusCode::ACCEPTED) {
                            acknowledged
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .push(external);
                        }
                    }
                })
                .buffer_unordered(4096)
                .collect::<()>()
                .await;
        })
    };

    let mut kills = 0;
    let end = started + Duration::from_secs(config.seconds);
    loop {
        let next_kill = started + Duration::from_secs(config.kill_every * (kills + 1));
        if next_kill >= end {
            break;
        }
        tokio::time::sleep_until(next_kill.into()).await;
        engine.kill().context("SIGKILL")?;
        engine.wait().context("reap")?;
        kills += 1;
        engine = start_engine(&db_url, port)?;
        wait_ready(&http, &base).await?;
    }
    load.await.context("load generator")?;
    let acknowledged = std::mem::take(
        &mut *acknowledged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    println!(
        "soak: {} of {total} webhooks acknowledged in {:.0} s, {kills} SIGKILLs; settling…",
        acknowledged.len(),
        started.elapsed().as_secs_f64()
    );

    // Settle: every acknowledged message stored, every reply delivered and recorded.
    let settle_until = Instant::now() + config.settle;
    let pending_sql = "SELECT COUNT(*) AS n FROM channel_deliveries WHERE status <> 'sent'";
    let unanswered_sql = "SELECT COUNT(*) AS n FROM conversations c WHERE EXISTS \
        (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.sender_type = 'contact' \
        AND m.seq > c.answered_seq)";
    loop {
        let pending = count(&db_url, pending_sql)?;
        let unanswered = count(&db_url, unanswered_sql)?;
        if (pending == 0 && unanswered == 0) || Instant::now() > settle_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    engine.kill().ok();
    engine.wait().ok();

    let stored: HashMap<String, i64> = {
        let mut counts = HashMap::new();
        for id in ids(
            &db_url,
            "SELECT external_id AS id FROM messages WHERE external_id IS NOT NULL",
        )? {
            *counts.entry(id).or_insert(0) += 1;
        }
        counts
    };
    let lost = acknowledged
        .iter()
        .filter(|id| !stored.contains_key(*id))
        .count();
    let duplicated = stored.values().filter(|n| **n > 1).count();
    let replies = ids(
        &db_url,
        "SELECT id FROM messages WHERE sender_type = 'ai_agent'",
    )?;
    let delivery_rows = count(
        &db_url,
        "SELECT COUNT(*) AS n FROM channel_deliveries d JOIN messages m ON m.id = d.message_id \
         WHERE m.sender_type = 'ai_agent'",
    )?;
    let replies_without_row = count(
        &db_url,
        "SELECT COUNT(*) AS n FROM messages m WHERE m.sender_type = 'ai_agent' AND NOT EXISTS \
         (SELECT 1 FROM channel_deliveries d WHERE d.message_id = m.id)",
    )?;
    let unsent = count(&db_url, pending_sql)?;
    let unanswered = count(&db_url, unanswered_sql)?;
    let deliveries = seen
        .deliveries
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let never_received = replies
        .iter()
        .filter(|r| !deliveries.contains_key(*r))
        .count();
    let several_ids = deliveries.values().filter(|ids| ids.len() > 1).count();
    let posts = seen.posts.load(std::sync::atomic::Ordering::Relaxed);

    let ok = lost == 0
        && duplicated == 0
        && replies_without_row == 0
        && delivery_rows == replies.len() as i64
        && never_received == 0
        && several_ids == 0
        && unsent == 0;
    println!("\n==== soak summary (paste into benches/README.md) ====");
    println!("```text");
    println!("backend            {backend}");
    println!(
        "load               {} webhooks/s for {} s, SIGKILL + restart every {} s ({kills} kills)",
        config.rate, config.seconds, config.kill_every
    );
    println!(
        "inbound            {} acknowledged of {total} sent; lost {lost}; stored twice {duplicated}",
        acknowledged.len()
    );
    println!(
        "replies            {} AI replies stored; {delivery_rows} delivery rows; replies without a row {replies_without_row}; \
         not yet sent {unsent}; conversations with unanswered messages {unanswered}",
        replies.len()
    );
    println!(
        "receiver           {posts} POSTs; replies never received {never_received}; replies seen under more than one delivery id {several_ids}"
    );
    println!("verdict            {}", if ok { "PASS" } else { "FAIL" });
    println!("```");
    Ok(ok)
}
