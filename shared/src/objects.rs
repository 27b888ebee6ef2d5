//! The S3 adapter: presigned URLs and object checks.

use crate::aws::{invalid_request, sdk_failure};
use crate::error::ApiError;
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_sdk_s3::types::{ChecksumMode, Tag, Tagging};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How long a fresh download URL stays valid.
pub const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(3600);

/// The object tag that tells whether an object's upload was confirmed. Every presigned PUT
/// stores its object tagged `upload-state=unconfirmed`; confirmation retags it
/// `confirmed` before recording it. The bucket's lifecycle rule (`template.yaml`) expires
/// objects still unconfirmed, which only happens to uploads that never completed.
pub const STATE_TAG: &str = "upload-state";
pub const UNCONFIRMED: &str = "unconfirmed";
pub const CONFIRMED: &str = "confirmed";

/// The `x-amz-tagging` header every presigned PUT signs (and so must carry).
pub fn unconfirmed_tagging() -> String {
    format!("{STATE_TAG}={UNCONFIRMED}")
}

#[derive(Clone, Debug)]
pub struct ObjectStore {
    client: aws_sdk_s3::Client,
    bucket: String,
}

/// What HeadObject tells about a stored object.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectInfo {
    /// Without the surrounding quotes.
    pub etag: String,
    pub size: u64,
    pub sha256_hex: Option<String>,
}

/// What a PUT must carry to pass the signature: exactly these headers.
#[derive(Debug, Clone, PartialEq)]
pub struct PutRequirements<'a> {
    pub content_type: &'a str,
    pub content_length: u64,
    /// Lowercase SHA-256 hex of the bytes; S3 then refuses any other bytes.
    pub sha256_hex: Option<&'a str>,
}

impl ObjectStore {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// A PUT URL whose signature covers Content-Type, Content-Length, the unconfirmed
    /// state tag and `If-None-Match: *` (and, with a hash, `x-amz-checksum-sha256`), so S3
    /// refuses any other type, size or bytes, every object starts out unconfirmed, and once
    /// an object is stored no second PUT can replace the bytes a confirmation verified.
    pub async fn presign_put(
        &self,
        key: &str,
        needs: &PutRequirements<'_>,
        expires_in: Duration,
    ) -> Result<String, ApiError> {
        let length = i64::try_from(needs.content_length).map_err(|_| ApiError::Internal)?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(needs.content_type)
            .content_length(length)
            .tagging(unconfirmed_tagging())
            .if_none_match("*");
        let presigned = match needs.sha256_hex {
            // The presigner drops `checksum_sha256` (aws-sdk-rust#1103), so the header is
            // added to the request just before signing, which makes it a signed header.
            Some(hex_digest) => {
                let checksum = base64_of_hex(hex_digest)?;
                let value = http::HeaderValue::from_str(&checksum).map_err(|_| ApiError::Internal)?;
                request
                    .customize()
                    .mutate_request(move |req| {
                        req.headers_mut().insert("x-amz-checksum-sha256", value.clone());
                    })
                    .presigned(presigning(expires_in)?)
                    .await
            }
            None => request.presigned(presigning(expires_in)?).await,
        };
        presigned.map(url_of).map_err(|err| sdk_failure("presign put", err))
    }

    /// A GET URL valid for `DOWNLOAD_URL_TTL`.
    pub async fn presign_get(&self, key: &str) -> Result<String, ApiError> {
        self.client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning(DOWNLOAD_URL_TTL)?)
            .await
            .map(url_of)
            .map_err(|err| sdk_failure("presign get", err))
    }

    pub async fn exists(&self, key: &str) -> Result<bool, ApiError> {
        Ok(self.head(key).await?.is_some())
    }

    /// The object's ETag, size and, when its upload signed one, its S3-verified SHA-256.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, ApiError> {
        let request = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled);
        let output = match request.send().await {
            Ok(output) => output,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => return Ok(None),
            Err(err) => return Err(sdk_failure("head object", err)),
        };
        let sha256_hex = output.checksum_sha256().and_then(hex_of_base64);
        Ok(Some(ObjectInfo {
            etag: output.e_tag().map(unquote).unwrap_or_default().to_owned(),
            size: output
                .content_length()
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or_default(),
            sha256_hex,
        }))
    }

    /// SHA-256 hex of the object's bytes, streamed chunk by chunk so memory stays bounded
    /// whatever the object's size. `None` when the object is gone.
    pub async fn sha256_hex(&self, key: &str) -> Result<Option<String>, ApiError> {
        let output = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(output) => output,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            Err(err) => return Err(sdk_failure("get object", err)),
        };
        let mut body = output.body;
        let mut hasher = Sha256::new();
        while let Some(chunk) = body.try_next().await.map_err(|err| {
            tracing::error!(error = %err, "reading object body failed");
            ApiError::Unavailable
        })? {
            hasher.update(&chunk);
        }
        Ok(Some(hex::encode(hasher.finalize())))
    }

    /// Retags the object `confirmed`, so the lifecycle rule for unconfirmed objects no
    /// longer applies to it.
    pub async fn mark_confirmed(&self, key: &str) -> Result<(), ApiError> {
        let tag = Tag::builder()
            .key(STATE_TAG)
            .value(CONFIRMED)
            .build()
            .map_err(invalid_request("tag"))?;
        let tagging = Tagging::builder()
            .tag_set(tag)
            .build()
            .map_err(invalid_request("tagging"))?;
        self.client
            .put_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .tagging(tagging)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| sdk_failure("put object tagging", err))
    }

    pub async fn delete(&self, key: &str) -> Result<(), ApiError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| sdk_failure("delete object", err))
    }
}

fn presigning(expires_in: Duration) -> Result<PresigningConfig, ApiError> {
    PresigningConfig::expires_in(expires_in).map_err(invalid_request("presigning expiry"))
}

fn url_of(request: PresignedRequest) -> String {
    request.uri().to_owned()
}

/// `"abc"` → `abc`: S3 quotes ETags.
pub fn unquote(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

/// A whole-object SHA-256 checksum as hex; `None` for composite (multipart) checksums.
fn hex_of_base64(checksum: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(checksum).ok()?;
    (bytes.len() == 32).then(|| hex::encode(bytes))
}

fn base64_of_hex(hex_digest: &str) -> Result<String, ApiError> {
    let bytes = hex::decode(hex_digest).map_err(|_| ApiError::Internal)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_header_is_base64_of_the_digest() {
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            base64_of_hex(empty).unwrap(),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }
}
