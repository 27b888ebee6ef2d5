//! Requests per second per API key: a token bucket per key in the warm container (`rate`
//! tokens a second, at most `burst` saved up). A request that finds no token is refused with
//! the time until the next one (429 with `Retry-After`).
//!
//! The state lives in the container and costs nothing per request beyond a map lookup: no
//! table call. The price is that the limit holds per container: a key whose requests are
//! spread over N warm containers of one function gets up to N times the rate. The HttpApi's
//! stage-wide throttle and the functions' reserved concurrency (template.yaml) bound that.

use crate::ids::KeyId;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A key's allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

impl RateLimit {
    /// What a key gets unless its record says otherwise.
    pub const DEFAULT: RateLimit = RateLimit {
        per_second: 50,
        burst: 100,
    };
}

/// Keys tracked at most; idle buckets (full again) are dropped first.
const CAPACITY: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<KeyId, Bucket>>,
}

impl RateLimiter {
    /// Takes a token for `key` at `now`; refused, how long until one is there.
    pub fn admit(&self, key: &KeyId, limit: RateLimit, now: Instant) -> Result<(), Duration> {
        let rate = f64::from(limit.per_second.max(1));
        let burst = f64::from(limit.burst.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= CAPACITY && !buckets.contains_key(key) {
            // Buckets full again hold no state worth keeping.
            buckets.retain(|_, b| now.saturating_duration_since(b.at).as_secs_f64() * rate + b.tokens < burst);
            if buckets.len() >= CAPACITY {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket { tokens: burst, at: now });
        let refilled = now.saturating_duration_since(bucket.at).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refilled).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> KeyId {
        KeyId::parse(&format!("key_01m8n26fm5yjz3wwg28x0z9mx{n}")).expect("a key id")
    }

    #[test]
    fn a_burst_then_the_rate() {
        let limiter = RateLimiter::default();
        let limit = RateLimit {
            per_second: 2,
            burst: 3,
        };
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.admit(&key(1), limit, t0), Ok(()));
        }
        let wait = limiter.admit(&key(1), limit, t0).expect_err("the burst is spent");
        assert_eq!(wait, Duration::from_millis(500));
        // Another key is not affected.
        assert_eq!(limiter.admit(&key(2), limit, t0), Ok(()));
        // Half a second later one token is back, and only one.
        let later = t0 + Duration::from_millis(500);
        assert_eq!(limiter.admit(&key(1), limit, later), Ok(()));
        assert!(limiter.admit(&key(1), limit, later).is_err());
        // Never more than the burst saved up.
        let much_later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(limiter.admit(&key(1), limit, much_later), Ok(()));
        }
        assert!(limiter.admit(&key(1), limit, much_later).is_err());
    }
}
