//! AI agent limit arithmetic: cost budgets with reservations, cost estimates, and the
//! admission set behind `max_conversations`. Pure state; the AgentSupervisor actor owns one
//! of each per agent, so no locking is needed and concurrent turns are serialized by the
//! actor's mailbox. Request rates are enforced with `governor` in the supervisor; their
//! [`LimitHit`] variants live here so every refusal reason has one spelling.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// Float noise allowance when comparing against a budget: 0.1 + 0.2 must still fit in 0.3.
pub const COST_EPSILON: f64 = 1e-9;

crate::text_enum! {
    /// Why an AI agent refused work. Recorded with the conversation, so the strings are stable.
    pub enum LimitHit {
        MaxConversations => "max_conversations",
        RequestsPerMinute => "requests_per_minute",
        RequestsPerHour => "requests_per_hour",
        RequestsPerDay => "requests_per_day",
        DailyCost => "daily_cost",
        MonthlyCost => "monthly_cost",
    }
}

impl LimitHit {
    /// Cost and daily-rate limits do not clear within a conversation's patience, so the
    /// conversation should be handed on rather than left waiting.
    pub fn is_long_lived(self) -> bool {
        matches!(
            self,
            LimitHit::RequestsPerDay | LimitHit::DailyCost | LimitHit::MonthlyCost
        )
    }
}

impl std::error::Error for LimitHit {}

/// USD budgets of one AI agent; `None` means no limit for that period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CostBudget {
    pub daily_usd: Option<f64>,
    pub monthly_usd: Option<f64>,
}

impl CostBudget {
    /// Returns an error message that starts with the offending field's name.
    pub fn validate(&self) -> Result<(), String> {
        for (field, value) in [
            ("daily_usd", self.daily_usd),
            ("monthly_usd", self.monthly_usd),
        ] {
            if let Some(v) = value {
                if !v.is_finite() || v < 0.0 {
                    return Err(format!("{field}: must be a non-negative number"));
                }
            }
        }
        Ok(())
    }
}

/// A cost held against the budget while a turn is in flight. Deliberately neither `Clone`
/// nor `Copy`: [`CostLedger::settle`] and [`CostLedger::cancel`] consume it, so one
/// reservation cannot be released twice.
#[derive(Debug, PartialEq)]
#[must_use = "a reservation must be settled or cancelled, or it holds budget forever"]
pub struct Reservation {
    amount: f64,
}

impl Reservation {
    pub fn amount(&self) -> f64 {
        self.amount
    }
}

/// Spend of one AI agent in the current day and month.
///
/// Reserving before a turn (rather than only recording after it) is what keeps concurrent
/// turns from all passing the check against the same remaining budget and overspending it
/// together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostLedger {
    pub day_spent: f64,
    pub day_reserved: f64,
    pub month_spent: f64,
    pub month_reserved: f64,
    pub day: NaiveDate,
    /// (year, month 1..=12)
    pub month: (i32, u32),
}

impl CostLedger {
    pub fn new(today: NaiveDate) -> Self {
        CostLedger {
            day_spent: 0.0,
            day_reserved: 0.0,
            month_spent: 0.0,
            month_reserved: 0.0,
            day: today,
            month: (today.year(), today.month()),
        }
    }

    /// Starts a new period when `today` is past the ledger's: spent resets on a new day and
    /// on a new month respectively.
    ///
    /// Reservations carry over: they belong to turns still in flight, whose actual cost will
    /// be settled into the new period, and dropping them would let the new period hand out
    /// budget those turns are about to use. A date earlier than the ledger's (clock stepped
    /// back) changes nothing, so it cannot grant a fresh budget.
    pub fn roll(&mut self, today: NaiveDate) {
        if today > self.day {
            self.day = today;
            self.day_spent = 0.0;
        }
        let month = (today.year(), today.month());
        if month > self.month {
            self.month = month;
            self.month_spent = 0.0;
        }
    }

    /// Would `estimate` more fit both budgets? Daily is checked first, so a turn refused by
    /// both reports the limit that clears sooner.
    pub fn check(&self, budget: &CostBudget, estimate: f64) -> Result<(), LimitHit> {
        let amount = sanitize(estimate);
        if exceeds(self.day_spent + self.day_reserved, amount, budget.daily_usd) {
            return Err(LimitHit::DailyCost);
        }
        if exceeds(
            self.month_spent + self.month_reserved,
            amount,
            budget.monthly_usd,
        ) {
            return Err(LimitHit::MonthlyCost);
        }
        Ok(())
    }

