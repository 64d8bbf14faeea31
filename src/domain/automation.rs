//! Automations ("AI branching", seed 004): intents checked against the customer's messages
//! before any LLM call; a match runs the automation's actions instead of the model, which
//! answers faster and spends no tokens. Pure: the shapes, their validation and the matching.

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::routing::words;

pub const MAX_INTENTS: usize = 50;
pub const MAX_ACTIONS: usize = 20;
pub const MAX_KEYWORD_CHARS: usize = 200;
pub const MAX_PATTERN_CHARS: usize = 500;
pub const MAX_MESSAGE_CHARS: usize = 4000;
pub const MAX_TAG_CHARS: usize = 100;
pub const MAX_REASON_CHARS: usize = 500;
/// Compiled size allowed for one pattern: the regex crate matches in linear time, and this
/// bounds the memory an admin's pattern can take.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// What a customer message must contain for the automation to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Intent {
    /// The word or phrase, as whole words, ignoring case and accents: "cancelar" matches
    /// "Quero CANCELAR o pedido", not "descancelar".
    Keyword { value: String },
    /// A regular expression (Rust `regex` syntax), case-insensitive, tried on the text as
    /// written and with accents removed.
    Regex { pattern: String },
}

/// What the automation does when an intent matches, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Answers the customer with this text (as the agent).
    SendMessage { content: String },
    /// Tags the conversation (the tag is created when it does not exist).
    AddTag { tag: String },
    /// Moves the conversation to a funnel stage of the tenant.
    MoveToStage { stage_id: String },
    /// Hands the conversation to a human user or another AI agent (exactly one of them).
    Assign {
        #[serde(default)]
        user_id: Option<String>,
        #[serde(default)]
        agent_id: Option<String>,
    },
    /// Closes the conversation.
    Close {
        #[serde(default)]
        reason: Option<String>,
    },
}

/// Why an intent or action was refused: the index in its list and a sentence fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub reason: String,
}

fn invalid<T>(field: impl Into<String>, reason: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid {
        field: field.into(),
        reason: reason.into(),
    })
}

fn compile_pattern(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

pub fn validate_intents(intents: &[Intent]) -> Result<(), Invalid> {
    if intents.is_empty() {
        return invalid("intents", "must list at least one intent");
    }
    if intents.len() > MAX_INTENTS {
        return invalid(
            "intents",
            format!("must have at most {MAX_INTENTS} intents"),
        );
    }
    for (i, intent) in intents.iter().enumerate() {
        let field = format!("intents[{i}]");
        match intent {
            Intent::Keyword { value } => {
                if words(value).is_empty() {
                    return invalid(field, "keyword must contain a letter or digit");
                }
                if value.chars().count() > MAX_KEYWORD_CHARS {
                    return invalid(
                        field,
                        format!("keyword must be at most {MAX_KEYWORD_CHARS} characters"),
                    );
                }
            }
            Intent::Regex { pattern } => {
                if pattern.trim().is_empty() {
                    return invalid(field, "pattern must not be empty");
                }
                if pattern.chars().count() > MAX_PATTERN_CHARS {
                    return invalid(
                        field,
                        format!("pattern must be at most {MAX_PATTERN_CHARS} characters"),
                    );
                }
                if let Err(e) = compile_pattern(pattern) {
                    let first_line = e.to_string();
                    let first_line = first_line.lines().last().unwrap_or("invalid").trim();
                    return invalid(field, format!("pattern is not a valid regex: {first_line}"));
                }
                if compile_pattern(pattern).is_ok_and(|r| r.is_match("")) {
                    // It would run the automation on every message.
                    return invalid(field, "pattern must not match an empty message");
                }
            }
        }
    }
    Ok(())
}

/// Checks the actions' shapes; ids are checked against the store by the API.
pub fn validate_actions(actions: &[Action]) -> Result<(), Invalid> {
    if actions.is_empty() {
        return invalid("actions", "must list at least one action");
    }
    if actions.len() > MAX_ACTIONS {
        return invalid(
            "actions",
            format!("must have at most {MAX_ACTIONS} actions"),
        );
    }
    for (i, action) in actions.iter().enumerate() {
        let field = format!("actions[{i}]");
        match action {
            Action::SendMessage { content } => {
                if content.trim().is_empty() {
                    return invalid(field, "content must not be blank");
                }
                if content.chars().count() > MAX_MESSAGE_CHARS {
                    return invalid(
                        field,
                        format!("content must be at most {MAX_MESSAGE_CHARS} characters"),
                    );
                }
            }
            Action::AddTag { tag } => {
                if tag.trim().is_empty() || tag.chars().count() > MAX_TAG_CHARS {
                    return invalid(
                        field,
                        format!("tag must be 1 to {MAX_TAG_CHARS} characters"),
                    );
                }
            }
            Action::MoveToStage { stage_id } => {
                if stage_id.trim().is_empty() {
                    return invalid(field, "stage_id is required");
                }
            }
            Action::Assign { user_id, agent_id } => {
                if user_id.is_some() == agent_id.is_some() {
                    return invalid(field, "needs exactly one of user_id and agent_id");
                }
            }
            Action::Close { reason } => {
                if reason
                    .as_ref()
                    .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS)
                {
                    return invalid(
                        field,
                        format!("reason must be at most {MAX_REASON_CHARS} characters"),
                    );
                }
            }
        }
    }
    Ok(())
}

