//! AI agent limit arithmetic: cost budgets with reservations, cost estimates, and the
//! admission set behind `max_conversations`. Pure state; the AgentSupervisor actor owns one
//! of each per agent, so no locking is needed and concurrent turns are serialized by the
//! actor's mailbox. [`AgentGate`] puts them together with the request rates (`governor`)
//! behind one `admit`, so every refusal reason has one spelling and one order.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::time::Duration;

use chrono::{Datelike, NaiveDate};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
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
        /// The agent is disabled (or not `active`): it takes no work at all.
        AgentDisabled => "agent_disabled",
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

crate::text_enum! {
    /// A fixed window of an agent's request counts as stored (`agent_request_windows`).
    pub enum WindowKind {
        Minute => "minute",
        Hour => "hour",
        Day => "day",
    }
}

impl WindowKind {
    pub fn seconds(self) -> i64 {
        match self {
            WindowKind::Minute => 60,
            WindowKind::Hour => 3_600,
            WindowKind::Day => 86_400,
        }
    }

    /// The limit this window's count is held against.
    pub fn hit(self) -> LimitHit {
        match self {
            WindowKind::Minute => LimitHit::RequestsPerMinute,
            WindowKind::Hour => LimitHit::RequestsPerHour,
            WindowKind::Day => LimitHit::RequestsPerDay,
        }
    }

    /// Start (Unix seconds, UTC) of the window of this kind holding `unix`.
    pub fn start(self, unix: i64) -> i64 {
        unix - unix.rem_euclid(self.seconds())
    }
}

/// Requests per minute, hour and day, each `None` for no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimits {
    pub per_minute: Option<u32>,
    pub per_hour: Option<u32>,
    pub per_day: Option<u32>,
}

type Window<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

fn window<C: Clock + Clone>(count: Option<u32>, period: Duration, clock: &C) -> Option<Window<C>> {
    let burst = NonZeroU32::new(count?)?;
    // `count` requests per `period`: the whole allowance may be used at once (burst), and it
    // refills evenly over the period.
    let quota = Quota::with_period(period / burst.get())?.allow_burst(burst);
    Some(RateLimiter::direct_with_clock(quota, clock.clone()))
}

/// What is asked of an AI agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask<'a> {
    /// Serve this conversation: one of its `max_conversations` slots (asking again for a
    /// conversation already served is not counted twice).
    Conversation(&'a str),
    /// One model request: a chat turn, a side call or a live stream. Its cost is reserved
    /// with [`AgentGate::reserve`] once the prompt is known.
    Request,
    /// One model request from staff trying the agent out (the wizard's test chat before
    /// publishing): a draft, inactive or disabled agent may answer it — who may ask is the
    /// API's rule (`domain::role::may_chat_with_agent`) — but its rates and budgets apply.
    Trial,
}

/// Everything that may refuse work to one AI agent, checked in one place: whether it is
/// enabled, its conversation slots, its request rates and its cost budgets. The
/// supervisor actor owns one, so every turn, side call and stream passes the same rules in
/// the same order. Rates run on governor's clock `C`, which tests replace by a fake one.
pub struct AgentGate<C: Clock = DefaultClock> {
    enabled: bool,
    admitted: AdmissionSet,
    /// Longest period first: a request refused by several windows reports the one that
    /// clears last.
    windows: Vec<(LimitHit, Window<C>)>,
    ledger: CostLedger,
    budget: CostBudget,
    clock: C,
    /// Requests admitted since the supervisor last recorded them in the store.
    unrecorded: u32,
}

impl AgentGate<DefaultClock> {
    pub fn new(today: NaiveDate) -> Self {
        AgentGate::with_clock(today, DefaultClock::default())
    }
}

impl<C: Clock + Clone> AgentGate<C> {
    /// Disabled, with no slots, until [`AgentGate::configure`].
    pub fn with_clock(today: NaiveDate, clock: C) -> Self {
        AgentGate {
            enabled: false,
            admitted: AdmissionSet::new(0),
            windows: Vec::new(),
            ledger: CostLedger::new(today),
            budget: CostBudget::default(),
            clock,
            unrecorded: 0,
        }
    }

