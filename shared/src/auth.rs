//! API keys and request authentication.
//!
//! A key reads `sk_<key id>_<secret>`. Only the SHA-256 of the whole key is stored, under
//! the (non-secret) key id; a request's key is hashed and compared with it in constant
//! time. The key itself is shown once, when it is created, and never logged.

use crate::directory::Directory;
use crate::errors::{Failure, NotFound};
use crate::ids::{KeyId, NamespaceRef, TenantId};
use crate::model::{ApiKeyRecord, Namespace};
use crate::rate_limit::RateLimit;
use crate::time::Timestamp;
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use std::time::Duration;
use subtle::ConstantTimeEq;

const KEY_PREFIX: &str = "sk_";
const SECRET_LEN: usize = 40;

/// A freshly created key: the plaintext to hand over once, and the record to store.
pub struct NewApiKey {
    pub plaintext: String,
    pub record: ApiKeyRecord,
}

pub fn new_api_key(tenant_id: &TenantId, label: Option<String>) -> NewApiKey {
    let key_id = KeyId::generate();
    let secret: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(SECRET_LEN)
        .map(char::from)
        .collect();
    let plaintext = format!("{KEY_PREFIX}{key_id}_{secret}");
    let record = ApiKeyRecord {
        key_sha256: sha256_hex(&plaintext),
        key_id,
        tenant_id: tenant_id.clone(),
        label,
        created_at: Timestamp::now(),
        rate_limit: None,
    };
    NewApiKey { plaintext, record }
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The key id inside a well-formed key, or `None`.
fn key_id_of(key: &str) -> Option<KeyId> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (key_id, secret) = rest.rsplit_once('_')?;
    KeyId::parse(key_id).filter(|_| secret.len() == SECRET_LEN)
}

/// Why a request is not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A missing, malformed or unknown key (a 401; nothing else is told).
    #[error("invalid or missing API key")]
    Unauthorized,
    /// The endpoint needs `X-Namespace` and the request has none.
    #[error("X-Namespace is required")]
    NamespaceRequired,
    /// The key used up its requests-per-second allowance in this container.
    #[error("rate limited: retry after {retry_after:?}")]
    RateLimited { retry_after: Duration, limit: RateLimit },
    /// A namespace the key cannot see, whether or not it exists.
    #[error(transparent)]
    NamespaceNotFound(NotFound),
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// Who is calling and in which namespace.
#[derive(Debug, Clone)]
pub struct Scope {
    pub tenant_id: TenantId,
    pub key_id: KeyId,
    pub namespace: Namespace,
}

/// Who is calling, and the namespace `X-Namespace` named when the request gave one (Mixpeek's
/// SDK sends none to the tasks endpoint).
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant_id: TenantId,
    pub key_id: KeyId,
    pub namespace: Option<Namespace>,
}

/// Authenticates the bearer key and resolves `X-Namespace` (an id or a name) within the
/// key's tenant. The key is judged first: an unauthenticated caller learns nothing else.
pub async fn authenticate(
    directory: &Directory,
    authorization: Option<&str>,
    namespace: Option<&str>,
) -> Result<Scope, AuthError> {
    let caller = identify(directory, authorization, namespace).await?;
    let namespace = caller.namespace.ok_or(AuthError::NamespaceRequired)?;
    Ok(Scope {
        tenant_id: caller.tenant_id,
        key_id: caller.key_id,
        namespace,
    })
}

/// Like [`authenticate`], for endpoints where `X-Namespace` is optional.
pub async fn identify(
    directory: &Directory,
    authorization: Option<&str>,
    namespace: Option<&str>,
) -> Result<Caller, AuthError> {
    let key = authorization
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or(AuthError::Unauthorized)?;
    let key_id = key_id_of(key).ok_or(AuthError::Unauthorized)?;
    let wanted = namespace
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(NamespaceRef::parse);
    // A namespace named by id does not depend on the key: both are read at once. Nothing
    // read is used, or told, before the key checks out.
    let (record, namespace_by_id) = tokio::join!(directory.api_key(&key_id), async {
        match &wanted {
            Some(NamespaceRef::Id(id)) => directory.namespace(id).await,
            _ => Ok(None),
        }
    });
    let record = record?.ok_or(AuthError::Unauthorized)?;
    let presented = sha256_hex(key);
    if !bool::from(presented.as_bytes().ct_eq(record.key_sha256.as_bytes())) {
        return Err(AuthError::Unauthorized);
    }
    directory
        .admit(&record)
        .await
        .map_err(|(retry_after, limit)| AuthError::RateLimited { retry_after, limit })?;
    let namespace = match wanted {
        None => None,
        Some(wanted) => {
            let found = match &wanted {
                NamespaceRef::Id(_) => namespace_by_id?.filter(|ns| ns.tenant_id == record.tenant_id),
                NamespaceRef::Name(name) => directory.namespace_by_name(&record.tenant_id, name).await?,
            };
            Some(found.ok_or_else(|| AuthError::NamespaceNotFound(NotFound::new("namespace", &wanted)))?)
        }
    };
    Ok(Caller {
        tenant_id: record.tenant_id,
        key_id: record.key_id,
        namespace,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_parse_and_store_only_a_hash() {
        let tenant = TenantId::generate();
        let key = new_api_key(&tenant, None);
        assert!(key.plaintext.starts_with("sk_key_"));
        assert_eq!(key_id_of(&key.plaintext), Some(key.record.key_id.clone()));
        assert_eq!(key.record.key_sha256, sha256_hex(&key.plaintext));
        assert!(!key.record.key_sha256.contains(&key.plaintext[7..]));
        assert_ne!(new_api_key(&tenant, None).plaintext, key.plaintext);
    }

    #[test]
    fn malformed_keys_have_no_id() {
        let key = new_api_key(&TenantId::generate(), None).plaintext;
        assert_eq!(key_id_of(&key[..key.len() - 1]), None);
        assert_eq!(key_id_of(&key.replacen("sk_", "pk_", 1)), None);
        assert_eq!(key_id_of("sk_"), None);
        assert_eq!(key_id_of(""), None);
    }
}
