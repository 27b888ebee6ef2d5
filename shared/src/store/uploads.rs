use super::schema::{BY_CREATED_AT, BY_STATUS, TTL_ATTRIBUTE};
use super::transact::ConditionsFailed;
use super::{Conflict, Item, Store, StoreError, key_pair, to_item};
use crate::aws::invalid_request;
use crate::errors::Failure;
use crate::ids::{BucketId, UploadId};
use crate::model::{Upload, UploadStatus};
use crate::quota::{Quota, UsageDelta};
use crate::time::Timestamp;
use aws_sdk_dynamodb::types::AttributeValue;

/// The sort key of every upload item.
pub const UPLOAD_SORT_KEY: &str = "upload";

/// Uploads per transaction of `insert_uploads`: DynamoDB takes at most 100 items (and 4 MB)
/// per transaction, and each carries the counters update too.
pub const MAX_UPLOADS_PER_TRANSACTION: usize = 50;

/// How often `insert_uploads` retries a chunk that met uploads of an earlier try.
const INSERT_ATTEMPTS: usize = 3;

/// How long the record of an upload that never completed is kept after its upload URL
/// expired (or after it failed, when that was later); DynamoDB's TTL then removes it.
pub const UNCONFIRMED_RETENTION_SECS: i64 = 7 * 86_400;

/// When DynamoDB may remove the upload's record: never for an upload that completed or is
/// being confirmed; for a PENDING or FAILED one, `UNCONFIRMED_RETENTION_SECS` after its URL
/// expired or it failed (`now`), whichever is later.
pub fn record_expiry(upload: &Upload, now: Timestamp) -> Option<Timestamp> {
    let since = match upload.status {
        UploadStatus::Pending => upload.expires_at,
        UploadStatus::Failed => upload.expires_at.max(now),
        _ => return None,
    };
    Some(since.plus_seconds(UNCONFIRMED_RETENTION_SECS))
}

