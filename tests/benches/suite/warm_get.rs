//! P2: a warm GET (authentication from the cache, then the use case) in-process, against a
//! raw GetItem of the same item on the same DynamoDB Local.

use super::table::median;
use api_tests::Tenancy;
use bucket_uploads::App;
use bucket_uploads::auth;
use bucket_uploads::ids::UploadId;
use bucket_uploads::uploads::{create_upload, get_upload};
use std::time::{Duration, Instant};

const SAMPLES: usize = 300;

pub struct WarmGet {
    pub get: Duration,
    pub raw: Duration,
}

pub async fn run(app: &App) -> WarmGet {
    let made = Tenancy::create(app, ["p2", "p2"], None).await;
    let authorization = made.authorization();
    let namespace = made.namespace.clone();
    let bucket_ref = made.bucket_ref();
    let scope = made.scope(app).await;
    let body = serde_json::json!({"filename": "a.txt", "content_type": "text/plain"});
    let upload = create_upload(app, &scope, &bucket_ref, Some(&body))
        .await
        .expect("create");
    let upload_id: UploadId = upload.upload_id;

    let mut get = Vec::with_capacity(SAMPLES);
    let mut raw = Vec::with_capacity(SAMPLES);
    // Interleaved, so both meet DynamoDB Local in the same state.
    for i in 0..SAMPLES + 20 {
        let started = Instant::now();
        let scope = auth::authenticate(&app.directory, Some(&authorization), Some(&namespace.name))
            .await
            .expect("scope");
        get_upload(app, &scope, &bucket_ref, &upload_id, false)
            .await
            .expect("get");
        let got = started.elapsed();
        let started = Instant::now();
        app.store
            .client()
            .get_item()
            .table_name(app.store.table())
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(upload_id.to_string()))
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("upload".into()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem");
        if i >= 20 {
            get.push(got);
            raw.push(started.elapsed());
        }
    }
    WarmGet {
        get: median(get),
        raw: median(raw),
    }
}
