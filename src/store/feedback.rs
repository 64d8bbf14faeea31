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
