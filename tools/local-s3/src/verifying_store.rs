//! An s3s-fs store that behaves like S3 where the API relies on it, at the speed of the disk.
//!
//! - A PUT streams to a temporary file while its MD5 (the ETag) and SHA-256 are computed,
//!   and one whose bytes do not match its declared `x-amz-checksum-sha256` (or Content-MD5)
//!   is refused *before* it replaces anything (s3s-fs compares only after it moved the file
//!   into place, so a refused upload would still leave bytes behind, or replace a good
//!   object).
//! - CopyObject honours `If-None-Match: *` on the destination (S3's conditional copy, which
//!   s3s 0.14 does not model for CopyObject, so it is read from the request's headers) and
//!   `x-amz-copy-source-if-match`, and with `x-amz-checksum-algorithm: SHA256` computes the
//!   copy's SHA-256 while the kernel copies the file, returns it and keeps it, so HeadObject
//!   reports it as S3 does.
//! - GET streams in large chunks.
//!
//! Objects written here are laid out as s3s-fs lays them out (`object_files`), so s3s-fs
//! serves everything else (HEAD, list, delete) unchanged.
//!
//! Writes (PUT, copy, delete) are serialized, so a copy reads the bytes its conditions
//! checked, and reads (GET, HEAD) wait for the write under way: s3s-fs writes an object's
//! file and its metadata files one after the other, and a HEAD between the two answered
//! 500 where S3's reads are atomic. Only the operations the API and its tests use are
//! delegated; the rest answer `NotImplemented`.
//!
//! Multipart uploads are this server's own too (`multipart`): s3s-fs ties an upload to the
//! key pair that created it, while the API creates uploads with the functions' key and clients
//! upload the parts through URLs another key signed, and it neither verifies a part's
//! checksums nor lists parts with their ETags nor checks them on completion.

use crate::events::{Created, Notifier};
use crate::object_files::{Attributes, InternalInfo, Layout, TempFile, io_failure};
use crate::transfer;
use base64::Engine;
use bytes::Bytes;
use futures::TryStreamExt;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use tokio::sync::RwLock;

pub struct VerifyingStore {
    pub(crate) inner: s3s_fs::FileSystem,
    pub(crate) files: Layout,
    pub(crate) writes: RwLock<()>,
    /// The smallest part but the last that CompleteMultipartUpload accepts.
    pub(crate) min_part_size: u64,
    /// Where ObjectCreated events go.
    pub(crate) events: Notifier,
}

impl VerifyingStore {
    /// `root` is the directory `inner` serves.
    pub fn new(inner: s3s_fs::FileSystem, root: PathBuf, min_part_size: u64, events: Notifier) -> Self {
        Self {
            inner,
            files: Layout::new(root),
            writes: RwLock::new(()),
            min_part_size,
            events,
        }
    }

    /// Reports `key` of `bucket` created, as S3 does once the object is in place.
    fn created(&self, bucket: &str, key: &str, e_tag: Option<&ETag>, reason: &'static str) {
        let size = self
            .files
            .object(bucket, key)
            .ok()
            .and_then(|path| std::fs::metadata(path).ok())
            .map_or(0, |meta| meta.len());
        self.events.object_created(&Created {
            bucket,
            key,
            size,
            etag: e_tag.map_or("", |e| e.value()),
            reason,
        });
    }
}

fn sha256_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

async fn buffer(body: StreamingBlob) -> S3Result<Bytes> {
    let chunks: Vec<Bytes> = body
        .try_collect()
        .await
        .map_err(|e| s3_error!(IncompleteBody, "failed to read request body: {e}"))?;
    Ok(Bytes::from(chunks.concat()))
}

/// A request to the inner store shaped like `req` (credentials, headers) with another input.
pub(crate) fn sub_request<T: Clone, U>(req: &S3Request<T>, input: U) -> S3Request<U> {
    req.clone().map_input(|_| input)
}

/// Refuses bytes whose MD5 (hex) is not their declared Content-MD5 (base64).
pub(crate) fn check_content_md5(declared: Option<&str>, md5_hex: &str) -> S3Result<()> {
    let Some(declared) = declared else { return Ok(()) };
    let declared = base64::engine::general_purpose::STANDARD
        .decode(declared)
        .map_err(|_| s3_error!(InvalidDigest))?;
    if hex::encode(declared) != md5_hex {
        return Err(s3_error!(
            BadDigest,
            "The Content-MD5 you specified did not match what was received."
        ));
    }
    Ok(())
}

/// True when the request carries `If-None-Match: *`.
fn requires_absent_destination<T>(req: &S3Request<T>) -> bool {
    req.headers
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "*")
}

