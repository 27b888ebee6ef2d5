//! `make bench`: one suite, one table. Every figure is a ratio or a count measured in this
//! run, in-process or against release binaries, with the local services `scripts/bench.sh`
//! starts (DynamoDB Local, the local S3 server, and `cargo lambda watch` for the worker).
//!
//! - P1 presigning one upload URL (criterion);
//! - P2 a warm GET in-process ÷ a raw GetItem of the same item;
//! - P3 backend calls per request, every endpoint (the SDK interceptor counts);
//! - P4 List's first page, 100k-upload bucket ÷ 1k-upload bucket, four queries;
//! - P5 per function: start to first Runtime API poll, stripped binary, memory after one
//!   request (release binaries under a fake Runtime API);
//! - P6 confirming a 1 GiB object ÷ `sha256sum` of it, and the worker's peak memory;
//! - P7 the local S3 server's PUT of that object ÷ `dd` writing it (throughput);
//! - P8 the worker on a 1 GiB multipart object (joined, copied in parts, hashed by reading,
//!   as any object over 5 GiB) ÷ `sha256sum`, its hashing alone ÷ `sha256sum`, peak memory;
//! - P9 `uploads put` of 1 GiB in parallel parts ÷ one plain PUT to the same S3 server;
//! - B1 Batch Create of 100 ÷ one Create (issue #12);
//! - B2 1 000 small files through one `uploads put` ÷ one `uploads put` each.
//!
//! `UPLOADS_BENCH_ONLY=P1,P4` runs some of them.

mod batch;
mod big_confirm;
mod cold_start;
mod large;
mod list;
mod presign;
mod table;
mod warm_get;

use bucket_uploads::App;
use std::path::PathBuf;
use table::{Table, ms};

