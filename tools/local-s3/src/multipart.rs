//! S3 multipart uploads, kept by this server itself rather than by s3s-fs.
//!
//! s3s-fs's own multipart operations do not behave as S3's where the API relies on them: an
//! upload id belongs to the access key that created it (the API creates uploads with the
//! functions' key and clients upload parts through URLs signed by another key, which s3s-fs
//! answers AccessDenied), UploadPart ignores the declared checksums and Content-MD5, ListParts
//! reports no ETags, in no order and without pages, and CompleteMultipartUpload neither checks
//! the parts' ETags nor writes under this server's write lock.
//!
//! What is faithful to S3 here:
//! - an upload belongs to its bucket and key, not to a key pair; an id that is unknown,
//!   completed, aborted or another key's answers NoSuchUpload;
//! - a part (numbers 1 to 10,000) streams to a temporary file while its MD5 (its ETag) and
//!   checksums are computed, and is refused (BadDigest) when a declared checksum or
//!   Content-MD5 does not match, before it replaces an earlier part of the same number; a part
//!   is then renamed into place, so ListParts sees the old part or the new one, never half;
//! - UploadPartCopy copies a byte range of an object under S3's copy-source conditions;
//! - ListParts lists in part order, with ETags, sizes and checksums, and pages as S3 does;
//! - CompleteMultipartUpload checks the list (ascending numbers, each part's ETag, every part
//!   but the last at least `--min-part-size`), honours `If-None-Match: *` and `If-Match`, and
//!   installs the object with S3's multipart ETag (the MD5 of the parts' binary MD5s, `-`, the
//!   part count) and without a whole-object SHA-256, as S3 keeps none for a multipart object
//!   (a composite checksum, the checksum of the parts' checksums, is only returned);
//! - AbortMultipartUpload forgets the upload and its parts; ListMultipartUploads lists a
//!   bucket's uploads in progress (without delimiters).
//!
//! An upload lives in `root/.multipart/<upload id>/` (s3s-fs never looks there: `.multipart`
//! is no bucket name): `upload.json` (bucket, key, the object's attributes, the checksum
//! algorithm, when it was initiated), and per part its bytes in `part-<n>.<unique>` and what
//! S3 reports of it in `part-<n>.json`, which names those bytes. Parts are installed under the
//! read side of the store's write lock, Complete and Abort take its write side: a Complete
//! reads parts whose description and bytes agree, and no part lands in a removed upload.

use crate::object_files::{Attributes, TempFile, io_failure};
use crate::transfer;
use crate::verifying_store::{VerifyingStore, check_content_md5, sub_request};
use base64::Engine;
use md5::{Digest, Md5};
use s3s::checksum::ChecksumHasher;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// S3's smallest part but the last: `--min-part-size` by default.
pub const S3_MIN_PART_SIZE: u64 = 5 << 20;
const MAX_PART_NUMBER: i32 = 10_000;
const MAX_PART_SIZE: u64 = 5 << 30;
/// The most parts or uploads one list answers.
const MAX_LISTED: i32 = 1000;
const UPLOADS_DIR: &str = ".multipart";
const UPLOAD_FILE: &str = "upload.json";
/// The algorithms of S3's `x-amz-checksum-*` headers.
const ALGORITHMS: [&str; 5] = [
    ChecksumAlgorithm::CRC32,
    ChecksumAlgorithm::CRC32C,
    ChecksumAlgorithm::SHA1,
    ChecksumAlgorithm::SHA256,
    ChecksumAlgorithm::CRC64NVME,
];

/// `upload.json`: what CreateMultipartUpload was told.
#[derive(serde::Serialize, serde::Deserialize)]
struct Upload {
    bucket: String,
    key: String,
    attributes: Attributes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checksum_algorithm: Option<String>,
    initiated_ms: u64,
}

/// `part-<n>.json`.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredPart {
    /// The file in the upload's directory that holds the part's bytes.
    file: String,
    /// The MD5, hex.
    e_tag: String,
    size: u64,
    last_modified_ms: u64,
    #[serde(default)]
    checksums: Checksums,
}

/// Checksums (base64) by algorithm; `s3s::dto::Checksum` is not serde.
type Checksums = BTreeMap<String, String>;

