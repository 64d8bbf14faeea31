//! The stable error codes of the external contract (PROTOCOL.md), shared by the HTTP error
//! body and the WebSocket `error` frame. Each layer has its own error enum and maps onto these
//! once.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    ValidationError,
    AuthError,
    Forbidden,
    NotFound,
    Conflict,
    PayloadTooLarge,
    QuotaExceeded,
    RateLimited,
    AgentNotFound,
    RoutingError,
    ServiceUnavailable,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ValidationError => "VALIDATION_ERROR",
            ErrorCode::AuthError => "AUTH_ERROR",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::QuotaExceeded => "QUOTA_EXCEEDED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::AgentNotFound => "AGENT_NOT_FOUND",
            ErrorCode::RoutingError => "ROUTING_ERROR",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

/// `{"error": "<human sentence>", "code": "<UPPER_SNAKE>", "details": {...}?}`
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
    #[schema(value_type = String, example = "VALIDATION_ERROR")]
    pub code: ErrorCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_pinned() {
        let body = ErrorBody {
            error: "email is required".into(),
            code: ErrorCode::ValidationError,
            details: Some(serde_json::json!({"field": "email"})),
        };
        assert_eq!(
            serde_json::to_string(&body).expect("serializes"),
            r#"{"error":"email is required","code":"VALIDATION_ERROR","details":{"field":"email"}}"#
        );
        let bare = ErrorBody {
            error: "not found".into(),
            code: ErrorCode::NotFound,
            details: None,
        };
        assert_eq!(
            serde_json::to_string(&bare).expect("serializes"),
            r#"{"error":"not found","code":"NOT_FOUND"}"#
        );
    }

    #[test]
    fn as_str_matches_serde() {
        for code in [
            ErrorCode::ValidationError,
            ErrorCode::AuthError,
            ErrorCode::Forbidden,
            ErrorCode::NotFound,
            ErrorCode::Conflict,
            ErrorCode::PayloadTooLarge,
            ErrorCode::QuotaExceeded,
            ErrorCode::RateLimited,
            ErrorCode::AgentNotFound,
            ErrorCode::RoutingError,
            ErrorCode::ServiceUnavailable,
            ErrorCode::Internal,
        ] {
            let json = serde_json::to_value(code).expect("serializes");
            assert_eq!(json.as_str(), Some(code.as_str()));
        }
    }
}
