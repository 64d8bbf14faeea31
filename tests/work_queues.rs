//! Work queues claimed by any node (src/store/claims.rs): two real nodes on one PostgreSQL
//! database take due webhook deliveries that neither produced, each claims disjoint rows
//! (`FOR UPDATE SKIP LOCKED`), and every delivery reaches its receiver exactly once.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use atende::domain::WebhookId;
use atende::store::webhooks::{self, WebhookDelivery};
use support::node::Node;
use support::receiver::ScriptedReceiver;
use support::TestDb;

const DELIVERIES: usize = 400;

fn node_env(id: &str) -> Vec<(&str, &str)> {
    vec![
        ("ATENDE__CLUSTER__NODE_ID", id),
        ("ATENDE__CLUSTER__POLL_INTERVAL_MS", "50"),
    ]
}

/// `(status, claimed_by)` of every delivery row.
async fn rows(store: &atende::store::Store) -> Vec<(String, Option<String>)> {
    store
        .run(|conn| {
            use atende::store::schema::webhook_deliveries as t;
            use diesel::prelude::*;
            Ok(atende::db_run!(conn, |c| t::table
                .select((t::status, t::claimed_by))
                .load::<(String, Option<String>)>(c))?)
        })
        .await
        .expect("rows read")
}

#[actix_web::test]
async fn two_nodes_deliver_each_webhook_exactly_once() {
    let db = TestDb::create_postgres();
    let receiver = ScriptedReceiver::start(&[]).await;
    let n1 = Node::start(&db.url(), &node_env("n1")).await;
    let _n2 = Node::start(&db.url(), &node_env("n2")).await;
    let admin = n1.admin_token().await;
    let webhook = n1
        .create(
            &admin,
            "/api/v1/webhooks",
            &serde_json::json!({"url": receiver.url("/hook"), "events": ["conversation_started"],
                "secret": "hook-secret-for-tests-0123456789"}),
        )
        .await;

    // Deliveries neither node produced (as if left by a node that died): only the pollers
    // can find them, and both poll the same table.
    let store = atende::app::open_store(&support::test_settings(&db.url(), &[]))
        .await
        .expect("store opens");
    store
        .run(move |conn| {
            let hook = webhooks::find_by_id(conn, &WebhookId(webhook))?
                .ok_or(atende::store::StoreError::NotFound)?;
            let rows: Vec<WebhookDelivery> = (0..DELIVERIES)
                .map(|n| {
                    WebhookDelivery::pending(
                        &hook,
                        "conversation_started",
                        format!("{{\"n\":{n}}}"),
                    )
                })
                .collect();
            webhooks::insert_deliveries(conn, &rows)
        })
        .await
        .expect("deliveries inserted");

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = rows(&store).await;
        if now.iter().all(|(status, _)| status == "succeeded") {
            let claimants: HashSet<_> = now.iter().filter_map(|(_, by)| by.clone()).collect();
            assert_eq!(
                claimants,
                HashSet::from(["n1".to_string(), "n2".to_string()]),
                "both nodes took a share"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries still pending after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every row is recorded as delivered: each attempt reached the receiver before that.
    let received = receiver.received();
    let ids: HashSet<String> = received
        .iter()
        .filter_map(|r| r.header("X-Atende-Delivery").map(str::to_string))
        .collect();
    assert_eq!(ids.len(), DELIVERIES, "every delivery arrived");
    assert_eq!(received.len(), DELIVERIES, "none arrived twice");
}
