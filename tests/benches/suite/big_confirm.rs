//! P6: confirming a 1 GiB object: the worker's time (the release binary, under the fake
//! Runtime API, against the local S3 server, which copies the object and computes its
//! SHA-256 as S3 does) against `sha256sum` of the same file, and the worker's peak memory.
//!
//! P7: the upload before it, as Mixpeek documents it (`curl -X PUT --upload-file` to the
//! presigned URL), against `dd` writing the same bytes to a file on the same disk; and
//! `md5sum` of the file, the floor for any PUT that answers with S3's ETag (its MD5).

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
    pub put: Duration,
    pub dd: Duration,
    pub md5sum: Duration,
    pub peak_rss_kib: u64,
    pub status: String,
}

/// A file of `SIZE` pseudo-random bytes (kept between runs).
pub fn big_file(dir: &Path) -> std::path::PathBuf {
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

/// How long `program args…` takes; it must succeed.
fn timed(program: &str, args: &[&std::ffi::OsStr]) -> Duration {
    let started = Instant::now();
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("{program} runs: {err}"));
    let took = started.elapsed();
    assert!(
        output.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    took
}

pub async fn run(app: &App, release: &Path, dir: &Path) -> BigConfirm {
    let path = big_file(dir);
    let sha256sum = timed("sha256sum", &[path.as_os_str()]);
    let md5sum = timed("md5sum", &[path.as_os_str()]);
    let written = dir.join("bench-1gib.dd");
    let dd = timed(
        "dd",
        &[
            format!("if={}", path.display()).as_ref(),
            format!("of={}", written.display()).as_ref(),
            "bs=1M".as_ref(),
        ],
    );
    std::fs::remove_file(&written).expect("remove dd's copy");

    let made = Tenancy::create(app, ["p6", "p6"], None).await;
    let scope = made.scope(app).await;
    let body =
        serde_json::json!({"filename": "big.bin", "content_type": "application/octet-stream", "file_size_bytes": SIZE});
    let bucket_ref = made.bucket_ref();
    let upload = create_upload(app, &scope, &bucket_ref, Some(&body))
        .await
        .expect("create");
    let url = upload.presigned_url.clone().expect("a presigned URL");
    let put = timed(
        "curl",
        &[
            "-sSf".as_ref(),
            "-X".as_ref(),
            "PUT".as_ref(),
            "-H".as_ref(),
            "Content-Type: application/octet-stream".as_ref(),
            "--upload-file".as_ref(),
            path.as_os_str(),
            "-o".as_ref(),
            "/dev/null".as_ref(),
            url.as_ref(),
        ],
    );

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
        put,
        dd,
        md5sum,
        peak_rss_kib: invocation.peak_rss_kib,
        status: match invocation.answer["status"].as_str() {
            Some(status) => status.to_owned(),
            None => format!("{}: {}", invocation.outcome, invocation.answer),
        },
    }
}
