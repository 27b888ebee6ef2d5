//! `local-s3`: the S3 server for `make dev` and `make test`.
//!
//! Built on s3s (SigV4 header and presigned-URL verification, including expiry and every
//! signed header) and s3s-fs (objects as files), with checksum verification moved ahead of
//! the write, S3's conditional, checksummed CopyObject (see `verifying_store`) and S3's
//! multipart uploads (see `multipart`; `--min-part-size` lowers S3's 5 MiB floor for every
//! part but the last, so tests can use small parts). It binds to 127.0.0.1 only. With
//! `--object-created-url` it delivers S3's ObjectCreated events (see `events`). With
//! `--port 0` the kernel picks a free port, which is printed and optionally written to
//! `--port-file`, so test runs never race for a port.

mod cors;
mod events;
mod keys;
mod multipart;
mod object_files;
mod transfer;
mod verifying_store;

use clap::Parser;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::service::S3ServiceBuilder;
use std::path::PathBuf;
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
#[command(version, about)]
struct Opt {
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// File that receives the bound port once the server accepts connections.
    #[arg(long)]
    port_file: Option<PathBuf>,
    #[arg(long, env = "LOCAL_S3_ACCESS_KEY")]
    access_key: String,
    #[arg(long, env = "LOCAL_S3_SECRET_KEY")]
    secret_key: String,
    /// More key pairs, `ACCESS_KEY_ID SECRET_ACCESS_KEY` per line, read on every request.
    #[arg(long, env = "LOCAL_S3_KEYS_FILE")]
    keys_file: Option<PathBuf>,
    /// The SAM template whose S3 bucket's CORS rule this server applies (browsers PUT to
    /// presigned URLs); without it, preflights are refused as by a bucket without CORS.
    #[arg(long)]
    cors_template: Option<PathBuf>,
    /// The smallest size CompleteMultipartUpload accepts for every part but the last, in
    /// bytes: S3's 5 MiB by default; test runs lower it to keep their parts small.
    #[arg(long, env = "LOCAL_S3_MIN_PART_SIZE", default_value_t = multipart::S3_MIN_PART_SIZE)]
    min_part_size: u64,
    /// Where S3's ObjectCreated events go: a Lambda invoke URL (the auto-confirm function
    /// under `cargo lambda watch`), handed each event as its SQS queue would; none without it.
    #[arg(long, env = "LOCAL_S3_OBJECT_CREATED_URL")]
    object_created_url: Option<String>,
    /// Only objects under this prefix have their events delivered (template.yaml's
    /// `ObjectCreatedRule`).
    #[arg(long, default_value = "incoming/")]
    object_created_prefix: String,
    /// Buckets to create if they do not exist yet.
    #[arg(long = "bucket")]
    buckets: Vec<String>,
    /// Directory that holds the buckets.
    root: PathBuf,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let opt = Opt::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();

    for bucket in &opt.buckets {
        std::fs::create_dir_all(opt.root.join(bucket))?;
    }
    let fs =
        s3s_fs::FileSystem::new(&opt.root).map_err(|err| format!("cannot serve {}: {err:?}", opt.root.display()))?;
    let events = events::Notifier::new(opt.object_created_url.clone(), opt.object_created_prefix.clone());
    let store = verifying_store::VerifyingStore::new(fs, opt.root.clone(), opt.min_part_size, events);
    let service = {
        let mut builder = S3ServiceBuilder::new(store);
        builder.set_auth(keys::Keys {
            access_key: opt.access_key,
            secret_key: opt.secret_key,
            file: opt.keys_file,
        });
        builder.build()
    };

    let rules = match &opt.cors_template {
        Some(path) => cors::rules_from_template(path)?,
        None => Vec::new(),
    };
    let service = cors::WithCors::new(service, rules);

    let listener = TcpListener::bind(("127.0.0.1", opt.port)).await?;
    let addr = listener.local_addr()?;
    if let Some(path) = &opt.port_file {
        std::fs::write(path, addr.port().to_string())?;
    }
    println!("local-s3 listening on http://{addr}");

    let http = ConnBuilder::new(TokioExecutor::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        let socket = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                Err(err) => {
                    tracing::warn!("accept failed: {err}");
                    continue;
                }
            },
            () = shutdown.as_mut() => break,
        };
        let conn = http.serve_connection(TokioIo::new(socket), service.clone());
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await;
    Ok(())
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
