//! How a file is cut into parts, and its hashing: the whole file's SHA-256 (the upload's
//! `file_hash`) and, in the same read, each part's (so the part URLs can sign them and S3
//! itself refuses a part whose bytes are not the ones hashed). The CLI picks the part size
//! itself, before creating the upload, for that reason: parts the server cut would only be
//! known after the file was read once already.

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

pub const MIB: u64 = 1 << 20;
/// S3's most parts in one upload.
const MAX_PARTS: u64 = 10_000;
/// The largest single PUT S3 takes: larger files must be multipart.
pub const MAX_SINGLE_PUT: u64 = 5 << 30;
/// Parts when `--part-size` does not say: few enough requests for a large file, small
/// enough that a retried part costs little (S3's floor is 5 MiB).
const DEFAULT_PART_SIZE: u64 = 8 * MIB;
const READ: usize = 4 << 20;

/// A file of `size` bytes in `part_count` parts of `part_size` (the last may be shorter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub size: u64,
    pub part_size: u64,
    pub part_count: u32,
}

impl Plan {
    /// The CLI's choice: `requested` (or 8 MiB), raised to the whole number of MiB that keeps
    /// the file within S3's 10 000 parts. The server still checks its floor and ceiling.
    pub fn choose(size: u64, requested: Option<u64>) -> Self {
        let fewest = size.div_ceil(MAX_PARTS).div_ceil(MIB).saturating_mul(MIB);
        let part_size = requested.unwrap_or(DEFAULT_PART_SIZE).max(fewest).max(1);
        Self {
            size,
            part_size,
            part_count: u32::try_from(size.div_ceil(part_size)).unwrap_or(u32::MAX),
        }
    }

    /// The plan an upload's record states, checked against the file's size.
    pub fn of(size: u64, part_size: u64, part_count: u64) -> Result<Self, String> {
        if part_size == 0 || size.div_ceil(part_size) != part_count {
            return Err(format!(
                "{part_count} parts of {part_size} bytes do not cut a file of {size} bytes"
            ));
        }
        Ok(Self {
            size,
            part_size,
            part_count: u32::try_from(part_count).map_err(|_| format!("{part_count} parts"))?,
        })
    }

    /// Where part `number` (1-based) starts and how long it is; `None` past the last.
    pub fn range(&self, number: u32) -> Option<(u64, u64)> {
        if number == 0 || number > self.part_count {
            return None;
        }
        let start = u64::from(number - 1) * self.part_size;
        Some((start, self.part_size.min(self.size - start)))
    }

    /// The part numbers, 1 to `part_count`.
    pub fn numbers(&self) -> std::ops::RangeInclusive<u32> {
        1..=self.part_count
    }
}

/// A file as read: its size and SHA-256 (hex), and its parts' when it was read in parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub size: u64,
    pub sha256: String,
    /// Part `n`'s SHA-256 (hex) at `n - 1`.
    pub parts: Vec<String>,
}

/// Reads the file once: its SHA-256 and, given a part size, each part's. The parts are
/// hashed on a second thread, a read behind the whole file's hash, so that hashing twice
/// costs (on two cores) about what hashing once does.
pub fn hash_file(path: &Path, part_size: Option<u64>) -> std::io::Result<Digests> {
    let mut file = std::fs::File::open(path)?;
    let Some(part_size) = part_size else {
        let mut whole = Sha256::new();
        let mut buf = vec![0; READ];
        let mut size = 0u64;
        loop {
            match file.read(&mut buf)? {
                0 => break,
                n => {
                    whole.update(&buf[..n]);
                    size += n as u64;
                }
            }
        }
        return Ok(Digests {
            size,
            sha256: hex::encode(whole.finalize()),
            parts: Vec::new(),
        });
    };
    std::thread::scope(|scope| {
        // Buffers go to the part hasher full and come back empty: at most BUFFERS reads
        // of the file in memory, none allocated after the first few.
        const BUFFERS: usize = 3;
        let (full, to_hash) = std::sync::mpsc::sync_channel::<(Vec<u8>, usize)>(BUFFERS);
        let (give_back, returned) = std::sync::mpsc::channel::<Vec<u8>>();
        let hasher = scope.spawn(move || {
            let mut parts = PartHasher::new(part_size);
            for (buf, n) in to_hash {
                parts.update(&buf[..n]);
                // The reader may have stopped (an error): the buffer is then dropped.
                let _ = give_back.send(buf);
            }
            parts.finish()
        });
        let mut whole = Sha256::new();
        let mut size = 0u64;
        let mut allocated = 0;
        loop {
            let mut buf = match returned.try_recv() {
                Ok(buf) => buf,
                Err(_) if allocated < BUFFERS => {
                    allocated += 1;
                    vec![0; READ]
                }
                Err(_) => returned
                    .recv()
                    .map_err(|_| std::io::Error::other("the part hasher stopped"))?,
            };
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            whole.update(&buf[..n]);
            size += n as u64;
            full.send((buf, n))
                .map_err(|_| std::io::Error::other("the part hasher stopped"))?;
        }
        drop(full);
        let parts = hasher
            .join()
            .map_err(|_| std::io::Error::other("the part hasher panicked"))?;
        Ok(Digests {
            size,
            sha256: hex::encode(whole.finalize()),
            parts,
        })
    })
}

