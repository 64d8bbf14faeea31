//! Built-in system tools (seed 004): act on the conversation and the CRM. Changes of owner or
//! status come back as [`Effect`]s for the conversation actor to apply; data changes (tags,
//! stages, contact fields, activities, timers) are written here, tenant-scoped.

use chrono::NaiveDateTime;
use serde_json::{json, Value};

use super::{Effect, ToolContext, ToolOutcome, ToolRuntime};
use crate::domain::escalation::EscalationReason;
use crate::store::crm::{self, ContactUpdate, NewActivity};
use crate::store::{timers, StoreError};

pub const SEARCH_PREVIOUS_CONVERSATIONS: &str = "search_previous_conversations";
pub const TRANSFER_TO_HUMAN: &str = "transfer_to_human";
pub const CLOSE_CONVERSATION: &str = "close_conversation";
pub const UPDATE_CONTACT: &str = "update_contact";
pub const ADD_TAG: &str = "add_tag";
pub const CREATE_ACTIVITY: &str = "create_activity";
pub const MOVE_TO_STAGE: &str = "move_to_stage";
pub const SCHEDULE_FOLLOWUP: &str = "schedule_followup";
pub const SCHEDULE_MEETING: &str = "schedule_meeting";

/// Longest follow-up delay: 30 days.
pub const MAX_FOLLOWUP_MINUTES: f64 = 43_200.0;

/// Name, description and argument schema of every system tool.
pub fn catalog() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            SEARCH_PREVIOUS_CONVERSATIONS,
            "Looks up the customer's earlier conversations and their last messages.",
            json!({"type": "object", "properties": {
                "limit": {"type": "integer", "minimum": 1, "maximum": 5}
            }, "additionalProperties": false}),
        ),
        (
            TRANSFER_TO_HUMAN,
            "Hands the conversation to a human agent. Use when the customer asks for a person \
             or you cannot help.",
            json!({"type": "object", "properties": {
                "reason": {"type": "string", "minLength": 1, "maxLength": 300}
            }, "required": ["reason"], "additionalProperties": false}),
        ),
        (
            CLOSE_CONVERSATION,
            "Closes the conversation once the customer's matter is resolved. `message` is a \
             farewell sent before closing.",
            json!({"type": "object", "properties": {
                "reason": {"type": "string", "maxLength": 300},
                "message": {"type": "string", "maxLength": 2000}
            }, "additionalProperties": false}),
        ),
        (
            UPDATE_CONTACT,
            "Saves details the customer gave: name, e-mail, phone or other fields.",
            json!({"type": "object", "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "email": {"type": "string", "maxLength": 254},
                "phone": {"type": "string", "maxLength": 32},
                "custom_fields": {"type": "object", "maxProperties": 30,
                    "additionalProperties": {"type": ["string", "number", "boolean"]}}
            }, "minProperties": 1, "additionalProperties": false}),
        ),
        (
            ADD_TAG,
            "Adds a tag to the conversation.",
            json!({"type": "object", "properties": {
                "tag": {"type": "string", "minLength": 1, "maxLength": 100}
            }, "required": ["tag"], "additionalProperties": false}),
        ),
        (
            CREATE_ACTIVITY,
            "Creates a task or activity for the team about this customer.",
            json!({"type": "object", "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 300},
                "description": {"type": "string", "maxLength": 4000},
                "kind": {"type": "string", "enum": ["task", "call", "meeting", "follow_up", "note"]},
                "due_at": {"type": "string", "description": "RFC 3339 time or YYYY-MM-DD"}
            }, "required": ["title"], "additionalProperties": false}),
        ),
        (
            MOVE_TO_STAGE,
            "Moves the conversation to a sales funnel stage, by stage name or id.",
            json!({"type": "object", "properties": {
                "stage": {"type": "string", "minLength": 1, "maxLength": 200}
            }, "required": ["stage"], "additionalProperties": false}),
        ),
        (
            SCHEDULE_FOLLOWUP,
            "Schedules a follow-up message to the customer after a delay in minutes.",
            json!({"type": "object", "properties": {
                "delay_minutes": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_FOLLOWUP_MINUTES},
                "message": {"type": "string", "minLength": 1, "maxLength": 2000},
                "reason": {"type": "string", "maxLength": 300}
            }, "required": ["delay_minutes", "message"], "additionalProperties": false}),
        ),
        (
            SCHEDULE_MEETING,
            "Books a meeting with the team. First `list_slots` for a date to see the free \
             times, then `book` one the customer chose. The customer gets a confirmation \
             with a calendar link in `language`.",
            json!({"type": "object", "properties": {
                "action": {"type": "string", "enum": ["list_slots", "book"]},
                "date": {"type": "string", "description": "YYYY-MM-DD"},
                "time": {"type": "string", "description": "HH:MM, local time (book)"},
                "email": {"type": "string", "maxLength": 254},
                "language": {"type": "string", "enum": ["pt-BR", "en"]}
            }, "required": ["action", "date"], "additionalProperties": false}),
        ),
    ]
}

