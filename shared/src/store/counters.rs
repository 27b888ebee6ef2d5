//! Per-bucket counters: uploads and bytes per status, changed in the same transactions that
//! change an upload's status, so List Uploads can answer `total` and `stats` for a whole
//! bucket with one read.

use super::{Store, key_pair};
use crate::aws::invalid_request;
use crate::error::ApiError;
use crate::model::{TaskStatus, Upload};
use crate::query::Stats;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use std::collections::HashMap;

const COUNTERS: &str = "counters";

fn count_attr(status: TaskStatus) -> String {
    format!("count_{status}")
}

fn bytes_attr(status: TaskStatus) -> String {
    format!("bytes_{status}")
}

/// One status change's effect: `(status, uploads delta, bytes delta)`.
pub type Delta = (TaskStatus, i64, i64);

impl Store {
    /// An upload changing from `from` to `to` (either absent when it is created or goes
    /// away): it leaves `from`'s count and bytes and enters `to`'s.
    pub(super) fn counters_move(
        &self,
        bucket_id: &str,
        from: Option<&Upload>,
        to: Option<&Upload>,
    ) -> Result<TransactWriteItem, ApiError> {
        let bytes = |u: &Upload| i64::try_from(u.counted_bytes()).map_err(|_| ApiError::Internal);
        let mut deltas: Vec<Delta> = Vec::new();
        if let Some(to) = to {
            deltas.push((to.status, 1, bytes(to)?));
        }
        if let Some(from) = from {
            deltas.push((from.status, -1, -bytes(from)?));
        }
        self.counters_change(bucket_id, &deltas)
    }

    /// Adds the deltas to the bucket's counters.
    pub(super) fn counters_change(&self, bucket_id: &str, deltas: &[Delta]) -> Result<TransactWriteItem, ApiError> {
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
        let [pk, sk] = key_pair(bucket_id.to_owned(), COUNTERS);
        let update = Update::builder()
            .table_name(&self.table)
            .key(pk.0, AttributeValue::S(pk.1))
            .key(sk.0, AttributeValue::S(sk.1))
            .update_expression(format!("ADD {}", clauses.join(", ")))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(invalid_request("counters update"))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The bucket's uploads by status, as list stats (one strongly consistent read).
    pub async fn bucket_stats(&self, bucket_id: &str) -> Result<Stats, ApiError> {
        let item: Option<serde_json::Map<String, serde_json::Value>> = self.get(bucket_id, COUNTERS).await?;
        let number = |item: &serde_json::Map<String, serde_json::Value>, name: &str| {
            item.get(name).and_then(serde_json::Value::as_u64).unwrap_or(0)
        };
        let mut stats = Stats::default();
        if let Some(item) = item {
            for status in TaskStatus::ALL {
                stats.add(
                    Some(status),
                    number(&item, &count_attr(status)),
                    number(&item, &bytes_attr(status)),
                );
            }
            stats.unique_buckets = u64::from(stats.total_uploads > 0);
        }
        Ok(stats.finish())
    }
}
