//! What a tenant admin changes at run time (`GET/PATCH /api/v1/settings`): hand-over and
//! welcome texts, human-request phrases, classification, feedback escalation, business hours
//! with an out-of-hours auto-reply, and CSAT. Process configuration gives the defaults; a
//! tenant stores only what it changed (its *overrides*, a JSON object), so a tenant that sets
//! nothing behaves exactly as configured, and a later change of a default reaches every
//! tenant that did not override it.
//!
//! PATCH bodies are JSON merge patches (RFC 7396): a key replaces the stored value (objects
//! merge key by key), `null` removes the override and the default applies again.

use chrono::{DateTime, Datelike, NaiveTime, Timelike, Utc, Weekday};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

pub const MAX_TEXT_CHARS: usize = 4000;
pub const MAX_QUESTION_CHARS: usize = 1000;
pub const MAX_LIST_ITEMS: usize = 100;
pub const MAX_PHRASE_CHARS: usize = 200;
pub const MAX_SCHEDULE_ENTRIES: usize = 50;

/// How new conversations are classified.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClassificationMode {
    Rules,
    /// Ask the LLM of the agent that will answer (the integration's default agent) for JSON;
    /// the rules' result stands when it is unusable or there is no LLM.
    Llm,
}

/// A tenant's effective settings: its overrides over the process defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// Sent to the customer when an AI-served conversation is handed to a human.
    pub handover_message: String,
    /// Sent when an AI agent without a welcome message of its own takes a new conversation;
    /// none when null.
    pub welcome_message: Option<String>,
    /// Phrases (accent- and case-insensitive) meaning the customer wants a human.
    pub human_request_phrases: Vec<String>,
    pub classification: ClassificationPolicy,
    pub feedback: FeedbackPolicy,
    pub business_hours: BusinessHours,
    pub csat: CsatPolicy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassificationPolicy {
    pub mode: ClassificationMode,
    /// Hand critical conversations to a human at once (reason `critical_priority`).
    pub escalate_critical: bool,
    /// Hand VIP contacts' conversations to a human at once (reason `vip_contact`).
    pub escalate_vip: bool,
    /// Contact tags (case-insensitive) that mark a VIP besides the `is_vip` flag.
    pub vip_tags: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackPolicy {
    /// Hand the conversation to a human (reason `negative_feedback`) on feedback scored at
    /// or above `escalate_min_score`.
    pub escalate: bool,
    pub escalate_min_score: f64,
}

/// A day of the week, as schedules write it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    fn of(weekday: Weekday) -> Day {
        match weekday {
            Weekday::Mon => Day::Mon,
            Weekday::Tue => Day::Tue,
            Weekday::Wed => Day::Wed,
            Weekday::Thu => Day::Thu,
            Weekday::Fri => Day::Fri,
            Weekday::Sat => Day::Sat,
            Weekday::Sun => Day::Sun,
        }
    }
}

/// One open stretch of a weekday, `start` inclusive to `end` exclusive, local `HH:MM`
/// (`end` may be `24:00`). A stretch never crosses midnight: write two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenHours {
    pub day: Day,
    pub start: String,
    pub end: String,
}

/// When humans answer. Out of these hours a customer waiting for (or handed to) a human gets
/// `out_of_hours_message` once instead of being left without an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// Off: always open (no auto-reply).
    pub enabled: bool,
    /// IANA time zone of the schedule, e.g. `America/Sao_Paulo`.
    pub timezone: String,
    pub schedule: Vec<OpenHours>,
    /// Empty: no auto-reply (and the usual hand-over text).
    pub out_of_hours_message: String,
}

/// Minutes since local midnight of `HH:MM` (`24:00` is 1440).
fn minutes(raw: &str) -> Option<u32> {
    if raw == "24:00" {
        return Some(24 * 60);
    }
    let time = NaiveTime::parse_from_str(raw, "%H:%M").ok()?;
    Some(time.hour() * 60 + time.minute())
}

