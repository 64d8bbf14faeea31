//! `cargo bench --bench engine_load`: a load test of the whole engine in one process.
//!
//! The real application (HTTP server, actors, store) runs inside an actix system; the load
//! generator runs on its own thread and tokio runtime in the same process and speaks HTTP to
//! it over loopback (keep-alive, bounded concurrency). AI turns go to the scripted
//! OpenAI-compatible server of the test suite, replies to a tiny receiver in the process.
//! Only 127.0.0.1 is ever contacted; every phase is bounded in count and time.
//!
//! Phases (each in a fresh child process with a fresh database, so that one phase's
//! leftovers — queued conversations, live actors, allocator state — do not bend the next):
//!
//! 1. `ingest`: N signed inbound webhooks acknowledged 202 (durable), no AI turn.
//! 2. `turns`: M new conversations, one message each, answered by an AI agent: inbound →
//!    LLM → reply stored → outbound POST seen by the receiver.
//! 3. `latency`: a steady rate of new conversations; per message, the engine's own latency
//!    (reply event − webhook send − LLM time).
//! 4. `memory`: RSS growth per idle live conversation.
//!
//! `--help` lists the environment variables that size the run.

#[allow(dead_code)]
#[path = "../tests/support/app.rs"]
mod app;
// Carries its own `#![allow(dead_code)]`.
#[path = "../tests/support/scripted_llm.rs"]
mod scripted_llm;
#[path = "common/statements.rs"]
mod statements;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::{anyhow, bail, Context as _};
use atende::app::Application;
use atende::config::Settings;
use atende::domain::conversation::SenderType;
use atende::engine::events::EngineEvent;
use atende::engine::registry::LiveCount;
use atende::engine::Engine;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use scripted_llm::ScriptedLlm;

const SECRET: &str = "bench-integration-secret";
const ADMIN_EMAIL: &str = "admin@bench.test";
const ADMIN_PASSWORD: &str = "bench-admin-password";
/// Set on the child process that runs one phase.
const CHILD_ENV: &str = "ATENDE_BENCH_CHILD";
/// Prefix of the one line a child prints for the parent to collect.
const RESULT_PREFIX: &str = "@@atende-bench-result ";

const HELP: &str = "\
engine_load — load benchmark of the Atende engine (in-process, loopback HTTP only)

usage: [VAR=value ...] cargo bench --bench engine_load [-- --help]

environment (defaults in brackets; sizes marked * are multiplied by ATENDE_BENCH_SCALE):
  ATENDE_BENCH_DATABASE          sqlite | postgres                                 [sqlite]
  ATENDE_BENCH_POSTGRES_URL      admin URL; a fresh database is created and dropped
                                                 [postgres://postgres@127.0.0.1:5432/postgres]
  ATENDE_BENCH_SCALE             multiplies the sizes marked *                     [1]
  ATENDE_BENCH_PHASES            comma list of ingest,turns,latency,memory         [all four]
  ATENDE_BENCH_INGEST_MESSAGES   * phase 1 webhooks                                [20000]
  ATENDE_BENCH_INGEST_CONTACTS   * phase 1 distinct contacts (conversations)       [2000]
  ATENDE_BENCH_TURNS             * phase 2 conversations (one AI turn each)        [5000]
  ATENDE_BENCH_RATE              phase 3 messages per second                       [1000]
  ATENDE_BENCH_LATENCY_SECONDS   * phase 3 duration in seconds (at least 1)        [5]
  ATENDE_BENCH_IDLE              * phase 4 idle live conversations                 [20000]
  ATENDE_BENCH_CONCURRENCY       requests in flight in phases 1, 2 and 4           [128]
  ATENDE_BENCH_TIMEOUT_SECONDS   longest wait of any one step before giving up     [600]
  ATENDE_BENCH_LOG               engine log level (e.g. warn); unset = silent
  ATENDE_BENCH_STATEMENTS        N: time every SQL statement, print the top N shapes
                                 by total time at the end of each phase     [off]
  ATENDE__SECTION__KEY           engine settings, as for `atende serve` (e.g.
                                 ATENDE__DATABASE__STORE_THREADS=4)

The engine runs with config/default.toml (production defaults: one HTTP worker per core,
SQLite synchronous=FULL) plus: loopback outbound targets allowed and, outside the memory
phase, a larger event buffer (engine.event_buffer=262144) so the bench's listener never lags.
Each phase runs in its own child process on its own fresh database.
";

// ---------------------------------------------------------------------------------------------
// Configuration

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Ingest,
    Turns,
    Latency,
    Memory,
}

impl Phase {
    const ALL: [Phase; 4] = [Phase::Ingest, Phase::Turns, Phase::Latency, Phase::Memory];

    fn name(self) -> &'static str {
        match self {
            Phase::Ingest => "ingest",
            Phase::Turns => "turns",
            Phase::Latency => "latency",
            Phase::Memory => "memory",
        }
    }

    fn parse(raw: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == raw.trim())
    }
}

#[derive(Clone, Debug)]
struct Config {
    backend: String,
    scale: f64,
    phases: Vec<Phase>,
    ingest_messages: usize,
    ingest_contacts: usize,
    turns: usize,
    rate: u64,
    latency_seconds: f64,
    idle: usize,
    concurrency: usize,
    timeout: Duration,
}

fn env_or<T: FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(raw) if !raw.trim().is_empty() => raw
            .trim()
            .parse()
            .map_err(|_| anyhow!("{name}={raw:?} is not a valid value (see --help)")),
        _ => Ok(default),
    }
}

fn scaled(name: &str, base: usize, scale: f64) -> anyhow::Result<usize> {
    let default = ((base as f64 * scale).round() as usize).max(1);
    Ok(env_or(name, default)?.max(1))
}

