//! S3 multipart uploads: created at an upload's staging key, parts PUT through presigned
//! URLs (each signing its exact `Content-Length`, and its SHA-256 when the client gave one),
//! listed for resuming, completed by confirmation, aborted by delete and expiry.

use super::{ObjectStore, base64_of_hex, unquote};
use crate::aws::sdk_failure;
use crate::errors::Failure;
use crate::model::{PartUrl, Upload, UploadedPart};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::collections::BTreeMap;
use std::time::Duration;

/// What completing a multipart upload came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Completed {
    /// The object exists, with this ETag (`…-N`).
    Done { etag: String },
    /// S3 does not know the upload: completed (by a concurrent confirmation) or aborted.
    NoSuchUpload,
    /// S3 refused the parts named (a wrong ETag, a part missing or too small): why.
    Refused(String),
    /// `If-None-Match: *` and the object exists already.
    PreconditionFailed,
}

/// What a part URL is asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartRequest<'a> {
    pub part_number: u32,
    pub size_bytes: u64,
    /// Lowercase SHA-256 hex of the part, when the client gave it: S3 then refuses other bytes.
    pub sha256_hex: Option<&'a str>,
}

impl ObjectStore {
    /// Starts a multipart upload at `key`; returns S3's upload id.
    pub async fn create_multipart(&self, key: &str, content_type: &str) -> Result<String, Failure> {
        let output = self
            .s3()
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|err| sdk_failure("create multipart upload", err))?;
        output
            .upload_id()
            .map(str::to_owned)
            .ok_or_else(|| Failure::bug("S3 created a multipart upload without an id"))
    }

    /// A URL that PUTs one part, valid for `expires_in`, with the headers its signature
    /// covers: `Content-Length` always (S3 refuses any other length), and
    /// `x-amz-checksum-sha256` when the part's digest is known.
    pub async fn presign_part(
        &self,
        key: &str,
        s3_upload_id: &str,
        part: PartRequest<'_>,
        expires_in: Duration,
    ) -> Result<PartUrl, Failure> {
        let mut headers = BTreeMap::from([("Content-Length".to_owned(), part.size_bytes.to_string())]);
        if let Some(hex_digest) = part.sha256_hex {
            headers.insert("x-amz-checksum-sha256".to_owned(), base64_of_hex(hex_digest)?);
        }
        let lowercase: Vec<(String, &str)> = headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.as_str()))
            .collect();
        let signed: Vec<(&str, &str)> = lowercase.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        let number = part.part_number.to_string();
        let query = [("partNumber", number.as_str()), ("uploadId", s3_upload_id)];
        let presigned = self
            .presigner
            .url_with_query("PUT", key, &query, &signed, expires_in)
            .await?;
        Ok(PartUrl {
            part_number: part.part_number,
            size_bytes: part.size_bytes,
            url: presigned.url,
            headers,
        })
    }

    /// The parts S3 holds of the upload, by part number; `None` when S3 does not know the
    /// upload (completed or aborted).
    pub async fn list_parts(&self, key: &str, s3_upload_id: &str) -> Result<Option<Vec<UploadedPart>>, Failure> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let result = self
                .s3()
                .list_parts()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(s3_upload_id)
                .set_part_number_marker(marker.take())
                .send()
                .await;
            let output = match result {
                Ok(output) => output,
                Err(err) if err.as_service_error().and_then(|e| e.code()) == Some("NoSuchUpload") => return Ok(None),
                Err(err) => return Err(sdk_failure("list parts", err)),
            };
            for part in output.parts() {
                let (Some(number), Some(size), Some(etag)) = (part.part_number(), part.size(), part.e_tag()) else {
                    return Err(Failure::bug("S3 listed a part without its number, size or ETag"));
                };
                parts.push(UploadedPart {
                    part_number: u32::try_from(number).map_err(|_| Failure::bug("a negative part number"))?,
                    size_bytes: u64::try_from(size).map_err(|_| Failure::bug("a negative part size"))?,
                    etag: unquote(etag).to_owned(),
                });
            }
            match output
                .next_part_number_marker()
                .filter(|_| output.is_truncated() == Some(true))
            {
                Some(next) => marker = Some(next.to_owned()),
                None => break,
            }
        }
        parts.sort_by_key(|p| p.part_number);
        Ok(Some(parts))
    }

    /// Completes the upload from `parts` (ascending), only if `key` does not exist yet when
    /// `if_absent`.
    pub async fn complete_multipart(
        &self,
        key: &str,
        s3_upload_id: &str,
        parts: &[UploadedPart],
        if_absent: bool,
    ) -> Result<Completed, Failure> {
        let completed: Vec<CompletedPart> = parts
            .iter()
            .map(|p| {
                CompletedPart::builder()
                    .part_number(i32::try_from(p.part_number).unwrap_or(i32::MAX))
                    .e_tag(format!("\"{}\"", unquote(&p.etag)))
                    .build()
            })
            .collect();
        let mut request = self
            .s3()
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(s3_upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build());
        if if_absent {
            request = request.if_none_match("*");
        }
        // S3 may take minutes to join thousands of parts.
        match request.customize().config_override(self.long_call()).send().await {
            Ok(output) => Ok(Completed::Done {
                etag: output.e_tag().map(unquote).unwrap_or_default().to_owned(),
            }),
            Err(err) => match err.as_service_error().and_then(|e| e.code()) {
                Some("NoSuchUpload") => Ok(Completed::NoSuchUpload),
                Some("PreconditionFailed" | "ConditionalRequestConflict") => Ok(Completed::PreconditionFailed),
                Some("InvalidPart" | "InvalidPartOrder" | "EntityTooSmall") => Ok(Completed::Refused(
                    err.as_service_error()
                        .and_then(|e| e.message())
                        .unwrap_or("S3 refused the parts")
                        .to_owned(),
                )),
                _ => Err(sdk_failure("complete multipart upload", err)),
            },
        }
    }

    /// Aborts the upload, removing its parts; an upload S3 no longer knows is fine.
    pub async fn abort_multipart(&self, key: &str, s3_upload_id: &str) -> Result<(), Failure> {
        let result = self
            .s3()
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(s3_upload_id)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().and_then(|e| e.code()) == Some("NoSuchUpload") => Ok(()),
            Err(err) => Err(sdk_failure("abort multipart upload", err)),
        }
    }

    /// Everything an upload that will never complete may have left: its staged and final
    /// objects and, for a multipart upload, its parts (its multipart upload is aborted).
    pub async fn remove_upload(&self, upload: &Upload) -> Result<(), Failure> {
        let staging_key = upload.staging_key();
        let abort = self.abort_parts(upload);
        let keys = [staging_key.as_str(), upload.final_key()];
        let (deleted, aborted) = tokio::join!(self.delete_all(&keys), abort);
        deleted.and(aborted)
    }

    /// Aborts the upload's multipart upload, if it has one.
    pub async fn abort_parts(&self, upload: &Upload) -> Result<(), Failure> {
        match &upload.multipart {
            Some(multipart) => {
                self.abort_multipart(&upload.staging_key(), &multipart.s3_upload_id)
                    .await
            }
            None => Ok(()),
        }
    }
}