impl BusinessHours {
    /// Whether humans answer at `at`. Always true when business hours are off; false for a
    /// schedule that cannot be read (validation refuses those before they are stored).
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        if !self.enabled {
            return true;
        }
        let Ok(zone) = self.timezone.parse::<chrono_tz::Tz>() else {
            return false;
        };
        let local = at.with_timezone(&zone);
        let day = Day::of(local.weekday());
        let now = local.hour() * 60 + local.minute();
        self.schedule.iter().any(|open| {
            open.day == day
                && matches!(
                    (minutes(&open.start), minutes(&open.end)),
                    (Some(start), Some(end)) if start <= now && now < end
                )
        })
    }

    /// The auto-reply due now, if out of hours and one is configured.
    pub fn auto_reply(&self, at: DateTime<Utc>) -> Option<&str> {
        let text = self.out_of_hours_message.trim();
        (!text.is_empty() && !self.is_open(at)).then_some(text)
    }
}

/// Customer satisfaction: on close, ask the customer for a 1–5 rating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CsatPolicy {
    pub enabled: bool,
    /// Sent to the customer's channel when the conversation closes.
    pub question: String,
    /// A "1".."5" reply within this many minutes of the question is the rating; later, or
    /// any other reply, starts a new conversation.
    pub reply_window_minutes: u32,
}

/// Why settings were refused: the field path (`business_hours.schedule[1].end`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {reason}")]
pub struct SettingsError {
    pub field: String,
    pub reason: String,
}

fn refuse<T>(field: impl Into<String>, reason: impl Into<String>) -> Result<T, SettingsError> {
    Err(SettingsError {
        field: field.into(),
        reason: reason.into(),
    })
}

/// RFC 7396 JSON merge patch: `patch`'s keys replace `target`'s, objects merge, `null`
/// removes.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// Removes objects a merge left empty, so an override reset key by key disappears.
fn prune(value: &mut Value) {
    if let Value::Object(map) = value {
        for child in map.values_mut() {
            prune(child);
        }
        map.retain(|_, child| !matches!(child, Value::Object(m) if m.is_empty()));
    }
}

fn section<T: DeserializeOwned>(
    merged: &Map<String, Value>,
    key: &str,
) -> Result<T, SettingsError> {
    let value = merged.get(key).cloned().unwrap_or(Value::Null);
    serde_json::from_value(value).or_else(|e| refuse(key, format!("is invalid: {e}")))
}

const KEYS: [&str; 7] = [
    "handover_message",
    "welcome_message",
    "human_request_phrases",
    "classification",
    "feedback",
    "business_hours",
    "csat",
];

