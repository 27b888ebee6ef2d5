//! `Idempotency-Key` on the writes (create, batch create, confirm, batch confirm, delete): the
//! IETF httpapi Idempotency-Key draft with Stripe's semantics. The first request with a key
//! claims it (a conditional write, so of two racing requests one executes); the same key and
//! the same request within [`RETENTION_SECS`] replay its answer; the same key with another
//! request is refused; while the first still runs, the others are told to retry. Keys are
//! scoped per API key; their records expire by TTL and count in no quota. Decisions here; the
//! store writes ([`crate::store`]), the HTTP edge reads the header and replays.

use crate::ids::KeyId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long an answer is replayed (Stripe: 24 hours).
pub const RETENTION_SECS: i64 = 24 * 3600;
/// How long a claim without an answer (its request died) blocks the key.
pub const IN_PROGRESS_SECS: i64 = 60;
const MAX_KEY_LEN: usize = 255;

/// A valid key, as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// 1 to 255 visible ASCII characters (the draft leaves the syntax to the server).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let valid = !raw.is_empty() && raw.len() <= MAX_KEY_LEN && raw.bytes().all(|b| b.is_ascii_graphic());
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "Idempotency-Key is 1 to {MAX_KEY_LEN} visible ASCII characters"
            ))
        }
    }

    /// The record's partition key: the API key's id and a digest of the key (so any key
    /// fits, and one API key never sees another's).
    pub fn record_key(&self, key_id: &KeyId) -> String {
        format!("idem#{key_id}#{}", hex::encode(Sha256::digest(self.0.as_bytes())))
    }
}

/// What identifies a request: its method, path and query, and body.
pub fn fingerprint(method: &str, path_and_query: &str, body: &[u8]) -> String {
    hex::encode(
        Sha256::new()
            .chain_update(method)
            .chain_update([0])
            .chain_update(path_and_query)
            .chain_update([0])
            .chain_update(body)
            .finalize(),
    )
}

/// A key's record: claimed by a request, then holding its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    pub created_at: Timestamp,
    /// Until when the claim (without an answer) or the answer holds.
    pub expires_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<StoredAnswer>,
}

/// The first request's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAnswer {
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The body's bytes, base64.
    pub body: String,
}

/// What a request with a key already claimed gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The first request's answer, again.
    Replay(StoredAnswer),
    /// The key was used for another request.
    Reused,
    /// The first request is still running: retry after a moment.
    InProgress,
}

impl IdempotencyRecord {
    /// A claim by the request `fingerprint` at `now`.
    pub fn claim(fingerprint: String, now: Timestamp) -> Self {
        Self {
            fingerprint,
            created_at: now,
            expires_at: now.plus_seconds(IN_PROGRESS_SECS),
            answer: None,
        }
    }

    /// The claim given up (its request failed on the server's side): the key is free again.
    pub fn released(&self, now: Timestamp) -> Self {
        Self {
            expires_at: now,
            ..self.clone()
        }
    }

    /// The claim with its request's answer, kept for [`RETENTION_SECS`].
    pub fn answered(&self, answer: StoredAnswer) -> Self {
        Self {
            expires_at: self.created_at.plus_seconds(RETENTION_SECS),
            answer: Some(answer),
            ..self.clone()
        }
    }

    /// What a request `fingerprint` gets from this record.
    pub fn seen_by(&self, fingerprint: &str) -> Seen {
        if self.fingerprint != fingerprint {
            return Seen::Reused;
        }
        match &self.answer {
            Some(answer) => Seen::Replay(answer.clone()),
            None => Seen::InProgress,
        }
    }
}

/// Whether an answer is kept for replay: a success. An error means the write did not happen
/// (a refusal changes nothing the request asked for; a server error is retried), so the key
/// is freed and the client may retry with it once it fixed what was refused: Stripe keeps no
/// result of a request that failed validation or never ran either.
pub fn keeps(status: u16) -> bool {
    (200..300).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_and_scoped_per_api_key() {
        assert!(IdempotencyKey::parse("a1b2-c3").is_ok());
        for bad in ["", "with space", "naïve", &"x".repeat(256)] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
        let key = IdempotencyKey::parse("k").unwrap();
        let (a, b) = (KeyId::generate(), KeyId::generate());
        assert_ne!(key.record_key(&a), key.record_key(&b));
        assert!(key.record_key(&a).starts_with("idem#"));
    }

    #[test]
    fn a_record_replays_its_own_request_only() {
        let now = Timestamp::now();
        let claim = IdempotencyRecord::claim(fingerprint("POST", "/x", b"{}"), now);
        assert_eq!(claim.seen_by(&fingerprint("POST", "/x", b"{}")), Seen::InProgress);
        assert_eq!(claim.seen_by(&fingerprint("POST", "/x", b"{ }")), Seen::Reused);
        assert_eq!(claim.seen_by(&fingerprint("POST", "/y", b"{}")), Seen::Reused);
        let answer = StoredAnswer {
            status: 200,
            content_type: Some("application/json".into()),
            body: "{}".into(),
        };
        let done = claim.answered(answer.clone());
        assert_eq!(done.seen_by(&claim.fingerprint), Seen::Replay(answer));
        assert_eq!(done.expires_at, now.plus_seconds(RETENTION_SECS));
        assert!(keeps(200) && keeps(204) && !keeps(404) && !keeps(422) && !keeps(503));
    }
}
