//! Channel deliveries: one row per reply sent to a customer's channel, written before the
//! first attempt and updated after each, so pending replies survive a restart
//! (`ChannelSender::resume_pending`) and operators can see why one failed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::integrations::{self, Integration};
use super::messages::Message;
use super::schema::{channel_deliveries, contacts, conversations, messages};
use super::{DbConn, StoreError, StoreResult};
use crate::domain::{ConversationId, IntegrationId, MessageId, TenantId};

pub const PENDING: &str = "pending";
pub const SENT: &str = "sent";
pub const FAILED: &str = "failed";

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = channel_deliveries)]
pub struct ChannelDelivery {
    pub id: String,
    pub tenant_id: TenantId,
    pub integration_id: IntegrationId,
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    /// pending | sent | failed
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl ChannelDelivery {
    /// A new pending delivery of `message`, due now.
    pub fn pending(integration: &IntegrationId, message: &Message) -> ChannelDelivery {
        let now = super::now();
        ChannelDelivery {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: message.tenant_id.clone(),
            integration_id: integration.clone(),
            conversation_id: message.conversation_id.clone(),
            message_id: message.id.clone(),
            status: PENDING.into(),
            attempts: 0,
            next_attempt_at: Some(now),
            last_status_code: None,
            last_error: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// The outcome of one attempt. Every column is written, `None` included: a later success
/// clears the error of an earlier failure.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = channel_deliveries, treat_none_as_null = true)]
pub struct AttemptUpdate {
    pub status: String,
    pub attempts: i32,
    /// When the next attempt is due; `None` once the delivery is final.
    pub next_attempt_at: Option<NaiveDateTime>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub updated_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, delivery: &ChannelDelivery) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(channel_deliveries::table)
        .values(delivery)
        .execute(c))?;
    Ok(())
}

/// Inserts a new delivery already held by `node` until `until` (`store::claims`): its first
/// attempt needs no claim of its own, and the claim costs no statement of its own.
pub fn insert_held(
    conn: &mut DbConn,
    delivery: &ChannelDelivery,
    node: &str,
    until: NaiveDateTime,
) -> StoreResult<()> {
    crate::db_run!(conn, |c| diesel::insert_into(channel_deliveries::table)
        .values((
            delivery,
            channel_deliveries::claimed_by.eq(node),
            channel_deliveries::claimed_until.eq(until),
        ))
        .execute(c))?;
    Ok(())
}

pub fn find(conn: &mut DbConn, id: &str) -> StoreResult<ChannelDelivery> {
    Ok(crate::db_run!(conn, |c| channel_deliveries::table
        .filter(channel_deliveries::id.eq(id))
        .select(ChannelDelivery::as_select())
        .first(c))?)
}

/// Deliveries of one message, oldest first (normally one).
pub fn for_message(conn: &mut DbConn, message: &MessageId) -> StoreResult<Vec<ChannelDelivery>> {
    Ok(crate::db_run!(conn, |c| channel_deliveries::table
        .filter(channel_deliveries::message_id.eq(message))
        .order(channel_deliveries::id.asc())
        .select(ChannelDelivery::as_select())
        .load(c))?)
}

pub fn record_attempt(conn: &mut DbConn, id: &str, update: &AttemptUpdate) -> StoreResult<()> {
    let updated = crate::db_run!(conn, |c| diesel::update(
        channel_deliveries::table.filter(channel_deliveries::id.eq(id))
    )
    .set(update)
    .execute(c))?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Pending deliveries in creation order (ids are time-ordered UUIDv7), so replies of a
/// conversation are resent in the order they were written; pages continue `after` an id.
pub fn list_pending(
    conn: &mut DbConn,
    after: Option<&str>,
    limit: i64,
) -> StoreResult<Vec<ChannelDelivery>> {
    Ok(crate::db_run!(conn, |c| {
        let mut query = channel_deliveries::table
            .filter(channel_deliveries::status.eq(PENDING))
            .order(channel_deliveries::id.asc())
            .limit(limit)
            .select(ChannelDelivery::as_select())
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(channel_deliveries::id.gt(after));
        }
        query.load(c)
    })?)
}

/// What a pending delivery needs to be sent again; `None` in a field means the row it
/// points at is gone (deleted integration, message or contact id).
#[derive(Debug, Clone)]
pub struct DeliveryContext {
    pub integration: Option<Integration>,
    pub message: Option<Message>,
    pub contact_external_id: Option<String>,
}

pub fn context(conn: &mut DbConn, delivery: &ChannelDelivery) -> StoreResult<DeliveryContext> {
    let integration = match integrations::find(conn, &delivery.tenant_id, &delivery.integration_id)
    {
        Ok(found) => Some(found),
        Err(StoreError::NotFound) => None,
        Err(other) => return Err(other),
    };
    let message: Option<Message> = crate::db_run!(conn, |c| messages::table
        .filter(messages::tenant_id.eq(&delivery.tenant_id))
        .filter(messages::id.eq(&delivery.message_id))
        .select(Message::as_select())
        .first(c)
        .optional())?;
    let contact_external_id: Option<Option<String>> =
        crate::db_run!(conn, |c| conversations::table
            .inner_join(contacts::table.on(contacts::id.eq(conversations::contact_id)))
            .filter(conversations::tenant_id.eq(&delivery.tenant_id))
            .filter(conversations::id.eq(&delivery.conversation_id))
            .select(contacts::external_id)
            .first(c)
            .optional())?;
    Ok(DeliveryContext {
        integration,
        message,
        contact_external_id: contact_external_id.flatten(),
    })
}
