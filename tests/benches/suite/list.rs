//! P4: List's first page on a 100k-upload bucket against a 1k-upload one, for a plain
//! listing, a status filter, a metadata filter and a created_at-bounded metadata filter,
//! with the index items each request read.
//!
//! Both buckets hold one upload per second up to now (1% FAILED, the rest PENDING), so the
//! last 1 000 s hold 1 000 uploads in each. The status filter asks for pages of 10, the
//! FAILED uploads the 1k bucket holds, so that both pages are full: the ratio then compares
//! the same work at both sizes (with the default 20, the 1k page would hold half as many
//! items as the 100k one).

use super::table::median;
use bucket_uploads::App;
use bucket_uploads::ids::{NamespaceId, UploadId};
use bucket_uploads::listing::{ListError, list_bucket};
use bucket_uploads::model::{Bucket, UploadStatus};
use bucket_uploads::query::{ListRequest, PageParams};
use bucket_uploads::tenancy;
use bucket_uploads::time::Timestamp;
use bucket_uploads::uploads::NewUpload;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub const SMALL: usize = 1_000;
pub const LARGE: usize = 100_000;
const IMPORT_CONCURRENCY: usize = 8;

async fn filled_bucket(app: &App, namespace_id: &NamespaceId, name: &str, uploads: usize) -> Bucket {
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
            let mut upload = new.into_pending(UploadId::generate(), &bucket, start.plus_seconds(i as i64));
            if i % 100 == 0 {
                upload.status = UploadStatus::Failed;
            }
            upload
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

/// How one request fared: its median latency, and what it read or why it was refused.
pub struct Fared {
    pub median: Duration,
    pub items_read: Option<usize>,
    pub refused: Option<String>,
}

async fn measure(app: &App, bucket: &Bucket, body: &Value, limit: Option<&str>, samples: usize) -> Fared {
    let page = PageParams { limit, offset: None };
    let request = ListRequest::parse(Some(body), page).expect("a valid request");
    let mut timings = Vec::with_capacity(samples);
    let mut last = None;
    for i in 0..samples + 2 {
        let started = Instant::now();
        let result = list_bucket(app, bucket, &request).await;
        if i >= 2 {
            timings.push(started.elapsed());
        }
        last = Some(result);
    }
    let (items_read, refused) = match last.expect("one run at least") {
        Ok(listed) => (Some(listed.items_read), None),
        Err(ListError::TooBroad(too_broad)) => (None, Some(too_broad.to_string())),
        Err(err) => panic!("list failed: {err:?}"),
    };
    Fared {
        median: median(timings),
        items_read,
        refused,
    }
}

pub struct Query {
    pub name: &'static str,
    pub small: Fared,
    pub large: Fared,
}

pub async fn run(app: &App) -> (Duration, Vec<Query>) {
    let tenant = tenancy::create_tenant(&app.store, "p4").await.expect("tenant");
    let namespace = tenancy::create_namespace(&app.store, &tenant.tenant_id, "p4")
        .await
        .expect("namespace");
    let seeding = Instant::now();
    let small = filled_bucket(app, &namespace.namespace_id, "small", SMALL).await;
    let large = filled_bucket(app, &namespace.namespace_id, "large", LARGE).await;
    let seeded = seeding.elapsed();
    let recent = Timestamp::now().plus_seconds(-1000).to_string();
    let queries = [
        ("plain first page", json!({}), None, 30),
        (
            "status filter (FAILED, 1%), pages of 10",
            json!({"filters": {"status": "FAILED"}}),
            Some("10"),
            30,
        ),
        (
            "metadata filter",
            json!({"filters": {"metadata.campaign": "c3"}}),
            None,
            10,
        ),
        (
            "metadata filter, created_at ≥ now − 1000 s",
            json!({"filters": {"AND": [
                {"field": "created_at", "operator": "gte", "value": recent},
                {"metadata.campaign": "c3"},
            ]}}),
            None,
            10,
        ),
    ];
    let mut measured = vec![];
    for (name, body, limit, samples) in queries {
        measured.push(Query {
            name,
            small: measure(app, &small, &body, limit, samples).await,
            large: measure(app, &large, &body, limit, samples).await,
        });
    }
    (seeded, measured)
}
