//! Objects too large for one request, worked on across as many worker runs as they take.
//!
//! - **Moving** a staged multipart object above what one CopyObject copies (5 GiB) to its
//!   final key: a multipart copy (UploadPartCopy, several at once) cut exactly as the upload
//!   was, so the copy's ETag is the staged object's; every part is copied only while the
//!   source keeps the ETag that was checked, and the copy completes only if the final key
//!   is still free. A run that stops leaves its copy's parts in S3; the next lists them and
//!   copies the rest.
//! - **Hashing** an object S3 reported no whole-object SHA-256 for (multipart objects have
//!   only composite checksums): ranges read several at once and fed in order to one hasher
//!   on its own thread, so memory stays at a few ranges whatever the size. A run that nears
//!   its deadline stops and returns the hasher's state and offset, which the task keeps;
//!   the next run goes on from there.

use super::ObjectStore;
use crate::aws::sdk_failure;
use crate::errors::Failure;
use crate::model::{HashProgress, PartPlan};
use crate::time::Timestamp;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use base64::Engine;
use futures::StreamExt;
use futures::future::BoxFuture;
use sha2_resumable::digest::common::hazmat::{SerializableState, SerializedState};
use sha2_resumable::{Digest, Sha256};

/// How long before its deadline a run stops starting new reads or copies.
const DEADLINE_MARGIN_MS: i64 = 60_000;
/// One ranged read (a multiple of SHA-256's 64-byte block).
const READ_CHUNK_BYTES: u64 = 8 * 1024 * 1024;
const READS_AT_ONCE: usize = 4;
const PART_COPIES_AT_ONCE: usize = 8;

/// How far one run may go: until shortly before `deadline` and, when set (a test setting),
/// no further than `max_bytes` read or copied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunBudget {
    pub deadline: Timestamp,
    pub max_bytes: Option<u64>,
}

impl RunBudget {
    fn time_left(&self) -> bool {
        Timestamp::now().millis_until(self.deadline) > DEADLINE_MARGIN_MS
    }
}

/// What a run of hashing came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Hashed {
    Done(String),
    Unfinished(HashProgress),
    Missing,
}

/// What a run of a multipart copy came to.
#[derive(Debug, Clone, PartialEq)]
pub enum LargeCopy {
    Copied,
    /// Parts remain; the copy (S3's upload id) goes on in the next run.
    Unfinished {
        copy_upload_id: String,
    },
    /// The final key exists (another run copied first), or the source's ETag changed.
    PreconditionFailed,
    SourceMissing,
}

/// A multipart copy of `from` (`size` bytes, with `etag`) to `to`, cut as `plan` says.
#[derive(Debug, Clone, Copy)]
pub struct PartCopy<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub etag: &'a str,
    pub size: u64,
    pub plan: PartPlan,
    pub content_type: &'a str,
}

/// One part copy that did not happen.
enum PartCopyError {
    SourceChanged,
    SourceMissing,
    Failed(Failure),
}

/// [`ObjectStore::sha256_resumable`]'s implementation, behind a pointer (see `Reader`).
pub(super) type HashRun = for<'a> fn(
    &'a ObjectStore,
    &'a str,
    u64,
    Option<&'a HashProgress>,
    &'a RunBudget,
) -> BoxFuture<'a, Result<Hashed, Failure>>;

/// [`ObjectStore::copy_in_parts`]'s implementation, behind a pointer (see `Reader`).
pub(super) type CopyRun = for<'a> fn(
    &'a ObjectStore,
    &'a PartCopy<'a>,
    Option<&'a str>,
    &'a RunBudget,
) -> BoxFuture<'a, Result<LargeCopy, Failure>>;

impl ObjectStore {
    /// Hashes `key` (`size` bytes) from where `from` left off, within `budget`; only where
    /// this store reads objects ([`ObjectStore::reading_objects`]: the worker).
    pub async fn sha256_resumable(
        &self,
        key: &str,
        size: u64,
        from: Option<&HashProgress>,
        budget: &RunBudget,
    ) -> Result<Hashed, Failure> {
        match self.reader {
            Some(reader) => (reader.sha256_resumable)(self, key, size, from, budget).await,
            None => Err(Failure::bug("this function does not read objects")),
        }
    }