/// An intent ready to test messages against.
#[derive(Debug, Clone)]
enum Matcher {
    Keyword(Vec<String>),
    Regex(Regex),
}

/// An automation as the engine runs it.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub priority: i32,
    pub actions: Vec<Action>,
    matchers: Vec<(Matcher, String)>,
}

impl Rule {
    /// Compiles the intents; one that does not compile (stored before a rule changed) is
    /// skipped rather than disabling the whole automation.
    pub fn new(
        id: String,
        name: String,
        priority: i32,
        intents: &[Intent],
        actions: Vec<Action>,
    ) -> Rule {
        let matchers = intents
            .iter()
            .filter_map(|intent| match intent {
                Intent::Keyword { value } => {
                    let phrase = words(value);
                    (!phrase.is_empty()).then(|| (Matcher::Keyword(phrase), value.clone()))
                }
                Intent::Regex { pattern } => compile_pattern(pattern)
                    .ok()
                    .map(|r| (Matcher::Regex(r), pattern.clone())),
            })
            .collect();
        Rule {
            id,
            name,
            priority,
            actions,
            matchers,
        }
    }

    /// The intent (keyword or pattern, as configured) that `text` matches, if any.
    pub fn matched(&self, text: &str) -> Option<&str> {
        let text_words = words(text);
        let folded = super::escalation::fold(text);
        self.matchers
            .iter()
            .find(|(matcher, _)| match matcher {
                Matcher::Keyword(phrase) => contains_phrase(&text_words, phrase),
                Matcher::Regex(regex) => regex.is_match(text) || regex.is_match(&folded),
            })
            .map(|(_, shown)| shown.as_str())
    }
}

/// Whole-word phrase match. Stricter than topic routing, which accepts stems: an automation
/// may close a conversation, so "cancelamento" must not trigger the one for "cancelar".
fn contains_phrase(text: &[String], phrase: &[String]) -> bool {
    if phrase.len() > text.len() {
        return false;
    }
    text.windows(phrase.len()).any(|w| w == phrase)
}

