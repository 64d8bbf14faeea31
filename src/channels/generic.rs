//! The generic inbound webhook body (docs/protocol.md, "Inbound channels"):
//! `{"contact": {"external_id", "name"?, "phone"?, "email"?},
//!   "message": {"external_id", "text", "timestamp"?}}`.
//!
//! Unknown fields are ignored rather than refused: channels built on this format add their
//! own fields, and refusing them would break those integrations on every addition.

use crate::domain::dates::{self, DateError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Message text limit, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Limit for external ids and the optional contact fields, in characters.
pub const MAX_ID_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenericPayload {
    pub contact: GenericContact,
    pub message: GenericMessage,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenericContact {
    pub external_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenericMessage {
    pub external_id: String,
    pub text: String,
    /// When the customer sent it, if the channel says: RFC 3339, or Unix seconds.
    #[serde(default, deserialize_with = "timestamp")]
    pub timestamp: Option<DateTime<Utc>>,
}

/// Parses and validates a generic webhook body. The error is one sentence naming the field
/// at fault, meant to be returned to the integrator as is.
pub fn parse(body: &[u8]) -> Result<GenericPayload, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not valid JSON: {e}"))?;
    let Value::Object(root) = &value else {
        return Err("body must be a JSON object with `contact` and `message`".into());
    };
    // Checked by hand first so that a missing or mistyped required field is named with its
    // full path, which serde's own messages do not do.
    let contact = object(root, "contact")?;
    required_string(contact, "contact", "external_id")?;
    let message = object(root, "message")?;
    required_string(message, "message", "external_id")?;
    required_string(message, "message", "text")?;

    let mut payload: GenericPayload = serde_json::from_value(value)
        .map_err(|e| format!("body does not match the generic webhook format: {e}"))?;
    payload.normalize()?;
    Ok(payload)
}

impl GenericPayload {
    fn normalize(&mut self) -> Result<(), String> {
        self.contact.external_id = external_id(&self.contact.external_id, "contact.external_id")?;
        self.message.external_id = external_id(&self.message.external_id, "message.external_id")?;
        self.contact.name = optional(self.contact.name.take(), "contact.name")?;
        self.contact.phone = optional(self.contact.phone.take(), "contact.phone")?;
        self.contact.email = optional(self.contact.email.take(), "contact.email")?;
        if self.message.text.trim().is_empty() {
            return Err("message.text must not be empty".into());
        }
        if self.message.text.len() > MAX_TEXT_BYTES {
            return Err(format!(
                "message.text is {} bytes, over the limit of {MAX_TEXT_BYTES} bytes (64 KiB)",
                self.message.text.len()
            ));
        }
        Ok(())
    }
}

fn object<'a>(root: &'a Map<String, Value>, key: &str) -> Result<&'a Map<String, Value>, String> {
    match root.get(key) {
        None | Some(Value::Null) => Err(format!("`{key}` is required")),
        Some(Value::Object(inner)) => Ok(inner),
        Some(_) => Err(format!("`{key}` must be a JSON object")),
    }
}

fn required_string(parent: &Map<String, Value>, path: &str, key: &str) -> Result<(), String> {
    match parent.get(key) {
        None | Some(Value::Null) => Err(format!("`{path}.{key}` is required")),
        Some(Value::String(_)) => Ok(()),
        Some(_) => Err(format!("`{path}.{key}` must be a string")),
    }
}

// Trimmed because duplicate detection keys on the id: " 42" and "42" are one message.
fn external_id(raw: &str, path: &str) -> Result<String, String> {
    let id = raw.trim();
    if id.is_empty() {
        return Err(format!("{path} must not be empty"));
    }
    let chars = id.chars().count();
    if chars > MAX_ID_CHARS {
        return Err(format!(
            "{path} is {chars} characters, over the limit of {MAX_ID_CHARS}"
        ));
    }
    Ok(id.to_string())
}

fn optional(raw: Option<String>, path: &str) -> Result<Option<String>, String> {
    let Some(raw) = raw else { return Ok(None) };
    let value = raw.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let chars = value.chars().count();
    if chars > MAX_ID_CHARS {
        return Err(format!(
            "{path} is {chars} characters, over the limit of {MAX_ID_CHARS}"
        ));
    }
    Ok(Some(value.to_string()))
}

