//! Storage quotas per tenant: bytes (stored by completed uploads plus reserved by pending
//! uploads of known size), pending uploads, and the size of one file.
//!
//! What an upload holds of its tenant's quota follows from its record alone
//! ([`Usage::held_by`]), so every transaction that changes an upload's status moves its
//! tenant's usage by the difference, exactly like the bucket counters; a change that grows
//! usage carries the condition that it stays within the quota, so concurrent requests can
//! never overshoot it together. Decisions here; the writes are the store's.

use crate::ids::TenantId;
use crate::model::{Upload, UploadStatus};
use serde::{Deserialize, Serialize};

const GIB: u64 = 1024 * 1024 * 1024;

/// A tenant's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub max_bytes: u64,
    pub max_pending_uploads: u64,
    pub max_file_size_bytes: u64,
}

impl Quota {
    /// What a tenant gets unless the deployment or its record says otherwise.
    pub const DEFAULT: Quota = Quota {
        max_bytes: 100 * GIB,
        max_pending_uploads: 10_000,
        max_file_size_bytes: 5 * GIB,
    };

    /// These limits with the tenant's own where it has them.
    pub fn with(self, own: &QuotaOverride) -> Quota {
        Quota {
            max_bytes: own.max_bytes.unwrap_or(self.max_bytes),
            max_pending_uploads: own.max_pending_uploads.unwrap_or(self.max_pending_uploads),
            max_file_size_bytes: own.max_file_size_bytes.unwrap_or(self.max_file_size_bytes),
        }
    }
}

/// The limits a tenant's record sets for it (`uploads-admin set-quota`); the deployment's
/// defaults fill the rest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pending_uploads: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_file_size_bytes: Option<u64>,
}

/// What a tenant's uploads hold of its quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    /// Bytes of COMPLETED uploads.
    pub bytes_stored: u64,
    /// Declared bytes of PENDING and PROCESSING uploads (an upload of unknown size reserves
    /// nothing until its confirmation stores it).
    pub bytes_reserved: u64,
    /// PENDING and PROCESSING uploads.
    pub pending_uploads: u64,
}

impl Usage {
    pub fn bytes_used(&self) -> u64 {
        self.bytes_stored.saturating_add(self.bytes_reserved)
    }

    /// What `upload` holds while it is in its status.
    pub fn held_by(upload: &Upload) -> Usage {
        let bytes = upload.counted_bytes();
        match upload.status {
            UploadStatus::Pending | UploadStatus::Processing => Usage {
                bytes_reserved: bytes,
                pending_uploads: 1,
                ..Usage::default()
            },
            UploadStatus::Completed => Usage {
                bytes_stored: bytes,
                ..Usage::default()
            },
            _ => Usage::default(),
        }
    }
}

/// A change of a tenant's usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageDelta {
    pub bytes_stored: i64,
    pub bytes_reserved: i64,
    pub pending_uploads: i64,
}

impl UsageDelta {
    /// Uploads of one tenant changing from `from` to `to` (absent when created or gone):
    /// the tenant and its usage change, `None` when they count against no tenant.
    pub fn of_move(from: Option<&Upload>, to: Option<&Upload>) -> Option<(TenantId, UsageDelta)> {
        let tenant = to.or(from)?.tenant_id.clone()?;
        let mut delta = UsageDelta::default();
        if let Some(to) = to {
            delta.add(Usage::held_by(to), 1);
        }
        if let Some(from) = from {
            delta.add(Usage::held_by(from), -1);
        }
        Some((tenant, delta))
    }

    /// New uploads of one tenant.
    pub fn of_new(uploads: &[&Upload]) -> Option<(TenantId, UsageDelta)> {
        let tenant = uploads.first()?.tenant_id.clone()?;
        let mut delta = UsageDelta::default();
        for upload in uploads {
            delta.add(Usage::held_by(upload), 1);
        }
        Some((tenant, delta))
    }

    fn add(&mut self, usage: Usage, sign: i64) {
        let signed = |n: u64| i64::try_from(n).unwrap_or(i64::MAX).saturating_mul(sign);
        self.bytes_stored = self.bytes_stored.saturating_add(signed(usage.bytes_stored));
        self.bytes_reserved = self.bytes_reserved.saturating_add(signed(usage.bytes_reserved));
        self.pending_uploads = self.pending_uploads.saturating_add(signed(usage.pending_uploads));
    }

    pub fn bytes_used(&self) -> i64 {
        self.bytes_stored.saturating_add(self.bytes_reserved)
    }

    pub fn is_zero(&self) -> bool {
        *self == UsageDelta::default()
    }

    /// The request would refuse: what `quota` does not leave room for after `usage`.
    pub fn exceeds(&self, quota: &Quota, usage: &Usage) -> Option<QuotaExceeded> {
        let grows = |delta: i64| u64::try_from(delta).ok().filter(|d| *d > 0);
        if let Some(requested) = grows(self.bytes_used())
            && usage.bytes_used().saturating_add(requested) > quota.max_bytes
        {
            return Some(QuotaExceeded::Storage {
                max_bytes: quota.max_bytes,
                bytes_used: usage.bytes_used(),
                requested_bytes: requested,
            });
        }
        if let Some(requested) = grows(self.pending_uploads)
            && usage.pending_uploads.saturating_add(requested) > quota.max_pending_uploads
        {
            return Some(QuotaExceeded::PendingUploads {
                max_pending_uploads: quota.max_pending_uploads,
                pending_uploads: usage.pending_uploads,
                requested,
            });
        }
        None
    }
}

