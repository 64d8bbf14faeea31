//! The stable error codes of the external contract (docs/protocol.md) and the one mapping
//! from every layer's error onto them. Each layer's error says its [`ErrorCode`] and a
//! sentence safe to show ([`ClientError`]); the HTTP status ([`ErrorCode::http_status`]), the
//! WebSocket `error` frame and the SSE `error` event all derive from that, so one failure
//! reads the same on every transport. Internal detail (mailbox errors, SQL, upstream bodies)
//! goes to the log, never to a client.

use actix_web::http::StatusCode;
use serde::Serialize;

use crate::auth::AuthError;
use crate::engine::booking::BookingError;
use crate::engine::EngineError;
use crate::llm::LlmError;
use crate::store::StoreError;

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
    /// The LLM provider failed (SSE answer streams).
    ProviderError,
    /// Nothing in the knowledge base answers the question (retrieval agents' streams).
    NoAnswer,
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
            ErrorCode::ProviderError => "PROVIDER_ERROR",
            ErrorCode::NoAnswer => "NO_ANSWER",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    /// The HTTP status of a response carrying this code.
    pub fn http_status(self) -> StatusCode {
        match self {
            ErrorCode::ValidationError => StatusCode::BAD_REQUEST,
            ErrorCode::AuthError => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound | ErrorCode::AgentNotFound | ErrorCode::NoAnswer => {
                StatusCode::NOT_FOUND
            }
            ErrorCode::Conflict | ErrorCode::RoutingError => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge | ErrorCode::QuotaExceeded => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ProviderError => StatusCode::BAD_GATEWAY,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error as a client sees it, on any transport.
pub trait ClientError {
    fn code(&self) -> ErrorCode;
    /// A sentence safe to show: never internal detail, which the implementation logs.
    fn public_message(&self) -> String;
    fn details(&self) -> Option<serde_json::Value> {
        None
    }
    fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.public_message(),
            code: self.code(),
            details: self.details(),
        }
    }
}

impl ClientError for StoreError {
    fn code(&self) -> ErrorCode {
        match self {
            StoreError::NotFound => ErrorCode::NotFound,
            StoreError::Conflict(_) => ErrorCode::Conflict,
            StoreError::Unavailable(_) | StoreError::Fenced(_) => ErrorCode::ServiceUnavailable,
            _ => ErrorCode::Internal,
        }
    }

    fn public_message(&self) -> String {
        match self {
            StoreError::NotFound => "not found".into(),
            // The violated constraint's text names tables and columns.
            StoreError::Conflict(_) => "the resource already exists".into(),
            StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "store unavailable");
                "the store is unavailable; try again".into()
            }
            StoreError::Fenced(detail) => {
                tracing::info!(error = %detail, "write fenced");
                "this node no longer serves the conversation; try again".into()
            }
            other => {
                tracing::error!(error = %other, "store error");
                "internal error".into()
            }
        }
    }
}

impl ClientError for EngineError {
    fn code(&self) -> ErrorCode {
        match self {
            EngineError::Closed | EngineError::Taken | EngineError::Limit(_) => ErrorCode::Conflict,
            EngineError::Forbidden => ErrorCode::Forbidden,
            // Both come from a request naming an agent or a user in its body.
            EngineError::AgentNotFound | EngineError::UserNotFound => ErrorCode::ValidationError,
            EngineError::Store(e) => e.code(),
            EngineError::Unavailable(_) => ErrorCode::ServiceUnavailable,
        }
    }

    fn public_message(&self) -> String {
        match self {
            EngineError::Closed => "the conversation is closed".into(),
            EngineError::Taken => "someone else already owns the conversation".into(),
            EngineError::Forbidden => "the conversation belongs to someone else".into(),
            EngineError::AgentNotFound => "agent_id is not an agent of this tenant".into(),
            EngineError::UserNotFound => "user_id is not a user of this tenant".into(),
            EngineError::Limit(hit) => format!("the agent is at its limit ({})", hit.as_str()),
            EngineError::Store(e) => e.public_message(),
            EngineError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "engine unavailable");
                "the engine is busy; try again".into()
            }
        }
    }

    fn details(&self) -> Option<serde_json::Value> {
        match self {
            EngineError::AgentNotFound => Some(serde_json::json!({ "field": "agent_id" })),
            EngineError::UserNotFound => Some(serde_json::json!({ "field": "user_id" })),
            _ => None,
        }
    }
}

