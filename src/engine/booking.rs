//! The calendar's booking service: working hours, free slots and meetings booked with the
//! tenant's humans. REST (`/api/v1/calendar`) and the socket (`schedule_confirm`) both book
//! through here; the rules without I/O (reading a wish, hours, the free slots of a day) are
//! `domain::scheduling`'s. Local times (`date`, `time`) are in `calendar.timezone`;
//! instants are UTC.
//!
//! Who a meeting is booked with: the human who owns the conversation, else the tenant's
//! humans who take conversations (`available`), least booked that day first.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};

use super::crm;
use crate::config::CalendarSettings;
use crate::domain::conversation::Owner;
use crate::domain::dates;
use crate::domain::scheduling::{self, Slot, WorkingHours, WorkingHoursSpec};
use crate::domain::{TenantId, UserId};
use crate::store::calendar::{self as events, CalendarEvent};
use crate::store::conversations::{self, Conversation};
use crate::store::users::{self, User};
use crate::store::{contacts, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    /// The request cannot be booked as asked (`VALIDATION_ERROR`), naming the field at
    /// fault when one is.
    #[error("{message}")]
    Invalid {
        message: String,
        field: Option<String>,
    },
    /// The time is no longer free (`CONFLICT`).
    #[error("{0}")]
    Taken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BookingError {
    pub fn invalid(message: impl Into<String>) -> Self {
        BookingError::Invalid {
            message: message.into(),
            field: None,
        }
    }

    /// `"{field} {reason}"`, naming `field`.
    pub fn field(field: &str, reason: &str) -> Self {
        BookingError::Invalid {
            message: format!("{field} {reason}"),
            field: Some(field.to_string()),
        }
    }
}

/// A keyed MAC of `text` (hex, 128 bits): the secret part of links that calendar apps and
/// customers open without a bearer token (a user's feed, one meeting's `.ics`).
pub fn link_key(secret: &str, text: &str) -> String {
    use hmac::{Hmac, Mac};
    match Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(text.as_bytes());
            hex::encode(&mac.finalize().into_bytes()[..16])
        }
        Err(_) => String::new(),
    }
}

/// Whether `given` is `expected`, in constant time (the key is a credential).
pub fn key_matches(expected: &str, given: &str) -> bool {
    expected.len() == given.len()
        && !expected.is_empty()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The `.ics` link of one booked meeting, sent to the customer with the confirmation:
/// `{wizard.public_base_url}/api/v1/meetings/{id}.ics?key=…`, the key a MAC of the tenant and
/// meeting under `auth.jwt_secret`, so it cannot be guessed or moved to another meeting.
#[derive(Clone)]
pub struct MeetingLinks {
    base: String,
    secret: secrecy::SecretString,
}

impl MeetingLinks {
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        MeetingLinks {
            base: settings
                .wizard
                .public_base_url
                .trim()
                .trim_end_matches('/')
                .to_string(),
            secret: settings.auth.jwt_secret.clone(),
        }
    }

    pub fn key(&self, tenant: &TenantId, meeting: &str) -> String {
        use secrecy::ExposeSecret;
        link_key(
            self.secret.expose_secret(),
            &format!("meeting:{tenant}:{meeting}"),
        )
    }

    pub fn url(&self, tenant: &TenantId, meeting: &str) -> String {
        format!(
            "{}/api/v1/meetings/{meeting}.ics?key={}",
            self.base,
            self.key(tenant, meeting)
        )
    }
}

/// The configured default hours (validated at start).
pub fn default_hours(settings: &CalendarSettings) -> WorkingHours {
    let tz = settings.timezone.parse().unwrap_or(chrono_tz::UTC);
    WorkingHours::uniform(
        tz,
        &settings.work_days,
        &settings.work_start,
        &settings.work_end,
    )
    .unwrap_or(WorkingHours {
        tz,
        days: Default::default(),
    })
}

