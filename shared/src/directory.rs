//! Who is who, cached in the warm container: API keys, namespaces and buckets by id and
//! by name, and tenants' quotas. Every request starts by reading them; they change rarely (a key is revoked, a
//! bucket or namespace is created), so a warm container answers them from memory.
//!
//! An entry lives `ttl` (`UPLOADS_DIRECTORY_TTL_SECS`, 60 s by default; API Gateway's own
//! authorizer cache keeps answers 300 s): a revoked key stops working within that time.
//! Answers that something does not exist live at most `NEGATIVE_TTL`, so an unknown key
//! sent again and again costs one read per interval, and a record created meanwhile is found
//! soon. Only what the table stores is cached: for keys, the hash, never the key.

use crate::errors::Failure;
use crate::ids::{BucketId, KeyId, NamespaceId, TenantId};
use crate::model::{ApiKeyRecord, Bucket, Namespace, Tenant};
use crate::quota::Quota;
use crate::rate_limit::{Admission, RateLimit, RateLimiter};
use crate::store::Store;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub const DEFAULT_TTL: Duration = Duration::from_secs(60);
pub const NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// Entries per cache: enough for every key, namespace and bucket a container meets, and a
/// bound on what unknown keys can make it hold.
const CAPACITY: usize = 4096;

#[derive(Clone, Debug)]
pub struct Directory {
    store: Store,
    ttl: Duration,
    caches: Arc<Caches>,
    limiter: Arc<RateLimiter>,
    default_limit: RateLimit,
    default_quota: Quota,
}

#[derive(Debug, Default)]
struct Caches {
    keys: TtlCache<KeyId, ApiKeyRecord>,
    namespaces: TtlCache<NamespaceId, Namespace>,
    namespace_names: TtlCache<(TenantId, String), Namespace>,
    buckets: TtlCache<BucketId, Bucket>,
    bucket_names: TtlCache<(NamespaceId, String), Bucket>,
    tenants: TtlCache<TenantId, Tenant>,
}

