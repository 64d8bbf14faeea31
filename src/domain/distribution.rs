//! Who gets a conversation, in what order the queue is served, and when a first response is
//! late. Pure rules: the Distributor actor gathers the candidates (humans online and under
//! capacity, AI agents admitted by their supervisor), calls [`choose`] or
//! [`choose_with_settings`], and applies the result.
//!
//! Every rule is deterministic for a given input, so a test (or a replay after a crash)
//! reaches the same assignment the live system did.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use chrono::{Duration, NaiveDateTime};
use serde::{Deserialize, Serialize};

/// Upper bound for the minute settings: a week. Larger values are almost certainly a unit
/// mistake (seconds or hours typed as minutes) and would silently disable the check.
pub const MAX_SETTING_MINUTES: u32 = 7 * 24 * 60;

/// A month of record: long enough that a bad afternoon does not sink anyone, short enough
/// that improvement shows.
pub const DEFAULT_PERFORMANCE_WINDOW_DAYS: u32 = 30;
pub const MAX_PERFORMANCE_WINDOW_DAYS: u32 = 365;

/// The `reason` strings a [`Choice`] can carry; stable, because they are stored with the
/// assignment and shown in reports.
pub mod reason {
    pub const STICKY: &str = "sticky";
    pub const ROUND_ROBIN: &str = "round_robin";
    pub const BY_LOAD: &str = "by_load";
    pub const BY_SPECIALTY: &str = "by_specialty";
    pub const BY_SPECIALTY_FALLBACK: &str = "by_specialty_fallback";
    pub const BY_PERFORMANCE: &str = "by_performance";
    pub const BY_PERCENTAGE: &str = "by_percentage";
}

/// How a conversation that has no sticky owner is distributed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Next eligible candidate in id order after the last one round robin picked.
    #[default]
    RoundRobin,
    /// Lowest `active / max` ratio; ties by fewer active conversations, then id.
    ByLoad,
    /// Lowest load among candidates with the requested specialty; by load otherwise.
    BySpecialty,
    /// Highest performance score; ties by load, then id.
    ByPerformance,
    /// Whoever is furthest below their configured share of assignments.
    // The legacy system called this method "percentage".
    #[serde(alias = "percentage")]
    ByPercentage,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::RoundRobin,
        Method::ByLoad,
        Method::BySpecialty,
        Method::ByPerformance,
        Method::ByPercentage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::RoundRobin => "round_robin",
            Method::ByLoad => "by_load",
            Method::BySpecialty => "by_specialty",
            Method::ByPerformance => "by_performance",
            Method::ByPercentage => "by_percentage",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "round_robin" => Some(Method::RoundRobin),
            "by_load" => Some(Method::ByLoad),
            "by_specialty" => Some(Method::BySpecialty),
            "by_performance" => Some(Method::ByPerformance),
            "by_percentage" | "percentage" => Some(Method::ByPercentage),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CandidateKind {
    Human,
    Ai,
}

impl CandidateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateKind::Human => "human",
            CandidateKind::Ai => "ai",
        }
    }
}

/// A possible owner as the Distributor sees it at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: String,
    pub kind: CandidateKind,
    pub active_conversations: u32,
    pub max_conversations: u32,
    pub specialties: Vec<String>,
    /// 0..1, higher is better. NaN counts as the worst score.
    pub performance_score: f64,
    /// Weight for [`Method::ByPercentage`]; relative, it need not sum to 100.
    pub percentage: u32,
    /// Assignments so far, the history [`Method::ByPercentage`] balances against.
    pub assigned_total: u64,
    /// Online (humans) or admitted by its supervisor (AI agents).
    pub available: bool,
}

impl Candidate {
    /// `max_conversations == 0` means the candidate takes nothing, not "unlimited": a zero
    /// typed into a form must not open the flood gates.
    pub fn has_capacity(&self) -> bool {
        self.available && self.active_conversations < self.max_conversations
    }

    fn has_specialty(&self, wanted_folded: &str) -> bool {
        self.specialties
            .iter()
            .any(|s| fold_specialty(s) == wanted_folded)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Request<'a> {
    /// Specialty the conversation needs (from its funnel, stage or department), if any.
    pub specialty: Option<&'a str>,
    /// The contact's previous owner; `None` when stickiness is off or there is none.
    pub previous_owner: Option<&'a str>,
}

/// Round-robin position, kept by the caller between calls (and persisted if rotation
/// should survive a restart).
///
/// It remembers the last id picked rather than an index, so candidates going offline or
/// filling up between calls do not shift the rotation onto someone who was just served.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundRobinCursor {
    pub last_id: Option<String>,
}

/// One cursor per pool [`choose_with_settings`] may rotate over. With `prefer_ai` the AI and
/// human pools rotate separately; sharing one cursor would restart the human rotation at
/// the first human id after every AI assignment and overload that human.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundRobinCursors {
    pub mixed: RoundRobinCursor,
    pub ai: RoundRobinCursor,
    pub human: RoundRobinCursor,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub id: String,
    pub kind: CandidateKind,
    /// One of the [`reason`] constants.
    pub reason: &'static str,
}

impl Choice {
    fn of(candidate: &Candidate, reason: &'static str) -> Self {
        Choice {
            id: candidate.id.clone(),
            kind: candidate.kind,
            reason,
        }
    }
}