/// A user's hours: their stored spec over the defaults. A spec that no longer validates
/// (stored before a rule changed) falls back to the defaults rather than hiding the user.
pub fn hours_of(user: &User, defaults: &WorkingHours) -> WorkingHours {
    let spec: WorkingHoursSpec = match serde_json::from_str(&user.working_hours) {
        Ok(spec) => spec,
        Err(e) => {
            tracing::warn!(user = %user.id, error = %e, "stored working hours unreadable");
            return defaults.clone();
        }
    };
    defaults.with_spec(&spec).unwrap_or_else(|e| {
        tracing::warn!(user = %user.id, error = %e, "stored working hours invalid");
        defaults.clone()
    })
}

/// `date` + `time` ("HH:MM" local to `calendar.timezone`, or an RFC 3339 instant).
pub fn parse_start(
    settings: &CalendarSettings,
    date: &str,
    time: &str,
) -> Result<DateTime<Utc>, String> {
    let tz: chrono_tz::Tz = settings.timezone.parse().unwrap_or(chrono_tz::UTC);
    let day = dates::parse_day(date).map_err(|e| format!("date {e}"))?;
    if DateTime::parse_from_rfc3339(time.trim()).is_ok() {
        let instant = dates::parse_instant(time).map_err(|e| format!("time {e}"))?;
        if instant.with_timezone(&tz).date_naive() != day {
            return Err(format!("time {time} is not on {date} ({tz})"));
        }
        return Ok(instant);
    }
    let clock = NaiveTime::parse_from_str(time.trim(), "%H:%M")
        .map_err(|_| "time must be HH:MM or an RFC 3339 date-time".to_string())?;
    tz.from_local_datetime(&day.and_time(clock))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("{date} {time} does not exist in {tz} (clock change)"))
}

/// Who a conversation's meetings are booked with.
pub async fn conversation_hosts(
    store: &Store,
    conversation: &Conversation,
) -> Result<Vec<User>, BookingError> {
    let tenant = conversation.tenant_id.clone();
    let owner = conversation.owner();
    Ok(store
        .run(move |conn| match owner {
            Owner::User(user) => Ok(vec![users::find(conn, &tenant, &user)?]),
            _ => events::hosts(conn, &tenant),
        })
        .await?)
}

fn day_bounds(tz: chrono_tz::Tz, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = tz
        .from_local_datetime(&date.and_time(NaiveTime::MIN))
        .earliest()
        .map_or_else(
            || date.and_time(NaiveTime::MIN).and_utc(),
            |t| t.with_timezone(&Utc),
        );
    (start, start + Duration::days(1))
}

/// Free slots of `date` (in `calendar.timezone`) over `hosts`: a slot is free when at least
/// one host has it inside their hours and has nothing booked over it.
pub async fn free_slots(
    store: &Store,
    settings: &CalendarSettings,
    tenant: &TenantId,
    hosts: Vec<User>,
    date: NaiveDate,
    duration: Duration,
) -> Result<Vec<Slot>, BookingError> {
    let defaults = default_hours(settings);
    let tz = defaults.tz;
    let now = Utc::now();
    if date > now.with_timezone(&tz).date_naive() + Duration::days(i64::from(settings.horizon_days))
        || hosts.is_empty()
    {
        return Ok(Vec::new());
    }
    let (day_start, day_end) = day_bounds(tz, date);
    let ids: Vec<UserId> = hosts.iter().map(|u| u.id.clone()).collect();
    let tenant = tenant.clone();
    let (from, to) = (
        (day_start - Duration::days(1)).naive_utc(),
        (day_end + Duration::days(1)).naive_utc(),
    );
    let booked = store
        .run(move |conn| events::busy(conn, &tenant, &ids, from, to))
        .await?;
    let step = Duration::minutes(i64::from(settings.slot_step_minutes));
    let mut slots: Vec<Slot> = Vec::new();
    for host in &hosts {
        let hours = hours_of(host, &defaults);
        let busy: Vec<(DateTime<Utc>, DateTime<Utc>)> = booked
            .iter()
            .filter(|e| e.user_id.as_ref() == Some(&host.id))
            .map(|e| (e.starts_at.and_utc(), e.ends_at.and_utc()))
            .collect();
        // The host's own days that overlap the requested day in the calendar's zone.
        for offset in -1..=1 {
            let host_day = date + Duration::days(offset);
            for slot in scheduling::free_slots(&hours, host_day, duration, step, &busy, now) {
                if slot.start >= day_start && slot.start < day_end {
                    slots.push(slot);
                }
            }
        }
    }
    slots.sort_by_key(|s| s.start);
    slots.dedup_by_key(|s| s.start);
    Ok(slots)
}