fn wanted(id: &str) -> bool {
    std::env::var("UPLOADS_BENCH_ONLY").map_or(true, |only| only.split(',').any(|w| w.trim() == id))
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let app = App::from_env().expect("run through `make bench`");
    let work = PathBuf::from(std::env::var("UPLOADS_BENCH_DIR").expect("UPLOADS_BENCH_DIR (make bench sets it)"));
    let release = PathBuf::from(
        std::env::var("UPLOADS_BENCH_RELEASE_DIR").expect("UPLOADS_BENCH_RELEASE_DIR (make bench sets it)"),
    );
    let mut table = Table::new();

    if wanted("P1") {
        let micros = presign::run(&app, &runtime, &work.join("criterion"));
        table.row(
            "P1",
            "presign one upload URL",
            format!("{micros:.1} µs"),
            "criterion median; signing is local, no call",
        );
    }
    runtime.block_on(async {
        if wanted("P2") {
            let warm = warm_get::run(&app).await;
            table.row(
                "P2",
                "warm GET in-process ÷ raw GetItem",
                format!("{:.2}", warm.get.as_secs_f64() / warm.raw.as_secs_f64()),
                format!(
                    "medians {} vs {} (auth from the cache + one GetItem)",
                    ms(warm.get),
                    ms(warm.raw)
                ),
            );
        }
        if wanted("P3") {
            for counted in api_tests::calls::count_every_endpoint(&app).await {
                table.row(
                    "P3",
                    format!("calls: {}", counted.request),
                    format!("{} + {}", counted.dynamodb, counted.s3),
                    format!("DynamoDB + S3, warm: {}", counted.operations),
                );
            }
        }
        if wanted("B1") {
            let (single, batch) = batch::run(&app).await;
            table.row(
                "B1",
                format!("batch create of {} ÷ one create", batch::BATCH),
                format!("{:.2}", batch.as_secs_f64() / single.as_secs_f64()),
                format!(
                    "medians {} vs {}: {:.1}× the uploads per second",
                    ms(batch),
                    ms(single),
                    batch::BATCH as f64 * single.as_secs_f64() / batch.as_secs_f64()
                ),
            );
        }
        if wanted("P4") {
            let (seeded, queries) = list::run(&app).await;
            println!(
                "seeded {} + {} uploads in {:.1} s",
                list::SMALL,
                list::LARGE,
                seeded.as_secs_f64()
            );
            for q in queries {
                let read = |f: &list::Fared| match (&f.items_read, &f.refused) {
                    (Some(n), _) => format!("{n} items read"),
                    (None, _) => "refused: 400 list_too_broad".to_owned(),
                };
                let figure = match (&q.small.refused, &q.large.refused) {
                    (None, None) => format!("{:.2}", q.large.median.as_secs_f64() / q.small.median.as_secs_f64()),
                    _ => "—".to_owned(),
                };
                table.row(
                    "P4",
                    format!("list 100k ÷ 1k: {}", q.name),
                    figure,
                    format!(
                        "100k: {} ({}); 1k: {} ({})",
                        ms(q.large.median),
                        read(&q.large),
                        ms(q.small.median),
                        read(&q.small)
                    ),
                );
            }
        }
        if wanted("P5") {
            let functions: Vec<String> = bucket_uploads::routes::ALL
                .iter()
                .chain([&bucket_uploads::routes::NOT_FOUND])
                .map(|r| r.function.to_owned())
                .chain(bucket_uploads::routes::WORKERS.iter().map(|w| (*w).to_owned()))
                // The monthly key rotation is on no request's path, and it needs IAM and
                // Secrets Manager, which this stack's fake runtime does not point it at.
                .filter(|f| f != "rotate-signing-key")
                .collect();
            for started in cold_start::run(&app, &release, &functions).await {
                table.row(
                    "P5",
                    format!("start: {}", started.function),
                    format!("{} init", ms(started.init)),
                    format!(
                        "binary {}; RSS after one request {} (peak {}); {}",
                        mb(started.binary_bytes),
                        mib(started.rss_kib),
                        mib(started.peak_rss_kib),
                        started.answered
                    ),
                );
            }
        }
        if wanted("P6") || wanted("P7") {
            let big = big_confirm::run(&app, &release, &work).await;
            table.row(
                "P7",
                "local-s3 PUT 1 GiB ÷ dd (throughput)",
                format!("{:.2}", big.dd.as_secs_f64() / big.put.as_secs_f64()),
                format!(
                    "curl to the presigned URL {} vs dd {}; md5sum alone {}, and every PUT computes \
                     the MD5 (S3's ETag): the PUT runs at {:.2} of md5sum's throughput",
                    ms(big.put),
                    ms(big.dd),
                    ms(big.md5sum),
                    big.md5sum.as_secs_f64() / big.put.as_secs_f64()
                ),
            );
            table.row(
                "P6",
                "confirm 1 GiB ÷ sha256sum of it",
                format!("{:.2}", big.worker.as_secs_f64() / big.sha256sum.as_secs_f64()),
                format!(
                    "worker {} vs sha256sum {}; worker peak RSS {}; task {}",
                    ms(big.worker),
                    ms(big.sha256sum),
                    mib(big.peak_rss_kib),
                    big.status
                ),
            );
        }
        if wanted("P8") || wanted("P9") {
            let path = big_confirm::big_file(&work);
            let sha256sum = {
                let started = std::time::Instant::now();
                let status = std::process::Command::new("sha256sum")
                    .arg(&path)
                    .output()
                    .expect("sha256sum runs")
                    .status;
                assert!(status.success());
                started.elapsed()
            };
            if wanted("P8") {
                let run = large::worker_run(&app, &release, &path, big_confirm::SIZE).await;
                table.row(
                    "P8",
                    "worker on 1 GiB multipart ÷ sha256sum",
                    format!("{:.2}", run.worker.as_secs_f64() / sha256sum.as_secs_f64()),
                    format!(
                        "worker {} (join 64 parts, copy in parts, hash by reading) vs sha256sum {}; \
                         hashing alone {} = {:.2} of sha256sum; worker peak RSS {}; task {}",
                        ms(run.worker),
                        ms(sha256sum),
                        ms(run.hashing),
                        run.hashing.as_secs_f64() / sha256sum.as_secs_f64(),
                        mib(run.peak_rss_kib),
                        run.status
                    ),
                );
            }
            if wanted("P9") {
                let (put, plain) = large::parallel_put(&app, &path).await;
                table.row(
                    "P9",
                    "uploads put 1 GiB in parts ÷ one plain PUT",
                    format!("{:.2}", put.as_secs_f64() / plain.as_secs_f64()),
                    format!(
                        "uploads put (hash, create, 64 parts of 16 MiB 4 at a time, confirm) {} vs curl PUT {}",
                        ms(put),
                        ms(plain)
                    ),
                );
            }
        }
        if wanted("B2") {
            let (batch, apart) = large::many_small(&app, &work).await;
            table.row(
                "B2",
                format!("{} small files: one uploads put ÷ one each", large::SMALL_FILES),
                format!("{:.3}", batch.as_secs_f64() / apart.as_secs_f64()),
                format!(
                    "one put (batch create, parallel PUTs, batch confirm) {} vs {} puts {}",
                    ms(batch),
                    large::SMALL_FILES,
                    ms(apart)
                ),
            );
        }
    });
    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|cpu| {
            cpu.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    table.print(&format!(
        "make bench, {} UTC, {cores} cores ({machine}), DynamoDB Local + tools/local-s3",
        bucket_uploads::time::Timestamp::now()
    ));
}
