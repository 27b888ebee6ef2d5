//! The Confirm Upload request body (optional: a missing or `null` body is valid).

use crate::errors::{Invalid, Loc};
use crate::model::ConfirmInputs;
use crate::validate::FieldReader;
use serde_json::Value;

const MAX_ETAG_LEN: usize = 1024;

/// The body keys Confirm Upload accepts (the SDK's `ConfirmUploadRequest`).
pub const ACCEPTED_KEYS: &[&str] = &["etag", "file_size_bytes", "auto_submit_batch"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfirmRequest {
    pub etag: Option<String>,
    pub file_size_bytes: Option<u64>,
    pub auto_submit_batch: bool,
}

impl ConfirmRequest {
    pub fn parse(body: Option<&Value>) -> Result<Self, Invalid> {
        let Some(body) = body.filter(|b| !b.is_null()) else {
            return Ok(Self::default());
        };
        let mut r = FieldReader::object(body, vec![Loc::from("body")])?;
        r.forbid_unknown(ACCEPTED_KEYS);
        let etag = r.optional_str("etag").map(str::trim).filter(|e| !e.is_empty());
        if etag.is_some_and(|e| e.len() > MAX_ETAG_LEN) {
            r.error(
                "etag",
                "string_too_long",
                format!("String should have at most {MAX_ETAG_LEN} characters"),
            );
        }
        let file_size_bytes = r
            .optional_u64("file_size_bytes")
            .and_then(|n| r.in_range("file_size_bytes", n, 1, u64::MAX));
        let auto_submit_batch = r.optional_bool("auto_submit_batch").unwrap_or(false);
        r.finish()?;
        Ok(Self {
            etag: etag.map(str::to_owned),
            file_size_bytes,
            auto_submit_batch,
        })
    }
}

impl From<&ConfirmInputs> for ConfirmRequest {
    /// The request an asynchronous confirmation's task recorded.
    fn from(inputs: &ConfirmInputs) -> Self {
        Self {
            etag: inputs.etag.clone(),
            file_size_bytes: inputs.file_size_bytes,
            auto_submit_batch: inputs.auto_submit_batch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_missing_or_null_body_is_the_default() {
        assert_eq!(ConfirmRequest::parse(None).unwrap(), ConfirmRequest::default());
        assert_eq!(
            ConfirmRequest::parse(Some(&Value::Null)).unwrap(),
            ConfirmRequest::default()
        );
        assert_eq!(
            ConfirmRequest::parse(Some(&json!({"etag": null, "file_size_bytes": null}))).unwrap(),
            ConfirmRequest::default()
        );
    }

    #[test]
    fn reads_every_field() {
        let r = ConfirmRequest::parse(Some(
            &json!({"etag": "\"abc\"", "file_size_bytes": 10, "auto_submit_batch": true}),
        ))
        .unwrap();
        assert_eq!(
            r,
            ConfirmRequest {
                etag: Some("\"abc\"".into()),
                file_size_bytes: Some(10),
                auto_submit_batch: true
            }
        );
    }

    #[test]
    fn rejects_bad_shapes() {
        for body in [
            json!({"file_size_bytes": 0}),
            json!({"etag": 5}),
            json!({"auto_submit_batch": "yes"}),
            json!({"etag": "abc", "async": true}),
            json!([]),
        ] {
            assert!(ConfirmRequest::parse(Some(&body)).is_err(), "{body}");
        }
    }
}