    /// Holds `estimate` against both periods, or refuses when spent + reserved + estimate
    /// would be strictly greater than a budget (beyond [`COST_EPSILON`]). A budget that is
    /// exactly N times a fixed turn cost admits N turns, not N - 1 and not N + 1.
    ///
    /// A negative or NaN estimate counts as zero; an infinite one is refused by any budget
    /// and, without a budget, held as zero so the counters stay finite.
    pub fn try_reserve(
        &mut self,
        budget: &CostBudget,
        estimate: f64,
    ) -> Result<Reservation, LimitHit> {
        if estimate == f64::INFINITY {
            if budget.daily_usd.is_some() {
                return Err(LimitHit::DailyCost);
            }
            if budget.monthly_usd.is_some() {
                return Err(LimitHit::MonthlyCost);
            }
        }
        self.check(budget, estimate)?;
        let amount = sanitize(estimate);
        self.day_reserved += amount;
        self.month_reserved += amount;
        Ok(Reservation { amount })
    }

    /// Replaces the reservation with the provider-reported `actual` cost, in the current
    /// period (call [`CostLedger::roll`] first). `actual` may exceed the estimate; the
    /// overspend is recorded as is, and later reservations see it.
    pub fn settle(&mut self, reservation: Reservation, actual: f64) {
        self.release(reservation.amount);
        let actual = sanitize(actual);
        self.day_spent += actual;
        self.month_spent += actual;
    }

    /// Drops the reservation of a turn that never reached the provider.
    pub fn cancel(&mut self, reservation: Reservation) {
        self.release(reservation.amount);
    }

    /// Spent plus reserved, the figure budgets are checked against: (day, month).
    pub fn committed(&self) -> (f64, f64) {
        (
            self.day_spent + self.day_reserved,
            self.month_spent + self.month_reserved,
        )
    }

    fn release(&mut self, amount: f64) {
        // Adding and subtracting the same floats in a different order can leave -1e-17;
        // a negative reservation would quietly enlarge the budget.
        self.day_reserved = (self.day_reserved - amount).max(0.0);
        self.month_reserved = (self.month_reserved - amount).max(0.0);
    }
}

fn sanitize(amount: f64) -> f64 {
    if amount.is_finite() && amount > 0.0 {
        amount
    } else {
        0.0
    }
}

fn exceeds(committed: f64, amount: f64, budget: Option<f64>) -> bool {
    match budget {
        Some(limit) => committed + amount > limit + COST_EPSILON,
        None => false,
    }
}

/// Prompt tokens from characters: about four characters per token for the languages we
/// serve, rounded up so the estimate errs towards refusing.
pub fn estimate_prompt_tokens(prompt_chars: usize) -> u64 {
    u64::try_from(prompt_chars.div_ceil(4)).unwrap_or(u64::MAX)
}

/// Worst-case cost of a turn before it runs: the prompt estimated from its length and the
/// completion assumed to use all of `max_completion_tokens`, so the reservation covers any
/// answer the provider can return (tool loops reserve per call).
pub fn estimate_cost(
    prompt_chars: usize,
    max_completion_tokens: u32,
    prompt_price_per_1k: f64,
    completion_price_per_1k: f64,
) -> f64 {
    actual_cost(
        estimate_prompt_tokens(prompt_chars),
        u64::from(max_completion_tokens),
        prompt_price_per_1k,
        completion_price_per_1k,
    )
}

/// Cost from the provider's reported usage.
pub fn actual_cost(
    prompt_tokens: u64,
    completion_tokens: u64,
    prompt_price_per_1k: f64,
    completion_price_per_1k: f64,
) -> f64 {
    (prompt_tokens as f64 * prompt_price_per_1k
        + completion_tokens as f64 * completion_price_per_1k)
        / 1000.0
}

/// Conversations an AI agent currently serves, capped at `max`. A `max` of 0 admits nothing,
/// matching [`crate::domain::distribution::Candidate::has_capacity`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdmissionSet {
    max: u32,
    // Ordered so listings and snapshots are stable.
    ids: BTreeSet<String>,
}

impl AdmissionSet {
    pub fn new(max: u32) -> Self {
        AdmissionSet {
            max,
            ids: BTreeSet::new(),
        }
    }

    /// `Ok(true)` when newly admitted, `Ok(false)` when already admitted (a retried or
    /// duplicated request must not count twice nor be refused), `Err(MaxConversations)`
    /// when full.
    pub fn admit(&mut self, id: &str) -> Result<bool, LimitHit> {
        if self.ids.contains(id) {
            return Ok(false);
        }
        if !self.has_room() {
            return Err(LimitHit::MaxConversations);
        }
        self.ids.insert(id.to_owned());
        Ok(true)
    }

