//! The fields a query may name: every UploadResponse field, and dot paths into `metadata`
//! and `object_metadata`.

use serde_json::Value;

pub const UPLOAD_FIELDS: &[&str] = &[
    "upload_id",
    "bucket_id",
    "filename",
    "content_type",
    "presigned_url_expiration",
    "s3_key",
    "status",
    "create_object_on_confirm",
    "created_at",
    "expires_at",
    "file_size_bytes",
    "presigned_url",
    "metadata",
    "object_metadata",
    "blob_property",
    "blob_type",
    "file_hash",
    "skip_duplicates",
    "is_duplicate",
    "duplicate_of_upload_id",
    "message",
    "completed_at",
    "verified_at",
    "etag",
    "object_id",
    "task_id",
];

/// Fields holding instants: compared as times, whatever offset the query writes them with.
const TIMESTAMP_FIELDS: &[&str] = &["created_at", "expires_at", "completed_at", "verified_at"];

/// A validated field reference, split at its dots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    segments: Vec<String>,
}

impl FieldPath {
    pub fn parse(path: &str) -> Option<Self> {
        let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
        let top = segments.first()?;
        let known = UPLOAD_FIELDS.contains(&top.as_str());
        let nested_ok = segments.len() == 1 || matches!(top.as_str(), "metadata" | "object_metadata");
        (known && nested_ok && segments.iter().all(|s| !s.is_empty())).then_some(Self { segments })
    }

    /// The upload attribute this path starts at.
    pub fn top(&self) -> &str {
        &self.segments[0]
    }

    pub fn is_timestamp(&self) -> bool {
        self.segments.len() == 1 && TIMESTAMP_FIELDS.contains(&self.top())
    }

    pub fn is(&self, field: &str) -> bool {
        self.segments.len() == 1 && self.top() == field
    }

    /// The value at this path in an upload's JSON; `None` when any step is missing.
    pub fn resolve<'a>(&self, upload: &'a Value) -> Option<&'a Value> {
        self.segments
            .iter()
            .try_fold(upload, |value, segment| value.as_object()?.get(segment))
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.segments.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_known_fields_and_metadata_paths() {
        assert!(FieldPath::parse("status").is_some());
        assert!(FieldPath::parse("metadata.campaign.name").is_some());
        assert!(FieldPath::parse("object_metadata.k").is_some());
        for bad in ["", "nope", "status.x", "metadata.", "metadata..a", ".metadata"] {
            assert!(FieldPath::parse(bad).is_none(), "{bad}");
        }
        assert!(FieldPath::parse("created_at").unwrap().is_timestamp());
        assert!(!FieldPath::parse("metadata.created_at").unwrap().is_timestamp());
    }

    #[test]
    fn resolves_nested_values() {
        let upload = json!({"metadata": {"a": {"b": 1}}, "status": "PENDING"});
        assert_eq!(
            FieldPath::parse("metadata.a.b").unwrap().resolve(&upload),
            Some(&json!(1))
        );
        assert_eq!(FieldPath::parse("metadata.a.c").unwrap().resolve(&upload), None);
        assert_eq!(
            FieldPath::parse("status").unwrap().resolve(&upload),
            Some(&json!("PENDING"))
        );
    }
}
