//! The writes that change an upload's status, each one conditional transaction so that a
//! transition happens exactly once however many requests race: completion (with its
//! object, hash marker, batch and task), failure, the hand-off to asynchronous
//! confirmation, and deletion.

use super::transact::ConditionsFailed;
use super::uploads::{UPLOAD_SORT_KEY, upload_item};
use super::{Conflict, Item, Store, StoreError, key_pair, to_item};
use crate::aws::{invalid_request, sdk_failure};
use crate::errors::Failure;
use crate::ids::{BatchId, BucketId, ObjectId, TaskId};
use crate::model::{
    Batch, BucketObject, Completion, HashMarker, LateBatch, Task, TaskKind, TaskStatus, Transition, Upload,
    UploadStatus,
};
use crate::quota::Quota;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

const OBJECT: &str = "object";
const MARKER: &str = "dedupe";
const TASK: &str = "task";
const BATCH: &str = "batch";

fn marker_pk(bucket_id: &BucketId, file_hash: &str) -> String {
    format!("hash#{bucket_id}#{file_hash}")
}

impl Store {
    pub async fn object(&self, object_id: &ObjectId) -> Result<Option<BucketObject>, Failure> {
        self.get(object_id.as_str(), OBJECT).await
    }

    pub async fn hash_marker(&self, bucket_id: &BucketId, file_hash: &str) -> Result<Option<HashMarker>, Failure> {
        self.get(&marker_pk(bucket_id, file_hash), MARKER).await
    }

    /// Applies a completion: the upload replaced by its completed form (on the condition
    /// that it is still in the status it was read with), its object, its hash marker
    /// claimed, its counters moved, its batch and the task it completes along — all or
    /// nothing. Its tenant's usage moves from reserved to stored bytes, within `quota` when
    /// that grows it (an upload of undeclared or larger size). `Conflict::UploadChanged`
    /// when another request changed the upload first, `Conflict::MarkerTaken` when another
    /// upload of the same bytes became the original, `Conflict::OverQuota` when the quota
    /// has no room for the bytes.
    pub async fn complete_upload(&self, completion: &Completion, quota: Option<&Quota>) -> Result<(), StoreError> {
        let Transition { before, after } = &completion.transition;
        let mut items = vec![self.transact_put(upload_item(after)?, Some(status_condition(before.status.as_str())))?];
        if let Some(object) = &completion.object {
            let item = to_item(object, &key_pair(object.object_id.to_string(), OBJECT))?;
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
            items.push(self.transact_put(batch_item(batch)?, None)?);
            items.push(self.transact_put(task_item(batch_task)?, None)?);
        }
        items.push(self.counters_move(&after.bucket_id, Some(before), Some(after))?);
        let usage_index = items.len();
        let usage = self.usage_move(Some(before), Some(after), quota)?;
        let usage_index = usage.as_ref().map(|_| usage_index);
        items.extend(usage);
        let task_index = items.len();
        if let Some(task) = &completion.task {
            items.push(self.transact_put(task_item(task)?, Some(task_condition(task, TaskStatus::Pending)))?);
        }
        match self.transact("complete upload", items).await? {
            Ok(()) => Ok(()),
            Err(ConditionsFailed(failed)) if failed.contains(&0) => Err(StoreError::Conflict(Conflict::UploadChanged)),
            Err(ConditionsFailed(failed)) if marker_index.is_some_and(|i| failed.contains(&i)) => {
                Err(StoreError::Conflict(Conflict::MarkerTaken))
            }
            Err(ConditionsFailed(failed)) if usage_index.is_some_and(|i| failed.contains(&i)) => {
                Err(StoreError::Conflict(Conflict::OverQuota))
            }
            // A later confirmation asked for a batch after this run read the task.
            Err(ConditionsFailed(failed)) if completion.task.is_some() && failed == [task_index] => {
                Err(StoreError::Conflict(Conflict::TaskChanged))
            }
            Err(ConditionsFailed(failed)) => {
                // A clash of a fresh object id, or a task that ended while its upload had not.
                tracing::error!(?failed, "completion transaction failed a condition");
                Err(Failure::Unavailable.into())
            }
        }
    }

