//! Creating tenants, namespaces, buckets and API keys, and revoking keys (the admin CLI and tests use these;
//! the public API only reads them).

use crate::auth::{NewApiKey, new_api_key};
use crate::errors::{Failure, Invalid, Loc, NotFound};
use crate::ids::{BucketId, KeyId, NamespaceId, TenantId};
use crate::model::{ApiKeyRecord, Bucket, Namespace, Tenant};
use crate::names::is_valid_name;
use crate::quota::QuotaOverride;
use crate::rate_limit::RateLimit;
use crate::store::{Store, StoreError};
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
    #[error(transparent)]
    Failure(#[from] Failure),
}

impl TenancyError {
    fn from_store(err: StoreError, resource: &'static str, name: &str) -> Self {
        match err {
            StoreError::Conflict(_) => TenancyError::NameTaken {
                resource,
                name: name.to_owned(),
            },
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
    store
        .put_bucket(&bucket)
        .await
        .map_err(|err| TenancyError::from_store(err, "bucket", name))?;
    Ok(bucket)
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
