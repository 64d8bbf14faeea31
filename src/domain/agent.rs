//! AI agent configuration: type, status, provider kind, behaviour settings and limits, with
//! the rules that keep them sane. Shared by the REST API (which validates what admins send),
//! the store (which decodes the JSON columns) and the engine (which acts on the values).

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::limits::CostBudget;

pub const DEFAULT_MODEL: &str = "gpt-4o-mini";
pub const DEFAULT_TEMPERATURE: f64 = 0.7;
pub const DEFAULT_MAX_TOKENS: i32 = 1024;
pub const DEFAULT_MAX_CONVERSATIONS: i32 = 100;

pub const MAX_HISTORY_WINDOW: u32 = 200;
/// A context timer longer than this would leave customers waiting for their first answer.
pub const MAX_CONTEXT_TIMER_SECONDS: u32 = 3600;
pub const MAX_RESPONSE_DELAY_SECONDS: u32 = 600;
pub const MAX_TOOL_ITERATIONS: u32 = 50;
pub const MAX_ESCALATE_AFTER_MINUTES: u32 = 10_080;
pub const MAX_RECURRING_CONVERSATIONS: u32 = 100;
pub const MAX_RECURRING_DAYS: u32 = 365;
pub const MAX_WELCOME_MESSAGE_CHARS: usize = 4000;
pub const MAX_TEMPERATURE: f64 = 2.0;
/// Above every current model's output window; the provider refuses larger values anyway.
pub const MAX_MAX_TOKENS: i32 = 200_000;
pub const MAX_AGENT_CONVERSATIONS: i32 = 1_000_000;
pub const MAX_MODEL_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
pub const MAX_SYSTEM_PROMPT_CHARS: usize = 100_000;
pub const MAX_EMOJI_CHARS: usize = 32;
pub const MAX_SPECIALTIES: usize = 50;
pub const MAX_SPECIALTY_CHARS: usize = 100;

/// Why a value was refused: the field (relative to the object validated) and a sentence
/// fragment that reads after it ("history_window must be between 1 and 200"). A field of a
/// list's item also says which item (`index`), so a form can show the error on that row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{} {reason}", self.path())]
pub struct InvalidField {
    pub field: &'static str,
    pub reason: &'static str,
    pub index: Option<usize>,
}

impl InvalidField {
    pub fn new(field: &'static str, reason: &'static str) -> Self {
        InvalidField {
            field,
            reason,
            index: None,
        }
    }

    /// The same error, about the list item at `index`.
    pub fn at(self, index: usize) -> Self {
        InvalidField {
            index: Some(index),
            ..self
        }
    }

    /// The field's path in the request: `custom_fields[2].key` for an item's field.
    pub fn path(&self) -> String {
        match (self.index, self.field.split_once('.')) {
            (Some(i), Some((list, rest))) => format!("{list}[{i}].{rest}"),
            (Some(i), None) => format!("{}[{i}]", self.field),
            (None, _) => self.field.to_string(),
        }
    }
}

fn invalid(field: &'static str, reason: &'static str) -> Result<(), InvalidField> {
    Err(InvalidField::new(field, reason))
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum AgentType {
    /// Sales development: qualifies leads.
    Sdr,
    /// Customer success.
    Cs,
    Closer,
    Support,
    #[default]
    Custom,
}

impl AgentType {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentType::Sdr => "SDR",
            AgentType::Cs => "CS",
            AgentType::Closer => "CLOSER",
            AgentType::Support => "SUPPORT",
            AgentType::Custom => "CUSTOM",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "SDR" => Some(AgentType::Sdr),
            "CS" => Some(AgentType::Cs),
            "CLOSER" => Some(AgentType::Closer),
            "SUPPORT" => Some(AgentType::Support),
            "CUSTOM" => Some(AgentType::Custom),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    /// Being set up (the wizard); never receives conversations.
    Draft,
    #[default]
    Active,
    /// Kept with its history but receives no new conversations.
    Inactive,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Draft => "draft",
            AgentStatus::Active => "active",
            AgentStatus::Inactive => "inactive",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "draft" => Some(AgentStatus::Draft),
            "active" => Some(AgentStatus::Active),
            "inactive" => Some(AgentStatus::Inactive),
            _ => None,
        }
    }
}

