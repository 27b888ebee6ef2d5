//! `seed-dev`: the dev tenant, namespace, bucket and key behind `make dev`.

use bucket_uploads::auth::{AuthError, authenticate};
use bucket_uploads::store::Store;
use bucket_uploads::{ApiError, tenancy};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

const NAMESPACE: &str = "dev";
const BUCKET: &str = "dev-uploads";

/// Reuses the credentials recorded in `env_file` when they still authenticate against this
/// table (DynamoDB Local keeps its data between runs); otherwise creates fresh ones.
pub async fn seed_dev(store: &Store, env_file: &Path, api_url: &str) -> Result<Value, ApiError> {
    store.ensure_table().await?;
    let recorded = read_env(env_file);
    let reused = match (recorded.get("UPLOADS_API_KEY"), recorded.get("UPLOADS_NAMESPACE")) {
        (Some(key), Some(ns)) => still_valid(store, key, ns).await?,
        _ => None,
    };
    let (api_key, namespace, bucket, created) = match reused {
        Some((key, ns, bucket)) => (key, ns, bucket, false),
        None => {
            let tenant = tenancy::create_tenant(store, "dev").await?;
            let namespace = tenancy::create_namespace(store, &tenant.tenant_id, NAMESPACE).await?;
            let bucket = tenancy::create_bucket(store, &namespace.namespace_id, BUCKET, None).await?;
            let key = tenancy::create_api_key(store, &tenant.tenant_id, Some("make dev".into())).await?;
            (key.plaintext, namespace.name, bucket.name, true)
        }
    };
    // Exported, so that `source .local/dev.env` hands them to the programs the shell runs
    // (the `uploads` CLI, the SDK example), not only to the shell.
    let contents = format!(
        "export UPLOADS_API_URL={api_url}\nexport UPLOADS_API_KEY={api_key}\nexport UPLOADS_NAMESPACE={namespace}\nexport UPLOADS_BUCKET={bucket}\n"
    );
    write_private(env_file, &contents).map_err(|err| {
        eprintln!("cannot write {}: {err}", env_file.display());
        ApiError::Internal
    })?;
    Ok(json!({ "env_file": env_file, "created": created, "namespace": namespace, "bucket": bucket }))
}

async fn still_valid(store: &Store, key: &str, namespace: &str) -> Result<Option<(String, String, String)>, ApiError> {
    let directory = bucket_uploads::directory::Directory::uncached(store.clone());
    let scope = match authenticate(&directory, Some(&format!("Bearer {key}")), Some(namespace)).await {
        Ok(scope) => scope,
        Err(AuthError::Unauthorized | AuthError::NamespaceNotFound(_)) => return Ok(None),
        Err(other) => return Err(other.into()),
    };
    let bucket = store.bucket_by_name(&scope.namespace.namespace_id, BUCKET).await?;
    Ok(bucket.map(|b| (key.to_owned(), scope.namespace.name, b.name)))
}

fn read_env(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim_start().trim_start_matches("export ").split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The file holds an API key: readable by its owner only.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}