/// A request the tenant's quota has no room for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaExceeded {
    #[error(
        "Storage quota exceeded: {bytes_used} of {max_bytes} bytes are in use (stored or reserved by pending uploads), and this needs {requested_bytes} more. Delete uploads or ask for a larger quota."
    )]
    Storage {
        max_bytes: u64,
        bytes_used: u64,
        requested_bytes: u64,
    },
    #[error(
        "Too many pending uploads: {pending_uploads} of at most {max_pending_uploads} are waiting to be confirmed, and this adds {requested}. Confirm or delete some first."
    )]
    PendingUploads {
        max_pending_uploads: u64,
        pending_uploads: u64,
        requested: u64,
    },
}

impl QuotaExceeded {
    pub fn code(&self) -> &'static str {
        match self {
            QuotaExceeded::Storage { .. } => "storage_quota_exceeded",
            QuotaExceeded::PendingUploads { .. } => "pending_uploads_exceeded",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{BucketId, NamespaceId, UploadId};
    use crate::model::Bucket;
    use crate::time::Timestamp;
    use crate::uploads::NewUpload;

    fn upload(status: UploadStatus, size: Option<u64>) -> Upload {
        let mut body = serde_json::json!({"filename": "a.txt", "content_type": "text/plain"});
        if let Some(size) = size {
            body["file_size_bytes"] = size.into();
        }
        let bucket = Bucket {
            bucket_id: BucketId::generate(),
            namespace_id: NamespaceId::generate(),
            name: "b".into(),
            max_file_size_bytes: 1000,
            created_at: Timestamp::now(),
        };
        let pending =
            NewUpload::parse(Some(&body), 1000)
                .unwrap()
                .into_pending(UploadId::generate(), &bucket, Timestamp::now());
        Upload {
            status,
            tenant_id: Some(TenantId::generate()),
            ..pending
        }
    }

    #[test]
    fn pending_and_processing_uploads_reserve_completed_ones_store_the_rest_hold_nothing() {
        for status in [UploadStatus::Pending, UploadStatus::Processing] {
            let held = Usage::held_by(&upload(status, Some(7)));
            assert_eq!(
                (held.bytes_reserved, held.pending_uploads, held.bytes_stored),
                (7, 1, 0)
            );
        }
        let held = Usage::held_by(&upload(UploadStatus::Completed, Some(7)));
        assert_eq!(
            (held.bytes_reserved, held.pending_uploads, held.bytes_stored),
            (0, 0, 7)
        );
        assert_eq!(Usage::held_by(&upload(UploadStatus::Failed, Some(7))), Usage::default());
        assert_eq!(Usage::held_by(&upload(UploadStatus::Pending, None)).bytes_reserved, 0);
    }

    #[test]
    fn completing_moves_reserved_bytes_to_stored_and_grows_only_by_what_was_not_declared() {
        let pending = upload(UploadStatus::Pending, Some(5));
        let completed = Upload {
            status: UploadStatus::Completed,
            file_size_bytes: Some(9),
            ..pending.clone()
        };
        let (tenant, delta) = UsageDelta::of_move(Some(&pending), Some(&completed)).unwrap();
        assert_eq!(Some(tenant), pending.tenant_id);
        assert_eq!(
            delta,
            UsageDelta {
                bytes_stored: 9,
                bytes_reserved: -5,
                pending_uploads: -1
            }
        );
        assert_eq!(delta.bytes_used(), 4);
        let (_, gone) = UsageDelta::of_move(Some(&completed), None).unwrap();
        assert_eq!(gone.bytes_used(), -9);
        let processing = Upload {
            status: UploadStatus::Processing,
            ..pending.clone()
        };
        assert!(
            UsageDelta::of_move(Some(&pending), Some(&processing))
                .unwrap()
                .1
                .is_zero()
        );
        let untracked = Upload {
            tenant_id: None,
            ..pending
        };
        assert_eq!(UsageDelta::of_move(None, Some(&untracked)), None);
    }

    #[test]
    fn a_request_exceeds_the_quota_only_past_the_limit() {
        let quota = Quota {
            max_bytes: 10,
            max_pending_uploads: 2,
            max_file_size_bytes: 10,
        };
        let usage = Usage {
            bytes_stored: 4,
            bytes_reserved: 2,
            pending_uploads: 1,
        };
        let new = |bytes: i64, pending: i64| UsageDelta {
            bytes_reserved: bytes,
            pending_uploads: pending,
            ..UsageDelta::default()
        };
        assert_eq!(new(4, 1).exceeds(&quota, &usage), None);
        assert_eq!(
            new(5, 1).exceeds(&quota, &usage),
            Some(QuotaExceeded::Storage {
                max_bytes: 10,
                bytes_used: 6,
                requested_bytes: 5
            })
        );
        assert_eq!(
            new(0, 2).exceeds(&quota, &usage).map(|e| e.code()),
            Some("pending_uploads_exceeded")
        );
        // Shrinking is always allowed, even over a quota lowered below the use.
        let over = Usage {
            bytes_stored: 50,
            ..usage
        };
        assert_eq!(new(-2, -1).exceeds(&quota, &over), None);
    }

    #[test]
    fn a_tenants_own_limits_replace_the_defaults_one_by_one() {
        let own = QuotaOverride {
            max_bytes: Some(1),
            ..QuotaOverride::default()
        };
        let quota = Quota::DEFAULT.with(&own);
        assert_eq!(quota.max_bytes, 1);
        assert_eq!(quota.max_pending_uploads, Quota::DEFAULT.max_pending_uploads);
    }
}
