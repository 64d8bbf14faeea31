//! When a conversation leaves the AI for a human (seed 004): the customer asks for one, a
//! tool keeps failing, too many messages without resolution, or a limit with hand-over.

use std::fmt;

use chrono::{NaiveDateTime, TimeDelta};

use super::conversation::Owner;
use super::limits::LimitHit;

crate::text_enum! {
    /// How an LLM provider call failed, as recorded with the turn and the conversation.
    pub enum ProviderFault {
        RateLimit => "rate_limit",
        InsufficientQuota => "insufficient_quota",
        InvalidApiKey => "invalid_api_key",
        Timeout => "timeout",
        BadResponse => "bad_response",
        Unavailable => "unavailable",
        TargetRefused => "target_refused",
    }
}

/// Why a conversation went to a human (`conversations.escalation_reason`, the
/// `conversation_escalated` event). Staff give any reason in words; the engine's own
/// reasons are variants, so each is spelled once. Every text reads back as the same text:
/// `EscalationReason::parse(s).to_string() == s`.
#[derive(
    Debug, Clone, PartialEq, Eq, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum EscalationReason {
    CustomerRequestedHuman,
    NegativeFeedback,
    MessageLimit,
    /// Tool calls kept failing (`engine.tool_failure_escalation`).
    ToolFailures,
    AgentUnavailable,
    VipContact,
    CriticalPriority,
    /// The offline retrieval provider found no passage to answer with.
    NoKnowledgeMatch,
    /// Still open with the AI `escalate_after_minutes` after it started (seed 001).
    UnresolvedTimeout,
    /// The contact keeps coming back about the same category (seed 001: 3+ conversations).
    RecurringProblem,
    /// The provider call failed for good.
    Provider(ProviderFault),
    /// A limit blocked the turn and the agent hands over (`on_limit = handover`).
    LimitReached(LimitHit),
    /// The model called `transfer_to_human` with these words.
    AiTransfer(String),
    /// Given by staff over REST.
    Staff(String),
}

const LIMIT_PREFIX: &str = "limit_reached:";
const AI_TRANSFER_PREFIX: &str = "ai_transfer: ";

impl EscalationReason {
    const FIXED: [(EscalationReason, &'static str); 10] = [
        (
            EscalationReason::CustomerRequestedHuman,
            "customer_requested_human",
        ),
        (EscalationReason::NegativeFeedback, "negative_feedback"),
        (EscalationReason::MessageLimit, "message_limit"),
        (EscalationReason::ToolFailures, "tool_failures"),
        (EscalationReason::AgentUnavailable, "agent_unavailable"),
        (EscalationReason::VipContact, "vip_contact"),
        (EscalationReason::CriticalPriority, "critical_priority"),
        (EscalationReason::NoKnowledgeMatch, "no_knowledge_match"),
        (EscalationReason::UnresolvedTimeout, "unresolved_timeout"),
        (EscalationReason::RecurringProblem, "recurring_problem"),
    ];

    /// Reads any text: an engine spelling becomes its variant, anything else a staff reason.
    pub fn parse(raw: &str) -> EscalationReason {
        if let Some((reason, _)) = Self::FIXED.iter().find(|(_, text)| *text == raw) {
            return reason.clone();
        }
        if let Ok(fault) = raw.parse() {
            return EscalationReason::Provider(fault);
        }
        if let Some(hit) = raw
            .strip_prefix(LIMIT_PREFIX)
            .and_then(|h| h.parse::<LimitHit>().ok())
        {
            return EscalationReason::LimitReached(hit);
        }
        match raw.strip_prefix(AI_TRANSFER_PREFIX) {
            Some(words) => EscalationReason::AiTransfer(words.to_string()),
            None => EscalationReason::Staff(raw.to_string()),
        }
    }
}

impl fmt::Display for EscalationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EscalationReason::Provider(fault) => f.write_str(fault.as_str()),
            EscalationReason::LimitReached(hit) => write!(f, "{LIMIT_PREFIX}{hit}"),
            EscalationReason::AiTransfer(words) => write!(f, "{AI_TRANSFER_PREFIX}{words}"),
            EscalationReason::Staff(words) => f.write_str(words),
            fixed => {
                let text = Self::FIXED
                    .iter()
                    .find(|(reason, _)| reason == fixed)
                    .map_or("", |(_, text)| text);
                f.write_str(text)
            }
        }
    }
}

impl std::str::FromStr for EscalationReason {
    type Err = std::convert::Infallible;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Ok(EscalationReason::parse(raw))
    }
}

impl serde::Serialize for EscalationReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for EscalationReason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(EscalationReason::parse(&raw))
    }
}

crate::stored_as_text!(EscalationReason);