    /// `true` when `id` was admitted and now is not.
    pub fn release(&mut self, id: &str) -> bool {
        self.ids.remove(id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn max(&self) -> u32 {
        self.max
    }

    pub fn has_room(&self) -> bool {
        self.ids.len() < self.max as usize
    }

    /// Changes the cap. Lowering it below `len()` evicts nobody: conversations already
    /// admitted finish, and no new one is admitted until enough are released.
    pub fn set_max(&mut self, max: u32) {
        self.max = max;
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.ids.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn limit_hit_names() {
        let names: Vec<&str> = LimitHit::ALL.iter().map(|l| l.as_str()).collect();
        assert_eq!(
            names,
            [
                "max_conversations",
                "requests_per_minute",
                "requests_per_hour",
                "requests_per_day",
                "daily_cost",
                "monthly_cost"
            ]
        );
        for hit in LimitHit::ALL {
            let json = serde_json::to_string(&hit).expect("serialize");
            assert_eq!(json, format!("\"{}\"", hit.as_str()));
            assert_eq!(hit.to_string(), hit.as_str());
        }
        assert!(LimitHit::MonthlyCost.is_long_lived());
        assert!(!LimitHit::RequestsPerMinute.is_long_lived());
    }

    #[test]
    fn budget_of_one_dollar_allows_exactly_four_quarter_turns() {
        let budget = CostBudget {
            daily_usd: Some(1.00),
            monthly_usd: None,
        };
        let mut ledger = CostLedger::new(date(2026, 3, 10));
        for turn in 0..4 {
            let r = ledger
                .try_reserve(&budget, 0.25)
                .unwrap_or_else(|hit| panic!("turn {turn} refused: {hit}"));
            ledger.settle(r, 0.25);
        }
        assert_eq!(ledger.try_reserve(&budget, 0.25), Err(LimitHit::DailyCost));
        assert!(close(ledger.day_spent, 1.0));
    }

    #[test]
    fn float_noise_does_not_cost_a_turn() {
        // 0.1 added ten times is 0.9999999999999999, and three times is 0.30000000000000004.
        for (limit, turns) in [(1.0, 10), (0.3, 3), (0.7, 7)] {
            let budget = CostBudget {
                daily_usd: None,
                monthly_usd: Some(limit),
            };
            let mut ledger = CostLedger::new(date(2026, 3, 10));
            let mut allowed = 0;
            while let Ok(r) = ledger.try_reserve(&budget, 0.1) {
                ledger.settle(r, 0.1);
                allowed += 1;
                assert!(
                    allowed <= turns,
                    "budget {limit} let through more than {turns}"
                );
            }
            assert_eq!(allowed, turns, "budget {limit}");
        }
    }

    #[test]
    fn reservations_count_before_settlement() {
        let budget = CostBudget {
            daily_usd: Some(1.0),
            monthly_usd: Some(10.0),
        };
        let mut ledger = CostLedger::new(date(2026, 3, 10));
        // Four concurrent turns fill the day before any of them settles.
        let held: Vec<Reservation> = (0..4)
            .map(|_| ledger.try_reserve(&budget, 0.25).expect("fits"))
            .collect();
        assert_eq!(ledger.try_reserve(&budget, 0.01), Err(LimitHit::DailyCost));
        assert!(close(ledger.day_reserved, 1.0));
        assert!(close(ledger.month_reserved, 1.0));
        for r in held {
            ledger.cancel(r);
        }
        assert_eq!(ledger.day_reserved, 0.0);
        assert_eq!(ledger.month_reserved, 0.0);
        assert_eq!(ledger.day_spent, 0.0);
        assert!(ledger.try_reserve(&budget, 1.0).is_ok());
    }

    #[test]
    fn settle_lower_than_estimate_frees_the_difference() {
        let budget = CostBudget {
            daily_usd: Some(1.0),
            monthly_usd: None,
        };
        let mut ledger = CostLedger::new(date(2026, 3, 10));
        let r = ledger.try_reserve(&budget, 0.8).expect("fits");
        assert_eq!(ledger.try_reserve(&budget, 0.3), Err(LimitHit::DailyCost));
        ledger.settle(r, 0.2);
        assert_eq!(ledger.day_reserved, 0.0);
        assert!(close(ledger.day_spent, 0.2));
        assert!(close(ledger.month_spent, 0.2));
        let r = ledger
            .try_reserve(&budget, 0.8)
            .expect("0.2 + 0.8 fits exactly");
        ledger.cancel(r);
    }

    #[test]
    fn settle_higher_than_estimate_is_recorded_and_blocks_later_turns() {
        let budget = CostBudget {
            daily_usd: Some(1.0),
            monthly_usd: None,
        };
        let mut ledger = CostLedger::new(date(2026, 3, 10));
        let r = ledger.try_reserve(&budget, 0.5).expect("fits");
        ledger.settle(r, 1.2);
        assert!(close(ledger.day_spent, 1.2));
        assert_eq!(ledger.day_reserved, 0.0);
        assert_eq!(
            ledger.try_reserve(&budget, 0.0001),
            Err(LimitHit::DailyCost)
        );
    }

    #[test]
    fn daily_is_reported_before_monthly_and_monthly_binds_across_days() {
        let budget = CostBudget {
            daily_usd: Some(1.0),
            monthly_usd: Some(1.5),
        };
        let mut ledger = CostLedger::new(date(2026, 3, 10));
        assert_eq!(ledger.try_reserve(&budget, 2.0), Err(LimitHit::DailyCost));
        let r = ledger.try_reserve(&budget, 1.0).expect("fits");
        ledger.settle(r, 1.0);
        ledger.roll(date(2026, 3, 11));
        assert_eq!(ledger.day_spent, 0.0);
        assert!(close(ledger.month_spent, 1.0));
        assert_eq!(
            ledger.try_reserve(&budget, 0.75),
            Err(LimitHit::MonthlyCost)
        );
        let r = ledger
            .try_reserve(&budget, 0.5)
            .expect("fits the month exactly");
        ledger.settle(r, 0.5);
    }

    #[test]
    fn roll_resets_day_then_month() {
        let mut ledger = CostLedger::new(date(2026, 1, 31));
        ledger.day_spent = 3.0;
        ledger.month_spent = 30.0;

        ledger.roll(date(2026, 1, 31));
        assert_eq!((ledger.day_spent, ledger.month_spent), (3.0, 30.0));

        ledger.roll(date(2026, 2, 1));
        assert_eq!((ledger.day_spent, ledger.month_spent), (0.0, 0.0));
        assert_eq!(ledger.day, date(2026, 2, 1));
        assert_eq!(ledger.month, (2026, 2));

        ledger.day_spent = 1.0;
        ledger.month_spent = 5.0;
        ledger.roll(date(2026, 2, 2));
        assert_eq!((ledger.day_spent, ledger.month_spent), (0.0, 5.0));

        // Same month number, next year.
        ledger.month_spent = 7.0;
        ledger.roll(date(2027, 2, 2));
        assert_eq!((ledger.day_spent, ledger.month_spent), (0.0, 0.0));
        assert_eq!(ledger.month, (2027, 2));
    }

    #[test]
    fn roll_backwards_changes_nothing() {
        let mut ledger = CostLedger::new(date(2026, 3, 10));
        ledger.day_spent = 2.0;
        ledger.month_spent = 9.0;
        ledger.roll(date(2026, 2, 28));
        assert_eq!(ledger.day, date(2026, 3, 10));
        assert_eq!(ledger.month, (2026, 3));
        assert_eq!((ledger.day_spent, ledger.month_spent), (2.0, 9.0));
    }

    #[test]
    fn in_flight_reservation_survives_midnight() {
        let budget = CostBudget {
            daily_usd: Some(1.0),
            monthly_usd: None,
        };
        let mut ledger = CostLedger::new(date(2026, 3, 31));
        let r = ledger.try_reserve(&budget, 0.6).expect("fits");
        ledger.roll(date(2026, 4, 1));
        // The in-flight turn will be billed to the new day, so it still holds its share.
        assert_eq!(ledger.try_reserve(&budget, 0.5), Err(LimitHit::DailyCost));
        ledger.settle(r, 0.4);
        assert!(close(ledger.day_spent, 0.4));
        assert!(close(ledger.month_spent, 0.4));
        assert_eq!(ledger.day_reserved, 0.0);
        assert_eq!(ledger.month_reserved, 0.0);
    }

    #[test]
    fn odd_estimates_are_contained() {
        let budget = CostBudget {
            daily_usd: Some(1.0),
            monthly_usd: None,
        };
        let mut ledger = CostLedger::new(date(2026, 3, 10));
        assert_eq!(
            ledger.try_reserve(&budget, f64::INFINITY),
            Err(LimitHit::DailyCost)
        );
        let r = ledger
            .try_reserve(&budget, f64::NAN)
            .expect("NaN holds nothing");
        assert_eq!(r.amount(), 0.0);
        ledger.settle(r, -3.0);
        assert_eq!(ledger.day_spent, 0.0);

        let unlimited = CostBudget::default();
        let r = ledger
            .try_reserve(&unlimited, f64::INFINITY)
            .expect("no budget, no limit");
        ledger.settle(r, 0.5);
        assert!(ledger.day_reserved.is_finite());
        assert!(close(ledger.day_spent, 0.5));
    }

    #[test]
    fn zero_budget_refuses_any_cost() {
        let budget = CostBudget {
            daily_usd: Some(0.0),
            monthly_usd: None,
        };
        let mut ledger = CostLedger::new(date(2026, 3, 10));
        assert_eq!(
            ledger.try_reserve(&budget, 0.000_01),
            Err(LimitHit::DailyCost)
        );
    }

    #[test]
    fn budget_validation() {
        assert_eq!(CostBudget::default().validate(), Ok(()));
        let ok = CostBudget {
            daily_usd: Some(0.0),
            monthly_usd: Some(200.0),
        };
        assert_eq!(ok.validate(), Ok(()));
        let bad = CostBudget {
            daily_usd: Some(-1.0),
            monthly_usd: None,
        };
        assert!(bad
            .validate()
            .expect_err("negative")
            .starts_with("daily_usd"));
        let bad = CostBudget {
            daily_usd: None,
            monthly_usd: Some(f64::NAN),
        };
        assert!(bad.validate().expect_err("NaN").starts_with("monthly_usd"));
    }

    #[test]
    fn cost_estimates() {
        assert_eq!(estimate_prompt_tokens(0), 0);
        assert_eq!(estimate_prompt_tokens(1), 1);
        assert_eq!(estimate_prompt_tokens(4), 1);
        assert_eq!(estimate_prompt_tokens(5), 2);
        // gpt-4 prices: 4000 chars ≈ 1000 prompt tokens at $0.03/1k, 500 completion at $0.06/1k.
        assert!(close(estimate_cost(4000, 500, 0.03, 0.06), 0.03 + 0.03));
        assert!(close(estimate_cost(3999, 500, 0.03, 0.06), 0.03 + 0.03));
        assert!(close(
            estimate_cost(4001, 0, 0.03, 0.06),
            1001.0 * 0.03 / 1000.0
        ));
        assert!(close(actual_cost(1000, 250, 0.03, 0.06), 0.03 + 0.015));
        assert_eq!(actual_cost(0, 0, 0.03, 0.06), 0.0);
        // The estimate assumes the whole completion allowance, so it bounds the actual cost.
        assert!(estimate_cost(4000, 500, 0.03, 0.06) >= actual_cost(1000, 499, 0.03, 0.06));
    }

    #[test]
    fn admission_is_idempotent_and_capped() {
        let mut set = AdmissionSet::new(2);
        assert!(set.is_empty());
        assert_eq!(set.admit("c1"), Ok(true));
        assert_eq!(set.admit("c1"), Ok(false));
        assert_eq!(set.len(), 1);
        assert!(set.has_room());
        assert_eq!(set.admit("c2"), Ok(true));
        assert!(!set.has_room());
        assert_eq!(set.admit("c3"), Err(LimitHit::MaxConversations));
        // Already admitted is still fine when full.
        assert_eq!(set.admit("c2"), Ok(false));
        assert_eq!(set.len(), 2);

        assert!(set.release("c1"));
        assert!(!set.release("c1"));
        assert!(!set.contains("c1"));
        assert_eq!(set.admit("c3"), Ok(true));
        assert_eq!(set.ids().collect::<Vec<_>>(), ["c2", "c3"]);
    }

    #[test]
    fn admission_zero_max_and_lowered_max() {
        let mut none = AdmissionSet::new(0);
        assert!(!none.has_room());
        assert_eq!(none.admit("c1"), Err(LimitHit::MaxConversations));

        let mut set = AdmissionSet::new(3);
        for id in ["a", "b", "c"] {
            assert_eq!(set.admit(id), Ok(true));
        }
        set.set_max(1);
        assert_eq!(set.max(), 1);
        assert_eq!(set.len(), 3);
        assert_eq!(set.admit("d"), Err(LimitHit::MaxConversations));
        set.release("a");
        set.release("b");
        assert_eq!(set.admit("d"), Err(LimitHit::MaxConversations));
        set.release("c");
        assert_eq!(set.admit("d"), Ok(true));
    }
}
