//! An s3s-fs store that refuses a PUT whose bytes do not match its declared checksum
//! *before* anything is written.
//!
//! s3s-fs compares `x-amz-checksum-sha256` only after it has moved the file into place, so
//! a refused upload would still leave bytes behind (and could replace a good object). Real
//! S3 stores nothing on `BadDigest`; this wrapper restores that behaviour. Only the
//! operations the API and its tests use are delegated; the rest answer `NotImplemented`.

use base64::Engine;
use bytes::Bytes;
use futures::TryStreamExt;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use sha2::{Digest, Sha256};

pub struct VerifyingStore {
    inner: s3s_fs::FileSystem,
}

impl VerifyingStore {
    pub fn new(inner: s3s_fs::FileSystem) -> Self {
        Self { inner }
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
        self.inner.put_object(req).await
    }
}

verifying_s3_impl! {
    create_bucket: CreateBucketInput => CreateBucketOutput;
    head_bucket: HeadBucketInput => HeadBucketOutput;
    list_buckets: ListBucketsInput => ListBucketsOutput;
    get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput;
    get_object: GetObjectInput => GetObjectOutput;
    head_object: HeadObjectInput => HeadObjectOutput;
    delete_object: DeleteObjectInput => DeleteObjectOutput;
    delete_objects: DeleteObjectsInput => DeleteObjectsOutput;
    list_objects_v2: ListObjectsV2Input => ListObjectsV2Output;
    copy_object: CopyObjectInput => CopyObjectOutput;
    create_multipart_upload: CreateMultipartUploadInput => CreateMultipartUploadOutput;
    upload_part: UploadPartInput => UploadPartOutput;
    list_parts: ListPartsInput => ListPartsOutput;
    complete_multipart_upload: CompleteMultipartUploadInput => CompleteMultipartUploadOutput;
    abort_multipart_upload: AbortMultipartUploadInput => AbortMultipartUploadOutput;
}
