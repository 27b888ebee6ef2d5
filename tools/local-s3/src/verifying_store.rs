//! An s3s-fs store that refuses a PUT whose bytes do not match its declared checksum
//! *before* anything is written.
//!
//! s3s-fs compares `x-amz-checksum-sha256` only after it has moved the file into place, so
//! a refused upload would still leave bytes behind (and could replace a good object). Real
//! S3 stores nothing on `BadDigest`; this wrapper restores that behaviour. It also keeps
//! object tags (see `object_tags`), which s3s-fs ignores. Only the operations the API and
//! its tests use are delegated; the rest answer `NotImplemented`.

use crate::object_tags::{ObjectTags, parse_header};
use base64::Engine;
use bytes::Bytes;
use futures::TryStreamExt;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use sha2::{Digest, Sha256};
use std::path::{Component, Path, PathBuf};

pub struct VerifyingStore {
    inner: s3s_fs::FileSystem,
    root: PathBuf,
    tags: ObjectTags,
}

impl VerifyingStore {
    /// `root` is the directory `inner` serves.
    pub fn new(inner: s3s_fs::FileSystem, root: PathBuf) -> Self {
        Self {
            inner,
            root,
            tags: ObjectTags::default(),
        }
    }

    /// Whether the object's file exists (s3s-fs keeps `bucket/key` under its root).
    fn object_exists(&self, bucket: &str, key: &str) -> bool {
        let relative = Path::new(bucket).join(key);
        let contained = relative.components().all(|c| matches!(c, Component::Normal(_)));
        contained && self.root.join(relative).is_file()
    }

    fn existing(&self, bucket: &str, key: &str) -> S3Result<()> {
        if self.object_exists(bucket, key) {
            Ok(())
        } else {
            Err(s3_error!(NoSuchKey))
        }
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

/// Implements `S3` with `put_object` verified and the listed operations passed through.
/// (The impl is generated whole so that `async_trait` sees every method.)
macro_rules! verifying_s3_impl {
    ($($op:ident: $input:ty => $output:ty;)*) => {
        #[async_trait::async_trait]
        impl S3 for VerifyingStore {
            async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
                self.verified_put(req).await
            }

            async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
                let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
                let response = self.inner.delete_object(req).await?;
                self.tags.remove(&bucket, &key);
                Ok(response)
            }

            async fn put_object_tagging(
                &self,
                req: S3Request<PutObjectTaggingInput>,
            ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
                let input = req.input;
                self.existing(&input.bucket, &input.key)?;
                self.tags.set(&input.bucket, &input.key, input.tagging.tag_set);
                Ok(S3Response::new(PutObjectTaggingOutput::default()))
            }

            async fn get_object_tagging(
                &self,
                req: S3Request<GetObjectTaggingInput>,
            ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
                let input = req.input;
                self.existing(&input.bucket, &input.key)?;
                Ok(S3Response::new(GetObjectTaggingOutput {
                    tag_set: self.tags.get(&input.bucket, &input.key),
                    version_id: None,
                }))
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
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let tags = req.input.tagging.as_deref().map(parse_header).unwrap_or_default();
        let response = self.inner.put_object(req).await?;
        // A PUT replaces the object, tags included.
        self.tags.set(&bucket, &key, tags);
        Ok(response)
    }
}

verifying_s3_impl! {
    create_bucket: CreateBucketInput => CreateBucketOutput;
    head_bucket: HeadBucketInput => HeadBucketOutput;
    list_buckets: ListBucketsInput => ListBucketsOutput;
    get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput;
    get_object: GetObjectInput => GetObjectOutput;
    head_object: HeadObjectInput => HeadObjectOutput;
    delete_objects: DeleteObjectsInput => DeleteObjectsOutput;
    list_objects_v2: ListObjectsV2Input => ListObjectsV2Output;
    copy_object: CopyObjectInput => CopyObjectOutput;
    create_multipart_upload: CreateMultipartUploadInput => CreateMultipartUploadOutput;
    upload_part: UploadPartInput => UploadPartOutput;
    list_parts: ListPartsInput => ListPartsOutput;
    complete_multipart_upload: CompleteMultipartUploadInput => CompleteMultipartUploadOutput;
    abort_multipart_upload: AbortMultipartUploadInput => AbortMultipartUploadOutput;
}
