//! List Uploads' first page of a 100k-upload bucket and of a 1k-upload bucket, in one run:
//! median and p95 latency of each, their ratio, and the items DynamoDB read per request.
//! A plain listing should cost the same whatever the bucket's size.
//!
//! Run with `make bench` (it starts DynamoDB Local and the S3 server first).

use bucket_uploads::listing::{Listed, list_bucket};
use bucket_uploads::model::Bucket;
use bucket_uploads::query::{ListRequest, PageParams};
use bucket_uploads::time::Timestamp;
use bucket_uploads::uploads::NewUpload;
use bucket_uploads::{App, tenancy};
use serde_json::json;
use std::time::{Duration, Instant};

const SMALL: usize = 1_000;
const LARGE: usize = 100_000;
const WARMUP: usize = 5;
const SAMPLES: usize = 60;
const IMPORT_CONCURRENCY: usize = 8;

async fn filled_bucket(
    app: &App,
    namespace_id: &bucket_uploads::ids::NamespaceId,
    name: &str,
    uploads: usize,
) -> Bucket {
    let bucket = tenancy::create_bucket(&app.store, namespace_id, name, None)
        .await
        .expect("bucket");
    let start = Timestamp::now().plus_seconds(-(uploads as i64));
    let records: Vec<_> = (0..uploads)
        .map(|i| {
            let body = json!({
                "filename": format!("file_{i}.mp4"), "content_type": "video/mp4", "file_size_bytes": 1 + i % 5000,
                "metadata": {"campaign": format!("c{}", i % 10), "n": i},
            });
            let new = NewUpload::parse(Some(&body), u64::MAX).expect("valid upload");
            new.into_pending(
                bucket_uploads::ids::UploadId::generate(),
                &bucket,
                start.plus_seconds(i as i64),
            )
        })
        .collect();
    let chunks: Vec<_> = records.chunks(records.len().div_ceil(IMPORT_CONCURRENCY)).collect();
    let imports = chunks
        .iter()
        .map(|chunk| app.store.import_uploads(&bucket.bucket_id, chunk));
    for result in futures::future::join_all(imports).await {
        result.expect("import");
    }
    bucket
}

struct Measured {
    median: Duration,
    p95: Duration,
    items_read: usize,
    results: usize,
    total: u64,
}

async fn measure(app: &App, bucket: &Bucket, request: &ListRequest) -> Measured {
    let mut timings = Vec::with_capacity(SAMPLES);
    let mut last: Option<Listed> = None;
    for i in 0..WARMUP + SAMPLES {
        let started = Instant::now();
        let listed = list_bucket(app, bucket, request).await.expect("list");
        if i >= WARMUP {
            timings.push(started.elapsed());
        }
        last = Some(listed);
    }
    timings.sort();
    let last = last.expect("at least one run");
    Measured {
        median: timings[timings.len() / 2],
        p95: timings[timings.len() * 95 / 100],
        items_read: last.items_read,
        results: last.results.len(),
        total: last.page.total,
    }
}

fn report(label: &str, m: &Measured) {
    println!(
        "{label:<22} median {:>8.2} ms   p95 {:>8.2} ms   items read/request {:>6}   results {:>3}   total {:>6}",
        m.median.as_secs_f64() * 1e3,
        m.p95.as_secs_f64() * 1e3,
        m.items_read,
        m.results,
        m.total
    );
}

#[tokio::main]
async fn main() {
    let app = App::from_env().await.expect("run through `make bench`");
    let tenant = tenancy::create_tenant(&app.store, "bench").await.expect("tenant");
    let namespace = tenancy::create_namespace(&app.store, &tenant.tenant_id, "bench")
        .await
        .expect("namespace");
    let seeding = Instant::now();
    let small = filled_bucket(&app, &namespace.namespace_id, "small", SMALL).await;
    let large = filled_bucket(&app, &namespace.namespace_id, "large", LARGE).await;
    println!(
        "seeded {SMALL} + {LARGE} uploads in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let first_page = ListRequest::parse(None, PageParams::default()).expect("default request");
    let small_page = measure(&app, &small, &first_page).await;
    let large_page = measure(&app, &large, &first_page).await;
    report("1k bucket, first page", &small_page);
    report("100k bucket, first page", &large_page);
    println!(
        "latency ratio 100k/1k: {:.2} (median)   items read per request: {} vs {}",
        large_page.median.as_secs_f64() / small_page.median.as_secs_f64(),
        large_page.items_read,
        small_page.items_read
    );

    // For contrast: a filter the indexes cannot answer reads the whole partition.
    let filtered = ListRequest::parse(
        Some(&json!({"filters": {"metadata.campaign": "c3"}})),
        PageParams::default(),
    )
    .expect("request");
    report("1k bucket, filtered", &measure(&app, &small, &filtered).await);
}