fn checksums_of(checksum: Checksum) -> Checksums {
    let values = [
        checksum.checksum_crc32,
        checksum.checksum_crc32c,
        checksum.checksum_sha1,
        checksum.checksum_sha256,
        checksum.checksum_crc64nvme,
    ];
    ALGORITHMS
        .into_iter()
        .zip(values)
        .filter_map(|(algorithm, value)| Some((algorithm.to_owned(), value?)))
        .collect()
}

fn checksum_dto(checksums: &Checksums) -> Checksum {
    let get = |algorithm: &str| checksums.get(algorithm).cloned();
    Checksum {
        checksum_crc32: get(ChecksumAlgorithm::CRC32),
        checksum_crc32c: get(ChecksumAlgorithm::CRC32C),
        checksum_sha1: get(ChecksumAlgorithm::SHA1),
        checksum_sha256: get(ChecksumAlgorithm::SHA256),
        checksum_crc64nvme: get(ChecksumAlgorithm::CRC64NVME),
        ..Default::default()
    }
}

/// Sets `hasher` up to compute `algorithm`.
fn enable(hasher: &mut ChecksumHasher, algorithm: &str) -> S3Result<()> {
    match algorithm {
        ChecksumAlgorithm::CRC32 => hasher.crc32 = Some(Default::default()),
        ChecksumAlgorithm::CRC32C => hasher.crc32c = Some(Default::default()),
        ChecksumAlgorithm::SHA1 => hasher.sha1 = Some(Default::default()),
        ChecksumAlgorithm::SHA256 => hasher.sha256 = Some(Default::default()),
        ChecksumAlgorithm::CRC64NVME => hasher.crc64nvme = Some(Default::default()),
        other => return Err(s3_error!(InvalidArgument, "Invalid checksum algorithm: {other}")),
    }
    Ok(())
}

/// What computes `algorithms` while a part is received: SHA-256 on its own thread (whether
/// it is asked for), the others on one hasher (`None` when there are none).
fn hashers(algorithms: &BTreeSet<String>) -> S3Result<(bool, Option<ChecksumHasher>)> {
    let mut others = ChecksumHasher::default();
    let mut any_other = false;
    for algorithm in algorithms.iter().filter(|a| *a != ChecksumAlgorithm::SHA256) {
        enable(&mut others, algorithm)?;
        any_other = true;
    }
    Ok((
        algorithms.contains(ChecksumAlgorithm::SHA256),
        any_other.then_some(others),
    ))
}

fn computed_checksums(received: transfer::Received) -> Checksums {
    let mut checksums = checksums_of(received.others);
    if let Some(sha256) = received.sha256_base64 {
        checksums.insert(ChecksumAlgorithm::SHA256.to_owned(), sha256);
    }
    checksums
}

/// The algorithms whose checksums the request announces as trailers (`x-amz-trailer`).
fn announced_trailers(headers: &hyper::HeaderMap) -> Vec<String> {
    let names = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()).unwrap_or("");
    names
        .split(',')
        .filter_map(|name| name.trim().strip_prefix("x-amz-checksum-"))
        .map(str::to_ascii_uppercase)
        .collect()
}

/// The checksums sent as trailers after the body.
fn trailed_checksums(trailers: &hyper::HeaderMap) -> S3Result<Checksums> {
    let mut checksums = Checksums::new();
    for algorithm in ALGORITHMS {
        let name = format!("x-amz-checksum-{}", algorithm.to_ascii_lowercase());
        if let Some(value) = trailers.get(name.as_str()) {
            let value = value
                .to_str()
                .map_err(|_| s3_error!(InvalidArgument, "a malformed {name}"))?;
            checksums.insert(algorithm.to_owned(), value.to_owned());
        }
    }
    Ok(checksums)
}

/// Refuses a part whose bytes do not have a checksum they were declared with.
fn verify(declared: &Checksums, computed: &Checksums) -> S3Result<()> {
    match declared
        .iter()
        .find(|(algorithm, value)| computed.get(*algorithm) != Some(value))
    {
        Some((algorithm, _)) => Err(s3_error!(
            BadDigest,
            "The {algorithm} you specified did not match the calculated checksum."
        )),
        None => Ok(()),
    }
}

fn check_part_number(number: PartNumber) -> S3Result<()> {
    if (1..=MAX_PART_NUMBER).contains(&number) {
        Ok(())
    } else {
        Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
        ))
    }
}