impl TenantSettings {
    /// These defaults with a tenant's `overrides` applied, validated. Each section is read
    /// on its own so an error names the section it is in.
    pub fn with_overrides(&self, overrides: &Value) -> Result<TenantSettings, SettingsError> {
        let Value::Object(changes) = overrides else {
            return refuse("settings", "must be a JSON object");
        };
        if let Some(unknown) = changes.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return refuse(unknown.clone(), "is not a tenant setting");
        }
        let mut merged = serde_json::to_value(self).unwrap_or(Value::Null);
        merge_patch(&mut merged, overrides);
        let Value::Object(merged) = merged else {
            return refuse("settings", "must be a JSON object");
        };
        let settings = TenantSettings {
            handover_message: section(&merged, "handover_message")?,
            welcome_message: section(&merged, "welcome_message")?,
            human_request_phrases: section(&merged, "human_request_phrases")?,
            classification: section(&merged, "classification")?,
            feedback: section(&merged, "feedback")?,
            business_hours: section(&merged, "business_hours")?,
            csat: section(&merged, "csat")?,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// A PATCH: the new overrides (`stored` with `patch` merged in) and the settings they
    /// give. Nothing is returned for a patch that is refused.
    pub fn patch(
        &self,
        stored: &Value,
        patch: &Value,
    ) -> Result<(Value, TenantSettings), SettingsError> {
        if !patch.is_object() {
            return refuse("settings", "must be a JSON object");
        }
        let mut overrides = if stored.is_object() {
            stored.clone()
        } else {
            Value::Object(Map::new())
        };
        merge_patch(&mut overrides, patch);
        prune(&mut overrides);
        let effective = self.with_overrides(&overrides)?;
        Ok((overrides, effective))
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        text("handover_message", &self.handover_message, MAX_TEXT_CHARS)?;
        if let Some(welcome) = &self.welcome_message {
            text("welcome_message", welcome, MAX_TEXT_CHARS)?;
        }
        list(
            "human_request_phrases",
            &self.human_request_phrases,
            MAX_PHRASE_CHARS,
        )?;
        list(
            "classification.vip_tags",
            &self.classification.vip_tags,
            MAX_PHRASE_CHARS,
        )?;
        if !(0.0..=1.0).contains(&self.feedback.escalate_min_score) {
            return refuse("feedback.escalate_min_score", "must be between 0 and 1");
        }
        self.business_hours.validate()?;
        if self.csat.question.chars().count() > MAX_QUESTION_CHARS {
            return refuse("csat.question", "must be at most 1000 characters");
        }
        if self.csat.reply_window_minutes == 0 || self.csat.reply_window_minutes > 10_080 {
            return refuse(
                "csat.reply_window_minutes",
                "must be between 1 and 10080 (a week)",
            );
        }
        if self.csat.enabled && self.csat.question.trim().is_empty() {
            return refuse("csat.question", "must not be blank while csat is enabled");
        }
        Ok(())
    }
}

impl BusinessHours {
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            return refuse(
                "business_hours.timezone",
                "must be an IANA time zone such as America/Sao_Paulo",
            );
        }
        if self.schedule.len() > MAX_SCHEDULE_ENTRIES {
            return refuse("business_hours.schedule", "must have at most 50 entries");
        }
        for (i, open) in self.schedule.iter().enumerate() {
            let (Some(start), Some(end)) = (minutes(&open.start), minutes(&open.end)) else {
                return refuse(
                    format!("business_hours.schedule[{i}]"),
                    "start and end must be HH:MM (end may be 24:00)",
                );
            };
            if start >= end {
                return refuse(
                    format!("business_hours.schedule[{i}].end"),
                    "must be after start",
                );
            }
        }
        if self.out_of_hours_message.chars().count() > MAX_TEXT_CHARS {
            return refuse(
                "business_hours.out_of_hours_message",
                "must be at most 4000 characters",
            );
        }
        Ok(())
    }
}

fn text(field: &str, value: &str, max: usize) -> Result<(), SettingsError> {
    if value.trim().is_empty() {
        return refuse(field, "must not be blank");
    }
    if value.chars().count() > max {
        return refuse(field, format!("must be at most {max} characters"));
    }
    Ok(())
}

