//! Small helpers shared by the operator resources (contacts, departments, funnels, tags,
//! activities): ids from paths and cursors, bounded text fields, JSON objects.

use super::error::{ApiError, ApiResult};
use super::pagination::{PageQuery, DEFAULT_LIMIT, MAX_LIMIT};

/// Bytes a free-form JSON object (custom fields, activity data) may take once serialized.
pub const MAX_OBJECT_BYTES: usize = 16 * 1024;

/// A path id: a malformed one is a plain 404, like an id of another tenant.
pub fn path_id(raw: &str) -> ApiResult<String> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::NotFound)
}

/// An id given in a body or query field: malformed is a 400 naming the field.
pub fn field_id(field: &str, raw: &str) -> ApiResult<String> {
    uuid::Uuid::parse_str(raw.trim())
        .map(|u| u.to_string())
        .map_err(|_| ApiError::field(field, "is not a valid id"))
}

/// `?limit=&cursor=` with a cursor that is an id of the same list.
pub fn page(query: &PageQuery) -> ApiResult<(i64, Option<String>)> {
    let limit = query.limit()?;
    let cursor = query.cursor_id(|raw| uuid::Uuid::parse_str(raw).ok().map(|u| u.to_string()))?;
    Ok((limit, cursor))
}

/// Like [`PageQuery::limit`] for queries that carry their own filters.
pub fn limit(raw: Option<i64>) -> ApiResult<i64> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::field("limit", "must be between 1 and 200")),
    }
}

pub fn cursor(raw: Option<&str>) -> ApiResult<Option<String>> {
    raw.map(|raw| {
        uuid::Uuid::parse_str(raw)
            .map(|u| u.to_string())
            .map_err(|_| ApiError::field("cursor", "is not a cursor of this list"))
    })
    .transpose()
}

/// A required single-line text, trimmed, 1..=`max` characters.
pub fn required_text(field: &str, raw: &str, max: usize) -> ApiResult<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(ApiError::field(field, "must not be empty"));
    }
    if trimmed.chars().count() > max {
        return Err(ApiError::field(
            field,
            &format!("must be at most {max} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ApiError::field(field, "must be a single line of text"));
    }
    Ok(trimmed.to_string())
}

/// Free text (descriptions): at most `max` characters, kept as written.
pub fn free_text(field: &str, raw: &str, max: usize) -> ApiResult<String> {
    if raw.chars().count() > max {
        return Err(ApiError::field(
            field,
            &format!("must be at most {max} characters"),
        ));
    }
    Ok(raw.to_string())
}

/// A JSON object of bounded size, serialized for a TEXT column.
pub fn json_object(field: &str, value: &serde_json::Value) -> ApiResult<String> {
    if !value.is_object() {
        return Err(ApiError::field(field, "must be a JSON object"));
    }
    let raw = value.to_string();
    if raw.len() > MAX_OBJECT_BYTES {
        return Err(ApiError::field(
            field,
            "must be at most 16 KiB once serialized",
        ));
    }
    Ok(raw)
}

/// An RFC 3339 time as the store keeps it (naive UTC, microseconds).
pub fn timestamp(field: &str, raw: &str) -> ApiResult<chrono::NaiveDateTime> {
    let parsed = crate::domain::dates::parse_instant(raw)
        .map_err(|e| ApiError::field(field, &e.to_string()))?;
    let micros = parsed.timestamp_micros();
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.naive_utc())
        .ok_or_else(|| ApiError::field(field, "is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_trimmed_and_bounded() {
        assert_eq!(
            required_text("name", "  Vendas ", 10).expect("ok"),
            "Vendas"
        );
        assert!(required_text("name", "   ", 10).is_err());
        assert!(required_text("name", "abcdefghijk", 10).is_err());
        assert!(required_text("name", "a\nb", 10).is_err());
    }

    #[test]
    fn ids_and_times() {
        assert!(path_id("x").is_err());
        assert!(field_id("contact_id", "0192f0a0-0000-7000-8000-000000000000").is_ok());
        let t = timestamp("due_at", "2026-01-02T03:04:05.1234567-03:00").expect("time");
        assert_eq!(t.to_string(), "2026-01-02 06:04:05.123456");
        assert!(timestamp("due_at", "tomorrow").is_err());
    }
}