impl Config {
    fn from_env() -> anyhow::Result<Config> {
        let backend: String = env_or("ATENDE_BENCH_DATABASE", "sqlite".to_string())?;
        if backend != "sqlite" && backend != "postgres" {
            bail!("ATENDE_BENCH_DATABASE must be sqlite or postgres, not {backend:?}");
        }
        let scale: f64 = env_or("ATENDE_BENCH_SCALE", 1.0)?;
        if !(scale.is_finite() && scale > 0.0) {
            bail!("ATENDE_BENCH_SCALE must be a positive number");
        }
        let phases = match std::env::var("ATENDE_BENCH_PHASES") {
            Ok(raw) if !raw.trim().is_empty() => raw
                .split(',')
                .map(|p| {
                    Phase::parse(p).ok_or_else(|| {
                        anyhow!("unknown phase {p:?}; use ingest, turns, latency, memory")
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
            _ => Phase::ALL.to_vec(),
        };
        Ok(Config {
            backend,
            scale,
            phases,
            ingest_messages: scaled("ATENDE_BENCH_INGEST_MESSAGES", 20_000, scale)?,
            ingest_contacts: scaled("ATENDE_BENCH_INGEST_CONTACTS", 2_000, scale)?,
            turns: scaled("ATENDE_BENCH_TURNS", 5_000, scale)?,
            rate: env_or("ATENDE_BENCH_RATE", 1_000u64)?.max(1),
            latency_seconds: env_or("ATENDE_BENCH_LATENCY_SECONDS", (5.0 * scale).max(1.0))?
                .max(0.1),
            idle: scaled("ATENDE_BENCH_IDLE", 20_000, scale)?,
            concurrency: env_or("ATENDE_BENCH_CONCURRENCY", 128usize)?.max(1),
            timeout: Duration::from_secs(env_or("ATENDE_BENCH_TIMEOUT_SECONDS", 600u64)?.max(1)),
        })
    }

    fn latency_messages(&self) -> usize {
        ((self.rate as f64 * self.latency_seconds).round() as usize).max(1)
    }
}

/// What a child reports to the parent.
#[derive(Debug, Serialize, Deserialize)]
struct PhaseResult {
    phase: String,
    /// One line for the summary block.
    summary: String,
    /// The engine settings that matter for the numbers.
    engine: String,
    ok: bool,
}

// ---------------------------------------------------------------------------------------------
// Entry point: the parent runs each phase in a child process and prints the summary.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{HELP}");
        return;
    }
    // `cargo test --benches` / nextest list or run bench targets without `--bench`: the load
    // test is not a unit test, so say so and succeed.
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        println!("engine_load: not run in test mode; use `cargo bench --bench engine_load`");
        return;
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("engine_load: {e:#}");
            std::process::exit(2);
        }
    };
    // tests/support/app.rs picks the backend and the admin URL from these.
    std::env::set_var("ATENDE_TEST_DATABASE", &config.backend);
    if let Ok(url) = std::env::var("ATENDE_BENCH_POSTGRES_URL") {
        std::env::set_var("ATENDE_TEST_POSTGRES_URL", url);
    }
    let code = match std::env::var(CHILD_ENV).ok().and_then(|p| Phase::parse(&p)) {
        Some(phase) => run_child(&config, phase),
        None => run_parent(&config),
    };
    std::process::exit(code);
}

fn run_parent(config: &Config) -> i32 {
    let command = command_line();
    println!("engine_load on {} — {command}", config.backend);
    println!(
        "sizes (scale {}): ingest {} msgs / {} contacts · turns {} · latency {}/s for {:.1} s · idle {} · concurrency {}",
        config.scale,
        config.ingest_messages,
        config.ingest_contacts,
        config.turns,
        config.rate,
        config.latency_seconds,
        config.idle,
        config.concurrency
    );
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("engine_load: cannot find own executable: {e}");
            return 1;
        }
    };
    let mut results = Vec::new();
    let mut failed = false;
    for phase in &config.phases {
        println!("\n--- phase {} ---", phase.name());
        // Setup plus up to three bounded waits, plus slack; the child stops itself long before.
        let deadline = Instant::now() + config.timeout * 4 + Duration::from_secs(120);
        match run_phase_process(&exe, *phase, deadline) {
            Ok(Some(result)) => {
                failed |= !result.ok;
                results.push(result);
            }
            Ok(None) => {
                failed = true;
                results.push(PhaseResult {
                    phase: phase.name().into(),
                    summary: format!("{:<18} FAILED (see output above)", phase.name()),
                    engine: String::new(),
                    ok: false,
                });
            }
            Err(e) => {
                eprintln!("engine_load: phase {}: {e:#}", phase.name());
                failed = true;
            }
        }
    }

    println!("\n==== engine_load summary (paste into README) ====");
    println!("```text");
    println!("{:<18} {}", "backend", config.backend);
    println!(
        "{:<18} {} cores available to the process; load generator in the same process",
        "machine",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if let Some(engine) = results.iter().find(|r| !r.engine.is_empty()) {
        println!("{:<18} {}", "engine", engine.engine);
    }
    for result in &results {
        println!("{}", result.summary);
    }
    println!("{:<18} {command}", "command");
    println!("```");
    i32::from(failed)
}

/// Runs one phase in a child process, forwarding its output; kills it past `deadline`.
fn run_phase_process(
    exe: &std::path::Path,
    phase: Phase,
    deadline: Instant,
) -> anyhow::Result<Option<PhaseResult>> {
    let mut child = Command::new(exe)
        .arg("--bench")
        .env(CHILD_ENV, phase.name())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start phase process")?;
    let stdout = child.stdout.take().context("child stdout")?;
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut result = None;
    let mut handle = |line: String| match line.strip_prefix(RESULT_PREFIX) {
        Some(json) => match serde_json::from_str::<PhaseResult>(json) {
            Ok(parsed) => result = Some(parsed),
            Err(e) => eprintln!("engine_load: unreadable phase result: {e}"),
        },
        None => println!("{line}"),
    };
    let status = loop {
        match lines_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => handle(line),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                // Output closed: the child is exiting.
                break child.wait().context("wait for phase process")?;
            }
        }
        if Instant::now() > deadline {
            eprintln!(
                "engine_load: phase {} overran its deadline; killing it",
                phase.name()
            );
            let _ = child.kill();
            break child.wait().context("wait for phase process")?;
        }
    };
    let _ = reader.join();
    while let Ok(line) = lines_rx.try_recv() {
        handle(line);
    }
    if !status.success() {
        eprintln!("engine_load: phase {} exited with {status}", phase.name());
    }
    Ok(result)
}