impl ClientError for LlmError {
    fn code(&self) -> ErrorCode {
        match self {
            LlmError::RateLimit => ErrorCode::RateLimited,
            LlmError::BadResponse(reason) if reason == crate::llm::retrieval::NO_MATCH => {
                ErrorCode::NoAnswer
            }
            _ => ErrorCode::ProviderError,
        }
    }

    fn public_message(&self) -> String {
        match self {
            LlmError::BadResponse(reason) if reason == crate::llm::retrieval::NO_MATCH => {
                "nothing in the knowledge base answers this".into()
            }
            // The classified failure only (`LlmError::public_message`): the provider's own
            // words stay in the logs.
            other => LlmError::public_message(other).into(),
        }
    }
}

impl ClientError for AuthError {
    fn code(&self) -> ErrorCode {
        match self {
            AuthError::Unauthenticated(_) => ErrorCode::AuthError,
            AuthError::Forbidden(_) => ErrorCode::Forbidden,
            AuthError::Store(e) => e.code(),
            AuthError::Signing(_) => ErrorCode::Internal,
        }
    }

    fn public_message(&self) -> String {
        match self {
            AuthError::Unauthenticated(why) | AuthError::Forbidden(why) => why.clone(),
            AuthError::Store(e) => e.public_message(),
            AuthError::Signing(detail) => {
                tracing::error!(error = %detail, "token signing failed");
                "internal error".into()
            }
        }
    }
}

impl ClientError for BookingError {
    fn code(&self) -> ErrorCode {
        match self {
            BookingError::Invalid { .. } => ErrorCode::ValidationError,
            BookingError::Taken(_) => ErrorCode::Conflict,
            BookingError::Store(e) => e.code(),
        }
    }

    fn public_message(&self) -> String {
        match self {
            BookingError::Invalid { message, .. } => message.clone(),
            BookingError::Taken(why) => why.clone(),
            BookingError::Store(e) => e.public_message(),
        }
    }