/// How an agent produces answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// An OpenAI-compatible chat-completions API (OpenAI, Azure, Ollama, vLLM, llama.cpp…).
    Openai,
    /// No LLM: answers from the knowledge base, hands over to a human when nothing matches.
    Retrieval,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Retrieval => "retrieval",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "openai" => Some(ProviderKind::Openai),
            "retrieval" => Some(ProviderKind::Retrieval),
            _ => None,
        }
    }

    /// The kind to use when an admin names none: an LLM only when there is something to
    /// reach one with (a key, an endpoint of the agent's own, or the configured default
    /// key); otherwise an agent that still works offline.
    pub fn inferred(has_api_key: bool, has_base_url: bool, default_key_configured: bool) -> Self {
        if has_api_key || has_base_url || default_key_configured {
            ProviderKind::Openai
        } else {
            ProviderKind::Retrieval
        }
    }
}

crate::text_enum! {
    /// How an AI turn ended (`ai_turns.status`, the `atende_ai_turns_total` label).
    pub enum TurnStatus {
        /// The model answered (or a streamed answer finished).
        Ok => "ok",
        /// The provider failed.
        Error => "error",
        /// A concurrency, rate or cost limit refused the turn.
        Limited => "limited",
        /// The provider had nothing to answer with (retrieval found no passage).
        NoAnswer => "no_answer",
        /// A matched automation answered instead of the model.
        Automation => "automation",
        /// The client left a streamed answer before it finished. Kept for rows written
        /// before streams ran to their end (they now log `ok`, `error` or `limited`).
        Abandoned => "abandoned",
        /// Side calls (not chat turns): memory extraction, classification, a summary,
        /// reply suggestions for a human agent.
        Memory => "memory",
        Classification => "classification",
        Summary => "summary",
        Suggestions => "suggestions",
    }
}

/// What happens to a conversation whose AI turn a rate, cost or concurrency limit blocks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnLimit {
    /// Keep the conversation with the agent; the turn runs once the limit clears.
    #[default]
    Wait,
    /// Hand the conversation to a human (through the distributor).
    Handover,
}

/// Behaviour of an AI agent in its conversations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AgentSettings {
    /// Seconds to wait for more customer messages before answering them together; 0 answers
    /// at once.
    pub context_timer_seconds: u32,
    /// A human-like pause before each reply, drawn between min and max seconds.
    pub response_delay_min_seconds: u32,
    pub response_delay_max_seconds: u32,
    /// Sent when the agent takes a new conversation; none when absent.
    pub welcome_message: Option<String>,
    /// Recent messages given to the model, 1..=200.
    pub history_window: u32,
    /// Extract memories about the contact every N customer messages; 0 never does.
    pub memory_every_n_messages: u32,
    /// Hand the conversation to a human after this many customer messages; 0 never does.
    pub escalate_after_messages: u32,
    /// Model/tool round trips allowed in one turn before it is cut short.
    pub max_tool_iterations: u32,
    pub on_limit: OnLimit,
    /// Hand the conversation to a human when it is still open with this agent this many
    /// minutes after it started (seed 001: 5); 0 never does.
    pub escalate_after_minutes: u32,
    /// Hand a new conversation straight to a human when the contact already had this many
    /// conversations on the same category (this one included) within
    /// `recurring_problem_days` (seed 001: 3); 0 never does.
    pub recurring_problem_conversations: u32,
    pub recurring_problem_days: u32,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            context_timer_seconds: 0,
            response_delay_min_seconds: 0,
            response_delay_max_seconds: 0,
            welcome_message: None,
            history_window: 20,
            memory_every_n_messages: 5,
            escalate_after_messages: 0,
            max_tool_iterations: 5,
            on_limit: OnLimit::Wait,
            escalate_after_minutes: 0,
            recurring_problem_conversations: 0,
            recurring_problem_days: 30,
        }
    }
}

