//! Batch Create (`POST …/uploads/batch`, the SDK's `create_uploads_batch_buckets`): up to
//! 100 uploads in one request, validated all or nothing, stored in as few transactions as
//! DynamoDB allows (all or nothing for the tenant's quota too), and safe to retry.
//!
//! A retry must not create a second set. The uploads' ids derive from the request itself
//! (the bucket, the body, and a 15-minute window) and are written on the condition that
//! they do not exist, so the same request sent again within the window (or the next one)
//! finds the uploads its first try stored and answers them, with fresh upload URLs.

use super::NewUpload;
use super::create::{bucket_and_quota, build, max_file_size, with_put_url, within_quota};
use crate::app::App;
use crate::auth::Scope;
use crate::errors::{Failure, FieldError, Invalid, Loc, RequestError};
use crate::ids::{BucketRef, UploadId};
use crate::model::{Bucket, JsonMap, Upload};
use crate::time::Timestamp;
use crate::validate::{FieldReader, list_of};
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const MAX_BATCH_UPLOADS: usize = 100;

/// The body keys Batch Create accepts (the SDK's `BatchUploadRequest`).
pub const ACCEPTED_KEYS: &[&str] = &["uploads", "shared_metadata", "shared_object_metadata"];

/// How long a retried request finds what its first try created.
const RETRY_WINDOW_MS: i64 = 15 * 60 * 1000;

/// Dedup lookups made at once.
const LOOKUP_CONCURRENCY: usize = 16;

/// The contract's `BatchUploadResponse`: the uploads in request order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchCreated {
    pub uploads: Vec<Upload>,
    pub total: usize,
}

/// `POST …/uploads/batch`.
pub async fn create_uploads_batch(
    app: &App,
    scope: &Scope,
    bucket: &BucketRef,
    body: Option<&Value>,
) -> Result<BatchCreated, RequestError> {
    let (bucket, quota) = bucket_and_quota(app, scope, bucket).await?;
    let items = parse(body, max_file_size(&bucket, &quota))?;
    let now = Timestamp::now();
    let ids = request_ids(app, &bucket, body, items.len(), now).await?;
    let checksums: Vec<bool> = items.iter().map(|n| n.checksum_required).collect();
    let deadline = app.objects.url_deadline().await?;
    let mut built = futures::stream::iter(items.into_iter().zip(ids))
        .map(|(new, upload_id)| build(app, scope, &bucket, new, upload_id, now))
        .buffered(LOOKUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    for upload in &mut built {
        upload.expire_by(deadline);
    }
    let refs: Vec<&Upload> = built.iter().collect();
    let stored = within_quota(app, &refs, &quota, || app.store.insert_uploads(&built, &quota)).await?;
    let mut uploads = Vec::with_capacity(stored.len());
    for (upload, checksum_required) in stored.into_iter().zip(checksums) {
        uploads.push(with_put_url(app, upload, checksum_required).await?);
    }
    Ok(BatchCreated {
        total: uploads.len(),
        uploads,
    })
}

/// The ids of this request's uploads: derived from the bucket, the body and the current
/// window, unless a first try of the same request in the previous window stored them.
async fn request_ids(
    app: &App,
    bucket: &Bucket,
    body: Option<&Value>,
    count: usize,
    now: Timestamp,
) -> Result<Vec<UploadId>, Failure> {
    let body =
        serde_json::to_vec(&body).map_err(|err| Failure::bug(format!("a parsed body does not serialize: {err}")))?;
    let request = Sha256::new()
        .chain_update(bucket.bucket_id.as_str())
        .chain_update([0])
        .chain_update(&body)
        .finalize();
    let ids_in = |window: i64| -> Vec<UploadId> {
        let start = u64::try_from(window * RETRY_WINDOW_MS).unwrap_or(0);
        (0..count)
            .map(|i| UploadId::derived(&[request.as_slice(), &i.to_be_bytes()].concat(), start))
            .collect()
    };
    let window = now.epoch_millis() / RETRY_WINDOW_MS;
    let previous = ids_in(window - 1);
    match previous.first() {
        Some(first) if app.store.upload(first).await?.is_some() => Ok(previous),
        _ => Ok(ids_in(window)),
    }
}

/// Every item validated (at `["body", "uploads", i, …]`), with the shared maps merged into
/// each (the item's keys win); every problem reported at once.
fn parse(body: Option<&Value>, max_file_size_bytes: u64) -> Result<Vec<NewUpload>, Invalid> {
    let body = body.ok_or_else(|| Invalid::at(vec![Loc::from("body")], "missing", "Field required"))?;
    let mut r = FieldReader::object(body, vec![Loc::from("body")])?;
    r.forbid_unknown(ACCEPTED_KEYS);
    let shared_metadata = r.optional_object("shared_metadata").cloned();
    let shared_object_metadata = r.optional_object("shared_object_metadata").cloned();
    let mut errors = match r.finish() {
        Ok(()) => Vec::new(),
        Err(Invalid(errors)) => errors,
    };
    let items = list_of(body, "uploads", MAX_BATCH_UPLOADS, &mut errors);
    let mut parsed = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let mut item = item.clone();
        merge_into(&mut item, "metadata", shared_metadata.as_ref());
        merge_into(&mut item, "object_metadata", shared_object_metadata.as_ref());
        let item_loc = vec![Loc::from("body"), Loc::from("uploads"), Loc::from(i)];
        match NewUpload::parse_at(Some(&item), item_loc.clone(), max_file_size_bytes) {
            Ok(new) if new.multipart.is_some() => errors.push(FieldError::new(
                [item_loc, vec![Loc::from("multipart")]].concat(),
                "value_error",
                "Multipart uploads are created one at a time (POST …/uploads)",
            )),
            Ok(new) => parsed.push(new),
            Err(Invalid(item_errors)) => errors.extend(item_errors),
        }
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(Invalid(errors))
    }
}