/// The command that reproduces this run: the ATENDE_BENCH_* and ATENDE__* variables set.
fn command_line() -> String {
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| {
            (k.starts_with("ATENDE_BENCH_") && k != CHILD_ENV) || k.starts_with("ATENDE__")
        })
        .collect();
    vars.sort();
    let mut parts: Vec<String> = vars.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.push("cargo bench --bench engine_load".into());
    parts.join(" ")
}

// ---------------------------------------------------------------------------------------------
// A child: one phase on a fresh database.

fn run_child(config: &Config, phase: Phase) -> i32 {
    let db = app::TestDb::create();
    let url = db.url();
    let statements_wanted = statements::wanted();
    if statements_wanted.is_some() {
        statements::install();
    }
    let outcome = actix_web::rt::System::new().block_on(async {
        let harness = Harness::start(&url, config, phase).await?;
        let (summary, ok) = match phase {
            Phase::Ingest => ingest(&harness).await?,
            Phase::Turns => turns(&harness).await?,
            Phase::Latency => latency(&harness).await?,
            Phase::Memory => memory(&harness).await?,
        };
        if let Some(n) = statements_wanted {
            eprint!("{}", statements::report(n));
        }
        anyhow::Ok(PhaseResult {
            phase: phase.name().into(),
            summary,
            engine: harness.engine_summary.clone(),
            ok,
        })
    });
    let code = match outcome {
        Ok(result) => match serde_json::to_string(&result) {
            Ok(json) => {
                println!("{RESULT_PREFIX}{json}");
                i32::from(!result.ok)
            }
            Err(e) => {
                eprintln!("engine_load: {e}");
                1
            }
        },
        Err(e) => {
            eprintln!("engine_load: phase {} failed: {e:#}", phase.name());
            1
        }
    };
    // Drops the PostgreSQL database (WITH FORCE, the engine's pool is still open) or the
    // SQLite directory; `process::exit` would skip it.
    drop(db);
    code
}

struct Harness {
    config: Config,
    base: String,
    /// The phase's own database, for the storage-limit loop.
    db_url: String,
    engine: Engine,
    /// For set-up calls, on the actix runtime; the load generator has its own client.
    http: reqwest::Client,
    token: String,
    engine_summary: String,
}

fn http_client(pool: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(pool)
        .timeout(Duration::from_secs(120))
        .build()?)
}

impl Harness {
    async fn start(db_url: &str, config: &Config, phase: Phase) -> anyhow::Result<Harness> {
        let log = std::env::var("ATENDE_BENCH_LOG")
            .ok()
            .filter(|l| !l.is_empty());
        let mut overrides: Vec<(&str, &str)> = vec![
            ("server.host", "127.0.0.1"),
            ("server.port", "0"),
            ("database.url", db_url),
            ("bootstrap.tenant", "bench"),
            ("bootstrap.admin_email", ADMIN_EMAIL),
            ("bootstrap.admin_password", ADMIN_PASSWORD),
            // The outbound receiver is on loopback.
            ("outbound.allow_private_targets", "true"),
            // The bench's own secrets: the built-in development ones are refused outside
            // development and test (issue 12, finding 8).
            (
                "auth.jwt_secret",
                "engine-load-bench-jwt-secret-0123456789abcdef",
            ),
            (
                "secrets.encryption_key",
                "engine-load-bench-encryption-key-0123456789",
            ),
        ];
        // The turns and latency phases follow every event (~4 per conversation, 4,000/s at
        // 1,000 msg/s). Not the memory phase: a ring that large would keep every event of
        // every new conversation alive and count it as the conversations' memory.
        if phase != Phase::Memory {
            overrides.push(("engine.event_buffer", "262144"));
        }
        if let Some(level) = &log {
            overrides.push(("log.level", level));
        }
        // No config/bench.toml exists: config/default.toml, then ATENDE__* variables, then
        // the overrides above.
        let settings = Settings::load_from(app::config_dir(), "bench", true, &overrides)
            .context("engine settings")?;
        if log.is_some() {
            atende::telemetry::init(&settings.log);
        }
        let engine_summary = format!(
            "http workers {} · store threads {} · pool {} · writer batch ≤{} / {} ms{}",
            if settings.server.workers == 0 {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            } else {
                settings.server.workers
            },
            settings.database.store_threads,
            settings.database.pool_size,
            settings.engine.batch_max_messages,
            settings.engine.batch_max_wait_ms,
            if config.backend == "sqlite" {
                format!(
                    " · sqlite synchronous={}",
                    settings.database.sqlite_synchronous
                )
            } else {
                String::new()
            }
        );
        let application = Application::build(settings)
            .await
            .context("application starts")?;
        let port = application.port();
        let engine = application.engine().clone();
        actix_web::rt::spawn(application.run_until_stopped());
        let http = http_client(16)?;
        let base = format!("http://127.0.0.1:{port}");
        let response = http
            .post(format!("{base}/api/v1/auth/token"))
            .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("login failed: {status} {body}");
        }
        let token = body["token"]
            .as_str()
            .context("login answer has no token")?
            .to_string();
        Ok(Harness {
            config: config.clone(),
            db_url: db_url.to_string(),
            base,
            engine,
            http,
            token,
            engine_summary,
        })
    }

    async fn create(&self, path: &str, body: &Value) -> anyhow::Result<String> {
        let response = self
            .http
            .post(format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let created: Value = response.json().await.unwrap_or(Value::Null);
        if status != reqwest::StatusCode::CREATED {
            bail!("POST /api/v1{path}: {status} {created}");
        }
        Ok(created["id"]
            .as_str()
            .with_context(|| format!("POST /api/v1{path}: no id in {created}"))?
            .to_string())
    }

    /// An AI agent answering through the scripted LLM, without limits that could bind.
    async fn ai_agent(
        &self,
        llm: &ScriptedLlm,
        max_conversations: usize,
    ) -> anyhow::Result<String> {
        self.create(
            "/agents",
            &json!({
                "name": "Bench bot",
                "model": "gpt-4o-mini",
                "system_prompt": "You are a helpful contact-center agent.",
                "max_tokens": 100,
                "max_conversations": max_conversations.min(1_000_000),
                "provider": {"kind": "openai", "base_url": llm.base_url, "api_key": "sk-bench-key"},
                "settings": {"context_timer_seconds": 0},
            }),
        )
        .await
    }

    /// A generic integration; returns its inbound webhook URL.
    async fn integration(
        &self,
        name: &str,
        default_agent: Option<&str>,
        outbound_url: Option<&str>,
    ) -> anyhow::Result<String> {
        let id = self
            .create(
                "/integrations",
                &json!({
                    "kind": "generic",
                    "name": name,
                    "secret": SECRET,
                    "default_agent_id": default_agent,
                    "outbound_url": outbound_url,
                }),
            )
            .await?;
        Ok(format!("{}/webhooks/generic/{id}", self.base))
    }

    async fn live_count(&self) -> usize {
        self.engine.registry.send(LiveCount).await.unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------------------------
// Load generation

/// Runs `job` on its own thread and current-thread runtime, so that the generator does not
/// compete with the engine's actors for the actix system arbiter.
async fn on_load_thread<T, F, Fut>(job: F) -> anyhow::Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("bench-load".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("load generator runtime");
            let _ = tx.send(runtime.block_on(job()));
        })
        .context("start load generator thread")?;
    rx.await.context("load generator thread died")
}