fn list(field: &str, items: &[String], max_chars: usize) -> Result<(), SettingsError> {
    if items.len() > MAX_LIST_ITEMS {
        return refuse(field, "must have at most 100 items");
    }
    for (i, item) in items.iter().enumerate() {
        text(&format!("{field}[{i}]"), item, max_chars)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, sec: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, sec)
            .single()
            .expect("a valid UTC time")
    }

    fn defaults() -> TenantSettings {
        TenantSettings {
            handover_message: "Um momento.".into(),
            welcome_message: None,
            human_request_phrases: vec!["falar com humano".into()],
            classification: ClassificationPolicy {
                mode: ClassificationMode::Rules,
                escalate_critical: false,
                escalate_vip: false,
                vip_tags: vec!["vip".into()],
            },
            feedback: FeedbackPolicy {
                escalate: false,
                escalate_min_score: 0.6,
            },
            business_hours: BusinessHours {
                enabled: true,
                timezone: "America/Sao_Paulo".into(),
                schedule: vec![OpenHours {
                    day: Day::Mon,
                    start: "09:00".into(),
                    end: "18:00".into(),
                }],
                out_of_hours_message: "Fechado.".into(),
            },
            csat: CsatPolicy {
                enabled: false,
                question: "Nota de 1 a 5?".into(),
                reply_window_minutes: 60,
            },
        }
    }

    #[test]
    fn no_overrides_are_the_defaults() {
        assert_eq!(defaults().with_overrides(&json!({})), Ok(defaults()));
    }

    #[test]
    fn a_patch_merges_objects_and_null_brings_the_default_back() {
        let d = defaults();
        let (stored, s) = d
            .patch(
                &json!({}),
                &json!({"handover_message": "Já volto", "feedback": {"escalate": true}}),
            )
            .expect("valid");
        assert_eq!(s.handover_message, "Já volto");
        assert!(s.feedback.escalate);
        assert_eq!(
            s.feedback.escalate_min_score, 0.6,
            "the rest of the section"
        );
        let (stored, s) = d
            .patch(
                &stored,
                &json!({"handover_message": null, "feedback": {"escalate": null}}),
            )
            .expect("valid");
        assert_eq!(s, d);
        assert_eq!(stored, json!({}), "nothing left overridden");
    }

    #[test]
    fn bad_input_names_its_field() {
        let d = defaults();
        let field = |patch: Value| d.patch(&json!({}), &patch).expect_err("refused").field;
        assert_eq!(field(json!({"colour": "blue"})), "colour");
        assert_eq!(field(json!({"handover_message": "  "})), "handover_message");
        assert_eq!(field(json!({"handover_message": 5})), "handover_message");
        assert_eq!(field(json!({"feedback": {"nope": true}})), "feedback");
        assert_eq!(
            field(json!({"feedback": {"escalate_min_score": 1.5}})),
            "feedback.escalate_min_score"
        );
        assert_eq!(
            field(json!({"human_request_phrases": ["ok", ""]})),
            "human_request_phrases[1]"
        );
        assert_eq!(
            field(json!({"business_hours": {"timezone": "Mars/Olympus"}})),
            "business_hours.timezone"
        );
        assert_eq!(
            field(
                json!({"business_hours": {"schedule": [{"day": "mon", "start": "18:00", "end": "09:00"}]}})
            ),
            "business_hours.schedule[0].end"
        );
        assert_eq!(
            field(json!({"csat": {"enabled": true, "question": ""}})),
            "csat.question"
        );
        assert_eq!(
            d.patch(&json!({}), &json!([1])).expect_err("array").field,
            "settings"
        );
    }

    #[test]
    fn business_hours_follow_the_local_week() {
        let hours = defaults().business_hours;
        // Monday 2026-03-02, 12:00 UTC = 09:00 in São Paulo (UTC-3): open.
        let monday_nine = at(2026, 3, 2, 12, 0, 0);
        assert!(hours.is_open(monday_nine));
        assert_eq!(hours.auto_reply(monday_nine), None);
        // 08:59 local and 18:00 local are closed; Tuesday has no stretch.
        assert!(!hours.is_open(at(2026, 3, 2, 11, 59, 0)));
        assert!(!hours.is_open(at(2026, 3, 2, 21, 0, 0)));
        let tuesday = at(2026, 3, 3, 15, 0, 0);
        assert_eq!(hours.auto_reply(tuesday), Some("Fechado."));
        // Off: always open.
        let off = BusinessHours {
            enabled: false,
            ..hours.clone()
        };
        assert!(off.is_open(tuesday));
        // Until midnight.
        let late = BusinessHours {
            schedule: vec![OpenHours {
                day: Day::Tue,
                start: "20:00".into(),
                end: "24:00".into(),
            }],
            ..hours
        };
        assert!(late.is_open(at(2026, 3, 4, 2, 59, 0)));
        assert!(!late.is_open(at(2026, 3, 4, 3, 0, 0)));
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut target = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut target, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(target, json!({"a": "z", "c": {"d": "e"}}));
        let mut target = json!({"a": [1]});
        merge_patch(&mut target, &json!({"a": [2, 3]}));
        assert_eq!(target, json!({"a": [2, 3]}), "arrays are replaced");
    }
}