/// The automation to run for `text`: the highest priority that matches; among equals the
/// first in `rules` (the store lists them oldest first).
pub fn first_match<'a>(rules: &'a [Rule], text: &str) -> Option<(&'a Rule, String)> {
    let mut best: Option<(&Rule, String)> = None;
    for rule in rules {
        if best
            .as_ref()
            .is_some_and(|(b, _)| b.priority >= rule.priority)
        {
            continue;
        }
        if let Some(intent) = rule.matched(text) {
            best = Some((rule, intent.to_string()));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyword(value: &str) -> Intent {
        Intent::Keyword {
            value: value.into(),
        }
    }

    fn rule(id: &str, priority: i32, intents: &[Intent]) -> Rule {
        Rule::new(
            id.into(),
            id.into(),
            priority,
            intents,
            vec![Action::Close { reason: None }],
        )
    }

    #[test]
    fn keywords_match_whole_words_ignoring_case_and_accents() {
        let r = rule("a", 0, &[keyword("cancelar"), keyword("não quero mais")]);
        assert_eq!(r.matched("Quero CANCELAR meu pedido"), Some("cancelar"));
        assert_eq!(
            r.matched("nao quero mais, obrigado"),
            Some("não quero mais")
        );
        assert_eq!(r.matched("qual o prazo de cancelamento?"), None);
        assert_eq!(r.matched("descancelar"), None);
        assert_eq!(r.matched(""), None);
    }

    #[test]
    fn regexes_are_case_insensitive_and_see_the_folded_text() {
        let r = rule(
            "a",
            0,
            &[Intent::Regex {
                pattern: r"\bcancel(ar|amento)\b".into(),
            }],
        );
        assert!(r.matched("Pedido de CANCELAMENTO").is_some());
        let folded = rule(
            "b",
            0,
            &[Intent::Regex {
                pattern: r"\bnao\b".into(),
            }],
        );
        assert!(folded.matched("Não!").is_some());
        assert!(r.matched("tudo certo").is_none());
    }

    #[test]
    fn the_highest_priority_match_wins_then_the_oldest() {
        let rules = vec![
            rule("old", 0, &[keyword("cancelar")]),
            rule("new", 0, &[keyword("cancelar")]),
            rule("urgent", 5, &[keyword("pedido")]),
        ];
        let (hit, intent) = first_match(&rules, "cancelar o pedido").expect("match");
        assert_eq!((hit.id.as_str(), intent.as_str()), ("urgent", "pedido"));
        let (hit, _) = first_match(&rules, "cancelar").expect("match");
        assert_eq!(hit.id, "old");
        assert!(first_match(&rules, "bom dia").is_none());
    }

    #[test]
    fn bad_intents_are_refused_with_their_index() {
        assert!(validate_intents(&[]).is_err());
        let err = validate_intents(&[
            keyword("ok"),
            Intent::Regex {
                pattern: "(unclosed".into(),
            },
        ])
        .expect_err("bad regex");
        assert_eq!(err.field, "intents[1]");
        assert!(err.reason.contains("regex"), "{}", err.reason);
        assert!(validate_intents(&[keyword("  !! ")]).is_err());
        assert!(validate_intents(&[Intent::Regex {
            pattern: "x*".into()
        }])
        .is_err());
        assert!(validate_intents(&[keyword("cancelar")]).is_ok());
    }

    #[test]
    fn bad_actions_are_refused() {
        assert!(validate_actions(&[]).is_err());
        let both = Action::Assign {
            user_id: Some("u".into()),
            agent_id: Some("a".into()),
        };
        assert_eq!(
            validate_actions(&[both]).expect_err("both").field,
            "actions[0]"
        );
        assert!(validate_actions(&[Action::SendMessage {
            content: " ".into()
        }])
        .is_err());
        assert!(validate_actions(&[Action::SendMessage {
            content: "Entendi que deseja cancelar.".into()
        }])
        .is_ok());
    }

    #[test]
    fn wire_shapes_are_tagged_by_type() {
        let intent: Intent =
            serde_json::from_value(serde_json::json!({"type": "keyword", "value": "cancelar"}))
                .expect("keyword");
        assert_eq!(intent, keyword("cancelar"));
        let action: Action =
            serde_json::from_value(serde_json::json!({"type": "move_to_stage", "stage_id": "s"}))
                .expect("action");
        assert_eq!(
            action,
            Action::MoveToStage {
                stage_id: "s".into()
            }
        );
        assert!(serde_json::from_value::<Action>(
            serde_json::json!({"type": "send_message", "content": "x", "extra": 1})
        )
        .is_err());
    }
}
