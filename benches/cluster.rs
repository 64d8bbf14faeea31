//! `cargo bench --bench cluster`: what cluster mode costs on this machine, and how long a
//! dead node's customers wait (issue 17).
//!
//! Real `atende` processes (the release binary) on one fresh PostgreSQL database and the
//! machine's NATS, an AI agent answering through the scripted OpenAI-compatible server (0 ms)
//! and replies going to a receiver in this process. For each layout — one node without the
//! bus, then 1, 2 and 3 nodes in cluster mode — complete AI turns (signed webhook → owner's
//! turn → reply delivered to the receiver) are sent round-robin through every node, each to a
//! new conversation of one tenant, so with several nodes most of them cross the bus to the
//! tenant's owner. All nodes share the machine's 2 cores: the figures show the overhead of
//! cluster mode, not scaling. Beside them, in the same run, the raw limit of the hop a
//! forwarded event takes: bare NATS request/reply round trips at the same concurrency.
//!
//! Then failover: with three nodes, the tenant's owner is killed with SIGKILL while customers
//! keep writing through the other two; the report gives the time from the kill to the first
//! reply the survivors deliver, and checks that every acknowledged message was answered once.
//!
//! `--help` lists the environment variables that size the run.

#[allow(unused_imports)]
#[path = "../tests/support/mod.rs"]
mod support;

#[path = "common/process_bench.rs"]
mod process_bench;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use anyhow::{bail, Context as _};
use diesel::{Connection, RunQueryDsl};
use futures::StreamExt;
use process_bench::env_number;
use serde_json::{json, Value};

use support::cluster::{cluster_env, Bucket, NATS_URL};
use support::node::Node;
use support::scripted_llm::ScriptedLlm;

const HELP: &str = "\
cluster — AI turns through 1, 2 and 3 nodes on PostgreSQL + NATS, and the failover time

usage: [VAR=value ...] cargo bench --bench cluster [-- --help]