    /// Copies `copy.from` to `copy.to` in parts cut as `copy.plan` says, going on with
    /// `resume` (the copy an earlier run started) when given, within `budget`; only where
    /// this store reads objects (the worker).
    pub async fn copy_in_parts(
        &self,
        copy: &PartCopy<'_>,
        resume: Option<&str>,
        budget: &RunBudget,
    ) -> Result<LargeCopy, Failure> {
        match self.reader {
            Some(reader) => (reader.copy_in_parts)(self, copy, resume, budget).await,
            None => Err(Failure::bug("this function does not copy objects in parts")),
        }
    }

    pub(super) async fn hash_resumably(
        &self,
        key: &str,
        size: u64,
        from: Option<&HashProgress>,
        budget: &RunBudget,
    ) -> Result<Hashed, Failure> {
        let (hasher, start) = match from {
            Some(progress) => (restore(progress)?, progress.offset),
            None => (Sha256::new(), 0),
        };
        let stop = budget.max_bytes.map_or(size, |max| size.min(start.saturating_add(max)));
        let ranges = (start..stop)
            .step_by(usize::try_from(READ_CHUNK_BYTES).unwrap_or(usize::MAX))
            .map(move |offset| (offset, (offset + READ_CHUNK_BYTES).min(stop)))
            .take_while(move |_| budget.time_left());
        // One range waits while another is hashed: memory stays at READS_AT_ONCE + 2 ranges.
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<bytes::Bytes>>(1);
        let hashing = tokio::task::spawn_blocking(move || {
            let mut hasher = hasher;
            let mut hashed = 0u64;
            while let Some(segments) = receiver.blocking_recv() {
                for segment in segments {
                    hasher.update(&segment);
                    hashed += segment.len() as u64;
                }
            }
            (hasher, hashed)
        });
        let mut reads = futures::stream::iter(ranges)
            .map(|(first, end)| self.read_range(key, first, end))
            .buffered(READS_AT_ONCE);
        let mut outcome = Ok(true);
        while let Some(read) = reads.next().await {
            match read {
                Ok(Some(chunk)) => {
                    if sender.send(chunk).await.is_err() {
                        outcome = Err(Failure::bug("the hashing thread stopped"));
                        break;
                    }
                }
                Ok(None) => {
                    outcome = Ok(false);
                    break;
                }
                Err(failure) => {
                    outcome = Err(failure);
                    break;
                }
            }
        }
        drop(reads);
        drop(sender);
        let (hasher, hashed) = hashing
            .await
            .map_err(|err| Failure::bug(format!("the hashing thread failed: {err}")))?;
        if !outcome? {
            return Ok(Hashed::Missing);
        }
        let offset = start + hashed;
        if offset >= size {
            return Ok(Hashed::Done(hex::encode(hasher.finalize())));
        }
        Ok(Hashed::Unfinished(HashProgress {
            offset,
            state: base64::engine::general_purpose::STANDARD.encode(hasher.serialize()),
        }))
    }