/// The GSI key attributes of an upload; they change whenever its status changes.
pub(crate) fn index_keys(upload: &Upload) -> [(&'static str, String); 4] {
    let order = format!("{}#{}", upload.created_at, upload.upload_id);
    [
        (BY_CREATED_AT.partition_key, upload.bucket_id.to_string()),
        (BY_CREATED_AT.sort_key, order.clone()),
        (
            BY_STATUS.partition_key,
            format!("{}#{}", upload.bucket_id, upload.status),
        ),
        (BY_STATUS.sort_key, order),
    ]
}

/// The item of an upload: the record without its response-only `presigned_url`, with its
/// table and GSI keys and, unless it completed, its TTL. Status changes replace the whole
/// item, so completing an upload also takes its TTL away.
pub(crate) fn upload_item(upload: &Upload) -> Result<Item, Failure> {
    let mut keys = key_pair(upload.upload_id.to_string(), UPLOAD_SORT_KEY).to_vec();
    keys.extend(index_keys(upload));
    let stored = Upload {
        presigned_url: None,
        ..upload.clone()
    };
    let mut item = to_item(&stored, &keys)?;
    // Never part of a response, so the record does not serialize it; stored all the same.
    if let Some(tenant_id) = &upload.tenant_id {
        item.insert("tenant_id".to_owned(), AttributeValue::S(tenant_id.to_string()));
    }
    if let Some(expiry) = record_expiry(upload, Timestamp::now()) {
        item.insert(
            TTL_ATTRIBUTE.to_owned(),
            AttributeValue::N(expiry.epoch_seconds().to_string()),
        );
    }
    Ok(item)
}

impl Store {
    /// Stores a new upload and counts it in its bucket's counters and its tenant's usage, in
    /// one transaction; `Conflict::OverQuota` when `quota` has no room for it.
    pub async fn insert_upload(&self, upload: &Upload, quota: &Quota) -> Result<(), StoreError> {
        let mut items = vec![
            self.transact_put(upload_item(upload)?, None)?,
            self.counters_move(&upload.bucket_id, None, Some(upload))?,
        ];
        items.extend(self.usage_move(None, Some(upload), Some(quota))?);
        match self.transact("insert upload", items).await? {
            Ok(()) => Ok(()),
            Err(ConditionsFailed(failed)) if failed == [1] => Err(StoreError::Conflict(Conflict::Gone)),
            Err(ConditionsFailed(failed)) if failed == [2] => Err(StoreError::Conflict(Conflict::OverQuota)),
            Err(failed) => Err(Failure::bug(format!("a fresh upload id already existed: {failed:?}")).into()),
        }
    }

    /// Stores new uploads of one bucket and counts them, in transactions of at most
    /// `MAX_UPLOADS_PER_TRANSACTION` uploads (and one counters and one usage update each: a
    /// transaction touches an item once). Uploads already stored, by a first try of a
    /// retried request, are left as they are and returned in place of the new ones, so a
    /// retry creates nothing twice and counts nothing twice. All or nothing for the quota:
    /// when a later transaction finds no room, the uploads the earlier ones stored are
    /// taken back out and the answer is `Conflict::OverQuota`.
    pub async fn insert_uploads(&self, uploads: &[Upload], quota: &Quota) -> Result<Vec<Upload>, StoreError> {
        let mut stored = Vec::with_capacity(uploads.len());
        let mut inserted: Vec<Upload> = Vec::new();
        for chunk in uploads.chunks(MAX_UPLOADS_PER_TRANSACTION) {
            match self.insert_chunk(chunk, quota).await {
                Ok((chunk_stored, chunk_inserted)) => {
                    stored.extend(chunk_stored);
                    inserted.extend(chunk_inserted);
                }
                Err(err) => {
                    self.take_back(&inserted).await;
                    return Err(err);
                }
            }
        }
        Ok(stored)
    }

    /// The chunk as stored, and which of its uploads this call inserted.
    async fn insert_chunk(&self, chunk: &[Upload], quota: &Quota) -> Result<(Vec<Upload>, Vec<Upload>), StoreError> {
        let mut found: std::collections::HashMap<UploadId, Upload> = Default::default();
        for _ in 0..INSERT_ATTEMPTS {
            let missing: Vec<&Upload> = chunk.iter().filter(|u| !found.contains_key(&u.upload_id)).collect();
            let Some(first) = missing.first() else {
                break;
            };
            let mut items = Vec::with_capacity(missing.len() + 2);
            for upload in &missing {
                items.push(self.transact_put(upload_item(upload)?, None)?);
            }
            let counters_index = items.len();
            items.push(self.counters_add(&first.bucket_id, &missing)?);
            let usage_index = items.len();
            if let Some((tenant, delta)) = UsageDelta::of_new(&missing) {
                items.extend(self.usage_change(&tenant, &delta, Some(quota))?);
            }
            match self.transact("insert uploads", items).await? {
                Ok(()) => {
                    let inserted = missing.into_iter().cloned().collect();
                    let stored = chunk
                        .iter()
                        .map(|u| found.remove(&u.upload_id).unwrap_or_else(|| u.clone()))
                        .collect();
                    return Ok((stored, inserted));
                }
                Err(ConditionsFailed(failed)) if failed == [usage_index] => {
                    return Err(StoreError::Conflict(Conflict::OverQuota));
                }
                Err(ConditionsFailed(failed)) if failed == [counters_index] => {
                    return Err(StoreError::Conflict(Conflict::Gone));
                }
                Err(_) => {}
            }
            // Some exist already: read them, and insert only the others.
            let ids: Vec<UploadId> = missing.iter().map(|u| u.upload_id.clone()).collect();
            for upload in self.uploads_by_ids(&ids).await? {
                found.insert(upload.upload_id.clone(), upload);
            }
        }
        if chunk.iter().all(|u| found.contains_key(&u.upload_id)) {
            let stored = chunk.iter().filter_map(|u| found.remove(&u.upload_id)).collect();
            return Ok((stored, Vec::new()));
        }
        tracing::warn!("inserting uploads kept conflicting");
        Err(Failure::Unavailable.into())
    }

    /// Deletes uploads an unfinished batch stored (no client has seen them), with their
    /// counts. Best effort: one that cannot be taken back stays a PENDING upload that
    /// expires like any other.
    async fn take_back(&self, uploads: &[Upload]) {
        for upload in uploads {
            if let Err(err) = self.delete_upload(upload).await {
                tracing::warn!(upload_id = %upload.upload_id, error = %err, "an upload of a refused batch stays");
            }
        }
    }

    /// Bulk-loads uploads of one bucket (benchmarks, migrations): batch writes, then one
    /// counters update per status. Not transactional, and not safe alongside live writes to
    /// the same bucket; the API never uses it.
    pub async fn import_uploads(&self, bucket_id: &BucketId, uploads: &[Upload]) -> Result<(), Failure> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        for chunk in uploads.chunks(25) {
            let mut requests = Vec::with_capacity(chunk.len());
            for upload in chunk {
                let put = PutRequest::builder()
                    .set_item(Some(upload_item(upload)?))
                    .build()
                    .map_err(invalid_request("import PutRequest"))?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            let mut pending = Some(requests);
            while let Some(requests) = pending.take() {
                let output = self
                    .dynamodb()
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|err| crate::aws::sdk_failure("import uploads", err))?;
                pending = output
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|r| !r.is_empty());
            }
        }
        let counted: Vec<&Upload> = uploads.iter().filter(|u| &u.bucket_id == bucket_id).collect();
        if !counted.is_empty() {
            let change = self.counters_add(bucket_id, &counted)?;
            if let Err(failed) = self.transact("import counters", vec![change]).await? {
                return Err(Failure::bug(format!("counters update refused: {failed:?}")));
            }
        }
        Ok(())
    }

    pub async fn upload(&self, upload_id: &UploadId) -> Result<Option<Upload>, Failure> {
        self.get(upload_id.as_str(), UPLOAD_SORT_KEY).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Bucket;
    use crate::uploads::NewUpload;

    const DAY: i64 = 86_400;

    fn pending(created_at: Timestamp) -> Upload {
        let body = serde_json::json!({"filename": "a.txt", "content_type": "text/plain", "file_size_bytes": 5});
        let bucket = Bucket {
            bucket_id: BucketId::generate(),
            namespace_id: crate::ids::NamespaceId::generate(),
            name: "b".into(),
            max_file_size_bytes: 10,
            created_at,
        };
        NewUpload::parse(Some(&body), 10)
            .unwrap()
            .into_pending(UploadId::generate(), &bucket, created_at)
    }

    #[test]
    fn a_pending_record_expires_a_retention_period_after_its_url() {
        let created = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let upload = pending(created);
        let expiry = record_expiry(&upload, created.plus_seconds(DAY * 30));
        assert_eq!(expiry, Some(upload.expires_at.plus_seconds(UNCONFIRMED_RETENTION_SECS)));
    }

    #[test]
    fn a_failed_record_expires_a_retention_period_after_its_url_or_its_failure() {
        let created = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let failed = Upload {
            status: UploadStatus::Failed,
            ..pending(created)
        };
        let late = created.plus_seconds(DAY);
        assert_eq!(
            record_expiry(&failed, late),
            Some(late.plus_seconds(UNCONFIRMED_RETENTION_SECS))
        );
        assert_eq!(
            record_expiry(&failed, created),
            Some(failed.expires_at.plus_seconds(UNCONFIRMED_RETENTION_SECS))
        );
    }

    #[test]
    fn records_of_uploads_that_completed_or_are_being_confirmed_never_expire() {
        let created = Timestamp::now();
        for status in [UploadStatus::Completed, UploadStatus::Processing] {
            let upload = Upload {
                status,
                ..pending(created)
            };
            assert_eq!(record_expiry(&upload, created), None, "{status}");
            let item = upload_item(&upload).unwrap();
            assert!(!item.contains_key(TTL_ATTRIBUTE), "{status}");
        }
        let item = upload_item(&pending(created)).unwrap();
        assert!(item.contains_key(TTL_ATTRIBUTE));
    }
}