#[derive(Debug, Deserialize)]
struct Accepted {
    conversation_id: String,
    duplicate: bool,
}

/// One signed generic webhook.
fn webhook(
    client: &reqwest::Client,
    url: &str,
    contact: &str,
    external_id: &str,
    text: &str,
) -> reqwest::RequestBuilder {
    let body = json!({
        "contact": {"external_id": contact, "name": format!("Customer {contact}")},
        "message": {"external_id": external_id, "text": text},
    })
    .to_string();
    let signature = atende::channels::signature::sign(SECRET.as_bytes(), body.as_bytes());
    client
        .post(url)
        .header("content-type", "application/json")
        .header("X-Atende-Signature", signature)
        .body(body)
}

async fn accepted(request: reqwest::RequestBuilder) -> Result<Accepted, String> {
    let response = request.send().await.map_err(|e| format!("send: {e}"))?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| format!("body: {e}"))?;
    if status != reqwest::StatusCode::ACCEPTED {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
    }
    let accepted: Accepted =
        serde_json::from_slice(&bytes).map_err(|e| format!("202 body unreadable: {e}"))?;
    if accepted.duplicate {
        return Err("acknowledged as a duplicate".into());
    }
    Ok(accepted)
}

/// What a closed-loop burst came to.
struct Burst {
    elapsed: Duration,
    ok: usize,
    failed: usize,
    first_error: Option<String>,
    conversations: HashSet<String>,
}

impl Burst {
    fn errors(&self) -> String {
        match &self.first_error {
            Some(e) => format!("{} failed, first: {e}", self.failed),
            None => "0 failed".into(),
        }
    }
}

/// Whether a burst keeps the conversation ids it was answered with (the memory phase does not:
/// they would be counted as the engine's memory).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Collect {
    Conversations,
    Nothing,
}

/// `count` webhooks with at most `concurrency` in flight; message `i` is `make(i)` =
/// (contact external id, message external id, text).
fn burst<M>(
    url: String,
    count: usize,
    concurrency: usize,
    collect: Collect,
    make: M,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<Burst>>>> + Send
where
    M: Fn(usize) -> (String, String, String) + Send + 'static,
{
    move || {
        Box::pin(async move {
            let client = http_client(concurrency)?;
            let started = Instant::now();
            let mut replies = futures::stream::iter(0..count)
                .map(|i| {
                    let (contact, external_id, text) = make(i);
                    accepted(webhook(&client, &url, &contact, &external_id, &text))
                })
                .buffer_unordered(concurrency);
            let mut result = Burst {
                elapsed: Duration::ZERO,
                ok: 0,
                failed: 0,
                first_error: None,
                conversations: HashSet::new(),
            };
            while let Some(reply) = replies.next().await {
                match reply {
                    Ok(accepted) => {
                        result.ok += 1;
                        if collect == Collect::Conversations {
                            result.conversations.insert(accepted.conversation_id);
                        }
                    }
                    Err(e) => {
                        result.failed += 1;
                        result.first_error.get_or_insert(e);
                    }
                }
            }
            result.elapsed = started.elapsed();
            Ok(result)
        })
    }
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// Polls `check` every 10 ms until it holds or `timeout` passes; returns whether it held.
async fn wait_until<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// The outbound receiver: the generic integration's `outbound_url`, counting deliveries.

#[derive(Default)]
struct ReceiverState {
    posts: AtomicUsize,
    messages: Mutex<HashSet<String>>,
    target: AtomicUsize,
    reached_at: Mutex<Option<Instant>>,
}

struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
    _server: actix_web::dev::ServerHandle,
}

impl Receiver {
    async fn start() -> anyhow::Result<Receiver> {
        let state = Arc::new(ReceiverState::default());
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/outbound", web::post().to(receive))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)?
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Ok(Receiver {
            url: format!("http://{addr}/outbound"),
            state,
            _server: handle,
        })
    }

    fn expect(&self, count: usize) {
        self.state.target.store(count, Ordering::SeqCst);
    }

    fn distinct(&self) -> usize {
        lock(&self.state.messages).len()
    }

    fn reached_at(&self) -> Option<Instant> {
        *lock(&self.state.reached_at)
    }
}

async fn receive(body: web::Bytes, state: web::Data<Arc<ReceiverState>>) -> HttpResponse {
    state.posts.fetch_add(1, Ordering::SeqCst);
    let id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["message"]["id"].as_str().map(str::to_string));
    if let Some(id) = id {
        let mut seen = lock(&state.messages);
        if seen.insert(id) && seen.len() == state.target.load(Ordering::SeqCst) {
            *lock(&state.reached_at) = Some(Instant::now());
        }
    }
    HttpResponse::Ok().finish()
}

