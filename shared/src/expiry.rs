//! Uploads whose records DynamoDB's TTL removed (see [`crate::store::record_expiry`]): their
//! bytes are deleted and they leave their bucket's counters, so List's `total` and `stats`
//! stay true. The table's stream feeds this through the `expired-uploads` function, which
//! decodes the stream records (only removals DynamoDB made for TTL count).

use crate::app::App;
use crate::errors::Failure;
use crate::model::{Upload, UploadStatus};

/// Deletes an expired upload's bytes and takes it out of its bucket's counters. Safe to
/// repeat: the deletes are idempotent and the counters change once (see
/// `Store::uncount_removed_upload`).
pub async fn forget(app: &App, upload: &Upload) -> Result<(), Failure> {
    if upload.status == UploadStatus::Completed {
        // Completed records never carry a TTL; their bytes may be the original of
        // duplicates, so they are never deleted here.
        tracing::warn!(upload_id = %upload.upload_id, "a completed upload was removed by TTL");
    } else {
        // Staged bytes (or a multipart upload's parts), and bytes a confirmation copied
        // before it was cut short.
        app.objects.remove_upload(upload).await?;
    }
    if !app.store.uncount_removed_upload(upload).await? {
        tracing::info!(upload_id = %upload.upload_id, "removal already counted");
    }
    Ok(())
}
