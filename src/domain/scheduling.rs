//! Scheduling, without I/O: reading a booking wish out of Portuguese or English chat text
//! (date and time words, e-mail, phone), working hours per weekday in a time zone, and the
//! free slots of a day given the events already booked.
//!
//! Text is matched after folding case and accents ("Amanhã às 15h" → "amanha as 15h"), so
//! customers who type without accents, as many do on phones, are understood the same way.

use std::sync::OnceLock;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use regex::Regex;
use serde::{Deserialize, Serialize};

/// What a message says about booking a meeting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BookingWish {
    /// The text asks for a meeting, a call or a slot.
    pub intent: bool,
    pub date: Option<NaiveDate>,
    pub time: Option<NaiveTime>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// Reads a booking wish; `today` is the date in the calendar's time zone.
pub fn read_wish(text: &str, today: NaiveDate) -> BookingWish {
    let email = extract_email(text);
    // Dates and e-mails contain digit runs that must not read as phone numbers.
    let mut rest = text.to_string();
    if let Some(e) = &email {
        rest = rest.replace(e.as_str(), " ");
    }
    let folded = fold(&rest);
    let date = extract_date(&folded, today);
    let time = extract_time(&folded);
    if let Some(re) = iso_date_re() {
        rest = re.replace_all(&rest, " ").into_owned();
    }
    if let Some(re) = slash_date_re() {
        rest = re.replace_all(&rest, " ").into_owned();
    }
    let phone = extract_phone(&rest);
    let keyword = has_keyword(&folded);
    BookingWish {
        intent: keyword || (date.is_some() && time.is_some()),
        date,
        time,
        email,
        phone,
    }
}

/// Lower case without diacritics, so keyword matching ignores both.
pub fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            other => other,
        })
        .collect()
}

/// Words that ask for a meeting. Words that are as often about stock or opening hours
/// ("disponível", "horário") are left out: a date and a time together still count.
const KEYWORDS: &[&str] = &[
    "marcar",
    "agendar",
    "agendamento",
    "agenda",
    "reuniao",
    "visita",
    "schedule",
    "book a",
    "booking",
    "meeting",
    "appointment",
    "call me",
];

fn has_keyword(folded: &str) -> bool {
    KEYWORDS.iter().any(|k| {
        folded.match_indices(k).any(|(at, _)| {
            let before = folded[..at].chars().next_back();
            before.is_none_or(|c| !c.is_alphanumeric())
        })
    })
}

/// Compiles a constant pattern once. The patterns are pinned by the unit tests; were one ever
/// invalid, it would match nothing instead of panicking a worker.
fn regex(cell: &'static OnceLock<Option<Regex>>, pattern: &str) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(pattern).ok()).as_ref()
}

fn email_re() -> Option<&'static Regex> {
    static CELL: OnceLock<Option<Regex>> = OnceLock::new();
    regex(
        &CELL,
        r"(?i)\b[a-z0-9][a-z0-9._%+-]*@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}\b",
    )
}

fn iso_date_re() -> Option<&'static Regex> {
    static CELL: OnceLock<Option<Regex>> = OnceLock::new();
    regex(&CELL, r"\b(\d{4})-(\d{2})-(\d{2})\b")
}

fn slash_date_re() -> Option<&'static Regex> {
    static CELL: OnceLock<Option<Regex>> = OnceLock::new();
    regex(&CELL, r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b")
}

pub fn extract_email(text: &str) -> Option<String> {
    email_re()?
        .find(text)
        .map(|m| m.as_str().trim_end_matches('.').to_lowercase())
}

/// A phone number: 10 to 15 digits (with area or country code), or a local
/// `9999-9999`/`99999-9999` number; separators (spaces, dots, dashes, parentheses) allowed.
pub fn extract_phone(text: &str) -> Option<String> {
    static CELL: OnceLock<Option<Regex>> = OnceLock::new();
    let re = regex(&CELL, r"\+?\(?\d[\d\s().-]{6,}\d")?;
    static LOCAL: OnceLock<Option<Regex>> = OnceLock::new();
    let local = regex(&LOCAL, r"^\d{4,5}-\d{4}$")?;
    re.find_iter(text).find_map(|m| {
        let raw = m.as_str().trim();
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        let plausible = (10..=15).contains(&digits.len())
            || (raw.starts_with('+') && digits.len() >= 8)
            || local.is_match(raw);
        plausible.then(|| {
            if raw.starts_with('+') {
                format!("+{digits}")
            } else {
                digits
            }
        })
    })
}

