//! The Create Upload request: parsing, validation and defaults.

use crate::errors::{Invalid, Loc};
use crate::ids::UploadId;
use crate::model::multipart::{MAX_PART_SIZE_BYTES, MAX_SINGLE_PUT_BYTES};
use crate::model::{BlobType, Bucket, JsonMap, STAGING_PREFIX, Upload, UploadStatus};
use crate::time::Timestamp;
use crate::validate::FieldReader;
use serde_json::Value;

pub const DEFAULT_EXPIRATION_SECS: u64 = 3600;
pub const MIN_EXPIRATION_SECS: u64 = 60;
pub const MAX_EXPIRATION_SECS: u64 = 86_400;
const MAX_FILENAME_BYTES: usize = 255;
const MAX_CONTENT_TYPE_BYTES: usize = 255;
/// Keeps an upload item far below DynamoDB's 400 KB item limit.
const MAX_METADATA_BYTES: usize = 16 * 1024;
/// DynamoDB nests maps at most 32 deep; metadata gets half of that.
const MAX_METADATA_DEPTH: usize = 16;

/// The body keys Create Upload accepts: the SDK's `CreateUploadRequest`, and our
/// `checksum_required`, `multipart`, `part_size_bytes` and `auto_confirm` extensions.
pub const ACCEPTED_KEYS: &[&str] = &[
    "filename",
    "content_type",
    "file_size_bytes",
    "presigned_url_expiration",
    "metadata",
    "create_object_on_confirm",
    "object_metadata",
    "blob_property",
    "blob_type",
    "file_hash",
    "skip_duplicates",
    "checksum_required",
    "multipart",
    "part_size_bytes",
    "auto_confirm",
];

/// A validated Create Upload request with every default applied.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUpload {
    pub filename: String,
    pub content_type: String,
    /// Optional: without it the URL does not sign a length, and confirmation enforces the
    /// bucket's maximum instead.
    pub file_size_bytes: Option<u64>,
    pub presigned_url_expiration: u32,
    pub metadata: JsonMap,
    pub object_metadata: JsonMap,
    pub blob_property: String,
    pub blob_type: BlobType,
    pub create_object_on_confirm: bool,
    pub skip_duplicates: bool,
    /// Lowercase SHA-256 hex, when the client declared one: verified at confirmation.
    pub file_hash: Option<String>,
    /// Our extension: the upload URL signs `x-amz-checksum-sha256`, so S3 itself refuses
    /// other bytes (needs `file_hash`).
    pub checksum_required: bool,
    /// Our extension: the file goes up in parts (`Some`), of the size asked for, if any.
    pub multipart: Option<MultipartAsk>,
    /// Our extension: `false` keeps the upload waiting for an explicit confirmation when
    /// S3 reports its bytes stored.
    pub auto_confirm: bool,
}

/// A multipart upload as asked for; the part size is settled at creation, against the
/// S3 server's smallest part (`ObjectStore::min_part_size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultipartAsk {
    pub part_size_bytes: Option<u64>,
}

impl NewUpload {
    /// Validates `body` (located at `["body"]`) for a bucket accepting files up to
    /// `max_file_size_bytes`, reporting every problem at once.
    pub fn parse(body: Option<&Value>, max_file_size_bytes: u64) -> Result<Self, Invalid> {
        Self::parse_at(body, vec![Loc::from("body")], max_file_size_bytes)
    }