/// Picks the owner of a conversation, or `None` when nobody has capacity (the conversation
/// then queues).
///
/// Rules, in order:
/// 1. Only candidates with [`Candidate::has_capacity`] are eligible.
/// 2. Sticky: if `request.previous_owner` is eligible it wins (reason `"sticky"`), whatever
///    the method, so a returning customer keeps talking to the same agent.
/// 3. The method:
///    - `round_robin`: the first eligible candidate whose id sorts after
///      `cursor.last_id`, wrapping to the smallest id; the cursor then moves to it. Only
///      this method moves the cursor.
///    - `by_load`: lowest `active / max` ratio; ties by fewer active conversations, then
///      smallest id.
///    - `by_specialty`: among candidates listing the requested specialty (compared
///      ignoring case, accents and surrounding spaces), the `by_load` pick; with no
///      specialty requested or nobody matching, the `by_load` pick over everyone, with
///      reason `"by_specialty_fallback"`.
///    - `by_performance`: highest `performance_score`; ties by the `by_load` order.
///    - `by_percentage`: each candidate's weight is `percentage / Σ percentage` and its
///      share `assigned_total / Σ assigned_total` (sums over eligible candidates); the one
///      whose share is furthest below its weight wins (with no assignments yet, the
///      highest weight); ties by smallest id. Zero-weight candidates are only considered
///      when every eligible candidate has zero weight, and then weigh equally.
///
/// The caller bumps `active_conversations` and `assigned_total` of the chosen candidate
/// before the next call.
pub fn choose(
    method: Method,
    candidates: &[Candidate],
    request: &Request,
    cursor: &mut RoundRobinCursor,
) -> Option<Choice> {
    let eligible: Vec<&Candidate> = candidates.iter().filter(|c| c.has_capacity()).collect();
    sticky(&eligible, request.previous_owner)
        .or_else(|| by_method(method, &eligible, request.specialty, cursor))
}

/// [`choose`] under a tenant's [`DistributionSettings`]:
/// - AI candidates are dropped unless `assign_to_ai_agent`.
/// - `request.previous_owner` is ignored unless `sticky`; a sticky owner still wins over
///   `prefer_ai`, because continuity matters more to the customer than who is cheaper.
/// - With `prefer_ai`, the method runs over AI agents first and over humans only when no AI
///   agent has capacity. Under `by_specialty` a specialist of either kind beats a
///   non-specialist AI: AI specialists, then human specialists, then AI by load, then humans
///   by load (the last two with reason `"by_specialty_fallback"`).
pub fn choose_with_settings(
    settings: &DistributionSettings,
    candidates: &[Candidate],
    request: &Request,
    cursors: &mut RoundRobinCursors,
) -> Option<Choice> {
    let eligible: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.has_capacity())
        .filter(|c| settings.assign_to_ai_agent || c.kind == CandidateKind::Human)
        .collect();

    if settings.sticky {
        if let Some(choice) = sticky(&eligible, request.previous_owner) {
            return Some(choice);
        }
    }

    if !(settings.prefer_ai && settings.assign_to_ai_agent) {
        return by_method(
            settings.method,
            &eligible,
            request.specialty,
            &mut cursors.mixed,
        );
    }

    let (ai, human): (Vec<&Candidate>, Vec<&Candidate>) =
        eligible.iter().partition(|c| c.kind == CandidateKind::Ai);

    if settings.method == Method::BySpecialty {
        if let Some(wanted) = requested_specialty(request.specialty) {
            let specialist = lowest_load(ai.iter().copied().filter(|c| c.has_specialty(&wanted)))
                .or_else(|| {
                    lowest_load(human.iter().copied().filter(|c| c.has_specialty(&wanted)))
                });
            if let Some(found) = specialist {
                return Some(Choice::of(found, reason::BY_SPECIALTY));
            }
        }
        return lowest_load(ai.iter().copied())
            .or_else(|| lowest_load(human.iter().copied()))
            .map(|c| Choice::of(c, reason::BY_SPECIALTY_FALLBACK));
    }

    by_method(settings.method, &ai, request.specialty, &mut cursors.ai).or_else(|| {
        by_method(
            settings.method,
            &human,
            request.specialty,
            &mut cursors.human,
        )
    })
}

fn sticky(eligible: &[&Candidate], previous_owner: Option<&str>) -> Option<Choice> {
    let owner = previous_owner?;
    eligible
        .iter()
        .find(|c| c.id == owner)
        .map(|c| Choice::of(c, reason::STICKY))
}

/// Runs one method over candidates already known to have capacity.
fn by_method(
    method: Method,
    eligible: &[&Candidate],
    specialty: Option<&str>,
    cursor: &mut RoundRobinCursor,
) -> Option<Choice> {
    match method {
        Method::RoundRobin => {
            let chosen = round_robin(eligible, cursor)?;
            cursor.last_id = Some(chosen.id.clone());
            Some(Choice::of(chosen, reason::ROUND_ROBIN))
        }
        Method::ByLoad => {
            lowest_load(eligible.iter().copied()).map(|c| Choice::of(c, reason::BY_LOAD))
        }
        Method::BySpecialty => {
            if let Some(wanted) = requested_specialty(specialty) {
                let specialist = lowest_load(
                    eligible
                        .iter()
                        .copied()
                        .filter(|c| c.has_specialty(&wanted)),
                );
                if let Some(found) = specialist {
                    return Some(Choice::of(found, reason::BY_SPECIALTY));
                }
            }
            lowest_load(eligible.iter().copied())
                .map(|c| Choice::of(c, reason::BY_SPECIALTY_FALLBACK))
        }
        Method::ByPerformance => eligible
            .iter()
            .copied()
            .min_by(|a, b| {
                score(b.performance_score)
                    .total_cmp(&score(a.performance_score))
                    .then_with(|| load_order(a, b))
            })
            .map(|c| Choice::of(c, reason::BY_PERFORMANCE)),
        Method::ByPercentage => {
            by_percentage(eligible).map(|c| Choice::of(c, reason::BY_PERCENTAGE))
        }
    }
}

fn round_robin<'c>(eligible: &[&'c Candidate], cursor: &RoundRobinCursor) -> Option<&'c Candidate> {
    let smallest = eligible.iter().copied().min_by(|a, b| a.id.cmp(&b.id))?;
    let Some(last) = cursor.last_id.as_deref() else {
        return Some(smallest);
    };
    let next = eligible
        .iter()
        .copied()
        .filter(|c| c.id.as_str() > last)
        .min_by(|a, b| a.id.cmp(&b.id));
    Some(next.unwrap_or(smallest))
}

