//! Issue 25's rows, on the 1 GiB file of P6:
//!
//! - P8: the worker on a 1 GiB multipart upload (the release binary under the fake Runtime
//!   API), told that one copy moves at most 16 MiB, so it joins the parts, copies the object
//!   in parts and hashes it by reading, as it does any object over 5 GiB; its time and the
//!   hashing alone (ranged reads fed to the resumable hasher, in-process) against `sha256sum`
//!   of the file, and the worker's peak memory.
//! - P9: `uploads put` of the file in parallel parts against one plain PUT of it (curl, as
//!   Mixpeek documents) to the same S3 server.
//! - B2: 1 000 small files through one `uploads put` (batch create, parallel PUTs, batch
//!   confirm) against one `uploads put` per file.

use api_tests::fake_runtime::{function_env, invoke_once};
use api_tests::{Tenancy, http};
use bucket_uploads::App;
use bucket_uploads::dispatch::WorkerEvent;
use bucket_uploads::model::Upload;
use bucket_uploads::objects::RunBudget;
use bucket_uploads::time::Timestamp;
use bucket_uploads::uploads::create_upload;
use futures::StreamExt;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PART: u64 = 16 << 20;
pub const SMALL_FILES: usize = 1000;

pub struct WorkerRun {
    pub worker: Duration,
    pub hashing: Duration,
    pub peak_rss_kib: u64,
    pub status: String,
}

/// Part `number` (1-based) of `path`, cut every [`PART`] bytes.
fn read_part(path: &Path, number: u64, size: u64) -> Vec<u8> {
    let start = (number - 1) * PART;
    let len = PART.min(size - start);
    let mut file = std::fs::File::open(path).expect("open the file");
    file.seek(SeekFrom::Start(start)).expect("seek");
    let mut buf = vec![0; usize::try_from(len).expect("a part fits in memory")];
    file.read_exact(&mut buf).expect("read a part");
    buf
}

pub async fn worker_run(app: &App, release: &Path, path: &Path, size: u64) -> WorkerRun {
    let made = Tenancy::create(app, ["p8", "p8"], None).await;
    let scope = made.scope(app).await;
    let body = serde_json::json!({
        "filename": "big.bin", "content_type": "application/octet-stream",
        "file_size_bytes": size, "multipart": true, "part_size_bytes": PART,
    });
    let upload: Upload = create_upload(app, &scope, &made.bucket_ref(), Some(&body))
        .await
        .expect("create");
    let multipart = upload.multipart.clone().expect("multipart");
    let statuses: Vec<u16> = futures::stream::iter(multipart.parts.iter())
        .map(|part| async move {
            let bytes = read_part(path, u64::from(part.part_number), size);
            let response = http().put(&part.url).body(bytes).send().await.expect("PUT a part");
            response.status().as_u16()
        })
        .buffer_unordered(4)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    let task_id = api_tests::processing(app, &made.namespace.namespace_id, &upload)
        .await
        .task_id;
    let event = serde_json::to_value(WorkerEvent::Confirm { task_id }).expect("an event");
    let mut env = function_env("confirm-worker");
    env.push(("UPLOADS_SINGLE_COPY_MAX_BYTES".into(), (16u64 << 20).to_string()));
    let invocation = invoke_once(&release.join("confirm-worker"), &env, &event, Duration::from_secs(900)).await;

    let budget = RunBudget {
        deadline: Timestamp::now().plus_seconds(900),
        max_bytes: None,
    };
    let started = Instant::now();
    let hashed = app
        .objects
        .sha256_resumable(upload.final_key(), size, None, &budget)
        .await
        .expect("hash the object");
    let hashing = started.elapsed();
    assert!(matches!(hashed, bucket_uploads::objects::Hashed::Done(_)), "{hashed:?}");
    WorkerRun {
        worker: invocation.handled,
        hashing,
        peak_rss_kib: invocation.peak_rss_kib,
        status: match invocation.answer["status"].as_str() {
            Some(status) => status.to_owned(),
            None => format!("{}: {}", invocation.outcome, invocation.answer),
        },
    }
}

/// The CLI, pointed at the bench's API with a tenant of its own.
fn cli(made: &Tenancy, args: &[&str]) -> Command {
    let program = std::env::var("UPLOADS_CLI").expect("UPLOADS_CLI (make bench sets it)");
    let mut command = Command::new(program);
    command
        .args(args)
        .env("UPLOADS_API_URL", api_tests::api_url())
        .env("UPLOADS_API_KEY", &made.key.plaintext)
        .env("UPLOADS_NAMESPACE", &made.namespace.name)
        .env("UPLOADS_BUCKET", &made.bucket.name);
    command
}

fn timed(mut command: Command) -> Duration {
    let started = Instant::now();
    let output = command.output().expect("the command runs");
    let took = started.elapsed();
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    took
}

/// `uploads put` of `path` in parallel parts, and one plain PUT of it (curl).
pub async fn parallel_put(app: &App, path: &Path) -> (Duration, Duration) {
    let made = Tenancy::create(app, ["p9", "p9"], None).await;
    let file = path.to_str().expect("a UTF-8 path");
    let put = timed(cli(
        &made,
        &[
            "put",
            "--multipart-threshold",
            "1",
            "--part-size",
            "16777216",
            "--parallel",
            "4",
            file,
        ],
    ));
    let scope = made.scope(app).await;
    let size = std::fs::metadata(path).expect("the file").len();
    let body = serde_json::json!({"filename": "plain.bin", "content_type": "application/octet-stream", "file_size_bytes": size});
    let upload = create_upload(app, &scope, &made.bucket_ref(), Some(&body))
        .await
        .expect("create");
    let url = upload.presigned_url.expect("a presigned URL");
    let mut curl = Command::new("curl");
    curl.args([
        "-sSf",
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/octet-stream",
        "--upload-file",
        file,
    ])
    .args(["-o", "/dev/null", &url]);
    (put, timed(curl))
}

/// 1 000 files of 1 KiB: one `uploads put` of them all, and one `uploads put` per file.
pub async fn many_small(app: &App, dir: &Path) -> (Duration, Duration) {
    let write = |name: &str| -> Vec<PathBuf> {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).expect("a directory");
        (0..SMALL_FILES)
            .map(|i| {
                let path = dir.join(format!("f{i:04}.txt"));
                std::fs::write(&path, format!("{name} file {i}\n").repeat(60)).expect("a file");
                path
            })
            .collect()
    };
    let together = write("together");
    let apart = write("apart");
    let made = Tenancy::create(app, ["b2", "b2"], None).await;
    let mut all = vec!["put".to_owned()];
    all.extend(together.iter().map(|p| p.display().to_string()));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let batch = timed(cli(&made, &refs));
    let started = Instant::now();
    for path in &apart {
        timed(cli(&made, &["put", path.to_str().expect("a UTF-8 path")]));
    }
    (batch, started.elapsed())
}