    /// `parse`, for a request located at `loc` (an item of a batch: `["body", "uploads", 7]`).
    pub fn parse_at(body: Option<&Value>, loc: Vec<Loc>, max_file_size_bytes: u64) -> Result<Self, Invalid> {
        let missing = || Invalid::at(loc.clone(), "missing", "Field required");
        let body = body.ok_or_else(missing)?;
        let mut r = FieldReader::object(body, loc.clone())?;
        r.forbid_unknown(ACCEPTED_KEYS);

        let filename = r
            .required_str("filename")
            .and_then(|name| check(&mut r, "filename", filename_problem(name), name));
        let content_type = r.required_str("content_type").and_then(|ct| match mime_of(ct) {
            Ok(mime) => Some((ct, mime)),
            Err(problem) => {
                r.error("content_type", "value_error", problem);
                None
            }
        });
        let file_size_bytes = r
            .optional_u64("file_size_bytes")
            .and_then(|n| r.in_range("file_size_bytes", n, 1, max_file_size_bytes));
        let expiration = match r.optional_u64("presigned_url_expiration") {
            Some(secs) => r.in_range(
                "presigned_url_expiration",
                secs,
                MIN_EXPIRATION_SECS,
                MAX_EXPIRATION_SECS,
            ),
            None => Some(DEFAULT_EXPIRATION_SECS),
        };
        let metadata = json_map(&mut r, "metadata");
        let object_metadata = json_map(&mut r, "object_metadata");
        let blob_property = r
            .optional_str("blob_property")
            .and_then(|p| check(&mut r, "blob_property", text_problem(p, MAX_FILENAME_BYTES), p));
        let blob_type = r.optional_str("blob_type").and_then(|t| {
            let known = BlobType::parse(t);
            if known.is_none() {
                let names: Vec<&str> = BlobType::ALL.iter().map(|b| b.as_str()).collect();
                r.error(
                    "blob_type",
                    "enum",
                    format!("Input should be one of {}", names.join(", ")),
                );
            }
            known
        });
        let create_object_on_confirm = r.optional_bool("create_object_on_confirm").unwrap_or(true);
        let skip_duplicates = r.optional_bool("skip_duplicates").unwrap_or(true);
        let file_hash = r.optional_str("file_hash").and_then(|h| {
            let valid = h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit());
            if !valid {
                r.error(
                    "file_hash",
                    "string_pattern_mismatch",
                    "file_hash must be a SHA-256 digest: 64 hexadecimal characters",
                );
            }
            valid.then(|| h.to_ascii_lowercase())
        });
        let checksum_required = r.optional_bool("checksum_required").unwrap_or(false);
        if checksum_required && file_hash.is_none() && r.is_absent("file_hash") {
            r.error(
                "checksum_required",
                "value_error",
                "checksum_required needs file_hash: the SHA-256 S3 is to enforce",
            );
        }
        let multipart = r.optional_bool("multipart").unwrap_or(false);
        let auto_confirm = r.optional_bool("auto_confirm").unwrap_or(true);
        let part_size_bytes = r
            .optional_u64("part_size_bytes")
            .and_then(|n| r.in_range("part_size_bytes", n, 1, MAX_PART_SIZE_BYTES));
        if multipart && file_size_bytes.is_none() && r.is_absent("file_size_bytes") {
            r.error(
                "file_size_bytes",
                "missing",
                "A multipart upload needs file_size_bytes: it decides the parts",
            );
        }
        if !multipart && file_size_bytes.is_some_and(|n| n > MAX_SINGLE_PUT_BYTES) {
            r.error(
                "multipart",
                "value_error",
                format!("A file over {MAX_SINGLE_PUT_BYTES} bytes (S3's largest single PUT) needs \"multipart\": true"),
            );
        }
        if !multipart && part_size_bytes.is_some() {
            r.error(
                "part_size_bytes",
                "value_error",
                "part_size_bytes needs \"multipart\": true",
            );
        }
        if multipart && checksum_required {
            r.error(
                "checksum_required",
                "value_error",
                "A multipart upload's parts carry their own checksums: give each part's SHA-256 when asking for its URL",
            );
        }
        r.finish()?;

        // `finish` succeeded, so every required field parsed; the `ok_or` arms cannot be taken.
        let filename = filename.ok_or_else(missing)?.to_owned();
        let (content_type, mime) = content_type.ok_or_else(missing)?;
        let blob_property = blob_property
            .map(str::to_owned)
            .unwrap_or_else(|| stem(&filename).to_owned());
        Ok(NewUpload {
            blob_type: blob_type.unwrap_or_else(|| BlobType::for_mime(&mime)),
            filename,
            content_type: content_type.to_owned(),
            file_size_bytes,
            presigned_url_expiration: expiration.and_then(|e| u32::try_from(e).ok()).ok_or_else(missing)?,
            metadata: metadata.unwrap_or_default(),
            object_metadata: object_metadata.unwrap_or_default(),
            blob_property,
            create_object_on_confirm,
            skip_duplicates,
            file_hash,
            checksum_required,
            multipart: multipart.then_some(MultipartAsk { part_size_bytes }),
            auto_confirm,
        })
    }
}

