//! Creating, listing and deleting tenants' namespaces, buckets and API keys (the admin CLI and
//! tests use these; the public API only reads them).

use crate::auth::{NewApiKey, new_api_key};
use crate::errors::{Failure, Invalid, Loc, NotFound};
use crate::ids::{BucketId, KeyId, NamespaceId, TenantId};
use crate::model::{ApiKeyRecord, Bucket, Namespace, Tenant};
use crate::names::is_valid_name;
use crate::quota::QuotaOverride;
use crate::rate_limit::RateLimit;
use crate::store::{Conflict, RecordKind, Store, StoreError};
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenancyError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// Namespace names are unique per tenant, bucket names per namespace.
    #[error("The name '{name}' is already taken")]
    NameTaken { resource: &'static str, name: String },
    /// Only an empty bucket (no upload in any status) or namespace (no bucket) is deleted.
    #[error("The {resource} {id} is not empty: it holds {holds}")]
    NotEmpty {
        resource: &'static str,
        id: String,
        holds: String,
    },
    #[error(transparent)]
    Failure(#[from] Failure),
}

impl TenancyError {
    fn from_store(err: StoreError, resource: &'static str, name: &str) -> Self {
        match err {
            StoreError::Conflict(Conflict::NameTaken) => TenancyError::NameTaken {
                resource,
                name: name.to_owned(),
            },
            StoreError::Conflict(other) => Failure::bug(format!("creating a {resource} met {other:?}")).into(),
            StoreError::Failure(failure) => failure.into(),
        }
    }
}

fn check_name(name: &str) -> Result<(), Invalid> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(Invalid::at(
            vec![Loc::from("name")],
            "value_error",
            "names are 1-64 letters, digits, '.', '_' or '-', start with a letter or digit, and do not start with 'ns_' or 'bkt_'",
        ))
    }
}

pub async fn create_tenant(store: &Store, name: &str) -> Result<Tenant, TenancyError> {
    let tenant = Tenant {
        tenant_id: TenantId::generate(),
        name: name.to_owned(),
        created_at: Timestamp::now(),
        quota: None,
    };
    store.put_tenant(&tenant).await?;
    Ok(tenant)
}

pub async fn create_namespace(store: &Store, tenant_id: &TenantId, name: &str) -> Result<Namespace, TenancyError> {
    check_name(name)?;
    store
        .tenant(tenant_id)
        .await?
        .ok_or_else(|| NotFound::new("tenant", tenant_id))?;
    let namespace = Namespace {
        namespace_id: NamespaceId::generate(),
        tenant_id: tenant_id.clone(),
        name: name.to_owned(),
        created_at: Timestamp::now(),
    };
    store
        .put_namespace(&namespace)
        .await
        .map_err(|err| TenancyError::from_store(err, "namespace", name))?;
    Ok(namespace)
}

pub async fn create_bucket(
    store: &Store,
    namespace_id: &NamespaceId,
    name: &str,
    max_file_size_bytes: Option<u64>,
) -> Result<Bucket, TenancyError> {
    check_name(name)?;
    let largest = crate::model::multipart::MAX_OBJECT_SIZE_BYTES;
    if max_file_size_bytes.is_some_and(|max| max == 0 || max > largest) {
        return Err(Invalid::at(
            vec![Loc::from("max_file_size_bytes")],
            "value_error",
            format!("a bucket's maximum file size is 1 to {largest} bytes (5 TiB, S3's largest object)"),
        )
        .into());
    }
    store
        .namespace(namespace_id)
        .await?
        .ok_or_else(|| NotFound::new("namespace", namespace_id))?;
    let bucket = Bucket {
        bucket_id: BucketId::generate(),
        namespace_id: namespace_id.clone(),
        name: name.to_owned(),
        max_file_size_bytes: max_file_size_bytes.unwrap_or(Bucket::DEFAULT_MAX_FILE_SIZE_BYTES),
        created_at: Timestamp::now(),
    };
    match store.put_bucket(&bucket).await {
        Ok(()) => Ok(bucket),
        // Deleted since it was read.
        Err(StoreError::Conflict(Conflict::Gone)) => Err(NotFound::new("namespace", namespace_id).into()),
        Err(err) => Err(TenancyError::from_store(err, "bucket", name)),
    }
}

/// Deletes a bucket that holds no upload in any status, and frees its name. A warm API
/// container may still resolve the bucket for up to the directory TTL; it can create nothing
/// in it.
pub async fn delete_bucket(store: &Store, bucket_id: &BucketId) -> Result<Bucket, TenancyError> {
    let bucket = store
        .bucket(bucket_id)
        .await?
        .ok_or_else(|| NotFound::new("bucket", bucket_id))?;
    match store.delete_bucket(&bucket).await {
        Ok(()) => Ok(bucket),
        Err(StoreError::Conflict(Conflict::NotEmpty)) => {
            let counts = store.bucket_counts(bucket_id).await?;
            let total: u64 = counts.by_status.values().map(|c| c.uploads).sum();
            let by_status: Vec<String> = counts
                .by_status
                .iter()
                .map(|(status, count)| format!("{} {status}", count.uploads))
                .collect();
            Err(TenancyError::NotEmpty {
                resource: "bucket",
                id: bucket_id.to_string(),
                holds: format!("{total} uploads ({})", by_status.join(", ")),
            })
        }
        Err(StoreError::Conflict(_)) => Err(NotFound::new("bucket", bucket_id).into()),
        Err(StoreError::Failure(failure)) => Err(failure.into()),
    }
}

