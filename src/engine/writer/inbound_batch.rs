//! Set-based ingest: a run of inbound messages written as a handful of statements — the
//! batch's contacts, de-duplication and active conversations read in one query each, then
//! new contacts, new conversations and messages inserted as multi-row statements and every
//! touched conversation's `seq` moved on once — instead of ~10 round trips per message.
//! [`plan`] is the pure part: given what the store already holds, what each message becomes.

use std::collections::HashMap;

use chrono::NaiveDateTime;

use super::{Inbound, Ingested};
use crate::domain::conversation::SenderType;
use crate::domain::csat;
use crate::domain::{ContactId, ConversationId, IntegrationId, MessageId, TenantId};
use crate::store::contacts::{self, Contact};
use crate::store::conversations::{self, Advance, Conversation};
use crate::store::csat as csat_store;
use crate::store::messages::{self, Message};
use crate::store::{DbConn, StoreError, StoreResult};

/// What the store already holds about a batch, read before planning it.
#[derive(Debug, Default)]
pub struct Known {
    /// Contacts by (integration, channel external id).
    pub contacts: HashMap<(IntegrationId, String), Contact>,
    /// Messages already stored, by (integration, message external id).
    pub messages: HashMap<(IntegrationId, String), Message>,
    /// Each contact's newest conversation that is not closed.
    pub active: HashMap<ContactId, Conversation>,
    /// Conversations of the messages already stored (for duplicates).
    pub of_duplicates: HashMap<ConversationId, Conversation>,
    /// Closed conversations whose CSAT question waits for the contact's rating (read only
    /// when the batch holds a message that reads as one).
    pub awaiting_rating: HashMap<ContactId, Conversation>,
}

/// What one inbound message becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    /// A new message: index into `Plan::messages`.
    New {
        message: usize,
        new_conversation: bool,
        /// The message rates the closed conversation it was written to.
        rating: Option<u8>,
    },
    /// Already stored before this batch.
    Stored(MessageId),
    /// Sent twice within this batch: the first one's index into `Plan::messages`.
    Repeat(usize),
}

/// The writes a batch needs, and what to answer each caller.
#[derive(Debug, Default)]
pub struct Plan {
    pub new_contacts: Vec<Contact>,
    pub changed_contacts: Vec<Contact>,
    pub new_conversations: Vec<Conversation>,
    /// Messages to existing conversations, counted per conversation.
    pub advances: Vec<Advance>,
    /// New messages; those to existing conversations get their `seq` from the advance.
    pub messages: Vec<Message>,
    /// Per item: its contact, conversation and slot.
    slots: Vec<(ContactKey, ConversationId, Slot)>,
    /// Closed conversations rated by this batch, and how.
    pub ratings: Vec<(ConversationId, u8)>,
    /// Every contact and conversation of the batch as they are after it.
    contacts: HashMap<ContactKey, Contact>,
    conversations: HashMap<ConversationId, Conversation>,
}

type ContactKey = (IntegrationId, String);

