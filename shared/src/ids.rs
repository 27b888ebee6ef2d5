//! Prefixed identifiers: `upl_`, `obj_`, … followed by a lowercase ULID (48 bits of
//! millisecond time, 80 random bits), so ids are unguessable and sort by creation time.
//!
//! Each kind has its own type (`UploadId`, `BucketId`, …): an id is checked once, where it
//! enters (a path, a header), and carried typed from there. Stored records are trusted, so
//! deserializing does not check again.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Upload,
    Object,
    Task,
    Batch,
    Namespace,
    Bucket,
    Tenant,
    ApiKey,
}

const ULID_LEN: usize = 26;

impl IdKind {
    pub const fn prefix(self) -> &'static str {
        match self {
            IdKind::Upload => "upl_",
            IdKind::Object => "obj_",
            IdKind::Task => "task_",
            IdKind::Batch => "batch_",
            IdKind::Namespace => "ns_",
            IdKind::Bucket => "bkt_",
            IdKind::Tenant => "tnt_",
            IdKind::ApiKey => "key_",
        }
    }

    pub fn generate(self) -> String {
        format!(
            "{}{}",
            self.prefix(),
            ulid::Ulid::new().to_string().to_ascii_lowercase()
        )
    }

    /// True when `id` has exactly the shape `generate` produces.
    pub fn matches(self, id: &str) -> bool {
        id.strip_prefix(self.prefix()).is_some_and(|rest| {
            rest.len() == ULID_LEN
                && ulid::Ulid::from_string(&rest.to_ascii_uppercase()).is_ok()
                && rest == rest.to_ascii_lowercase()
        })
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const KIND: IdKind = $kind;

            pub fn generate() -> Self {
                Self($kind.generate())
            }

            /// The id, when `value` has exactly the shape `generate` produces.
            pub fn parse(value: &str) -> Option<Self> {
                $kind.matches(value).then(|| Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
    };
}

id_type!(
    /// `upl_…`
    UploadId,
    IdKind::Upload
);
id_type!(
    /// `obj_…`: a bucket object.
    ObjectId,
    IdKind::Object
);
id_type!(
    /// `task_…`
    TaskId,
    IdKind::Task
);
id_type!(
    /// `batch_…`
    BatchId,
    IdKind::Batch
);
id_type!(
    /// `ns_…`
    NamespaceId,
    IdKind::Namespace
);
id_type!(
    /// `bkt_…`
    BucketId,
    IdKind::Bucket
);
id_type!(
    /// `tnt_…`
    TenantId,
    IdKind::Tenant
);
id_type!(
    /// `key_…`: an API key's id (not secret; the key itself is).
    KeyId,
    IdKind::ApiKey
);

impl UploadId {
    /// An upload id whose random bits derive from `seed` and whose time bits are `time_ms`:
    /// the same inputs always give the same id, so a retried request finds what its first
    /// try created instead of creating it again.
    pub fn derived(seed: &[u8], time_ms: u64) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(seed);
        let mut random = [0u8; 16];
        random[6..].copy_from_slice(&digest[..10]);
        let ulid = ulid::Ulid::from_parts(time_ms, u128::from_be_bytes(random));
        Self(format!(
            "{}{}",
            IdKind::Upload.prefix(),
            ulid.to_string().to_ascii_lowercase()
        ))
    }
}

/// The batch and batch task that `auto_submit_batch` creates for an upload. Derived from the
/// upload's id (so its random bits), they make a retried confirmation find, not recreate, them.
pub fn auto_batch_ids(upload_id: &UploadId) -> (BatchId, TaskId) {
    let ulid = upload_id
        .as_str()
        .strip_prefix(IdKind::Upload.prefix())
        .unwrap_or(upload_id.as_str());
    (
        BatchId(format!("{}{ulid}", IdKind::Batch.prefix())),
        TaskId(format!("{}{ulid}", IdKind::Task.prefix())),
    )
}

/// A bucket as a path names it: by id or by name (names never look like ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketRef {
    Id(BucketId),
    Name(String),
}

