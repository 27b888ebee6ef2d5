//! `cargo lambda watch`, with the options of cargo-lambda 1.9.2's `watch` subcommand, built
//! from its crate with the fixes in `patches/` (see there for what each fixes and why).

use cargo_lambda_metadata::cargo::load_metadata;
use cargo_lambda_metadata::cargo::watch::Watch;
use cargo_lambda_metadata::config::{Config, ConfigOptions, FunctionNames, load_config};
use clap::Parser;
use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt};

#[derive(Parser)]
#[command(name = "lambda-watch", about = "cargo lambda watch, with the fixes in tools/local-watch/patches")]
struct Cli {
    #[command(flatten)]
    watch: Watch,
}

#[tokio::main]
async fn main() -> miette::Result<()> {
    let cli = Cli::parse();
    // As cargo-lambda logs its watch: its own messages at info, the X-Ray layer the watch
    // needs to give each invocation a trace id.
    let directive = std::env::var("RUST_LOG").unwrap_or_else(|_| "cargo_lambda=info".into());
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(directive))
        .with(tracing_subscriber::fmt::layer().with_target(false).without_time().with_ansi(false))
        .with(cargo_lambda_watch::xray_layer(&cli.watch))
        .init();
    let options = ConfigOptions {
        names: FunctionNames::new(cli.watch.pkg_name(), cli.watch.bin_name()),
        ..Default::default()
    };
    let metadata = load_metadata(cli.watch.manifest_path(), cli.watch.cargo_opts.common.target_dir.as_deref())?;
    let arguments = Config {
        watch: cli.watch,
        ..Default::default()
    };
    let config = load_config(&arguments, &metadata, &options)?;
    cargo_lambda_watch::run(&config.watch, &config.env, &metadata, "never").await
}