// ---------------------------------------------------------------------------------------------
// Phase 1: ingest

async fn ingest(h: &Harness) -> anyhow::Result<(String, bool)> {
    let c = &h.config;
    // No default agent: messages are stored and the conversations queue for a human, so this
    // measures the durable path (HTTP, HMAC, group commit) alone.
    let url = h.integration("bench-ingest", None, None).await?;
    let (n, contacts) = (c.ingest_messages, c.ingest_contacts);
    println!(
        "ingest: {n} webhooks over {contacts} contacts, {} in flight…",
        c.concurrency
    );
    let result = on_load_thread(burst(
        url,
        n,
        c.concurrency,
        Collect::Conversations,
        move |i| {
            (
                format!("ingest-contact-{}", i % contacts),
                format!("ingest-msg-{i}"),
                format!("message {i} from the ingest phase"),
            )
        },
    ))
    .await??;
    let rate = per_second(result.ok, result.elapsed);
    println!(
        "ingest: {} acknowledged 202 (durable) in {:.2} s = {rate:.0} msg/s sustained; {} conversations; {}",
        result.ok,
        result.elapsed.as_secs_f64(),
        result.conversations.len(),
        result.errors()
    );
    // The machine's limits, measured now on the same database and the same generator.
    let storage = storage_limit(&h.db_url, n).await?;
    println!(
        "ingest: storage limit: a bare diesel loop wrote {n} rows in {}-row transactions at {storage:.0} rows/s",
        RAW_BATCH_ROWS
    );
    let http_limit = http_limit(n, c.concurrency).await?;
    println!(
        "ingest: HTTP limit: the same generator against a no-op actix route: {http_limit:.0} requests/s"
    );
    let summary = format!(
        "{:<18} {rate:.0} msg/s — {} webhooks over {} contacts acknowledged 202 durable in {:.2} s, {} in flight, {}\n\
         {:<18} storage limit {storage:.0} rows/s ({RAW_BATCH_ROWS}-row commits, bare diesel): engine at {:.0} %; \
         HTTP limit {http_limit:.0} req/s (no-op actix route): engine at {:.0} %",
        "ingest",
        result.ok,
        result.conversations.len(),
        result.elapsed.as_secs_f64(),
        c.concurrency,
        result.errors(),
        "",
        100.0 * rate / storage.max(1.0),
        100.0 * rate / http_limit.max(1.0),
    );
    Ok((summary, result.failed == 0))
}

/// Rows per transaction of the storage-limit loop (the engine's writer batches too).
const RAW_BATCH_ROWS: usize = 100;

/// The storage limit: `rows` message-sized rows written by a bare diesel loop, in
/// `RAW_BATCH_ROWS`-row transactions of multi-row inserts, on the phase's own database with
/// the engine's durability settings (SQLite WAL, synchronous=FULL). What the engine's ingest
/// would reach if it did nothing but store.
async fn storage_limit(db_url: &str, rows: usize) -> anyhow::Result<f64> {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let url = db_url.to_string();
    let body = "x".repeat(40);
    actix_web::rt::task::spawn_blocking(move || -> anyhow::Result<f64> {
        let statements = (0..rows.div_ceil(RAW_BATCH_ROWS)).map(|batch| {
            let values: Vec<String> = (0..RAW_BATCH_ROWS)
                .map(|i| batch * RAW_BATCH_ROWS + i)
                .filter(|i| *i < rows)
                .map(|i| format!("('raw-{i}', 'conversation-{}', {i}, '{body} {i}')", i % 500))
                .collect();
            format!(
                "BEGIN; INSERT INTO bench_raw (id, conversation_id, seq, content) VALUES {}; COMMIT;",
                values.join(", ")
            )
        });
        let statements: Vec<String> = statements.collect();
        const CREATE: &str = "CREATE TABLE bench_raw (id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, \
             seq BIGINT NOT NULL, content TEXT NOT NULL)";
        let started;
        match url.strip_prefix("sqlite://") {
            Some(path) => {
                let mut conn = diesel::SqliteConnection::establish(path)?;
                conn.batch_execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")?;
                conn.batch_execute(CREATE)?;
                started = Instant::now();
                for statement in &statements {
                    conn.batch_execute(statement)?;
                }
            }
            None => {
                let mut conn = diesel::PgConnection::establish(&url)?;
                conn.batch_execute(CREATE)?;
                started = Instant::now();
                for statement in &statements {
                    conn.batch_execute(statement)?;
                }
            }
        }
        Ok(per_second(rows, started.elapsed()))
    })
    .await?
}

async fn no_op(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Accepted().json(json!({"conversation_id": "none", "duplicate": false}))
}

/// The HTTP limit: the ingest generator (same requests, signatures, concurrency) against a
/// no-op actix route with as many workers as the engine's server.
async fn http_limit(count: usize, concurrency: usize) -> anyhow::Result<f64> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let server = HttpServer::new(|| App::new().default_service(web::to(no_op)))
        .workers(workers)
        .bind(("127.0.0.1", 0))?;
    let url = format!(
        "http://127.0.0.1:{}/webhooks/generic/none",
        server.addrs()[0].port()
    );
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let result = on_load_thread(burst(url, count, concurrency, Collect::Nothing, |i| {
        (
            format!("ingest-contact-{}", i % 500),
            format!("ingest-msg-{i}"),
            format!("message {i} from the ingest phase"),
        )
    }))
    .await??;
    handle.stop(true).await;
    Ok(per_second(result.ok, result.elapsed))
}

