//! An s3s-fs store that behaves like S3 where the API relies on it.
//!
//! - A PUT whose bytes do not match its declared `x-amz-checksum-sha256` is refused *before*
//!   anything is written (s3s-fs compares only after it moved the file into place, so a
//!   refused upload would still leave bytes behind, or replace a good object).
//! - CopyObject honours `If-None-Match: *` on the destination (S3's conditional copy, which
//!   s3s 0.14 does not model for CopyObject, so it is read from the request's headers) and
//!   `x-amz-copy-source-if-match`, and with `x-amz-checksum-algorithm: SHA256` computes the
//!   copy's SHA-256, returns it and keeps it, so HeadObject reports it as S3 does.
//!
//! Writes (PUT, copy, delete) are serialized, so a copy reads the bytes its conditions
//! checked, and reads (GET, HEAD) wait for the write under way: s3s-fs writes an object's
//! file and its metadata files one after the other, and a HEAD between the two answered
//! 500 where S3's reads are atomic. Only the operations the API and its tests use are delegated; the rest answer
//! `NotImplemented`.

use base64::Engine;
use bytes::Bytes;
use futures::TryStreamExt;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use sha2::{Digest, Sha256};
use std::path::{Component, Path, PathBuf};
use tokio::sync::RwLock;

pub struct VerifyingStore {
    inner: s3s_fs::FileSystem,
    root: PathBuf,
    writes: RwLock<()>,
}

impl VerifyingStore {
    /// `root` is the directory `inner` serves.
    pub fn new(inner: s3s_fs::FileSystem, root: PathBuf) -> Self {
        Self {
            inner,
            root,
            writes: RwLock::new(()),
        }
    }

    /// Whether the object's file exists (s3s-fs keeps `bucket/key` under its root).
    fn object_exists(&self, bucket: &str, key: &str) -> bool {
        let relative = Path::new(bucket).join(key);
        let contained = relative.components().all(|c| matches!(c, Component::Normal(_)));
        contained && self.root.join(relative).is_file()
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
fn sub_request<T: Clone, U>(req: &S3Request<T>, input: U) -> S3Request<U> {
    req.clone().map_input(|_| input)
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
                self.verified_put(req).await
            }

            async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
                self.verified_copy(req).await
            }

            async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
                let _writing = self.writes.write().await;
                self.inner.delete_object(req).await
            }

            async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
                // The body streams from the file opened here: a later write replaces the
                // file, not the bytes this read is given.
                let _reading = self.writes.read().await;
                self.inner.get_object(req).await
            }

            async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
                let _reading = self.writes.read().await;
                self.inner.head_object(req).await
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
    async fn verified_put(&self, mut req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
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

    /// Copies by streaming the source twice under the write lock: once to hash it, once into
    /// a PUT that declares that hash (so s3s-fs stores the checksum HeadObject reports).
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
        let _writing = self.writes.write().await;
        if requires_absent_destination(&req) && self.object_exists(&req.input.bucket, &req.input.key) {
            return Err(s3_error!(PreconditionFailed, "The destination object already exists"));
        }
        let head = HeadObjectInput {
            bucket: src_bucket.clone(),
            key: src_key.clone(),
            ..Default::default()
        };
        let source = self.inner.head_object(sub_request(&req, head)).await?.output;
        if let Some(ETagCondition::ETag(expected)) = &req.input.copy_source_if_match {
            let matches = source.e_tag.as_ref().is_some_and(|etag| etag.strong_cmp(expected));
            if !matches {
                return Err(s3_error!(PreconditionFailed, "The source object's ETag does not match"));
            }
        }
        let checksum_sha256 = if wants_sha256 {
            let mut hasher = Sha256::new();
            let mut body = self.read(&req, &src_bucket, &src_key).await?;
            while let Some(chunk) = body
                .try_next()
                .await
                .map_err(|e| s3_error!(InternalError, "reading the source failed: {e}"))?
            {
                hasher.update(&chunk);
            }
            Some(base64::engine::general_purpose::STANDARD.encode(hasher.finalize()))
        } else {
            None
        };
        let put = PutObjectInput {
            bucket: req.input.bucket.clone(),
            key: req.input.key.clone(),
            body: Some(self.read(&req, &src_bucket, &src_key).await?),
            content_length: source.content_length,
            content_type: source.content_type.clone(),
            checksum_sha256: checksum_sha256.clone(),
            ..Default::default()
        };
        let written = self.inner.put_object(sub_request(&req, put)).await?.output;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: written.e_tag,
                checksum_sha256,
                last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn read<T: Clone>(&self, req: &S3Request<T>, bucket: &str, key: &str) -> S3Result<StreamingBlob> {
        let get = GetObjectInput {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            ..Default::default()
        };
        let output = self.inner.get_object(sub_request(req, get)).await?.output;
        output
            .body
            .ok_or_else(|| s3_error!(InternalError, "the source has no body"))
    }
}

verifying_s3_impl! {
    create_bucket: CreateBucketInput => CreateBucketOutput;
    head_bucket: HeadBucketInput => HeadBucketOutput;
    list_buckets: ListBucketsInput => ListBucketsOutput;
    get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput;
    list_objects_v2: ListObjectsV2Input => ListObjectsV2Output;
}