/// `a.active / a.max` against `b.active / b.max`, cross-multiplied so equal ratios
/// (1/2 and 2/4) tie exactly instead of depending on float rounding.
fn load_order(a: &Candidate, b: &Candidate) -> Ordering {
    let left = u64::from(a.active_conversations) * u64::from(b.max_conversations);
    let right = u64::from(b.active_conversations) * u64::from(a.max_conversations);
    left.cmp(&right)
        .then_with(|| a.active_conversations.cmp(&b.active_conversations))
        .then_with(|| a.id.cmp(&b.id))
}

fn lowest_load<'c>(candidates: impl Iterator<Item = &'c Candidate>) -> Option<&'c Candidate> {
    candidates.min_by(|a, b| load_order(a, b))
}

/// NaN would make the ordering meaningless, so it ranks below every real score; `+ 0.0`
/// turns -0.0 into 0.0 so `total_cmp` does not split them.
fn score(raw: f64) -> f64 {
    if raw.is_nan() {
        f64::NEG_INFINITY
    } else {
        raw + 0.0
    }
}

fn by_percentage<'c>(eligible: &[&'c Candidate]) -> Option<&'c Candidate> {
    let weighted: Vec<&Candidate> = eligible
        .iter()
        .copied()
        .filter(|c| c.percentage > 0)
        .collect();
    let (pool, equal_weights) = if weighted.is_empty() {
        (eligible.to_vec(), true)
    } else {
        (weighted, false)
    };
    let weight = |c: &Candidate| -> u128 {
        if equal_weights {
            1
        } else {
            u128::from(c.percentage)
        }
    };
    let total_weight: u128 = pool.iter().map(|c| weight(c)).sum();
    let total_assigned: u128 = pool.iter().map(|c| u128::from(c.assigned_total)).sum();

    // weight/W - assigned/A scaled by W·A (both positive) keeps the comparison in exact
    // integers: w·A - a·W. Before any assignment every share is zero, so the deficit is
    // the weight itself.
    let deficit = |c: &Candidate| -> i128 {
        if total_assigned == 0 {
            to_i128(weight(c))
        } else {
            to_i128(weight(c) * total_assigned)
                - to_i128(u128::from(c.assigned_total) * total_weight)
        }
    };
    pool.into_iter()
        .min_by(|a, b| deficit(b).cmp(&deficit(a)).then_with(|| a.id.cmp(&b.id)))
}

/// The products above stay far below 2^127 for any realistic count; saturating keeps an
/// absurd input from panicking the distributor.
fn to_i128(value: u128) -> i128 {
    i128::try_from(value).unwrap_or(i128::MAX)
}

fn requested_specialty(raw: Option<&str>) -> Option<String> {
    let folded = fold_specialty(raw?);
    (!folded.is_empty()).then_some(folded)
}

/// Case- and accent-insensitive key: operators type "Suporte Técnico", "suporte tecnico"
/// and "SUPORTE TÉCNICO" for the same thing. Covers precomposed Latin-1 letters (what
/// Portuguese and Spanish text uses) and drops combining marks for decomposed input.
fn fold_specialty(raw: &str) -> String {
    raw.trim()
        .chars()
        .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            'ý' | 'ÿ' => 'y',
            other => other,
        })
        .collect()
}

/// Queue priority. Declaration order is serving order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Critical,
    High,
    // The legacy schema defaulted priority to "normal".
    #[default]
    #[serde(alias = "normal")]
    Medium,
    Low,
}

impl Priority {
    pub const ALL: [Priority; 4] = [
        Priority::Critical,
        Priority::High,
        Priority::Medium,
        Priority::Low,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::High => "high",
            Priority::Medium => "medium",
            Priority::Low => "low",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "critical" => Some(Priority::Critical),
            "high" => Some(Priority::High),
            "medium" | "normal" => Some(Priority::Medium),
            "low" => Some(Priority::Low),
            _ => None,
        }
    }

    /// Smaller is served first: Critical is 0, Low is 3.
    pub fn rank(self) -> u8 {
        match self {
            Priority::Critical => 0,
            Priority::High => 1,
            Priority::Medium => 2,
            Priority::Low => 3,
        }
    }
}

/// Queue order for `(priority, enqueued_at)` pairs: `Less` means `a` is served first.
/// Higher priority first, then older first, so equal priorities are FIFO and a flood of
/// low-priority work cannot delay a critical conversation.
pub fn queue_order(a: (&Priority, NaiveDateTime), b: (&Priority, NaiveDateTime)) -> Ordering {
    a.0.rank().cmp(&b.0.rank()).then_with(|| a.1.cmp(&b.1))
}

/// When the first response is due, or `None` when the SLA is off (`first_response_minutes
/// == 0`). The actor schedules its SLA check for this instant.
pub fn first_response_deadline(
    assigned_at: NaiveDateTime,
    first_response_minutes: u32,
) -> Option<NaiveDateTime> {
    if first_response_minutes == 0 {
        return None;
    }
    assigned_at.checked_add_signed(Duration::minutes(i64::from(first_response_minutes)))
}

/// Whether the first-response SLA is broken: the response came after the deadline, or has
/// not come and `now` is past it. Exactly at the deadline is still on time. Always false
/// when the SLA is off.
pub fn first_response_late(
    assigned_at: NaiveDateTime,
    first_response_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
    first_response_minutes: u32,
) -> bool {
    match first_response_deadline(assigned_at, first_response_minutes) {
        None => false,
        Some(deadline) => first_response_at.unwrap_or(now) > deadline,
    }
}

/// Whether a queued conversation has waited longer than `max_queue_wait_minutes` (0 = no
/// limit), at which point the distributor escalates it instead of waiting further.
pub fn queue_wait_exceeded(
    enqueued_at: NaiveDateTime,
    now: NaiveDateTime,
    max_queue_wait_minutes: u32,
) -> bool {
    max_queue_wait_minutes != 0
        && now - enqueued_at > Duration::minutes(i64::from(max_queue_wait_minutes))
}