fn timestamp<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    use serde::de::Error;
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => match dates::parse_instant(&text) {
            Ok(at) => Ok(Some(at)),
            Err(DateError::OutOfRange) => {
                Err(D::Error::custom("message.timestamp is out of range"))
            }
            Err(_) => Err(D::Error::custom(
                "message.timestamp must be RFC 3339 or Unix seconds",
            )),
        },
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .and_then(|secs| dates::from_unix_seconds(secs).ok())
            .map(Some)
            .ok_or_else(|| D::Error::custom("message.timestamp is out of range")),
        Some(_) => Err(D::Error::custom(
            "message.timestamp must be RFC 3339 or Unix seconds",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_json(value: Value) -> Result<GenericPayload, String> {
        parse(value.to_string().as_bytes())
    }

    fn valid() -> Value {
        json!({
            "contact": {"external_id": "c-1", "name": "Ana", "phone": "+55 11 99999-8888"},
            "message": {"external_id": "m-1", "text": "Olá, preciso de ajuda"}
        })
    }

    #[test]
    fn a_minimal_and_a_full_body_parse() {
        let payload = parse_json(valid()).expect("valid");
        assert_eq!(payload.contact.external_id, "c-1");
        assert_eq!(payload.contact.name.as_deref(), Some("Ana"));
        assert_eq!(payload.contact.email, None);
        assert_eq!(payload.message.text, "Olá, preciso de ajuda");
        assert_eq!(payload.message.timestamp, None);

        let payload = parse_json(json!({
            "contact": {"external_id": " c-2 ", "email": "a@b.test", "name": ""},
            "message": {"external_id": "m-2", "text": "hi", "timestamp": "2026-01-02T03:04:05Z"}
        }))
        .expect("valid");
        assert_eq!(payload.contact.external_id, "c-2");
        assert_eq!(
            payload.contact.name, None,
            "empty optional fields are absent"
        );
        assert_eq!(
            payload.message.timestamp.map(|t| t.timestamp()),
            Some(1_767_323_045)
        );

        let mut body = valid();
        body["message"]["timestamp"] = json!(1_767_323_045);
        let payload = parse_json(body).expect("unix seconds");
        assert_eq!(
            payload.message.timestamp.map(|t| t.timestamp()),
            Some(1_767_323_045)
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let mut body = valid();
        body["channel"] = json!("telegram");
        body["contact"]["avatar"] = json!("https://x.test/a.png");
        body["message"]["attachments"] = json!([]);
        assert!(parse_json(body).is_ok());
    }

    #[test]
    fn bad_json_is_named() {
        let err = parse(b"{\"contact\": ").expect_err("refused");
        assert!(err.starts_with("body is not valid JSON"), "{err}");
        let err = parse(b"[1,2]").expect_err("refused");
        assert!(err.contains("JSON object"), "{err}");
    }

    #[test]
    fn missing_or_mistyped_required_fields_are_named() {
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"message": {"external_id": "m", "text": "t"}}),
                "`contact` is required",
            ),
            (
                json!({"contact": "c-1", "message": {"external_id": "m", "text": "t"}}),
                "`contact` must be a JSON object",
            ),
            (
                json!({"contact": {}, "message": {"external_id": "m", "text": "t"}}),
                "`contact.external_id` is required",
            ),
            (
                json!({"contact": {"external_id": 7}, "message": {"external_id": "m", "text": "t"}}),
                "`contact.external_id` must be a string",
            ),
            (
                json!({"contact": {"external_id": "c"}}),
                "`message` is required",
            ),
            (
                json!({"contact": {"external_id": "c"}, "message": {"text": "t"}}),
                "`message.external_id` is required",
            ),
            (
                json!({"contact": {"external_id": "c"}, "message": {"external_id": "m"}}),
                "`message.text` is required",
            ),
            (
                json!({"contact": {"external_id": "c"}, "message": {"external_id": "m", "text": null}}),
                "`message.text` is required",
            ),
        ];
        for (body, expected) in cases {
            let err = parse_json(body.clone()).expect_err("refused");
            assert_eq!(err, expected, "{body}");
        }
    }

    #[test]
    fn empty_values_are_refused() {
        let mut body = valid();
        body["contact"]["external_id"] = json!("  ");
        assert_eq!(
            parse_json(body).expect_err("refused"),
            "contact.external_id must not be empty"
        );
        let mut body = valid();
        body["message"]["external_id"] = json!("");
        assert_eq!(
            parse_json(body).expect_err("refused"),
            "message.external_id must not be empty"
        );
        let mut body = valid();
        body["message"]["text"] = json!(" \n\t");
        assert_eq!(
            parse_json(body).expect_err("refused"),
            "message.text must not be empty"
        );
    }

    #[test]
    fn oversized_values_are_refused() {
        let mut body = valid();
        body["message"]["text"] = json!("a".repeat(MAX_TEXT_BYTES));
        assert!(parse_json(body).is_ok(), "exactly 64 KiB is allowed");

        let mut body = valid();
        body["message"]["text"] = json!("a".repeat(MAX_TEXT_BYTES + 1));
        let err = parse_json(body).expect_err("refused");
        assert!(
            err.contains("message.text") && err.contains("64 KiB"),
            "{err}"
        );

        let mut body = valid();
        body["contact"]["external_id"] = json!("é".repeat(MAX_ID_CHARS));
        assert!(parse_json(body).is_ok(), "the limit counts characters");

        for path in ["contact", "message"] {
            let mut body = valid();
            body[path]["external_id"] = json!("x".repeat(MAX_ID_CHARS + 1));
            let err = parse_json(body).expect_err("refused");
            assert!(
                err.starts_with(&format!("{path}.external_id is 257")),
                "{err}"
            );
        }

        let mut body = valid();
        body["contact"]["name"] = json!("n".repeat(MAX_ID_CHARS + 1));
        let err = parse_json(body).expect_err("refused");
        assert!(err.starts_with("contact.name"), "{err}");
    }

    #[test]
    fn mistyped_optional_fields_are_refused() {
        let mut body = valid();
        body["contact"]["name"] = json!(5);
        let err = parse_json(body).expect_err("refused");
        assert!(err.starts_with("body does not match"), "{err}");

        let mut body = valid();
        body["message"]["timestamp"] = json!("yesterday");
        let err = parse_json(body).expect_err("refused");
        assert!(err.contains("message.timestamp"), "{err}");
    }
}
