//! Every HTTP call to a URL someone other than the operator chose goes through here: channel
//! senders, outbound webhooks, http/webhook tools, LLM providers and embeddings.
//!
//! - [`guard`]: which addresses may be reached (refused up front, and again at connect time
//!   by [`guard::GuardedResolver`], so DNS rebinding does not get through);
//! - [`client`]: a reqwest client that never follows redirects (they would lead past the
//!   guard), never uses a proxy from the environment (`HTTP(S)_PROXY` would resolve names
//!   itself, past the guard), and has timeouts;
//! - [`body`]: answers read streamed with a byte cap, and short excerpts of them;
//! - [`backoff`]: exponential backoff with jitter, and `Retry-After`;
//! - [`origin`]: the rule that a write-only secret only goes to the host it was stored for.

pub mod backoff;
pub mod body;
pub mod guard;
pub mod origin;

use std::time::Duration;

/// The outbound rules for one kind of call, from `[outbound]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// No guard: `outbound.allow_private_targets`, or a URL the operator configured.
    pub allow_private: bool,
    /// Most bytes read of an answer, streamed or whole.
    pub max_response_bytes: usize,
    /// Most bytes read of an error answer.
    pub max_error_body_bytes: usize,
}

impl Limits {
    pub fn from_settings(outbound: &crate::config::OutboundSettings) -> Self {
        Self {
            allow_private: outbound.allow_private_targets,
            max_response_bytes: outbound.max_response_bytes,
            max_error_body_bytes: outbound.max_error_body_bytes,
        }
    }
}

/// How a client for outside URLs is built.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub user_agent: &'static str,
    /// Bounds each request as a whole (connect, send, wait, read); `None` when the caller
    /// sets it per request.
    pub timeout: Option<Duration>,
    pub connect_timeout: Duration,
    /// `outbound.allow_private_targets`, or a URL the operator configured: no guarded
    /// resolver then.
    pub allow_private: bool,
}

/// A client with no redirects, no proxy and the guarded resolver (unless private targets
/// are allowed). Fails only when the TLS backend cannot start.
pub fn client(spec: &ClientSpec) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .user_agent(spec.user_agent)
        .connect_timeout(spec.connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if let Some(timeout) = spec.timeout {
        builder = builder.timeout(timeout);
    }
    if !spec.allow_private {
        builder = builder.dns_resolver(guard::GuardedResolver);
    }
    builder.build()
}

/// "outer: inner: root cause" on one line, because reqwest's own message ("error sending
/// request") hides the part an operator needs ("Connection refused"). Callers strip the URL
/// first (`without_url`): it may carry tokens in its query.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_build_guarded_or_not() {
        for allow_private in [false, true] {
            let spec = ClientSpec {
                user_agent: "atende-test",
                timeout: Some(Duration::from_secs(1)),
                connect_timeout: Duration::from_secs(1),
                allow_private,
            };
            assert!(client(&spec).is_ok());
        }
    }
}
