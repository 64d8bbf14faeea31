//! The performance score `by_performance` ranks candidates by: each human and AI agent's own
//! record over the tenant's `performance_window_days`. Pure, so the formula is pinned by
//! unit tests; `store::analytics::performance_records` measures the records.
//!
//! ```text
//! resolution = (resolved + 1) / (handled + 2)
//! speed      = R / (R + avg_first_response_seconds)          R = 60 s
//! feedback   = 1 − min(1, negative_feedback / (handled + 2))
//! csat       = (avg_csat − 1) / 4                             ratings 1..5
//! score      = Σ wᵢ·componentᵢ / Σ wᵢ   over the components measured
//!              w: resolution 0.4, speed 0.2, feedback 0.2, csat 0.2
//! ```
//!
//! The `+1 / +2` pull a short record toward 0.5, so one lucky conversation does not rank a
//! newcomer above a colleague with a hundred good ones, and someone with no record scores
//! exactly 0.5 (neutral) instead of 0 or 1. A component that was not measured (no first
//! response yet, feedback not judged for humans, no ratings) is left out rather than
//! guessed, and the weights of the others are renormalized.

use std::collections::HashMap;

/// First-response time, in seconds, that scores 0.5 on speed: answering in a few seconds
/// approaches 1, answering in ten minutes scores about 0.09.
pub const SPEED_REFERENCE_SECONDS: f64 = 60.0;

const WEIGHT_RESOLUTION: f64 = 0.4;
const WEIGHT_SPEED: f64 = 0.2;
const WEIGHT_FEEDBACK: f64 = 0.2;
const WEIGHT_CSAT: f64 = 0.2;

/// What one agent (human or AI) did in the window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// Conversations it was given (humans) or took a turn in (AI agents).
    pub handled: u64,
    /// Of those, closed while it owned them (for AI agents: never escalated).
    pub resolved: u64,
    /// Mean seconds from being given the conversation to its own first reply; `None` when
    /// it has replied to none.
    pub avg_first_response_seconds: Option<f64>,
    /// Negative feedback judged on its replies; `None` where feedback is not judged (the
    /// detector judges AI replies only).
    pub negative_feedback: Option<u64>,
    /// Mean customer rating, 1..=5; `None` without ratings.
    pub avg_csat: Option<f64>,
}

/// The score of a record, in 0..=1; higher is better. See the module docs for the formula.
pub fn score(record: &Record) -> f64 {
    // u64 → f64 loses precision only beyond 2^53 conversations.
    let handled = record.handled as f64;
    let resolved = (record.resolved.min(record.handled)) as f64;
    let mut parts = vec![(WEIGHT_RESOLUTION, (resolved + 1.0) / (handled + 2.0))];
    if let Some(seconds) = record
        .avg_first_response_seconds
        .filter(|s| s.is_finite())
        .map(|s| s.max(0.0))
    {
        parts.push((
            WEIGHT_SPEED,
            SPEED_REFERENCE_SECONDS / (SPEED_REFERENCE_SECONDS + seconds),
        ));
    }
    if let Some(negative) = record.negative_feedback {
        let rate = (negative as f64 / (handled + 2.0)).min(1.0);
        parts.push((WEIGHT_FEEDBACK, 1.0 - rate));
    }
    if let Some(csat) = record.avg_csat.filter(|c| c.is_finite()) {
        parts.push((WEIGHT_CSAT, ((csat.clamp(1.0, 5.0)) - 1.0) / 4.0));
    }
    let weights: f64 = parts.iter().map(|(w, _)| w).sum();
    parts.iter().map(|(w, c)| w * c).sum::<f64>() / weights
}

/// Scores by id; an id without a record scores as someone with no record (0.5).
pub fn scores(records: &HashMap<String, Record>) -> HashMap<String, f64> {
    records
        .iter()
        .map(|(id, record)| (id.clone(), score(record)))
        .collect()
}

/// The score of someone with no record in the window.
pub fn neutral() -> f64 {
    score(&Record::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(handled: u64, resolved: u64) -> Record {
        Record {
            handled,
            resolved,
            ..Record::default()
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn no_record_is_neutral() {
        assert!(close(neutral(), 0.5));
        assert!(close(score(&Record::default()), 0.5));
    }

    #[test]
    fn resolution_is_smoothed_toward_the_middle() {
        // One lucky conversation is not a perfect record.
        assert!(close(score(&record(1, 1)), 2.0 / 3.0));
        assert!(close(score(&record(1, 0)), 1.0 / 3.0));
        // A long good record beats a short perfect one.
        assert!(score(&record(100, 90)) > score(&record(1, 1)));
        // Resolved can never exceed handled, even if the counts disagree.
        assert!(close(score(&record(2, 5)), score(&record(2, 2))));
    }

    #[test]
    fn each_component_moves_the_score_the_right_way() {
        let base = Record {
            handled: 10,
            resolved: 8,
            avg_first_response_seconds: Some(60.0),
            negative_feedback: Some(1),
            avg_csat: Some(4.0),
        };
        let faster = Record {
            avg_first_response_seconds: Some(5.0),
            ..base.clone()
        };
        let more_complaints = Record {
            negative_feedback: Some(6),
            ..base.clone()
        };
        let happier = Record {
            avg_csat: Some(5.0),
            ..base.clone()
        };
        let fewer_resolved = Record {
            resolved: 3,
            ..base.clone()
        };
        assert!(score(&faster) > score(&base));
        assert!(score(&more_complaints) < score(&base));
        assert!(score(&happier) > score(&base));
        assert!(score(&fewer_resolved) < score(&base));
    }

    #[test]
    fn the_formula_by_hand() {
        let r = Record {
            handled: 8,
            resolved: 7,
            avg_first_response_seconds: Some(60.0),
            negative_feedback: Some(2),
            avg_csat: Some(3.0),
        };
        // resolution 8/10, speed 0.5, feedback 1 − 2/10, csat 0.5.
        let expected = (0.4 * 0.8 + 0.2 * 0.5 + 0.2 * 0.8 + 0.2 * 0.5) / 1.0;
        assert!(close(score(&r), expected), "{}", score(&r));
    }

    #[test]
    fn unmeasured_components_are_left_out_not_guessed() {
        // Resolution 0.8 alone, then with a perfect speed: weights renormalize.
        let only_resolution = record(8, 7);
        assert!(close(score(&only_resolution), 0.8));
        let with_speed = Record {
            avg_first_response_seconds: Some(0.0),
            ..only_resolution
        };
        assert!(close(score(&with_speed), (0.4 * 0.8 + 0.2 * 1.0) / 0.6));
    }

    #[test]
    fn absurd_inputs_stay_in_range() {
        let r = Record {
            handled: 1,
            resolved: 1,
            avg_first_response_seconds: Some(f64::NAN),
            negative_feedback: Some(1_000),
            avg_csat: Some(9.0),
        };
        let s = score(&r);
        assert!((0.0..=1.0).contains(&s), "{s}");
        let negative_time = Record {
            avg_first_response_seconds: Some(-30.0),
            ..record(0, 0)
        };
        let s = score(&negative_time);
        assert!((0.0..=1.0).contains(&s), "{s}");
    }
}