environment (defaults in brackets):
  ATENDE_TEST_POSTGRES_URL        admin URL; a fresh database per layout is created and dropped
                                               [postgres://postgres@127.0.0.1:5432/postgres]
  ATENDE_BENCH_TURNS              AI turns per layout                                [2000]
  ATENDE_BENCH_CONCURRENCY        webhooks in flight                                  [64]
  ATENDE_BENCH_RATE               turns per second for the latency figures            [100]
  ATENDE_BENCH_LATENCY_SECONDS    how long that rate lasts                            [10]
  ATENDE_BENCH_FAILOVER_SECONDS   how long customers write after the owner is killed  [15]
  ATENDE_BENCH_FAILOVER_RATE      their webhooks per second                           [20]
NATS must run at 127.0.0.1:4222 with JetStream; each layout uses a bucket of its own.
Nodes run with the production lease settings (cluster.lease_ms, lease_renew_ms).
";

struct Config {
    turns: u64,
    latency_rate: u64,
    latency_seconds: u64,
    concurrency: usize,
    failover_seconds: u64,
    failover_rate: u64,
}

impl Config {
    fn from_env() -> anyhow::Result<Config> {
        Ok(Config {
            turns: env_number("ATENDE_BENCH_TURNS", 2000)?.max(1),
            latency_rate: env_number("ATENDE_BENCH_RATE", 100)?.max(1),
            latency_seconds: env_number("ATENDE_BENCH_LATENCY_SECONDS", 10)?.max(1),
            concurrency: usize::try_from(env_number("ATENDE_BENCH_CONCURRENCY", 64)?.max(1))?,
            failover_seconds: env_number("ATENDE_BENCH_FAILOVER_SECONDS", 15)?.max(1),
            failover_rate: env_number("ATENDE_BENCH_FAILOVER_RATE", 20)?.max(1),
        })
    }
}

fn main() {
    if !process_bench::wanted("cluster", HELP) {
        return;
    }
    std::env::set_var("ATENDE_TEST_DATABASE", "postgres");
    let result =
        Config::from_env().and_then(|config| actix_web::rt::System::new().block_on(run(&config)));
    process_bench::exit_with("cluster", result);
}

/// When each reply reached the receiver, by the index of the message it answers.
#[derive(Default)]
struct Replies(Mutex<HashMap<u64, Instant>>);

impl Replies {
    fn seen(&self) -> HashMap<u64, Instant> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

async fn receive(body: web::Bytes, replies: web::Data<Replies>) -> HttpResponse {
    let at = Instant::now();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    // The scripted model echoes: "reply to: m<i>".
    if let Some(i) = body["message"]["text"]
        .as_str()
        .and_then(|t| t.strip_prefix("reply to: m"))
        .and_then(|i| i.parse::<u64>().ok())
    {
        replies
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(i)
            .or_insert(at);
    }
    HttpResponse::Ok().finish()
}

struct Layout {
    name: &'static str,
    nodes: usize,
    cluster: bool,
}

const LAYOUTS: [Layout; 4] = [
    Layout {
        name: "single node, no bus",
        nodes: 1,
        cluster: false,
    },
    Layout {
        name: "cluster, 1 node",
        nodes: 1,
        cluster: true,
    },
    Layout {
        name: "cluster, 2 nodes",
        nodes: 2,
        cluster: true,
    },
    Layout {
        name: "cluster, 3 nodes",
        nodes: 3,
        cluster: true,
    },
];

const NODE_IDS: [&str; 3] = ["bench-1", "bench-2", "bench-3"];

/// A layout's nodes and what the load needs to reach them.
struct Running {
    // Dropped in this order: the nodes stop before their bucket and database go.
    nodes: Vec<Node>,
    integration: String,
    _bucket: Bucket,
    db: support::TestDb,
}

async fn start(layout: &Layout, llm: &ScriptedLlm, receiver_url: &str) -> anyhow::Result<Running> {
    let db = support::TestDb::create_postgres();
    let bucket = Bucket::new();
    let mut nodes = Vec::new();
    for id in NODE_IDS.iter().take(layout.nodes) {
        let mut env = vec![
            ("ATENDE_ENV", "development"),
            ("ATENDE__LOG__LEVEL", "error"),
            ("ATENDE__OUTBOUND__ALLOW_PRIVATE_TARGETS", "true"),
        ];
        if layout.cluster {
            env.extend(cluster_env(&bucket, id));
        }
        nodes.push(Node::start(&db.url(), &env).await);
    }
    let first = &nodes[0];
    let token = first.admin_token().await;
    let (_, integration) = first
        .agent_and_integration(
            &token,
            &llm.base_url,
            json!({"max_conversations": 1_000_000}),
        )
        .await;
    let (status, body) = first
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/integrations/{integration}"),
            Some(&token),
            Some(&json!({"outbound_url": receiver_url})),
        )
        .await;
    if !status.is_success() {
        bail!("outbound_url not set: {status} {body}");
    }
    Ok(Running {
        nodes,
        integration,
        _bucket: bucket,
        db,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Sends message `i` through `node`; whether it was acknowledged (202).
async fn send(node: &Node, integration: &str, i: u64) -> bool {
    let (status, _) = node
        .try_inbound(
            integration,
            &format!("55{i:011}"),
            &format!("bench-{i}"),
            &format!("m{i}"),
        )
        .await;
    status == 202
}

/// How the messages leave: as fast as `n` in flight allow, or at a steady rate.
#[derive(Clone, Copy)]
enum Pace {
    InFlight(usize),
    PerSecond(u64),
}

/// One message sent: its index, when it left, whether it was acknowledged.
type Sent = (u64, Instant, bool);

/// Sends messages `indices` round-robin through `nodes` at `pace`.
async fn send_all(
    nodes: &[&Node],
    integration: &str,
    indices: std::ops::Range<u64>,
    pace: Pace,
) -> Vec<Sent> {
    let start = Instant::now();
    let first = indices.start;
    let (in_flight, rate) = match pace {
        Pace::InFlight(n) => (n, None),
        // Bounded only by the rate: a slow answer must not hold back the next message.
        Pace::PerSecond(rate) => (usize::MAX, Some(rate)),
    };
    futures::stream::iter(indices)
        .map(|i| async move {
            if let Some(rate) = rate {
                let due = start + Duration::from_secs_f64((i - first) as f64 / rate as f64);
                tokio::time::sleep_until(due.into()).await;
            }
            let node = nodes[usize::try_from(i).unwrap_or(0) % nodes.len()];
            let at = Instant::now();
            (i, at, send(node, integration, i).await)
        })
        .buffer_unordered(in_flight)
        .collect()
        .await
}

/// Waits up to `within` for the replies to every acknowledged message: when each came.
async fn replies_to(replies: &Replies, sent: &[Sent], within: Duration) -> HashMap<u64, Instant> {
    let deadline = Instant::now() + within;
    loop {
        let seen = replies.seen();
        let all = sent
            .iter()
            .filter(|(_, _, ok)| *ok)
            .all(|(i, _, _)| seen.contains_key(i));
        if all || Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Send-to-reply times of the acknowledged messages that were answered, sorted.
fn latencies(sent: &[Sent], seen: &HashMap<u64, Instant>) -> Vec<Duration> {
    let mut times: Vec<Duration> = sent
        .iter()
        .filter(|(_, _, ok)| *ok)
        .filter_map(|(i, at, _)| seen.get(i).map(|got| got.duration_since(*at)))
        .collect();
    times.sort();
    times
}

fn unanswered(sent: &[Sent], seen: &HashMap<u64, Instant>) -> usize {
    sent.iter()
        .filter(|(i, _, ok)| *ok && !seen.contains_key(i))
        .count()
}

struct Figures {
    turns_per_second: f64,
    /// Send-to-reply at a steady rate below saturation.
    p50: Duration,
    p99: Duration,
    refused: usize,
}

/// Where a layout's messages go and where their replies are seen.
struct Run<'a> {
    nodes: &'a [&'a Node],
    integration: &'a str,
    replies: &'a Replies,
}

impl Run<'_> {
    /// Sends the next `count` messages at `pace` and waits up to `within_secs` for every
    /// acknowledged one's reply: what was sent and when each reply came.
    async fn answered(
        &self,
        next: &mut u64,
        count: u64,
        pace: Pace,
        within_secs: u64,
    ) -> anyhow::Result<(Vec<Sent>, HashMap<u64, Instant>)> {
        let sent = send_all(self.nodes, self.integration, *next..*next + count, pace).await;
        *next += count;
        let seen = replies_to(self.replies, &sent, Duration::from_secs(within_secs)).await;
        let missing = unanswered(&sent, &seen);
        if missing > 0 {
            bail!("{missing} replies not delivered within {within_secs} s");
        }
        Ok((sent, seen))
    }
}

/// Throughput: `turns` AI turns, `concurrency` in flight, round-robin over the nodes (the
/// turns queue up: it measures how fast the layout drains them). Then latency: `rate` turns
/// a second for `seconds`.
async fn measure(
    running: &Running,
    replies: &Replies,
    next: &mut u64,
    config: &Config,
) -> anyhow::Result<Figures> {
    let nodes: Vec<&Node> = running.nodes.iter().collect();
    let run = Run {
        nodes: &nodes,
        integration: &running.integration,
        replies,
    };
    let started = Instant::now();
    let (burst, seen) = run
        .answered(next, config.turns, Pace::InFlight(config.concurrency), 120)
        .await?;
    let last = burst
        .iter()
        .filter_map(|(i, _, _)| seen.get(i))
        .max()
        .copied()
        .unwrap_or(started);
    let acknowledged = burst.iter().filter(|(_, _, ok)| *ok).count();
    let count = config.latency_rate * config.latency_seconds;
    let (steady, seen) = run
        .answered(next, count, Pace::PerSecond(config.latency_rate), 60)
        .await?;
    let times = latencies(&steady, &seen);
    Ok(Figures {
        turns_per_second: acknowledged as f64 / last.duration_since(started).as_secs_f64(),
        p50: percentile(&times, 0.50),
        p99: percentile(&times, 0.99),
        refused: burst.iter().chain(&steady).filter(|(_, _, ok)| !ok).count(),
    })
}

/// The raw limit of a forwarded event's hop: NATS request/reply round trips through the
/// machine's server, `concurrency` in flight, to a responder that answers at once.
async fn nats_round_trips(count: u64, concurrency: usize) -> anyhow::Result<(f64, Duration)> {
    let client = async_nats::connect(NATS_URL).await?;
    let subject = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let mut requests = client.subscribe(subject.clone()).await?;
    let responder = {
        let client = client.clone();
        actix_web::rt::spawn(async move {
            while let Some(request) = requests.next().await {
                if let Some(reply) = request.reply {
                    let _ = client.publish(reply, request.payload).await;
                }
            }
        })
    };
    client.flush().await?;
    let started = Instant::now();
    let mut times: Vec<Duration> = futures::stream::iter(0..count)
        .map(|_| {
            let (client, subject) = (client.clone(), subject.clone());
            async move {
                let at = Instant::now();
                client
                    .request(subject, bytes::Bytes::from_static(&[0u8; 512]))
                    .await
                    .map(|_| at.elapsed())
            }
        })
        .buffer_unordered(concurrency)
        .filter_map(|r| async move { r.ok() })
        .collect()
        .await;
    let elapsed = started.elapsed();
    responder.abort();
    times.sort();
    Ok((
        times.len() as f64 / elapsed.as_secs_f64(),
        percentile(&times, 0.99),
    ))
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(db_url: &str, sql: &str) -> anyhow::Result<i64> {
    let rows: Vec<Count> =
        diesel::sql_query(sql).load(&mut diesel::PgConnection::establish(db_url)?)?;
    Ok(rows.first().map_or(0, |r| r.n))
}

#[derive(diesel::QueryableByName)]
struct Owner {
    #[diesel(sql_type = diesel::sql_types::Text)]
    node_id: String,
}

struct Failover {
    killed: String,
    first_reply: Duration,
    acknowledged: usize,
    refused: usize,
    unanswered: usize,
    answered_twice: i64,
    max_latency: Duration,
}

/// Kills the tenant's owner while customers write through the others.
async fn failover(
    running: &mut Running,
    replies: &Replies,
    first: u64,
    config: &Config,
) -> anyhow::Result<Failover> {
    let db_url = running.db.url();
    let owners: Vec<Owner> = diesel::sql_query("SELECT node_id FROM tenant_leases")
        .load(&mut diesel::PgConnection::establish(&db_url)?)?;
    let killed = owners.first().context("a tenant lease")?.node_id.clone();
    let index = NODE_IDS
        .iter()
        .position(|id| *id == killed)
        .context("the owner is a bench node")?;
    running.nodes[index].signal("KILL");
    let killed_at = Instant::now();
    let survivors: Vec<&Node> = running
        .nodes
        .iter()
        .enumerate()
        .filter(|(n, _)| *n != index)
        .map(|(_, node)| node)
        .collect();
    let total = config.failover_rate * config.failover_seconds;
    let sent = send_all(
        &survivors,
        &running.integration,
        first..first + total,
        Pace::PerSecond(config.failover_rate),
    )
    .await;
    let seen = replies_to(replies, &sent, Duration::from_secs(60)).await;
    let acknowledged: Vec<&Sent> = sent.iter().filter(|(_, _, ok)| *ok).collect();
    let first_reply = acknowledged
        .iter()
        .filter_map(|(i, _, _)| seen.get(i))
        .min()
        .map_or(Duration::MAX, |at| at.duration_since(killed_at));
    let max_latency = latencies(&sent, &seen)
        .last()
        .copied()
        .unwrap_or(Duration::ZERO);
    Ok(Failover {
        killed,
        first_reply,
        acknowledged: acknowledged.len(),
        refused: sent.len() - acknowledged.len(),
        unanswered: unanswered(&sent, &seen),
        answered_twice: count(
            &db_url,
            "SELECT COUNT(*) AS n FROM (SELECT content FROM messages \
             WHERE sender_type = 'ai_agent' GROUP BY content HAVING COUNT(*) > 1) twice",
        )?,
        max_latency,
    })
}

async fn run(config: &Config) -> anyhow::Result<bool> {
    let llm = ScriptedLlm::start().await;
    let replies = web::Data::new(Replies::default());
    let receiver_url = process_bench::start_receiver(replies.clone(), receive)?;

    let (nats_rate, nats_p99) = nats_round_trips(config.turns * 5, config.concurrency).await?;
    let mut lines = Vec::new();
    let mut next = 0;
    let mut baseline = None;
    let mut report = None;
    for layout in &LAYOUTS {
        println!("{}: starting {} node(s)…", layout.name, layout.nodes);
        let mut running = start(layout, &llm, &receiver_url).await?;
        // The first turn takes the tenant (on node 1) and warms the path.
        let warm = send_all(
            &running.nodes.iter().take(1).collect::<Vec<_>>(),
            &running.integration,
            next..next + 1,
            Pace::InFlight(1),
        )
        .await;
        next += 1;
        if unanswered(
            &warm,
            &replies_to(&replies, &warm, Duration::from_secs(30)).await,
        ) > 0
        {
            bail!("{}: the first turn was not answered", layout.name);
        }
        let figures = measure(&running, &replies, &mut next, config).await?;
        let base = *baseline.get_or_insert(figures.turns_per_second);
        lines.push(format!(
            "{:<22} {:>6.0} turns/s ({:>3.0} % of one node without the bus) · at {}/s: p50 {:>5.1} ms, p99 {:>5.1} ms · {} refused",
            layout.name,
            figures.turns_per_second,
            100.0 * figures.turns_per_second / base,
            config.latency_rate,
            ms(figures.p50),
            ms(figures.p99),
            figures.refused,
        ));
        if layout.cluster && layout.nodes == 3 {
            println!("{}: killing the tenant's owner…", layout.name);
            report = Some(failover(&mut running, &replies, next, config).await?);
            next += config.failover_rate * config.failover_seconds;
        }
    }
    let failover = report.context("the three-node layout ran")?;
    let ok = failover.unanswered == 0 && failover.answered_twice == 0;
    println!("\n==== cluster summary (paste into benches/README.md) ====");
    println!("```text");
    println!(
        "load                   {} AI turns per layout (LLM 0 ms), {} in flight, then {}/s for {} s; round-robin over the nodes, one tenant",
        config.turns, config.concurrency, config.latency_rate, config.latency_seconds
    );
    for line in lines {
        println!("{line}");
    }
    println!(
        "raw hop limit          NATS request/reply {nats_rate:.0}/s, p99 {:.2} ms ({} in flight, 512 B)",
        ms(nats_p99),
        config.concurrency
    );
    println!(
        "failover               SIGKILL of the owner ({}) with {} webhooks/s through the survivors: first reply after {:.1} s; \
         {} acknowledged, {} refused while the tenant changed hands, {} unanswered, {} answered twice, slowest answer {:.1} s",
        failover.killed,
        config.failover_rate,
        failover.first_reply.as_secs_f64(),
        failover.acknowledged,
        failover.refused,
        failover.unanswered,
        failover.answered_twice,
        failover.max_latency.as_secs_f64(),
    );
    println!(
        "verdict                {}",
        if ok { "PASS" } else { "FAIL" }
    );
    println!("command                cargo bench --bench cluster");
    println!("```");
    Ok(ok)
}