/// Implements `S3` with PUT and copy verified and the listed operations passed through.
/// (The impl is generated whole so that `async_trait` sees every method.)
macro_rules! verifying_s3_impl {
    ($($op:ident: $input:ty => $output:ty;)*) => {
        #[async_trait::async_trait]
        impl S3 for VerifyingStore {
            async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
                let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
                let response = self.verified_put(req).await?;
                self.created(&bucket, &key, response.output.e_tag.as_ref(), "PutObject");
                Ok(response)
            }

            async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
                let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
                let response = self.verified_copy(req).await?;
                let e_tag = response.output.copy_object_result.as_ref().and_then(|r| r.e_tag.as_ref());
                self.created(&bucket, &key, e_tag, "CopyObject");
                Ok(response)
            }

            async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
                let _writing = self.writes.write().await;
                self.inner.delete_object(req).await
            }

            async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
                // The body streams from the file opened here: a later write replaces the
                // file, not the bytes this read is given.
                let _reading = self.writes.read().await;
                self.streamed_get(req).await
            }

            async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
                let _reading = self.writes.read().await;
                self.inner.head_object(req).await
            }

            async fn create_multipart_upload(
                &self,
                req: S3Request<CreateMultipartUploadInput>,
            ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
                self.create_upload(req).await
            }

            async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
                self.receive_part(req).await
            }

            async fn upload_part_copy(
                &self,
                req: S3Request<UploadPartCopyInput>,
            ) -> S3Result<S3Response<UploadPartCopyOutput>> {
                self.copy_part(req).await
            }

            async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
                self.list_upload_parts(req).await
            }

            async fn complete_multipart_upload(
                &self,
                req: S3Request<CompleteMultipartUploadInput>,
            ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
                let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
                let response = self.complete_upload(req).await?;
                self.created(&bucket, &key, response.output.e_tag.as_ref(), "CompleteMultipartUpload");
                Ok(response)
            }

            async fn abort_multipart_upload(
                &self,
                req: S3Request<AbortMultipartUploadInput>,
            ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
                self.abort_upload(req).await
            }

            async fn list_multipart_uploads(
                &self,
                req: S3Request<ListMultipartUploadsInput>,
            ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
                self.list_uploads(req).await
            }

            $(
                async fn $op(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    self.inner.$op(req).await
                }
            )*
        }
    };
}

impl VerifyingStore {
    /// PUTs this server writes itself (streamed to a temporary file, hashed on the way,
    /// moved into place under the write lock); the rare rest (other checksum algorithms,
    /// trailers, `If-Match`, directory keys) go to s3s-fs, buffered and verified first.
    async fn verified_put(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let input = &req.input;
        let streamable = input.checksum_crc32.is_none()
            && input.checksum_crc32c.is_none()
            && input.checksum_sha1.is_none()
            && input.checksum_crc64nvme.is_none()
            && input
                .checksum_algorithm
                .as_ref()
                .is_none_or(|alg| alg.as_str() == ChecksumAlgorithm::SHA256)
            && req.trailing_headers.is_none()
            && input.if_match.is_none()
            && input.storage_class.is_none()
            && !input.key.ends_with('/');
        if streamable {
            self.streamed_put(req).await
        } else {
            self.buffered_put(req).await
        }
    }