/// Who takes meetings asked for outside any conversation (an agent's chat stream): the team.
pub async fn team_hosts(store: &Store, tenant: &TenantId) -> Result<Vec<User>, BookingError> {
    let tenant = tenant.clone();
    Ok(store.run(move |conn| events::hosts(conn, &tenant)).await?)
}

/// Books `[start, start + default duration)` for a conversation with the first host that
/// works then and is free, least booked that day first. With auto-create on, the meeting
/// becomes an activity too.
pub async fn book_for_conversation(
    store: &Store,
    settings: &CalendarSettings,
    conversation: &Conversation,
    start: DateTime<Utc>,
    email: Option<String>,
    phone: Option<String>,
) -> Result<CalendarEvent, BookingError> {
    let hosts = conversation_hosts(store, conversation).await?;
    let booking = Booking {
        tenant: &conversation.tenant_id,
        conversation: Some(conversation),
        start,
        email,
        phone,
    };
    book_with_hosts(store, settings, hosts, booking).await
}

/// Books with the team for someone outside any conversation (an agent's chat stream): the
/// meeting has no contact or conversation, only the `email` it was asked for.
pub async fn book_for_team(
    store: &Store,
    settings: &CalendarSettings,
    tenant: &TenantId,
    start: DateTime<Utc>,
    email: String,
) -> Result<CalendarEvent, BookingError> {
    let hosts = team_hosts(store, tenant).await?;
    let booking = Booking {
        tenant,
        conversation: None,
        start,
        email: Some(email),
        phone: None,
    };
    book_with_hosts(store, settings, hosts, booking).await
}

/// What a booking is for.
struct Booking<'a> {
    tenant: &'a TenantId,
    conversation: Option<&'a Conversation>,
    start: DateTime<Utc>,
    email: Option<String>,
    phone: Option<String>,
}

async fn book_with_hosts(
    store: &Store,
    settings: &CalendarSettings,
    hosts: Vec<User>,
    booking: Booking<'_>,
) -> Result<CalendarEvent, BookingError> {
    let Booking {
        tenant: booking_tenant,
        conversation,
        start,
        email,
        phone,
    } = booking;
    let now = Utc::now();
    if start < now {
        return Err(BookingError::invalid("that time has already passed"));
    }
    if start > now + Duration::days(i64::from(settings.horizon_days)) {
        return Err(BookingError::invalid(format!(
            "bookings are open for the next {} days only",
            settings.horizon_days
        )));
    }
    let duration = Duration::minutes(i64::from(settings.default_duration_minutes));
    if hosts.is_empty() {
        return Err(BookingError::invalid(
            "nobody in this tenant takes meetings",
        ));
    }
    let defaults = default_hours(settings);
    let (day_start, day_end) =
        day_bounds(defaults.tz, start.with_timezone(&defaults.tz).date_naive());
    let tenant = booking_tenant.clone();
    let contact_id = conversation.map(|c| c.contact_id.clone());
    let ids: Vec<UserId> = hosts.iter().map(|u| u.id.clone()).collect();
    let (booked, contact) = store
        .run(move |conn| {
            let booked = events::busy(
                conn,
                &tenant,
                &ids,
                day_start.naive_utc(),
                day_end.naive_utc(),
            )?;
            let contact = contact_id
                .as_ref()
                .and_then(|id| contacts::find(conn, &tenant, id).ok());
            Ok((booked, contact))
        })
        .await?;
    let mut ordered: Vec<(usize, User)> = hosts
        .into_iter()
        .map(|h| {
            let load = booked
                .iter()
                .filter(|e| e.user_id.as_ref() == Some(&h.id))
                .count();
            (load, h)
        })
        .collect();
    ordered.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    let who = contact
        .and_then(|c| c.name)
        .filter(|n| !n.trim().is_empty())
        .or_else(|| email.clone())
        .or_else(|| phone.clone())
        .unwrap_or_default();
    let mut anyone_works_then = false;
    for (_, host) in ordered {
        if !hours_of(&host, &defaults).covers(start, duration) {
            continue;
        }
        anyone_works_then = true;
        let event = CalendarEvent {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: booking_tenant.clone(),
            user_id: Some(host.id.clone()),
            contact_id: conversation.map(|c| c.contact_id.clone()),
            conversation_id: conversation.map(|c| c.id.clone()),
            title: settings.event_title.replace("{contact}", &who),
            starts_at: start.naive_utc(),
            ends_at: (start + duration).naive_utc(),
            email: email.clone(),
            phone: phone.clone(),
            created_at: crate::store::now(),
        };
        let candidate = event.clone();
        if store
            .run(move |conn| events::book(conn, &candidate))
            .await?
        {
            if let Some(conversation) = conversation {
                crm::meeting_booked(store, conversation, &event);
            }
            return Ok(event);
        }
    }
    if anyone_works_then {
        Err(BookingError::Taken(
            "that slot is no longer available".into(),
        ))
    } else {
        Err(BookingError::invalid("that time is outside working hours"))
    }
}