const PT_WEEKDAYS: &[(&str, Weekday)] = &[
    ("segunda", Weekday::Mon),
    ("terca", Weekday::Tue),
    ("quarta", Weekday::Wed),
    ("quinta", Weekday::Thu),
    ("sexta", Weekday::Fri),
    ("sabado", Weekday::Sat),
    ("domingo", Weekday::Sun),
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
];

fn word_at(folded: &str, word: &str) -> bool {
    folded.match_indices(word).any(|(at, _)| {
        let before = folded[..at].chars().next_back();
        let after = folded[at + word.len()..].chars().next();
        // "sexta-feira": a dash ends the word too.
        before.is_none_or(|c| !c.is_alphanumeric()) && after.is_none_or(|c| !c.is_alphanumeric())
    })
}

/// A date from words ("hoje", "amanhã", "depois de amanhã", weekdays, "dia 15") or digits
/// (`2026-03-05`, `05/03`, `05/03/2026`: day first, as in Brazil and Portugal).
pub fn extract_date(folded: &str, today: NaiveDate) -> Option<NaiveDate> {
    if let Some(c) = iso_date_re().and_then(|re| re.captures(folded)) {
        let (y, m, d) = (c[1].parse().ok()?, c[2].parse().ok()?, c[3].parse().ok()?);
        return NaiveDate::from_ymd_opt(y, m, d);
    }
    if let Some(c) = slash_date_re().and_then(|re| re.captures(folded)) {
        let d: u32 = c[1].parse().ok()?;
        let m: u32 = c[2].parse().ok()?;
        let y = match c.get(3) {
            Some(y) => {
                let y: i32 = y.as_str().parse().ok()?;
                if y < 100 {
                    2000 + y
                } else {
                    y
                }
            }
            None => {
                // No year: the next such date from today on.
                let this_year = NaiveDate::from_ymd_opt(today.year(), m, d)?;
                if this_year >= today {
                    today.year()
                } else {
                    today.year() + 1
                }
            }
        };
        return NaiveDate::from_ymd_opt(y, m, d);
    }
    if folded.contains("depois de amanha") || folded.contains("day after tomorrow") {
        return today.checked_add_signed(Duration::days(2));
    }
    if word_at(folded, "amanha") || word_at(folded, "tomorrow") {
        return today.checked_add_signed(Duration::days(1));
    }
    if word_at(folded, "hoje") || word_at(folded, "today") {
        return Some(today);
    }
    for (name, weekday) in PT_WEEKDAYS {
        if word_at(folded, name) {
            // The next such day; today's own name means a week from today.
            let ahead = (i64::from(weekday.num_days_from_monday())
                - i64::from(today.weekday().num_days_from_monday()))
            .rem_euclid(7);
            let ahead = if ahead == 0 { 7 } else { ahead };
            return today.checked_add_signed(Duration::days(ahead));
        }
    }
    static DIA: OnceLock<Option<Regex>> = OnceLock::new();
    if let Some(c) = regex(&DIA, r"\bdia (\d{1,2})\b").and_then(|re| re.captures(folded)) {
        let d: u32 = c[1].parse().ok()?;
        let this_month = NaiveDate::from_ymd_opt(today.year(), today.month(), d);
        return match this_month {
            Some(date) if date >= today => Some(date),
            _ => {
                let (y, m) = if today.month() == 12 {
                    (today.year() + 1, 1)
                } else {
                    (today.year(), today.month() + 1)
                };
                NaiveDate::from_ymd_opt(y, m, d)
            }
        };
    }
    None
}

