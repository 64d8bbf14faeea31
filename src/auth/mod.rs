//! Who a request or a socket speaks for, shared by every transport (REST, SSE, the
//! WebSocket): signed tokens ([`token`]), the user's current role and credentials behind a
//! staff token ([`access`]), and where an HTTP request carries its token ([`request`]).
//! The transports only add their own way of failing: [`AuthError`] says its `ErrorCode`
//! (crate::error), and each transport derives its answer from that.

pub mod access;
pub mod request;
pub mod token;

pub use access::{Access, Staff};
pub use token::{Claims, Subject, TokenKeys};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credentials, or ones that no longer hold (`AUTH_ERROR`).
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated, but not as someone who may do this (`FORBIDDEN`).
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A token could not be signed; the detail is for the log only.
    #[error("token signing failed: {0}")]
    Signing(String),
}
