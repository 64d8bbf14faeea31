//! Where a phase's database time goes: with `ATENDE_BENCH_STATEMENTS=N`, every statement
//! the engine runs through diesel is timed (a diesel `Instrumentation` on each new
//! connection) and the phase ends by printing the top N statement shapes by total time,
//! with their count and mean. Off (the default), nothing is installed and nothing is timed.
//!
//! Shapes: bind lists, numbered placeholders and multi-row `VALUES` are folded, so a batch
//! of 3 and one of 200 rows count as one statement.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use diesel::connection::{set_default_instrumentation, Instrumentation, InstrumentationEvent};

#[derive(Default, Clone, Copy)]
struct Tally {
    count: u64,
    total: Duration,
}

/// Process-wide by necessity: diesel takes a plain `fn` as the instrumentation's
/// constructor, so the per-connection timers can only meet in a static. Bench-only.
fn tallies() -> &'static Mutex<HashMap<String, Tally>> {
    static TALLIES: OnceLock<Mutex<HashMap<String, Tally>>> = OnceLock::new();
    TALLIES.get_or_init(Default::default)
}

/// How many statement shapes to print, from `ATENDE_BENCH_STATEMENTS`; `None` when off.
pub fn wanted() -> Option<usize> {
    std::env::var("ATENDE_BENCH_STATEMENTS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
}

/// Times every statement of every connection opened from now on. Call before the engine
/// opens its pool.
pub fn install() {
    fn timer() -> Option<Box<dyn Instrumentation>> {
        Some(Box::new(StatementTimer::default()))
    }
    if let Err(e) = set_default_instrumentation(timer) {
        eprintln!("statements: cannot install the timer: {e}");
    }
}

#[derive(Default)]
struct StatementTimer {
    started: Option<(String, Instant)>,
}

impl Instrumentation for StatementTimer {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                self.started = Some((shape(&query.to_string()), Instant::now()));
            }
            InstrumentationEvent::FinishQuery { .. } => {
                if let Some((key, at)) = self.started.take() {
                    let elapsed = at.elapsed();
                    let mut map = tallies().lock().unwrap_or_else(|p| p.into_inner());
                    let tally = map.entry(key).or_default();
                    tally.count += 1;
                    tally.total += elapsed;
                }
            }
            _ => {}
        }
    }
}

/// The statement without its binds, placeholders unnumbered, repeated rows folded.
fn shape(sql: &str) -> String {
    let sql = sql.split("-- binds:").next().unwrap_or(sql).trim();
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                chars.next();
            }
            out.push('?');
        } else {
            out.push(c);
        }
    }
    let mut folded = fold(&out, "?, ?", "?");
    folded = fold(&folded, "), (", ")");
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Folds every run of `repeat` into `into` until none is left.
fn fold(text: &str, repeat: &str, into: &str) -> String {
    let mut text = text.to_string();
    while text.contains(repeat) {
        text = text.replace(repeat, into);
    }
    text
}

/// The top `n` shapes by total time, one line each, with a header and the totals.
pub fn report(n: usize) -> String {
    let map = tallies().lock().unwrap_or_else(|p| p.into_inner());
    let mut rows: Vec<(&String, &Tally)> = map.iter().collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1.total));
    let count: u64 = map.values().map(|t| t.count).sum();
    let total: Duration = map.values().map(|t| t.total).sum();
    let mut out = format!(
        "statements         {count} run, {:.1} s in all ({} shapes); top {n} by total time:\n",
        total.as_secs_f64(),
        map.len()
    );
    for (sql, tally) in rows.into_iter().take(n) {
        let mean_us = tally.total.as_secs_f64() * 1e6 / tally.count.max(1) as f64;
        let mut sql = sql.clone();
        if sql.len() > 150 {
            let cut = (0..=150)
                .rev()
                .find(|i| sql.is_char_boundary(*i))
                .unwrap_or(0);
            sql.truncate(cut);
            sql.push('…');
        }
        out.push_str(&format!(
            "  {:>9.1} ms {:>7} × {:>7.0} µs  {sql}\n",
            tally.total.as_secs_f64() * 1e3,
            tally.count,
            mean_us
        ));
    }
    out
}