    fn details(&self) -> Option<serde_json::Value> {
        match self {
            BookingError::Invalid {
                field: Some(field), ..
            } => Some(serde_json::json!({ "field": field })),
            _ => None,
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

impl ErrorBody {
    /// The HTTP answer carrying this body, whichever layer failed (REST handlers and the
    /// WebSocket handshake alike).
    pub fn response(&self) -> actix_web::HttpResponse {
        actix_web::HttpResponse::build(self.code.http_status()).json(self)
    }
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
            ErrorCode::ProviderError,
            ErrorCode::NoAnswer,
            ErrorCode::Internal,
        ] {
            let json = serde_json::to_value(code).expect("serializes");
            assert_eq!(json.as_str(), Some(code.as_str()));
        }
    }

    /// The one mapping: each error, its code, its HTTP status, and what the socket says.
    #[test]
    fn every_error_reads_the_same_on_every_transport() {
        use crate::api::error::ApiError;
        use crate::domain::limits::LimitHit;
        use crate::ws::WsError;
        use actix_web::ResponseError;

        let engine = |e: fn() -> EngineError| -> (ErrorCode, StatusCode, WsError, String) {
            let code = e().code();
            let status = ApiError::from(e()).status_code();
            let ws = WsError::from(e());
            let message = e().public_message();
            (code, status, ws, message)
        };
        type Row = (fn() -> EngineError, ErrorCode, u16);
        let table: [Row; 8] = [
            (|| EngineError::Closed, ErrorCode::Conflict, 409),
            (
                || EngineError::Limit(LimitHit::MaxConversations),
                ErrorCode::Conflict,
                409,
            ),
            (
                || EngineError::AgentNotFound,
                ErrorCode::ValidationError,
                400,
            ),
            (
                || EngineError::UserNotFound,
                ErrorCode::ValidationError,
                400,
            ),
            (
                || EngineError::Store(StoreError::NotFound),
                ErrorCode::NotFound,
                404,
            ),
            (
                || EngineError::Store(StoreError::Conflict("UNIQUE users.email".into())),
                ErrorCode::Conflict,
                409,
            ),
            (
                || EngineError::Store(StoreError::Unavailable("pool timed out".into())),
                ErrorCode::ServiceUnavailable,
                503,
            ),
            (
                || EngineError::Unavailable("Mailbox has closed".into()),
                ErrorCode::ServiceUnavailable,
                503,
            ),
        ];
        for (make, expected, status) in table {
            let (code, http, ws, message) = engine(make);
            let label = format!("{:?}", make());
            assert_eq!(code, expected, "{label}");
            assert_eq!(http.as_u16(), status, "{label}");
            assert_eq!(code.http_status().as_u16(), status, "{label}");
            assert_eq!(ws.code, expected, "{label}: the socket says the same");
            assert_eq!(ws.message, message, "{label}");
            for internal in ["Mailbox", "pool timed out", "UNIQUE", "users.email"] {
                assert!(!message.contains(internal), "{label} leaks {internal}");
            }
        }

        let llm: [(LlmError, ErrorCode); 4] = [
            (LlmError::RateLimit, ErrorCode::RateLimited),
            (
                LlmError::Unavailable("upstream said: secret-ish body".into()),
                ErrorCode::ProviderError,
            ),
            (
                LlmError::BadResponse("<html>proxy error</html>".into()),
                ErrorCode::ProviderError,
            ),
            (
                LlmError::BadResponse(crate::llm::retrieval::NO_MATCH.into()),
                ErrorCode::NoAnswer,
            ),
        ];
        for (error, expected) in llm {
            assert_eq!(error.code(), expected, "{error:?}");
            let message = error.public_message();
            assert!(
                !message.contains("secret-ish") && !message.contains("<html>"),
                "{message}"
            );
        }

        // The errors of the layers both transports call (who is asking, booking a meeting)
        // read the same over HTTP and on the socket too.
        fn both<E: ClientError>(make: impl Fn() -> E) -> (ApiError, WsError) {
            (ApiError::from(make()), WsError::from(make()))
        }
        let shared = [
            (
                both(|| AuthError::Unauthenticated("token expired".into())),
                ErrorCode::AuthError,
                401,
            ),
            (
                both(|| AuthError::Forbidden("staff token required".into())),
                ErrorCode::Forbidden,
                403,
            ),
            (
                both(|| AuthError::Signing("key=hunter2".into())),
                ErrorCode::Internal,
                500,
            ),
            (
                both(|| BookingError::field("email", "is not valid")),
                ErrorCode::ValidationError,
                400,
            ),
            (
                both(|| BookingError::Taken("that slot is no longer available".into())),
                ErrorCode::Conflict,
                409,
            ),
            (
                both(|| BookingError::Store(StoreError::Unavailable("pool timed out".into()))),
                ErrorCode::ServiceUnavailable,
                503,
            ),
        ];
        for ((api, ws), expected, status) in shared {
            assert_eq!(api.code(), expected, "{api:?}");
            assert_eq!(api.status_code().as_u16(), status, "{api:?}");
            assert_eq!(ws.code, expected, "{ws:?}");
            assert_eq!(ws.status_code().as_u16(), status, "the handshake: {ws:?}");
            assert_eq!(api.body().error, ws.message, "one sentence on both");
            for internal in ["hunter2", "pool timed out"] {
                assert!(!ws.message.contains(internal), "{ws:?} leaks {internal}");
            }
        }
        assert_eq!(
            ApiError::from(BookingError::field("email", "is not valid"))
                .body()
                .details,
            Some(serde_json::json!({"field": "email"}))
        );
    }
}
