//! `cargo bench --bench ws_load`: WebSocket capacity of one node.
//!
//! The engine runs in a child process (this same binary, re-executed), so its resident
//! memory is measured alone; the clients (tokio-tungstenite) run in this process and connect
//! over loopback from several source addresses (127.0.0.2, 127.0.0.3, …) so that no single
//! address pair runs out of ephemeral ports.
//!
//! 1. `idle`: C concurrent idle connections (staff sockets, answering the server's pings);
//!    memory per connection = (child RSS with C open − child RSS before) / C.
//! 2. `fanout`: N of those sockets subscribe to one conversation; M customer messages go in
//!    through the signed generic webhook (durable store writes); the time until every
//!    subscriber has every message gives delivered frames per second.
//!
//! Each process is capped at 20,000 open files here, and the client process holds one
//! descriptor per connection, so the default C is 19,000: the cap, not the engine, is the
//! limit. `--help` lists the environment variables.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

#[path = "common/ws_engine.rs"]
mod ws_engine;
use ws_engine::{env_usize, rss_kib};

const CHILD_ENV: &str = "ATENDE_WSBENCH_CHILD";
const ADMIN_EMAIL: &str = "admin@wsbench.test";
const ADMIN_PASSWORD: &str = "wsbench-admin-password";
const SECRET: &str = "wsbench-integration-secret";

const HELP: &str = "\
ws_load — WebSocket capacity benchmark of the Atende engine (loopback only)

usage: [VAR=value ...] cargo bench --bench ws_load [-- --help]

environment (defaults in brackets):
  ATENDE_WSBENCH_CONNECTIONS   idle connections held at once                 [19000]
  ATENDE_WSBENCH_SUBSCRIBERS   sockets following the fan-out conversation    [1000]
  ATENDE_WSBENCH_MESSAGES      messages fanned out to every subscriber       [2000]
  ATENDE_WSBENCH_INFLIGHT      webhooks in flight while injecting            [32]
  ATENDE_WSBENCH_SOURCES       client source addresses 127.0.0.2 …           [16]
  ATENDE_WSBENCH_WORKERS       HTTP workers of the engine (0 = one per core) [0]
  ATENDE__SECTION__KEY         engine settings, as for `atende serve`
";

fn main() {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        print!("{HELP}");
        return;
    }
    let result = if std::env::var(CHILD_ENV).is_ok() {
        child()
    } else {
        parent()
    };
    if let Err(e) = result {
        eprintln!("ws_load: {e:#}");
        std::process::exit(1);
    }
}

/// The engine under test (see `common::ws_engine::serve`).
fn child() -> anyhow::Result<()> {
    let workers = std::env::var("ATENDE_WSBENCH_WORKERS").unwrap_or_else(|_| "0".into());
    ws_engine::serve(&[
        ("server.workers", workers.as_str()),
        ("bootstrap.tenant", "wsbench"),
        ("bootstrap.admin_email", ADMIN_EMAIL),
        ("bootstrap.admin_password", ADMIN_PASSWORD),
        // A burst of M messages must fit a subscriber's queue while it catches up.
        ("realtime.outbound_queue_frames", "16384"),
        ("realtime.client_timeout_seconds", "120"),
        ("realtime.heartbeat_interval_seconds", "30"),
        ("outbound.allow_private_targets", "true"),
    ])
}

struct Conn {
    commands: mpsc::Sender<String>,
}

#[derive(Default)]
struct Counters {
    messages: AtomicU64,
    closed: AtomicUsize,
    connected: AtomicUsize,
}

fn parent() -> anyhow::Result<()> {
    let connections = env_usize("ATENDE_WSBENCH_CONNECTIONS", 19_000)?;
    let subscribers = env_usize("ATENDE_WSBENCH_SUBSCRIBERS", 1_000)?.min(connections);
    let messages = env_usize("ATENDE_WSBENCH_MESSAGES", 2_000)?;
    let inflight = env_usize("ATENDE_WSBENCH_INFLIGHT", 32)?.max(1);
    let sources = env_usize("ATENDE_WSBENCH_SOURCES", 16)?.clamp(1, 250);

    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start the engine process")?;
    let pid = child.id();
    let stdout = child.stdout.take().context("child stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let port: u16 = loop {
        let line = lines
            .next()
            .context("the engine exited before listening")??;
        if let Some(p) = line.strip_prefix("@@port ") {
            break p.trim().parse()?;
        }
    };
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run(
            port,
            pid,
            connections,
            subscribers,
            messages,
            inflight,
            sources,
        ));
    drop(child.stdin.take());
    let _ = child.wait();
    result
}