/// Deletes a namespace that holds no bucket, and frees its name.
pub async fn delete_namespace(store: &Store, namespace_id: &NamespaceId) -> Result<Namespace, TenancyError> {
    let namespace = store
        .namespace(namespace_id)
        .await?
        .ok_or_else(|| NotFound::new("namespace", namespace_id))?;
    let not_empty = |buckets: Vec<Bucket>| TenancyError::NotEmpty {
        resource: "namespace",
        id: namespace_id.to_string(),
        holds: format!(
            "{} buckets ({})",
            buckets.len(),
            buckets.iter().map(|b| b.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
    };
    // Namespaces stored before buckets were counted count none; their buckets are found here,
    // and a bucket created meanwhile is counted, which the delete's condition sees.
    let buckets = list_buckets(store, Some(namespace_id)).await?;
    if !buckets.is_empty() {
        return Err(not_empty(buckets));
    }
    match store.delete_namespace(&namespace).await {
        Ok(()) => Ok(namespace),
        Err(StoreError::Conflict(Conflict::NotEmpty)) => Err(not_empty(list_buckets(store, Some(namespace_id)).await?)),
        Err(StoreError::Conflict(_)) => Err(NotFound::new("namespace", namespace_id).into()),
        Err(StoreError::Failure(failure)) => Err(failure.into()),
    }
}

pub async fn list_tenants(store: &Store) -> Result<Vec<Tenant>, Failure> {
    sorted(store.scan_records(RecordKind::Tenant, None).await?, |t: &Tenant| {
        t.created_at
    })
}

pub async fn list_namespaces(store: &Store, tenant_id: Option<&TenantId>) -> Result<Vec<Namespace>, Failure> {
    let only = tenant_id.map(|id| ("tenant_id", id.as_str()));
    sorted(
        store.scan_records(RecordKind::Namespace, only).await?,
        |n: &Namespace| n.created_at,
    )
}

pub async fn list_buckets(store: &Store, namespace_id: Option<&NamespaceId>) -> Result<Vec<Bucket>, Failure> {
    let only = namespace_id.map(|id| ("namespace_id", id.as_str()));
    sorted(store.scan_records(RecordKind::Bucket, only).await?, |b: &Bucket| {
        b.created_at
    })
}

/// API keys as an operator sees them: never the key, nor its hash.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ApiKeySummary {
    pub key_id: KeyId,
    pub tenant_id: TenantId,
    pub label: Option<String>,
    pub created_at: Timestamp,
    pub rate_limit: Option<RateLimit>,
}

pub async fn list_api_keys(store: &Store, tenant_id: Option<&TenantId>) -> Result<Vec<ApiKeySummary>, Failure> {
    let only = tenant_id.map(|id| ("tenant_id", id.as_str()));
    let keys: Vec<ApiKeyRecord> = store.scan_records(RecordKind::ApiKey, only).await?;
    let summaries = keys
        .into_iter()
        .map(|k| ApiKeySummary {
            key_id: k.key_id,
            tenant_id: k.tenant_id,
            label: k.label,
            created_at: k.created_at,
            rate_limit: k.rate_limit,
        })
        .collect();
    sorted(summaries, |k: &ApiKeySummary| k.created_at)
}

/// Oldest first.
fn sorted<T>(mut records: Vec<T>, created_at: impl Fn(&T) -> Timestamp) -> Result<Vec<T>, Failure> {
    records.sort_by_key(|r| created_at(r));
    Ok(records)
}

/// Stores a new key for the tenant and returns it; its plaintext exists only in the result.
pub async fn create_api_key(
    store: &Store,
    tenant_id: &TenantId,
    label: Option<String>,
) -> Result<NewApiKey, TenancyError> {
    store
        .tenant(tenant_id)
        .await?
        .ok_or_else(|| NotFound::new("tenant", tenant_id))?;
    let key = new_api_key(tenant_id, label);
    store.put_api_key(&key.record).await?;
    Ok(key)
}

/// Gives a key its own requests-per-second allowance. Warm containers apply it once their
/// cached record expires (`UPLOADS_DIRECTORY_TTL_SECS`).
pub async fn set_rate_limit(store: &Store, key_id: &KeyId, limit: RateLimit) -> Result<ApiKeyRecord, TenancyError> {
    Ok(store
        .set_api_key_rate_limit(key_id, limit)
        .await?
        .ok_or_else(|| NotFound::new("api_key", key_id))?)
}

/// Deletes a key. Warm containers trust what they read for up to the directory's TTL
/// (`UPLOADS_DIRECTORY_TTL_SECS`), so the key stops working everywhere within that time.
pub async fn revoke_api_key(store: &Store, key_id: &KeyId) -> Result<ApiKeyRecord, TenancyError> {
    Ok(store
        .delete_api_key(key_id)
        .await?
        .ok_or_else(|| NotFound::new("api_key", key_id))?)
}

/// Sets a tenant's own storage limits (those not given stay as they were). Warm containers
/// apply them once their cached record expires (`UPLOADS_DIRECTORY_TTL_SECS`).
pub async fn set_quota(store: &Store, tenant_id: &TenantId, quota: &QuotaOverride) -> Result<Tenant, TenancyError> {
    Ok(store
        .set_tenant_quota(tenant_id, quota)
        .await?
        .ok_or_else(|| NotFound::new("tenant", tenant_id))?)
}