fn no_such_upload() -> s3s::S3Error {
    s3_error!(
        NoSuchUpload,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )
}

fn since_epoch() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

fn now_ms() -> u64 {
    u64::try_from(since_epoch().as_millis()).unwrap_or(u64::MAX)
}

fn timestamp(ms: u64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_millis(ms))
}

/// Whole seconds since the epoch (HTTP dates have no finer resolution).
fn epoch_seconds(at: &Timestamp) -> Option<i64> {
    let mut buf = Vec::new();
    at.format(TimestampFormat::EpochSeconds, &mut buf).ok()?;
    let text = String::from_utf8(buf).ok()?;
    text.split('.').next()?.parse().ok()
}

/// A name no other file of this server is given, across restarts too.
fn unique_suffix() -> String {
    static NAMES: AtomicU64 = AtomicU64::new(0);
    let n = NAMES.fetch_add(1, Ordering::Relaxed);
    format!("{}-{}-{n}", since_epoch().as_nanos(), std::process::id())
}

/// A fresh upload id, shaped like a UUID v4: unguessable bits from the clock, the process
/// and std's randomly keyed hasher.
fn new_upload_id() -> String {
    use std::hash::BuildHasher;
    let random = std::collections::hash_map::RandomState::new().hash_one(unique_suffix());
    let digest = sha2::Sha256::new()
        .chain_update(unique_suffix())
        .chain_update(random.to_le_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The part an UploadPart or UploadPartCopy writes.
struct PartOf<'a> {
    upload_id: &'a str,
    bucket: &'a str,
    key: &'a str,
    number: PartNumber,
}

/// The part of an UploadPart's or UploadPartCopy's input.
macro_rules! part_of {
    ($input:expr) => {
        PartOf {
            upload_id: &$input.upload_id,
            bucket: &$input.bucket,
            key: &$input.key,
            number: $input.part_number,
        }
    };
}

fn part_json(dir: &Path, number: PartNumber) -> PathBuf {
    dir.join(format!("part-{number}.json"))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> S3Result<Option<T>> {
    match std::fs::read(path) {
        Ok(json) => serde_json::from_slice(&json)
            .map(Some)
            .map_err(|e| s3_error!(InternalError, "{}: {e}", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(io_failure(err)),
    }
}

/// The upload's parts, by part number.
fn read_parts(dir: &Path) -> S3Result<Vec<(PartNumber, StoredPart)>> {
    let mut parts = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_failure)? {
        let name = entry.map_err(io_failure)?.file_name();
        let number = name.to_str().and_then(|n| {
            n.strip_prefix("part-")?
                .strip_suffix(".json")?
                .parse::<PartNumber>()
                .ok()
        });
        if let Some(number) = number
            && let Some(part) = read_json::<StoredPart>(&part_json(dir, number))?
        {
            parts.push((number, part));
        }
    }
    parts.sort_by_key(|(number, _)| *number);
    Ok(parts)
}

fn part_dto(number: PartNumber, part: StoredPart) -> Part {
    let checksum = checksum_dto(&part.checksums);
    Part {
        part_number: Some(number),
        e_tag: Some(ETag::Strong(part.e_tag)),
        size: i64::try_from(part.size).ok(),
        last_modified: Some(timestamp(part.last_modified_ms)),
        checksum_crc32: checksum.checksum_crc32,
        checksum_crc32c: checksum.checksum_crc32c,
        checksum_sha1: checksum.checksum_sha1,
        checksum_sha256: checksum.checksum_sha256,
        checksum_crc64nvme: checksum.checksum_crc64nvme,
    }
}

/// `bytes=first-last` of an object of `size` bytes, as the range it names.
fn copy_span(range: Option<&str>, size: u64) -> S3Result<std::ops::Range<u64>> {
    let Some(range) = range else { return Ok(0..size) };
    let malformed = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    };
    let (first, last) = range
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(malformed)?;
    let first: u64 = first.parse().map_err(|_| malformed())?;
    let last: u64 = last.parse().map_err(|_| malformed())?;
    if first > last || last >= size {
        return Err(s3_error!(
            InvalidArgument,
            "Range specified is not valid for source object of size: {size}"
        ));
    }
    Ok(first..last + 1)
}

fn e_tag_matches(condition: &ETagCondition, e_tag: Option<&ETag>) -> bool {
    match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(expected) => e_tag.is_some_and(|e| e.value() == expected.value()),
    }
}

/// S3's copy-source conditions: If-Match decides over If-Unmodified-Since, If-None-Match
/// over If-Modified-Since.
fn check_copy_conditions(input: &UploadPartCopyInput, source: &HeadObjectOutput) -> S3Result<()> {
    let failed = || {
        s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        )
    };
    let e_tag = source.e_tag.as_ref();
    let modified = source.last_modified.as_ref().and_then(epoch_seconds);
    let modified_after = |at: &Timestamp| matches!((modified, epoch_seconds(at)), (Some(m), Some(t)) if m > t);
    let unchanged = match &input.copy_source_if_match {
        Some(condition) => e_tag_matches(condition, e_tag),
        None => !input
            .copy_source_if_unmodified_since
            .as_ref()
            .is_some_and(modified_after),
    };
    let changed = match &input.copy_source_if_none_match {
        Some(condition) => !e_tag_matches(condition, e_tag),
        None => input.copy_source_if_modified_since.as_ref().is_none_or(modified_after),
    };
    if unchanged && changed { Ok(()) } else { Err(failed()) }
}

