//! The Confirm Upload request body (optional: a missing or `null` body is valid).

use crate::errors::{Invalid, Loc};
use crate::model::ConfirmInputs;
use crate::validate::FieldReader;
use serde_json::Value;

const MAX_ETAG_LEN: usize = 1024;

/// The body keys Confirm Upload accepts (the SDK's `ConfirmUploadRequest`, and our `parts`).
pub const ACCEPTED_KEYS: &[&str] = &["etag", "file_size_bytes", "auto_submit_batch", "parts"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfirmRequest {
    pub etag: Option<String>,
    pub file_size_bytes: Option<u64>,
    pub auto_submit_batch: bool,
    /// Our extension, for multipart uploads: the parts as the client sent them (number and
    /// the ETag S3 answered), checked against what S3 holds before it completes.
    pub parts: Vec<PartEtag>,
}

/// A part as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartEtag {
    pub part_number: u32,
    pub etag: String,
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
            parts: parts(body)?,
        })
    }
}

/// `parts`: `[{"part_number": 1, "etag": "…"}, …]` (absent or null: none).
fn parts(body: &Value) -> Result<Vec<PartEtag>, Invalid> {
    let items = match body.get("parts") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= 10_000 => items,
        Some(_) => {
            return Err(Invalid::at(
                vec![Loc::from("body"), Loc::from("parts")],
                "list_type",
                "a list of at most 10000 {\"part_number\", \"etag\"} objects",
            ));
        }
    };
    let mut parsed = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let number = item
            .get("part_number")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (1..=10_000).contains(n));
        let etag = item
            .get("etag")
            .and_then(Value::as_str)
            .filter(|e| e.len() <= MAX_ETAG_LEN);
        let only_known = item
            .as_object()
            .is_some_and(|o| o.keys().all(|k| k == "part_number" || k == "etag"));
        match (number, etag) {
            (Some(part_number), Some(etag)) if only_known => parsed.push(PartEtag {
                part_number,
                etag: etag.to_owned(),
            }),
            _ => {
                return Err(Invalid::at(
                    vec![Loc::from("body"), Loc::from("parts"), Loc::from(i)],
                    "value_error",
                    "a part: {\"part_number\": 1 to 10000, \"etag\": the ETag S3 answered its PUT}",
                ));
            }
        }
    }
    Ok(parsed)
}

impl From<&ConfirmInputs> for ConfirmRequest {
    /// The request an asynchronous confirmation's task recorded.
    fn from(inputs: &ConfirmInputs) -> Self {
        Self {
            etag: inputs.etag.clone(),
            file_size_bytes: inputs.file_size_bytes,
            auto_submit_batch: inputs.auto_submit_batch,
            parts: Vec::new(),
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
                auto_submit_batch: true,
                parts: Vec::new(),
            }
        );
    }

    #[test]
    fn reads_the_parts_of_a_multipart_upload() {
        let r = ConfirmRequest::parse(Some(&json!({"parts": [{"part_number": 2, "etag": "\"x\""}]}))).unwrap();
        assert_eq!(
            r.parts,
            vec![PartEtag {
                part_number: 2,
                etag: "\"x\"".into()
            }]
        );
    }

    #[test]
    fn rejects_bad_shapes() {
        for body in [
            json!({"file_size_bytes": 0}),
            json!({"etag": 5}),
            json!({"auto_submit_batch": "yes"}),
            json!({"etag": "abc", "async": true}),
            json!({"parts": [{"part_number": 0, "etag": "a"}]}),
            json!({"parts": [{"part_number": 1}]}),
            json!({"parts": [{"part_number": 1, "etag": "a", "size": 3}]}),
            json!({"parts": {"part_number": 1, "etag": "a"}}),
            json!([]),
        ] {
            assert!(ConfirmRequest::parse(Some(&body)).is_err(), "{body}");
        }
    }
}
