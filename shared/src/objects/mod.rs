//! The S3 adapter: presigned URLs, the server-side copy that moves verified bytes out of
//! reach of upload URLs, and deletes.
//!
//! Upload URLs write a staging key (`incoming/…`, which the bucket's lifecycle rule expires);
//! confirmation copies the object to its final key, which no URL can write, with
//! `If-None-Match: *` (the first copy wins, later ones change nothing) and
//! `x-amz-copy-source-if-match` (the bytes copied are the bytes whose ETag and size were
//! checked), and S3 computes the copy's SHA-256 on the way. URLs are signed locally
//! ([`presign`]).

mod addressing;
mod large;
mod multipart;
mod presign;
pub mod signing_identity;

pub use large::{Hashed, LargeCopy, PartCopy, RunBudget};
pub use multipart::{Completed, PartRequest};
pub use presign::Presigned;
use presign::{Presigner, encode_key};
pub use signing_identity::SigningIdentity;

use crate::aws::{LazyClient, sdk_failure};
use crate::calls::CallCounter;
use crate::errors::Failure;
use crate::time::Timestamp;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::SdkConfig;
use base64::Engine;
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How long a fresh download URL stays valid.
pub const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug)]
pub struct ObjectStore {
    client: LazyClient<aws_sdk_s3::Client>,
    presigner: Presigner,
    force_path_style: bool,
    bucket: String,
    copy_timeout: Duration,
    /// Set by [`ObjectStore::reading_objects`] alone.
    reader: Option<Reader>,
    limits: SizeLimits,
}

/// The sizes that decide how large objects are handled. S3's own unless a test lowers them
/// (so that a test object of a few MiB takes the paths of terabytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeLimits {
    /// `UPLOADS_MIN_PART_SIZE_BYTES`: the smallest part (but the last) the S3 server takes.
    pub min_part_size_bytes: u64,
    /// `UPLOADS_SINGLE_COPY_MAX_BYTES`: the largest object one CopyObject copies; larger
    /// ones are copied in parts by the worker.
    pub single_copy_max_bytes: u64,
    /// `UPLOADS_WORKER_BYTES_PER_RUN`: how much one worker run reads or copies at most
    /// (unset: as much as its time allows).
    pub worker_bytes_per_run: Option<u64>,
}

impl SizeLimits {
    pub const S3: SizeLimits = SizeLimits {
        min_part_size_bytes: crate::model::multipart::MIN_PART_SIZE_BYTES,
        single_copy_max_bytes: crate::model::multipart::MAX_SINGLE_PUT_BYTES,
        worker_bytes_per_run: None,
    };
}

/// Reads an object whole and hashes it (`None`: no object).
type ReadSha256 = for<'a> fn(&'a ObjectStore, &'a str) -> BoxFuture<'a, Result<Option<String>, Failure>>;

/// What only the worker does with objects: read them whole, hash them across runs, copy them
/// in parts. Reached through function pointers that only [`ObjectStore::reading_objects`]
/// sets, so the API functions' binaries link none of it (GetObject's checksum validation,
/// the resumable hasher, UploadPartCopy: over a megabyte, issue 13).
#[derive(Clone, Copy)]
struct Reader {
    sha256: ReadSha256,
    sha256_resumable: large::HashRun,
    copy_in_parts: large::CopyRun,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reader")
    }
}

/// How long a copy may take by default: within an API function's 29 s.
pub const DEFAULT_COPY_TIMEOUT: Duration = Duration::from_secs(25);

/// What HeadObject tells about a stored object.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectInfo {
    /// Without the surrounding quotes.
    pub etag: String,
    pub size: u64,
    /// The whole-object SHA-256 S3 verified or computed, when it keeps one.
    pub sha256_hex: Option<String>,
}

/// What a PUT through an upload URL must carry: the headers the signature covers.
#[derive(Debug, Clone, PartialEq)]
pub struct PutRequirements<'a> {
    pub content_type: &'a str,
    /// Signed when known, so S3 refuses any other length.
    pub content_length: Option<u64>,
    /// Lowercase SHA-256 hex of the bytes, signed only when the client asked S3 to enforce
    /// it (`checksum_required`): S3 then refuses any other bytes.
    pub sha256_hex: Option<&'a str>,
}

/// The result of copying a staged object to its final key.
#[derive(Debug, Clone, PartialEq)]
pub enum Copy {
    /// Copied; S3's SHA-256 of the copy, when it reported one.
    Copied { sha256_hex: Option<String> },
    /// The final key already exists, or the source's ETag changed since it was checked.
    PreconditionFailed,
    /// The source is gone.
    SourceMissing,
}

