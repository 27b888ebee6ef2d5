//! `make bench`: Batch Create of 100 uploads against one single Create, in-process against
//! DynamoDB Local and the local S3 server (started by scripts/bench.sh).

use bucket_uploads::App;
use bucket_uploads::auth::Scope;
use bucket_uploads::ids::BucketRef;
use bucket_uploads::tenancy;
use bucket_uploads::uploads::{create_upload, create_uploads_batch};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SINGLE_SAMPLES: usize = 40;
const BATCH_SAMPLES: usize = 12;
const BATCH: usize = 100;

fn item(name: String) -> Value {
    json!({"filename": name, "content_type": "video/mp4", "file_size_bytes": 1000, "metadata": {"n": 1}})
}

fn median(mut timings: Vec<Duration>) -> Duration {
    timings.sort();
    timings[timings.len() / 2]
}

#[tokio::main]
async fn main() {
    let app = App::from_env().await.expect("run through `make bench`");
    let tenant = tenancy::create_tenant(&app.store, "bench").await.expect("tenant");
    let namespace = tenancy::create_namespace(&app.store, &tenant.tenant_id, "bench")
        .await
        .expect("namespace");
    let bucket = tenancy::create_bucket(&app.store, &namespace.namespace_id, "batch", None)
        .await
        .expect("bucket");
    let key = tenancy::create_api_key(&app.store, &tenant.tenant_id, None)
        .await
        .expect("key");
    let scope = Scope {
        tenant_id: tenant.tenant_id,
        key_id: key.record.key_id,
        namespace,
    };
    let bucket = BucketRef::Id(bucket.bucket_id);

    let mut single = Vec::with_capacity(SINGLE_SAMPLES);
    for i in 0..SINGLE_SAMPLES + 3 {
        let body = item(format!("single_{i}.mp4"));
        let started = Instant::now();
        create_upload(&app, &scope, &bucket, Some(&body)).await.expect("create");
        if i >= 3 {
            single.push(started.elapsed());
        }
    }
    let mut batch = Vec::with_capacity(BATCH_SAMPLES);
    for round in 0..BATCH_SAMPLES + 1 {
        let items: Vec<Value> = (0..BATCH).map(|i| item(format!("batch_{round}_{i}.mp4"))).collect();
        let body = json!({ "uploads": items });
        let started = Instant::now();
        let created = create_uploads_batch(&app, &scope, &bucket, Some(&body))
            .await
            .expect("batch create");
        assert_eq!(created.total, BATCH);
        if round >= 1 {
            batch.push(started.elapsed());
        }
    }
    let (single, batch) = (median(single), median(batch));
    println!("single create          median {:>8.2} ms", single.as_secs_f64() * 1e3);
    println!("batch create of {BATCH}   median {:>8.2} ms", batch.as_secs_f64() * 1e3);
    println!(
        "latency ratio batch-of-{BATCH}/single: {:.2}   ({:.1}x the uploads per second of single creates)",
        batch.as_secs_f64() / single.as_secs_f64(),
        BATCH as f64 * single.as_secs_f64() / batch.as_secs_f64()
    );
}
