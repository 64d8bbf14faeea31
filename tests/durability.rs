//! Invariant 1: an acknowledged message survives a crash. The engine runs as a real process,
//! is killed with SIGKILL while a customer message waits in its context timer, and is
//! started again: the message is answered.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::engine::{eventually, SECRET};
use support::scripted_llm::{ScriptedLlm, Step};
use support::{TestDb, ADMIN_EMAIL, ADMIN_PASSWORD};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn start(db: &TestDb, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_atende"))
        .env("ATENDE_ENV", "test")
        .env("ATENDE_CONFIG_DIR", support::config_dir())
        .env("ATENDE__DATABASE__URL", db.url())
        .env("ATENDE__SERVER__PORT", port.to_string())
        .env("ATENDE__BOOTSTRAP__TENANT", "tenant-a")
        .env("ATENDE__BOOTSTRAP__ADMIN_EMAIL", ADMIN_EMAIL)
        .env("ATENDE__BOOTSTRAP__ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("engine starts")
}

async fn wait_healthy(http: &reqwest::Client, base: &str) {
    let ok = eventually(Duration::from_secs(30), &mut || async {
        match http.get(format!("{base}/ready")).send().await {
            Ok(r) if r.status() == StatusCode::OK => Some(()),
            _ => None,
        }
    })
    .await;
    assert!(ok.is_some(), "engine did not become ready");
}

async fn post(http: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let response = http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.expect("json")
}

/// Logs in as the bootstrap admin, creates an AI agent answering through `llm` (with this
/// context timer) and a generic integration it answers (replies POSTed to `outbound_url`,
/// if any). Returns the admin token and the integration's inbound webhook URL.
async fn bot_on_generic(
    http: &reqwest::Client,
    base: &str,
    llm: &ScriptedLlm,
    context_timer_seconds: u32,
    outbound_url: Option<&str>,
) -> (String, String) {
    let login: Value = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["token"].as_str().expect("token").to_string();
    let agent = post(
        http,
        format!("{base}/api/v1/agents"),
        &token,
        json!({
            "name": "Bot", "model": "gpt-4o-mini", "max_tokens": 50,
            "provider": {"kind": "openai", "base_url": llm.base_url, "api_key": "sk-test"},
            "settings": {"context_timer_seconds": context_timer_seconds},
        }),
    )
    .await;
    let integration = post(
        http,
        format!("{base}/api/v1/integrations"),
        &token,
        json!({
            "kind": "generic", "name": "web", "secret": SECRET, "default_agent_id": agent["id"],
            "outbound_url": outbound_url,
        }),
    )
    .await;
    let url = format!(
        "{base}/webhooks/generic/{}",
        integration["id"].as_str().expect("id")
    );
    (token, url)
}

/// A signed generic inbound message, acknowledged 202; returns the acknowledgement.
async fn inbound(http: &reqwest::Client, url: &str, text: &str) -> Value {
    let body = support::webhook::generic_body("c1", None, "m1", text);
    support::webhook::post_signed(http, url, &body).await
}

#[actix_web::test]
async fn a_buffered_message_is_answered_after_sigkill_and_restart() {
    let db = TestDb::create();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let llm = ScriptedLlm::start().await;

    let mut engine = start(&db, port);
    wait_healthy(&http, &base).await;
    let (token, url) = bot_on_generic(&http, &base, &llm, 3, None).await;
    let accepted = inbound(&http, &url, "meu pedido não chegou").await;

    // Killed inside the context window: the turn never started.
    engine.kill().expect("SIGKILL");
    engine.wait().expect("reaped");
    assert_eq!(llm.request_count(), 0);

    let mut engine = start(&db, port);
    wait_healthy(&http, &base).await;
    assert_eq!(
        llm.wait_for_requests(1, Duration::from_secs(20)).await,
        1,
        "the buffered message was answered"
    );
    assert_eq!(
        llm.requests()[0].last_user_message().as_deref(),
        Some("meu pedido não chegou")
    );

    let conversation = accepted["conversation_id"]
        .as_str()
        .expect("id")
        .to_string();
    let replied = eventually(Duration::from_secs(10), &mut || {
        let url = format!("{base}/api/v1/conversations/{conversation}/messages");
        let http = &http;
        let token = &token;
        async move {
            let page: Value = http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let items = page["items"].as_array()?.clone();
            items
                .iter()
                .any(|m| m["sender_type"] == "ai_agent")
                .then_some(items)
        }
    })
    .await
    .expect("reply stored after restart");
    assert_eq!(
        replied
            .iter()
            .filter(|m| m["sender_type"] == "contact")
            .count(),
        1
    );
    engine.kill().expect("stop");
    let _ = engine.wait();
}

/// A channel receiver that holds every request open until told to answer, so the engine can
/// be killed while a reply's delivery is in flight.
#[derive(Default)]
struct Receiver {
    answering: std::sync::atomic::AtomicBool,
    /// Bodies of the requests answered 200.
    delivered: std::sync::Mutex<Vec<Value>>,
    arrived: std::sync::atomic::AtomicUsize,
}

async fn receive(body: actix_web::web::Bytes, state: actix_web::web::Data<Receiver>) -> String {
    use std::sync::atomic::Ordering;
    state.arrived.fetch_add(1, Ordering::SeqCst);
    if !state.answering.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state.delivered.lock().expect("receiver").push(body);
    "ok".into()
}

fn start_receiver() -> (std::sync::Arc<Receiver>, String) {
    let state = std::sync::Arc::new(Receiver::default());
    let data = actix_web::web::Data::from(state.clone());
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .default_service(actix_web::web::to(receive))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("receiver binds");
    let url = format!("http://127.0.0.1:{}", server.addrs()[0].port());
    actix_web::rt::spawn(server.run());
    (state, url)
}

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct ReplyCounts {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    replies: i64,
    /// Delivery rows of AI replies.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    deliveries: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    sent: i64,
}

/// AI replies and their channel deliveries, read straight from the database.
fn reply_counts(db: &TestDb) -> ReplyCounts {
    use diesel::{Connection, RunQueryDsl};
    const QUERY: &str = "SELECT \
        (SELECT COUNT(*) FROM messages WHERE sender_type = 'ai_agent') AS replies, \
        (SELECT COUNT(*) FROM channel_deliveries d JOIN messages m ON m.id = d.message_id \
            WHERE m.sender_type = 'ai_agent') AS deliveries, \
        (SELECT COUNT(*) FROM channel_deliveries WHERE status = 'sent') AS sent";
    let url = db.url();
    let rows: Vec<ReplyCounts> = match url.strip_prefix("sqlite://") {
        Some(path) => {
            let mut conn = diesel::SqliteConnection::establish(path).expect("sqlite");
            diesel::sql_query(QUERY).load(&mut conn).expect("counts")
        }
        None => {
            let mut conn = diesel::PgConnection::establish(&url).expect("postgres");
            diesel::sql_query(QUERY).load(&mut conn).expect("counts")
        }
    };
    rows.into_iter().next().expect("one row")
}

/// Issue 15: the reply and its channel delivery commit together. The engine is killed while
/// the AI reply's delivery hangs at the receiver; the database then holds the reply with its
/// pending delivery, and the next start sends it exactly once, without a second answer.
#[actix_web::test]
async fn a_reply_killed_before_its_delivery_is_sent_once_after_restart() {
    use std::sync::atomic::Ordering;
    let db = TestDb::create();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let llm = ScriptedLlm::start().await;
    llm.set_default(Step::reply("seu pedido sai amanhã"));
    let (receiver, receiver_url) = start_receiver();

    let mut engine = start(&db, port);
    wait_healthy(&http, &base).await;
    let (_, url) = bot_on_generic(&http, &base, &llm, 0, Some(&receiver_url)).await;
    inbound(&http, &url, "oi").await;

    // The delivery reached the receiver, which holds it: kill the engine now.
    let arrived = eventually(Duration::from_secs(20), &mut || async {
        (receiver.arrived.load(Ordering::SeqCst) >= 1).then_some(())
    })
    .await;
    assert!(
        arrived.is_some(),
        "the reply's delivery reached the receiver"
    );
    engine.kill().expect("SIGKILL");
    engine.wait().expect("reaped");
    assert_eq!(
        reply_counts(&db),
        ReplyCounts {
            replies: 1,
            deliveries: 1,
            sent: 0
        },
        "the reply is stored with its pending delivery"
    );

    receiver.answering.store(true, Ordering::SeqCst);
    let mut engine = start(&db, port);
    wait_healthy(&http, &base).await;
    let delivered = eventually(Duration::from_secs(20), &mut || async {
        let delivered = receiver.delivered.lock().expect("receiver").clone();
        (!delivered.is_empty()).then_some(delivered)
    })
    .await
    .expect("the pending delivery is sent after the restart");
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["message"]["text"], "seu pedido sai amanhã");
    let counts = eventually(Duration::from_secs(10), &mut || async {
        let counts = reply_counts(&db);
        (counts.sent == 1).then_some(counts)
    })
    .await
    .expect("the delivery is recorded as sent");
    assert_eq!(counts.replies, 1, "answered once");
    assert_eq!(counts.deliveries, 1, "one delivery per reply");
    assert_eq!(llm.request_count(), 1, "the LLM was asked once");
    engine.kill().expect("stop");
    let _ = engine.wait();
}