impl AgentSettings {
    pub fn validate(&self) -> Result<(), InvalidField> {
        if self.context_timer_seconds > MAX_CONTEXT_TIMER_SECONDS {
            return invalid("context_timer_seconds", "must be at most 3600");
        }
        if self.response_delay_max_seconds > MAX_RESPONSE_DELAY_SECONDS {
            return invalid("response_delay_max_seconds", "must be at most 600");
        }
        if self.response_delay_min_seconds > self.response_delay_max_seconds {
            return invalid(
                "response_delay_min_seconds",
                "must not be greater than response_delay_max_seconds",
            );
        }
        if let Some(message) = &self.welcome_message {
            if message.trim().is_empty() {
                return invalid("welcome_message", "must not be blank; use null for none");
            }
            if message.chars().count() > MAX_WELCOME_MESSAGE_CHARS {
                return invalid("welcome_message", "must be at most 4000 characters");
            }
        }
        if self.history_window == 0 || self.history_window > MAX_HISTORY_WINDOW {
            return invalid("history_window", "must be between 1 and 200");
        }
        if self.max_tool_iterations > MAX_TOOL_ITERATIONS {
            return invalid("max_tool_iterations", "must be at most 50");
        }
        if self.escalate_after_minutes > MAX_ESCALATE_AFTER_MINUTES {
            return invalid("escalate_after_minutes", "must be at most 10080 (7 days)");
        }
        if self.recurring_problem_conversations > MAX_RECURRING_CONVERSATIONS {
            return invalid("recurring_problem_conversations", "must be at most 100");
        }
        if self.recurring_problem_days == 0 || self.recurring_problem_days > MAX_RECURRING_DAYS {
            return invalid("recurring_problem_days", "must be between 1 and 365");
        }
        Ok(())
    }
}

/// Hard limits of an AI agent; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AgentLimits {
    pub requests_per_minute: Option<u32>,
    pub requests_per_hour: Option<u32>,
    pub requests_per_day: Option<u32>,
    /// USD.
    pub daily_cost_usd: Option<f64>,
    /// USD.
    pub monthly_cost_usd: Option<f64>,
}

impl AgentLimits {
    pub fn validate(&self) -> Result<(), InvalidField> {
        for (field, value) in [
            ("requests_per_minute", self.requests_per_minute),
            ("requests_per_hour", self.requests_per_hour),
            ("requests_per_day", self.requests_per_day),
        ] {
            // A rate of zero would silently park every conversation; null says "unlimited".
            if value == Some(0) {
                return invalid(field, "must be at least 1; use null for unlimited");
            }
        }
        for (field, value) in [
            ("daily_cost_usd", self.daily_cost_usd),
            ("monthly_cost_usd", self.monthly_cost_usd),
        ] {
            if value.is_some_and(|v| !v.is_finite() || v < 0.0) {
                return invalid(
                    field,
                    "must be a non-negative number; use null for unlimited",
                );
            }
        }
        Ok(())
    }

    pub fn cost_budget(&self) -> CostBudget {
        CostBudget {
            daily_usd: self.daily_cost_usd,
            monthly_usd: self.monthly_cost_usd,
        }
    }

    pub fn is_unlimited(&self) -> bool {
        *self == AgentLimits::default()
    }
}

/// For PATCH bodies: tells "key absent" (outer `None`, keep the value) from "key: null"
/// (`Some(None)`, clear it). Use with `#[serde(default, deserialize_with = "nullable")]`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A partial [`AgentSettings`]: only the keys present change. `null` clears
/// `welcome_message`; on the other keys, which always have a value, it changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AgentSettingsPatch {
    pub context_timer_seconds: Option<u32>,
    pub response_delay_min_seconds: Option<u32>,
    pub response_delay_max_seconds: Option<u32>,
    /// `null` removes the welcome message.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub welcome_message: Option<Option<String>>,
    pub history_window: Option<u32>,
    pub memory_every_n_messages: Option<u32>,
    pub escalate_after_messages: Option<u32>,
    pub max_tool_iterations: Option<u32>,
    pub on_limit: Option<OnLimit>,
    pub escalate_after_minutes: Option<u32>,
    pub recurring_problem_conversations: Option<u32>,
    pub recurring_problem_days: Option<u32>,
}

