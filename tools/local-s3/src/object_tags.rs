//! Object tags, which s3s-fs does not keep: the tag set a PUT's `x-amz-tagging` header
//! gives, replaced by PutObjectTagging, read by GetObjectTagging, dropped with the object.
//! They live in memory: after a restart, objects are untagged (S3 lifecycle rules, which
//! act on tags, do not run locally anyway).

use s3s::dto::{Tag, TagSet};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct ObjectTags {
    sets: Mutex<HashMap<(String, String), TagSet>>,
}

impl ObjectTags {
    pub fn get(&self, bucket: &str, key: &str) -> TagSet {
        self.lock()
            .get(&(bucket.to_owned(), key.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    pub fn set(&self, bucket: &str, key: &str, tags: TagSet) {
        let mut sets = self.lock();
        if tags.is_empty() {
            sets.remove(&(bucket.to_owned(), key.to_owned()));
        } else {
            sets.insert((bucket.to_owned(), key.to_owned()), tags);
        }
    }

    pub fn remove(&self, bucket: &str, key: &str) {
        self.set(bucket, key, TagSet::default());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), TagSet>> {
        // A panic while holding the lock cannot leave a map half-updated: recover it.
        self.sets.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `k1=v1&k2=v2`, URL-encoded as S3's `x-amz-tagging` header carries it.
pub fn parse_header(header: &str) -> TagSet {
    form_urlencoded::parse(header.as_bytes())
        .map(|(key, value)| Tag {
            key: Some(key.into_owned()),
            value: Some(value.into_owned()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tagging_header_is_url_encoded_pairs() {
        let tags = parse_header("upload-state=unconfirmed&note=a%20b");
        let pairs: Vec<_> = tags.iter().map(|t| (t.key.as_deref(), t.value.as_deref())).collect();
        assert_eq!(
            pairs,
            [(Some("upload-state"), Some("unconfirmed")), (Some("note"), Some("a b"))]
        );
    }
}
