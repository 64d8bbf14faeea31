//! What a conversation's earlier tool calls returned (an order looked up, a lead half
//! captured, a form in progress). The conversation keeps it, persists it with itself and
//! hands it to every later turn, so the model neither calls the same tool again nor asks the
//! customer for what a tool already returned.

use serde::{Deserialize, Serialize};

/// One successful tool call, as later turns see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolMemo {
    pub name: String,
    pub arguments: serde_json::Value,
    /// The result as JSON text, shortened to `Limits::result_chars`.
    pub result: String,
}

/// How much tool state a conversation keeps (`engine.tool_state_entries`,
/// `engine.tool_state_result_chars`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub entries: usize,
    pub result_chars: usize,
}

/// The results of a conversation's earlier tool calls, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ToolState {
    entries: Vec<ToolMemo>,
}

impl ToolState {
    /// Reads the stored column; anything unreadable is an empty state (the conversation
    /// still works, the model may only repeat a lookup).
    pub fn from_json(raw: &str) -> ToolState {
        serde_json::from_str(raw).unwrap_or_default()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "[]".into())
    }

    pub fn entries(&self) -> &[ToolMemo] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records a call's result. The same tool with the same arguments keeps only its latest
    /// result (a form filled in step by step, a status looked up again); past `entries` the
    /// oldest results go first. Returns whether anything changed.
    pub fn record(
        &mut self,
        name: &str,
        arguments: &serde_json::Value,
        result: &serde_json::Value,
        limits: Limits,
    ) -> bool {
        if limits.entries == 0 {
            return false;
        }
        let memo = ToolMemo {
            name: name.to_string(),
            arguments: arguments.clone(),
            result: shorten(&result.to_string(), limits.result_chars),
        };
        if let Some(at) = self
            .entries
            .iter()
            .position(|m| m.name == memo.name && m.arguments == memo.arguments)
        {
            if self.entries[at] == memo {
                return false;
            }
            self.entries.remove(at);
        }
        self.entries.push(memo);
        if self.entries.len() > limits.entries {
            let extra = self.entries.len() - limits.entries;
            self.entries.drain(..extra);
        }
        true
    }

    /// One line per result for the prompt: `name(arguments) → result`.
    pub fn prompt_lines(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|m| format!("{}({}) → {}", m.name, m.arguments, m.result))
            .collect()
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", crate::domain::text::clip(text, max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LIMITS: Limits = Limits {
        entries: 2,
        result_chars: 20,
    };

    #[test]
    fn the_latest_result_of_a_call_replaces_the_earlier_one() {
        let mut state = ToolState::default();
        assert!(state.record(
            "order",
            &json!({"id": 1}),
            &json!({"status": "paid"}),
            LIMITS
        ));
        assert!(!state.record(
            "order",
            &json!({"id": 1}),
            &json!({"status": "paid"}),
            LIMITS
        ));
        assert!(state.record(
            "order",
            &json!({"id": 1}),
            &json!({"status": "sent"}),
            LIMITS
        ));
        assert_eq!(state.entries().len(), 1);
        assert_eq!(state.entries()[0].result, r#"{"status":"sent"}"#);
    }

    #[test]
    fn old_results_go_first_and_long_ones_are_shortened() {
        let mut state = ToolState::default();
        state.record("a", &json!({}), &json!(1), LIMITS);
        state.record("b", &json!({}), &json!(2), LIMITS);
        state.record("c", &json!({}), &json!("x".repeat(100)), LIMITS);
        let names: Vec<&str> = state.entries().iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["b", "c"]);
        assert!(state.entries()[1].result.chars().count() <= 21);
        let none = Limits {
            entries: 0,
            result_chars: 20,
        };
        assert!(!state.record("d", &json!({}), &json!(3), none));
    }

    #[test]
    fn the_state_survives_its_column_and_reads_as_prompt_lines() {
        let mut state = ToolState::default();
        state.record("calc", &json!({"expression": "6*7"}), &json!(42), LIMITS);
        let back = ToolState::from_json(&state.to_json());
        assert_eq!(back, state);
        assert_eq!(back.prompt_lines(), [r#"calc({"expression":"6*7"}) → 42"#]);
        assert!(ToolState::from_json("not json").is_empty());
        assert!(ToolState::from_json("[]").is_empty());
    }
}
