//! The message writer's set-based group commit against the real store (SQLite or PostgreSQL,
//! per `ATENDE_TEST_DATABASE`): many inbound messages submitted at once land in one batch
//! and are written as a handful of statements; every message is stored once, each
//! conversation's `seq`s stay gapless, and one bad item fails alone.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use atende::domain::{IntegrationId, TenantId};
use atende::engine::writer::{Inbound, Ingested, MessageWriter};
use atende::store::contacts::ChannelIdentity;
use atende::store::integrations::{self, Integration, IntegrationKind};
use atende::store::{Store, StoreResult};
use futures::future::join_all;
use support::app::TestApp;

struct Setup {
    app: TestApp,
    tenant: TenantId,
    integration: IntegrationId,
}

async fn setup() -> Setup {
    let app = TestApp::spawn().await;
    let tenant = atende::accounts::ensure_tenant(&app.store, "writer-batches")
        .await
        .expect("tenant")
        .id;
    let integration = Integration::bare(&tenant, IntegrationKind::Generic, "batch channel");
    let id = integration.id.clone();
    app.store
        .run(move |conn| integrations::insert(conn, &integration))
        .await
        .expect("integration");
    Setup {
        app,
        tenant,
        integration: id,
    }
}

impl Setup {
    fn inbound(&self, contact: &str, external_id: &str) -> Inbound {
        Inbound {
            tenant_id: self.tenant.clone(),
            integration_id: self.integration.clone(),
            channel: "generic",
            contact: ChannelIdentity {
                external_id: contact.into(),
                name: Some(format!("Customer {contact}")),
                ..ChannelIdentity::default()
            },
            external_id: external_id.into(),
            content: format!("message {external_id}"),
            content_type: "text".into(),
            metadata: serde_json::json!({}),
            from_business: false,
        }
    }

    /// A writer whose batches wait long enough that everything submitted together is one batch.
    fn batching_writer(&self) -> MessageWriter {
        MessageWriter::start(
            self.app.store.clone(),
            1_000,
            Duration::from_millis(200),
            4_096,
            1,
            None,
        )
    }
}

async fn submit_together(
    writer: &MessageWriter,
    items: Vec<Inbound>,
) -> Vec<StoreResult<Ingested>> {
    join_all(items.into_iter().map(|item| {
        let writer = writer.clone();
        async move { writer.ingest(item).await }
    }))
    .await
}

/// (conversation id, seqs in order, last_seq, customer_messages) of every conversation.
async fn stored_sequences(store: &Store) -> Vec<(String, Vec<i64>, i64, i32)> {
    use atende::store::schema::{conversations, messages};
    use diesel::prelude::*;
    store
        .run(|conn| {
            let rows: Vec<(String, i64, i32)> = atende::db_run!(conn, |c| conversations::table
                .select((
                    conversations::id,
                    conversations::last_seq,
                    conversations::customer_messages
                ))
                .order(conversations::id.asc())
                .load(c))?;
            let mut out = Vec::new();
            for (id, last_seq, customers) in rows {
                let seqs: Vec<i64> = atende::db_run!(conn, |c| messages::table
                    .filter(messages::conversation_id.eq(&id))
                    .select(messages::seq)
                    .order(messages::seq.asc())
                    .load(c))?;
                out.push((id, seqs, last_seq, customers));
            }
            Ok(out)
        })
        .await
        .expect("sequences")
}

#[actix_web::test]
async fn a_batch_of_inbound_messages_is_stored_once_each_with_gapless_seqs() {
    let s = setup().await;
    let writer = s.batching_writer();
    // Two contacts already have a conversation with a message in it.
    let earlier = submit_together(
        &writer,
        vec![s.inbound("c1", "early-1"), s.inbound("c2", "early-2")],
    )
    .await;
    assert!(earlier
        .iter()
        .all(|r| r.as_ref().is_ok_and(|i| i.new_conversation)));

    // Then one batch: 60 new messages over 6 contacts (two known), a message sent twice in
    // the batch and one stored before.
    let mut items: Vec<Inbound> = (0..60)
        .map(|n| s.inbound(&format!("c{}", n % 6 + 1), &format!("m{n}")))
        .collect();
    items.push(s.inbound("c3", "m7"));
    items.push(s.inbound("c1", "early-1"));
    let answers = submit_together(&writer, items).await;
    let answers: Vec<Ingested> = answers
        .into_iter()
        .map(|r| r.expect("every item of a good batch is stored"))
        .collect();

    let duplicates: Vec<&Ingested> = answers.iter().filter(|a| a.duplicate).collect();
    assert_eq!(duplicates.len(), 2);
    let first_m7 = answers
        .iter()
        .find(|a| a.message.external_id.as_deref() == Some("m7") && !a.duplicate)
        .expect("m7 stored");
    assert_eq!(
        duplicates[0].message.id, first_m7.message.id,
        "a repeat answers the first"
    );
    let early = earlier[0].as_ref().expect("early");
    assert_eq!(duplicates[1].message.id, early.message.id);
    assert_eq!(duplicates[1].conversation.id, early.conversation.id);

    // Four conversations opened by the batch, one per new contact; c1 and c2 kept theirs.
    let opened: Vec<&Ingested> = answers.iter().filter(|a| a.new_conversation).collect();
    assert_eq!(opened.len(), 4);
    let per_contact: HashMap<&str, &str> = answers
        .iter()
        .map(|a| (a.contact.id.as_str(), a.conversation.id.as_str()))
        .collect();
    assert_eq!(per_contact.len(), 6, "one conversation per contact");

    let sequences = stored_sequences(&s.app.store).await;
    assert_eq!(sequences.len(), 6);
    let mut total = 0;
    for (id, seqs, last_seq, customers) in &sequences {
        let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
        assert_eq!(seqs, &expected, "conversation {id}: gapless seqs from 1");
        assert_eq!(*last_seq, seqs.len() as i64, "conversation {id}: last_seq");
        assert_eq!(
            *customers as usize,
            seqs.len(),
            "conversation {id}: customer count"
        );
        total += seqs.len();
    }
    assert_eq!(total, 62, "2 earlier + 60 new, each once");
    // Each caller's answer carries the seq it was stored under.
    for answer in answers.iter().filter(|a| !a.duplicate) {
        let (_, seqs, _, _) = sequences
            .iter()
            .find(|(id, ..)| id == answer.conversation.id.as_str())
            .expect("its conversation");
        assert!(seqs.contains(&answer.message.seq));
    }
}

