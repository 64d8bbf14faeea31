//! What staff may change of a conversation as a ticket (`PATCH /conversations/{id}`): tags,
//! priority, category, department and funnel stage. Pure: the request is checked and
//! normalized here, so the API, the actor and the event all see the same changes.

use serde::{Deserialize, Serialize};

use super::distribution::Priority;

pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_CHARS: usize = 50;
pub const MAX_CATEGORY_CHARS: usize = 64;

/// The fields to change; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationChanges {
    /// Replaces the conversation's tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department_id: Option<String>,
    /// A stage of any of the tenant's funnels; the conversation moves to that funnel too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_id: Option<String>,
}

/// A rejected change: the field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

impl ConversationChanges {
    pub fn is_empty(&self) -> bool {
        self == &ConversationChanges::default()
    }

    /// The changes trimmed (tags also de-duplicated, keeping their first spelling), or the
    /// first field that is wrong. An empty request is wrong too: it would publish an event
    /// for nothing.
    pub fn normalized(self) -> Result<ConversationChanges, Invalid> {
        if self.is_empty() {
            return Err(invalid(
                "changes",
                "name at least one of tags, priority, category, department_id, stage_id",
            ));
        }
        let tags = match self.tags {
            None => None,
            Some(raw) => {
                let mut tags: Vec<String> = Vec::new();
                for tag in raw {
                    let tag = tag.trim().to_string();
                    if tag.is_empty() || tag.chars().count() > MAX_TAG_CHARS {
                        return Err(invalid(
                            "tags",
                            format!("each tag must be 1 to {MAX_TAG_CHARS} characters"),
                        ));
                    }
                    if !tags.iter().any(|t| t.to_lowercase() == tag.to_lowercase()) {
                        tags.push(tag);
                    }
                }
                if tags.len() > MAX_TAGS {
                    return Err(invalid("tags", format!("at most {MAX_TAGS} tags")));
                }
                Some(tags)
            }
        };
        let category = match self.category.map(|c| c.trim().to_string()) {
            Some(c) if c.is_empty() || c.chars().count() > MAX_CATEGORY_CHARS => {
                return Err(invalid(
                    "category",
                    format!("must be 1 to {MAX_CATEGORY_CHARS} characters"),
                ))
            }
            other => other,
        };
        let id = |field: &'static str, raw: Option<String>| match raw.map(|r| r.trim().to_string())
        {
            Some(r) if r.is_empty() => Err(invalid(field, "must not be empty")),
            other => Ok(other),
        };
        Ok(ConversationChanges {
            tags,
            priority: self.priority,
            category,
            department_id: id("department_id", self.department_id)?,
            stage_id: id("stage_id", self.stage_id)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ConversationChanges, String> {
        serde_json::from_str::<ConversationChanges>(json).map_err(|e| e.to_string())
    }

    #[test]
    fn tags_are_trimmed_and_deduplicated() {
        let changes = parse(r#"{"tags": [" vip ", "VIP", "cobrança"]}"#)
            .expect("parses")
            .normalized()
            .expect("valid");
        assert_eq!(
            changes.tags,
            Some(vec!["vip".to_string(), "cobrança".to_string()])
        );
        // An empty list clears the tags.
        let cleared = parse(r#"{"tags": []}"#)
            .expect("parses")
            .normalized()
            .expect("valid");
        assert_eq!(cleared.tags, Some(Vec::new()));
    }

    #[test]
    fn each_bad_field_is_named() {
        let field = |json: &str| {
            parse(json)
                .expect("parses")
                .normalized()
                .expect_err("invalid")
                .field
        };
        assert_eq!(field("{}"), "changes");
        assert_eq!(field(r#"{"tags": ["  "]}"#), "tags");
        let many: Vec<String> = (0..=MAX_TAGS).map(|n| format!("t{n}")).collect();
        assert_eq!(
            field(&serde_json::json!({ "tags": many }).to_string()),
            "tags"
        );
        assert_eq!(field(r#"{"category": ""}"#), "category");
        assert_eq!(field(r#"{"department_id": " "}"#), "department_id");
        assert_eq!(field(r#"{"stage_id": ""}"#), "stage_id");
    }

    #[test]
    fn unknown_fields_and_priorities_are_refused_by_the_parser() {
        assert!(parse(r#"{"status": "closed"}"#).is_err());
        assert!(parse(r#"{"priority": "urgent"}"#).is_err());
        let ok = parse(r#"{"priority": "high", "category": " técnico "}"#)
            .expect("parses")
            .normalized()
            .expect("valid");
        assert_eq!(ok.priority, Some(Priority::High));
        assert_eq!(ok.category.as_deref(), Some("técnico"));
    }
}
