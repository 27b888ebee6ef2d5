//! Uploads whose records DynamoDB's TTL removed (see [`crate::store::record_expiry`]): their
//! bytes are deleted and they leave their bucket's counters, so List's `total` and `stats`
//! stay true. The table's stream feeds this through the `expired-uploads` function. Only
//! removals DynamoDB made for TTL count: an operator deleting an item is not an expiry.

use crate::app::App;
use crate::error::ApiError;
use crate::model::{TaskStatus, Upload};
use crate::store::UPLOAD_SORT_KEY;
use crate::store::schema::SORT_KEY;
use aws_lambda_events::event::dynamodb::EventRecord;
use serde_dynamo::AttributeValue;

/// The principal a stream record names when DynamoDB's TTL removed the item.
const TTL_PRINCIPAL: &str = "dynamodb.amazonaws.com";

/// The upload a stream record reports removed by TTL; `None` for every other record.
pub fn expired_upload(record: &EventRecord) -> Option<Result<Upload, ApiError>> {
    let by_ttl = record.event_name == "REMOVE"
        && record
            .user_identity
            .as_ref()
            .is_some_and(|who| who.type_ == "Service" && who.principal_id == TTL_PRINCIPAL);
    let is_upload = matches!(
        record.change.keys.get(SORT_KEY),
        Some(AttributeValue::S(sk)) if sk == UPLOAD_SORT_KEY
    );
    if !(by_ttl && is_upload) {
        return None;
    }
    Some(serde_dynamo::from_item(record.change.old_image.clone()).map_err(|err| {
        // Without the old image (a stream not configured NEW_AND_OLD_IMAGES) nothing
        // can be counted; retrying will not help, but failing keeps the record visible.
        tracing::error!(error = %err, event_id = %record.event_id, "removed upload has no readable old image");
        ApiError::Internal
    }))
}

/// Deletes an expired upload's bytes and takes it out of its bucket's counters. Safe to
/// repeat: the delete is idempotent and the counters change once (see
/// `Store::uncount_removed_upload`).
pub async fn forget(app: &App, upload: &Upload) -> Result<(), ApiError> {
    if upload.status == TaskStatus::Completed {
        // Completed records never carry a TTL; their bytes may be the original of
        // duplicates, so they are never deleted here.
        tracing::warn!(upload_id = %upload.upload_id, "a completed upload was removed by TTL");
    } else {
        // Staged bytes, and bytes a confirmation copied before it was cut short.
        app.objects
            .delete_all(&[&upload.staging_key(), upload.final_key()])
            .await?;
    }
    if !app.store.uncount_removed_upload(upload).await? {
        tracing::info!(upload_id = %upload.upload_id, "removal already counted");
    }
    Ok(())
}