/// Plans a batch against what the store holds: contacts created once and updated with the
/// newest details, duplicates (stored before, or twice in the batch) answered with the first
/// message, one conversation per contact, `seq`s in arrival order.
pub fn plan(items: &[&Inbound], known: &Known, now: NaiveDateTime) -> Plan {
    let mut plan = Plan::default();
    let mut created_contacts: Vec<ContactKey> = Vec::new();
    let mut changed: Vec<ContactKey> = Vec::new();
    // Each contact's conversation in this batch.
    let mut conversation_of: HashMap<ContactId, ConversationId> = HashMap::new();
    let mut created_conversations: Vec<ConversationId> = Vec::new();
    let mut seen: HashMap<(IntegrationId, String), usize> = HashMap::new();
    // Per existing conversation: the messages this batch appends (index into `appended`).
    let mut appended: Vec<Advance> = Vec::new();
    let mut advance_of: HashMap<ConversationId, usize> = HashMap::new();

    for item in items {
        let key: ContactKey = (
            item.integration_id.clone(),
            item.contact.external_id.clone(),
        );
        let contact = plan.contacts.entry(key.clone()).or_insert_with(|| {
            known.contacts.get(&key).cloned().unwrap_or_else(|| {
                created_contacts.push(key.clone());
                Contact::first_seen(&item.tenant_id, &item.integration_id, &item.contact, now)
            })
        });
        if contacts::merge_details(contact, &item.contact, now)
            && known.contacts.contains_key(&key)
            && !changed.contains(&key)
        {
            changed.push(key.clone());
        }
        let contact_id = contact.id.clone();

        let message_key = (item.integration_id.clone(), item.external_id.clone());
        if let Some(stored) = known.messages.get(&message_key) {
            if let Some(conversation) = known.of_duplicates.get(&stored.conversation_id) {
                plan.conversations
                    .entry(conversation.id.clone())
                    .or_insert_with(|| conversation.clone());
            }
            plan.slots.push((
                key,
                stored.conversation_id.clone(),
                Slot::Stored(stored.id.clone()),
            ));
            continue;
        }
        if let Some(&first) = seen.get(&message_key) {
            let conversation = plan.messages[first].conversation_id.clone();
            plan.slots.push((key, conversation, Slot::Repeat(first)));
            continue;
        }

        let mut new_conversation = false;
        let mut is_new = false;
        let rating = rating_for(item, &contact_id, known);
        let conversation_id = match (conversation_of.get(&contact_id), rating) {
            // Written to the closed conversation it rates; the contact's other messages
            // still open (or go to) a conversation of their own.
            (_, Some((rating, closed))) => {
                plan.ratings.push((closed.id.clone(), rating));
                plan.conversations
                    .entry(closed.id.clone())
                    .or_insert_with(|| closed.clone());
                closed.id.clone()
            }
            (Some(id), None) => {
                is_new = !advance_of.contains_key(id);
                id.clone()
            }
            (None, None) => {
                let conversation = match known.active.get(&contact_id) {
                    Some(active) => active.clone(),
                    None => {
                        new_conversation = true;
                        is_new = true;
                        let mut conversation = Conversation::new_for(
                            &item.tenant_id,
                            &contact_id,
                            Some(&item.integration_id),
                            item.channel,
                        );
                        conversation.created_at = now;
                        conversation.updated_at = now;
                        conversation.queued_at = Some(now);
                        created_conversations.push(conversation.id.clone());
                        conversation
                    }
                };
                let id = conversation.id.clone();
                conversation_of.insert(contact_id.clone(), id.clone());
                plan.conversations.insert(id.clone(), conversation);
                id
            }
        };
        let customer = !item.from_business;
        let position = match plan.conversations.get_mut(&conversation_id) {
            Some(conversation) if is_new => {
                // A conversation this batch creates is inserted with its final counters.
                conversation.last_seq += 1;
                conversation.customer_messages += i32::from(customer);
                conversation.last_message_at = Some(now);
                conversation.last_seq
            }
            _ => {
                let index = *advance_of
                    .entry(conversation_id.clone())
                    .or_insert_with(|| {
                        appended.push(Advance {
                            id: conversation_id.clone(),
                            messages: 0,
                            customer_messages: 0,
                        });
                        appended.len() - 1
                    });
                let advance = &mut appended[index];
                advance.messages += 1;
                advance.customer_messages += i32::from(customer);
                advance.messages
            }
        };
        let (sender_type, direction, sender_id) = if customer {
            (SenderType::Contact, "in", Some(contact_id.to_string()))
        } else {
            (SenderType::User, "out", None)
        };
        seen.insert(message_key, plan.messages.len());
        plan.slots.push((
            key,
            conversation_id.clone(),
            Slot::New {
                message: plan.messages.len(),
                new_conversation,
                rating: rating.map(|(r, _)| r),
            },
        ));
        plan.messages.push(Message {
            id: MessageId::new(),
            tenant_id: item.tenant_id.clone(),
            conversation_id,
            // Final for a new conversation; for an existing one, the position within this
            // batch until the advance says where the batch starts (`settle`).
            seq: position,
            sender_type,
            sender_id,
            content: item.content.clone(),
            content_type: item.content_type.clone(),
            status: "sent".into(),
            direction: direction.into(),
            integration_id: Some(item.integration_id.clone()),
            external_id: Some(item.external_id.clone()),
            metadata: item.metadata.to_string(),
            created_at: now,
        });
    }

    plan.advances = appended;
    plan.new_contacts = created_contacts
        .iter()
        .filter_map(|key| plan.contacts.get(key).cloned())
        .collect();
    plan.changed_contacts = changed
        .iter()
        .filter_map(|key| plan.contacts.get(key).cloned())
        .collect();
    plan.new_conversations = created_conversations
        .iter()
        .filter_map(|id| plan.conversations.get(id).cloned())
        .collect();
    plan
}

