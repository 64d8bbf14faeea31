//! `/api/v1/calendar`: free slots within working hours, booked events, and each user's
//! RFC 5545 feed that calendar apps subscribe to. Local times (`date`, `time`) are in
//! `calendar.timezone`; instants are RFC 3339 UTC. Finding slots and booking them is the
//! booking service's (`engine::booking`), which the socket's `schedule_confirm` uses too.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::{caller_from_request, Caller};
use super::error::{ApiError, ApiResult};
use crate::auth::request::query_param;
use crate::auth::Staff;
use crate::config::Settings;
use crate::domain::dates;
use crate::domain::scheduling::{self, WorkingHours, WorkingHoursSpec};
use crate::domain::{ContactId, ConversationId, Role, TenantId, UserId};
use crate::engine::booking;
use crate::store::calendar::{self as events, CalendarEvent};
use crate::store::conversations;
use crate::store::users::{self, User};
use crate::store::Store;
use crate::views::EventView;

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct SlotView {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// "HH:MM" in `calendar.timezone`, as `schedule_confirm` takes it.
    pub time: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SlotsQuery {
    /// YYYY-MM-DD in `calendar.timezone`.
    pub date: String,
    /// 5..=480, default `calendar.default_duration_minutes`.
    pub duration_minutes: Option<u32>,
    /// Staff only: whose slots (default: the caller's). Web chat customers get the slots of
    /// their conversation's hosts.
    pub user_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlotsView {
    pub date: String,
    pub timezone: String,
    pub duration_minutes: u32,
    pub available_slots: Vec<SlotView>,
}

#[utoipa::path(get, path = "/api/v1/calendar/available-slots", tag = "calendar", params(SlotsQuery),
    responses((status = 200, body = SlotsView), (status = 400, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn available_slots(
    caller: Caller,
    store: web::Data<Store>,
    settings: web::Data<Settings>,
    query: web::Query<SlotsQuery>,
) -> ApiResult<HttpResponse> {
    let calendar = &settings.calendar;
    let date =
        dates::parse_day(&query.date).map_err(|e| ApiError::field("date", &e.to_string()))?;
    let duration = query
        .duration_minutes
        .unwrap_or(calendar.default_duration_minutes);
    if !(5..=480).contains(&duration) {
        return Err(ApiError::field(
            "duration_minutes",
            "must be between 5 and 480",
        ));
    }
    let tenant = caller.tenant_id().clone();
    let hosts = match &caller {
        Caller::Staff(staff) => {
            let user = match &query.user_id {
                Some(raw) => UserId::parse(raw).ok_or(ApiError::NotFound)?,
                None => staff.user_id.clone(),
            };
            let tenant = tenant.clone();
            vec![
                store
                    .run(move |conn| users::find(conn, &tenant, &user))
                    .await?,
            ]
        }
        Caller::Contact {
            conversation_id, ..
        } => {
            if query.user_id.is_some() {
                return Err(ApiError::Forbidden(
                    "customers see their conversation's slots".into(),
                ));
            }
            let (tenant, id) = (tenant.clone(), conversation_id.clone());
            let conversation = store
                .run(move |conn| conversations::find(conn, &tenant, &id))
                .await?;
            booking::conversation_hosts(&store, &conversation).await?
        }
    };
    let tz = booking::default_hours(calendar).tz;
    let slots = booking::free_slots(
        &store,
        calendar,
        &tenant,
        hosts,
        date,
        Duration::minutes(i64::from(duration)),
    )
    .await?
    .into_iter()
    .map(|slot| SlotView {
        start: slot.start,
        end: slot.end,
        time: slot.start.with_timezone(&tz).format("%H:%M").to_string(),
    })
    .collect();
    Ok(HttpResponse::Ok().json(SlotsView {
        date: date.format("%Y-%m-%d").to_string(),
        timezone: calendar.timezone.clone(),
        duration_minutes: duration,
        available_slots: slots,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEventBody {
    pub starts_at: DateTime<Utc>,
    /// Default `calendar.default_duration_minutes`; or give `ends_at`.
    pub duration_minutes: Option<u32>,
    pub ends_at: Option<DateTime<Utc>>,
    pub title: Option<String>,
    /// Default: the caller. Agents book only for themselves.
    pub user_id: Option<String>,
    pub contact_id: Option<String>,
    pub conversation_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/calendar/events", tag = "calendar", request_body = NewEventBody,
    responses((status = 201, body = EventView), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_event(
    staff: Staff,
    store: web::Data<Store>,
    settings: web::Data<Settings>,
    body: web::Json<NewEventBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let user = match &body.user_id {
        Some(raw) => UserId::parse(raw)
            .ok_or_else(|| ApiError::field("user_id", "is not a user of this tenant"))?,
        None => staff.user_id.clone(),
    };
    if user != staff.user_id && staff.role == Role::Agent {
        return Err(ApiError::Forbidden(
            "agents book only their own calendar".into(),
        ));
    }
    let starts_at = dates::bounded_instant(body.starts_at)
        .map_err(|e| ApiError::field("starts_at", &e.to_string()))?;
    let ends_at = match (body.ends_at, body.duration_minutes) {
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "give ends_at or duration_minutes, not both",
            ))
        }
        (Some(end), None) => {
            dates::bounded_instant(end).map_err(|e| ApiError::field("ends_at", &e.to_string()))?
        }
        (None, minutes) => starts_at
            .checked_add_signed(Duration::minutes(i64::from(
                minutes.unwrap_or(settings.calendar.default_duration_minutes),
            )))
            .ok_or_else(|| ApiError::field("duration_minutes", "is out of range"))?,
    };
    if ends_at <= starts_at || ends_at - starts_at > Duration::hours(24) {
        return Err(ApiError::field(
            "ends_at",
            "must be after starts_at and within 24 hours",
        ));
    }
    let email = match body
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        Some(raw) => {
            let lower = raw.to_lowercase();
            if scheduling::extract_email(&lower).as_deref() != Some(lower.as_str()) {
                return Err(ApiError::field("email", "is not a valid e-mail address"));
            }
            Some(lower)
        }
        None => None,
    };
    let phone = match body
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(raw) => Some(
            scheduling::extract_phone(raw)
                .ok_or_else(|| ApiError::field("phone", "is not a phone number"))?,
        ),
        None => None,
    };
    let contact = body
        .contact_id
        .as_deref()
        .map(|raw| {
            ContactId::parse(raw)
                .ok_or_else(|| ApiError::field("contact_id", "is not a contact of this tenant"))
        })
        .transpose()?;
    let conversation = body
        .conversation_id
        .as_deref()
        .map(|raw| {
            ConversationId::parse(raw).ok_or_else(|| {
                ApiError::field("conversation_id", "is not a conversation of this tenant")
            })
        })
        .transpose()?;
    let title = body
        .title
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| {
            settings
                .calendar
                .event_title
                .replace("{contact}", email.as_deref().unwrap_or("—"))
        });
    if title.chars().count() > 500 {
        return Err(ApiError::field("title", "is longer than 500 characters"));
    }
    let event = CalendarEvent {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: staff.tenant_id.clone(),
        user_id: Some(user),
        contact_id: contact,
        conversation_id: conversation,
        title,
        starts_at: starts_at.naive_utc(),
        ends_at: ends_at.naive_utc(),
        email,
        phone,
        created_at: crate::store::now(),
    };
    let event = booking::book_event(&store, event).await?;
    Ok(HttpResponse::Created().json(EventView::from(event)))
}

/// The secret of a user's feed URL: calendar apps cannot send a bearer token and must not
/// need one that expires.
pub fn feed_key(settings: &Settings, tenant: &TenantId, user: &UserId) -> String {
    booking::link_key(
        settings.auth.jwt_secret.expose_secret(),
        &format!("ics:{tenant}:{user}"),
    )
}

use booking::key_matches;

/// Staff of the tenant may read a feed: the user themself or an overseer.
fn may_read_calendar(staff: &Staff, tenant: &TenantId, user: &UserId) -> bool {
    &staff.tenant_id == tenant && (&staff.user_id == user || staff.role.oversees_tenant())
}

#[utoipa::path(get, path = "/api/v1/calendar/{user_id}.ics", tag = "calendar",
    params(("user_id" = String, Path, description = "the user whose calendar"),
        ("key" = Option<String>, Query, description = "the feed key from /calendar/{user_id}/feed")),
    responses((status = 200, content_type = "text/calendar", description = "RFC 5545 calendar"),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn ics_feed(
    req: HttpRequest,
    path: web::Path<String>,
    store: web::Data<Store>,
    settings: web::Data<Settings>,
) -> ApiResult<HttpResponse> {
    let raw = path.into_inner();
    let stem = raw.strip_suffix(".ics").ok_or(ApiError::NotFound)?;
    let user_id = UserId::parse(stem).ok_or(ApiError::NotFound)?;
    let probe = user_id.clone();
    let user = store
        .run(move |conn| events::user_by_id(conn, &probe))
        .await?
        .ok_or(ApiError::NotFound)?;
    let authorized = match query_param(&req, "key") {
        Some(key) => key_matches(&feed_key(&settings, &user.tenant_id, &user.id), &key),
        None => {
            let staff = caller_from_request(&req).await?.staff()?;
            may_read_calendar(&staff, &user.tenant_id, &user.id)
        }
    };
    if !authorized {
        // Neither a wrong key nor another tenant's token learns that the user exists.
        return Err(ApiError::NotFound);
    }
    let since = (Utc::now() - Duration::days(90)).naive_utc();
    let tenant = user.tenant_id.clone();
    let id = user.id.clone();
    let rows = store
        .run(move |conn| events::for_user(conn, &tenant, &id, since, 2000))
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header(("Cache-Control", "private, max-age=300"))
        .body(render_ics(&user.name, &rows, Utc::now())))
}

#[utoipa::path(get, path = "/api/v1/meetings/{meeting_id}.ics", tag = "calendar",
    params(("meeting_id" = String, Path, description = "the booked meeting"),
        ("key" = String, Query, description = "the key from the meeting's confirmation link")),
    responses((status = 200, content_type = "text/calendar", description = "RFC 5545 calendar with the one meeting"),
        (status = 404, body = crate::error::ErrorBody)))]
/// One booked meeting as an `.ics` attachment: the link a customer gets with the booking's
/// confirmation (`schedule_meeting`). Without the right key it does not exist.
pub async fn meeting_ics(
    req: HttpRequest,
    path: web::Path<String>,
    store: web::Data<Store>,
    settings: web::Data<Settings>,
) -> ApiResult<HttpResponse> {
    let raw = path.into_inner();
    let id = raw
        .strip_suffix(".ics")
        .filter(|id| !id.is_empty() && id.len() <= 64)
        .ok_or(ApiError::NotFound)?
        .to_string();
    let key = query_param(&req, "key").ok_or(ApiError::NotFound)?;
    let event = store
        .run(move |conn| events::by_id(conn, &id))
        .await?
        .ok_or(ApiError::NotFound)?;
    let links = booking::MeetingLinks::from_settings(&settings);
    if !key_matches(&links.key(&event.tenant_id, &event.id), &key) {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"meeting.ics\"",
        ))
        .insert_header(("Cache-Control", "private, no-store"))
        .body(render_ics(
            &event.title,
            std::slice::from_ref(&event),
            Utc::now(),
        )))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedView {
    /// Path (under this server) that calendar apps subscribe to; carries the feed key.
    pub ics_url: String,
}

#[utoipa::path(get, path = "/api/v1/calendar/{user_id}/feed", tag = "calendar",
    responses((status = 200, body = FeedView)), security(("bearer" = [])))]
