//! The functions' log output, as Lambda's advanced logging controls configure it: JSON
//! lines when `AWS_LAMBDA_LOG_FORMAT=JSON` (the template's setting), text otherwise; the
//! level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO.
//!
//! The level is one level (`debug`, `warn`…), not per-module directives: filtering by
//! directive (`EnvFilter`) would link a regex engine into every function for it.
//!
//! Release builds (what Lambda runs) keep INFO and above only: `tracing`'s
//! `release_max_level_info` compiles the dependencies' DEBUG and TRACE events out (about
//! 0.35 MB of `confirm-upload`, issue 13). `DEBUG` and `TRACE` show more in debug builds
//! (`cargo lambda watch`, `make dev`) and nothing more in AWS.

use std::io::IsTerminal;
use std::str::FromStr;
use tracing_subscriber::filter::LevelFilter;

pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|level| LevelFilter::from_str(level.trim()).ok())
        .unwrap_or(LevelFilter::INFO);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    // Colours only on a terminal: in a log file (the local stack's, whose slow requests
    // make test's failure output greps for) or CloudWatch they are escape codes.
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(std::io::stdout().is_terminal())
        .with_target(false)
        .without_time()
        .with_max_level(level)
        .with_writer(std::io::stdout);
    // Another subscriber already set (a test harness, say) keeps its place.
    let _ = if json {
        subscriber.json().try_init()
    } else {
        subscriber.try_init()
    };
}