// ---------------------------------------------------------------------------------------------
// Phase 2: complete AI turns

async fn turns(h: &Harness) -> anyhow::Result<(String, bool)> {
    let c = &h.config;
    let m = c.turns;
    let llm = ScriptedLlm::start().await;
    let receiver = Receiver::start().await?;
    let agent = h.ai_agent(&llm, m + 1_000).await?;
    let url = h
        .integration("bench-turns", Some(&agent), Some(&receiver.url))
        .await?;
    receiver.expect(m);
    println!(
        "turns: {m} new conversations, one message each, {} in flight…",
        c.concurrency
    );
    let events = listen_for_replies(&h.engine);
    let started = Instant::now();
    let sent = on_load_thread(burst(url, m, c.concurrency, Collect::Conversations, |i| {
        (
            format!("turn-contact-{i}"),
            format!("turn-msg-{i}"),
            format!("hello, this is customer {i}"),
        )
    }))
    .await??;
    println!(
        "turns: webhooks acknowledged in {:.2} s ({:.0}/s), {}; waiting for the replies…",
        sent.elapsed.as_secs_f64(),
        per_second(sent.ok, sent.elapsed),
        sent.errors()
    );
    let expected = sent.ok;
    receiver.expect(expected);
    let complete = wait_until(c.timeout, || async { receiver.distinct() >= expected }).await;
    let end = receiver.reached_at().unwrap_or_else(Instant::now);
    let delivered = receiver.distinct();
    let elapsed = end.saturating_duration_since(started);
    let rate = per_second(delivered, elapsed);
    println!(
        "turns: {delivered}/{expected} replies received by the outbound receiver after {:.2} s = {rate:.0} complete turns/s \
         (LLM requests {}, most in flight at once {}; receiver POSTs {}; live conversations {})",
        elapsed.as_secs_f64(),
        llm.request_count(),
        llm.max_in_flight(),
        receiver.state.posts.load(Ordering::SeqCst),
        h.live_count().await
    );
    // Where the time went: how fast the distributor handed the conversations to the agent.
    let (assigned, last_assigned) = {
        let assigned = lock(&events.assigned);
        (assigned.len(), assigned.values().max().copied())
    };
    if let Some(last) = last_assigned {
        let span = last.saturating_duration_since(started);
        println!(
            "turns: distributor assigned {assigned} conversations, the last {:.2} s after the first webhook ({:.0} assignments/s)",
            span.as_secs_f64(),
            per_second(assigned, span)
        );
    }
    let mut summary = format!(
        "{:<18} {rate:.0} turns/s — {delivered} conversations inbound → LLM (0 ms) → reply stored → outbound POST received, in {:.2} s",
        "complete AI turns",
        elapsed.as_secs_f64()
    );
    if !complete {
        summary.push_str(&format!(
            " — INCOMPLETE: {delivered}/{expected} within {} s",
            c.timeout.as_secs()
        ));
    }
    if sent.failed > 0 {
        summary.push_str(&format!(", webhooks {}", sent.errors()));
    }
    Ok((summary, complete && sent.failed == 0))
}

// ---------------------------------------------------------------------------------------------
// Phase 3: latency at a fixed rate

/// When the engine told each conversation's story, by conversation id: its assignment
/// (`conversation_assigned`) and its first AI reply (`message_sent` by `ai_agent`).
#[derive(Default)]
struct Replies {
    at: Mutex<HashMap<String, Instant>>,
    assigned: Mutex<HashMap<String, Instant>>,
    lagged: AtomicUsize,
}