/// Books `event` as it was asked for (a staff member's own entry): its user, contact and
/// conversation must be the tenant's, and the user must have nothing booked over it. With
/// auto-create on, a meeting of a conversation becomes an activity too.
pub async fn book_event(
    store: &Store,
    event: CalendarEvent,
) -> Result<CalendarEvent, BookingError> {
    let candidate = event.clone();
    let (booked, conversation) = store
        .run(move |conn| {
            let tenant = &candidate.tenant_id;
            let foreign = |field: &str| {
                let field = field.to_string();
                move |e: StoreError| match e {
                    StoreError::NotFound => StoreError::Conflict(field),
                    other => other,
                }
            };
            if let Some(user) = &candidate.user_id {
                users::find(conn, tenant, user).map_err(foreign("user_id"))?;
            }
            if let Some(contact) = &candidate.contact_id {
                contacts::find(conn, tenant, contact).map_err(foreign("contact_id"))?;
            }
            let conversation = match &candidate.conversation_id {
                Some(id) => Some(
                    conversations::find(conn, tenant, id).map_err(foreign("conversation_id"))?,
                ),
                None => None,
            };
            Ok((events::book(conn, &candidate)?, conversation))
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(field) => BookingError::field(&field, "is not one of this tenant"),
            other => other.into(),
        })?;
    if !booked {
        return Err(BookingError::Taken(
            "the user already has an event at that time".into(),
        ));
    }
    if let Some(conversation) = &conversation {
        crm::meeting_booked(store, conversation, &event);
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CalendarSettings {
        CalendarSettings {
            timezone: "America/Sao_Paulo".into(),
            work_days: vec!["mon".into(), "tue".into(), "wed".into()],
            work_start: "09:00".into(),
            work_end: "18:00".into(),
            slot_step_minutes: 30,
            default_duration_minutes: 60,
            horizon_days: 30,
            event_title: "Reunião com {contact}".into(),
        }
    }

    #[test]
    fn start_times_are_local_or_exact() {
        let s = settings();
        assert_eq!(
            parse_start(&s, "2026-03-05", "15:00")
                .expect("local")
                .to_rfc3339(),
            "2026-03-05T18:00:00+00:00"
        );
        assert_eq!(
            parse_start(&s, "2026-03-05", "2026-03-05T18:00:00Z")
                .expect("instant")
                .to_rfc3339(),
            "2026-03-05T18:00:00+00:00"
        );
        assert!(parse_start(&s, "2026-03-05", "2026-03-07T18:00:00Z").is_err());
        assert!(parse_start(&s, "05/03/2026", "15:00").is_err());
        assert!(parse_start(&s, "2026-03-05", "3pm").is_err());
    }
}
