//! Feedback events: negative reactions of customers to AI replies (src/domain/feedback.rs).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::feedback_events;
use super::{DbConn, StoreResult};
use crate::domain::{ConversationId, TenantId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = feedback_events)]
pub struct FeedbackEvent {
    pub id: String,
    pub tenant_id: TenantId,
    pub conversation_id: ConversationId,
    /// The AI reply the customer reacted to.
    pub message_id: Option<String>,
    pub agent_id: Option<String>,
    /// complaint | human_request | repeated_question | negative_sentiment
    pub kind: String,
    pub score: f64,
    /// JSON: the customer's message id and every signal found.
    pub details: String,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, event: &FeedbackEvent) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(feedback_events::table)
        .values(event)
        .execute(c))?;
    Ok(())
}

/// A conversation's feedback events, oldest first.
pub fn for_conversation(
    conn: &mut DbConn,
    tenant: &TenantId,
    conversation: &ConversationId,
) -> StoreResult<Vec<FeedbackEvent>> {
    Ok(crate::db_run!(conn, |c| feedback_events::table
        .filter(feedback_events::tenant_id.eq(tenant))
        .filter(feedback_events::conversation_id.eq(conversation))
        .order(feedback_events::created_at.asc())
        .select(FeedbackEvent::as_select())
        .load(c))?)
}

/// What the feedback review lists (`GET /api/v1/feedback`).
#[derive(Debug, Clone, Default)]
pub struct ReviewFilter {
    pub kind: Option<String>,
    pub agent_id: Option<String>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
}

/// A page of the tenant's feedback, newest first (ids are time-ordered UUIDv7), after the
/// cursor id; `limit + 1` rows so the caller knows whether another page follows.
pub fn review(
    conn: &mut DbConn,
    tenant: &TenantId,
    filter: &ReviewFilter,
    before_id: Option<&str>,
    limit: i64,
) -> StoreResult<Vec<FeedbackEvent>> {
    Ok(crate::db_run!(conn, |c| {
        let mut query = feedback_events::table
            .filter(feedback_events::tenant_id.eq(tenant))
            .into_boxed();
        if let Some(kind) = &filter.kind {
            query = query.filter(feedback_events::kind.eq(kind));
        }
        if let Some(agent) = &filter.agent_id {
            query = query.filter(feedback_events::agent_id.eq(agent));
        }
        if let Some(from) = filter.from {
            query = query.filter(feedback_events::created_at.ge(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(feedback_events::created_at.lt(to));
        }
        if let Some(id) = before_id {
            query = query.filter(feedback_events::id.lt(id));
        }
        query
            .order(feedback_events::id.desc())
            .limit(limit + 1)
            .select(FeedbackEvent::as_select())
            .load(c)
    })?)
}

/// The content of these messages of the tenant, by id.
pub fn message_texts(
    conn: &mut DbConn,
    tenant: &TenantId,
    ids: &[String],
) -> StoreResult<std::collections::HashMap<String, String>> {
    use super::schema::messages;
    let rows: Vec<(String, String)> = crate::db_run!(conn, |c| messages::table
        .filter(messages::tenant_id.eq(tenant))
        .filter(messages::id.eq_any(ids))
        .select((messages::id, messages::content))
        .load(c))?;
    Ok(rows.into_iter().collect())
}
