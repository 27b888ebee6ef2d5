//! Per-bucket counters: uploads and bytes per status, changed in the same transactions that
//! change an upload's status, so List Uploads can answer `total` and `stats` for a whole
//! bucket with one read.
//!
//! Deleting a bucket marks its counters item `deleted`, on the condition that every count is
//! zero, and every counters change is conditional on that mark's absence: so a bucket is
//! deleted only when empty, and no upload can be created in it afterwards, even by a warm
//! container that still holds the bucket in its directory cache.

use super::{Store, key_pair};
use crate::aws::invalid_request;
use crate::errors::Failure;
use crate::ids::BucketId;
use crate::model::{BucketCounts, StatusCount, Upload, UploadStatus};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use std::collections::HashMap;

const COUNTERS: &str = "counters";
const DELETED: &str = "deleted";

fn count_attr(status: UploadStatus) -> String {
    format!("count_{status}")
}

fn bytes_attr(status: UploadStatus) -> String {
    format!("bytes_{status}")
}

/// One status change's effect: `(status, uploads delta, bytes delta)`.
pub type Delta = (UploadStatus, i64, i64);

impl Store {
    /// An upload changing from `from` to `to` (either absent when it is created or goes
    /// away): it leaves `from`'s count and bytes and enters `to`'s.
    pub(super) fn counters_move(
        &self,
        bucket_id: &BucketId,
        from: Option<&Upload>,
        to: Option<&Upload>,
    ) -> Result<TransactWriteItem, Failure> {
        let bytes =
            |u: &Upload| i64::try_from(u.counted_bytes()).map_err(|_| Failure::bug("an upload of over 2^63 bytes"));
        let mut deltas: Vec<Delta> = Vec::new();
        if let Some(to) = to {
            deltas.push((to.status, 1, bytes(to)?));
        }
        if let Some(from) = from {
            deltas.push((from.status, -1, -bytes(from)?));
        }
        self.counters_change(bucket_id, &deltas)
    }

    /// New uploads of one bucket entering their statuses.
    pub(super) fn counters_add(&self, bucket_id: &BucketId, uploads: &[&Upload]) -> Result<TransactWriteItem, Failure> {
        let mut by_status: std::collections::BTreeMap<UploadStatus, (i64, i64)> = Default::default();
        for upload in uploads {
            let bytes =
                i64::try_from(upload.counted_bytes()).map_err(|_| Failure::bug("an upload of over 2^63 bytes"))?;
            let delta = by_status.entry(upload.status).or_default();
            delta.0 += 1;
            delta.1 += bytes;
        }
        let deltas: Vec<Delta> = by_status
            .into_iter()
            .map(|(status, (count, bytes))| (status, count, bytes))
            .collect();
        self.counters_change(bucket_id, &deltas)
    }

    /// Adds the deltas to the bucket's counters.
    pub(super) fn counters_change(&self, bucket_id: &BucketId, deltas: &[Delta]) -> Result<TransactWriteItem, Failure> {
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut clauses = Vec::new();
        for (i, (status, count, bytes)) in deltas.iter().enumerate() {
            let status = *status;
            names.insert(format!("#c{i}"), count_attr(status));
            names.insert(format!("#b{i}"), bytes_attr(status));
            values.insert(format!(":c{i}"), AttributeValue::N(count.to_string()));
            values.insert(format!(":b{i}"), AttributeValue::N(bytes.to_string()));
            clauses.push(format!("#c{i} :c{i}, #b{i} :b{i}"));
        }
        let [pk, sk] = key_pair(bucket_id.to_string(), COUNTERS);
        let update = Update::builder()
            .table_name(&self.table)
            .key(pk.0, AttributeValue::S(pk.1))
            .key(sk.0, AttributeValue::S(sk.1))
            .update_expression(format!("ADD {}", clauses.join(", ")))
            .condition_expression("attribute_not_exists(#deleted)")
            .set_expression_attribute_names(Some({
                names.insert("#deleted".to_owned(), DELETED.to_owned());
                names
            }))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(invalid_request("counters update"))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Marks the bucket's counters deleted, on the condition that it holds no upload.
    pub(super) fn counters_close(&self, bucket_id: &BucketId) -> Result<TransactWriteItem, Failure> {
        let mut names = HashMap::from([("#deleted".to_owned(), DELETED.to_owned())]);
        let mut clauses = vec!["attribute_not_exists(#deleted)".to_owned()];
        for (i, status) in UploadStatus::ALL.into_iter().enumerate() {
            names.insert(format!("#c{i}"), count_attr(status));
            clauses.push(format!("(attribute_not_exists(#c{i}) OR #c{i} = :zero)"));
        }
        let [pk, sk] = key_pair(bucket_id.to_string(), COUNTERS);
        let update = Update::builder()
            .table_name(&self.table)
            .key(pk.0, AttributeValue::S(pk.1))
            .key(sk.0, AttributeValue::S(sk.1))
            .update_expression("SET #deleted = :deleted")
            .condition_expression(clauses.join(" AND "))
            .set_expression_attribute_names(Some(names))
            .expression_attribute_values(":zero", AttributeValue::N("0".to_owned()))
            .expression_attribute_values(":deleted", AttributeValue::Bool(true))
            .build()
            .map_err(invalid_request("counters close"))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The bucket's uploads and bytes by status (one strongly consistent read).
    pub async fn bucket_counts(&self, bucket_id: &BucketId) -> Result<BucketCounts, Failure> {
        let item: Option<serde_json::Map<String, serde_json::Value>> = self.get(bucket_id.as_str(), COUNTERS).await?;
        let number = |item: &serde_json::Map<String, serde_json::Value>, name: &str| {
            item.get(name).and_then(serde_json::Value::as_u64).unwrap_or(0)
        };
        let mut counts = BucketCounts::default();
        if let Some(item) = item {
            for status in UploadStatus::ALL {
                let count = StatusCount {
                    uploads: number(&item, &count_attr(status)),
                    bytes: number(&item, &bytes_attr(status)),
                };
                if count.uploads > 0 {
                    counts.by_status.insert(status, count);
                }
            }
        }
        Ok(counts)
    }
}