/// Accent- and case-insensitive form used to match phrases.
pub fn fold(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            c => c,
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn asks_for_human(text: &str, phrases: &[String]) -> bool {
    let text = fold(text);
    phrases.iter().any(|p| {
        let p = fold(p);
        !p.is_empty() && text.contains(&p)
    })
}

/// More customer messages than the agent may handle before a human takes over (0 = never).
pub fn too_many_messages(customer_messages: u32, escalate_after: u32) -> bool {
    escalate_after > 0 && customer_messages > escalate_after
}

/// When an AI-owned conversation that started at `started_at` is handed to a human for
/// still being open (`escalate_after_minutes`); `None` when the agent has it off (0).
pub fn timeout_at(started_at: NaiveDateTime, minutes: u32) -> Option<NaiveDateTime> {
    (minutes > 0).then(|| started_at + TimeDelta::minutes(i64::from(minutes)))
}

/// The timeout hands over only what the AI still holds: a closed conversation is resolved,
/// and one a human (or nobody, already queued) holds has left the AI.
pub fn timeout_escalates(owner: &Owner, closed: bool) -> bool {
    !closed && matches!(owner, Owner::AiAgent(_))
}

/// The per-agent "recurring problem" rule: hand over at once when this is at least the
/// `threshold`-th conversation of the contact on the same category within the window
/// (`earlier` counts the other ones). A threshold of 0 is off.
pub fn recurring_problem(earlier: u32, threshold: u32) -> bool {
    threshold > 0 && earlier.saturating_add(1) >= threshold
}

/// Start of the window the recurring rule counts conversations in.
pub fn recurring_window_start(now: NaiveDateTime, days: u32) -> NaiveDateTime {
    now - TimeDelta::days(i64::from(days))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn engine_reasons_keep_their_spelling() {
        for (reason, text) in [
            (
                EscalationReason::CustomerRequestedHuman,
                "customer_requested_human",
            ),
            (EscalationReason::ToolFailures, "tool_failures"),
            (EscalationReason::NoKnowledgeMatch, "no_knowledge_match"),
            (
                EscalationReason::Provider(ProviderFault::Timeout),
                "timeout",
            ),
            (
                EscalationReason::LimitReached(LimitHit::DailyCost),
                "limit_reached:daily_cost",
            ),
            (
                EscalationReason::AiTransfer("quer reembolso".into()),
                "ai_transfer: quer reembolso",
            ),
            (
                EscalationReason::Staff("cliente irritado".into()),
                "cliente irritado",
            ),
        ] {
            assert_eq!(reason.to_string(), text);
            assert_eq!(EscalationReason::parse(text), reason);
            assert_eq!(
                serde_json::to_value(&reason).expect("serializes"),
                serde_json::json!(text)
            );
        }
        for (reason, text) in EscalationReason::FIXED {
            assert_eq!(reason.to_string(), text);
        }
        // Not a known limit: stays the staff's words.
        assert_eq!(
            EscalationReason::parse("limit_reached:whatever"),
            EscalationReason::Staff("limit_reached:whatever".into())
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn every_text_reads_back_as_itself(raw in ".{0,40}") {
            prop_assert_eq!(EscalationReason::parse(&raw).to_string(), raw);
        }

        #[test]
        fn engine_prefixes_read_back_as_themselves(words in ".{0,20}") {
            for raw in [format!("{LIMIT_PREFIX}{words}"), format!("{AI_TRANSFER_PREFIX}{words}")] {
                prop_assert_eq!(EscalationReason::parse(&raw).to_string(), raw);
            }
        }
    }

    #[test]
    fn human_requests_are_found_in_any_case_or_accent() {
        let phrases = vec![
            "falar com atendente".to_string(),
            "talk to a human".to_string(),
        ];
        assert!(asks_for_human(
            "Quero FALAR   com atendênte agora",
            &phrases
        ));
        assert!(asks_for_human("can I talk to a human?", &phrases));
        assert!(!asks_for_human("quero pagar minha fatura", &phrases));
        assert!(!asks_for_human("anything", &[String::new()]));
    }

    #[test]
    fn the_timeout_fires_minutes_after_the_start_and_only_for_the_ai() {
        let start = chrono::NaiveDate::from_ymd_opt(2026, 3, 2)
            .and_then(|d| d.and_hms_opt(10, 0, 0))
            .expect("date");
        assert_eq!(timeout_at(start, 0), None, "0 is off");
        assert_eq!(
            timeout_at(start, 5).map(|t| t.to_string()),
            Some("2026-03-02 10:05:00".to_string())
        );
        let ai = Owner::AiAgent(crate::domain::AgentId::new());
        let human = Owner::User(crate::domain::UserId::new());
        assert!(timeout_escalates(&ai, false));
        assert!(!timeout_escalates(&ai, true), "resolved");
        assert!(!timeout_escalates(&human, false), "a human holds it");
        assert!(!timeout_escalates(&Owner::Nobody, false), "already queued");
    }

    #[test]
    fn recurring_problems_count_this_conversation_too() {
        assert!(!recurring_problem(10, 0), "0 is off");
        assert!(!recurring_problem(0, 3));
        assert!(!recurring_problem(1, 3));
        assert!(recurring_problem(2, 3), "the third conversation");
        assert!(recurring_problem(7, 3));
        assert!(recurring_problem(0, 1));
        let now = chrono::NaiveDate::from_ymd_opt(2026, 3, 10)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("date");
        assert_eq!(
            recurring_window_start(now, 7).to_string(),
            "2026-03-03 00:00:00"
        );
    }

    #[test]
    fn message_limit() {
        assert!(!too_many_messages(100, 0));
        assert!(!too_many_messages(5, 5));
        assert!(too_many_messages(6, 5));
    }
}