    async fn streamed_put(&self, mut req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let input = &mut req.input;
        if !self.files.bucket_exists(&input.bucket) {
            return Err(s3_error!(NoSuchBucket));
        }
        let object = self.files.object(&input.bucket, &input.key)?;
        let body = input.body.take().ok_or_else(|| s3_error!(IncompleteBody))?;
        let temp = self.files.temp_file();
        let wants_sha256 = input.checksum_sha256.is_some() || input.checksum_algorithm.is_some();
        let received = transfer::receive(body, temp.path(), wants_sha256).await?;
        if let Some(declared) = &input.checksum_sha256
            && Some(declared) != received.sha256_base64.as_ref()
        {
            return Err(s3_error!(
                BadDigest,
                "The SHA256 you specified did not match the calculated checksum."
            ));
        }
        check_content_md5(input.content_md5.as_deref(), &received.md5_hex)?;
        let attributes = Attributes {
            user_metadata: input.metadata.take(),
            content_encoding: input.content_encoding.take(),
            content_type: input.content_type.take(),
            content_disposition: input.content_disposition.take(),
            content_language: input.content_language.take(),
            cache_control: input.cache_control.take(),
            expires: Attributes::expires_from(input.expires.take()),
            website_redirect_location: input.website_redirect_location.take(),
        };
        let _writing = self.writes.write().await;
        if input.if_none_match.as_ref().is_some_and(|c| c.is_any()) && object.is_file() {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
        self.install(
            &input.bucket,
            &input.key,
            temp,
            &attributes,
            &received.md5_hex,
            received.sha256_base64.as_deref(),
        )?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(received.md5_hex)),
            checksum_sha256: received.sha256_base64,
            ..Default::default()
        }))
    }

    /// Moves a written object into place with its attributes and internal info, as s3s-fs
    /// would have written them. Called under the write lock.
    pub(crate) fn install(
        &self,
        bucket: &str,
        key: &str,
        bytes: TempFile,
        attributes: &impl serde::Serialize,
        e_tag: &str,
        checksum_sha256: Option<&str>,
    ) -> S3Result<()> {
        bytes.install(&self.files.object(bucket, key)?)?;
        self.files.write_json(&self.files.metadata(bucket, key), attributes)?;
        let info = InternalInfo { e_tag, checksum_sha256 };
        self.files.write_json(&self.files.internal_info(bucket, key), &info)
    }

    async fn buffered_put(&self, mut req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let body = req.input.body.take().ok_or_else(|| s3_error!(IncompleteBody))?;
        let bytes = buffer(body).await?;
        if let Some(declared) = &req.input.checksum_sha256
            && *declared != sha256_base64(&bytes)
        {
            return Err(s3_error!(
                BadDigest,
                "The SHA256 you specified did not match the calculated checksum."
            ));
        }
        req.input.body = Some(StreamingBlob::from(s3s::Body::from(bytes)));
        let _writing = self.writes.write().await;
        self.inner.put_object(req).await
    }

    /// Copies with the kernel while another thread computes the SHA-256 of the source, under
    /// the write lock. The copy keeps the source's ETag, as S3's copy of a single-part object
    /// does, and its attributes unless the request replaces them.
    async fn verified_copy(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let (src_bucket, src_key) = match &req.input.copy_source {
            CopySource::Bucket { bucket, key, .. } => (bucket.to_string(), key.to_string()),
            _ => return Err(s3_error!(NotImplemented)),
        };
        let wants_sha256 = match &req.input.checksum_algorithm {
            None => false,
            Some(alg) if alg.as_str() == ChecksumAlgorithm::SHA256 => true,
            Some(_) => return Err(s3_error!(NotImplemented, "only SHA256 checksums are computed on copy")),
        };
        let input = &req.input;
        if !self.files.bucket_exists(&input.bucket) {
            return Err(s3_error!(NoSuchBucket));
        }
        let destination = self.files.object(&input.bucket, &input.key)?;
        let _writing = self.writes.write().await;
        if requires_absent_destination(&req) && destination.is_file() {
            return Err(s3_error!(PreconditionFailed, "The destination object already exists"));
        }
        let head = HeadObjectInput {
            bucket: src_bucket.clone(),
            key: src_key.clone(),
            ..Default::default()
        };
        let source = self.inner.head_object(sub_request(&req, head)).await?.output;
        let e_tag = source
            .e_tag
            .ok_or_else(|| s3_error!(InternalError, "the source has no ETag"))?;
        if let Some(ETagCondition::ETag(expected)) = &input.copy_source_if_match
            && !e_tag.strong_cmp(expected)
        {
            return Err(s3_error!(PreconditionFailed, "The source object's ETag does not match"));
        }
        let replaced = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let attributes: serde_json::Value = if replaced {
            serde_json::to_value(Attributes {
                user_metadata: input.metadata.clone(),
                content_encoding: input.content_encoding.clone(),
                content_type: input.content_type.clone(),
                content_disposition: input.content_disposition.clone(),
                content_language: input.content_language.clone(),
                cache_control: input.cache_control.clone(),
                expires: Attributes::expires_from(input.expires.clone()),
                website_redirect_location: input.website_redirect_location.clone(),
            })
            .map_err(|e| s3_error!(InternalError, "{e}"))?
        } else {
            match std::fs::read(self.files.metadata(&src_bucket, &src_key)) {
                Ok(json) => serde_json::from_slice(&json).map_err(|e| s3_error!(InternalError, "{e}"))?,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
                Err(err) => return Err(io_failure(err)),
            }
        };
        let temp = self.files.temp_file();
        let checksum_sha256 = transfer::copy(
            self.files.object(&src_bucket, &src_key)?,
            temp.path().to_owned(),
            wants_sha256,
        )
        .await?;
        self.install(
            &input.bucket,
            &input.key,
            temp,
            &attributes,
            e_tag.value(),
            checksum_sha256.as_deref(),
        )?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(e_tag),
                checksum_sha256,
                last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    /// s3s-fs answers (headers, range checks); the body is read again from the same file in
    /// large chunks (s3s-fs reads 4 KiB at a time).
    async fn streamed_get(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let object = self.files.object(&req.input.bucket, &req.input.key)?;
        let range = req.input.range;
        let mut answer = self.inner.get_object(req).await?;
        let size = std::fs::metadata(&object).map_err(io_failure)?.len();
        let span = match range {
            Some(range) => range.check(size).map_err(|_| s3_error!(InvalidRange))?,
            None => 0..size,
        };
        let stream = transfer::stream_file(&object, span.start, span.end - span.start).map_err(io_failure)?;
        answer.output.body = Some(StreamingBlob::wrap(stream));
        Ok(answer)
    }
}

verifying_s3_impl! {
    create_bucket: CreateBucketInput => CreateBucketOutput;
    head_bucket: HeadBucketInput => HeadBucketOutput;
    list_buckets: ListBucketsInput => ListBucketsOutput;
    get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput;
    list_objects_v2: ListObjectsV2Input => ListObjectsV2Output;
}
