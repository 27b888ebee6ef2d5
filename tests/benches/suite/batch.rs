//! B1 (issue #12): Batch Create of 100 uploads against one single Create, in-process.

use super::table::median;
use api_tests::Tenancy;
use bucket_uploads::App;
use bucket_uploads::uploads::{create_upload, create_uploads_batch};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SINGLE_SAMPLES: usize = 40;
const BATCH_SAMPLES: usize = 12;
pub const BATCH: usize = 100;

fn item(name: String) -> Value {
    json!({"filename": name, "content_type": "video/mp4", "file_size_bytes": 1000, "metadata": {"n": 1}})
}

/// Median single create and median batch create of [`BATCH`].
pub async fn run(app: &App) -> (Duration, Duration) {
    let made = Tenancy::create(app, ["b1", "b1"], None).await;
    let scope = made.scope(app).await;
    let bucket = made.bucket_ref();
    let mut single = Vec::with_capacity(SINGLE_SAMPLES);
    for i in 0..SINGLE_SAMPLES + 3 {
        let body = item(format!("single_{i}.mp4"));
        let started = Instant::now();
        create_upload(app, &scope, &bucket, Some(&body)).await.expect("create");
        if i >= 3 {
            single.push(started.elapsed());
        }
    }
    let mut batch = Vec::with_capacity(BATCH_SAMPLES);
    for round in 0..BATCH_SAMPLES + 1 {
        let items: Vec<Value> = (0..BATCH).map(|i| item(format!("batch_{round}_{i}.mp4"))).collect();
        let body = json!({ "uploads": items });
        let started = Instant::now();
        let created = create_uploads_batch(app, &scope, &bucket, Some(&body))
            .await
            .expect("batch create");
        assert_eq!(created.total, BATCH);
        if round >= 1 {
            batch.push(started.elapsed());
        }
    }
    (median(single), median(batch))
}
