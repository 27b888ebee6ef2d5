//! The writes that end an upload's PENDING life, each a single conditional write or
//! transaction so that a transition happens exactly once however many requests race.

use super::transact::ConditionsFailed;
use super::uploads::upload_item;
use super::{Item, Store, key_pair, to_item};
use crate::error::ApiError;
use crate::model::{BucketObject, HashMarker, TaskStatus, Upload};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

const OBJECT: &str = "object";
const MARKER: &str = "dedupe";

fn marker_pk(bucket_id: &str, file_hash: &str) -> String {
    format!("hash#{bucket_id}#{file_hash}")
}

/// Why a completion transaction did not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// The upload is no longer PENDING: another request completed or failed it.
    UploadChanged,
    /// Another upload with the same bytes became the original first.
    MarkerTaken,
}

impl Store {
    pub async fn object(&self, object_id: &str) -> Result<Option<BucketObject>, ApiError> {
        self.get(object_id, OBJECT).await
    }

    pub async fn hash_marker(&self, bucket_id: &str, file_hash: &str) -> Result<Option<HashMarker>, ApiError> {
        self.get(&marker_pk(bucket_id, file_hash), MARKER).await
    }

    /// Replaces a PENDING upload with its completed form, creating its object and claiming
    /// its hash marker in the same transaction. Nothing is written unless all of it is.
    pub async fn complete_upload(
        &self,
        completed: &Upload,
        object: Option<&BucketObject>,
        claim: Option<&HashMarker>,
    ) -> Result<Result<(), Conflict>, ApiError> {
        let mut items = vec![self.transact_put(upload_item(completed)?, Some(pending_condition()))?];
        if let Some(object) = object {
            let item = to_item(object, &key_pair(object.object_id.clone(), OBJECT))?;
            items.push(self.transact_put(item, None)?);
        }
        let marker_index = claim.map(|_| items.len());
        if let Some(marker) = claim {
            let item = to_item(
                marker,
                &key_pair(marker_pk(&marker.bucket_id, &marker.file_hash), MARKER),
            )?;
            items.push(self.transact_put(item, None)?);
        }
        let size = completed.file_size_bytes;
        items.push(self.counters_update(&completed.bucket_id, Some(TaskStatus::Pending), completed.status, size)?);
        match self.transact("complete upload", items).await? {
            Ok(()) => Ok(Ok(())),
            Err(ConditionsFailed(failed)) if failed.contains(&0) => Ok(Err(Conflict::UploadChanged)),
            Err(ConditionsFailed(failed)) if marker_index.is_some_and(|i| failed.contains(&i)) => {
                Ok(Err(Conflict::MarkerTaken))
            }
            Err(ConditionsFailed(failed)) => {
                // Only a clash of a fresh object id could get here.
                tracing::error!(?failed, "completion transaction failed a condition");
                Err(ApiError::Unavailable)
            }
        }
    }

    /// Replaces a PENDING upload with its failed form (and moves it in the bucket's
    /// counters). `false` when it was no longer PENDING.
    pub async fn fail_upload(&self, failed: &Upload) -> Result<bool, ApiError> {
        debug_assert_eq!(failed.status, TaskStatus::Failed);
        let items = vec![
            self.transact_put(upload_item(failed)?, Some(pending_condition()))?,
            self.counters_update(
                &failed.bucket_id,
                Some(TaskStatus::Pending),
                TaskStatus::Failed,
                failed.file_size_bytes,
            )?,
        ];
        Ok(self.transact("fail upload", items).await?.is_ok())
    }

    /// A transactional Put; without a condition, the item must not exist yet.
    pub(super) fn transact_put(&self, item: Item, condition: Option<Condition>) -> Result<TransactWriteItem, ApiError> {
        let (expression, names, values) = condition.unwrap_or_else(|| {
            (
                "attribute_not_exists(pk)".to_owned(),
                Default::default(),
                Default::default(),
            )
        });
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(expression)
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .build()
            .map_err(|err| {
                tracing::error!(error = %err, "invalid transactional Put");
                ApiError::Internal
            })?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

pub(super) type Condition = (
    String,
    std::collections::HashMap<String, String>,
    std::collections::HashMap<String, AttributeValue>,
);

fn pending_condition() -> Condition {
    (
        "#status = :pending".to_owned(),
        [("#status".to_owned(), "status".to_owned())].into(),
        [(
            ":pending".to_owned(),
            AttributeValue::S(TaskStatus::Pending.as_str().to_owned()),
        )]
        .into(),
    )
}
