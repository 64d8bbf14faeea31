//! What the `/ws` benches (`ws_load`, `ws_compare`) share: the engine under test as a child
//! process (the bench binary re-executed, so its resident memory is measured alone), its
//! resident memory, and numeric knobs from the environment.

use anyhow::{anyhow, Context as _};

/// The engine the bench talks to, in this (child) process: prints `@@port N`, then serves
/// until its stdin closes. `settings` are layered over `config/` and a fresh SQLite file.
pub fn serve(settings: &[(&str, &str)]) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("temp dir")?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let mut layered = vec![
        ("server.port", "0"),
        ("database.url", url.as_str()),
        ("log.level", "error"),
        ("auth.argon2_memory_kib", "1024"),
        ("auth.argon2_iterations", "1"),
    ];
    layered.extend_from_slice(settings);
    let settings = atende::config::Settings::load_from(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config")),
        "development",
        true,
        &layered,
    )?;
    atende::telemetry::init(&settings.log);
    actix_web::rt::System::new().block_on(async move {
        let app = atende::app::Application::build(settings)
            .await
            .map_err(|e| anyhow!("engine start: {e}"))?;
        println!("@@port {}", app.port());
        let server = actix_web::rt::spawn(app.run_until_stopped());
        until_stdin_closes().await;
        server.abort();
        drop(dir);
        Ok(())
    })
}

/// Resident memory of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS for {pid}"))
}

pub fn env_usize(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name} must be a number, not {v:?}")),
        Err(_) => Ok(default),
    }
}

/// A child server's life: the parent closes its stdin when it is done (or dies).
pub async fn until_stdin_closes() {
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while std::io::stdin()
            .read_line(&mut line)
            .map(|n| n > 0)
            .unwrap_or(false)
        {
            line.clear();
        }
    })
    .await
    .ok();
}