/// A time of day: "15h", "15h30", "15:30", "às 15", "3pm", "3:30 pm", "10 da manhã",
/// "3 da tarde", "meio-dia", "noon".
pub fn extract_time(folded: &str) -> Option<NaiveTime> {
    if folded.contains("meio-dia") || folded.contains("meio dia") || word_at(folded, "noon") {
        return NaiveTime::from_hms_opt(12, 0, 0);
    }
    static AMPM: OnceLock<Option<Regex>> = OnceLock::new();
    if let Some(c) =
        regex(&AMPM, r"\b(\d{1,2})(?::(\d{2}))?\s*(am|pm)\b").and_then(|re| re.captures(folded))
    {
        let mut h: u32 = c[1].parse().ok()?;
        let m: u32 = c.get(2).map_or(Some(0), |m| m.as_str().parse().ok())?;
        if h == 0 || h > 12 {
            return None;
        }
        if &c[3] == "pm" && h != 12 {
            h += 12;
        } else if &c[3] == "am" && h == 12 {
            h = 0;
        }
        return NaiveTime::from_hms_opt(h, m, 0);
    }
    static PERIOD: OnceLock<Option<Regex>> = OnceLock::new();
    if let Some(c) = regex(
        &PERIOD,
        r"\b(\d{1,2})(?:h(\d{2})?|:(\d{2}))?\s*(?:horas?\s*)?da (manha|tarde|noite)\b",
    )
    .and_then(|re| re.captures(folded))
    {
        let mut h: u32 = c[1].parse().ok()?;
        let m: u32 = c
            .get(2)
            .or(c.get(3))
            .map_or(Some(0), |m| m.as_str().parse().ok())?;
        if &c[4] != "manha" && h < 12 {
            h += 12;
        }
        return NaiveTime::from_hms_opt(h, m, 0);
    }
    static HOURS: OnceLock<Option<Regex>> = OnceLock::new();
    if let Some(c) = regex(
        &HOURS,
        r"\b([01]?\d|2[0-3])(?:h([0-5]\d)?|:([0-5]\d))(?:\b|min)",
    )
    .and_then(|re| re.captures(folded))
    {
        let h: u32 = c[1].parse().ok()?;
        let m: u32 = c
            .get(2)
            .or(c.get(3))
            .map_or(Some(0), |m| m.as_str().parse().ok())?;
        return NaiveTime::from_hms_opt(h, m, 0);
    }
    static AS: OnceLock<Option<Regex>> = OnceLock::new();
    if let Some(c) = regex(
        &AS,
        r"\b(?:as|at|a partir das)\s+([01]?\d|2[0-3])(?:\s*horas?)?\b|\b([01]?\d|2[0-3])\s*horas?\b",
    )
    .and_then(|re| re.captures(folded))
    {
        let h: u32 = c.get(1).or(c.get(2))?.as_str().parse().ok()?;
        return NaiveTime::from_hms_opt(h, 0, 0);
    }
    None
}

/// Working hours: intervals per weekday, local to `tz`.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkingHours {
    pub tz: Tz,
    /// Index 0 = Monday.
    pub days: [Vec<(NaiveTime, NaiveTime)>; 7],
}

/// The stored form (`users.working_hours`): every key optional, missing ones come from the
/// defaults. `{"timezone": "Europe/Lisbon", "days": {"mon": [["09:00","12:00"],
/// ["13:00","18:00"]], "sat": []}}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkingHoursSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<std::collections::BTreeMap<String, Vec<[String; 2]>>>,
}

pub const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn hhmm(raw: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(raw, "%H:%M").map_err(|_| format!("`{raw}` is not HH:MM"))
}

impl WorkingHours {
    /// The same interval on each of `days`.
    pub fn uniform(tz: Tz, days: &[String], start: &str, end: &str) -> Result<Self, String> {
        let interval = (hhmm(start)?, hhmm(end)?);
        let mut out: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
        for day in days {
            let index = DAY_NAMES
                .iter()
                .position(|d| d == day)
                .ok_or_else(|| format!("unknown day `{day}`"))?;
            out[index] = vec![interval];
        }
        Ok(WorkingHours { tz, days: out })
    }

    /// Applies a user's spec over `self` (the defaults); errors name the bad key.
    pub fn with_spec(&self, spec: &WorkingHoursSpec) -> Result<Self, String> {
        let mut out = self.clone();
        if let Some(tz) = &spec.timezone {
            out.tz = tz
                .parse()
                .map_err(|_| format!("timezone `{tz}` is not an IANA time zone"))?;
        }
        if let Some(days) = &spec.days {
            for (day, intervals) in days {
                let index = DAY_NAMES
                    .iter()
                    .position(|d| d == day)
                    .ok_or_else(|| format!("days: unknown day `{day}` (mon … sun)"))?;
                let mut parsed = Vec::with_capacity(intervals.len());
                for [start, end] in intervals {
                    let (s, e) = (hhmm(start)?, hhmm(end)?);
                    if s >= e {
                        return Err(format!("days.{day}: {start} is not before {end}"));
                    }
                    parsed.push((s, e));
                }
                parsed.sort();
                if parsed.windows(2).any(|w| w[0].1 > w[1].0) {
                    return Err(format!("days.{day}: intervals overlap"));
                }
                out.days[index] = parsed;
            }
        }
        Ok(out)
    }

