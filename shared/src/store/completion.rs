//! The writes that move an upload out of PENDING (and PROCESSING), each a single conditional write or
//! transaction so that a transition happens exactly once however many requests race.

use super::transact::ConditionsFailed;
use super::uploads::{UPLOAD_SORT_KEY, upload_item};
use super::{Item, Store, key_pair, to_item};
use crate::aws::invalid_request;
use crate::confirm::Completion;
use crate::error::ApiError;
use crate::model::{Batch, BucketObject, HashMarker, Task, TaskStatus, Upload};
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

const OBJECT: &str = "object";
const MARKER: &str = "dedupe";
const TASK: &str = "task";
const BATCH: &str = "batch";

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

    /// Replaces an upload that is still in `from`'s status (PENDING, or PROCESSING for the
    /// worker) with its completed form, creating its object, claiming its hash marker,
    /// moving it in the bucket's counters and, for an asynchronous confirmation, completing
    /// its task — all in one transaction (with the batch `auto_submit_batch` asked for), so
    /// nothing is written unless all of it is.
    pub async fn complete_upload(
        &self,
        completion: &Completion,
        from: &Upload,
        task: Option<&Task>,
    ) -> Result<Result<(), Conflict>, ApiError> {
        let completed = &completion.upload;
        let mut items = vec![self.transact_put(upload_item(completed)?, Some(status_condition(from.status)))?];
        if let Some(object) = &completion.object {
            let item = to_item(object, &key_pair(object.object_id.clone(), OBJECT))?;
            items.push(self.transact_put(item, None)?);
        }
        let marker_index = completion.claim.as_ref().map(|_| items.len());
        if let Some(marker) = &completion.claim {
            let item = to_item(
                marker,
                &key_pair(marker_pk(&marker.bucket_id, &marker.file_hash), MARKER),
            )?;
            items.push(self.transact_put(item, None)?);
        }
        if let Some((batch, batch_task)) = &completion.batch {
            items.push(self.transact_put(to_item(batch, &key_pair(batch.batch_id.clone(), BATCH))?, None)?);
            items.push(self.transact_put(task_item(batch_task)?, None)?);
        }
        items.push(self.counters_move(&completed.bucket_id, Some(from), Some(completed))?);
        if let Some(task) = task {
            items.push(self.transact_put(task_item(task)?, Some(status_condition(TaskStatus::Pending)))?);
        }
        match self.transact("complete upload", items).await? {
            Ok(()) => Ok(Ok(())),
            Err(ConditionsFailed(failed)) if failed.contains(&0) => Ok(Err(Conflict::UploadChanged)),
            Err(ConditionsFailed(failed)) if marker_index.is_some_and(|i| failed.contains(&i)) => {
                Ok(Err(Conflict::MarkerTaken))
            }
            Err(ConditionsFailed(failed)) => {
                // A clash of a fresh object id, or a task that ended while its upload had not.
                tracing::error!(?failed, "completion transaction failed a condition");
                Err(ApiError::Unavailable)
            }
        }
    }

    /// Replaces an upload that is still in `from`'s status with its failed form (moving it
    /// in the counters, and failing its task when given). `false` when it was no longer.
    pub async fn fail_upload(&self, failed: &Upload, from: &Upload, task: Option<&Task>) -> Result<bool, ApiError> {
        debug_assert_eq!(failed.status, TaskStatus::Failed);
        let mut items = vec![
            self.transact_put(upload_item(failed)?, Some(status_condition(from.status)))?,
            self.counters_move(&failed.bucket_id, Some(from), Some(failed))?,
        ];
        if let Some(task) = task {
            items.push(self.transact_put(task_item(task)?, Some(status_condition(TaskStatus::Pending)))?);
        }
        Ok(self.transact("fail upload", items).await?.is_ok())
    }

    /// Hands a PENDING upload to asynchronous confirmation: the upload becomes PROCESSING
    /// with its task, and the task is created, together. `false` when it was not PENDING.
    pub async fn start_processing(&self, processing: &Upload, from: &Upload, task: &Task) -> Result<bool, ApiError> {
        let items = vec![
            self.transact_put(upload_item(processing)?, Some(status_condition(TaskStatus::Pending)))?,
            self.counters_move(&processing.bucket_id, Some(from), Some(processing))?,
            self.transact_put(task_item(task)?, None)?,
        ];
        Ok(self.transact("start processing", items).await?.is_ok())
    }

    /// Deletes an upload that is still in the status it was read with, and takes it out of
    /// its bucket's counters, in one transaction. `false` when its status had changed (or
    /// it was gone).
    pub async fn delete_upload(&self, upload: &Upload) -> Result<bool, ApiError> {
        let (expression, names, values) = status_condition(upload.status);
        let [pk, sk] = key_pair(upload.upload_id.clone(), UPLOAD_SORT_KEY);
        let delete = Delete::builder()
            .table_name(&self.table)
            .key(pk.0, AttributeValue::S(pk.1))
            .key(sk.0, AttributeValue::S(sk.1))
            .condition_expression(expression)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(invalid_request("transactional Delete"))?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            self.counters_move(&upload.bucket_id, Some(upload), None)?,
        ];
        Ok(self.transact("delete upload", items).await?.is_ok())
    }

    pub async fn batch(&self, batch_id: &str) -> Result<Option<Batch>, ApiError> {
        self.get(batch_id, BATCH).await
    }

    pub async fn task(&self, task_id: &str) -> Result<Option<Task>, ApiError> {
        self.get(task_id, TASK).await
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
            .map_err(invalid_request("transactional Put"))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

pub(super) type Condition = (
    String,
    std::collections::HashMap<String, String>,
    std::collections::HashMap<String, AttributeValue>,
);

/// The item exists and has `status`.
fn status_condition(status: TaskStatus) -> Condition {
    (
        "#status = :expected".to_owned(),
        [("#status".to_owned(), "status".to_owned())].into(),
        [(":expected".to_owned(), AttributeValue::S(status.as_str().to_owned()))].into(),
    )
}

fn task_item(task: &Task) -> Result<Item, ApiError> {
    to_item(task, &key_pair(task.task_id.clone(), TASK))
}