#[allow(clippy::too_many_arguments)]
async fn run(
    port: u16,
    pid: u32,
    connections: usize,
    subscribers: usize,
    messages: usize,
    inflight: usize,
    sources: usize,
) -> anyhow::Result<()> {
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"]
        .as_str()
        .context("login gave no token")?
        .to_string();
    let integration: Value = http
        .post(format!("{base}/api/v1/integrations"))
        .bearer_auth(&token)
        .json(&json!({"kind": "generic", "name": "bench", "secret": SECRET}))
        .send()
        .await?
        .json()
        .await?;
    let integration = integration["id"]
        .as_str()
        .context("no integration id")?
        .to_string();
    // Warm the engine up (store, writer, hub) before the baseline.
    let conversation = inject(&http, &base, &integration, "warm-up").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = rss_kib(pid)?;

    // Phase 1: idle connections.
    println!("ws_load: opening {connections} connections from {sources} source addresses…");
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let mut conns: Vec<Conn> = Vec::with_capacity(connections);
    let semaphore = Arc::new(tokio::sync::Semaphore::new(256));
    let mut pending = futures::stream::FuturesOrdered::new();
    for i in 0..connections {
        let permit = semaphore.clone().acquire_owned().await?;
        let source = Ipv4Addr::new(127, 0, 0, u8::try_from(2 + i % sources).unwrap_or(2));
        let url = format!("ws://127.0.0.1:{port}/ws?token={token}");
        let counters = counters.clone();
        pending.push_back(tokio::spawn(async move {
            let conn = open(source, port, url, counters).await;
            drop(permit);
            conn
        }));
        while pending.len() > 512 {
            if let Some(done) = pending.next().await {
                conns.push(done??);
            }
        }
    }
    while let Some(done) = pending.next().await {
        conns.push(done??);
    }
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held = counters.connected.load(Ordering::Relaxed) - counters.closed.load(Ordering::Relaxed);
    let with_conns = rss_kib(pid)?;
    let per_conn_kib = (with_conns.saturating_sub(baseline)) as f64 / held.max(1) as f64;
    println!(
        "ws_load: idle: {held} connections held ({connect_secs:.1} s to open), engine RSS {:.1} MiB → {:.1} MiB, {per_conn_kib:.2} KiB per connection",
        baseline as f64 / 1024.0,
        with_conns as f64 / 1024.0
    );
    if held < connections {
        bail!("only {held} of {connections} connections stayed open");
    }

    // Phase 2: fan-out.
    for conn in conns.iter().take(subscribers) {
        conn.commands
            .send(json!({"type": "subscribe", "conversation_id": conversation}).to_string())
            .await
            .map_err(|_| anyhow!("a subscriber connection ended"))?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    counters.messages.store(0, Ordering::Relaxed);
    let expected = (subscribers * messages) as u64;
    println!(
        "ws_load: fan-out: {messages} messages to {subscribers} subscribers ({expected} frames)…"
    );
    let started = Instant::now();
    let sent = Arc::new(AtomicUsize::new(0));
    let injectors: Vec<_> = (0..inflight)
        .map(|_| {
            let (http, base, integration, sent) = (
                http.clone(),
                base.clone(),
                integration.clone(),
                sent.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let n = sent.fetch_add(1, Ordering::Relaxed);
                    if n >= messages {
                        return Ok::<_, anyhow::Error>(());
                    }
                    inject(&http, &base, &integration, &format!("m-{n}")).await?;
                }
            })
        })
        .collect();
    for injector in injectors {
        injector.await??;
    }
    let injected_secs = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(300);
    while counters.messages.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered = counters.messages.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    let peak = rss_kib(pid)?;
    println!(
        "ws_load: fan-out: {delivered}/{expected} frames in {secs:.2} s = {:.0} frames/s ({:.0} messages/s stored in {injected_secs:.2} s); engine RSS {:.1} MiB; sockets closed by the engine: {}",
        delivered as f64 / secs,
        messages as f64 / injected_secs,
        peak as f64 / 1024.0,
        counters.closed.load(Ordering::Relaxed)
    );
    println!(
        "@@ws_load {}",
        json!({
            "connections": held,
            "connect_seconds": connect_secs,
            "rss_baseline_mib": baseline as f64 / 1024.0,
            "rss_with_connections_mib": with_conns as f64 / 1024.0,
            "kib_per_connection": per_conn_kib,
            "subscribers": subscribers,
            "messages": messages,
            "frames_delivered": delivered,
            "fanout_seconds": secs,
            "frames_per_second": delivered as f64 / secs,
            "messages_per_second_stored": messages as f64 / injected_secs,
        })
    );
    if delivered < expected {
        bail!("only {delivered} of {expected} frames arrived");
    }
    drop(conns);
    Ok(())
}

/// A customer message through the signed generic webhook; returns its conversation.
async fn inject(
    http: &reqwest::Client,
    base: &str,
    integration: &str,
    id: &str,
) -> anyhow::Result<String> {
    let body = json!({
        "contact": {"external_id": "bench-customer"},
        "message": {"external_id": id, "text": format!("mensagem {id}")},
    })
    .to_string();
    let response = http
        .post(format!("{base}/webhooks/generic/{integration}"))
        .header("content-type", "application/json")
        .header(
            "X-Atende-Signature",
            atende::channels::signature::sign(SECRET.as_bytes(), body.as_bytes()),
        )
        .body(body)
        .send()
        .await?;
    if response.status() != 202 {
        bail!("webhook answered {}", response.status());
    }
    let accepted: Value = response.json().await?;
    Ok(accepted["conversation_id"]
        .as_str()
        .context("no conversation id")?
        .to_string())
}

/// One client connection: answers pings, counts `message` frames, sends what it is told.
async fn open(
    source: Ipv4Addr,
    port: u16,
    url: String,
    counters: Arc<Counters>,
) -> anyhow::Result<Conn> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    let stream = socket
        .connect(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
        .await
        .with_context(|| format!("connect from {source}"))?;
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await?;
    match ws.next().await {
        Some(Ok(Message::Text(t))) if t.contains("\"connected\"") => {}
        other => bail!("expected `connected`, got {other:?}"),
    }
    counters.connected.fetch_add(1, Ordering::Relaxed);
    let (commands, mut inbox) = mpsc::channel::<String>(4);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                frame = ws.next() => match frame {
                    Some(Ok(Message::Text(t))) => {
                        if t.starts_with("{\"type\":\"message\"") {
                            counters.messages.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                        counters.closed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Some(Ok(_)) => {}
                },
                command = inbox.recv() => match command {
                    Some(text) => {
                        if ws.send(Message::text(text)).await.is_err() {
                            counters.closed.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                    None => {
                        let _ = ws.close(None).await;
                        return;
                    }
                },
            }
        }
    });
    Ok(Conn { commands })
}