/// A namespace as `X-Namespace` names it: by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceRef {
    Id(NamespaceId),
    Name(String),
}

impl BucketRef {
    /// A bucket id or a valid bucket name; `None` for anything else.
    pub fn parse(value: &str) -> Option<Self> {
        match BucketId::parse(value) {
            Some(id) => Some(BucketRef::Id(id)),
            None => crate::names::is_valid_name(value).then(|| BucketRef::Name(value.to_owned())),
        }
    }
}

impl NamespaceRef {
    /// A namespace id, or anything else as a name (an unknown name is simply not found).
    pub fn parse(value: &str) -> Self {
        match NamespaceId::parse(value) {
            Some(id) => NamespaceRef::Id(id),
            None => NamespaceRef::Name(value.to_owned()),
        }
    }
}

impl fmt::Display for BucketRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BucketRef::Id(id) => id.fmt(f),
            BucketRef::Name(name) => f.write_str(name),
        }
    }
}

impl fmt::Display for NamespaceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NamespaceRef::Id(id) => id.fmt(f),
            NamespaceRef::Name(name) => f.write_str(name),
        }
    }
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_their_prefix_and_are_unique() {
        let a = IdKind::Upload.generate();
        let b = IdKind::Upload.generate();
        assert!(a.starts_with("upl_"));
        assert_eq!(a.len(), 4 + ULID_LEN);
        assert_ne!(a, b);
        assert!(IdKind::Upload.matches(&a));
        assert!(!IdKind::Bucket.matches(&a));
    }

    #[test]
    fn malformed_ids_do_not_match() {
        for bad in [
            "upl_",
            "upl_123",
            "UPL_01HZX3Q5N1V8W6T2K9R4M7P0AB",
            "upl_01HZX3Q5N1V8W6T2K9R4M7P0AB",
            "upl_01hzx3q5n1v8w6t2k9r4m7p0a!",
        ] {
            assert!(!IdKind::Upload.matches(bad), "{bad}");
        }
        assert!(IdKind::Upload.matches("upl_01hzx3q5n1v8w6t2k9r4m7p0ab"));
    }

    #[test]
    fn typed_ids_parse_only_their_own_kind() {
        let upload = UploadId::generate();
        assert_eq!(UploadId::parse(upload.as_str()), Some(upload.clone()));
        assert_eq!(BucketId::parse(upload.as_str()), None);
        assert_eq!(serde_json::to_value(&upload).unwrap(), upload.as_str());
        let (batch, task) = auto_batch_ids(&upload);
        assert_eq!(&batch.as_str()[6..], &upload.as_str()[4..]);
        assert!(BatchId::parse(batch.as_str()).is_some() && TaskId::parse(task.as_str()).is_some());
    }

    #[test]
    fn derived_upload_ids_are_valid_and_repeatable() {
        let a = UploadId::derived(b"request 1/item 0", 1_790_000_000_000);
        assert_eq!(UploadId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(UploadId::derived(b"request 1/item 0", 1_790_000_000_000), a);
        assert_ne!(UploadId::derived(b"request 1/item 1", 1_790_000_000_000), a);
        assert_ne!(UploadId::derived(b"request 1/item 0", 1_790_000_900_000), a);
    }

    #[test]
    fn buckets_and_namespaces_are_named_by_id_or_name() {
        let id = BucketId::generate();
        assert_eq!(BucketRef::parse(id.as_str()), Some(BucketRef::Id(id)));
        assert_eq!(BucketRef::parse("photos"), Some(BucketRef::Name("photos".into())));
        assert_eq!(BucketRef::parse("bad name"), None);
        assert_eq!(BucketRef::parse("bkt_123"), None, "shaped like an id, but not one");
        let ns = NamespaceId::generate();
        assert_eq!(NamespaceRef::parse(ns.as_str()), NamespaceRef::Id(ns));
        assert_eq!(NamespaceRef::parse("media"), NamespaceRef::Name("media".into()));
    }
}