/// S3's ETag of a multipart object: the MD5 of the parts' binary MD5s, `-`, how many.
fn multipart_e_tag(parts: &[StoredPart]) -> S3Result<String> {
    let mut md5 = Md5::new();
    for part in parts {
        let binary = hex::decode(&part.e_tag).map_err(|_| s3_error!(InternalError, "a part's ETag is not hex"))?;
        md5.update(binary);
    }
    Ok(format!("{}-{}", hex::encode(md5.finalize()), parts.len()))
}

/// The upload's composite checksum (the checksum of the parts' binary checksums, `-`, how
/// many), when it has a checksum algorithm and every part has that checksum.
fn composite_checksum(algorithm: Option<&str>, parts: &[StoredPart]) -> S3Result<Checksums> {
    let Some(algorithm) = algorithm else {
        return Ok(Checksums::new());
    };
    let mut hasher = ChecksumHasher::default();
    enable(&mut hasher, algorithm)?;
    for part in parts {
        let Some(value) = part.checksums.get(algorithm) else {
            return Ok(Checksums::new());
        };
        let binary = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|_| s3_error!(InternalError, "a part's checksum is not base64"))?;
        hasher.update(&binary);
    }
    let mut composite = checksums_of(hasher.finalize());
    for value in composite.values_mut() {
        value.push_str(&format!("-{}", parts.len()));
    }
    Ok(composite)
}

/// Where S3 says a completed object is: its URL, by the host the request was sent to.
fn location<T>(req: &S3Request<T>, bucket: &str, key: &str) -> String {
    let host = req
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let mut encoded = String::new();
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("http://{host}/{bucket}/{encoded}")
}

fn composite_type(checksums: &Checksums) -> Option<ChecksumType> {
    (!checksums.is_empty()).then(|| ChecksumType::from_static(ChecksumType::COMPOSITE))
}

impl VerifyingStore {
    fn uploads_dir(&self) -> PathBuf {
        self.files.root().join(UPLOADS_DIR)
    }

    /// The upload's directory; an id this server cannot have given is no upload.
    fn upload_dir(&self, upload_id: &str) -> S3Result<PathBuf> {
        let plausible = upload_id.len() == 36 && upload_id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        if !plausible {
            return Err(no_such_upload());
        }
        Ok(self.uploads_dir().join(upload_id))
    }

    /// The upload `upload_id` of `key` in `bucket`.
    fn load_upload(&self, upload_id: &str, bucket: &str, key: &str) -> S3Result<Upload> {
        if !self.files.bucket_exists(bucket) {
            return Err(s3_error!(NoSuchBucket));
        }
        let upload: Upload = read_json(&self.upload_dir(upload_id)?.join(UPLOAD_FILE))?.ok_or_else(no_such_upload)?;
        if upload.bucket != bucket || upload.key != key {
            return Err(no_such_upload());
        }
        Ok(upload)
    }

