use super::schema::{BY_CREATED_AT, BY_STATUS};
use super::{Item, Store, key_pair, to_item};
use crate::error::ApiError;
use crate::model::Upload;

const UPLOAD: &str = "upload";

/// The GSI key attributes of an upload; they change whenever its status changes.
pub(crate) fn index_keys(upload: &Upload) -> [(&'static str, String); 4] {
    let order = format!("{}#{}", upload.created_at, upload.upload_id);
    [
        (BY_CREATED_AT.partition_key, upload.bucket_id.clone()),
        (BY_CREATED_AT.sort_key, order.clone()),
        (
            BY_STATUS.partition_key,
            format!("{}#{}", upload.bucket_id, upload.status),
        ),
        (BY_STATUS.sort_key, order),
    ]
}

/// The item of an upload: the record without its response-only `presigned_url`, with its
/// table and GSI keys.
pub(crate) fn upload_item(upload: &Upload) -> Result<Item, ApiError> {
    let mut keys = key_pair(upload.upload_id.clone(), UPLOAD).to_vec();
    keys.extend(index_keys(upload));
    let stored = Upload {
        presigned_url: None,
        ..upload.clone()
    };
    to_item(&stored, &keys)
}

impl Store {
    /// Stores a new upload and counts it in its bucket's counters, in one transaction.
    pub async fn insert_upload(&self, upload: &Upload) -> Result<(), ApiError> {
        let items = vec![
            self.transact_put(upload_item(upload)?, None)?,
            self.counters_update(&upload.bucket_id, None, upload.status, upload.file_size_bytes)?,
        ];
        match self.transact("insert upload", items).await? {
            Ok(()) => Ok(()),
            Err(failed) => {
                tracing::error!(?failed, "a fresh upload id already existed");
                Err(ApiError::Internal)
            }
        }
    }

    /// Bulk-loads uploads of one bucket (benchmarks, migrations): batch writes, then one
    /// counters update per status. Not transactional, and not safe alongside live writes to
    /// the same bucket; the API never uses it.
    pub async fn import_uploads(&self, bucket_id: &str, uploads: &[Upload]) -> Result<(), ApiError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        for chunk in uploads.chunks(25) {
            let mut requests = Vec::with_capacity(chunk.len());
            for upload in chunk {
                let put = PutRequest::builder()
                    .set_item(Some(upload_item(upload)?))
                    .build()
                    .map_err(|_| ApiError::Internal)?;
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
        let mut deltas: std::collections::BTreeMap<crate::model::TaskStatus, (i64, i64)> = Default::default();
        for upload in uploads.iter().filter(|u| u.bucket_id == bucket_id) {
            let delta = deltas.entry(upload.status).or_default();
            delta.0 += 1;
            delta.1 += i64::try_from(upload.file_size_bytes).map_err(|_| ApiError::Internal)?;
        }
        let deltas: Vec<_> = deltas
            .into_iter()
            .map(|(status, (count, bytes))| (status, count, bytes))
            .collect();
        if !deltas.is_empty() {
            let change = self.counters_change(bucket_id, &deltas)?;
            if self.transact("import counters", vec![change]).await?.is_err() {
                return Err(ApiError::Internal);
            }
        }
        Ok(())
    }

    pub async fn upload(&self, upload_id: &str) -> Result<Option<Upload>, ApiError> {
        self.get(upload_id, UPLOAD).await
    }
}
