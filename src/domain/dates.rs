//! Dates and times that come from outside (query parameters, request bodies, WebSocket frames,
//! channel payloads, tool arguments) are checked against one bounded range before anything
//! adds to them. chrono accepts years from -262,143 to 262,142, so one day added to an
//! extreme date overflows and panics; inside this range every offset the engine applies
//! (days of a horizon, a period, a meeting's length) stays far from chrono's limits.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};

/// The first year a date from outside may name. Nothing the engine stores predates Unix time.
pub const EARLIEST_YEAR: i32 = 1970;
/// The last year a date from outside may name (the last one RFC 3339 can write).
pub const LATEST_YEAR: i32 = 9999;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("must be a YYYY-MM-DD date")]
    NotADate,
    #[error("must be an RFC 3339 time")]
    NotAnInstant,
    #[error("must be between the years 1970 and 9999")]
    OutOfRange,
}

/// Whether `year` is inside the accepted range.
pub fn year_in_range(year: i32) -> bool {
    (EARLIEST_YEAR..=LATEST_YEAR).contains(&year)
}

/// `day` if it is inside the accepted range.
pub fn bounded_day(day: NaiveDate) -> Result<NaiveDate, DateError> {
    if year_in_range(day.year()) {
        Ok(day)
    } else {
        Err(DateError::OutOfRange)
    }
}

/// `at` if it is inside the accepted range.
pub fn bounded_instant(at: DateTime<Utc>) -> Result<DateTime<Utc>, DateError> {
    if year_in_range(at.year()) {
        Ok(at)
    } else {
        Err(DateError::OutOfRange)
    }
}

/// `at` (naive UTC) if it is inside the accepted range.
pub fn bounded_naive(at: NaiveDateTime) -> Result<NaiveDateTime, DateError> {
    bounded_instant(at.and_utc()).map(|t| t.naive_utc())
}

/// A `YYYY-MM-DD` date inside the accepted range.
pub fn parse_day(raw: &str) -> Result<NaiveDate, DateError> {
    let raw = raw.trim();
    // chrono's `%Y` also reads signed and over-long years ("-262143", "+12345"); the contract
    // says four digits.
    let shape_ok = raw.len() == 10 && raw.as_bytes().first().is_some_and(u8::is_ascii_digit);
    if !shape_ok {
        return Err(DateError::NotADate);
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| DateError::NotADate)?;
    bounded_day(day)
}

/// An RFC 3339 time inside the accepted range, in UTC.
pub fn parse_instant(raw: &str) -> Result<DateTime<Utc>, DateError> {
    let at = DateTime::parse_from_rfc3339(raw.trim()).map_err(|_| DateError::NotAnInstant)?;
    bounded_instant(at.with_timezone(&Utc))
}

/// Unix seconds inside the accepted range.
pub fn from_unix_seconds(seconds: i64) -> Result<DateTime<Utc>, DateError> {
    DateTime::from_timestamp(seconds, 0)
        .ok_or(DateError::OutOfRange)
        .and_then(bounded_instant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_dates_parse() {
        assert_eq!(
            parse_day(" 2026-11-30 "),
            Ok(NaiveDate::from_ymd_opt(2026, 11, 30).expect("valid"))
        );
        assert_eq!(
            parse_instant("2026-11-30T10:00:00-03:00").map(|t| t.to_rfc3339()),
            Ok("2026-11-30T13:00:00+00:00".to_string())
        );
        assert!(from_unix_seconds(1_717_689_097).is_ok());
    }

    #[test]
    fn extreme_and_malformed_dates_are_refused() {
        for raw in [
            "-262143-01-01",
            "+262142-12-31",
            "262142-12-31",
            "0000-01-01",
        ] {
            assert!(parse_day(raw).is_err(), "{raw}");
        }
        assert_eq!(parse_day("1969-12-31"), Err(DateError::OutOfRange));
        assert_eq!(parse_day("2026-02-30"), Err(DateError::NotADate));
        assert_eq!(parse_day("tomorrow"), Err(DateError::NotADate));
        assert_eq!(
            parse_instant("0001-01-01T00:00:00Z"),
            Err(DateError::OutOfRange)
        );
        assert_eq!(parse_instant("soon"), Err(DateError::NotAnInstant));
        assert_eq!(from_unix_seconds(i64::MAX), Err(DateError::OutOfRange));
        assert_eq!(
            from_unix_seconds(253_402_300_800),
            Err(DateError::OutOfRange),
            "10000-01-01"
        );
    }

    #[test]
    fn the_range_leaves_room_for_every_offset_the_engine_applies() {
        let last = parse_day("9999-12-31").expect("in range");
        assert!(last.checked_add_days(chrono::Days::new(100_000)).is_some());
        let first = parse_day("1970-01-01").expect("in range");
        assert!(first.checked_sub_days(chrono::Days::new(100_000)).is_some());
    }
}
