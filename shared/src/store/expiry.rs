//! Records removed by DynamoDB's TTL leave the bucket's counters behind: this takes them out,
//! exactly once however often the removal is delivered.

use super::schema::TTL_ATTRIBUTE;
use super::{Store, to_item};
use crate::errors::Failure;
use crate::ids::{BucketId, UploadId};
use crate::model::Upload;
use crate::time::Timestamp;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

/// The sort key of the tombstone that records an upload's removal was counted.
const REMOVED: &str = "removed";

/// Stream records live 24 hours; a tombstone must outlive every redelivery of its removal.
const TOMBSTONE_RETENTION_SECS: i64 = 3 * 86_400;

#[derive(Serialize)]
struct Tombstone<'a> {
    upload_id: &'a UploadId,
    bucket_id: &'a BucketId,
    removed_at: Timestamp,
}

impl Store {
    /// Takes a removed upload out of its bucket's counters and its tenant's usage, together with a tombstone whose
    /// absence is the condition. `false` when an earlier delivery already did.
    pub async fn uncount_removed_upload(&self, upload: &Upload) -> Result<bool, Failure> {
        let now = Timestamp::now();
        let tombstone = Tombstone {
            upload_id: &upload.upload_id,
            bucket_id: &upload.bucket_id,
            removed_at: now,
        };
        let mut item = to_item(&tombstone, &super::key_pair(upload.upload_id.to_string(), REMOVED))?;
        item.insert(
            TTL_ATTRIBUTE.to_owned(),
            AttributeValue::N(now.plus_seconds(TOMBSTONE_RETENTION_SECS).epoch_seconds().to_string()),
        );
        let mut items = vec![
            self.transact_put(item, None)?,
            self.counters_move(&upload.bucket_id, Some(upload), None)?,
        ];
        items.extend(self.usage_move(Some(upload), None, None)?);
        Ok(self.transact("uncount removed upload", items).await?.is_ok())
    }
}