/// `item[field]` becomes `shared` with the item's own keys over it. An item whose field is
/// not an object keeps it, for validation to report.
fn merge_into(item: &mut Value, field: &str, shared: Option<&JsonMap>) {
    let (Some(shared), Some(object)) = (shared, item.as_object_mut()) else {
        return;
    };
    let merged = match object.get(field) {
        None | Some(Value::Null) => shared.clone(),
        Some(Value::Object(own)) => {
            let mut merged = shared.clone();
            merged.extend(own.clone());
            merged
        }
        Some(_) => return,
    };
    object.insert(field.to_owned(), Value::Object(merged));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(name: &str) -> Value {
        json!({"filename": name, "content_type": "text/plain", "file_size_bytes": 3})
    }

    fn locs(body: Value) -> Vec<Value> {
        match parse(Some(&body), 1000) {
            Ok(_) => vec![],
            Err(Invalid(errors)) => errors.iter().map(|e| serde_json::to_value(&e.loc).unwrap()).collect(),
        }
    }

    #[test]
    fn shared_maps_merge_into_each_item_whose_keys_win() {
        let mut second = item("b.txt");
        second["metadata"] = json!({"campaign": "own", "extra": 1});
        let body = json!({
            "uploads": [item("a.txt"), second],
            "shared_metadata": {"campaign": "shared", "source": "batch"},
            "shared_object_metadata": {"k": "v"},
        });
        let parsed = parse(Some(&body), 1000).unwrap();
        assert_eq!(
            parsed[0].metadata,
            json!({"campaign": "shared", "source": "batch"})
                .as_object()
                .unwrap()
                .clone()
        );
        assert_eq!(
            parsed[1].metadata,
            json!({"campaign": "own", "source": "batch", "extra": 1})
                .as_object()
                .unwrap()
                .clone()
        );
        assert_eq!(parsed[1].object_metadata["k"], "v");
    }

    #[test]
    fn every_bad_item_is_reported_where_it_is() {
        let mut bad = item("../x");
        bad["colour"] = json!("red");
        let body = json!({"uploads": [item("a.txt"), item("b.txt"), bad], "shared": 1});
        assert_eq!(
            locs(body),
            vec![
                json!(["body", "shared"]),
                json!(["body", "uploads", 2, "colour"]),
                json!(["body", "uploads", 2, "filename"]),
            ]
        );
        let too_many: Vec<Value> = (0..101).map(|i| item(&format!("{i}.txt"))).collect();
        assert_eq!(locs(json!({"uploads": too_many})), vec![json!(["body", "uploads"])]);
        assert_eq!(locs(json!({"uploads": []})), vec![json!(["body", "uploads"])]);
        assert_eq!(locs(json!({})), vec![json!(["body", "uploads"])]);
        let hundred: Vec<Value> = (0..100).map(|i| item(&format!("{i}.txt"))).collect();
        assert!(locs(json!({"uploads": hundred})).is_empty());
    }
}
