//! The HTTP layer's error enum, mapped once to status codes and docs/protocol.md's error body.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::error::{ClientError, ErrorBody, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Validation {
        message: String,
        details: Option<serde_json::Value>,
    },
    #[error("{0}")]
    Auth(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// A tenant quota has no room (413): `details` names the quota and its limit.
    #[error("{message}")]
    QuotaExceeded {
        message: String,
        details: serde_json::Value,
    },
    #[error("{0}")]
    RateLimited(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
    /// Any other layer's error, by its code ([`ClientError`]).
    #[error("{message}")]
    Coded { code: ErrorCode, message: String },
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn validation(message: impl Into<String>) -> Self {
        ApiError::Validation {
            message: message.into(),
            details: None,
        }
    }

    /// A validation error that names the offending field in `details.field`.
    pub fn field(field: &str, reason: &str) -> Self {
        ApiError::Validation {
            message: format!("{field} {reason}"),
            details: Some(serde_json::json!({ "field": field })),
        }
    }

    /// The HTTP form of another layer's error: its code, sentence and details.
    pub fn from_client(err: &impl ClientError) -> Self {
        let message = err.public_message();
        match err.code() {
            ErrorCode::ValidationError => ApiError::Validation {
                message,
                details: err.details(),
            },
            ErrorCode::AuthError => ApiError::Auth(message),
            ErrorCode::Forbidden => ApiError::Forbidden(message),
            ErrorCode::NotFound => ApiError::NotFound,
            ErrorCode::Conflict => ApiError::Conflict(message),
            ErrorCode::RateLimited => ApiError::RateLimited(message),
            ErrorCode::ServiceUnavailable => ApiError::Unavailable(message),
            // The detail was logged by `public_message`.
            ErrorCode::Internal => ApiError::Internal(message),
            code => ApiError::Coded { code, message },
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Validation { .. } => ErrorCode::ValidationError,
            ApiError::Auth(_) => ErrorCode::AuthError,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::NotFound => ErrorCode::NotFound,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            ApiError::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            ApiError::RateLimited(_) => ErrorCode::RateLimited,
            ApiError::Unavailable(_) => ErrorCode::ServiceUnavailable,
            ApiError::Internal(_) => ErrorCode::Internal,
            ApiError::Coded { code, .. } => *code,
        }
    }

    pub fn body(&self) -> ErrorBody {
        let details = match self {
            ApiError::Validation { details, .. } => details.clone(),
            ApiError::QuotaExceeded { details, .. } => Some(details.clone()),
            _ => None,
        };
        ErrorBody {
            // Internal details stay in the log; the client gets a plain sentence.
            error: self.to_string(),
            code: self.code(),
            details,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code().http_status()
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(detail) = self {
            tracing::error!(error = %detail, "internal error");
        }
        self.body().response()
    }
}

/// Every other layer's error reaches HTTP by its code ([`ClientError`]).
impl<E: ClientError> From<E> for ApiError {
    fn from(err: E) -> Self {
        ApiError::from_client(&err)
    }
}

/// Turns actix's extractor errors (bad JSON, bad query, oversize body) into our body.
pub fn json_error_handler(
    err: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError;
    let api = match &err {
        JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::PayloadTooLarge(*limit),
        JsonPayloadError::Overflow { limit } => ApiError::PayloadTooLarge(*limit),
        JsonPayloadError::ContentType => {
            ApiError::validation("Content-Type must be application/json")
        }
        JsonPayloadError::Deserialize(e) => {
            let message = format!("invalid JSON body: {e}");
            match serde_field(&e.to_string()) {
                Some(field) => ApiError::Validation {
                    details: Some(serde_json::json!({ "field": field })),
                    message,
                },
                None => ApiError::validation(message),
            }
        }
        other => ApiError::validation(format!("invalid request body: {other}")),
    };
    api.into()
}

/// The field a body's deserialization error is about, when serde names it: a missing
/// required field or an unknown one (serde quotes it in backticks). Type errors carry only a
/// position, so they name nothing.
fn serde_field(message: &str) -> Option<&str> {
    ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| {
            let rest = &message[message.find(prefix)? + prefix.len()..];
            let field = &rest[..rest.find('`')?];
            (!field.is_empty()).then_some(field)
        })
}

pub fn query_error_handler(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::validation(format!("invalid query string: {err}")).into()
}

pub fn path_error_handler(
    _err: actix_web::error::PathError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::NotFound.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    #[actix_web::test]
    async fn internal_errors_do_not_leak_details() {
        let err = ApiError::Internal("password=hunter2 in a query".into());
        let response = err.error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = to_bytes(response.into_body()).await.expect("body");
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("hunter2"));
        assert!(text.contains("\"code\":\"INTERNAL\""));
    }

    #[test]
    fn body_errors_name_the_missing_or_unknown_field() {
        let missing = serde_json::from_str::<crate::domain::wizard::Step1>(r#"{"name": "Lia"}"#)
            .expect_err("missing")
            .to_string();
        assert_eq!(serde_field(&missing), Some("template"));
        let unknown =
            serde_json::from_str::<crate::domain::wizard::Step3>(r#"{"custom_fieldz": []}"#)
                .expect_err("unknown")
                .to_string();
        assert_eq!(serde_field(&unknown), Some("custom_fieldz"));
        let mistyped =
            serde_json::from_str::<crate::domain::wizard::Step3>(r#"{"custom_fields": 3}"#)
                .expect_err("type")
                .to_string();
        assert_eq!(serde_field(&mistyped), None);
    }

    #[test]
    fn field_errors_name_the_field() {
        let body = ApiError::field("email", "is not a valid e-mail address").body();
        assert_eq!(body.code, ErrorCode::ValidationError);
        assert_eq!(body.details, Some(serde_json::json!({"field": "email"})));
        assert_eq!(body.error, "email is not a valid e-mail address");
    }
}