    pub fn intervals(&self, date: NaiveDate) -> &[(NaiveTime, NaiveTime)] {
        let index = date.weekday().num_days_from_monday() as usize;
        self.days.get(index).map_or(&[], Vec::as_slice)
    }

    /// Local wall time → UTC; a time that does not exist (a DST gap) has no instant.
    pub fn instant(&self, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
        self.tz
            .from_local_datetime(&date.and_time(time))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Whether `[start, start + duration)` lies inside one working interval of one day.
    pub fn covers(&self, start: DateTime<Utc>, duration: Duration) -> bool {
        let local_start = start.with_timezone(&self.tz);
        let local_end = (start + duration).with_timezone(&self.tz);
        let date = local_start.date_naive();
        local_end.date_naive() == date
            && self
                .intervals(date)
                .iter()
                .any(|(s, e)| local_start.time() >= *s && local_end.time() <= *e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Free slots of `date` (local to the hours' zone): starts on a `step` grid from the start of
/// each working interval, not before `not_before`, not overlapping any `busy` range.
pub fn free_slots(
    hours: &WorkingHours,
    date: NaiveDate,
    duration: Duration,
    step: Duration,
    busy: &[(DateTime<Utc>, DateTime<Utc>)],
    not_before: DateTime<Utc>,
) -> Vec<Slot> {
    let mut slots = Vec::new();
    if duration <= Duration::zero() || step <= Duration::zero() {
        return slots;
    }
    for (from, to) in hours.intervals(date) {
        let (Some(mut start), Some(limit)) = (hours.instant(date, *from), hours.instant(date, *to))
        else {
            continue;
        };
        // Checked: near the last date chrono knows, `start + duration` would overflow.
        while let Some(end) = start
            .checked_add_signed(duration)
            .filter(|end| *end <= limit)
        {
            let taken = busy
                .iter()
                .any(|(b_start, b_end)| *b_start < end && start < *b_end);
            if start >= not_before && !taken {
                slots.push(Slot { start, end });
            }
            match start.checked_add_signed(step) {
                Some(next) => start = next,
                None => break,
            }
        }
    }
    slots
}

crate::text_enum! {
    /// The language of a customer-facing booking confirmation.
    pub enum Language {
        PtBr => "pt-BR",
        En => "en",
    }
}

/// The message that confirms a booked meeting to the customer, at its local start time, with
/// the link to add it to their calendar.
pub fn confirmation(
    language: Language,
    local_start: chrono::NaiveDateTime,
    ics_url: &str,
) -> String {
    match language {
        Language::PtBr => format!(
            "Reunião agendada para {} às {}. Adicione à sua agenda: {ics_url}",
            local_start.format("%d/%m/%Y"),
            local_start.format("%H:%M"),
        ),
        Language::En => format!(
            "Meeting scheduled for {} at {}. Add it to your calendar: {ics_url}",
            local_start.format("%Y-%m-%d"),
            local_start.format("%H:%M"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("valid time")
    }

    // 2026-03-04 is a Wednesday.
    const WED: (i32, u32, u32) = (2026, 3, 4);

    fn wed() -> NaiveDate {
        day(WED.0, WED.1, WED.2)
    }

    #[test]
    fn confirmations_are_localized() {
        let start = day(2026, 3, 5).and_time(t(15, 0));
        assert_eq!(
            confirmation(Language::PtBr, start, "https://x/m.ics"),
            "Reunião agendada para 05/03/2026 às 15:00. Adicione à sua agenda: https://x/m.ics"
        );
        assert_eq!(
            confirmation(Language::En, start, "https://x/m.ics"),
            "Meeting scheduled for 2026-03-05 at 15:00. Add it to your calendar: https://x/m.ics"
        );
        assert_eq!("pt-BR".parse::<Language>().ok(), Some(Language::PtBr));
        assert!("fr".parse::<Language>().is_err());
    }

    #[test]
    fn reads_the_seed_message() {
        let wish = read_wish(
            "podemos marcar amanhã às 15h? meu email é ana@ex.com",
            wed(),
        );
        assert!(wish.intent);
        assert_eq!(wish.date, Some(day(2026, 3, 5)));
        assert_eq!(wish.time, Some(t(15, 0)));
        assert_eq!(wish.email.as_deref(), Some("ana@ex.com"));
        assert_eq!(wish.phone, None);
    }

    #[test]
    fn folds_accents_and_case() {
        assert_eq!(fold("AMANHÃ às Três"), "amanha as tres");
        let with = read_wish("Amanhã às 10h", wed());
        let without = read_wish("amanha as 10h", wed());
        assert_eq!(with, without);
    }

    #[test]
    fn date_words() {
        let today = wed();
        let cases = [
            ("hoje à tarde", Some(today)),
            ("today", Some(today)),
            ("amanhã", Some(day(2026, 3, 5))),
            ("tomorrow works", Some(day(2026, 3, 5))),
            ("depois de amanhã", Some(day(2026, 3, 6))),
            ("day after tomorrow", Some(day(2026, 3, 6))),
            ("na sexta-feira", Some(day(2026, 3, 6))),
            ("segunda", Some(day(2026, 3, 9))),
            ("quarta que vem", Some(day(2026, 3, 11))),
            ("next friday", Some(day(2026, 3, 6))),
            ("em 2026-04-01", Some(day(2026, 4, 1))),
            ("dia 10/03", Some(day(2026, 3, 10))),
            ("02/03", Some(day(2027, 3, 2))),
            ("15/01/27", Some(day(2027, 1, 15))),
            ("no dia 20", Some(day(2026, 3, 20))),
            ("no dia 2", Some(day(2026, 4, 2))),
            ("31/02", None),
            ("quero saber o preço", None),
        ];
        for (text, expected) in cases {
            assert_eq!(extract_date(&fold(text), today), expected, "{text}");
        }
    }

    #[test]
    fn time_words() {
        let cases = [
            ("às 15h", Some(t(15, 0))),
            ("15h30", Some(t(15, 30))),
            ("14:45", Some(t(14, 45))),
            ("as 9", Some(t(9, 0))),
            ("at 9", Some(t(9, 0))),
            ("3pm", Some(t(15, 0))),
            ("3:30 pm", Some(t(15, 30))),
            ("12am", Some(t(0, 0))),
            ("10 da manhã", Some(t(10, 0))),
            ("3 da tarde", Some(t(15, 0))),
            ("8h da noite", Some(t(20, 0))),
            ("meio-dia", Some(t(12, 0))),
            ("at noon", Some(t(12, 0))),
            ("25h", None),
            ("lá pelas 16 horas", Some(t(16, 0))),
            ("sem horário", None),
        ];
        for (text, expected) in cases {
            assert_eq!(extract_time(&fold(text)), expected, "{text}");
        }
    }

    #[test]
    fn emails_and_phones() {
        assert_eq!(
            extract_email("escreva para Ana.Silva+crm@Empresa.com.br."),
            Some("ana.silva+crm@empresa.com.br".into())
        );
        assert_eq!(extract_email("sem e-mail @ aqui"), None);
        assert_eq!(
            extract_phone("meu whats é (11) 98765-4321"),
            Some("11987654321".into())
        );
        assert_eq!(
            extract_phone("call +55 11 98765 4321"),
            Some("+5511987654321".into())
        );
        assert_eq!(extract_phone("ramal 9876-5432"), Some("98765432".into()));
        assert_eq!(extract_phone("pedido 12345"), None);
        let wish = read_wish("dia 2026-03-10 às 10h, tel 11 3333-4444", wed());
        assert_eq!(wish.phone.as_deref(), Some("1133334444"));
        assert_eq!(wish.date, Some(day(2026, 3, 10)));
    }

    #[test]
    fn intent_needs_a_keyword_or_a_date_and_time() {
        assert!(read_wish("Can we schedule a call?", wed()).intent);
        assert!(read_wish("quero agendar uma visita", wed()).intent);
        assert!(read_wish("pode ser sexta às 10h?", wed()).intent);
        assert!(!read_wish("chegou amanhã o pedido", wed()).intent);
        assert!(!read_wish("qual o horário de funcionamento?", wed()).intent);
        assert!(!read_wish("o produto está disponível?", wed()).intent);
        assert!(!read_wish("obrigado, tudo certo", wed()).intent);
        // "agenda" inside another word is not a keyword.
        assert!(!has_keyword(&fold("reagendado pelo sistema")));
    }

    fn sao_paulo() -> WorkingHours {
        WorkingHours::uniform(
            chrono_tz::America::Sao_Paulo,
            &["mon", "tue", "wed", "thu", "fri"].map(String::from),
            "09:00",
            "12:00",
        )
        .expect("valid hours")
    }

    #[test]
    fn slots_follow_hours_step_busy_and_now() {
        let hours = sao_paulo();
        let date = wed();
        let busy_start = hours.instant(date, t(10, 0)).expect("instant");
        let busy = [(busy_start, busy_start + Duration::minutes(60))];
        let not_before = hours.instant(date, t(9, 15)).expect("instant");
        let slots = free_slots(
            &hours,
            date,
            Duration::minutes(60),
            Duration::minutes(30),
            &busy,
            not_before,
        );
        let starts: Vec<String> = slots
            .iter()
            .map(|s| s.start.with_timezone(&hours.tz).format("%H:%M").to_string())
            .collect();
        // 09:00 is past, 09:30 and 10:00 and 10:30 overlap the 10:00–11:00 event.
        assert_eq!(starts, vec!["11:00"]);
        // São Paulo is UTC−3: 11:00 local is 14:00 UTC.
        assert_eq!(slots[0].start.to_rfc3339(), "2026-03-04T14:00:00+00:00");
        // Saturday: no hours.
        assert!(free_slots(
            &hours,
            day(2026, 3, 7),
            Duration::minutes(30),
            Duration::minutes(30),
            &[],
            not_before
        )
        .is_empty());
    }

    #[test]
    fn slots_near_the_last_date_do_not_overflow() {
        let hours = sao_paulo();
        // The last week chrono knows, so working days are among them.
        let last_week =
            (0..7).filter_map(|d| NaiveDate::MAX.checked_sub_days(chrono::Days::new(d)));
        for (date, minutes) in last_week.flat_map(|d| [(d, 30), (d, 600), (d, 99_999)]) {
            for slot in free_slots(
                &hours,
                date,
                Duration::minutes(minutes),
                Duration::minutes(30),
                &[],
                DateTime::<Utc>::MIN_UTC,
            ) {
                assert!(slot.start < slot.end);
            }
        }
    }

    #[test]
    fn specs_override_defaults_and_are_validated() {
        let base = sao_paulo();
        let spec: WorkingHoursSpec = serde_json::from_str(
            r#"{"timezone":"Europe/Lisbon","days":{"sat":[["10:00","12:00"]],"mon":[]}}"#,
        )
        .expect("parses");
        let hours = base.with_spec(&spec).expect("valid");
        assert_eq!(hours.tz, chrono_tz::Europe::Lisbon);
        assert_eq!(hours.intervals(day(2026, 3, 7)), &[(t(10, 0), t(12, 0))]);
        assert!(hours.intervals(day(2026, 3, 9)).is_empty());
        assert_eq!(hours.intervals(wed()), &[(t(9, 0), t(12, 0))]);
        let bad = |json: &str| {
            let spec: WorkingHoursSpec = serde_json::from_str(json).expect("parses");
            base.with_spec(&spec).expect_err("rejected")
        };
        assert!(bad(r#"{"timezone":"Mars/Olympus"}"#).contains("timezone"));
        assert!(bad(r#"{"days":{"funday":[]}}"#).contains("funday"));
        assert!(bad(r#"{"days":{"mon":[["12:00","09:00"]]}}"#).contains("before"));
        assert!(
            bad(r#"{"days":{"mon":[["09:00","12:00"],["11:00","13:00"]]}}"#).contains("overlap")
        );
        assert!(serde_json::from_str::<WorkingHoursSpec>(r#"{"tz":"x"}"#).is_err());
    }

    #[test]
    fn covers_checks_one_interval() {
        let hours = sao_paulo();
        let start = hours.instant(wed(), t(11, 0)).expect("instant");
        assert!(hours.covers(start, Duration::minutes(60)));
        assert!(!hours.covers(start, Duration::minutes(61)));
        let early = hours.instant(wed(), t(8, 30)).expect("instant");
        assert!(!hours.covers(early, Duration::minutes(30)));
    }

    #[test]
    fn dst_gaps_have_no_slots() {
        // Lisbon springs forward at 01:00 on 2026-03-29: 01:00–02:00 does not exist.
        let hours = WorkingHours::uniform(
            chrono_tz::Europe::Lisbon,
            &["sun".to_string()],
            "01:00",
            "03:00",
        )
        .expect("valid");
        let date = day(2026, 3, 29);
        assert!(hours.instant(date, t(1, 30)).is_none());
        let slots = free_slots(
            &hours,
            date,
            Duration::minutes(30),
            Duration::minutes(30),
            &[],
            DateTime::<Utc>::MIN_UTC,
        );
        assert!(slots.iter().all(|s| s.end > s.start));
    }
}