impl ObjectStore {
    /// The bucket's objects, through a client built from `sdk` on first use
    /// (`force_path_style` for S3-compatible servers that want it, like the local one).
    pub fn new(sdk: &SdkConfig, force_path_style: bool, calls: &CallCounter, bucket: impl Into<String>) -> Self {
        let bucket = bucket.into();
        Self {
            client: LazyClient::new(sdk, calls),
            presigner: Presigner::new(sdk, force_path_style, &bucket),
            force_path_style,
            bucket,
            copy_timeout: DEFAULT_COPY_TIMEOUT,
            reader: None,
            limits: SizeLimits::S3,
        }
    }

    /// Large objects handled within `limits` instead of S3's own.
    pub fn with_limits(mut self, limits: SizeLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn limits(&self) -> SizeLimits {
        self.limits
    }

    /// The smallest part (but the last) of a multipart upload.
    pub fn min_part_size(&self) -> u64 {
        self.limits.min_part_size_bytes
    }

    /// Objects may be read whole ([`ObjectStore::sha256_hex`]). Only the worker reads: S3
    /// computes the SHA-256 of every copy, so a request never needs an object's bytes, and
    /// GetObject would bring its response-checksum validation into the binary (0.8 MB of
    /// code and CRC tables, issue 13).
    pub fn reading_objects(mut self) -> Self {
        self.reader = Some(Reader {
            sha256: |store, key| Box::pin(store.read_sha256_hex(key)),
            sha256_resumable: |store, key, size, from, budget| Box::pin(store.hash_resumably(key, size, from, budget)),
            copy_in_parts: |store, copy, resume, budget| Box::pin(store.copy_parts(copy, resume, budget)),
        });
        self
    }

    /// Whether [`ObjectStore::sha256_hex`] can read objects here.
    pub fn reads_objects(&self) -> bool {
        self.reader.is_some()
    }

    /// URLs are signed by `identity` (the signing user's key) instead of the function's role.
    pub fn signing_with(mut self, identity: SigningIdentity) -> Self {
        self.presigner = self
            .presigner
            .with_credentials(aws_credential_types::provider::SharedCredentialsProvider::new(identity));
        self
    }

    /// URLs wait for [`ObjectStore::signing_with`]: the identity is configured, and nothing
    /// may sign with the function's own credentials meanwhile.
    pub fn awaiting_signing_identity(mut self) -> Self {
        self.presigner = self.presigner.awaiting_identity();
        self
    }

    /// Copies may take `limit` (the worker copies objects of up to 5 GB); other calls keep
    /// the function's SDK timeouts.
    pub fn with_copy_timeout(mut self, limit: Duration) -> Self {
        self.copy_timeout = limit;
        self
    }

    /// The timeouts of a call that moves an object's bytes inside S3 (a copy, joining
    /// parts): the copy timeout instead of the function's SDK timeouts.
    fn long_call(&self) -> aws_sdk_s3::config::Builder {
        aws_sdk_s3::config::Builder::default()
            .timeout_config(crate::aws::timeouts(self.copy_timeout, self.copy_timeout))
    }

    fn s3(&self) -> &aws_sdk_s3::Client {
        self.client.get(|sdk, calls| {
            let config = aws_sdk_s3::config::Builder::from(sdk)
                .force_path_style(self.force_path_style)
                .interceptor(calls.clone())
                .build();
            aws_sdk_s3::Client::from_conf(config)
        })
    }

    /// The S3 bucket: uploads' bytes, and the one whose events auto-confirm them.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The SDK client, for tests that look at objects directly.
    #[cfg(feature = "test-support")]
    pub fn client(&self) -> &aws_sdk_s3::Client {
        self.s3()
    }

    /// A PUT URL whose signature covers the host, Content-Type and, when known,
    /// Content-Length (and, when asked, `x-amz-checksum-sha256`): exactly what
    /// `curl -X PUT -H "Content-Type: …" --upload-file F` sends.
    pub async fn presign_put(
        &self,
        key: &str,
        needs: &PutRequirements<'_>,
        expires_in: Duration,
    ) -> Result<Presigned, Failure> {
        let length = needs.content_length.map(|n| n.to_string());
        let checksum = needs.sha256_hex.map(base64_of_hex).transpose()?;
        let mut headers = vec![("content-type", needs.content_type)];
        if let Some(length) = &length {
            headers.push(("content-length", length));
        }
        if let Some(checksum) = &checksum {
            headers.push(("x-amz-checksum-sha256", checksum));
        }
        self.presigner.url("PUT", key, &headers, expires_in).await
    }

    /// A GET URL valid for `DOWNLOAD_URL_TTL`, or until the signing credentials expire when
    /// that is sooner (signed locally: no call to S3).
    pub async fn presign_get(&self, key: &str) -> Result<String, Failure> {
        self.presign_get_for(key, DOWNLOAD_URL_TTL).await
    }

    /// A GET URL valid for `expires_in` (or until the signing credentials expire).
    pub async fn presign_get_for(&self, key: &str, expires_in: Duration) -> Result<String, Failure> {
        Ok(self.presigner.url("GET", key, &[], expires_in).await?.url)
    }

    /// When the credentials that sign URLs expire, ending every URL they signed (`None`:
    /// keys that do not expire).
    pub async fn url_deadline(&self) -> Result<Option<Timestamp>, Failure> {
        let Some(deadline) = self.presigner.deadline().await? else {
            return Ok(None);
        };
        let millis = deadline
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| Failure::bug("credentials that expired before 1970"))?
            .as_millis();
        Ok(Some(Timestamp::from_epoch_millis(
            u64::try_from(millis).unwrap_or(u64::MAX),
        )))
    }

