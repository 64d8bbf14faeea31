//! What the benches that drive real `atende` processes (`soak`, `cluster`) share: when to
//! run, numeric knobs from the environment, and the receiver of the engine's replies.

use actix_web::{web, App, FromRequest, Handler, HttpServer, Responder};
use anyhow::Context as _;

/// Whether this bench binary should run: `cargo bench` passes `--bench`; the test runner only
/// lists it (`--list`) or runs it in test mode, where it does nothing. `--help` prints `help`.
pub fn wanted(name: &str, help: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{help}");
        return false;
    }
    if args.iter().any(|a| a == "--list") || !args.iter().any(|a| a == "--bench") {
        println!("{name}: not run in test mode; use `cargo bench --bench {name}`");
        return false;
    }
    true
}

/// Ends the bench with its verdict: 0 passed, 1 failed its checks, 2 could not run.
pub fn exit_with(name: &str, result: anyhow::Result<bool>) {
    match result {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("{name}: {e:#}");
            std::process::exit(2);
        }
    }
}

/// A number from the environment, `default` when unset or empty.
pub fn env_number(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(raw) if !raw.trim().is_empty() => raw
            .trim()
            .parse()
            .with_context(|| format!("{name}={raw:?} is not a number")),
        _ => Ok(default),
    }
}

/// Serves every request with `handler` (one worker, a free loopback port, `data` shared):
/// the URL the engine's generic integration posts its replies to.
pub fn start_receiver<D, F, Args>(data: web::Data<D>, handler: F) -> anyhow::Result<String>
where
    D: Send + Sync + 'static,
    F: Handler<Args> + Clone + Send + 'static,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(handler.clone()))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))?;
    let url = format!("http://127.0.0.1:{}/replies", server.addrs()[0].port());
    actix_web::rt::spawn(server.run());
    Ok(url)
}