impl Directory {
    pub fn new(store: Store, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            caches: Arc::default(),
            limiter: Arc::default(),
            default_limit: RateLimit::DEFAULT,
            default_quota: Quota::DEFAULT,
        }
    }

    /// Tenants without limits of their own get `quota`'s.
    pub fn with_default_quota(mut self, quota: Quota) -> Self {
        self.default_quota = quota;
        self
    }

    /// The tenant's storage limits: its own where its record sets them, the deployment's
    /// defaults otherwise (a change reaches warm containers within the TTL).
    pub async fn quota(&self, tenant_id: &TenantId) -> Result<Quota, Failure> {
        let tenant = self
            .cached(&self.caches.tenants, tenant_id.clone(), self.store.tenant(tenant_id))
            .await?;
        let own = tenant.and_then(|t| t.quota).unwrap_or_default();
        Ok(self.default_quota.with(&own))
    }

    /// Keys without an allowance of their own get `limit`.
    pub fn with_default_rate_limit(mut self, limit: RateLimit) -> Self {
        self.default_limit = limit;
        self
    }

    /// Counts a request of the key `record` against its allowance, in this container and,
    /// every `sync_every` requests, in the shared counter; refused, how long until it may
    /// try again, and the allowance. A request whose addition takes the shared counter past
    /// the second's allowance is refused too: the first request of a key in each of many new
    /// containers (a burst spread over them, as Lambda spreads concurrent requests) counts
    /// before it is served. Should the shared counter fail, the container's own limit stands
    /// alone (a rate limit is not worth refusing requests over).
    pub async fn admit(&self, record: &ApiKeyRecord) -> Result<(), (Duration, RateLimit)> {
        let limit = record.rate_limit.unwrap_or(self.default_limit);
        let clock = crate::time::Timestamp::now().epoch_millis();
        let admission = self
            .limiter
            .admit(&record.key_id, limit, Instant::now(), clock)
            .map_err(|wait| (wait, limit))?;
        if let Admission::AdmittedSync { window, requests } = admission {
            match self.store.count_key_requests(&record.key_id, window, requests).await {
                Ok(total) if total > limit.per_window() => {
                    self.limiter.spent(&record.key_id, window);
                    let left_ms = (window + 1) * 1000 - clock;
                    return Err((Duration::from_millis(u64::try_from(left_ms).unwrap_or(1)), limit));
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "the shared request counter failed; the container's limit stands")
                }
            }
        }
        Ok(())
    }

    /// Reads through to the table every time (the admin CLI, and `ttl` 0).
    pub fn uncached(store: Store) -> Self {
        Self::new(store, Duration::ZERO)
    }

    pub async fn api_key(&self, key_id: &KeyId) -> Result<Option<ApiKeyRecord>, Failure> {
        self.cached(&self.caches.keys, key_id.clone(), self.store.api_key(key_id))
            .await
    }

    pub async fn namespace(&self, namespace_id: &NamespaceId) -> Result<Option<Namespace>, Failure> {
        let read = self.store.namespace(namespace_id);
        self.cached(&self.caches.namespaces, namespace_id.clone(), read).await
    }

    pub async fn namespace_by_name(&self, tenant_id: &TenantId, name: &str) -> Result<Option<Namespace>, Failure> {
        let read = self.store.namespace_by_name(tenant_id, name);
        let key = (tenant_id.clone(), name.to_owned());
        self.cached(&self.caches.namespace_names, key, read).await
    }

    pub async fn bucket(&self, bucket_id: &BucketId) -> Result<Option<Bucket>, Failure> {
        self.cached(&self.caches.buckets, bucket_id.clone(), self.store.bucket(bucket_id))
            .await
    }

    pub async fn bucket_by_name(&self, namespace_id: &NamespaceId, name: &str) -> Result<Option<Bucket>, Failure> {
        let read = self.store.bucket_by_name(namespace_id, name);
        let key = (namespace_id.clone(), name.to_owned());
        self.cached(&self.caches.bucket_names, key, read).await
    }

    async fn cached<K, V>(
        &self,
        cache: &TtlCache<K, V>,
        key: K,
        read: impl Future<Output = Result<Option<V>, Failure>>,
    ) -> Result<Option<V>, Failure>
    where
        K: Eq + Hash,
        V: Clone,
    {
        if let Some(hit) = cache.get(&key) {
            return Ok(hit);
        }
        let found = read.await?;
        let ttl = if found.is_some() {
            self.ttl
        } else {
            self.ttl.min(NEGATIVE_TTL)
        };
        if !ttl.is_zero() {
            cache.insert(key, found.clone(), ttl);
        }
        Ok(found)
    }
}

/// A bounded map whose entries expire. A Lambda container serves one request at a time, so
/// a mutex around a map is all the concurrency it needs.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (Instant, Option<V>)>>,
    capacity: usize,
}

impl<K, V> Default for TtlCache<K, V> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: CAPACITY,
        }
    }
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The cached answer (`Some(None)`: cached as absent), unless it expired.
    pub fn get(&self, key: &K) -> Option<Option<V>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(expires, _)| Instant::now() < *expires)
            .map(|(_, value)| value.clone())
    }

    /// Caches `value` for `ttl`. A full cache first drops what expired, then everything.
    pub fn insert(&self, key: K, value: Option<V>, ttl: Duration) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity {
            let now = Instant::now();
            entries.retain(|_, (expires, _)| now < *expires);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now() + ttl, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_absence_is_remembered_too() {
        let cache: TtlCache<&str, u32> = TtlCache::with_capacity(8);
        cache.insert("a", Some(1), Duration::from_secs(60));
        cache.insert("gone", None, Duration::from_secs(60));
        cache.insert("stale", Some(2), Duration::ZERO);
        assert_eq!(cache.get(&"a"), Some(Some(1)));
        assert_eq!(cache.get(&"gone"), Some(None));
        assert_eq!(cache.get(&"stale"), None);
        assert_eq!(cache.get(&"never"), None);
    }

    #[test]
    fn a_full_cache_stays_within_its_bound() {
        let cache: TtlCache<u32, u32> = TtlCache::with_capacity(4);
        for i in 0..100 {
            cache.insert(i, Some(i), Duration::from_secs(60));
            assert!(cache.entries.lock().unwrap().len() <= 4);
        }
        assert_eq!(cache.get(&99), Some(Some(99)));
    }
}
