//! Ownership spells and the figures computed from them (issue 16, item 8): who held a
//! conversation, from when to when, and how it ended. Pure, so the rules and the formulas are
//! pinned by unit tests; `store::ownership` writes the spells and sums them per owner and
//! department, `api::analytics::humans` serves the figures.
//!
//! ```text
//! handled               = spells that began in the period (each time a conversation was
//!                         given to the owner; one given back later counts again)
//! transferred           = of those, ended by giving the conversation to someone else or to
//!                         a queue (for AI agents: escalations and transfers)
//! resolved              = of those, ended by closing the conversation
//! transfer_rate         = transferred / handled
//! first_response (mean) = Σ (owner's first message in the spell − spell start) / spells
//!                         with such a message
//! resolution (mean)     = Σ (close − spell start) / resolved spells
//! csat (mean)           = Σ ratings / ratings given in the period to conversations the owner
//!                         held when they closed
//! ```
//!
//! A department's figures are the sums of its spells (the conversation's department when the
//! spell began), so a mean is the department's own mean, not a mean of its agents' means.

use std::collections::BTreeMap;

use crate::domain::conversation::Owner;

/// How a spell ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpellEnd {
    /// Given to someone else or to a queue.
    Transferred,
    Closed,
}

impl SpellEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            SpellEnd::Transferred => "transferred",
            SpellEnd::Closed => "closed",
        }
    }
}

/// What an owner change does to the spells: end the open one (how), open a new one (whose).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub end: Option<SpellEnd>,
    pub open: Option<(&'static str, String)>,
}

/// The spell change of a conversation whose open spell is `current` (kind, id) when it is
/// given to `next` (`None`: closed). Giving it to its current owner again changes nothing, so
/// a re-assignment does not reset the owner's first-response clock.
pub fn transition(current: Option<(&str, &str)>, next: Option<&Owner>) -> Transition {
    let Some(next) = next else {
        return Transition {
            end: current.map(|_| SpellEnd::Closed),
            open: None,
        };
    };
    let opened = next.id().map(|id| (next.kind(), id.to_string()));
    if let (Some(current), Some((kind, id))) = (current, &opened) {
        if current == (*kind, id.as_str()) {
            return Transition {
                end: None,
                open: None,
            };
        }
    }
    Transition {
        end: current.map(|_| SpellEnd::Transferred),
        open: opened,
    }
}

/// Sums of one owner's spells in one department (or of any group of spells).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub handled: i64,
    pub transferred: i64,
    pub resolved: i64,
    pub first_response_seconds: f64,
    pub first_responses: i64,
    pub resolution_seconds: f64,
    pub resolutions: i64,
    pub rating_sum: i64,
    pub ratings: i64,
}

impl Totals {
    pub fn add(&mut self, other: &Totals) {
        self.handled += other.handled;
        self.transferred += other.transferred;
        self.resolved += other.resolved;
        self.first_response_seconds += other.first_response_seconds;
        self.first_responses += other.first_responses;
        self.resolution_seconds += other.resolution_seconds;
        self.resolutions += other.resolutions;
        self.rating_sum += other.rating_sum;
        self.ratings += other.ratings;
    }
}

/// The figures shown for an owner, a department or everyone of a kind (the API's
/// `HandlingFigures`).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[schema(as = HandlingFigures)]
pub struct Figures {
    /// Times a conversation was given to them in the period.
    pub handled: i64,
    /// Of those, given to someone else or to a queue (for AI agents: escalated or transferred).
    pub transferred: i64,
    /// Of those, closed while they held it.
    pub resolved: i64,
    /// transferred / handled (0 without any).
    pub transfer_rate: f64,
    /// Mean seconds from being given the conversation to their own first message.
    pub avg_first_response_seconds: Option<f64>,
    /// Mean seconds from being given the conversation to its close, over those resolved.
    pub avg_resolution_seconds: Option<f64>,
    /// CSAT ratings given in the period to conversations they held when they closed.
    pub csat_ratings: i64,
    /// Mean of those ratings (1..5).
    pub avg_csat: Option<f64>,
}

fn mean(sum: f64, n: i64) -> Option<f64> {
    // i64 → f64 loses precision only beyond 2^53 spells.
    (n > 0).then(|| sum / n as f64)
}

/// The figures of a group's totals (see the module docs for the formulas).
pub fn figures(t: &Totals) -> Figures {
    Figures {
        handled: t.handled,
        transferred: t.transferred,
        resolved: t.resolved,
        transfer_rate: if t.handled > 0 {
            t.transferred as f64 / t.handled as f64
        } else {
            0.0
        },
        avg_first_response_seconds: mean(t.first_response_seconds, t.first_responses),
        avg_resolution_seconds: mean(t.resolution_seconds, t.resolutions),
        csat_ratings: t.ratings,
        avg_csat: mean(t.rating_sum as f64, t.ratings),
    }
}

/// One row of sums: an owner's spells (or ratings) in a department (`None`: no department).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `user` or `ai_agent`.
    pub owner_type: String,
    pub owner_id: String,
    pub department_id: Option<String>,
    pub totals: Totals,
}