impl Plan {
    /// Gives the messages to existing conversations their `seq`: the advance answered each
    /// conversation's new `last_seq`, and the batch's messages end there.
    pub fn settle(&mut self, last_seqs: &HashMap<ConversationId, i64>) -> StoreResult<()> {
        for advance in &self.advances {
            let Some(&last) = last_seqs.get(&advance.id) else {
                return Err(StoreError::NotFound);
            };
            let base = last - advance.messages;
            for message in self
                .messages
                .iter_mut()
                .filter(|m| m.conversation_id == advance.id)
            {
                message.seq += base;
            }
        }
        Ok(())
    }

    /// What each caller is answered, in the batch's order.
    pub fn answers(self, stored: &HashMap<MessageId, Message>) -> StoreResult<Vec<Ingested>> {
        let Plan {
            slots,
            messages,
            contacts,
            conversations,
            ..
        } = self;
        slots
            .into_iter()
            .map(|(contact, conversation, slot)| {
                let contact = contacts
                    .get(&contact)
                    .cloned()
                    .ok_or(StoreError::NotFound)?;
                let conversation = conversations
                    .get(&conversation)
                    .cloned()
                    .ok_or(StoreError::NotFound)?;
                let (message, duplicate, new_conversation, rating) = match slot {
                    Slot::New {
                        message,
                        new_conversation,
                        rating,
                    } => (
                        messages.get(message).cloned(),
                        false,
                        new_conversation,
                        rating,
                    ),
                    Slot::Repeat(first) => (messages.get(first).cloned(), true, false, None),
                    Slot::Stored(id) => (stored.get(&id).cloned(), true, false, None),
                };
                Ok(Ingested {
                    conversation,
                    contact,
                    message: message.ok_or(StoreError::NotFound)?,
                    duplicate,
                    new_conversation,
                    rating,
                })
            })
            .collect()
    }
}

/// The rating `item` gives and the closed conversation it rates: a customer's "1".."5"
/// while the contact has no open conversation and a CSAT question waits.
fn rating_for<'k>(
    item: &Inbound,
    contact: &ContactId,
    known: &'k Known,
) -> Option<(u8, &'k Conversation)> {
    if item.from_business || known.active.contains_key(contact) {
        return None;
    }
    let rating = csat::parse_rating(&item.content)?;
    Some((rating, known.awaiting_rating.get(contact)?))
}

/// Reads what the store holds about the batch: one query per integration for contacts and
/// for stored messages, one for active conversations, one for duplicates' conversations.
fn load(conn: &mut DbConn, items: &[&Inbound]) -> StoreResult<Known> {
    /// One integration's share of the batch (an integration belongs to one tenant).
    struct Group<'a> {
        tenant: &'a TenantId,
        contacts: Vec<&'a str>,
        messages: Vec<&'a str>,
    }
    let mut known = Known::default();
    let mut groups: HashMap<&IntegrationId, Group<'_>> = HashMap::new();
    for item in items {
        let group = groups.entry(&item.integration_id).or_insert_with(|| Group {
            tenant: &item.tenant_id,
            contacts: Vec::new(),
            messages: Vec::new(),
        });
        group.contacts.push(&item.contact.external_id);
        group.messages.push(&item.external_id);
    }
    for (integration, group) in &groups {
        for contact in contacts::find_by_channel(conn, group.tenant, integration, &group.contacts)?
        {
            if let Some(external) = contact.external_id.clone() {
                known
                    .contacts
                    .insert(((*integration).clone(), external), contact);
            }
        }
        for message in messages::find_by_externals(conn, integration, &group.messages)? {
            if let Some(external) = message.external_id.clone() {
                known
                    .messages
                    .insert(((*integration).clone(), external), message);
            }
        }
    }
    let contact_ids: Vec<&ContactId> = known.contacts.values().map(|c| &c.id).collect();
    if !contact_ids.is_empty() {
        known.active = conversations::active_for_contacts(conn, &contact_ids)?;
    }
    // Only a batch holding something that reads as a rating looks for waiting questions.
    let may_rate: Vec<&ContactId> = items
        .iter()
        .filter(|i| !i.from_business && csat::parse_rating(&i.content).is_some())
        .filter_map(|i| {
            known
                .contacts
                .get(&(i.integration_id.clone(), i.contact.external_id.clone()))
        })
        .map(|c| &c.id)
        .filter(|id| !known.active.contains_key(*id))
        .collect();
    if !may_rate.is_empty() {
        let waiting = csat_store::awaiting(conn, &may_rate, crate::store::now())?;
        let closed: Vec<&ConversationId> = waiting.values().collect();
        let mut rows: HashMap<ConversationId, Conversation> =
            conversations::find_many(conn, &closed)?
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect();
        known.awaiting_rating = waiting
            .into_iter()
            .filter_map(|(contact, id)| rows.remove(&id).map(|c| (contact, c)))
            .collect();
    }
    let duplicate_of: Vec<&ConversationId> = known
        .messages
        .values()
        .map(|m| &m.conversation_id)
        .collect();
    if !duplicate_of.is_empty() {
        known.of_duplicates = conversations::find_many(conn, &duplicate_of)?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
    }
    Ok(known)
}

