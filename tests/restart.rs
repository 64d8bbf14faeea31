//! What survives a restart of the real binary on the same database: an AI agent's request
//! windows (`agent_request_windows`). Before, the per-minute/hour/day windows lived only in
//! process memory, so every restart reset an agent's daily request count.

mod support;

use std::time::{Duration, Instant};

use support::node::Node;
use support::scripted_llm::ScriptedLlm;
use support::TestDb;

/// AI turns logged with `status`, read straight from the database.
async fn turns_with_status(store: &atende::store::Store, status: &str) -> usize {
    let status = status.to_string();
    store
        .run(move |conn| {
            use atende::store::schema::ai_turns;
            use diesel::prelude::*;
            let count: i64 = atende::db_run!(conn, |c| ai_turns::table
                .filter(ai_turns::status.eq(&status))
                .count()
                .get_result(c))?;
            Ok(usize::try_from(count).unwrap_or(usize::MAX))
        })
        .await
        .expect("turns counted")
}

async fn wait_for_turns(store: &atende::store::Store, status: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while turns_with_status(store, status).await < count {
        assert!(
            Instant::now() < deadline,
            "{count} `{status}` turns never logged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn a_daily_request_cap_still_holds_after_a_restart() {
    let db = TestDb::create();
    let llm = ScriptedLlm::start().await;
    let mut first = Node::start(&db.url(), &[]).await;
    let store = atende::app::open_store(&support::test_settings(&db.url(), &[]))
        .await
        .expect("store opens");
    let admin = first.admin_token().await;
    let (_, integration) = first
        .agent_and_integration(
            &admin,
            &llm.base_url,
            serde_json::json!({"limits": {"requests_per_day": 2}}),
        )
        .await;
    for n in 1..=2 {
        first
            .inbound(
                &integration,
                &format!("55119000000{n}"),
                &format!("m{n}"),
                "oi",
            )
            .await;
        wait_for_turns(&store, "ok", n).await;
    }
    // The cap holds in this process …
    first
        .inbound(&integration, "5511900000003", "m3", "oi")
        .await;
    wait_for_turns(&store, "limited", 1).await;
    assert_eq!(llm.request_count(), 2);

    // … and in the next one on the same database.
    first.signal("TERM");
    assert!(first.exited_within(Duration::from_secs(12)).await.is_some());
    let second = Node::start(&db.url(), &[]).await;
    second
        .inbound(&integration, "5511900000004", "m4", "oi")
        .await;
    wait_for_turns(&store, "limited", 2).await;
    assert_eq!(
        llm.request_count(),
        2,
        "the restarted node let the agent past its daily cap"
    );
}
