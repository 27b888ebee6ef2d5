//! `GET /v1/usage` (our extension): the calling tenant's use of its storage quota, and the
//! quota. `X-Namespace` is optional: usage belongs to the tenant, not a namespace.

use crate::app::App;
use crate::auth::Caller;
use crate::errors::Failure;
use crate::ids::TenantId;
use serde::Serialize;

/// What `GET /v1/usage` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageView {
    pub tenant_id: TenantId,
    /// Bytes of COMPLETED uploads.
    pub bytes_stored: u64,
    /// Declared bytes of uploads not confirmed yet (PENDING, PROCESSING).
    pub bytes_reserved: u64,
    /// `bytes_stored + bytes_reserved`, what `max_bytes` bounds.
    pub bytes_used: u64,
    pub max_bytes: u64,
    /// Uploads not confirmed yet (PENDING, PROCESSING).
    pub pending_uploads: u64,
    pub max_pending_uploads: u64,
    /// The largest file an upload may have (a bucket may accept less).
    pub max_file_size_bytes: u64,
}

/// The caller's tenant's usage (one strongly consistent read) and its quota.
pub async fn tenant_usage(app: &App, caller: &Caller) -> Result<UsageView, Failure> {
    let (usage, quota) = tokio::join!(
        app.store.usage(&caller.tenant_id),
        app.directory.quota(&caller.tenant_id)
    );
    let (usage, quota) = (usage?, quota?);
    Ok(UsageView {
        tenant_id: caller.tenant_id.clone(),
        bytes_stored: usage.bytes_stored,
        bytes_reserved: usage.bytes_reserved,
        bytes_used: usage.bytes_used(),
        max_bytes: quota.max_bytes,
        pending_uploads: usage.pending_uploads,
        max_pending_uploads: quota.max_pending_uploads,
        max_file_size_bytes: quota.max_file_size_bytes,
    })
}
