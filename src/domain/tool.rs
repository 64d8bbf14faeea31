//! The kinds of tool and where each keeps its secrets: the vocabulary the tools layer runs
//! and the store seals, without I/O.

use serde::Serialize;
use serde_json::Value;

/// The kinds of tool (`tools.tool_type`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ToolKind {
    /// A configured HTTP request (method, URL template, headers, body template).
    Http,
    /// A signed POST of the call to a URL (`X-Atende-Signature`).
    Webhook,
    /// Evaluates a math expression.
    Calculator,
    /// Saves the customer's details on the contact.
    LeadCapture,
    /// Saves validated fields as an activity.
    Form,
    /// Searches the knowledge base.
    Search,
    /// A built-in action on the conversation or the CRM (see [`system`]).
    System,
}

impl ToolKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolKind::Http => "http",
            ToolKind::Webhook => "webhook",
            ToolKind::Calculator => "calculator",
            ToolKind::LeadCapture => "lead_capture",
            ToolKind::Form => "form",
            ToolKind::Search => "search",
            ToolKind::System => "system",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "http" => ToolKind::Http,
            "webhook" => ToolKind::Webhook,
            "calculator" => ToolKind::Calculator,
            "lead_capture" => ToolKind::LeadCapture,
            "form" => ToolKind::Form,
            "search" => ToolKind::Search,
            "system" => ToolKind::System,
            _ => return None,
        })
    }
}

/// The values of a tool's config that are secrets (sealed at rest, redacted for admins):
/// an HTTP tool's header values, a webhook tool's signing secret.
pub fn secret_slots(kind: ToolKind, config: &mut Value) -> Vec<&mut Value> {
    match kind {
        ToolKind::Http => config
            .get_mut("headers")
            .and_then(Value::as_object_mut)
            .map(|headers| headers.values_mut().collect())
            .unwrap_or_default(),
        ToolKind::Webhook => config.get_mut("secret").into_iter().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for kind in [
            ToolKind::Http,
            ToolKind::Webhook,
            ToolKind::Calculator,
            ToolKind::LeadCapture,
            ToolKind::Form,
            ToolKind::Search,
            ToolKind::System,
        ] {
            assert_eq!(ToolKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).expect("serialize"),
                serde_json::json!(kind.as_str())
            );
        }
        assert_eq!(ToolKind::parse("eval"), None);
    }

    #[test]
    fn secrets_are_header_values_and_the_webhook_secret() {
        let mut http = serde_json::json!({"url": "https://x", "headers": {"A": "1", "B": "2"}});
        assert_eq!(secret_slots(ToolKind::Http, &mut http).len(), 2);
        let mut hook = serde_json::json!({"url": "https://x", "secret": "s"});
        assert_eq!(secret_slots(ToolKind::Webhook, &mut hook).len(), 1);
        let mut calc = serde_json::json!({"secret": "not one"});
        assert!(secret_slots(ToolKind::Calculator, &mut calc).is_empty());
    }
}