    pub(crate) async fn create_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        if !self.files.bucket_exists(&input.bucket) {
            return Err(s3_error!(NoSuchBucket));
        }
        // Refused now rather than at completion.
        self.files.object(&input.bucket, &input.key)?;
        if input
            .checksum_type
            .as_ref()
            .is_some_and(|t| t.as_str() == ChecksumType::FULL_OBJECT)
        {
            return Err(s3_error!(NotImplemented, "full-object checksums of multipart uploads"));
        }
        if let Some(algorithm) = &input.checksum_algorithm {
            enable(&mut ChecksumHasher::default(), algorithm.as_str())?;
        }
        let upload = Upload {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            attributes: Attributes {
                user_metadata: input.metadata,
                content_encoding: input.content_encoding,
                content_type: input.content_type,
                content_disposition: input.content_disposition,
                content_language: input.content_language,
                cache_control: input.cache_control,
                expires: Attributes::expires_from(input.expires),
                website_redirect_location: input.website_redirect_location,
            },
            checksum_algorithm: input.checksum_algorithm.as_ref().map(|a| a.as_str().to_owned()),
            initiated_ms: now_ms(),
        };
        let upload_id = new_upload_id();
        let dir = self.upload_dir(&upload_id)?;
        std::fs::create_dir_all(&dir).map_err(io_failure)?;
        self.files.write_json(&dir.join(UPLOAD_FILE), &upload)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            checksum_type: input
                .checksum_algorithm
                .is_some()
                .then(|| ChecksumType::from_static(ChecksumType::COMPOSITE)),
            checksum_algorithm: input.checksum_algorithm,
            ..Default::default()
        }))
    }

    pub(crate) async fn receive_part(
        &self,
        mut req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = &mut req.input;
        check_part_number(input.part_number)?;
        if input
            .content_length
            .is_some_and(|n| u64::try_from(n).is_ok_and(|n| n > MAX_PART_SIZE))
        {
            return Err(s3_error!(EntityTooLarge));
        }
        let upload = self.load_upload(&input.upload_id, &input.bucket, &input.key)?;
        let mut declared = checksums_of(Checksum {
            checksum_crc32: input.checksum_crc32.take(),
            checksum_crc32c: input.checksum_crc32c.take(),
            checksum_sha1: input.checksum_sha1.take(),
            checksum_sha256: input.checksum_sha256.take(),
            checksum_crc64nvme: input.checksum_crc64nvme.take(),
            ..Default::default()
        });
        let mut algorithms: BTreeSet<String> = declared.keys().cloned().collect();
        algorithms.extend(input.checksum_algorithm.as_ref().map(|a| a.as_str().to_owned()));
        algorithms.extend(upload.checksum_algorithm);
        algorithms.extend(announced_trailers(&req.headers));
        let (with_sha256, others) = hashers(&algorithms)?;

        let body = input.body.take().ok_or_else(|| s3_error!(IncompleteBody))?;
        let temp = self.files.temp_file();
        let received = transfer::receive_checked(body, temp.path(), with_sha256, others).await?;
        if let Some(trailers) = req.trailing_headers.as_ref().and_then(|t| t.take()) {
            declared.extend(trailed_checksums(&trailers)?);
        }
        check_content_md5(input.content_md5.as_deref(), &received.md5_hex)?;
        let md5_hex = received.md5_hex.clone();
        let computed = computed_checksums(received);
        verify(&declared, &computed)?;

        let part = self.install_part(part_of!(input), temp, md5_hex, computed).await?;
        let checksum = checksum_dto(&part.checksums);
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(part.e_tag)),
            checksum_crc32: checksum.checksum_crc32,
            checksum_crc32c: checksum.checksum_crc32c,
            checksum_sha1: checksum.checksum_sha1,
            checksum_sha256: checksum.checksum_sha256,
            checksum_crc64nvme: checksum.checksum_crc64nvme,
            ..Default::default()
        }))
    }

    /// Moves a received part into its upload, replacing any part of the same number.
    async fn install_part(
        &self,
        PartOf {
            upload_id,
            bucket,
            key,
            number,
        }: PartOf<'_>,
        bytes: TempFile,
        e_tag: String,
        checksums: Checksums,
    ) -> S3Result<StoredPart> {
        let part = StoredPart {
            file: format!("part-{number}.{}", unique_suffix()),
            e_tag,
            size: std::fs::metadata(bytes.path()).map_err(io_failure)?.len(),
            last_modified_ms: now_ms(),
            checksums,
        };
        let _installing = self.writes.read().await;
        // Completed or aborted while the part was received: it has nowhere to go.
        self.load_upload(upload_id, bucket, key)?;
        let dir = self.upload_dir(upload_id)?;
        let previous = read_json::<StoredPart>(&part_json(&dir, number))?;
        bytes.move_to(&dir.join(&part.file))?;
        self.files.write_json(&part_json(&dir, number), &part)?;
        if let Some(previous) = previous
            && previous.file != part.file
            && let Err(err) = std::fs::remove_file(dir.join(&previous.file))
        {
            tracing::warn!("cannot remove the replaced part {}: {err}", previous.file);
        }
        Ok(part)
    }

    pub(crate) async fn copy_part(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = &req.input;
        check_part_number(input.part_number)?;
        let (src_bucket, src_key) = match &input.copy_source {
            CopySource::Bucket {
                bucket,
                key,
                version_id,
            } => {
                if version_id.as_deref().is_some_and(|v| v != "null") {
                    return Err(s3_error!(NoSuchVersion));
                }
                (bucket.to_string(), key.to_string())
            }
            _ => return Err(s3_error!(NotImplemented)),
        };
        let upload = self.load_upload(&input.upload_id, &input.bucket, &input.key)?;
        let (with_sha256, others) = hashers(&upload.checksum_algorithm.into_iter().collect())?;
        let source = self.files.object(&src_bucket, &src_key)?;
        let bytes = {
            // The conditions hold for the bytes opened: writes wait meanwhile, and a later
            // write replaces the file, not the bytes opened.
            let _reading = self.writes.read().await;
            let head = HeadObjectInput {
                bucket: src_bucket,
                key: src_key,
                ..Default::default()
            };
            let head = self.inner.head_object(sub_request(&req, head)).await?.output;
            check_copy_conditions(input, &head)?;
            let size = head.content_length.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
            let span = copy_span(input.copy_source_range.as_deref(), size)?;
            if span.end - span.start > MAX_PART_SIZE {
                return Err(s3_error!(EntityTooLarge));
            }
            transfer::stream_file(&source, span.start, span.end - span.start).map_err(io_failure)?
        };
        let temp = self.files.temp_file();
        let received = transfer::receive_checked(StreamingBlob::wrap(bytes), temp.path(), with_sha256, others).await?;
        let md5_hex = received.md5_hex.clone();
        let part = self
            .install_part(part_of!(input), temp, md5_hex, computed_checksums(received))
            .await?;
        let checksum = checksum_dto(&part.checksums);
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(ETag::Strong(part.e_tag)),
                last_modified: Some(timestamp(part.last_modified_ms)),
                checksum_crc32: checksum.checksum_crc32,
                checksum_crc32c: checksum.checksum_crc32c,
                checksum_sha1: checksum.checksum_sha1,
                checksum_sha256: checksum.checksum_sha256,
                checksum_crc64nvme: checksum.checksum_crc64nvme,
            }),
            ..Default::default()
        }))
    }

    pub(crate) async fn list_upload_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let max_parts = input.max_parts.unwrap_or(MAX_LISTED);
        if max_parts < 0 {
            return Err(s3_error!(InvalidArgument, "max-parts must be a non-negative integer"));
        }
        let max_parts = max_parts.min(MAX_LISTED);
        let marker = input.part_number_marker.unwrap_or(0);
        let _reading = self.writes.read().await;
        let upload = self.load_upload(&input.upload_id, &input.bucket, &input.key)?;
        let mut parts = read_parts(&self.upload_dir(&input.upload_id)?)?;
        parts.retain(|(number, _)| *number > marker);
        let shown = usize::try_from(max_parts).unwrap_or(0);
        let is_truncated = parts.len() > shown;
        parts.truncate(shown);
        let next_marker = parts.last().map(|(number, _)| *number);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            max_parts: Some(max_parts),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next_marker,
            is_truncated: Some(is_truncated),
            parts: Some(parts.into_iter().map(|(number, part)| part_dto(number, part)).collect()),
            checksum_algorithm: upload.checksum_algorithm.map(ChecksumAlgorithm::from),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..Default::default()
        }))
    }

    /// The parts `requested` names, checked as S3 checks them.
    fn chosen_parts(&self, dir: &Path, requested: &[CompletedPart]) -> S3Result<Vec<StoredPart>> {
        if requested.is_empty() {
            return Err(s3_error!(MalformedXML, "You must specify at least one part"));
        }
        let invalid = |number: PartNumber| {
            s3_error!(
                InvalidPart,
                "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag. (part {number})"
            )
        };
        let mut chosen = Vec::with_capacity(requested.len());
        let mut previous = 0;
        for wanted in requested {
            let number = wanted
                .part_number
                .ok_or_else(|| s3_error!(MalformedXML, "a part without a number"))?;
            if number <= previous {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "The list of parts was not in ascending order. The parts list must be specified in order by part number."
                ));
            }
            previous = number;
            let part = read_json::<StoredPart>(&part_json(dir, number))?.ok_or_else(|| invalid(number))?;
            let e_tag = wanted.e_tag.as_ref().map(|e| e.value().trim_matches('"'));
            if e_tag != Some(part.e_tag.as_str()) {
                return Err(invalid(number));
            }
            let named = checksums_of(Checksum {
                checksum_crc32: wanted.checksum_crc32.clone(),
                checksum_crc32c: wanted.checksum_crc32c.clone(),
                checksum_sha1: wanted.checksum_sha1.clone(),
                checksum_sha256: wanted.checksum_sha256.clone(),
                checksum_crc64nvme: wanted.checksum_crc64nvme.clone(),
                ..Default::default()
            });
            if named
                .iter()
                .any(|(algorithm, value)| part.checksums.get(algorithm) != Some(value))
            {
                return Err(invalid(number));
            }
            chosen.push(part);
        }
        if let Some((number, _)) = requested
            .iter()
            .zip(&chosen)
            .take(chosen.len() - 1)
            .find(|(_, part)| part.size < self.min_part_size)
        {
            return Err(s3_error!(
                EntityTooSmall,
                "Your proposed upload is smaller than the minimum allowed size (part {}, at least {} bytes)",
                number.part_number.unwrap_or_default(),
                self.min_part_size
            ));
        }
        Ok(chosen)
    }

    /// `If-None-Match: *` and `If-Match` on the object the upload would replace.
    async fn check_destination(&self, req: &S3Request<CompleteMultipartUploadInput>) -> S3Result<()> {
        let input = &req.input;
        let failed = || {
            s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            )
        };
        match &input.if_none_match {
            Some(ETagCondition::Any) if self.files.object(&input.bucket, &input.key)?.is_file() => return Err(failed()),
            Some(ETagCondition::ETag(_)) => {
                return Err(s3_error!(NotImplemented, "If-None-Match takes only *"));
            }
            _ => {}
        }
        if let Some(condition) = &input.if_match {
            let head = HeadObjectInput {
                bucket: input.bucket.clone(),
                key: input.key.clone(),
                ..Default::default()
            };
            let current = self.inner.head_object(sub_request(req, head)).await?.output;
            if !e_tag_matches(condition, current.e_tag.as_ref()) {
                return Err(failed());
            }
        }
        Ok(())
    }

    pub(crate) async fn complete_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = &req.input;
        let _writing = self.writes.write().await;
        let upload = self.load_upload(&input.upload_id, &input.bucket, &input.key)?;
        let dir = self.upload_dir(&input.upload_id)?;
        self.check_destination(&req).await?;
        let requested = input
            .multipart_upload
            .as_ref()
            .and_then(|m| m.parts.as_deref())
            .unwrap_or_default();
        let parts = self.chosen_parts(&dir, requested)?;
        let e_tag = multipart_e_tag(&parts)?;
        let composite = composite_checksum(upload.checksum_algorithm.as_deref(), &parts)?;

        let temp = self.files.temp_file();
        let files = parts.iter().map(|part| dir.join(&part.file)).collect();
        transfer::concatenate(files, temp.path().to_owned()).await?;
        // No whole-object checksum: S3 keeps none for a multipart object.
        self.install(&input.bucket, &input.key, temp, &upload.attributes, &e_tag, None)?;
        std::fs::remove_dir_all(&dir).map_err(io_failure)?;

        let checksum = checksum_dto(&composite);
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            location: Some(location(&req, &input.bucket, &input.key)),
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(ETag::Strong(e_tag)),
            checksum_type: composite_type(&composite),
            checksum_crc32: checksum.checksum_crc32,
            checksum_crc32c: checksum.checksum_crc32c,
            checksum_sha1: checksum.checksum_sha1,
            checksum_sha256: checksum.checksum_sha256,
            checksum_crc64nvme: checksum.checksum_crc64nvme,
            ..Default::default()
        }))
    }

    pub(crate) async fn abort_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let _writing = self.writes.write().await;
        let upload = self.load_upload(&input.upload_id, &input.bucket, &input.key)?;
        if let Some(initiated) = &input.if_match_initiated_time
            && epoch_seconds(initiated) != i64::try_from(upload.initiated_ms / 1000).ok()
        {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
        std::fs::remove_dir_all(self.upload_dir(&input.upload_id)?).map_err(io_failure)?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    /// The bucket's uploads by key, then by when they were initiated; no delimiter.
    pub(crate) async fn list_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        if !self.files.bucket_exists(&input.bucket) {
            return Err(s3_error!(NoSuchBucket));
        }
        if input.delimiter.is_some() {
            return Err(s3_error!(NotImplemented, "listing uploads with a delimiter"));
        }
        let max_uploads = input.max_uploads.unwrap_or(MAX_LISTED);
        if max_uploads < 0 {
            return Err(s3_error!(InvalidArgument, "max-uploads must be a non-negative integer"));
        }
        let max_uploads = max_uploads.min(MAX_LISTED);
        let prefix = input.prefix.as_deref().unwrap_or("");
        let mut uploads: Vec<(String, Upload)> = Vec::new();
        {
            let _reading = self.writes.read().await;
            let entries = match std::fs::read_dir(self.uploads_dir()) {
                Ok(entries) => Some(entries),
                // No upload was ever created.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
                Err(err) => return Err(io_failure(err)),
            };
            for entry in entries.into_iter().flatten() {
                let entry = entry.map_err(io_failure)?;
                let Ok(upload_id) = entry.file_name().into_string() else {
                    continue;
                };
                // An upload being created has no upload.json yet.
                if let Some(upload) = read_json::<Upload>(&entry.path().join(UPLOAD_FILE))?
                    && upload.bucket == input.bucket
                    && upload.key.starts_with(prefix)
                {
                    uploads.push((upload_id, upload));
                }
            }
        }
        uploads.sort_by(|(a_id, a), (b_id, b)| (&a.key, a.initiated_ms, a_id).cmp(&(&b.key, b.initiated_ms, b_id)));
        let start = match (&input.key_marker, &input.upload_id_marker) {
            (None, _) => 0,
            (Some(key), Some(id)) => match uploads.iter().position(|(i, u)| &u.key == key && i == id) {
                Some(at) => at + 1,
                None => uploads.partition_point(|(_, u)| &u.key < key),
            },
            (Some(key), None) => uploads.partition_point(|(_, u)| &u.key <= key),
        };
        let mut listed: Vec<(String, Upload)> = uploads.into_iter().skip(start).collect();
        let shown = usize::try_from(max_uploads).unwrap_or(0);
        let is_truncated = listed.len() > shown;
        listed.truncate(shown);
        let (next_key_marker, next_upload_id_marker) = match listed.last() {
            Some((id, upload)) if is_truncated => (Some(upload.key.clone()), Some(id.clone())),
            _ => (None, None),
        };
        let uploads = listed
            .into_iter()
            .map(|(upload_id, upload)| MultipartUpload {
                key: Some(upload.key),
                upload_id: Some(upload_id),
                initiated: Some(timestamp(upload.initiated_ms)),
                checksum_algorithm: upload.checksum_algorithm.map(ChecksumAlgorithm::from),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            next_key_marker,
            next_upload_id_marker,
            max_uploads: Some(max_uploads),
            is_truncated: Some(is_truncated),
            uploads: Some(uploads),
            ..Default::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ranges_are_first_and_last_byte_inclusive_within_the_object() {
        assert_eq!(copy_span(None, 10).ok(), Some(0..10));
        assert_eq!(copy_span(Some("bytes=0-9"), 10).ok(), Some(0..10));
        assert_eq!(copy_span(Some("bytes=3-3"), 10).ok(), Some(3..4));
        for refused in ["bytes=0-10", "bytes=5-4", "bytes=-5", "bytes=5-", "0-5", "bytes=a-b"] {
            assert!(copy_span(Some(refused), 10).is_err(), "{refused}");
        }
    }

    #[test]
    fn upload_ids_look_like_uuids_and_differ() {
        let (a, b) = (new_upload_id(), new_upload_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
        assert_eq!(a.matches('-').count(), 4);
    }
}