/// The built-in description and schema of a system tool, or `None` for an unknown name.
pub fn definition(name: &str) -> Option<(&'static str, Value)> {
    catalog()
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, description, schema)| (description, schema))
}

fn text(args: &Value, key: &str) -> Option<String> {
    args.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn store_error(e: StoreError) -> String {
    match e {
        StoreError::NotFound => "not found".into(),
        other => {
            tracing::warn!(error = %other, "system tool store error");
            "the data store is unavailable; try again later".into()
        }
    }
}

fn is_phone(raw: &str) -> bool {
    let digits = raw.chars().filter(char::is_ascii_digit).count();
    (8..=15).contains(&digits)
        && raw
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
}

pub fn parse_due(raw: &str) -> Option<NaiveDateTime> {
    use crate::domain::dates;
    if let Ok(at) = dates::parse_instant(raw) {
        return Some(at.naive_utc());
    }
    dates::parse_day(raw)
        .ok()
        .and_then(|d| d.and_hms_opt(12, 0, 0))
}

/// Runs system tool `name` with already-validated `args`.
pub async fn run(name: &str, args: Value, cx: &ToolContext, rt: &ToolRuntime) -> ToolOutcome {
    let store = rt.store().clone();
    let tenant = cx.tenant.clone();
    if name == SCHEDULE_MEETING {
        // Also outside a conversation (an agent's chat stream): booked with the team.
        return schedule_meeting(args, cx, rt, cx.conversation.clone()).await;
    }
    let (Some(conversation), Some(contact)) = (cx.conversation.clone(), cx.contact.clone()) else {
        return ToolOutcome::error("this tool only works inside a customer conversation");
    };
    match name {
        SEARCH_PREVIOUS_CONVERSATIONS => {
            let limit = args.get("limit").and_then(Value::as_i64).unwrap_or(3);
            let found = store
                .run(move |conn| {
                    crm::previous_conversations(conn, &tenant, &contact, &conversation, limit, 6)
                })
                .await;
            match found {
                Ok(list) => ToolOutcome::ok(json!({"conversations": list})),
                Err(e) => ToolOutcome::error(store_error(e)),
            }
        }
        TRANSFER_TO_HUMAN => {
            let reason = text(&args, "reason").unwrap_or_else(|| "requested by the AI".into());
            ToolOutcome::ok(json!({"transferred": true})).with_effect(Effect::Escalate {
                reason: EscalationReason::AiTransfer(super::truncate(&reason, 200)),
            })
        }
        CLOSE_CONVERSATION => {
            let mut outcome = ToolOutcome::ok(json!({"closed": true})).with_effect(Effect::Close {
                reason: text(&args, "reason"),
            });
            outcome.say = text(&args, "message");
            outcome
        }
        UPDATE_CONTACT => {
            let email = text(&args, "email");
            if email
                .as_deref()
                .is_some_and(|e| !crate::domain::validate::is_email(e))
            {
                return ToolOutcome::error("email is not a valid e-mail address");
            }
            let phone = text(&args, "phone");
            if phone.as_deref().is_some_and(|p| !is_phone(p)) {
                return ToolOutcome::error("phone must have 8 to 15 digits");
            }
            let update = ContactUpdate {
                name: text(&args, "name"),
                email: email.map(|e| crate::domain::validate::normalize_email(&e)),
                phone,
                custom_fields: args
                    .get("custom_fields")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
            };
            let saved = store
                .run(move |conn| crm::update_contact(conn, &tenant, &contact, &update))
                .await;
            match saved {
                Ok(()) => ToolOutcome::ok(json!({"updated": true})),
                Err(e) => ToolOutcome::error(store_error(e)),
            }
        }
        ADD_TAG => {
            let Some(tag) = text(&args, "tag") else {
                return ToolOutcome::error("tag must not be blank");
            };
            let shown = tag.clone();
            let added = store
                .run(move |conn| crm::add_conversation_tag(conn, &tenant, &conversation, &tag))
                .await;
            match added {
                Ok(added) => ToolOutcome::ok(json!({"tag": shown, "added": added})),
                Err(e) => ToolOutcome::error(store_error(e)),
            }
        }
        CREATE_ACTIVITY => {
            let due_at = match text(&args, "due_at") {
                Some(raw) => match parse_due(&raw) {
                    Some(at) => Some(at),
                    None => {
                        return ToolOutcome::error("due_at must be an RFC 3339 time or YYYY-MM-DD")
                    }
                },
                None => None,
            };
            let activity = NewActivity {
                tenant_id: tenant.clone(),
                contact_id: Some(contact),
                conversation_id: Some(conversation),
                kind: text(&args, "kind").unwrap_or_else(|| "task".into()),
                title: text(&args, "title").unwrap_or_default(),
                description: text(&args, "description").unwrap_or_default(),
                due_at,
                data: json!({"created_by": "ai_agent", "agent_id": cx.agent}).to_string(),
            };
            let created = store
                .run(move |conn| crm::insert_activity(conn, &activity))
                .await;
            match created {
                Ok(id) => ToolOutcome::ok(json!({"activity_id": id})),
                Err(e) => ToolOutcome::error(store_error(e)),
            }
        }
        MOVE_TO_STAGE => {
            let Some(stage) = text(&args, "stage") else {
                return ToolOutcome::error("stage must not be blank");
            };
            let moved = store
                .run(move |conn| crm::move_to_stage(conn, &tenant, &conversation, &stage))
                .await;
            match moved {
                Ok(name) => ToolOutcome::ok(json!({"stage": name})),
                Err(StoreError::NotFound) => ToolOutcome::error("no such stage"),
                Err(e) => ToolOutcome::error(store_error(e)),
            }
        }
        SCHEDULE_FOLLOWUP => {
            let minutes = args
                .get("delay_minutes")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            if !(minutes > 0.0 && minutes <= MAX_FOLLOWUP_MINUTES) {
                return ToolOutcome::error("delay_minutes must be between 0 and 43200");
            }
            let Some(message) = text(&args, "message") else {
                return ToolOutcome::error("message must not be blank");
            };
            let now = rt.inner.clock.now();
            // Whole milliseconds: the timer table keeps microseconds on both backends.
            let fire_at =
                now + chrono::TimeDelta::milliseconds((minutes * 60_000.0).round() as i64);
            let timer = timers::Timer {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: tenant,
                conversation_id: conversation,
                kind: timers::TimerKind::Followup.as_str().into(),
                fire_at,
                payload: json!({
                    "message": message,
                    "reason": text(&args, "reason"),
                    "agent_id": cx.agent,
                })
                .to_string(),
                fired: false,
                created_at: now,
            };
            let id = timer.id.clone();
            let saved = store.run(move |conn| timers::insert(conn, &timer)).await;
            match saved {
                Ok(()) => ToolOutcome::ok(json!({
                    "scheduled": true,
                    "timer_id": id,
                    "fire_at": fire_at.and_utc().to_rfc3339(),
                })),
                Err(e) => ToolOutcome::error(store_error(e)),
            }
        }
        other => ToolOutcome::error(format!("unknown system tool `{other}`")),
    }
}

/// `schedule_meeting`: the free times of a day, or a booking with the conversation's host
/// (its human owner, else the team), confirmed to the customer by the conversation. Outside
/// a conversation (an agent's chat stream) the team's times, and a booking for `email`.
async fn schedule_meeting(
    args: Value,
    cx: &ToolContext,
    rt: &ToolRuntime,
    conversation: Option<crate::domain::ConversationId>,
) -> ToolOutcome {
    use crate::engine::booking::{self, BookingError};
    let store = rt.store().clone();
    let setup = rt.booking();
    let tenant = cx.tenant.clone();
    let conversation = match conversation {
        Some(id) => {
            let found = store
                .run(move |conn| crate::store::conversations::find(conn, &tenant, &id))
                .await;
            match found {
                Ok(c) => Some(c),
                Err(e) => return ToolOutcome::error(store_error(e)),
            }
        }
        None => None,
    };
    let booking_error = |e: BookingError| match e {
        BookingError::Store(e) => store_error(e),
        other => other.to_string(),
    };
    let date = text(&args, "date").unwrap_or_default();
    let tz: chrono_tz::Tz = setup.calendar.timezone.parse().unwrap_or(chrono_tz::UTC);
    match text(&args, "action").as_deref() {
        Some("list_slots") => {
            let Ok(day) = crate::domain::dates::parse_day(&date) else {
                return ToolOutcome::error("date must be YYYY-MM-DD");
            };
            let hosts = match &conversation {
                Some(conversation) => booking::conversation_hosts(&store, conversation).await,
                None => booking::team_hosts(&store, &cx.tenant).await,
            };
            let hosts = match hosts {
                Ok(hosts) => hosts,
                Err(e) => return ToolOutcome::error(booking_error(e)),
            };
            let duration =
                chrono::Duration::minutes(i64::from(setup.calendar.default_duration_minutes));
            let slots =
                booking::free_slots(&store, &setup.calendar, &cx.tenant, hosts, day, duration)
                    .await;
            match slots {
                Ok(slots) => {
                    let times: Vec<String> = slots
                        .iter()
                        .map(|s| s.start.with_timezone(&tz).format("%H:%M").to_string())
                        .collect();
                    ToolOutcome::ok(json!({"date": date, "timezone": tz.name(), "free": times}))
                }
                Err(e) => ToolOutcome::error(booking_error(e)),
            }
        }
        Some("book") => {
            let Some(time) = text(&args, "time") else {
                return ToolOutcome::error("time (HH:MM) is required to book");
            };
            let email = text(&args, "email");
            if email
                .as_deref()
                .is_some_and(|e| !crate::domain::validate::is_email(e))
            {
                return ToolOutcome::error("email is not a valid e-mail address");
            }
            let language = text(&args, "language")
                .and_then(|l| l.parse().ok())
                .unwrap_or(crate::domain::scheduling::Language::PtBr);
            let start = match booking::parse_start(&setup.calendar, &date, &time) {
                Ok(start) => start,
                Err(e) => return ToolOutcome::error(e),
            };
            let email = email.map(|e| crate::domain::validate::normalize_email(&e));
            let booked = match (&conversation, email) {
                (Some(conversation), email) => {
                    booking::book_for_conversation(
                        &store,
                        &setup.calendar,
                        conversation,
                        start,
                        email,
                        None,
                    )
                    .await
                }
                (None, Some(email)) => {
                    booking::book_for_team(&store, &setup.calendar, &cx.tenant, start, email)
                        .await
                }
                (None, None) => {
                    return ToolOutcome::error(
                        "email is required to book outside a conversation: it says who the meeting is with",
                    )
                }
            };
            match booked {
                Ok(event) => {
                    let url = setup.links.url(&event.tenant_id, &event.id);
                    let local = event.starts_at.and_utc().with_timezone(&tz).naive_local();
                    ToolOutcome::ok(json!({
                        "booked": true,
                        "meeting_id": event.id,
                        "starts_at": event.starts_at.and_utc().to_rfc3339(),
                        "ics_url": url,
                        CONFIRMATION: crate::domain::scheduling::confirmation(language, local, &url),
                    }))
                }
                Err(e) => ToolOutcome::error(booking_error(e)),
            }
        }
        _ => ToolOutcome::error("action must be list_slots or book"),
    }
}

/// The key of a `schedule_meeting` result that the conversation sends to the customer.
pub const CONFIRMATION: &str = "confirmation";

/// The confirmations of the meetings a turn booked, for the customer (in call order).
pub fn meeting_confirmations(calls: &[super::CallRecord]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.ok && c.name == SCHEDULE_MEETING)
        .filter_map(|c| c.result.as_ref()?.get(CONFIRMATION)?.as_str())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_system_tool_has_a_valid_object_schema() {
        let catalog = catalog();
        assert_eq!(catalog.len(), 9);
        for (name, description, schema) in catalog {
            assert!(!description.is_empty(), "{name}");
            super::super::schema::check_definition(&schema)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert!(definition(ADD_TAG).is_some());
        assert!(definition("rm_rf").is_none());
    }

    #[test]
    fn phones_and_due_dates() {
        assert!(is_phone("+55 (11) 98765-4321"));
        assert!(!is_phone("12345"));
        assert!(!is_phone("call me maybe 11987654321"));
        assert!(parse_due("2030-01-02").is_some());
        assert!(parse_due("2030-01-02T10:00:00-03:00").is_some());
        assert!(parse_due("amanhã").is_none());
    }
}
