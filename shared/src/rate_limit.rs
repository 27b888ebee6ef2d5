//! Requests per second per API key, in two layers.
//!
//! 1. A token bucket per key in the warm container (`rate` tokens a second, at most `burst`
//!    saved up). A request that finds no token is refused with the time until the next one
//!    (429 with `Retry-After`). It costs a map lookup.
//! 2. A coarse shared counter, so that a key spread over many containers still gets about
//!    its allowance in all: each container adds the requests it admitted to a per-key,
//!    per-second counter item every `sync_every` requests (one DynamoDB update, not one per
//!    request), and when the total for the current second passes `per_second + burst`, the
//!    container refuses the key until that second ends. Containers that have not synced yet
//!    may each admit up to `sync_every` more: the limit is coarse, not exact.

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

impl RateLimit {
    /// Requests a container admits between two additions to the shared counter: half a
    /// second's worth, so a key at its full rate costs two counter updates a second per
    /// container it runs in.
    pub fn sync_every(&self) -> u32 {
        (self.per_second / 2).max(1)
    }

    /// What the shared counter allows a key in one second, across containers.
    pub fn per_window(&self) -> u64 {
        u64::from(self.per_second) + u64::from(self.burst)
    }
}

/// What a container decided about one request of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Admitted, and `requests` admitted requests are due to be added to the shared counter
    /// of the second `window` (epoch seconds).
    AdmittedSync {
        window: i64,
        requests: u32,
    },
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// Admitted, not yet added to the shared counter.
    unsynced: u32,
    /// The second (epoch seconds) the shared counter said the key used up.
    spent_window: Option<i64>,
}

#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<KeyId, Bucket>>,
}

impl RateLimiter {
    /// Takes a token for `key` at `now` (`clock_ms`: the wall clock, epoch milliseconds,
    /// which places the shared counter's windows); refused, how long until one is there.
    pub fn admit(&self, key: &KeyId, limit: RateLimit, now: Instant, clock_ms: i64) -> Result<Admission, Duration> {
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
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: burst,
            at: now,
            unsynced: 0,
            spent_window: None,
        });
        let window = clock_ms.div_euclid(1000);
        if bucket.spent_window == Some(window) {
            let left_ms = (window + 1) * 1000 - clock_ms;
            return Err(Duration::from_millis(u64::try_from(left_ms).unwrap_or(1)));
        }
        let refilled = now.saturating_duration_since(bucket.at).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refilled).min(burst);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            return Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate));
        }
        bucket.tokens -= 1.0;
        bucket.unsynced += 1;
        if bucket.unsynced < limit.sync_every() {
            return Ok(Admission::Admitted);
        }
        let requests = std::mem::take(&mut bucket.unsynced);
        Ok(Admission::AdmittedSync { window, requests })
    }

    /// The shared counter says `key` used up `window`: refuse it until that second ends.
    pub fn spent(&self, key: &KeyId, window: i64) {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bucket) = buckets.get_mut(key) {
            bucket.spent_window = Some(window);
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
        let admitted = |r: Result<Admission, Duration>| r.is_ok();
        for _ in 0..3 {
            assert!(admitted(limiter.admit(&key(1), limit, t0, CLOCK)));
        }
        let wait = limiter
            .admit(&key(1), limit, t0, CLOCK)
            .expect_err("the burst is spent");
        assert_eq!(wait, Duration::from_millis(500));
        // Another key is not affected.
        assert!(admitted(limiter.admit(&key(2), limit, t0, CLOCK)));
        // Half a second later one token is back, and only one.
        let later = t0 + Duration::from_millis(500);
        assert!(admitted(limiter.admit(&key(1), limit, later, CLOCK)));
        assert!(limiter.admit(&key(1), limit, later, CLOCK).is_err());
        // Never more than the burst saved up.
        let much_later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(admitted(limiter.admit(&key(1), limit, much_later, CLOCK)));
        }
        assert!(limiter.admit(&key(1), limit, much_later, CLOCK).is_err());
    }

    /// 2026-11-30T08:00:00.250Z: a quarter into a second.
    const CLOCK: i64 = 1_796_025_600_250;

    #[test]
    fn every_half_seconds_worth_of_requests_goes_to_the_shared_counter() {
        let limiter = RateLimiter::default();
        let limit = RateLimit {
            per_second: 6,
            burst: 10,
        };
        let t0 = Instant::now();
        let outcomes: Vec<Admission> = (0..7)
            .map(|_| limiter.admit(&key(1), limit, t0, CLOCK).expect("within the burst"))
            .collect();
        let window = CLOCK / 1000;
        let sync = Admission::AdmittedSync { window, requests: 3 };
        assert_eq!(
            outcomes,
            [
                Admission::Admitted,
                Admission::Admitted,
                sync,
                Admission::Admitted,
                Admission::Admitted,
                sync,
                Admission::Admitted
            ]
        );
    }

    #[test]
    fn a_key_the_shared_counter_found_spent_waits_for_the_next_second() {
        let limiter = RateLimiter::default();
        let limit = RateLimit {
            per_second: 50,
            burst: 100,
        };
        let t0 = Instant::now();
        assert!(limiter.admit(&key(1), limit, t0, CLOCK).is_ok());
        limiter.spent(&key(1), CLOCK / 1000);
        let wait = limiter
            .admit(&key(1), limit, t0, CLOCK)
            .expect_err("spent for this second");
        assert_eq!(wait, Duration::from_millis(750));
        assert!(limiter.admit(&key(2), limit, t0, CLOCK).is_ok(), "other keys go on");
        let next_second = CLOCK + 750;
        assert!(limiter.admit(&key(1), limit, t0, next_second).is_ok());
    }
}
