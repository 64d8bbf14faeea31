//! Helpers for the security tests (`tests/fuzz_parsers.rs`, `tests/tenant_matrix.rs`): row
//! counts that prove "nothing stored", and checks of the contract's error body.

use atende::store::Store;
use reqwest::StatusCode;
use serde_json::Value;

/// What an inbound request may create: contacts, conversations, messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub contacts: i64,
    pub conversations: i64,
    pub messages: i64,
}

impl Counts {
    pub fn plus_one_message_thread(self) -> Counts {
        Counts {
            contacts: self.contacts + 1,
            conversations: self.conversations + 1,
            messages: self.messages + 1,
        }
    }
}

/// Rows in the whole store (every tenant).
pub async fn counts(store: &Store) -> Counts {
    store
        .run(|conn| {
            use atende::store::schema::{contacts, conversations, messages};
            use diesel::prelude::*;
            atende::db_run!(conn, |c| {
                Ok(Counts {
                    contacts: contacts::table.count().get_result(c)?,
                    conversations: conversations::table.count().get_result(c)?,
                    messages: messages::table.count().get_result(c)?,
                })
            })
        })
        .await
        .expect("row counts")
}

/// Asserts `{"error": <sentence>, "code": <code>, "details"?}` with `status`.
pub fn assert_error_body(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "status for {body}");
    assert_eq!(body["code"], code, "code in {body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "`error` is a sentence: {body}"
    );
    let keys: Vec<&String> = body
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert!(
        keys.iter()
            .all(|k| ["error", "code", "details"].contains(&k.as_str())),
        "only error, code and details: {body}"
    );
}
