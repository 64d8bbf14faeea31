//! Tools the AI agents call during a turn (seeds 002 and 004): the registry of a turn's tools,
//! JSON-Schema validation of every call's arguments, the built-in system tools, HTTP and
//! webhook tools behind the SSRF guard, the calculator, lead capture and forms, knowledge
//! search, and the tool loop that runs them between model calls.
//!
//! A tool never fails a turn: unknown names, bad arguments, timeouts, oversized or refused
//! responses all come back to the model as an error result, and are logged on the turn.

pub mod calculator;
pub mod config;
pub mod forms;
pub mod http;
pub mod registry;
pub mod runner;
pub mod schema;
pub mod search;
pub mod system;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::OutboundSettings;
use crate::domain::conversation::Owner;
use crate::domain::escalation::EscalationReason;
use crate::domain::{AgentId, ContactId, ConversationId, TenantId};
use crate::secrets::SecretBox;
use crate::store::Store;

pub use registry::Toolbox;

/// Characters of a tool result handed back to the model; more is cut (and said so), so one
/// chatty API cannot fill the context window or the bill.
pub const MAX_RESULT_CHARS: usize = 8_000;
/// Characters of arguments and result kept per call in the turn log.
pub const MAX_LOG_CHARS: usize = 2_000;
/// Bytes read from an HTTP tool's response; a larger body is refused, not buffered.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
pub const MIN_TIMEOUT_MS: i32 = 100;
pub const MAX_TIMEOUT_MS: i32 = 60_000;
pub const DEFAULT_TIMEOUT_MS: i32 = 10_000;

pub use crate::domain::tool::ToolKind;

/// Something the conversation must do after the turn: only its actor may change owner and
/// status, so tools and automations ask for it instead of writing it themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    /// Hand the conversation to a human (through the distributor).
    Escalate {
        reason: EscalationReason,
    },
    /// Give the conversation to this owner.
    Assign {
        owner: Owner,
    },
    Close {
        reason: Option<String>,
    },
}

/// Who a call is made for.
#[derive(Debug, Clone)]
pub struct ToolContext {
    pub tenant: TenantId,
    pub agent: AgentId,
    pub conversation: Option<ConversationId>,
    pub contact: Option<ContactId>,
}

/// What one call produced.
#[derive(Debug, Clone)]
pub struct ToolOutcome {
    pub result: Result<serde_json::Value, String>,
    /// Conversation changes; any of them ends the tool loop.
    pub effects: Vec<Effect>,
    /// Words for the customer when the loop ends here (a closing tool's farewell), since the
    /// model is not asked again.
    pub say: Option<String>,
}

impl ToolOutcome {
    pub fn ok(value: serde_json::Value) -> Self {
        ToolOutcome {
            result: Ok(value),
            effects: Vec::new(),
            say: None,
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        ToolOutcome {
            result: Err(message.into()),
            effects: Vec::new(),
            say: None,
        }
    }

    pub fn with_effect(mut self, effect: Effect) -> Self {
        self.effects.push(effect);
        self
    }
}

/// One call as the turn log keeps it (`ai_turns.tools_used`).
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    pub call_id: String,
    pub name: String,
    /// The parsed arguments, or the raw text when it was not JSON.
    pub arguments: serde_json::Value,
    pub ok: bool,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    pub duration_ms: u64,
    pub timestamp: String,
}

/// Shared by every supervisor: the store, the knowledge index and one HTTP client for
/// outbound tool calls.
#[derive(Clone)]
pub struct ToolRuntime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    store: Store,
    knowledge: crate::knowledge::KnowledgeIndex,
    /// `None` when the TLS backend could not start: HTTP tools then fail per call, rather
    /// than falling back to a client without the guard.
    http: Option<reqwest::Client>,
    allow_private: bool,
    /// Bytes read of a tool's answer: [`MAX_RESPONSE_BYTES`] or the operator's smaller cap.
    max_response_bytes: usize,
    secrets: Arc<SecretBox>,
    /// The engine's clock: a follow-up is due on the same clock the timer actor polls by.
    clock: crate::engine::clock::Clock,
    booking: Booking,
}

/// What `schedule_meeting` books with: the calendar's rules and the meetings' `.ics` links.
#[derive(Clone)]
pub struct Booking {
    pub calendar: crate::config::CalendarSettings,
    pub links: crate::engine::booking::MeetingLinks,
}

impl ToolRuntime {
    pub fn new(
        store: Store,
        outbound: &OutboundSettings,
        secrets: Arc<SecretBox>,
        knowledge: crate::knowledge::KnowledgeIndex,
        clock: crate::engine::clock::Clock,
        booking: Booking,
    ) -> Self {
        // Each call sets its own total timeout (the tool's `timeout_ms`).
        let http = crate::outbound::client(&crate::outbound::ClientSpec {
            user_agent: concat!("atende/", env!("CARGO_PKG_VERSION")),
            timeout: None,
            connect_timeout: Duration::from_millis(outbound.timeout_ms.max(1)),
            allow_private: outbound.allow_private_targets,
        })
        .map_err(|e| tracing::error!(error = %e, "tool HTTP client could not be built"))
        .ok();
        ToolRuntime {
            inner: Arc::new(RuntimeInner {
                store,
                knowledge,
                http,
                allow_private: outbound.allow_private_targets,
                max_response_bytes: MAX_RESPONSE_BYTES.min(outbound.max_response_bytes),
                secrets,
                clock,
                booking,
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The knowledge base's search index (the `search` tool, prompts, offline answers).
    pub fn knowledge(&self) -> &crate::knowledge::KnowledgeIndex {
        &self.inner.knowledge
    }

    /// The guarded client for tool calls, or why there is none.
    pub fn http(&self) -> Result<&reqwest::Client, &'static str> {
        self.inner
            .http
            .as_ref()
            .ok_or("outbound HTTP is unavailable (the TLS backend did not start)")
    }

    pub fn max_response_bytes(&self) -> usize {
        self.inner.max_response_bytes
    }

    pub fn allow_private(&self) -> bool {
        self.inner.allow_private
    }

    pub fn secrets(&self) -> &SecretBox {
        &self.inner.secrets
    }

    pub fn booking(&self) -> &Booking {
        &self.inner.booking
    }
}

/// `text` cut to `max` characters (on a char boundary) with a marker saying so.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…[truncated]", &text[..cut]),
        None => text.to_string(),
    }
}

/// A JSON value for the turn log: itself when small, else its text cut short.
pub fn for_log(value: &serde_json::Value) -> serde_json::Value {
    let text = value.to_string();
    if text.chars().count() <= MAX_LOG_CHARS {
        value.clone()
    } else {
        serde_json::Value::String(truncate(&text, MAX_LOG_CHARS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_chars_and_says_so() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("ação!", 3), "açã…[truncated]");
        let big = serde_json::json!({"x": "y".repeat(10_000)});
        assert!(for_log(&big).is_string());
        assert_eq!(
            for_log(&serde_json::json!({"a": 1})),
            serde_json::json!({"a": 1})
        );
    }
}