/// The rows of one owner kind summed per owner, per department, and over all of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rollup {
    pub by_owner: BTreeMap<String, Totals>,
    pub by_department: BTreeMap<Option<String>, Totals>,
    pub all: Totals,
}

/// Sums the rows of `owner_type` (spell rows and rating rows alike; rows of the same owner
/// and department add up).
pub fn roll_up(rows: &[Row], owner_type: &str) -> Rollup {
    let mut out = Rollup::default();
    for row in rows.iter().filter(|r| r.owner_type == owner_type) {
        out.by_owner
            .entry(row.owner_id.clone())
            .or_default()
            .add(&row.totals);
        out.by_department
            .entry(row.department_id.clone())
            .or_default()
            .add(&row.totals);
        out.all.add(&row.totals);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AgentId, UserId};

    fn user(id: &str) -> Owner {
        Owner::User(UserId(id.into()))
    }

    #[test]
    fn the_first_assignment_opens_a_spell() {
        let t = transition(None, Some(&user("u1")));
        assert_eq!(t.end, None);
        assert_eq!(t.open, Some(("user", "u1".to_string())));
        // Queued with nobody: nothing to open.
        assert_eq!(
            transition(None, Some(&Owner::Nobody)),
            Transition {
                end: None,
                open: None
            }
        );
    }

    #[test]
    fn giving_it_to_someone_else_is_a_transfer() {
        let t = transition(Some(("ai_agent", "a1")), Some(&user("u1")));
        assert_eq!(t.end, Some(SpellEnd::Transferred));
        assert_eq!(t.open, Some(("user", "u1".to_string())));
        let t = transition(Some(("user", "u1")), Some(&Owner::Nobody));
        assert_eq!(t.end, Some(SpellEnd::Transferred));
        assert_eq!(t.open, None);
        // Same id, other kind: a different owner.
        let t = transition(
            Some(("user", "x")),
            Some(&Owner::AiAgent(AgentId("x".into()))),
        );
        assert_eq!(t.end, Some(SpellEnd::Transferred));
    }

    #[test]
    fn reassigning_the_same_owner_keeps_the_spell() {
        let t = transition(Some(("user", "u1")), Some(&user("u1")));
        assert_eq!(
            t,
            Transition {
                end: None,
                open: None
            }
        );
    }

    #[test]
    fn closing_ends_the_open_spell() {
        assert_eq!(
            transition(Some(("user", "u1")), None).end,
            Some(SpellEnd::Closed)
        );
        assert_eq!(transition(None, None).end, None);
    }

    fn row(kind: &str, id: &str, department: Option<&str>, totals: Totals) -> Row {
        Row {
            owner_type: kind.into(),
            owner_id: id.into(),
            department_id: department.map(str::to_string),
            totals,
        }
    }

    #[test]
    fn figures_are_means_of_what_was_measured() {
        let f = figures(&Totals {
            handled: 4,
            transferred: 1,
            resolved: 2,
            first_response_seconds: 30.0,
            first_responses: 3,
            resolution_seconds: 500.0,
            resolutions: 2,
            rating_sum: 9,
            ratings: 2,
        });
        assert_eq!(f.transfer_rate, 0.25);
        assert_eq!(f.avg_first_response_seconds, Some(10.0));
        assert_eq!(f.avg_resolution_seconds, Some(250.0));
        assert_eq!(f.avg_csat, Some(4.5));
        let empty = figures(&Totals::default());
        assert_eq!(empty.transfer_rate, 0.0);
        assert_eq!(empty.avg_first_response_seconds, None);
        assert_eq!(empty.avg_csat, None);
    }

    #[test]
    fn departments_weigh_spells_not_agents() {
        let fast = Totals {
            handled: 3,
            first_response_seconds: 3.0,
            first_responses: 3,
            ..Totals::default()
        };
        let slow = Totals {
            handled: 1,
            first_response_seconds: 61.0,
            first_responses: 1,
            transferred: 1,
            ..Totals::default()
        };
        let rating = Totals {
            rating_sum: 5,
            ratings: 1,
            ..Totals::default()
        };
        let rows = vec![
            row("user", "u1", Some("d1"), fast),
            row("user", "u2", Some("d1"), slow),
            row("user", "u1", Some("d1"), rating),
            row("ai_agent", "a1", None, fast),
        ];
        let humans = roll_up(&rows, "user");
        let d1 = figures(&humans.by_department[&Some("d1".to_string())]);
        // (3 + 61) / 4 spells, not the mean of 1 s and 61 s.
        assert_eq!(d1.avg_first_response_seconds, Some(16.0));
        assert_eq!(d1.handled, 4);
        assert_eq!(d1.transferred, 1);
        assert_eq!(d1.avg_csat, Some(5.0));
        let u1 = figures(&humans.by_owner["u1"]);
        assert_eq!((u1.handled, u1.csat_ratings), (3, 1));
        assert_eq!(humans.all.handled, 4);
        assert!(
            !humans.by_department.contains_key(&None),
            "AI rows stay out"
        );
        assert_eq!(roll_up(&rows, "ai_agent").all.handled, 3);
    }
}