    /// Applies the agent's settings. Rate windows start afresh; conversations already
    /// admitted and cost already spent or reserved are kept.
    pub fn configure(
        &mut self,
        enabled: bool,
        max_conversations: u32,
        rates: RateLimits,
        budget: CostBudget,
    ) {
        self.enabled = enabled;
        self.admitted.set_max(max_conversations);
        self.windows = [
            (LimitHit::RequestsPerDay, rates.per_day, 86_400),
            (LimitHit::RequestsPerHour, rates.per_hour, 3_600),
            (LimitHit::RequestsPerMinute, rates.per_minute, 60),
        ]
        .into_iter()
        .filter_map(|(hit, count, seconds)| {
            window(count, Duration::from_secs(seconds), &self.clock).map(|w| (hit, w))
        })
        .collect();
        self.budget = budget;
    }

    /// The one admission check. A disabled agent refuses everything as `agent_disabled`.
    /// A request takes one cell from every rate window; a window passed before a later one
    /// refuses has spent its cell, so the agent may end up a little under its limits,
    /// never over.
    pub fn admit(&mut self, ask: Ask<'_>) -> Result<(), LimitHit> {
        if !self.enabled && ask != Ask::Trial {
            return Err(LimitHit::AgentDisabled);
        }
        match ask {
            Ask::Conversation(id) => self.admitted.admit(id).map(|_| ()),
            Ask::Request | Ask::Trial => {
                for (hit, window) in &self.windows {
                    window.check().map_err(|_| *hit)?;
                }
                self.unrecorded = self.unrecorded.saturating_add(1);
                Ok(())
            }
        }
    }

    /// Holds `estimate` USD against the budgets for a request admitted with
    /// [`Ask::Request`]; `today` starts a new day or month first.
    pub fn reserve(&mut self, estimate: f64, today: NaiveDate) -> Result<Reservation, LimitHit> {
        self.ledger.roll(today);
        self.ledger.try_reserve(&self.budget, estimate)
    }

    /// Replaces a reservation with the cost the provider reported.
    pub fn settle(&mut self, reservation: Reservation, actual: f64, today: NaiveDate) {
        self.ledger.roll(today);
        self.ledger.settle(reservation, actual);
    }

    /// Drops the reservation of a request that spent nothing.
    pub fn cancel(&mut self, reservation: Reservation) {
        self.ledger.cancel(reservation);
    }