fn listen_for_replies(engine: &Engine) -> Arc<Replies> {
    let replies = Arc::new(Replies::default());
    let mut events = engine.parts.events.subscribe();
    let sink = replies.clone();
    actix_web::rt::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    let now = Instant::now();
                    let Some(id) = event.conversation_id else {
                        continue;
                    };
                    if matches!(
                        event.event,
                        EngineEvent::MessageSent {
                            sender_type: SenderType::AiAgent,
                            ..
                        }
                    ) {
                        lock(&sink.at).entry(id.to_string()).or_insert(now);
                    } else if matches!(event.event, EngineEvent::ConversationAssigned { .. }) {
                        lock(&sink.assigned).entry(id.to_string()).or_insert(now);
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    sink.lagged
                        .fetch_add(usize::try_from(n).unwrap_or(usize::MAX), Ordering::SeqCst);
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
    replies
}

struct Sent {
    index: usize,
    at: Instant,
    reply: Result<Accepted, String>,
}

struct OpenLoop {
    sent: Vec<Sent>,
    elapsed: Duration,
    /// Times the in-flight cap held the schedule back.
    throttled: usize,
}

/// Messages `0..count` at `rate` per second on a fixed schedule (open loop: a slow answer
/// does not delay the next send), at most `max_in_flight` unanswered.
fn open_loop(
    url: String,
    count: usize,
    rate: u64,
    max_in_flight: usize,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<OpenLoop>>>> + Send {
    move || {
        Box::pin(async move {
            let client = http_client(max_in_flight)?;
            let permits = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
            let period = Duration::from_secs_f64(1.0 / rate as f64);
            let mut tasks = tokio::task::JoinSet::new();
            let mut throttled = 0;
            let start = tokio::time::Instant::now() + Duration::from_millis(20);
            let first = Instant::now() + Duration::from_millis(20);
            for i in 0..count {
                tokio::time::sleep_until(start + period.mul_f64(i as f64)).await;
                let permit = match permits.clone().try_acquire_owned() {
                    Ok(permit) => permit,
                    Err(_) => {
                        throttled += 1;
                        permits.clone().acquire_owned().await?
                    }
                };
                let request = webhook(
                    &client,
                    &url,
                    &format!("lat-contact-{i}"),
                    &format!("lat-msg-{i}"),
                    &format!("bench-lat-{i} when do you open?"),
                );
                tasks.spawn(async move {
                    let at = Instant::now();
                    let reply = accepted(request).await;
                    drop(permit);
                    Sent {
                        index: i,
                        at,
                        reply,
                    }
                });
            }
            let elapsed = first.elapsed();
            let mut sent = Vec::with_capacity(count);
            while let Some(done) = tasks.join_next().await {
                sent.push(done?);
            }
            Ok(OpenLoop {
                sent,
                elapsed,
                throttled,
            })
        })
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The message index a prompt was built from (`bench-lat-<i>` in the customer's text).
fn latency_index(text: &str) -> Option<usize> {
    let rest = &text[text.find("bench-lat-")? + "bench-lat-".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

async fn latency(h: &Harness) -> anyhow::Result<(String, bool)> {
    let c = &h.config;
    let total = c.latency_messages();
    let warmup = 100usize;
    let llm = ScriptedLlm::start().await;
    let receiver = Receiver::start().await?;
    let agent = h.ai_agent(&llm, total + warmup + 1_000).await?;
    let url = h
        .integration("bench-latency", Some(&agent), Some(&receiver.url))
        .await?;
    let replies = listen_for_replies(&h.engine);

    // Warm-up (not measured): agent supervisor, provider connections, store caches.
    let warm = on_load_thread(burst(
        url.clone(),
        warmup,
        16,
        Collect::Conversations,
        |i| {
            (
                format!("warm-contact-{i}"),
                format!("warm-msg-{i}"),
                format!("warm-up {i}"),
            )
        },
    ))
    .await??;
    let warmed = wait_until(c.timeout, || async {
        lock(&replies.at).len() >= warm.conversations.len()
    })
    .await;
    if !warmed || warm.failed > 0 {
        bail!(
            "warm-up did not complete: {} replies for {} conversations, {}",
            lock(&replies.at).len(),
            warm.conversations.len(),
            warm.errors()
        );
    }
    let llm_before = llm.request_count();

    println!(
        "latency: {total} new conversations at {}/s for {:.1} s (open loop)…",
        c.rate, c.latency_seconds
    );
    let run = on_load_thread(open_loop(url, total, c.rate, 4_096)).await??;
    let acked: Vec<&Sent> = run.sent.iter().filter(|s| s.reply.is_ok()).collect();
    let failed = run.sent.len() - acked.len();
    let first_error = run
        .sent
        .iter()
        .find_map(|s| s.reply.as_ref().err().cloned());
    let expected: HashSet<String> = acked
        .iter()
        .filter_map(|s| s.reply.as_ref().ok().map(|a| a.conversation_id.clone()))
        .collect();
    let all_replied = wait_until(c.timeout, || async {
        let at = lock(&replies.at);
        expected.iter().all(|id| at.contains_key(id))
    })
    .await;

    // LLM time per message, from the scripted server's log.
    let mut llm_time: HashMap<usize, (Instant, Instant)> = HashMap::new();
    for request in llm.requests().into_iter().skip(llm_before) {
        let (Some(text), Some(finished)) = (request.last_user_message(), request.finished_at)
        else {
            continue;
        };
        if let Some(i) = latency_index(&text) {
            llm_time.insert(i, (request.started_at, finished));
        }
    }
    let reply_at = lock(&replies.at).clone();
    let assigned_at = lock(&replies.assigned).clone();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut engine_ms = Vec::with_capacity(acked.len());
    let mut total_ms = Vec::with_capacity(acked.len());
    let mut llm_ms = Vec::with_capacity(acked.len());
    // The engine's share split in three: until the conversation is assigned, from the
    // assignment to the LLM request, from the LLM answer to the reply event.
    let (mut to_assigned, mut to_llm, mut to_reply) = (Vec::new(), Vec::new(), Vec::new());
    let mut unmatched = 0;
    for sent in &acked {
        let Ok(accepted) = &sent.reply else { continue };
        let Some(at) = reply_at.get(&accepted.conversation_id) else {
            continue;
        };
        let Some(&(llm_start, llm_end)) = llm_time.get(&sent.index) else {
            unmatched += 1;
            continue;
        };
        let in_llm = llm_end.saturating_duration_since(llm_start);
        let end_to_end = at.saturating_duration_since(sent.at);
        total_ms.push(ms(end_to_end));
        llm_ms.push(ms(in_llm));
        engine_ms.push(ms(end_to_end.saturating_sub(in_llm)));
        if let Some(assigned) = assigned_at.get(&accepted.conversation_id) {
            to_assigned.push(ms(assigned.saturating_duration_since(sent.at)));
            to_llm.push(ms(llm_start.saturating_duration_since(*assigned)));
        }
        to_reply.push(ms(at.saturating_duration_since(llm_end)));
    }
    for v in [
        &mut engine_ms,
        &mut total_ms,
        &mut llm_ms,
        &mut to_assigned,
        &mut to_llm,
        &mut to_reply,
    ] {
        v.sort_by(f64::total_cmp);
    }
    let missing = acked.len() - engine_ms.len() - unmatched;
    let achieved = per_second(run.sent.len(), run.elapsed);
    let lagged = replies.lagged.load(Ordering::SeqCst);
    println!(
        "latency: sent {} in {:.2} s ({achieved:.0}/s; schedule held back {} times by the 4096 in-flight cap), {} failed{}",
        run.sent.len(),
        run.elapsed.as_secs_f64(),
        run.throttled,
        failed,
        first_error.map(|e| format!(" (first: {e})")).unwrap_or_default()
    );
    println!(
        "latency: engine (reply event − webhook sent − LLM time) p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} messages",
        percentile(&engine_ms, 50.0),
        percentile(&engine_ms, 99.0),
        engine_ms.last().copied().unwrap_or(f64::NAN),
        engine_ms.len()
    );
    println!(
        "latency: of which webhook sent → assigned p50 {:.1} / p99 {:.1} ms, assigned → LLM request p50 {:.1} / p99 {:.1} ms, \
         LLM answer → reply event p50 {:.1} / p99 {:.1} ms",
        percentile(&to_assigned, 50.0),
        percentile(&to_assigned, 99.0),
        percentile(&to_llm, 50.0),
        percentile(&to_llm, 99.0),
        percentile(&to_reply, 50.0),
        percentile(&to_reply, 99.0),
    );
    println!(
        "latency: end to end p50 {:.1} ms, p99 {:.1} ms; LLM server time p50 {:.2} ms, p99 {:.2} ms; \
         {missing} replies missing, {unmatched} without an LLM log entry, {lagged} events lost to lag",
        percentile(&total_ms, 50.0),
        percentile(&total_ms, 99.0),
        percentile(&llm_ms, 50.0),
        percentile(&llm_ms, 99.0),
    );
    let mut summary = format!(
        "{:<18} p50 {:.1} ms · p99 {:.1} ms · max {:.1} ms — engine time per message (LLM time subtracted), {} new conversations at {achieved:.0}/s for {:.1} s",
        "latency",
        percentile(&engine_ms, 50.0),
        percentile(&engine_ms, 99.0),
        engine_ms.last().copied().unwrap_or(f64::NAN),
        engine_ms.len(),
        run.elapsed.as_secs_f64()
    );
    if !all_replied || missing > 0 {
        summary.push_str(&format!(
            " — {missing} replies MISSING after {} s",
            c.timeout.as_secs()
        ));
    }
    if failed > 0 {
        summary.push_str(&format!(", {failed} webhooks failed"));
    }
    Ok((summary, all_replied && failed == 0 && missing == 0))
}

// ---------------------------------------------------------------------------------------------
// Phase 4: memory per idle live conversation

/// Resident set size of this process, in KiB.
fn rss_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("read /proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS in /proc/self/status")?;
    line.split_whitespace()
        .nth(1)
        .context("VmRSS line")?
        .parse()
        .context("VmRSS value")
}

/// Counts `message_received` events: published once a conversation actor has loaded its state
/// and taken the message.
fn count_received(engine: &Engine) -> (Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let received = Arc::new(AtomicUsize::new(0));
    let lagged = Arc::new(AtomicUsize::new(0));
    let mut events = engine.parts.events.subscribe();
    let (r, l) = (received.clone(), lagged.clone());
    actix_web::rt::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) if matches!(event.event, EngineEvent::MessageReceived { .. }) => {
                    r.fetch_add(1, Ordering::SeqCst);
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    l.fetch_add(usize::try_from(n).unwrap_or(usize::MAX), Ordering::SeqCst);
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
    (received, lagged)
}

async fn memory(h: &Harness) -> anyhow::Result<(String, bool)> {
    let c = &h.config;
    let k = c.idle;
    // No agent: each conversation's actor loads, takes the message, asks for an owner and
    // then sits idle (passivation only after engine.passivate_after_seconds).
    let url = h.integration("bench-idle", None, None).await?;
    let (received, lagged) = count_received(&h.engine);
    let settle = Duration::from_secs(1);

    // Warm-up (not measured): HTTP connections, pools, allocator arenas, store caches, and
    // the event ring (2 events per new conversation; 4,096 kept) filled to its bound.
    let warmup = 2_500;
    let warm = on_load_thread(burst(
        url.clone(),
        warmup,
        c.concurrency,
        Collect::Nothing,
        |i| {
            (
                format!("idle-warm-{i}"),
                format!("idle-warm-msg-{i}"),
                format!("warm-up {i}"),
            )
        },
    ))
    .await??;
    let base_live = warm.ok;
    wait_until(c.timeout, || async {
        received.load(Ordering::SeqCst) >= base_live && h.live_count().await >= base_live
    })
    .await;
    actix_web::rt::time::sleep(settle).await;
    let before = rss_kib()?;
    let live_before = h.live_count().await;

    println!(
        "memory: RSS {:.1} MiB with {live_before} live conversations; creating {k} more idle ones…",
        before as f64 / 1024.0
    );
    let created = on_load_thread(burst(url, k, c.concurrency, Collect::Nothing, |i| {
        (
            format!("idle-contact-{i}"),
            format!("idle-msg-{i}"),
            format!("just saying hello {i}"),
        )
    }))
    .await??;
    let target = live_before + created.ok;
    let started = Instant::now();
    let all_live = wait_until(c.timeout, || async {
        h.live_count().await >= target
            && received.load(Ordering::SeqCst) + lagged.load(Ordering::SeqCst)
                >= base_live + created.ok
    })
    .await;
    let waited = started.elapsed();
    actix_web::rt::time::sleep(settle).await;
    let after = rss_kib()?;
    let live_after = h.live_count().await;
    let added = live_after.saturating_sub(live_before).max(1);
    let per = (after as f64 - before as f64) / added as f64;
    println!(
        "memory: {} webhooks acknowledged in {:.2} s ({:.0}/s), all loaded {:.2} s later; live {live_before} → {live_after}; \
         RSS {:.1} → {:.1} MiB = {per:.2} KiB per idle live conversation; {}",
        created.ok,
        created.elapsed.as_secs_f64(),
        per_second(created.ok, created.elapsed),
        waited.as_secs_f64(),
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        created.errors()
    );
    let mut summary = format!(
        "{:<18} {per:.2} KiB per idle live conversation — RSS {:.1} → {:.1} MiB for {added} more live conversations ({live_after} live)",
        "idle memory",
        before as f64 / 1024.0,
        after as f64 / 1024.0
    );
    if !all_live {
        summary.push_str(&format!(
            " — only {live_after} of {target} live after {} s",
            c.timeout.as_secs()
        ));
    }
    if created.failed > 0 {
        summary.push_str(&format!(", webhooks {}", created.errors()));
    }
    Ok((summary, all_live && created.failed == 0))
}
