//! Prefixed identifiers: `upl_`, `obj_`, … followed by a lowercase ULID (48 bits of
//! millisecond time, 80 random bits), so ids are unguessable and sort by creation time.

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

/// The batch and batch task that `auto_submit_batch` creates for an upload. Derived from the
/// upload's id (so its random bits), they make a retried confirmation find, not recreate, them.
pub fn auto_batch_ids(upload_id: &str) -> Option<(String, String)> {
    let ulid = upload_id.strip_prefix(IdKind::Upload.prefix())?;
    Some((
        format!("{}{ulid}", IdKind::Batch.prefix()),
        format!("{}{ulid}", IdKind::Task.prefix()),
    ))
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
}
