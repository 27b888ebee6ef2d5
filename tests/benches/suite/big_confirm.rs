//! P6: confirming a 1 GiB object: the worker's time (the release binary, under the fake
//! Runtime API, against the local S3 server, which copies the object and computes its
//! SHA-256 as S3 does) against `sha256sum` of the same file, and the worker's peak memory.

use api_tests::Tenancy;
use api_tests::fake_runtime::function_env;
use api_tests::fake_runtime::invoke_once;
use bucket_uploads::App;
use bucket_uploads::dispatch::WorkerEvent;
use bucket_uploads::uploads::create_upload;
use rand::{RngCore, SeedableRng};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

pub const SIZE: u64 = 1 << 30;

pub struct BigConfirm {
    pub worker: Duration,
    pub sha256sum: Duration,
    pub peak_rss_kib: u64,
    pub status: String,
}

/// A file of `SIZE` pseudo-random bytes (kept between runs).
fn big_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("bench-1gib.bin");
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == SIZE) {
        return path;
    }
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create the file"));
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..SIZE >> 20 {
        rng.fill_bytes(&mut chunk);
        file.write_all(&chunk).expect("write");
    }
    file.flush().expect("flush");
    path
}

pub async fn run(app: &App, release: &Path, dir: &Path) -> BigConfirm {
    let path = big_file(dir);
    let started = Instant::now();
    let status = std::process::Command::new("sha256sum")
        .arg(&path)
        .output()
        .expect("sha256sum runs");
    let sha256sum = started.elapsed();
    assert!(status.status.success());

    let made = Tenancy::create(app, ["p6", "p6"], None).await;
    let scope = made.scope(app).await;
    let body =
        serde_json::json!({"filename": "big.bin", "content_type": "application/octet-stream", "file_size_bytes": SIZE});
    let bucket_ref = made.bucket_ref();
    let upload = create_upload(app, &scope, &bucket_ref, Some(&body))
        .await
        .expect("create");
    app.objects
        .client()
        .put_object()
        .bucket(app.objects.bucket())
        .key(upload.staging_key())
        .body(
            aws_sdk_s3::primitives::ByteStream::from_path(&path)
                .await
                .expect("read the file"),
        )
        .send()
        .await
        .expect("store the object");

    let task_id = api_tests::processing(app, &made.namespace.namespace_id, &upload)
        .await
        .task_id;
    let event = serde_json::to_value(WorkerEvent::Confirm { task_id }).expect("an event");
    let worker = release.join("confirm-worker");
    let invocation = invoke_once(
        &worker,
        &function_env("confirm-worker"),
        &event,
        Duration::from_secs(900),
    )
    .await;
    BigConfirm {
        worker: invocation.handled,
        sha256sum,
        peak_rss_kib: invocation.peak_rss_kib,
        status: match invocation.answer["status"].as_str() {
            Some(status) => status.to_owned(),
            None => format!("{}: {}", invocation.outcome, invocation.answer),
        },
    }
}