/// Each part's SHA-256, from the file's bytes in order, cut every `part_size` bytes.
struct PartHasher {
    part_size: u64,
    hasher: Sha256,
    in_part: u64,
    parts: Vec<String>,
}

impl PartHasher {
    fn new(part_size: u64) -> Self {
        Self {
            part_size,
            hasher: Sha256::new(),
            in_part: 0,
            parts: Vec::new(),
        }
    }

    fn update(&mut self, mut block: &[u8]) {
        while !block.is_empty() {
            // At most `block.len()`, so it fits in usize.
            let take = (self.part_size - self.in_part).min(block.len() as u64) as usize;
            self.hasher.update(&block[..take]);
            self.in_part += take as u64;
            block = &block[take..];
            if self.in_part == self.part_size {
                self.parts.push(hex::encode(self.hasher.finalize_reset()));
                self.in_part = 0;
            }
        }
    }

    fn finish(mut self) -> Vec<String> {
        if self.in_part > 0 {
            self.parts.push(hex::encode(self.hasher.finalize()));
        }
        self.parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_picks_eight_mib_or_what_ten_thousand_parts_need() {
        let plan = Plan::choose(100 * MIB + 1, None);
        assert_eq!((plan.part_size, plan.part_count), (8 * MIB, 13));
        assert_eq!(plan.range(13), Some((96 * MIB, 4 * MIB + 1)));
        assert_eq!(plan.range(14), None);
        assert_eq!(plan.range(0), None);
        // 200 GiB: 8 MiB parts would be 25 600; 21 MiB parts are 9 753.
        let plan = Plan::choose(200 << 30, None);
        assert_eq!((plan.part_size, plan.part_count), (21 * MIB, 9753));
        // A size asked for is kept when it fits, raised when it does not.
        assert_eq!(Plan::choose(7 * MIB + 3, Some(MIB)).part_count, 8);
        assert_eq!(Plan::choose(20 << 30, Some(MIB)).part_size, 3 * MIB);
        // The largest object: 525 MiB parts.
        let plan = Plan::choose(5 << 40, None);
        assert_eq!(plan.part_size, 525 * MIB);
        assert!(u64::from(plan.part_count) <= MAX_PARTS);
    }

    #[test]
    fn a_records_plan_must_cut_the_file() {
        assert!(Plan::of(10, 4, 3).is_ok());
        assert!(Plan::of(10, 4, 2).is_err());
        assert!(Plan::of(10, 0, 0).is_err());
    }

    #[test]
    fn parts_are_hashed_in_the_same_read() {
        let dir = std::env::temp_dir().join(format!("uploads-cli-parts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.bin");
        // Parts that do not divide the read size, and one that spans two reads.
        let bytes: Vec<u8> = (0..(READ * 2 + 17)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let part_size = 3 * MIB + 5;
        let digests = hash_file(&path, Some(part_size)).unwrap();
        let expected: Vec<String> = bytes
            .chunks(part_size as usize)
            .map(|c| hex::encode(Sha256::digest(c)))
            .collect();
        assert_eq!(digests.parts, expected);
        assert_eq!(digests.sha256, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(digests.size, bytes.len() as u64);
        assert!(hash_file(&path, None).unwrap().parts.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
