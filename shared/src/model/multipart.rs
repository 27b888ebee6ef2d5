//! Multipart uploads (our extension): a file cut into parts that are PUT in parallel, each to
//! its own presigned URL, into one S3 multipart upload at the upload's staging key; confirm
//! completes it. How a file is cut is decided here, without I/O.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const MIB: u64 = 1024 * 1024;

/// S3's smallest part (every part but the last); a test-only setting may lower the local one.
pub const MIN_PART_SIZE_BYTES: u64 = 5 * MIB;
/// S3's largest part.
pub const MAX_PART_SIZE_BYTES: u64 = 5 * 1024 * MIB;
/// S3's most parts in one upload.
pub const MAX_PARTS: u64 = 10_000;
/// The largest object S3 stores (and that a bucket's maximum may be set to).
pub const MAX_OBJECT_SIZE_BYTES: u64 = 5 * 1024 * 1024 * MIB;
/// The largest single PUT S3 accepts: larger files must be multipart.
pub const MAX_SINGLE_PUT_BYTES: u64 = 5 * 1024 * MIB;
/// The most part URLs one answer carries (create, or one request of the parts endpoint
/// asks for up to [`MAX_PARTS_PER_REQUEST`]).
pub const PART_URLS_IN_CREATE: u32 = 100;
pub const MAX_PARTS_PER_REQUEST: usize = 1000;

/// An upload's S3 multipart upload, as stored with the upload and shown in its answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Multipart {
    /// S3's id of the multipart upload (every part URL carries it too).
    pub s3_upload_id: String,
    pub part_size_bytes: u64,
    pub part_count: u32,
    /// Part URLs, in the answer that asked for them (never stored).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartUrl>,
}

/// Where one part goes, and the headers its PUT must carry (the signature covers them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartUrl {
    pub part_number: u32,
    pub size_bytes: u64,
    pub url: String,
    pub headers: BTreeMap<String, String>,
}

/// A part S3 holds already.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedPart {
    pub part_number: u32,
    pub size_bytes: u64,
    pub etag: String,
}

/// How a file of `size` bytes is cut: the part size and the number of parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartPlan {
    pub part_size_bytes: u64,
    pub part_count: u32,
}

impl PartPlan {
    /// The plan for `size` bytes with parts of `requested` bytes or, without, the smallest
    /// whole number of MiB (at least `floor`) that needs no more than [`MAX_PARTS`] parts.
    pub fn new(size: u64, requested: Option<u64>, floor: u64) -> Result<Self, String> {
        if size == 0 || size > MAX_OBJECT_SIZE_BYTES {
            return Err(format!("a multipart upload holds 1 to {MAX_OBJECT_SIZE_BYTES} bytes"));
        }
        let part_size_bytes = match requested {
            Some(part) if part < floor || part > MAX_PART_SIZE_BYTES => {
                return Err(format!(
                    "part_size_bytes must be between {floor} and {MAX_PART_SIZE_BYTES}"
                ));
            }
            Some(part) => part,
            None => size.div_ceil(MAX_PARTS).div_ceil(MIB).saturating_mul(MIB).max(floor),
        };
        let count = size.div_ceil(part_size_bytes);
        if count > MAX_PARTS {
            return Err(format!(
                "parts of {part_size_bytes} bytes cut this file into {count} parts; S3 takes at most {MAX_PARTS}"
            ));
        }
        Ok(Self {
            part_size_bytes,
            part_count: u32::try_from(count).map_err(|_| "too many parts".to_owned())?,
        })
    }

    /// The plan an upload's record holds.
    pub fn of(multipart: &Multipart) -> Self {
        Self {
            part_size_bytes: multipart.part_size_bytes,
            part_count: multipart.part_count,
        }
    }

    /// The size of part `number` (1-based) of a file of `size` bytes; `None` past the last.
    pub fn part_size(&self, size: u64, number: u32) -> Option<u64> {
        if number == 0 || number > self.part_count {
            return None;
        }
        let start = u64::from(number - 1) * self.part_size_bytes;
        Some(self.part_size_bytes.min(size.saturating_sub(start)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_parts_are_the_floor_until_ten_thousand_would_not_do() {
        let plan = PartPlan::new(23 * MIB, None, MIB).unwrap();
        assert_eq!((plan.part_size_bytes, plan.part_count), (MIB, 23));
        let plan = PartPlan::new(23 * MIB + 1, None, MIB).unwrap();
        assert_eq!(plan.part_count, 24);
        assert_eq!(plan.part_size(23 * MIB + 1, 24), Some(1));
        assert_eq!(plan.part_size(23 * MIB + 1, 25), None);
        assert_eq!(plan.part_size(23 * MIB + 1, 0), None);
        let plan = PartPlan::new(MAX_OBJECT_SIZE_BYTES, None, MIN_PART_SIZE_BYTES).unwrap();
        assert!(plan.part_count <= 10_000, "{plan:?}");
        assert_eq!(plan.part_size_bytes % MIB, 0);
        assert_eq!(plan.part_size_bytes, 525 * MIB);
        let plan = PartPlan::new(6 * MIB, None, MIN_PART_SIZE_BYTES).unwrap();
        assert_eq!((plan.part_size_bytes, plan.part_count), (5 * MIB, 2));
    }

    #[test]
    fn a_requested_part_size_is_kept_within_s3s_limits() {
        assert_eq!(PartPlan::new(10 * MIB, Some(2 * MIB), MIB).unwrap().part_count, 5);
        assert!(PartPlan::new(10 * MIB, Some(MIB - 1), MIB).is_err());
        assert!(PartPlan::new(10 * MIB, Some(MAX_PART_SIZE_BYTES + 1), MIB).is_err());
        assert!(PartPlan::new(20_001 * MIB, Some(2 * MIB), MIB).is_err(), "10 001 parts");
        assert!(PartPlan::new(MAX_OBJECT_SIZE_BYTES + 1, None, MIB).is_err());
    }
}
