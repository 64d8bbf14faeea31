//! The auto-create rules, without I/O: which activity a customer message, a closing or a
//! booked meeting leaves behind. Whether the conversation has auto-create on is the caller's
//! question (`store::auto_create::create_if_enabled`), so these stay plain functions of rows.

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::domain::conversation::SenderType;
use crate::domain::scheduling;
use crate::domain::summary::{self, Speaker};
use crate::domain::{ContactId, ConversationId, TenantId};
use crate::store::auto_create::NewActivity;
use crate::store::calendar::CalendarEvent;
use crate::store::conversations::Conversation;
use crate::store::messages::Message;

/// How many of a closed conversation's last messages its follow-up summarizes.
pub const FOLLOW_UP_WINDOW: i64 = 200;

/// Sentences the follow-up's summary keeps.
const FOLLOW_UP_POINTS: usize = 4;

/// A customer message asking for a meeting becomes a task to book it, due at the day and
/// time it named (local to `tz`, midnight when it named a day only).
pub fn meeting_request(row: &Message, tz: Tz, now: DateTime<Utc>) -> Option<NewActivity> {
    if row.sender_type != SenderType::Contact {
        return None;
    }
    let wish = scheduling::read_wish(&row.content, now.with_timezone(&tz).date_naive());
    if !wish.intent {
        return None;
    }
    let due = wish.date.and_then(|d| {
        tz.from_local_datetime(&d.and_time(wish.time.unwrap_or(NaiveTime::MIN)))
            .earliest()
            .map(|t| t.naive_utc())
    });
    Some(NewActivity {
        tenant_id: row.tenant_id.clone(),
        contact_id: row.sender_id.clone().map(ContactId),
        conversation_id: row.conversation_id.clone(),
        user_id: None,
        kind: "task",
        title: "Agendar reunião solicitada pelo cliente".into(),
        description: row.content.clone(),
        due_at: due,
        data: serde_json::json!({
            "source": "auto_create",
            "message_id": row.id,
            "email": wish.email,
            "phone": wish.phone,
        }),
    })
}

/// A closed conversation leaves a follow-up holding the summary of its last messages
/// (`rows`, oldest first).
pub fn closing_follow_up(
    tenant: TenantId,
    conversation: ConversationId,
    rows: &[Message],
) -> NewActivity {
    let lines: Vec<(Speaker, &str)> = rows
        .iter()
        .map(|m| (Speaker::from_sender_type(m.sender_type), m.content.as_str()))
        .collect();
    let contact = rows
        .iter()
        .find(|m| m.sender_type == SenderType::Contact)
        .and_then(|m| m.sender_id.clone())
        .map(ContactId);
    NewActivity {
        tenant_id: tenant,
        contact_id: contact,
        conversation_id: conversation,
        user_id: None,
        kind: "follow_up",
        title: "Acompanhar conversa encerrada".into(),
        description: summary::extractive(&lines, FOLLOW_UP_POINTS),
        due_at: None,
        data: serde_json::json!({"source": "auto_create"}),
    }
}