impl NewUpload {
    /// The PENDING upload this request creates in `bucket`. Its keys are chosen here: the
    /// URL writes `incoming/{namespace_id}/{bucket_id}/{upload_id}/{filename}`, and
    /// confirmation copies the bytes to the same key without `incoming/`.
    pub fn into_pending(self, upload_id: UploadId, bucket: &Bucket, created_at: Timestamp) -> Upload {
        Upload {
            s3_key: format!(
                "{STAGING_PREFIX}{}/{}/{}/{}",
                bucket.namespace_id, bucket.bucket_id, upload_id, self.filename
            ),
            upload_id,
            bucket_id: bucket.bucket_id.clone(),
            filename: self.filename,
            content_type: self.content_type,
            presigned_url_expiration: self.presigned_url_expiration,
            status: UploadStatus::Pending,
            create_object_on_confirm: self.create_object_on_confirm,
            created_at,
            expires_at: created_at.plus_seconds(self.presigned_url_expiration.into()),
            file_size_bytes: self.file_size_bytes,
            presigned_url: None,
            metadata: self.metadata,
            object_metadata: self.object_metadata,
            blob_property: self.blob_property,
            blob_type: self.blob_type,
            file_hash: self.file_hash,
            skip_duplicates: self.skip_duplicates,
            is_duplicate: false,
            duplicate_of_upload_id: None,
            message: None,
            completed_at: None,
            verified_at: None,
            etag: None,
            object_id: None,
            task_id: None,
            tenant_id: None,
            multipart: None,
            auto_confirm: self.auto_confirm,
        }
    }
}

impl NewUpload {
    /// The upload this request makes when `original`, a COMPLETED upload of the bucket,
    /// already holds the declared bytes: completed at once as its duplicate, sharing its
    /// bytes and object, with nothing to upload.
    pub fn into_duplicate(self, upload_id: UploadId, bucket: &Bucket, now: Timestamp, original: &Upload) -> Upload {
        let message = format!(
            "File already exists with the same content hash: no upload needed. This upload is a duplicate of {}.",
            original.upload_id
        );
        Upload {
            status: UploadStatus::Completed,
            s3_key: original.final_key().to_owned(),
            file_size_bytes: original.file_size_bytes,
            is_duplicate: true,
            duplicate_of_upload_id: Some(original.upload_id.clone()),
            object_id: original.object_id.clone(),
            etag: original.etag.clone(),
            verified_at: original.verified_at,
            completed_at: Some(now),
            message: Some(message),
            ..self.into_pending(upload_id, bucket, now)
        }
    }
}

/// Records `problem` (if any) against `field`; passes the value through when it is fine.
fn check<'a>(r: &mut FieldReader<'_>, field: &str, problem: Option<String>, value: &'a str) -> Option<&'a str> {
    match problem {
        Some(msg) => {
            r.error(field, "value_error", msg);
            None
        }
        None => Some(value),
    }
}

fn text_problem(s: &str, max_bytes: usize) -> Option<String> {
    if s.is_empty() {
        Some("must not be empty".into())
    } else if s.len() > max_bytes {
        Some(format!("must be at most {max_bytes} bytes"))
    } else if s.chars().any(char::is_control) {
        Some("must not contain control characters".into())
    } else {
        None
    }
}

/// The filename becomes the last segment of the server-chosen S3 key, so it may not
/// carry path syntax of any kind.
fn filename_problem(name: &str) -> Option<String> {
    text_problem(name, MAX_FILENAME_BYTES).or_else(|| {
        if name.contains('/') || name.contains('\\') {
            Some("must not contain '/' or '\\'".into())
        } else if name.contains("..") {
            Some("must not contain '..'".into())
        } else if name.trim().is_empty() {
            Some("must not be blank".into())
        } else {
            None
        }
    })
}

/// The MIME type a `content_type` names, or what is wrong with it.
fn mime_of(ct: &str) -> Result<mime::Mime, String> {
    if let Some(problem) = text_problem(ct, MAX_CONTENT_TYPE_BYTES) {
        return Err(problem);
    }
    ct.parse()
        .map_err(|_| "must be a MIME type such as 'video/mp4'".to_owned())
}