pub async fn feed_url(
    staff: Staff,
    path: web::Path<String>,
    settings: web::Data<Settings>,
    store: web::Data<Store>,
) -> ApiResult<HttpResponse> {
    let user = UserId::parse(&path).ok_or(ApiError::NotFound)?;
    if !may_read_calendar(&staff, &staff.tenant_id, &user) {
        return Err(ApiError::Forbidden(
            "only the user or a supervisor may see this feed".into(),
        ));
    }
    let (tenant, probe) = (staff.tenant_id.clone(), user.clone());
    store
        .run(move |conn| users::find(conn, &tenant, &probe))
        .await?;
    Ok(HttpResponse::Ok().json(FeedView {
        ics_url: format!(
            "/api/v1/calendar/{user}.ics?key={}",
            feed_key(&settings, &staff.tenant_id, &user)
        ),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkingHoursView {
    pub timezone: String,
    /// Effective intervals per day (mon … sun), "HH:MM" local to `timezone`.
    #[schema(value_type = Object)]
    pub days: std::collections::BTreeMap<String, Vec<[String; 2]>>,
    /// What the user set over the defaults.
    #[schema(value_type = Object)]
    pub custom: WorkingHoursSpec,
}

fn hours_view(hours: &WorkingHours, custom: WorkingHoursSpec) -> WorkingHoursView {
    let days = scheduling::DAY_NAMES
        .iter()
        .zip(hours.days.iter())
        .map(|(name, intervals)| {
            (
                (*name).to_string(),
                intervals
                    .iter()
                    .map(|(s, e)| [s.format("%H:%M").to_string(), e.format("%H:%M").to_string()])
                    .collect(),
            )
        })
        .collect();
    WorkingHoursView {
        timezone: hours.tz.name().to_string(),
        days,
        custom,
    }
}

async fn load_user(store: &Store, staff: &Staff, raw: &str) -> ApiResult<User> {
    let user = UserId::parse(raw).ok_or(ApiError::NotFound)?;
    let tenant = staff.tenant_id.clone();
    Ok(store
        .run(move |conn| users::find(conn, &tenant, &user))
        .await?)
}

#[utoipa::path(get, path = "/api/v1/calendar/{user_id}/working-hours", tag = "calendar",
    responses((status = 200, body = WorkingHoursView)), security(("bearer" = [])))]
pub async fn get_working_hours(
    staff: Staff,
    path: web::Path<String>,
    store: web::Data<Store>,
    settings: web::Data<Settings>,
) -> ApiResult<HttpResponse> {
    let user = load_user(&store, &staff, &path).await?;
    if !may_read_calendar(&staff, &staff.tenant_id, &user.id) {
        return Err(ApiError::Forbidden(
            "only the user or a supervisor may see these hours".into(),
        ));
    }
    let defaults = booking::default_hours(&settings.calendar);
    let custom: WorkingHoursSpec = serde_json::from_str(&user.working_hours).unwrap_or_default();
    Ok(HttpResponse::Ok().json(hours_view(&booking::hours_of(&user, &defaults), custom)))
}

#[utoipa::path(put, path = "/api/v1/calendar/{user_id}/working-hours", tag = "calendar",
    request_body(content = Object, description = "`{timezone?, days?: {mon: [[\"09:00\",\"12:00\"], …], …}}`; missing keys use the defaults"),
    responses((status = 200, body = WorkingHoursView), (status = 400, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_working_hours(
    staff: Staff,
    path: web::Path<String>,
    store: web::Data<Store>,
    settings: web::Data<Settings>,
    body: web::Json<serde_json::Value>,
) -> ApiResult<HttpResponse> {
    let user = load_user(&store, &staff, &path).await?;
    if user.id != staff.user_id && staff.role != Role::Admin {
        return Err(ApiError::Forbidden(
            "only the user or an admin may change these hours".into(),
        ));
    }
    let spec: WorkingHoursSpec = serde_json::from_value(body.into_inner())
        .map_err(|e| ApiError::validation(format!("invalid working hours: {e}")))?;
    let defaults = booking::default_hours(&settings.calendar);
    let hours = defaults
        .with_spec(&spec)
        .map_err(|e| ApiError::validation(format!("invalid working hours: {e}")))?;
    let json = serde_json::to_string(&spec)
        .map_err(|e| ApiError::Internal(format!("working hours not serializable: {e}")))?;
    let (tenant, id) = (staff.tenant_id.clone(), user.id.clone());
    store
        .run(move |conn| events::set_working_hours(conn, &tenant, &id, &json))
        .await?;
    Ok(HttpResponse::Ok().json(hours_view(&hours, spec)))
}

/// RFC 5545 text: CRLF line ends, long lines folded at 75 octets, TEXT values escaped.
pub fn render_ics(calendar_name: &str, rows: &[CalendarEvent], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let mut line = |text: String| fold_line(&mut out, &text);
    line("BEGIN:VCALENDAR".into());
    line("VERSION:2.0".into());
    line("PRODID:-//Atende//Calendar 1.0//EN".into());
    line("CALSCALE:GREGORIAN".into());
    line("METHOD:PUBLISH".into());
    line(format!("X-WR-CALNAME:{}", escape_text(calendar_name)));
    let stamp = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    for e in rows {
        line("BEGIN:VEVENT".into());
        line(format!("UID:{}@atende", e.id));
        line(format!("DTSTAMP:{}", stamp(now)));
        line(format!("CREATED:{}", stamp(e.created_at.and_utc())));
        line(format!("DTSTART:{}", stamp(e.starts_at.and_utc())));
        line(format!("DTEND:{}", stamp(e.ends_at.and_utc())));
        line(format!("SUMMARY:{}", escape_text(&e.title)));
        let mut details = Vec::new();
        if let Some(email) = &e.email {
            details.push(format!("E-mail: {email}"));
        }
        if let Some(phone) = &e.phone {
            details.push(format!("Phone: {phone}"));
        }
        if let Some(conversation) = &e.conversation_id {
            details.push(format!("Conversation: {conversation}"));
        }
        if !details.is_empty() {
            line(format!("DESCRIPTION:{}", escape_text(&details.join("\n"))));
        }
        if let Some(email) = &e.email {
            line(format!("ATTENDEE;ROLE=REQ-PARTICIPANT:mailto:{email}"));
        }
        line("STATUS:CONFIRMED".into());
        line("END:VEVENT".into());
    }
    line("END:VCALENDAR".into());
    out
}

fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            other => out.push(other),
        }
    }
    out
}

/// Appends `text` as content lines of at most 75 octets, never splitting a character.
fn fold_line(out: &mut String, text: &str) {
    let mut budget = 75;
    let mut used = 0;
    for c in text.chars() {
        let len = c.len_utf8();
        if used + len > budget {
            out.push_str("\r\n ");
            // The continuation's leading space counts toward its 75 octets.
            budget = 74;
            used = 0;
        }
        out.push(c);
        used += len;
    }
    out.push_str("\r\n");
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/calendar/available-slots", web::get().to(available_slots))
        .route("/calendar/events", web::post().to(create_event))
        .route("/calendar/{user_id}/feed", web::get().to(feed_url))
        .route(
            "/calendar/{user_id}/working-hours",
            web::get().to(get_working_hours),
        )
        .route(
            "/calendar/{user_id}/working-hours",
            web::put().to(put_working_hours),
        )
        .route("/calendar/{file}", web::get().to(ics_feed))
        .route("/meetings/{file}", web::get().to(meeting_ics));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(title: &str, email: Option<&str>) -> CalendarEvent {
        let start = chrono::NaiveDate::from_ymd_opt(2026, 3, 5)
            .and_then(|d| d.and_hms_opt(18, 0, 0))
            .expect("time");
        CalendarEvent {
            id: "0195-e".into(),
            tenant_id: TenantId("t".into()),
            user_id: Some(UserId("u".into())),
            contact_id: None,
            conversation_id: Some(ConversationId("c1".into())),
            title: title.into(),
            starts_at: start,
            ends_at: start + Duration::hours(1),
            email: email.map(str::to_string),
            phone: Some("+5511987654321".into()),
            created_at: start - Duration::days(1),
        }
    }

    #[test]
    fn ics_is_rfc_5545() {
        let now = DateTime::from_timestamp(1_772_000_000, 0).expect("time");
        let text = render_ics(
            "Ana, Silva",
            &[event(
                "Reunião com Ana; demo, \\ produto",
                Some("ana@ex.com"),
            )],
            now,
        );
        assert!(
            text.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"),
            "{text}"
        );
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        assert!(
            !text.replace("\r\n", "").contains('\n'),
            "bare LF in {text:?}"
        );
        assert!(text.contains("X-WR-CALNAME:Ana\\, Silva\r\n"));
        assert!(text.contains("DTSTART:20260305T180000Z\r\n"));
        assert!(text.contains("DTEND:20260305T190000Z\r\n"));
        assert!(text.contains("SUMMARY:Reunião com Ana\\; demo\\, \\\\ produto\r\n"));
        assert!(text.contains("UID:0195-e@atende\r\n"));
        assert!(text.contains("ATTENDEE;ROLE=REQ-PARTICIPANT:mailto:ana@ex.com\r\n"));
        assert!(text
            .contains("DESCRIPTION:E-mail: ana@ex.com\\nPhone: +5511987654321\\nConversation: c1"));
        for line in text.split("\r\n") {
            assert!(line.len() <= 75, "{line:?} is {} octets", line.len());
        }
    }

    #[test]
    fn long_lines_fold_on_character_boundaries() {
        let mut out = String::new();
        let text = format!("SUMMARY:{}", "ção".repeat(60));
        fold_line(&mut out, &text);
        let unfolded = out.trim_end_matches("\r\n").replace("\r\n ", "");
        assert_eq!(unfolded, text);
        for (i, line) in out.trim_end_matches("\r\n").split("\r\n").enumerate() {
            assert!(line.len() <= 75, "{line:?}");
            if i > 0 {
                assert!(line.starts_with(' '));
            }
        }
    }

    #[test]
    fn feed_keys_compare_exactly() {
        assert!(key_matches("abcd", "abcd"));
        assert!(!key_matches("abcd", "abce"));
        assert!(!key_matches("abcd", "abc"));
        assert!(!key_matches("", ""));
    }
}