/// A meeting booked for a conversation becomes a `meeting` activity of its host.
pub fn booked_meeting(conversation: &Conversation, event: &CalendarEvent) -> NewActivity {
    NewActivity {
        tenant_id: conversation.tenant_id.clone(),
        contact_id: Some(conversation.contact_id.clone()),
        conversation_id: conversation.id.clone(),
        user_id: event.user_id.clone(),
        kind: "meeting",
        title: event.title.clone(),
        description: [event.email.as_deref(), event.phone.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · "),
        due_at: Some(event.starts_at),
        data: serde_json::json!({"source": "auto_create", "event_id": event.id}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;
    use chrono::NaiveDate;

    fn afternoon(date: NaiveDate) -> DateTime<Utc> {
        date.and_hms_opt(15, 0, 0).expect("a time").and_utc()
    }

    #[test]
    fn a_booking_wish_becomes_a_task_due_when_the_customer_asked() {
        let tz = chrono_tz::America::Sao_Paulo;
        let today = NaiveDate::from_ymd_opt(2030, 3, 4).expect("a date");
        let row = Message::sample(
            1,
            SenderType::Contact,
            "podemos marcar amanhã às 15h? meu email é ana@ex.com",
        );
        let task = meeting_request(&row, tz, afternoon(today)).expect("a booking wish");
        assert_eq!(task.kind, "task");
        assert_eq!(task.conversation_id, row.conversation_id);
        assert_eq!(
            task.contact_id.as_ref().map(ContactId::as_str),
            row.sender_id.as_deref()
        );
        assert_eq!(task.description, row.content);
        // 15:00 in São Paulo (UTC-3) the next day.
        let due = task.due_at.expect("a due date").and_utc();
        assert_eq!(due.to_rfc3339(), "2030-03-05T18:00:00+00:00");
        assert_eq!(task.data["email"], "ana@ex.com");
        assert_eq!(task.data["message_id"], row.id.as_str());
        assert_eq!(task.data["source"], "auto_create");
    }

    #[test]
    fn only_a_customer_asking_for_a_meeting_makes_a_task() {
        let tz = chrono_tz::America::Sao_Paulo;
        let now = Utc::now();
        assert!(meeting_request(
            &Message::sample(1, SenderType::Contact, "meu pedido não chegou"),
            tz,
            now
        )
        .is_none());
        for sender in [SenderType::AiAgent, SenderType::User, SenderType::System] {
            let row = Message::sample(1, sender, "podemos marcar uma reunião amanhã às 15h?");
            assert!(meeting_request(&row, tz, now).is_none(), "{sender:?}");
        }
        let undated = meeting_request(
            &Message::sample(1, SenderType::Contact, "quero agendar uma reunião"),
            tz,
            now,
        )
        .expect("a wish without a day");
        assert_eq!(undated.due_at, None);
    }

    #[test]
    fn a_closing_leaves_a_follow_up_with_the_summary_and_the_customer() {
        let reply = Message::sample(1, SenderType::AiAgent, "Sinto muito! Vou abrir a troca.");
        let customer = Message::sample(2, SenderType::Contact, "Meu pedido 123 chegou quebrado.");
        let rows = vec![reply, customer.clone()];
        let tenant = customer.tenant_id.clone();
        let conversation = customer.conversation_id.clone();
        let follow_up = closing_follow_up(tenant.clone(), conversation.clone(), &rows);
        assert_eq!(follow_up.kind, "follow_up");
        assert_eq!(follow_up.tenant_id, tenant);
        assert_eq!(follow_up.conversation_id, conversation);
        assert_eq!(
            follow_up.contact_id.as_ref().map(ContactId::as_str),
            customer.sender_id.as_deref(),
            "the customer is whoever wrote as the contact"
        );
        assert!(
            follow_up.description.contains("Meu pedido 123"),
            "{}",
            follow_up.description
        );
        let silent = closing_follow_up(tenant, conversation, &[]);
        assert_eq!(silent.contact_id, None);
    }

    #[test]
    fn a_booked_meeting_is_its_hosts_activity() {
        let tenant = TenantId::new();
        let contact = ContactId::new();
        let conversation = Conversation::new_for(&tenant, &contact, None, "webchat");
        let host = UserId::new();
        let starts_at = Utc::now().naive_utc();
        let event = CalendarEvent {
            id: "e1".into(),
            tenant_id: tenant.clone(),
            user_id: Some(host.clone()),
            contact_id: Some(contact.clone()),
            conversation_id: Some(conversation.id.clone()),
            title: "Reunião com Ana".into(),
            starts_at,
            ends_at: starts_at,
            email: Some("ana@ex.com".into()),
            phone: Some("+5511987654321".into()),
            created_at: starts_at,
        };
        let meeting = booked_meeting(&conversation, &event);
        assert_eq!(meeting.kind, "meeting");
        assert_eq!(meeting.user_id, Some(host));
        assert_eq!(meeting.contact_id, Some(contact));
        assert_eq!(meeting.title, "Reunião com Ana");
        assert_eq!(meeting.description, "ana@ex.com · +5511987654321");
        assert_eq!(meeting.due_at, Some(starts_at));
        assert_eq!(meeting.data["event_id"], "e1");
        let without_phone = CalendarEvent {
            phone: None,
            ..event
        };
        assert_eq!(
            booked_meeting(&conversation, &without_phone).description,
            "ana@ex.com"
        );
    }
}