    /// What the agent held before a restart: the slots of its open conversations (up to
    /// the max, as admission never went past it) and what it spent today and this month.
    pub fn resume<'a>(
        &mut self,
        conversations: impl IntoIterator<Item = &'a str>,
        day_spent: f64,
        month_spent: f64,
    ) {
        for id in conversations {
            // A full set keeps the slots it has; the rest are asked for again on their
            // next message.
            let _ = self.admitted.admit(id);
        }
        self.ledger.day_spent = day_spent;
        self.ledger.month_spent = month_spent;
    }

    /// Requests admitted since the last call, to be recorded in the store (and counted
    /// from there after a restart); the count starts again at zero.
    pub fn take_unrecorded(&mut self) -> u32 {
        std::mem::take(&mut self.unrecorded)
    }

    /// Gives back requests whose recording failed, to be recorded with the next batch.
    pub fn restore_unrecorded(&mut self, requests: u32) {
        self.unrecorded = self.unrecorded.saturating_add(requests);
    }

    /// Spends what the store says the agent already used in the current windows (after a
    /// restart or a change of its limits), plus what it admitted and has not recorded yet:
    /// each window gives up that many of its requests, which come back at its usual refill
    /// rate. Never lets the agent exceed a limit; it may hold it a little under one (the
    /// window restarts at the moment of the restart).
    pub fn resume_requests(&mut self, used: &[(WindowKind, u32)]) {
        for (hit, window) in &self.windows {
            let stored = used
                .iter()
                .find(|(kind, _)| kind.hit() == *hit)
                .map_or(0, |(_, count)| *count);
            for _ in 0..stored.saturating_add(self.unrecorded) {
                if window.check().is_err() {
                    break;
                }
            }
        }
    }

    /// Holds one of the `max_conversations` slots for a live chat stream while it runs: a
    /// stream is served at once like a conversation, so it counts against the same cap —
    /// also for staff trying a disabled agent out, who are not refused for being disabled.
    /// Freed with [`AgentGate::release`].
    pub fn hold(&mut self, stream: &str) -> Result<(), LimitHit> {
        self.admitted.admit(stream).map(|_| ())
    }

    /// Frees the conversation's slot; `true` when it held one.
    pub fn release(&mut self, conversation: &str) -> bool {
        self.admitted.release(conversation)
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Conversations served now and the cap.
    pub fn load(&self) -> (usize, u32) {
        (self.admitted.len(), self.admitted.max())
    }

    pub fn ledger(&self) -> &CostLedger {
        &self.ledger
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn streams_hold_a_conversation_slot_while_they_run() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 2).expect("date");
        let mut gate: AgentGate = AgentGate::new(today);
        gate.configure(false, 1, RateLimits::default(), CostBudget::default());
        assert_eq!(gate.hold("stream-1"), Ok(()));
        assert_eq!(gate.hold("stream-2"), Err(LimitHit::MaxConversations));
        assert_eq!(
            gate.admit(Ask::Conversation("c1")),
            Err(LimitHit::AgentDisabled)
        );
        assert!(gate.release("stream-1"));
        assert_eq!(gate.hold("stream-2"), Ok(()));
        assert_eq!(gate.load(), (1, 1));
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn gate(
        max: u32,
        rates: RateLimits,
        budget: CostBudget,
    ) -> (AgentGate<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let mut gate = AgentGate::with_clock(date(2026, 3, 1), clock.clone());
        gate.configure(true, max, rates, budget);
        (gate, clock)
    }

    #[test]
    fn a_disabled_agent_refuses_everything_as_disabled_but_a_trial() {
        let (mut gate, _) = gate(5, RateLimits::default(), CostBudget::default());
        gate.configure(false, 5, RateLimits::default(), CostBudget::default());
        assert_eq!(
            gate.admit(Ask::Conversation("c1")),
            Err(LimitHit::AgentDisabled)
        );
        assert_eq!(gate.admit(Ask::Request), Err(LimitHit::AgentDisabled));
        assert_eq!(gate.admit(Ask::Trial), Ok(()), "staff may try a draft");
        assert_eq!(gate.load(), (0, 5), "a refused conversation holds no slot");
        gate.configure(true, 5, RateLimits::default(), CostBudget::default());
        assert_eq!(gate.admit(Ask::Conversation("c1")), Ok(()));
    }

    #[test]
    fn conversations_hold_slots_up_to_the_max() {
        let (mut gate, _) = gate(2, RateLimits::default(), CostBudget::default());
        assert_eq!(gate.admit(Ask::Conversation("c1")), Ok(()));
        assert_eq!(gate.admit(Ask::Conversation("c2")), Ok(()));
        assert_eq!(
            gate.admit(Ask::Conversation("c1")),
            Ok(()),
            "asked again: same slot"
        );
        assert_eq!(
            gate.admit(Ask::Conversation("c3")),
            Err(LimitHit::MaxConversations)
        );
        assert!(gate.release("c1"));
        assert!(!gate.release("c1"));
        assert_eq!(gate.admit(Ask::Conversation("c3")), Ok(()));
        // Lowering the cap evicts nobody; nobody new gets in.
        gate.configure(true, 1, RateLimits::default(), CostBudget::default());
        assert_eq!(gate.load(), (2, 1));
        assert_eq!(
            gate.admit(Ask::Conversation("c4")),
            Err(LimitHit::MaxConversations)
        );
    }

    #[test]
    fn requests_pass_every_window_and_refill_over_time() {
        let rates = RateLimits {
            per_minute: Some(2),
            per_hour: Some(4),
            per_day: None,
        };
        let (mut gate, clock) = gate(1, rates, CostBudget::default());
        assert_eq!(gate.admit(Ask::Request), Ok(()));
        assert_eq!(gate.admit(Ask::Request), Ok(()));
        // Refused by the minute after the hour counted it: the hour has one left.
        assert_eq!(gate.admit(Ask::Request), Err(LimitHit::RequestsPerMinute));
        // Two per minute refill one every 30 s.
        clock.advance(Duration::from_secs(30));
        assert_eq!(gate.admit(Ask::Request), Ok(()));
        clock.advance(Duration::from_secs(60));
        // The hour's four are spent, whatever the minute allows.
        assert_eq!(gate.admit(Ask::Request), Err(LimitHit::RequestsPerHour));
        clock.advance(Duration::from_secs(20 * 60));
        assert_eq!(gate.admit(Ask::Request), Ok(()));
    }

    #[test]
    fn requests_used_before_a_restart_still_count() {
        let rates = RateLimits {
            per_minute: Some(10),
            per_hour: None,
            per_day: Some(3),
        };
        let (mut first, _) = gate(1, rates, CostBudget::default());
        assert_eq!(first.admit(Ask::Request), Ok(()));
        assert_eq!(first.admit(Ask::Request), Ok(()));
        assert_eq!(first.take_unrecorded(), 2);
        assert_eq!(first.take_unrecorded(), 0);
        // A new process with what the store kept: two of the day's three are gone.
        let (mut restarted, _) = gate(1, rates, CostBudget::default());
        restarted.resume_requests(&[(WindowKind::Day, 2), (WindowKind::Hour, 2)]);
        assert_eq!(restarted.admit(Ask::Request), Ok(()));
        assert_eq!(restarted.admit(Ask::Request), Err(LimitHit::RequestsPerDay));
        // Refused requests are not recorded; a failed recording is retried.
        assert_eq!(restarted.take_unrecorded(), 1);
        restarted.restore_unrecorded(1);
        assert_eq!(restarted.take_unrecorded(), 1);
        // More used than the limit (it was lowered): the window is simply full.
        let (mut lowered, _) = gate(1, rates, CostBudget::default());
        lowered.resume_requests(&[(WindowKind::Day, 50)]);
        assert_eq!(lowered.admit(Ask::Request), Err(LimitHit::RequestsPerDay));
    }

    #[test]
    fn fixed_windows_start_on_their_boundary() {
        let t = 1_764_547_261; // 2025-12-01 00:01:01 UTC
        assert_eq!(WindowKind::Minute.start(t), t - 1);
        assert_eq!(WindowKind::Hour.start(t), t - 61);
        assert_eq!(WindowKind::Day.start(t), t - 61);
        assert_eq!(WindowKind::Day.hit(), LimitHit::RequestsPerDay);
        assert_eq!("hour".parse::<WindowKind>(), Ok(WindowKind::Hour));
    }

    #[test]
    fn the_longest_full_window_is_reported() {
        let rates = RateLimits {
            per_minute: Some(1),
            per_hour: Some(1),
            per_day: Some(1),
        };
        let (mut gate, _) = gate(1, rates, CostBudget::default());
        assert_eq!(gate.admit(Ask::Request), Ok(()));
        assert_eq!(gate.admit(Ask::Request), Err(LimitHit::RequestsPerDay));
    }

    #[test]
    fn requests_reserve_their_cost_and_settle_it() {
        let budget = CostBudget {
            daily_usd: Some(1.0),
            monthly_usd: Some(1.5),
        };
        let (mut gate, _) = gate(1, RateLimits::default(), budget);
        let today = date(2026, 3, 1);
        let first = gate.reserve(0.6, today).expect("fits");
        assert_eq!(gate.reserve(0.6, today), Err(LimitHit::DailyCost));
        gate.settle(first, 0.2, today);
        let second = gate.reserve(0.6, today).expect("fits after settling");
        gate.cancel(second);
        // A new day resets the day, not the month: 0.2 spent this month.
        let tomorrow = date(2026, 3, 2);
        let third = gate.reserve(1.0, tomorrow).expect("new day");
        assert_eq!(gate.reserve(0.4, tomorrow), Err(LimitHit::DailyCost));
        gate.settle(third, 1.0, tomorrow);
        assert_eq!(
            gate.reserve(0.0, date(2026, 3, 3)).map(|r| r.amount()),
            Ok(0.0)
        );
        assert_eq!(
            gate.reserve(0.4, date(2026, 3, 3)),
            Err(LimitHit::MonthlyCost)
        );
        assert!(close(gate.ledger().month_spent, 1.2));
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
                "monthly_cost",
                "agent_disabled"
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