/// A tenant's distribution settings, stored as JSON. Missing fields take their defaults so
/// `{}` is valid; unknown fields are rejected so a typo does not silently do nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DistributionSettings {
    pub method: Method,
    /// Include AI agents among the candidates.
    pub assign_to_ai_agent: bool,
    /// Try AI agents before humans; requires `assign_to_ai_agent`.
    pub prefer_ai: bool,
    /// Escalate a conversation queued longer than this; 0 = wait indefinitely.
    pub max_queue_wait_minutes: u32,
    /// Reassign when the first response takes longer than this; 0 = SLA off.
    pub first_response_minutes: u32,
    /// Give a returning contact to its previous owner when that owner has capacity.
    pub sticky: bool,
    /// Days of record `by_performance` scores each candidate on (`domain::performance`).
    pub performance_window_days: u32,
    /// `by_percentage`: percent of assignments per human or AI agent id, summing to 100.
    /// Someone not listed gets work only when nobody listed has room; empty = equal shares.
    pub shares: BTreeMap<String, u32>,
}

impl Default for DistributionSettings {
    /// AI is opt-in, since it costs money per turn; stickiness and a 5-minute first
    /// response SLA are what the legacy system shipped with.
    fn default() -> Self {
        DistributionSettings {
            method: Method::RoundRobin,
            assign_to_ai_agent: false,
            prefer_ai: false,
            max_queue_wait_minutes: 30,
            first_response_minutes: 5,
            sticky: true,
            performance_window_days: DEFAULT_PERFORMANCE_WINDOW_DAYS,
            shares: BTreeMap::new(),
        }
    }
}

