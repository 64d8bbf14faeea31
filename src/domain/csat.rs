//! Customer satisfaction: reading a rating out of the customer's reply, and summing ratings
//! up by agent, category, channel and day.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

/// The 1–5 rating a reply gives, if it is one: the digit alone, give or take spaces, a
/// trailing full stop or exclamation mark, or the web chat widget's `csat:N`. Anything else
/// ("5 dias de atraso", "10") is an ordinary message.
pub fn parse_rating(text: &str) -> Option<u8> {
    let trimmed = text.trim();
    let bare = trimmed.strip_prefix("csat:").unwrap_or(trimmed);
    let bare = bare.trim_end_matches(['.', '!']).trim();
    match bare.as_bytes() {
        [digit @ b'1'..=b'5'] => Some(digit - b'0'),
        _ => None,
    }
}

/// One rating, with what it is reported by.
#[derive(Debug, Clone, PartialEq)]
pub struct Rated {
    /// `user` or `ai_agent` (who served the conversation when it closed); none when queued.
    pub owner_type: Option<String>,
    pub owner_id: Option<String>,
    pub category: Option<String>,
    pub channel: String,
    /// YYYY-MM-DD (UTC) of the rating.
    pub day: String,
    pub rating: u8,
}

/// Ratings of one group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct CsatScore {
    pub rated: u64,
    /// Mean rating 1..=5, two decimals; none without ratings.
    pub average: Option<f64>,
    /// Ratings 4 and 5 over all ratings (the usual "CSAT %"), 0..=1.
    pub satisfied_share: f64,
    /// How many of each rating, "1".."5".
    pub distribution: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CsatGroup {
    /// The agent's id, the category, the channel or the day; `none` for conversations without.
    pub key: String,
    /// For `by_agent`: `user` (human) or `ai_agent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_type: Option<String>,
    #[serde(flatten)]
    pub score: CsatScore,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CsatSummary {
    #[serde(flatten)]
    pub overall: CsatScore,
    pub by_agent: Vec<CsatGroup>,
    pub by_category: Vec<CsatGroup>,
    pub by_channel: Vec<CsatGroup>,
    pub by_day: Vec<CsatGroup>,
}

#[derive(Default)]
struct Tally {
    counts: [u64; 5],
}

impl Tally {
    fn add(&mut self, rating: u8) {
        if let Some(slot) = usize::from(rating)
            .checked_sub(1)
            .and_then(|i| self.counts.get_mut(i))
        {
            *slot += 1;
        }
    }

    fn score(&self) -> CsatScore {
        let rated: u64 = self.counts.iter().sum();
        let sum: u64 = self
            .counts
            .iter()
            .zip(1u64..)
            .map(|(n, value)| n * value)
            .sum();
        let satisfied = self.counts[3] + self.counts[4];
        let share = |part: u64| {
            if rated == 0 {
                0.0
            } else {
                part as f64 / rated as f64
            }
        };
        CsatScore {
            rated,
            average: (rated > 0).then(|| (share(sum) * 100.0).round() / 100.0),
            satisfied_share: (share(satisfied) * 10_000.0).round() / 10_000.0,
            distribution: (1..=5)
                .zip(self.counts)
                .map(|(value, n)| (value.to_string(), n))
                .collect(),
        }
    }
}

fn groups(ratings: &[Rated], key: impl Fn(&Rated) -> (String, Option<String>)) -> Vec<CsatGroup> {
    let mut tallies: BTreeMap<(String, Option<String>), Tally> = BTreeMap::new();
    for r in ratings {
        tallies.entry(key(r)).or_default().add(r.rating);
    }
    tallies
        .into_iter()
        .map(|((key, owner_type), tally)| CsatGroup {
            key,
            owner_type,
            score: tally.score(),
        })
        .collect()
}

/// Sums ratings up overall and by agent (human and AI alike), category, channel and day.
pub fn summarize(ratings: &[Rated]) -> CsatSummary {
    let mut overall = Tally::default();
    for r in ratings {
        overall.add(r.rating);
    }
    let none = || "none".to_string();
    CsatSummary {
        overall: overall.score(),
        by_agent: groups(ratings, |r| {
            (
                r.owner_id.clone().unwrap_or_else(none),
                Some(r.owner_type.clone().unwrap_or_else(none)),
            )
        }),
        by_category: groups(ratings, |r| (r.category.clone().unwrap_or_else(none), None)),
        by_channel: groups(ratings, |r| (r.channel.clone(), None)),
        by_day: groups(ratings, |r| (r.day.clone(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_lone_digit_from_one_to_five_is_a_rating() {
        assert_eq!(parse_rating("5"), Some(5));
        assert_eq!(parse_rating(" 1 "), Some(1));
        assert_eq!(parse_rating("4!"), Some(4));
        assert_eq!(parse_rating("csat:3"), Some(3));
        for other in ["0", "6", "10", "5 dias", "nota 5", "", "cinco", "csat:9"] {
            assert_eq!(parse_rating(other), None, "{other}");
        }
    }

    fn rated(owner: (&str, &str), category: &str, channel: &str, day: &str, rating: u8) -> Rated {
        Rated {
            owner_type: Some(owner.0.into()),
            owner_id: Some(owner.1.into()),
            category: Some(category.into()),
            channel: channel.into(),
            day: day.into(),
            rating,
        }
    }

    #[test]
    fn ratings_sum_up_by_agent_category_channel_and_day() {
        let ana = ("user", "ana");
        let bot = ("ai_agent", "bot");
        let ratings = [
            rated(ana, "support", "whatsapp", "2026-03-01", 5),
            rated(ana, "support", "webchat", "2026-03-01", 4),
            rated(bot, "commercial", "whatsapp", "2026-03-02", 2),
        ];
        let s = summarize(&ratings);
        assert_eq!(s.overall.rated, 3);
        assert_eq!(s.overall.average, Some(3.67));
        assert_eq!(s.overall.satisfied_share, 0.6667);
        assert_eq!(s.overall.distribution["5"], 1);
        assert_eq!(s.overall.distribution["3"], 0);
        let by_agent: Vec<_> = s
            .by_agent
            .iter()
            .map(|g| (g.key.as_str(), g.owner_type.as_deref(), g.score.average))
            .collect();
        assert_eq!(
            by_agent,
            vec![
                ("ana", Some("user"), Some(4.5)),
                ("bot", Some("ai_agent"), Some(2.0))
            ]
        );
        let channels: Vec<_> = s
            .by_channel
            .iter()
            .map(|g| (g.key.as_str(), g.score.rated))
            .collect();
        assert_eq!(channels, vec![("webchat", 1), ("whatsapp", 2)]);
        assert_eq!(s.by_category.len(), 2);
        assert_eq!(s.by_day[1].key, "2026-03-02");
        assert_eq!(summarize(&[]).overall.average, None);
    }
}