    pub async fn exists(&self, key: &str) -> Result<bool, Failure> {
        Ok(self.head(key).await?.is_some())
    }

    /// The object's ETag, size and, when S3 keeps one, its SHA-256.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, Failure> {
        let request = self
            .s3()
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

    /// Copies `from` to `to` unless `to` exists, and only while `from` still has `etag`,
    /// asking S3 for the copy's SHA-256. Objects up to 5 GB copy in one request.
    pub async fn copy_once(&self, from: &str, to: &str, etag: &str) -> Result<Copy, Failure> {
        let source = format!("{}/{}", self.bucket, encode_key(from));
        let result = self
            .s3()
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(source)
            .copy_source_if_match(format!("\"{etag}\""))
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .customize()
            .config_override(self.long_call())
            // S3's conditional copy; this SDK version does not model the header for
            // CopyObject, so it is set before signing (which makes it a signed header).
            .mutate_request(|req| {
                req.headers_mut()
                    .insert("if-none-match", http::HeaderValue::from_static("*"));
            })
            .send()
            .await;
        match result {
            Ok(output) => Ok(Copy::Copied {
                sha256_hex: output
                    .copy_object_result()
                    .and_then(|r| r.checksum_sha256())
                    .and_then(hex_of_base64),
            }),
            Err(err) => match err.as_service_error().and_then(|e| e.code()) {
                // 409 ConditionalRequestConflict: another conditional write was under way.
                Some("PreconditionFailed" | "ConditionalRequestConflict") => Ok(Copy::PreconditionFailed),
                Some("NoSuchKey") => Ok(Copy::SourceMissing),
                _ => Err(sdk_failure("copy object", err)),
            },
        }
    }

    /// SHA-256 hex of the object's bytes (`None` when the object is gone), where this store
    /// reads objects ([`ObjectStore::reading_objects`]). Only needed when S3 did not report
    /// a copy's checksum.
    pub async fn sha256_hex(&self, key: &str) -> Result<Option<String>, Failure> {
        match self.reader {
            Some(reader) => (reader.sha256)(self, key).await,
            None => Err(Failure::bug("this function does not read objects")),
        }
    }

    /// Streamed chunk by chunk, so memory stays bounded whatever the object's size.
    async fn read_sha256_hex(&self, key: &str) -> Result<Option<String>, Failure> {
        let output = match self.s3().get_object().bucket(&self.bucket).key(key).send().await {
            Ok(output) => output,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            Err(err) => return Err(sdk_failure("get object", err)),
        };
        let mut body = output.body;
        let mut hasher = Sha256::new();
        while let Some(chunk) = body.try_next().await.map_err(|err| {
            tracing::error!(error = %err, "reading object body failed");
            Failure::Unavailable
        })? {
            hasher.update(&chunk);
        }
        Ok(Some(hex::encode(hasher.finalize())))
    }

    /// Deletes the object; deleting a missing object succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), Failure> {
        self.s3()
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| sdk_failure("delete object", err))
    }

    /// Deletes every one of `keys`, all at once.
    pub async fn delete_all(&self, keys: &[&str]) -> Result<(), Failure> {
        futures::future::try_join_all(keys.iter().map(|key| self.delete(key)))
            .await
            .map(|_| ())
    }
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

fn base64_of_hex(hex_digest: &str) -> Result<String, Failure> {
    let bytes = hex::decode(hex_digest).map_err(|_| Failure::bug("a declared hash that is not hex"))?;
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