fn json_map(r: &mut FieldReader<'_>, field: &str) -> Option<JsonMap> {
    let map = r.optional_object(field)?;
    let value = Value::Object(map.clone());
    let problem = if serde_json::to_vec(&value).map_or(usize::MAX, |v| v.len()) > MAX_METADATA_BYTES {
        Some(format!("must serialize to at most {MAX_METADATA_BYTES} bytes of JSON"))
    } else if depth(&value) > MAX_METADATA_DEPTH {
        Some(format!("must nest at most {MAX_METADATA_DEPTH} levels deep"))
    } else if has_empty_key(&value) {
        Some("keys must not be empty".into())
    } else if has_unstorable_number(&value) {
        Some("numbers must be 0 or of magnitude from 1e-130 to below 1e126 (what the table can store)".into())
    } else {
        None
    };
    match problem {
        Some(msg) => {
            r.error(field, "value_error", msg);
            None
        }
        None => Some(map.clone()),
    }
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn has_empty_key(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(k, v)| k.is_empty() || has_empty_key(v)),
        Value::Array(items) => items.iter().any(has_empty_key),
        _ => false,
    }
}

/// DynamoDB stores numbers of magnitude 1e-130 up to (not including) 1e126, and 0; any
/// other would fail the write after validation passed (found by schemathesis).
fn has_unstorable_number(value: &Value) -> bool {
    match value {
        Value::Number(n) => n
            .as_f64()
            .is_some_and(|x| x != 0.0 && !(1e-130..1e126).contains(&x.abs())),
        Value::Object(map) => map.values().any(has_unstorable_number),
        Value::Array(items) => items.iter().any(has_unstorable_number),
        _ => false,
    }
}

