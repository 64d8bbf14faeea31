//! Delivery status of messages as the channel reports it (`sent` → `delivered` → `read`), and
//! the link between a reply the engine sent and the id the channel gave it, so the channel's
//! later status updates find the reply.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::messages::{self, Message};
use super::schema::{contacts, conversations, messages as messages_table};
use super::{DbConn, StoreError, StoreResult};
use crate::domain::conversation::Status;
use crate::domain::{IntegrationId, TenantId};

pub const SENT: &str = "sent";
pub const DELIVERED: &str = "delivered";
pub const READ: &str = "read";

/// Statuses a message may move from to reach `to`: status only moves forward, so a late
/// "delivered" never undoes a "read".
fn lower_than(to: &str) -> Option<&'static [&'static str]> {
    match to {
        DELIVERED => Some(&[SENT]),
        READ => Some(&[SENT, DELIVERED]),
        _ => None,
    }
}

#[derive(Debug, Clone)]
pub enum StatusChange {
    /// The message moved to the new status.
    Updated(Message),
    /// The message already had this status or a later one.
    Unchanged(Message),
    /// No message of this integration has that channel id.
    Unknown,
}

/// Moves the message the channel knows as `external_id` forward to `to` (`delivered` or
/// `read`).
pub fn advance(
    conn: &mut DbConn,
    integration: &IntegrationId,
    external_id: &str,
    to: &str,
) -> StoreResult<StatusChange> {
    let from = lower_than(to)
        .ok_or_else(|| StoreError::Corrupt(format!("`{to}` is not a delivery status")))?;
    let Some(message) = messages::find_by_external(conn, integration, external_id)? else {
        return Ok(StatusChange::Unknown);
    };
    let updated = crate::db_run!(conn, |c| diesel::update(
        messages_table::table
            .filter(messages_table::id.eq(&message.id))
            .filter(messages_table::status.eq_any(from))
    )
    .set(messages_table::status.eq(to))
    .execute(c))?;
    if updated == 0 {
        return Ok(StatusChange::Unchanged(message));
    }
    Ok(StatusChange::Updated(Message {
        status: to.to_string(),
        ..message
    }))
}

#[derive(Debug, Clone)]
pub enum EchoLink {
    /// A reply the engine sent got the channel's id.
    Linked(Message),
    /// The channel id is already stored (a redelivered event).
    AlreadyStored(Message),
    /// No reply of ours matches: the business wrote it itself.
    NoMatch,
}

/// The channel echoes what the business sends, including the engine's own replies (Evolution:
/// `send.message`, or `messages.upsert` with `fromMe`). An echo whose text equals a reply of
/// the contact's open conversation that has no channel id yet, written since `since`, is that
/// reply: it gets the channel id instead of being stored a second time.
pub fn link_echo(
    conn: &mut DbConn,
    tenant: &TenantId,
    integration: &IntegrationId,
    contact_external_id: &str,
    external_id: &str,
    content: &str,
    since: NaiveDateTime,
) -> StoreResult<EchoLink> {
    if let Some(existing) = messages::find_by_external(conn, integration, external_id)? {
        return Ok(EchoLink::AlreadyStored(existing));
    }
    let conversation: Option<String> = crate::db_run!(conn, |c| conversations::table
        .inner_join(contacts::table.on(contacts::id.eq(conversations::contact_id)))
        .filter(contacts::tenant_id.eq(tenant))
        .filter(contacts::integration_id.eq(integration))
        .filter(contacts::external_id.eq(contact_external_id))
        .filter(conversations::status.ne(Status::Closed.as_str()))
        .order(conversations::created_at.desc())
        .select(conversations::id)
        .first(c)
        .optional())?;
    let Some(conversation) = conversation else {
        return Ok(EchoLink::NoMatch);
    };
    let candidate: Option<Message> = crate::db_run!(conn, |c| messages_table::table
        .filter(messages_table::conversation_id.eq(&conversation))
        .filter(messages_table::direction.eq("out"))
        .filter(messages_table::external_id.is_null())
        .filter(messages_table::content.eq(content))
        .filter(messages_table::created_at.ge(since))
        .order(messages_table::seq.desc())
        .select(Message::as_select())
        .first(c)
        .optional())?;
    let Some(reply) = candidate else {
        return Ok(EchoLink::NoMatch);
    };
    let linked = crate::db_run!(conn, |c| diesel::update(
        messages_table::table
            .filter(messages_table::id.eq(&reply.id))
            .filter(messages_table::external_id.is_null())
    )
    .set((
        messages_table::external_id.eq(external_id),
        messages_table::integration_id.eq(integration),
    ))
    .execute(c));
    match linked {
        Ok(1) => Ok(EchoLink::Linked(Message {
            external_id: Some(external_id.to_string()),
            integration_id: Some(integration.clone()),
            ..reply
        })),
        // Zero rows or a unique violation: a concurrent delivery of the same echo won.
        Ok(_) => already_stored(conn, integration, external_id),
        Err(e) => match StoreError::from(e) {
            StoreError::Conflict(_) => already_stored(conn, integration, external_id),
            other => Err(other),
        },
    }
}

fn already_stored(
    conn: &mut DbConn,
    integration: &IntegrationId,
    external_id: &str,
) -> StoreResult<EchoLink> {
    Ok(
        match messages::find_by_external(conn, integration, external_id)? {
            Some(existing) => EchoLink::AlreadyStored(existing),
            None => EchoLink::NoMatch,
        },
    )
}

/// Records the id the channel gave a reply when it accepted it (Evolution's `sendText` answers
/// with `key.id`), so its later status updates and echoes find it. Only a message without a
/// channel id yet is changed; returns whether it was.
pub fn set_external_id(
    conn: &mut DbConn,
    message: &crate::domain::MessageId,
    integration: &IntegrationId,
    external_id: &str,
) -> StoreResult<bool> {
    let updated = crate::db_run!(conn, |c| diesel::update(
        messages_table::table
            .filter(messages_table::id.eq(message))
            .filter(messages_table::external_id.is_null())
    )
    .set((
        messages_table::external_id.eq(external_id),
        messages_table::integration_id.eq(integration),
    ))
    .execute(c));
    match updated {
        Ok(n) => Ok(n > 0),
        // Already stored on another message (an echo got there first): nothing to do.
        Err(e) => match StoreError::from(e) {
            StoreError::Conflict(_) => Ok(false),
            other => Err(other),
        },
    }
}
