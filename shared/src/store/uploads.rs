use super::schema::{BY_CREATED_AT, BY_STATUS, TTL_ATTRIBUTE};
use super::{Item, Store, key_pair, to_item};
use crate::aws::invalid_request;
use crate::errors::Failure;
use crate::ids::{BucketId, UploadId};
use crate::model::{Upload, UploadStatus};
use crate::time::Timestamp;
use aws_sdk_dynamodb::types::AttributeValue;

/// The sort key of every upload item.
pub const UPLOAD_SORT_KEY: &str = "upload";

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
    if let Some(expiry) = record_expiry(upload, Timestamp::now()) {
        item.insert(
            TTL_ATTRIBUTE.to_owned(),
            AttributeValue::N(expiry.epoch_seconds().to_string()),
        );
    }
    Ok(item)
}

impl Store {
    /// Stores a new upload and counts it in its bucket's counters, in one transaction.
    pub async fn insert_upload(&self, upload: &Upload) -> Result<(), Failure> {
        let items = vec![
            self.transact_put(upload_item(upload)?, None)?,
            self.counters_move(&upload.bucket_id, None, Some(upload))?,
        ];
        match self.transact("insert upload", items).await? {
            Ok(()) => Ok(()),
            Err(failed) => Err(Failure::bug(format!("a fresh upload id already existed: {failed:?}"))),
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
                    .client
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
        let mut deltas: std::collections::BTreeMap<UploadStatus, (i64, i64)> = Default::default();
        for upload in uploads.iter().filter(|u| &u.bucket_id == bucket_id) {
            let delta = deltas.entry(upload.status).or_default();
            delta.0 += 1;
            delta.1 +=
                i64::try_from(upload.counted_bytes()).map_err(|_| Failure::bug("an upload of over 2^63 bytes"))?;
        }
        let deltas: Vec<_> = deltas
            .into_iter()
            .map(|(status, (count, bytes))| (status, count, bytes))
            .collect();
        if !deltas.is_empty() {
            let change = self.counters_change(bucket_id, &deltas)?;
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
