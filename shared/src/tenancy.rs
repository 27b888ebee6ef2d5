//! Creating tenants, namespaces, buckets and API keys (the admin CLI and tests use these;
//! the public API only reads them).

use crate::auth::{NewApiKey, new_api_key};
use crate::error::{ApiError, Loc};
use crate::ids::IdKind;
use crate::model::{Bucket, Namespace, Tenant};
use crate::names::is_valid_name;
use crate::store::Store;
use crate::time::Timestamp;

fn check_name(name: &str) -> Result<(), ApiError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            vec![Loc::from("name")],
            "value_error",
            "names are 1-64 letters, digits, '.', '_' or '-', start with a letter or digit, and do not start with 'ns_' or 'bkt_'",
        ))
    }
}

pub async fn create_tenant(store: &Store, name: &str) -> Result<Tenant, ApiError> {
    let tenant = Tenant {
        tenant_id: IdKind::Tenant.generate(),
        name: name.to_owned(),
        created_at: Timestamp::now(),
    };
    store.put_tenant(&tenant).await?;
    Ok(tenant)
}

pub async fn create_namespace(store: &Store, tenant_id: &str, name: &str) -> Result<Namespace, ApiError> {
    check_name(name)?;
    store
        .tenant(tenant_id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant", tenant_id))?;
    let namespace = Namespace {
        namespace_id: IdKind::Namespace.generate(),
        tenant_id: tenant_id.to_owned(),
        name: name.to_owned(),
        created_at: Timestamp::now(),
    };
    store.put_namespace(&namespace).await?;
    Ok(namespace)
}

pub async fn create_bucket(
    store: &Store,
    namespace_id: &str,
    name: &str,
    max_file_size_bytes: Option<u64>,
) -> Result<Bucket, ApiError> {
    check_name(name)?;
    store
        .namespace(namespace_id)
        .await?
        .ok_or_else(|| ApiError::not_found("namespace", namespace_id))?;
    let bucket = Bucket {
        bucket_id: IdKind::Bucket.generate(),
        namespace_id: namespace_id.to_owned(),
        name: name.to_owned(),
        max_file_size_bytes: max_file_size_bytes.unwrap_or(Bucket::DEFAULT_MAX_FILE_SIZE_BYTES),
        created_at: Timestamp::now(),
    };
    store.put_bucket(&bucket).await?;
    Ok(bucket)
}

/// Stores a new key for the tenant and returns it; its plaintext exists only in the result.
pub async fn create_api_key(store: &Store, tenant_id: &str, label: Option<String>) -> Result<NewApiKey, ApiError> {
    store
        .tenant(tenant_id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant", tenant_id))?;
    let key = new_api_key(tenant_id, label);
    store.put_api_key(&key.record).await?;
    Ok(key)
}
