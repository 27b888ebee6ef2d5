//! Tenancy: a tenant owns API keys and namespaces; a namespace owns buckets; a bucket
//! owns uploads. A key reaches exactly its tenant's namespaces.

use crate::ids::{BucketId, KeyId, NamespaceId, TenantId};
use crate::quota::QuotaOverride;
use crate::rate_limit::RateLimit;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub tenant_id: TenantId,
    pub name: String,
    pub created_at: Timestamp,
    /// Its own storage limits (`uploads-admin set-quota`); the deployment's defaults fill
    /// the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaOverride>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Namespace {
    pub namespace_id: NamespaceId,
    pub tenant_id: TenantId,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub bucket_id: BucketId,
    pub namespace_id: NamespaceId,
    pub name: String,
    pub max_file_size_bytes: u64,
    pub created_at: Timestamp,
}

impl Bucket {
    pub const DEFAULT_MAX_FILE_SIZE_BYTES: u64 = 5 * 1024 * 1024 * 1024;
}

/// An API key as stored: only the SHA-256 of the full key, never the key itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub key_id: KeyId,
    pub tenant_id: TenantId,
    pub key_sha256: String,
    #[serde(default)]
    pub label: Option<String>,
    pub created_at: Timestamp,
    /// Its own requests-per-second allowance (`uploads-admin set-rate-limit`); the
    /// deployment's default without one.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
}