impl AgentSettingsPatch {
    /// The settings with this patch applied; validate the result, not the patch, since rules
    /// such as min <= max span keys.
    pub fn apply(&self, base: &AgentSettings) -> AgentSettings {
        let mut s = base.clone();
        let p = self.clone();
        s.context_timer_seconds = p.context_timer_seconds.unwrap_or(s.context_timer_seconds);
        s.response_delay_min_seconds = p
            .response_delay_min_seconds
            .unwrap_or(s.response_delay_min_seconds);
        s.response_delay_max_seconds = p
            .response_delay_max_seconds
            .unwrap_or(s.response_delay_max_seconds);
        if let Some(welcome) = p.welcome_message {
            s.welcome_message = welcome;
        }
        s.history_window = p.history_window.unwrap_or(s.history_window);
        s.memory_every_n_messages = p
            .memory_every_n_messages
            .unwrap_or(s.memory_every_n_messages);
        s.escalate_after_messages = p
            .escalate_after_messages
            .unwrap_or(s.escalate_after_messages);
        s.max_tool_iterations = p.max_tool_iterations.unwrap_or(s.max_tool_iterations);
        s.on_limit = p.on_limit.unwrap_or(s.on_limit);
        s.escalate_after_minutes = p.escalate_after_minutes.unwrap_or(s.escalate_after_minutes);
        s.recurring_problem_conversations = p
            .recurring_problem_conversations
            .unwrap_or(s.recurring_problem_conversations);
        s.recurring_problem_days = p.recurring_problem_days.unwrap_or(s.recurring_problem_days);
        s
    }
}

/// A partial [`AgentLimits`]: only the keys present change; `null` makes a limit unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AgentLimitsPatch {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    pub requests_per_minute: Option<Option<u32>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    pub requests_per_hour: Option<Option<u32>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    pub requests_per_day: Option<Option<u32>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<f64>)]
    pub daily_cost_usd: Option<Option<f64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<f64>)]
    pub monthly_cost_usd: Option<Option<f64>>,
}

impl AgentLimitsPatch {
    pub fn apply(&self, base: &AgentLimits) -> AgentLimits {
        AgentLimits {
            requests_per_minute: self.requests_per_minute.unwrap_or(base.requests_per_minute),
            requests_per_hour: self.requests_per_hour.unwrap_or(base.requests_per_hour),
            requests_per_day: self.requests_per_day.unwrap_or(base.requests_per_day),
            daily_cost_usd: self.daily_cost_usd.unwrap_or(base.daily_cost_usd),
            monthly_cost_usd: self.monthly_cost_usd.unwrap_or(base.monthly_cost_usd),
        }
    }
}

// Field rules for the agent's own columns. Each returns the reason a value is refused, or
// `None`, like `domain::validate`.

pub fn check_temperature(value: f64) -> Option<&'static str> {
    if value.is_finite() && (0.0..=MAX_TEMPERATURE).contains(&value) {
        None
    } else {
        Some("must be between 0 and 2")
    }
}

pub fn check_max_tokens(value: i32) -> Option<&'static str> {
    if (1..=MAX_MAX_TOKENS).contains(&value) {
        None
    } else {
        Some("must be between 1 and 200000")
    }
}

pub fn check_max_conversations(value: i32) -> Option<&'static str> {
    if (0..=MAX_AGENT_CONVERSATIONS).contains(&value) {
        None
    } else {
        Some("must be between 0 and 1000000")
    }
}

pub fn check_model(value: &str) -> Option<&'static str> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        Some("must not be empty")
    } else if trimmed.chars().count() > MAX_MODEL_CHARS {
        Some("is too long")
    } else if trimmed.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else {
        None
    }
}

pub fn check_description(value: &str) -> Option<&'static str> {
    (value.chars().count() > MAX_DESCRIPTION_CHARS).then_some("must be at most 2000 characters")
}

pub fn check_system_prompt(value: &str) -> Option<&'static str> {
    (value.chars().count() > MAX_SYSTEM_PROMPT_CHARS).then_some("must be at most 100000 characters")
}

pub fn check_emoji(value: &str) -> Option<&'static str> {
    (value.chars().count() > MAX_EMOJI_CHARS).then_some("must be at most 32 characters")
}