#[actix_web::test]
async fn one_bad_item_in_a_batch_fails_alone() {
    let s = setup().await;
    let writer = s.batching_writer();
    let mut items: Vec<Inbound> = (0..20)
        .map(|n| s.inbound(&format!("c{}", n % 4), &format!("m{n}")))
        .collect();
    // An integration whose tenant is gone (a stale cache entry): its rows break a foreign
    // key, which only the database can tell.
    let mut bad = s.inbound("c-bad", "bad-1");
    bad.tenant_id = TenantId("no-such-tenant".into());
    items.insert(10, bad);
    let answers = submit_together(&writer, items).await;
    for (n, answer) in answers.iter().enumerate() {
        if n == 10 {
            assert!(answer.is_err(), "the bad item is refused");
        } else {
            let ingested = answer.as_ref().expect("the good items are stored");
            assert!(!ingested.duplicate);
        }
    }
    let sequences = stored_sequences(&s.app.store).await;
    assert_eq!(sequences.len(), 4, "no conversation for the bad item");
    let total: usize = sequences.iter().map(|(_, seqs, ..)| seqs.len()).sum();
    assert_eq!(total, 20);
    for (id, seqs, last_seq, _) in &sequences {
        let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
        assert_eq!(seqs, &expected, "conversation {id}");
        assert_eq!(*last_seq, seqs.len() as i64);
    }
}

/// Writes run bare in their batch first; one that fails sends the batch round again with a
/// savepoint per item, so it fails alone and the others still commit.
#[actix_web::test]
async fn one_failing_write_in_a_batch_fails_alone_and_the_others_commit() {
    use atende::domain::ConversationId;
    use atende::engine::writer::Fence;
    use atende::store::conversations;

    let s = setup().await;
    let writer = s.batching_writer();
    let items: Vec<Inbound> = (0..4)
        .map(|n| s.inbound(&format!("w{n}"), &format!("w-m{n}")))
        .collect();
    let conversations: Vec<ConversationId> = submit_together(&writer, items)
        .await
        .into_iter()
        .map(|answer| answer.expect("stored").conversation.id)
        .collect();
    let mut targets = conversations.clone();
    // No such conversation: its classification finds no row to update.
    targets.insert(2, ConversationId("no-such-conversation".into()));
    let answers = join_all(targets.iter().map(|id| {
        let row = id.clone();
        writer.write(
            id,
            Fence::Claimed,
            Box::new(move |conn| {
                conversations::set_classification(
                    conn,
                    &row,
                    "billing",
                    "high",
                    serde_json::json!({}),
                )
            }),
        )
    }))
    .await;
    for (n, answer) in answers.iter().enumerate() {
        assert_eq!(answer.is_err(), n == 2, "write {n}: {answer:?}");
    }
    for id in conversations {
        let row = s
            .app
            .store
            .run(move |conn| conversations::find_by_id(conn, &id))
            .await
            .expect("conversation");
        assert_eq!(row.category.as_deref(), Some("billing"), "{}", row.id);
    }
}

/// A reply's delivery row commits already claimed by this node, so its first attempt needs
/// no claim of its own, and no other node can take it meanwhile.
#[actix_web::test]
async fn a_replys_delivery_is_held_by_this_node_from_its_commit() {
    use atende::cluster::work::WorkClaims;
    use atende::domain::conversation::SenderType;
    use atende::engine::writer::AlongWith;
    use atende::store::claims::{self, WorkQueue};
    use atende::store::messages::NewMessage;

    let s = setup().await;
    let claims = std::sync::Arc::new(WorkClaims::new("node-a".into(), &s.app.settings.cluster));
    let writer = s.batching_writer().claiming(claims.clone());
    let ingested = writer
        .ingest(s.inbound("held", "held-1"))
        .await
        .expect("stored");
    let reply = NewMessage {
        tenant_id: s.tenant.clone(),
        conversation_id: ingested.conversation.id.clone(),
        sender_type: SenderType::AiAgent,
        sender_id: None,
        content: "answer".into(),
        content_type: "text".into(),
        direction: "outbound",
        integration_id: Some(s.integration.clone()),
        external_id: None,
        metadata: "{}".into(),
    };
    let along = AlongWith::new(Some(s.integration.clone()), None);
    let stored = writer.reply(reply, along).await.expect("reply stored");
    let delivery = stored.delivery.expect("a delivery row").id;
    let held_until = stored.held_until.expect("held by this node");
    assert!(claims.still_holds(held_until));
    let (now, until) = claims.window();
    let claim = |node: &'static str| {
        let id = delivery.clone();
        let store = s.app.store.clone();
        async move {
            let queue = WorkQueue::ChannelDeliveries;
            store
                .run(move |conn| claims::claim(conn, queue, &id, node, now, until))
                .await
                .expect("claim")
        }
    };
    assert!(
        !claim("node-b").await,
        "another node cannot take a held delivery"
    );
    let this_node_renews = claim("node-a").await;
    assert!(this_node_renews, "the holder renews its own claim");
}