/// Writes a run of inbound messages set-based, in the caller's transaction. Any failure
/// fails the whole run; the writer then rolls it back and writes its items one by one, so a
/// bad item fails alone.
pub fn write(conn: &mut DbConn, items: &[&Inbound]) -> StoreResult<Vec<Ingested>> {
    let known = load(conn, items)?;
    let now = crate::store::now();
    let mut plan = plan(items, &known, now);
    contacts::insert_many(conn, &plan.new_contacts)?;
    for contact in &plan.changed_contacts {
        contacts::update_details(conn, contact)?;
    }
    crate::store::integrations::start_in_default_stages(conn, &mut plan.new_conversations)?;
    for started in &plan.new_conversations {
        if let Some(planned) = plan.conversations.get_mut(&started.id) {
            planned.funnel_id.clone_from(&started.funnel_id);
            planned.stage_id.clone_from(&started.stage_id);
        }
    }
    conversations::insert_many(conn, &plan.new_conversations)?;
    let last_seqs = conversations::advance(conn, &plan.advances, now)?;
    plan.settle(&last_seqs)?;
    messages::insert_many(conn, &plan.messages)?;
    for (conversation, rating) in &plan.ratings {
        csat_store::rate(conn, conversation, *rating, now)?;
    }
    let stored: HashMap<MessageId, Message> = known
        .messages
        .into_values()
        .map(|m| (m.id.clone(), m))
        .collect();
    plan.answers(&stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contacts::ChannelIdentity;

    fn at() -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .map(|t| t.naive_utc())
            .unwrap_or_default()
    }

    fn inbound(contact: &str, external_id: &str) -> Inbound {
        Inbound {
            tenant_id: TenantId("t1".into()),
            integration_id: IntegrationId("i1".into()),
            channel: "generic",
            contact: ChannelIdentity {
                external_id: contact.into(),
                ..ChannelIdentity::default()
            },
            external_id: external_id.into(),
            content: format!("text of {external_id}"),
            content_type: "text".into(),
            metadata: serde_json::Value::Null,
            from_business: false,
        }
    }

    fn key(contact: &str) -> ContactKey {
        (IntegrationId("i1".into()), contact.into())
    }

    /// The store already knows contact `c1` with an active conversation at `last_seq` 7.
    fn known_c1() -> (Known, Contact, Conversation) {
        let item = inbound("c1", "x");
        let contact =
            Contact::first_seen(&item.tenant_id, &item.integration_id, &item.contact, at());
        let mut conversation = Conversation::new_for(
            &item.tenant_id,
            &contact.id,
            Some(&item.integration_id),
            "generic",
        );
        conversation.last_seq = 7;
        let mut known = Known::default();
        known.contacts.insert(key("c1"), contact.clone());
        known
            .active
            .insert(contact.id.clone(), conversation.clone());
        (known, contact, conversation)
    }

    #[test]
    fn a_new_contacts_messages_open_one_conversation_numbered_in_arrival_order() {
        let (a, b) = (inbound("c9", "m1"), inbound("c9", "m2"));
        let plan = plan(&[&a, &b], &Known::default(), at());
        assert_eq!(plan.new_contacts.len(), 1);
        assert_eq!(plan.new_conversations.len(), 1);
        assert!(plan.advances.is_empty());
        let conversation = &plan.new_conversations[0];
        assert_eq!(
            (conversation.last_seq, conversation.customer_messages),
            (2, 2)
        );
        let seqs: Vec<i64> = plan.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, vec![1, 2]);
        let answers = plan.answers(&HashMap::new()).expect("answers");
        assert!(answers[0].new_conversation && !answers[1].new_conversation);
        assert!(answers.iter().all(|a| !a.duplicate));
        assert_eq!(answers[0].conversation.id, answers[1].conversation.id);
        assert_eq!(answers[1].message.content, "text of m2");
    }

    #[test]
    fn messages_to_an_existing_conversation_take_the_seqs_after_its_last() {
        let (known, contact, conversation) = known_c1();
        let (a, b) = (inbound("c1", "m1"), inbound("c1", "m2"));
        let mut plan = plan(&[&a, &b], &known, at());
        assert!(plan.new_contacts.is_empty() && plan.new_conversations.is_empty());
        assert_eq!(
            plan.advances,
            vec![Advance {
                id: conversation.id.clone(),
                messages: 2,
                customer_messages: 2
            }]
        );
        // Another lane appended one more meanwhile: the advance answers 7 + 1 + 2.
        plan.settle(&HashMap::from([(conversation.id.clone(), 10)]))
            .expect("settled");
        let seqs: Vec<i64> = plan.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, vec![9, 10]);
        let answers = plan.answers(&HashMap::new()).expect("answers");
        assert_eq!(answers[0].contact.id, contact.id);
        assert!(!answers[0].new_conversation);
    }

    #[test]
    fn a_conversation_missing_from_the_advance_fails_the_run() {
        let (known, _, _) = known_c1();
        let item = inbound("c1", "m1");
        let mut plan = plan(&[&item], &known, at());
        assert!(matches!(
            plan.settle(&HashMap::new()),
            Err(StoreError::NotFound)
        ));
    }

    #[test]
    fn a_message_stored_before_or_repeated_in_the_batch_is_answered_as_a_duplicate() {
        let (mut known, _, conversation) = known_c1();
        let first = inbound("c1", "old");
        let stored = Message {
            id: MessageId::new(),
            tenant_id: first.tenant_id.clone(),
            conversation_id: conversation.id.clone(),
            seq: 7,
            sender_type: SenderType::Contact,
            sender_id: None,
            content: "earlier".into(),
            content_type: "text".into(),
            status: "sent".into(),
            direction: "in".into(),
            integration_id: Some(first.integration_id.clone()),
            external_id: Some("old".into()),
            metadata: "{}".into(),
            created_at: at(),
        };
        known
            .messages
            .insert((first.integration_id.clone(), "old".into()), stored.clone());
        known
            .of_duplicates
            .insert(conversation.id.clone(), conversation.clone());
        let (new, again) = (inbound("c9", "m1"), inbound("c9", "m1"));
        let plan = plan(&[&first, &new, &again], &known, at());
        assert_eq!(plan.messages.len(), 1, "only m1 is new");
        assert!(plan.advances.is_empty(), "the stored one appends nothing");
        let stored_by_id = HashMap::from([(stored.id.clone(), stored.clone())]);
        let answers = plan.answers(&stored_by_id).expect("answers");
        assert!(answers[0].duplicate && answers[0].message.id == stored.id);
        assert!(!answers[1].duplicate && answers[1].new_conversation);
        assert!(answers[2].duplicate && !answers[2].new_conversation);
        assert_eq!(answers[2].message.id, answers[1].message.id);
    }

    #[test]
    fn newer_details_update_a_known_contact_once_with_the_latest_values() {
        let (known, contact, _) = known_c1();
        let mut a = inbound("c1", "m1");
        a.contact.name = Some("Ana".into());
        let mut b = inbound("c1", "m2");
        b.contact.name = Some("Ana Lima".into());
        b.contact.phone = Some("+5511".into());
        let plan = plan(&[&a, &b], &known, at());
        assert_eq!(plan.changed_contacts.len(), 1);
        let changed = &plan.changed_contacts[0];
        assert_eq!(changed.id, contact.id);
        assert_eq!(changed.name.as_deref(), Some("Ana Lima"));
        assert_eq!(changed.phone.as_deref(), Some("+5511"));
    }

    #[test]
    fn a_message_the_business_sent_from_elsewhere_is_outbound_and_not_a_customer_message() {
        let mut item = inbound("c9", "m1");
        item.from_business = true;
        let plan = plan(&[&item], &Known::default(), at());
        assert_eq!(plan.messages[0].direction, "out");
        assert_eq!(plan.messages[0].sender_type, SenderType::User);
        assert_eq!(plan.new_conversations[0].customer_messages, 0);
    }
}