    /// Bytes `first..end` of `key`, as the segments they arrived in (joining them would copy
    /// the range once more); `None` when the object is gone.
    async fn read_range(&self, key: &str, first: u64, end: u64) -> Result<Option<Vec<bytes::Bytes>>, Failure> {
        let result = self
            .s3()
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes={first}-{}", end - 1))
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            Err(err) => return Err(sdk_failure("get object range", err)),
        };
        let body = output.body.collect().await.map_err(|err| {
            tracing::error!(error = %err, "reading an object range failed");
            Failure::Unavailable
        })?;
        let segments: Vec<bytes::Bytes> = body.into_segments().collect();
        let got: u64 = segments.iter().map(|s| s.len() as u64).sum();
        if got != end - first {
            tracing::error!(key, first, end, got, "a range read came back short");
            return Err(Failure::Unavailable);
        }
        Ok(Some(segments))
    }

    pub(super) async fn copy_parts(
        &self,
        copy: &PartCopy<'_>,
        resume: Option<&str>,
        budget: &RunBudget,
    ) -> Result<LargeCopy, Failure> {
        let PartCopy {
            to,
            size,
            plan,
            content_type,
            ..
        } = *copy;
        if self.head(to).await?.is_some() {
            return Ok(LargeCopy::PreconditionFailed);
        }
        let (copy_id, copied) = match resume {
            Some(id) => match self.list_parts(to, id).await? {
                Some(parts) => (id.to_owned(), parts),
                // Completed (then `to` exists, checked above) or aborted: start again.
                None => (self.create_multipart(to, content_type).await?, Vec::new()),
            },
            None => (self.create_multipart(to, content_type).await?, Vec::new()),
        };
        let missing: Vec<u32> = (1..=plan.part_count)
            .filter(|n| {
                !copied
                    .iter()
                    .any(|p| p.part_number == *n && Some(p.size_bytes) == plan.part_size(size, *n))
            })
            .collect();
        // At least one part a run, however small the budget.
        let mut planned = 0u64;
        let this_run: Vec<u32> = missing
            .iter()
            .copied()
            .take_while(|n| {
                let go = planned == 0 || budget.max_bytes.is_none_or(|max| planned < max);
                planned += plan.part_size(size, *n).unwrap_or(0);
                go
            })
            .collect();
        let results: Vec<Result<(), PartCopyError>> = futures::stream::iter(this_run.iter().copied())
            .take_while(|_| std::future::ready(budget.time_left()))
            .map(|n| self.copy_part(copy, &copy_id, n))
            .buffer_unordered(PART_COPIES_AT_ONCE)
            .collect()
            .await;
        for result in &results {
            match result {
                Ok(()) => {}
                Err(PartCopyError::SourceChanged) => {
                    self.abort_multipart(to, &copy_id).await?;
                    return Ok(LargeCopy::PreconditionFailed);
                }
                Err(PartCopyError::SourceMissing) => {
                    self.abort_multipart(to, &copy_id).await?;
                    return Ok(LargeCopy::SourceMissing);
                }
                Err(PartCopyError::Failed(failure)) => return Err(failure.clone()),
            }
        }
        if results.len() < missing.len() {
            return Ok(LargeCopy::Unfinished {
                copy_upload_id: copy_id,
            });
        }
        let parts = self
            .list_parts(to, &copy_id)
            .await?
            .ok_or_else(|| Failure::bug("a multipart copy vanished before it was completed"))?;
        match self.complete_multipart(to, &copy_id, &parts, true).await? {
            super::Completed::Done { .. } => Ok(LargeCopy::Copied),
            super::Completed::PreconditionFailed | super::Completed::NoSuchUpload => {
                self.abort_multipart(to, &copy_id).await?;
                Ok(LargeCopy::PreconditionFailed)
            }
            super::Completed::Refused(why) => Err(Failure::bug(format!("S3 refused a multipart copy: {why}"))),
        }
    }

    async fn copy_part(&self, copy: &PartCopy<'_>, copy_id: &str, number: u32) -> Result<(), PartCopyError> {
        let PartCopy {
            from,
            to,
            etag,
            size,
            plan,
            ..
        } = *copy;
        let part = plan
            .part_size(size, number)
            .ok_or_else(|| PartCopyError::Failed(Failure::bug("a part number past the last")))?;
        let first = u64::from(number - 1) * plan.part_size_bytes;
        let result = self
            .s3()
            .upload_part_copy()
            .bucket(&self.bucket)
            .key(to)
            .upload_id(copy_id)
            .part_number(i32::try_from(number).unwrap_or(i32::MAX))
            .copy_source(format!("{}/{}", self.bucket, super::encode_key(from)))
            .copy_source_range(format!("bytes={first}-{}", first + part - 1))
            .copy_source_if_match(format!("\"{etag}\""))
            .customize()
            .config_override(self.long_call())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error().and_then(|e| e.code()) {
                Some("PreconditionFailed") => Err(PartCopyError::SourceChanged),
                Some("NoSuchKey") => Err(PartCopyError::SourceMissing),
                _ => Err(PartCopyError::Failed(sdk_failure("upload part copy", err))),
            },
        }
    }
}

/// A hasher in the state `progress` saved.
fn restore(progress: &HashProgress) -> Result<Sha256, Failure> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&progress.state)
        .map_err(|_| Failure::bug("a saved hash state that is not base64"))?;
    let state = SerializedState::<Sha256>::try_from(bytes.as_slice())
        .map_err(|_| Failure::bug("a saved hash state of the wrong size"))?;
    Sha256::deserialize(&state).map_err(|_| Failure::bug("a saved hash state that does not restore"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_state_goes_on_to_the_same_digest() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = hex::encode(Sha256::digest(&data));
        for cut in [0, 1, 63, 64, 65, 4096, 99_999] {
            let mut first = Sha256::new();
            first.update(&data[..cut]);
            let saved = HashProgress {
                offset: cut as u64,
                state: base64::engine::general_purpose::STANDARD.encode(first.serialize()),
            };
            let mut resumed = restore(&saved).unwrap();
            resumed.update(&data[cut..]);
            assert_eq!(hex::encode(resumed.finalize()), whole, "cut at {cut}");
        }
        assert!(
            restore(&HashProgress {
                offset: 0,
                state: "AAAA".into()
            })
            .is_err()
        );
    }
}