impl DistributionSettings {
    /// Returns an error message that starts with the offending field's name.
    pub fn validate(&self) -> Result<(), String> {
        if self.prefer_ai && !self.assign_to_ai_agent {
            return Err("prefer_ai: requires assign_to_ai_agent to be true".to_owned());
        }
        if self.max_queue_wait_minutes > MAX_SETTING_MINUTES {
            return Err(format!(
                "max_queue_wait_minutes: must be at most {MAX_SETTING_MINUTES} (0 = no limit)"
            ));
        }
        if self.first_response_minutes > MAX_SETTING_MINUTES {
            return Err(format!(
                "first_response_minutes: must be at most {MAX_SETTING_MINUTES} (0 = SLA off)"
            ));
        }
        if !(1..=MAX_PERFORMANCE_WINDOW_DAYS).contains(&self.performance_window_days) {
            return Err(format!(
                "performance_window_days: must be between 1 and {MAX_PERFORMANCE_WINDOW_DAYS}"
            ));
        }
        if let Some((id, _)) = self.shares.iter().find(|(_, share)| **share > 100) {
            return Err(format!("shares: the share of {id} must be at most 100"));
        }
        let total: u32 = self.shares.values().sum();
        if !self.shares.is_empty() && total != 100 {
            return Err(format!(
                "shares: must add up to 100 (they add up to {total})"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn human(id: &str, active: u32, max: u32) -> Candidate {
        Candidate {
            id: id.to_owned(),
            kind: CandidateKind::Human,
            active_conversations: active,
            max_conversations: max,
            specialties: Vec::new(),
            performance_score: 0.5,
            percentage: 0,
            assigned_total: 0,
            available: true,
        }
    }

    fn ai(id: &str, active: u32, max: u32) -> Candidate {
        Candidate {
            kind: CandidateKind::Ai,
            ..human(id, active, max)
        }
    }

    fn with_specialties(mut c: Candidate, specialties: &[&str]) -> Candidate {
        c.specialties = specialties.iter().map(|s| (*s).to_owned()).collect();
        c
    }

    fn with_score(mut c: Candidate, score: f64) -> Candidate {
        c.performance_score = score;
        c
    }

    fn with_weight(mut c: Candidate, percentage: u32, assigned_total: u64) -> Candidate {
        c.percentage = percentage;
        c.assigned_total = assigned_total;
        c
    }

    fn pick(method: Method, candidates: &[Candidate], request: &Request) -> Option<Choice> {
        choose(
            method,
            candidates,
            request,
            &mut RoundRobinCursor::default(),
        )
    }

    fn picked(
        method: Method,
        candidates: &[Candidate],
        request: &Request,
    ) -> (String, &'static str) {
        let choice = pick(method, candidates, request).expect("someone has capacity");
        (choice.id, choice.reason)
    }

    fn at(h: u32, m: u32, s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 3, 10)
            .and_then(|d| d.and_hms_opt(h, m, s))
            .expect("valid time")
    }

    /// A fixed team used by several methods: loads 3/10, 1/5, 4/8, 0/2 (full: 2/2).
    fn team() -> Vec<Candidate> {
        vec![
            with_score(with_specialties(human("ana", 3, 10), &["Vendas"]), 0.9),
            with_score(
                with_specialties(human("bruno", 1, 5), &["Suporte Técnico"]),
                0.7,
            ),
            with_score(
                with_specialties(human("carla", 4, 8), &["suporte tecnico"]),
                0.95,
            ),
            with_score(ai("davi-ia", 2, 2), 1.0),
        ]
    }

    #[test]
    fn capacity_needs_availability_room_and_nonzero_max() {
        assert!(human("a", 0, 1).has_capacity());
        assert!(!human("a", 1, 1).has_capacity());
        assert!(!human("a", 0, 0).has_capacity());
        let mut offline = human("a", 0, 5);
        offline.available = false;
        assert!(!offline.has_capacity());
    }

    #[test]
    fn nobody_eligible_gives_none() {
        let full = vec![human("a", 2, 2), human("b", 0, 0)];
        for method in Method::ALL {
            assert_eq!(pick(method, &full, &Request::default()), None, "{method:?}");
            assert_eq!(pick(method, &[], &Request::default()), None, "{method:?}");
        }
    }

    #[test]
    fn by_load_picks_lowest_ratio() {
        // ratios: ana .3, bruno .2, carla .5; davi-ia is full.
        assert_eq!(
            picked(Method::ByLoad, &team(), &Request::default()),
            ("bruno".to_owned(), "by_load")
        );
    }

    #[test]
    fn by_load_ties_on_ratio_then_active_then_id() {
        // 1/2 == 2/4: fewer active wins even though "a" sorts first.
        let candidates = vec![human("a", 2, 4), human("b", 1, 2)];
        assert_eq!(
            picked(Method::ByLoad, &candidates, &Request::default()).0,
            "b"
        );
        let candidates = vec![human("b", 1, 3), human("a", 1, 3)];
        assert_eq!(
            picked(Method::ByLoad, &candidates, &Request::default()).0,
            "a"
        );
    }

    #[test]
    fn by_specialty_matches_ignoring_case_and_accents() {
        let request = Request {
            specialty: Some("  SUPORTE TÉCNICO "),
            previous_owner: None,
        };
        // bruno (.2) and carla (.5) both match; bruno has the lower load.
        assert_eq!(
            picked(Method::BySpecialty, &team(), &request),
            ("bruno".to_owned(), "by_specialty")
        );
        let request = Request {
            specialty: Some("vendas"),
            previous_owner: None,
        };
        // ana is not the least loaded overall, but the only specialist.
        assert_eq!(
            picked(Method::BySpecialty, &team(), &request),
            ("ana".to_owned(), "by_specialty")
        );
    }

    #[test]
    fn by_specialty_folds_decomposed_accents() {
        let candidates = vec![
            human("a", 0, 5),
            with_specialties(human("b", 4, 5), &["Cobranc\u{327}a"]),
        ];
        let request = Request {
            specialty: Some("Cobrança"),
            previous_owner: None,
        };
        assert_eq!(
            picked(Method::BySpecialty, &candidates, &request),
            ("b".to_owned(), "by_specialty")
        );
    }

    #[test]
    fn by_specialty_falls_back_to_load() {
        let fallback = ("bruno".to_owned(), "by_specialty_fallback");
        for specialty in [None, Some(""), Some("   "), Some("jurídico")] {
            let request = Request {
                specialty,
                previous_owner: None,
            };
            assert_eq!(picked(Method::BySpecialty, &team(), &request), fallback);
        }
    }

    #[test]
    fn by_specialty_ignores_full_specialists() {
        let candidates = vec![
            with_specialties(human("a", 5, 5), &["vendas"]),
            human("b", 3, 5),
            human("c", 1, 5),
        ];
        let request = Request {
            specialty: Some("vendas"),
            previous_owner: None,
        };
        assert_eq!(
            picked(Method::BySpecialty, &candidates, &request),
            ("c".to_owned(), "by_specialty_fallback")
        );
    }

    #[test]
    fn by_performance_picks_best_eligible_score() {
        // davi-ia has 1.0 but is full; carla's .95 beats ana's .9.
        assert_eq!(
            picked(Method::ByPerformance, &team(), &Request::default()),
            ("carla".to_owned(), "by_performance")
        );
    }

    #[test]
    fn by_performance_ties_by_load_then_id_and_nan_is_worst() {
        let candidates = vec![
            with_score(human("a", 3, 5), 0.8),
            with_score(human("b", 1, 5), 0.8),
            with_score(human("c", 0, 5), f64::NAN),
        ];
        assert_eq!(
            picked(Method::ByPerformance, &candidates, &Request::default()).0,
            "b"
        );
        let candidates = vec![
            with_score(human("b", 1, 5), 0.0),
            with_score(human("a", 1, 5), -0.0),
            with_score(human("c", 0, 5), f64::NAN),
        ];
        assert_eq!(
            picked(Method::ByPerformance, &candidates, &Request::default()).0,
            "a"
        );
    }

    #[test]
    fn round_robin_rotates_fairly_in_id_order() {
        // Given out of order: the rule sorts by id itself.
        let candidates = vec![human("c", 0, 9), human("a", 0, 9), human("b", 0, 9)];
        let mut cursor = RoundRobinCursor::default();
        let picks: Vec<String> = (0..6)
            .map(|_| {
                let choice = choose(
                    Method::RoundRobin,
                    &candidates,
                    &Request::default(),
                    &mut cursor,
                )
                .expect("capacity");
                assert_eq!(choice.reason, "round_robin");
                choice.id
            })
            .collect();
        assert_eq!(picks, ["a", "b", "c", "a", "b", "c"]);
        assert_eq!(cursor.last_id.as_deref(), Some("c"));
    }

    #[test]
    fn round_robin_skips_full_and_survives_departures() {
        let mut candidates = vec![human("a", 0, 9), human("b", 9, 9), human("c", 0, 9)];
        let mut cursor = RoundRobinCursor::default();
        let next = |candidates: &[Candidate], cursor: &mut RoundRobinCursor| {
            choose(Method::RoundRobin, candidates, &Request::default(), cursor)
                .expect("capacity")
                .id
        };
        assert_eq!(next(&candidates, &mut cursor), "a");
        assert_eq!(next(&candidates, &mut cursor), "c");
        // The last one picked leaves: rotation continues from its position, not index 0+1.
        candidates.retain(|c| c.id != "c");
        candidates.push(human("d", 0, 9));
        candidates[1].active_conversations = 0;
        assert_eq!(next(&candidates, &mut cursor), "d");
        assert_eq!(next(&candidates, &mut cursor), "a");
        assert_eq!(next(&candidates, &mut cursor), "b");
    }

    #[test]
    fn round_robin_is_deterministic_for_a_cursor() {
        let candidates = vec![human("a", 0, 9), human("b", 0, 9), human("c", 0, 9)];
        let start = RoundRobinCursor {
            last_id: Some("b".to_owned()),
        };
        for _ in 0..3 {
            let mut cursor = start.clone();
            let choice = choose(
                Method::RoundRobin,
                &candidates,
                &Request::default(),
                &mut cursor,
            );
            assert_eq!(choice.map(|c| c.id).as_deref(), Some("c"));
        }
    }

    #[test]
    fn by_percentage_starts_with_highest_weight() {
        let candidates = vec![
            with_weight(human("a", 0, 9), 30, 0),
            with_weight(human("b", 0, 9), 70, 0),
        ];
        assert_eq!(
            picked(Method::ByPercentage, &candidates, &Request::default()),
            ("b".to_owned(), "by_percentage")
        );
    }

    #[test]
    fn by_percentage_picks_largest_deficit() {
        // Weights .5/.3/.2, shares .6/.3/.1: c is furthest below its weight.
        let candidates = vec![
            with_weight(human("a", 0, 9), 50, 6),
            with_weight(human("b", 0, 9), 30, 3),
            with_weight(human("c", 0, 9), 20, 1),
        ];
        assert_eq!(
            picked(Method::ByPercentage, &candidates, &Request::default()).0,
            "c"
        );
    }

    #[test]
    fn by_percentage_70_30_over_100_assignments() {
        let mut candidates = vec![
            with_weight(human("big", 0, 1000), 70, 0),
            with_weight(human("small", 0, 1000), 30, 0),
        ];
        for n in 1..=100u64 {
            let choice =
                pick(Method::ByPercentage, &candidates, &Request::default()).expect("capacity");
            let chosen = candidates
                .iter_mut()
                .find(|c| c.id == choice.id)
                .expect("chosen is a candidate");
            chosen.assigned_total += 1;
            chosen.active_conversations += 1;
            // Smooth, not bursty: never more than one assignment off the target.
            let big = candidates[0].assigned_total as f64;
            assert!((big - 0.7 * n as f64).abs() <= 1.0, "after {n}: big={big}");
        }
        assert_eq!(candidates[0].assigned_total, 70);
        assert_eq!(candidates[1].assigned_total, 30);
    }

    #[test]
    fn by_percentage_renormalizes_over_eligible_and_ignores_zero_weight() {
        // c (weight 50) is full, so a and b split 100% as 25/25 -> equal; tie by id.
        let candidates = vec![
            with_weight(human("b", 0, 9), 25, 4),
            with_weight(human("a", 0, 9), 25, 4),
            with_weight(human("c", 9, 9), 50, 0),
            with_weight(human("0-zero", 0, 9), 0, 0),
        ];
        assert_eq!(
            picked(Method::ByPercentage, &candidates, &Request::default()).0,
            "a"
        );
        // Only zero weights: everyone weighs the same, so the least assigned wins.
        let candidates = vec![
            with_weight(human("a", 0, 9), 0, 5),
            with_weight(human("b", 0, 9), 0, 2),
        ];
        assert_eq!(
            picked(Method::ByPercentage, &candidates, &Request::default()).0,
            "b"
        );
    }

    #[test]
    fn shares_hold_within_two_points_over_a_thousand_assignments() {
        // Humans and an AI agent, with a human away for a stretch in the middle: the others
        // absorb the gap and the shares still converge.
        let mut team = vec![
            with_weight(human("ana", 0, u32::MAX), 50, 0),
            with_weight(human("bia", 0, u32::MAX), 30, 0),
            with_weight(ai("bot", 0, u32::MAX), 20, 0),
        ];
        for n in 0..1_000 {
            team[1].available = !(200..260).contains(&n);
            let choice = pick(Method::ByPercentage, &team, &Request::default()).expect("room");
            assert_eq!(choice.reason, "by_percentage");
            let chosen = team
                .iter_mut()
                .find(|c| c.id == choice.id)
                .expect("a candidate");
            chosen.assigned_total += 1;
        }
        for c in &team {
            let share = c.assigned_total as f64 / 10.0;
            assert!(
                (share - f64::from(c.percentage)).abs() <= 2.0,
                "{} got {share}% for a share of {}%",
                c.id,
                c.percentage
            );
        }
    }

    #[test]
    fn shares_validation() {
        let shares = |pairs: &[(&str, u32)]| DistributionSettings {
            method: Method::ByPercentage,
            shares: pairs.iter().map(|(id, p)| ((*id).to_owned(), *p)).collect(),
            ..DistributionSettings::default()
        };
        assert_eq!(shares(&[]).validate(), Ok(()));
        assert_eq!(shares(&[("a", 70), ("b", 30)]).validate(), Ok(()));
        assert_eq!(shares(&[("a", 100), ("b", 0)]).validate(), Ok(()));
        for bad in [
            shares(&[("a", 70), ("b", 20)]),
            shares(&[("a", 101)]),
            shares(&[("a", 60), ("b", 60)]),
        ] {
            assert!(bad.validate().expect_err("invalid").starts_with("shares"));
        }
        let window = |days| DistributionSettings {
            performance_window_days: days,
            ..DistributionSettings::default()
        };
        assert!(window(0)
            .validate()
            .expect_err("invalid")
            .starts_with("performance_window_days"));
        assert!(window(MAX_PERFORMANCE_WINDOW_DAYS + 1).validate().is_err());
        assert_eq!(window(7).validate(), Ok(()));
    }

    #[test]
    fn sticky_wins_over_every_method() {
        let request = Request {
            specialty: Some("vendas"),
            previous_owner: Some("carla"),
        };
        for method in Method::ALL {
            let mut cursor = RoundRobinCursor::default();
            let choice = choose(method, &team(), &request, &mut cursor).expect("capacity");
            assert_eq!(
                (choice.id.as_str(), choice.reason),
                ("carla", "sticky"),
                "{method:?}"
            );
            // A sticky assignment is not a rotation step.
            assert_eq!(cursor, RoundRobinCursor::default());
        }
    }

    #[test]
    fn sticky_owner_without_capacity_falls_through() {
        let request = Request {
            specialty: None,
            previous_owner: Some("davi-ia"),
        };
        assert_eq!(
            picked(Method::ByLoad, &team(), &request),
            ("bruno".to_owned(), "by_load")
        );
        let request = Request {
            specialty: None,
            previous_owner: Some("someone-who-left"),
        };
        assert_eq!(picked(Method::ByLoad, &team(), &request).0, "bruno");
    }

    #[test]
    fn full_and_offline_candidates_are_skipped_by_every_method() {
        let mut offline = with_weight(with_score(human("a-off", 0, 9), 1.0), 90, 0);
        offline.available = false;
        offline.specialties = vec!["vendas".to_owned()];
        let full = with_weight(with_score(human("b-full", 9, 9), 1.0), 90, 0);
        let only = with_weight(with_score(human("z", 8, 9), 0.1), 10, 50);
        let candidates = vec![offline, full, only];
        let request = Request {
            specialty: Some("vendas"),
            previous_owner: Some("a-off"),
        };
        for method in Method::ALL {
            assert_eq!(
                pick(method, &candidates, &request).map(|c| c.id).as_deref(),
                Some("z")
            );
        }
    }

    #[test]
    fn settings_exclude_ai_unless_enabled() {
        let candidates = vec![ai("a-bot", 0, 50), human("b", 5, 10)];
        let mut cursors = RoundRobinCursors::default();
        let mut settings = DistributionSettings {
            method: Method::ByLoad,
            ..DistributionSettings::default()
        };
        let choice =
            choose_with_settings(&settings, &candidates, &Request::default(), &mut cursors);
        assert_eq!(choice.map(|c| c.id).as_deref(), Some("b"));

        settings.assign_to_ai_agent = true;
        let choice =
            choose_with_settings(&settings, &candidates, &Request::default(), &mut cursors)
                .expect("capacity");
        assert_eq!(
            (choice.id.as_str(), choice.kind),
            ("a-bot", CandidateKind::Ai)
        );

        // AI disabled and only AI has room: queue rather than hand it to a bot.
        settings.assign_to_ai_agent = false;
        let only_ai = vec![ai("a-bot", 0, 50), human("b", 10, 10)];
        assert_eq!(
            choose_with_settings(&settings, &only_ai, &Request::default(), &mut cursors),
            None
        );
    }

    #[test]
    fn settings_sticky_flag_and_prefer_ai() {
        let candidates = vec![human("a", 0, 10), ai("z-bot", 9, 10), human("b", 0, 10)];
        let mut cursors = RoundRobinCursors::default();
        let settings = DistributionSettings {
            method: Method::ByLoad,
            assign_to_ai_agent: true,
            prefer_ai: true,
            sticky: true,
            ..DistributionSettings::default()
        };
        let request = Request {
            specialty: None,
            previous_owner: Some("b"),
        };
        let choice =
            choose_with_settings(&settings, &candidates, &request, &mut cursors).expect("capacity");
        assert_eq!((choice.id.as_str(), choice.reason), ("b", "sticky"));

        let not_sticky = DistributionSettings {
            sticky: false,
            ..settings.clone()
        };
        let choice = choose_with_settings(&not_sticky, &candidates, &request, &mut cursors)
            .expect("capacity");
        // The AI is far more loaded than the humans, but preferred.
        assert_eq!((choice.id.as_str(), choice.reason), ("z-bot", "by_load"));

        let ai_full = vec![human("a", 3, 10), ai("z-bot", 10, 10), human("b", 0, 10)];
        let choice =
            choose_with_settings(&not_sticky, &ai_full, &request, &mut cursors).expect("capacity");
        assert_eq!(choice.id, "b");
    }

    #[test]
    fn prefer_ai_rotates_each_pool_separately() {
        let settings = DistributionSettings {
            method: Method::RoundRobin,
            assign_to_ai_agent: true,
            prefer_ai: true,
            ..DistributionSettings::default()
        };
        let ai_free = vec![ai("a-bot", 0, 9), human("h1", 0, 9), human("h2", 0, 9)];
        let ai_full = vec![ai("a-bot", 9, 9), human("h1", 0, 9), human("h2", 0, 9)];
        let mut cursors = RoundRobinCursors::default();
        let mut picks = Vec::new();
        for candidates in [&ai_full, &ai_free, &ai_full, &ai_free, &ai_full] {
            let choice =
                choose_with_settings(&settings, candidates, &Request::default(), &mut cursors)
                    .expect("capacity");
            picks.push(choice.id);
        }
        // An AI assignment in between does not send the next human pick back to h1.
        assert_eq!(picks, ["h1", "a-bot", "h2", "a-bot", "h1"]);
    }

    #[test]
    fn prefer_ai_by_specialty_prefers_any_specialist_over_generic_ai() {
        let settings = DistributionSettings {
            method: Method::BySpecialty,
            assign_to_ai_agent: true,
            prefer_ai: true,
            ..DistributionSettings::default()
        };
        let mut cursors = RoundRobinCursors::default();
        let candidates = vec![
            ai("bot-generic", 0, 50),
            with_specialties(ai("bot-sales", 40, 50), &["vendas"]),
            with_specialties(human("h-billing", 0, 5), &["cobrança"]),
        ];
        let ask = |specialty: &'static str| Request {
            specialty: Some(specialty),
            previous_owner: None,
        };
        let run = |request: Request, cursors: &mut RoundRobinCursors| {
            let choice =
                choose_with_settings(&settings, &candidates, &request, cursors).expect("capacity");
            (choice.id, choice.reason)
        };
        assert_eq!(
            run(ask("Vendas"), &mut cursors),
            ("bot-sales".to_owned(), "by_specialty")
        );
        assert_eq!(
            run(ask("cobranca"), &mut cursors),
            ("h-billing".to_owned(), "by_specialty")
        );
        assert_eq!(
            run(ask("jurídico"), &mut cursors),
            ("bot-generic".to_owned(), "by_specialty_fallback")
        );
    }

    #[test]
    fn method_wire_format() {
        for method in Method::ALL {
            let json = serde_json::to_string(&method).expect("serialize");
            assert_eq!(json, format!("\"{}\"", method.as_str()));
            assert_eq!(
                serde_json::from_str::<Method>(&json).expect("parse"),
                method
            );
            assert_eq!(Method::parse(method.as_str()), Some(method));
        }
        assert_eq!(
            serde_json::from_str::<Method>("\"percentage\"").expect("legacy name"),
            Method::ByPercentage
        );
        assert!(serde_json::from_str::<Method>("\"random\"").is_err());
        assert_eq!(Method::parse("RoundRobin"), None);
    }

    #[test]
    fn priority_wire_format_and_rank() {
        for (priority, name) in Priority::ALL
            .iter()
            .zip(["critical", "high", "medium", "low"])
        {
            assert_eq!(priority.as_str(), name);
            assert_eq!(Priority::parse(name), Some(*priority));
            let json = serde_json::to_string(priority).expect("serialize");
            assert_eq!(json, format!("\"{name}\""));
        }
        assert_eq!(Priority::parse("normal"), Some(Priority::Medium));
        assert_eq!(
            serde_json::from_str::<Priority>("\"normal\"").expect("legacy name"),
            Priority::Medium
        );
        assert_eq!(Priority::parse("urgent"), None);
        assert!(Priority::Critical.rank() < Priority::High.rank());
        assert!(Priority::High.rank() < Priority::Medium.rank());
        assert!(Priority::Medium.rank() < Priority::Low.rank());
        assert_eq!(Priority::default(), Priority::Medium);
    }

    #[test]
    fn queue_serves_priority_then_fifo() {
        let mut queue = [
            ("low-old", Priority::Low, at(8, 0, 0)),
            ("med-new", Priority::Medium, at(9, 30, 0)),
            ("crit-new", Priority::Critical, at(9, 59, 0)),
            ("med-old", Priority::Medium, at(9, 0, 0)),
            ("high", Priority::High, at(9, 45, 0)),
            ("crit-old", Priority::Critical, at(9, 10, 0)),
        ];
        queue.sort_by(|a, b| queue_order((&a.1, a.2), (&b.1, b.2)));
        let order: Vec<&str> = queue.iter().map(|q| q.0).collect();
        assert_eq!(
            order,
            ["crit-old", "crit-new", "high", "med-old", "med-new", "low-old"]
        );
        assert_eq!(
            queue_order(
                (&Priority::High, at(9, 0, 0)),
                (&Priority::High, at(9, 0, 0))
            ),
            Ordering::Equal
        );
    }

    #[test]
    fn first_response_sla() {
        let assigned = at(10, 0, 0);
        // Unanswered: late only strictly after the deadline.
        assert!(!first_response_late(assigned, None, at(10, 4, 59), 5));
        assert!(!first_response_late(assigned, None, at(10, 5, 0), 5));
        assert!(first_response_late(assigned, None, at(10, 5, 1), 5));
        // Answered: judged by the response time, whatever `now` is.
        assert!(!first_response_late(
            assigned,
            Some(at(10, 3, 0)),
            at(18, 0, 0),
            5
        ));
        assert!(first_response_late(
            assigned,
            Some(at(10, 6, 0)),
            at(10, 6, 0),
            5
        ));
        // SLA off.
        assert!(!first_response_late(assigned, None, at(23, 0, 0), 0));
        assert_eq!(first_response_deadline(assigned, 5), Some(at(10, 5, 0)));
        assert_eq!(first_response_deadline(assigned, 0), None);
    }

    #[test]
    fn queue_wait_limit() {
        let enqueued = at(10, 0, 0);
        assert!(!queue_wait_exceeded(enqueued, at(10, 30, 0), 30));
        assert!(queue_wait_exceeded(enqueued, at(10, 30, 1), 30));
        assert!(!queue_wait_exceeded(enqueued, at(23, 0, 0), 0));
    }

    #[test]
    fn settings_defaults_and_unknown_fields() {
        let empty: DistributionSettings = serde_json::from_str("{}").expect("defaults");
        assert_eq!(empty, DistributionSettings::default());
        assert_eq!(empty.validate(), Ok(()));

        let partial: DistributionSettings =
            serde_json::from_str(r#"{"method":"by_specialty","assign_to_ai_agent":true}"#)
                .expect("partial");
        assert_eq!(partial.method, Method::BySpecialty);
        assert!(partial.assign_to_ai_agent);
        assert!(partial.sticky);

        assert!(serde_json::from_str::<DistributionSettings>(r#"{"metod":"by_load"}"#).is_err());

        let round_trip: DistributionSettings =
            serde_json::from_value(serde_json::to_value(&partial).expect("serialize"))
                .expect("round trip");
        assert_eq!(round_trip, partial);
    }

    #[test]
    fn settings_validation_names_the_field() {
        let bad = DistributionSettings {
            prefer_ai: true,
            ..DistributionSettings::default()
        };
        assert!(bad
            .validate()
            .expect_err("invalid")
            .starts_with("prefer_ai"));

        let bad = DistributionSettings {
            max_queue_wait_minutes: MAX_SETTING_MINUTES + 1,
            ..DistributionSettings::default()
        };
        assert!(bad
            .validate()
            .expect_err("invalid")
            .starts_with("max_queue_wait_minutes"));

        let bad = DistributionSettings {
            first_response_minutes: 100_000,
            ..DistributionSettings::default()
        };
        assert!(bad
            .validate()
            .expect_err("invalid")
            .starts_with("first_response_minutes"));

        let edge = DistributionSettings {
            max_queue_wait_minutes: MAX_SETTING_MINUTES,
            first_response_minutes: 0,
            assign_to_ai_agent: true,
            prefer_ai: true,
            ..DistributionSettings::default()
        };
        assert_eq!(edge.validate(), Ok(()));
    }
}