    /// Applies a transition to FAILED (moving the upload in the counters, and failing its
    /// task when given). `Conflict::UploadChanged` when it was no longer in `before`'s status.
    pub async fn fail_upload(&self, transition: &Transition, task: Option<&Task>) -> Result<(), StoreError> {
        debug_assert_eq!(transition.after.status, UploadStatus::Failed);
        let mut items = self.transition_items(transition)?;
        if let Some(task) = task {
            items.push(self.transact_put(task_item(task)?, Some(status_condition(TaskStatus::Pending.as_str())))?);
        }
        self.transact_transition("fail upload", items).await
    }

    /// Submits the batch `auto_submit_batch` asked of an upload completed earlier without one,
    /// with the upload naming its task: `Conflict::Exists` when it was submitted already,
    /// `Conflict::UploadChanged` when the upload is no longer COMPLETED (or gone).
    pub async fn submit_late_batch(&self, late: &LateBatch) -> Result<(), StoreError> {
        let items = vec![
            self.transact_put(
                upload_item(&late.transition.after)?,
                Some(status_condition(UploadStatus::Completed.as_str())),
            )?,
            self.transact_put(batch_item(&late.batch)?, None)?,
            self.transact_put(task_item(&late.task)?, None)?,
        ];
        match self.transact("submit late batch", items).await? {
            Ok(()) => Ok(()),
            Err(ConditionsFailed(failed)) if failed.contains(&0) => Err(StoreError::Conflict(Conflict::UploadChanged)),
            Err(ConditionsFailed(_)) => Err(StoreError::Conflict(Conflict::Exists)),
        }
    }