/// Trims specialties and drops repeats (keeping the first spelling), since distribution by
/// specialty matches them as a set.
pub fn normalize_specialties(raw: &[String]) -> Result<Vec<String>, &'static str> {
    if raw.len() > MAX_SPECIALTIES {
        return Err("must have at most 50 entries");
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for item in raw {
        let item = item.trim();
        if item.is_empty() {
            return Err("must not contain empty entries");
        }
        if item.chars().count() > MAX_SPECIALTY_CHARS {
            return Err("entries must be at most 100 characters");
        }
        if !out.iter().any(|seen| seen.eq_ignore_ascii_case(item)) {
            out.push(item.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(value: serde_json::Value) -> AgentSettings {
        serde_json::from_value(value).expect("valid settings JSON")
    }

    #[test]
    fn enums_use_the_wire_spelling_and_round_trip() {
        for t in [
            AgentType::Sdr,
            AgentType::Cs,
            AgentType::Closer,
            AgentType::Support,
            AgentType::Custom,
        ] {
            assert_eq!(serde_json::to_value(t).expect("ser"), json!(t.as_str()));
            assert_eq!(AgentType::parse(t.as_str()), Some(t));
        }
        for s in [
            AgentStatus::Draft,
            AgentStatus::Active,
            AgentStatus::Inactive,
        ] {
            assert_eq!(serde_json::to_value(s).expect("ser"), json!(s.as_str()));
            assert_eq!(AgentStatus::parse(s.as_str()), Some(s));
        }
        for k in [ProviderKind::Openai, ProviderKind::Retrieval] {
            assert_eq!(serde_json::to_value(k).expect("ser"), json!(k.as_str()));
            assert_eq!(ProviderKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(
            serde_json::to_value(OnLimit::Handover).expect("ser"),
            json!("handover")
        );
        assert_eq!(AgentType::parse("sdr"), None);
        assert_eq!(AgentStatus::parse("Active"), None);
        assert!(serde_json::from_value::<ProviderKind>(json!("anthropic")).is_err());
    }

    #[test]
    fn settings_default_missing_keys_and_refuse_unknown_ones() {
        assert_eq!(settings(json!({})), AgentSettings::default());
        let s = settings(json!({"context_timer_seconds": 8, "on_limit": "handover"}));
        assert_eq!(s.context_timer_seconds, 8);
        assert_eq!(s.on_limit, OnLimit::Handover);
        assert_eq!(s.history_window, 20);
        assert_eq!(s.memory_every_n_messages, 5);
        assert_eq!(s.max_tool_iterations, 5);
        let err = serde_json::from_value::<AgentSettings>(json!({"history": 3}))
            .expect_err("unknown key");
        assert!(err.to_string().contains("history"), "{err}");
        assert!(serde_json::from_value::<AgentSettings>(json!({"history_window": -1})).is_err());
        assert_eq!(AgentSettings::default().validate(), Ok(()));
    }

    #[test]
    fn settings_rules_name_the_field() {
        let field = |v| settings(v).validate().expect_err("invalid").field;
        assert_eq!(
            field(json!({"response_delay_min_seconds": 5, "response_delay_max_seconds": 2})),
            "response_delay_min_seconds"
        );
        assert_eq!(field(json!({"history_window": 0})), "history_window");
        assert_eq!(field(json!({"history_window": 201})), "history_window");
        assert_eq!(
            field(json!({"context_timer_seconds": 3601})),
            "context_timer_seconds"
        );
        assert_eq!(
            field(json!({"response_delay_max_seconds": 601})),
            "response_delay_max_seconds"
        );
        assert_eq!(field(json!({"welcome_message": "  "})), "welcome_message");
        assert_eq!(
            field(json!({"max_tool_iterations": 51})),
            "max_tool_iterations"
        );
        let ok = settings(json!({
            "response_delay_min_seconds": 2, "response_delay_max_seconds": 2,
            "history_window": 200, "welcome_message": "Hi!"
        }));
        assert_eq!(ok.validate(), Ok(()));
    }

    #[test]
    fn limits_are_optional_and_must_be_sane() {
        let limits: AgentLimits = serde_json::from_value(json!({})).expect("empty");
        assert!(limits.is_unlimited());
        assert_eq!(limits.validate(), Ok(()));
        let limits: AgentLimits =
            serde_json::from_value(json!({"requests_per_minute": 10, "daily_cost_usd": 1.5}))
                .expect("valid");
        assert_eq!(limits.requests_per_minute, Some(10));
        assert_eq!(limits.cost_budget().daily_usd, Some(1.5));
        assert_eq!(limits.cost_budget().monthly_usd, None);

        let field = |l: AgentLimits| l.validate().expect_err("invalid").field;
        assert_eq!(
            field(AgentLimits {
                daily_cost_usd: Some(-0.01),
                ..Default::default()
            }),
            "daily_cost_usd"
        );
        assert_eq!(
            field(AgentLimits {
                monthly_cost_usd: Some(f64::NAN),
                ..Default::default()
            }),
            "monthly_cost_usd"
        );
        assert_eq!(
            field(AgentLimits {
                requests_per_hour: Some(0),
                ..Default::default()
            }),
            "requests_per_hour"
        );
        // A zero budget is a deliberate pause, not a mistake.
        let paused = AgentLimits {
            daily_cost_usd: Some(0.0),
            ..Default::default()
        };
        assert_eq!(paused.validate(), Ok(()));
        assert!(serde_json::from_value::<AgentLimits>(json!({"per_minute": 1})).is_err());
    }

    #[test]
    fn patches_change_only_the_keys_present() {
        let base = AgentSettings {
            welcome_message: Some("Hello".into()),
            context_timer_seconds: 4,
            ..Default::default()
        };
        let patch: AgentSettingsPatch =
            serde_json::from_value(json!({"history_window": 50})).expect("patch");
        let merged = patch.apply(&base);
        assert_eq!(merged.history_window, 50);
        assert_eq!(merged.context_timer_seconds, 4);
        assert_eq!(merged.welcome_message.as_deref(), Some("Hello"));

        let clear: AgentSettingsPatch =
            serde_json::from_value(json!({"welcome_message": null})).expect("patch");
        assert_eq!(clear.apply(&base).welcome_message, None);
        assert!(serde_json::from_value::<AgentSettingsPatch>(json!({"nope": 1})).is_err());
        // `null` only clears what may be absent; for the other keys it keeps the value.
        let keep: AgentSettingsPatch =
            serde_json::from_value(json!({"history_window": null})).expect("patch");
        assert_eq!(keep.apply(&base), base);

        let limits = AgentLimits {
            requests_per_minute: Some(5),
            daily_cost_usd: Some(2.0),
            ..Default::default()
        };
        let patch: AgentLimitsPatch =
            serde_json::from_value(json!({"daily_cost_usd": null, "requests_per_day": 100}))
                .expect("patch");
        let merged = patch.apply(&limits);
        assert_eq!(merged.requests_per_minute, Some(5));
        assert_eq!(merged.daily_cost_usd, None);
        assert_eq!(merged.requests_per_day, Some(100));
        assert_eq!(AgentLimitsPatch::default().apply(&limits), limits);
    }

    #[test]
    fn field_rules() {
        assert_eq!(check_temperature(0.0), None);
        assert_eq!(check_temperature(2.0), None);
        assert!(check_temperature(2.01).is_some());
        assert!(check_temperature(-0.1).is_some());
        assert!(check_temperature(f64::NAN).is_some());
        assert!(check_max_tokens(0).is_some());
        assert_eq!(check_max_tokens(1024), None);
        assert!(check_max_conversations(-1).is_some());
        assert_eq!(check_max_conversations(0), None);
        assert!(check_model(" ").is_some());
        assert!(check_model("gpt\n4").is_some());
        assert_eq!(check_model("llama3.1:8b"), None);
        assert!(check_emoji(&"x".repeat(33)).is_some());
        assert_eq!(
            normalize_specialties(&[" billing ".into(), "Billing".into(), "sales".into()]),
            Ok(vec!["billing".to_string(), "sales".to_string()])
        );
        assert!(normalize_specialties(&["".into()]).is_err());
    }

    #[test]
    fn provider_kind_is_inferred_from_what_can_reach_an_llm() {
        assert_eq!(
            ProviderKind::inferred(false, false, false),
            ProviderKind::Retrieval
        );
        assert_eq!(
            ProviderKind::inferred(true, false, false),
            ProviderKind::Openai
        );
        assert_eq!(
            ProviderKind::inferred(false, true, false),
            ProviderKind::Openai
        );
        assert_eq!(
            ProviderKind::inferred(false, false, true),
            ProviderKind::Openai
        );
    }
}
