//! Tracing set-up: human-readable logs in development, JSON in production.

use tracing_subscriber::{fmt, prelude::*, EnvFilter};

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber once. `RUST_LOG` wins over `log.level` when set.
/// Safe to call more than once (later calls are no-ops), which tests rely on.
pub fn init(settings: &LogSettings) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match settings.format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Pretty => registry.with(fmt::layer().compact()).try_init(),
    };
    // Already initialised (tests spawn many apps in one process): keep the first.
    drop(result);
}