    /// Asks a running confirmation task to submit its upload's batch when it completes:
    /// `Conflict::TaskChanged` when it is no longer running (or asks already).
    pub async fn ask_task_for_batch(&self, task_id: &TaskId) -> Result<(), StoreError> {
        let [pk, sk] = key_pair(task_id.to_string(), TASK);
        let result = self
            .dynamodb()
            .update_item()
            .table_name(&self.table)
            .key(pk.0, AttributeValue::S(pk.1))
            .key(sk.0, AttributeValue::S(sk.1))
            .condition_expression("#status = :pending AND #inputs.#batch = :no")
            .update_expression("SET #inputs.#batch = :yes")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#inputs", "inputs")
            .expression_attribute_names("#batch", "auto_submit_batch")
            .expression_attribute_values(":pending", AttributeValue::S(TaskStatus::Pending.as_str().to_owned()))
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::Conflict(Conflict::TaskChanged))
            }
            Err(err) => Err(sdk_failure("ask task for batch", err).into()),
        }
    }

    /// Hands a PENDING upload to asynchronous confirmation: the transition to PROCESSING and
    /// the new task, together.
    pub async fn start_processing(&self, transition: &Transition, task: &Task) -> Result<(), StoreError> {
        let mut items = self.transition_items(transition)?;
        items.push(self.transact_put(task_item(task)?, None)?);
        self.transact_transition("start processing", items).await
    }

    /// Deletes an upload that is still in the status it was read with, and takes it out of
    /// its bucket's counters, in one transaction. `Conflict::UploadChanged` when its status
    /// had changed (or it was gone).
    pub async fn delete_upload(&self, upload: &Upload) -> Result<(), StoreError> {
        let (expression, names, values) = status_condition(upload.status.as_str());
        let [pk, sk] = key_pair(upload.upload_id.to_string(), UPLOAD_SORT_KEY);
        let delete = Delete::builder()
            .table_name(&self.table)
            .key(pk.0, AttributeValue::S(pk.1))
            .key(sk.0, AttributeValue::S(sk.1))
            .condition_expression(expression)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(invalid_request("transactional Delete"))?;
        let mut items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            self.counters_move(&upload.bucket_id, Some(upload), None)?,
        ];
        items.extend(self.usage_move(Some(upload), None, None)?);
        self.transact_transition("delete upload", items).await
    }

    /// Stores a new task.
    pub async fn insert_task(&self, task: &Task) -> Result<(), Failure> {
        self.put_new(task_item(task)?).await
    }

    /// Replaces a task that is still in `expected` status, and still asks for the batch it
    /// was read asking for (`Conflict::UploadChanged`'s counterpart for tasks:
    /// `StoreError::Conflict` when another run, or a confirmation asking for a batch, changed
    /// it first).
    pub async fn update_task(&self, task: &Task, expected: TaskStatus) -> Result<(), StoreError> {
        let item = self.transact_put(task_item(task)?, Some(task_condition(task, expected)))?;
        match self.transact("update task", vec![item]).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::Conflict(Conflict::TaskChanged)),
        }
    }

    pub async fn batch(&self, batch_id: &BatchId) -> Result<Option<Batch>, Failure> {
        self.get(batch_id.as_str(), BATCH).await
    }

    pub async fn task(&self, task_id: &TaskId) -> Result<Option<Task>, Failure> {
        self.get(task_id.as_str(), TASK).await
    }

    /// The upload replaced on the condition that it is still in `before`'s status, and
    /// moved in the counters and its tenant's usage (these transitions never grow it).
    fn transition_items(&self, transition: &Transition) -> Result<Vec<TransactWriteItem>, Failure> {
        let Transition { before, after } = transition;
        let mut items = vec![
            self.transact_put(upload_item(after)?, Some(status_condition(before.status.as_str())))?,
            self.counters_move(&after.bucket_id, Some(before), Some(after))?,
        ];
        items.extend(self.usage_move(Some(before), Some(after), None)?);
        Ok(items)
    }

    /// Runs a transaction whose first item is the upload's conditional write.
    async fn transact_transition(
        &self,
        context: &'static str,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), StoreError> {
        match self.transact(context, items).await? {
            Ok(()) => Ok(()),
            Err(ConditionsFailed(failed)) if failed.contains(&0) => Err(StoreError::Conflict(Conflict::UploadChanged)),
            Err(ConditionsFailed(failed)) => {
                tracing::error!(context, ?failed, "transaction failed a condition");
                Err(Failure::Unavailable.into())
            }
        }
    }

    /// A transactional Put; without a condition, the item must not exist yet.
    pub(super) fn transact_put(&self, item: Item, condition: Option<Condition>) -> Result<TransactWriteItem, Failure> {
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

/// A task replaced by the run that read it: still in `expected` status and, for a
/// confirmation, still asking for the batch that run read it asking for (or not), since a
/// later confirmation may have asked for one meanwhile (`Store::ask_task_for_batch`), which
/// the replacement must not undo.
fn task_condition(task: &Task, expected: TaskStatus) -> Condition {
    let (mut expression, mut names, mut values) = status_condition(expected.as_str());
    if let TaskKind::Confirm { inputs, .. } = &task.kind {
        expression.push_str(" AND #inputs.#batch = :batch");
        names.insert("#inputs".to_owned(), "inputs".to_owned());
        names.insert("#batch".to_owned(), "auto_submit_batch".to_owned());
        values.insert(":batch".to_owned(), AttributeValue::Bool(inputs.auto_submit_batch));
    }
    (expression, names, values)
}

/// The item exists and has `status`.
fn status_condition(status: &str) -> Condition {
    (
        "#status = :expected".to_owned(),
        [("#status".to_owned(), "status".to_owned())].into(),
        [(":expected".to_owned(), AttributeValue::S(status.to_owned()))].into(),
    )
}

fn task_item(task: &Task) -> Result<Item, Failure> {
    to_item(task, &key_pair(task.task_id.to_string(), TASK))
}

fn batch_item(batch: &Batch) -> Result<Item, Failure> {
    to_item(batch, &key_pair(batch.batch_id.to_string(), BATCH))
}