/// `report.final.pdf` → `report.final`; a name without an extension (or a dotfile) is kept.
fn stem(filename: &str) -> &str {
    match filename.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => filename,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GIB: u64 = 1024 * 1024 * 1024;

    #[test]
    fn metadata_numbers_must_fit_the_table() {
        let parse = |metadata: Value| {
            NewUpload::parse(
                Some(&json!({"filename": "a", "content_type": "text/plain", "metadata": metadata})),
                GIB,
            )
        };
        assert!(parse(json!({"n": 0, "x": 1.5, "big": 1e125, "small": -1e-130, "i": u64::MAX})).is_ok());
        for unstorable in [
            json!({"u": 8.99e-217}),
            json!({"o": [1e126]}),
            json!({"deep": {"o": -4.5e300}}),
        ] {
            let err = parse(unstorable.clone()).expect_err("refused");
            assert_eq!(
                err.0[0].loc,
                vec![Loc::from("body"), Loc::from("metadata")],
                "{unstorable}"
            );
        }
    }

    fn detail(body: Value) -> Vec<(String, String)> {
        match NewUpload::parse(Some(&body), 5 * GIB) {
            Ok(_) => vec![],
            Err(Invalid(errors)) => errors
                .iter()
                .map(|e| match &e.loc[1] {
                    Loc::Field(field) => (field.clone(), e.kind.clone()),
                    Loc::Index(i) => (i.to_string(), e.kind.clone()),
                })
                .collect(),
        }
    }

    #[test]
    fn applies_defaults() {
        let u = NewUpload::parse(
            Some(&json!({"filename": "clip.final.mp4", "content_type": "video/mp4", "file_size_bytes": 10})),
            GIB,
        )
        .unwrap();
        assert_eq!(u.blob_property, "clip.final");
        assert_eq!(u.blob_type, BlobType::Video);
        assert_eq!(u.presigned_url_expiration, 3600);
        assert!(u.create_object_on_confirm && u.skip_duplicates);
        assert_eq!(u.file_hash, None);
        assert_eq!(u.file_size_bytes, Some(10));
        assert!(!u.checksum_required);
        assert!(u.metadata.is_empty());
    }

    #[test]
    fn the_size_is_optional_and_checksum_required_needs_a_hash() {
        let u = NewUpload::parse(Some(&json!({"filename": "a", "content_type": "text/plain"})), GIB).unwrap();
        assert_eq!(u.file_size_bytes, None);
        assert_eq!(
            detail(json!({"filename": "a", "content_type": "text/plain", "checksum_required": true})),
            vec![("checksum_required".to_owned(), "value_error".to_owned())]
        );
        let hash = "ab".repeat(32);
        let u = NewUpload::parse(
            Some(&json!({"filename": "a", "content_type": "text/plain", "checksum_required": true, "file_hash": hash})),
            GIB,
        )
        .unwrap();
        assert!(u.checksum_required);
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert_eq!(
            detail(json!({"filename": "a", "content_type": "text/plain", "colour": "red"})),
            vec![("colour".to_owned(), "extra_forbidden".to_owned())]
        );
    }

    #[test]
    fn keeps_what_the_client_chose() {
        let hash = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        let u = NewUpload::parse(
            Some(&json!({
                "filename": "a.bin", "content_type": "application/octet-stream", "file_size_bytes": 1,
                "presigned_url_expiration": 60, "metadata": {"campaign": {"name": "summer"}}, "object_metadata": {"k": 1},
                "blob_property": "thumbnail", "blob_type": "image", "create_object_on_confirm": false,
                "skip_duplicates": false, "file_hash": hash
            })),
            GIB,
        )
        .unwrap();
        assert_eq!(u.presigned_url_expiration, 60);
        assert_eq!(u.blob_type, BlobType::Image);
        assert_eq!(u.blob_property, "thumbnail");
        assert_eq!(u.file_hash.as_deref(), Some(hash.to_ascii_lowercase().as_str()));
        assert!(!u.create_object_on_confirm && !u.skip_duplicates);
        assert_eq!(u.metadata["campaign"]["name"], "summer");
    }

    #[test]
    fn rejects_path_syntax_and_control_characters_in_filenames() {
        for bad in [
            "a/b.txt",
            "a\\b.txt",
            "..",
            "../etc/passwd",
            "x..y",
            "tab\there",
            "nul\0",
            "",
            "   ",
            &"x".repeat(256),
        ] {
            let d = detail(json!({"filename": bad, "content_type": "text/plain", "file_size_bytes": 1}));
            assert_eq!(d, vec![("filename".to_owned(), "value_error".to_owned())], "{bad:?}");
        }
        assert!(
            detail(
                json!({"filename": "résumé 2024 (final).pdf", "content_type": "application/pdf", "file_size_bytes": 1})
            )
            .is_empty()
        );
    }

    #[test]
    fn enforces_ranges() {
        let base = |size: Value, exp: Value| json!({"filename": "a", "content_type": "text/plain", "file_size_bytes": size, "presigned_url_expiration": exp});
        assert_eq!(
            detail(base(json!(0), json!(60))),
            vec![("file_size_bytes".into(), "greater_than_equal".into())]
        );
        assert_eq!(
            detail(base(json!(5 * GIB + 1), json!(60))),
            vec![("file_size_bytes".into(), "less_than_equal".into())]
        );
        assert!(detail(base(json!(5 * GIB), json!(86400))).is_empty());
        assert_eq!(
            detail(base(json!(1), json!(59))),
            vec![("presigned_url_expiration".into(), "greater_than_equal".into())]
        );
        assert_eq!(
            detail(base(json!(1), json!(86401))),
            vec![("presigned_url_expiration".into(), "less_than_equal".into())]
        );
        assert_eq!(
            detail(base(json!(1.5), json!(60))),
            vec![("file_size_bytes".into(), "int_type".into())]
        );
    }

    #[test]
    fn reports_every_bad_field_at_once() {
        let d =
            detail(json!({"content_type": "not a mime", "file_hash": "abc", "blob_type": "HOLOGRAM", "metadata": "x"}));
        let fields: Vec<&str> = d.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            ["filename", "content_type", "metadata", "blob_type", "file_hash"]
        );
    }

    #[test]
    fn rejects_a_missing_or_non_object_body() {
        let Err(Invalid(errors)) = NewUpload::parse(None, GIB) else {
            panic!()
        };
        assert_eq!(errors[0].kind, "missing");
        let Err(Invalid(errors)) = NewUpload::parse(Some(&json!("x")), GIB) else {
            panic!()
        };
        assert_eq!(errors[0].loc, vec![Loc::from("body")]);
    }

    #[test]
    fn bounds_metadata() {
        let deep = (0..20).fold(json!(1), |acc, _| json!({ "k": acc }));
        assert_eq!(
            detail(json!({"filename": "a", "content_type": "text/plain", "file_size_bytes": 1, "metadata": deep}))
                .len(),
            1
        );
        let big = json!({ "k": "x".repeat(MAX_METADATA_BYTES) });
        assert_eq!(
            detail(
                json!({"filename": "a", "content_type": "text/plain", "file_size_bytes": 1, "object_metadata": big})
            )
            .len(),
            1
        );
        assert_eq!(
            detail(json!({"filename": "a", "content_type": "text/plain", "file_size_bytes": 1, "metadata": {"": 1}}))
                .len(),
            1
        );
    }
}
