//! Where s3s-fs 0.14 keeps an object, so that this server can write objects itself (streamed,
//! hashed while written) and s3s-fs still reads, lists and deletes them:
//!
//! - the bytes at `root/bucket/key`;
//! - the object's attributes (content type, user metadata, …) at
//!   `root/.bucket-{b64(bucket)}.object-{b64(key)}.metadata.json`;
//! - its ETag and checksums at `root/.bucket-….object-….internal.json`, a JSON map with
//!   `e_tag` and `checksum_sha256`;
//!
//! every file written to a temporary file under the root and renamed into place. The temporary
//! files are named so that s3s-fs's start-up clean-up (`.tmp.*.internal.part`) removes any a
//! crash left behind. A test (`tests/tests/local_s3.rs`) reads what this writes through
//! s3s-fs's own HEAD, GET and list, so a change of layout in s3s-fs fails it.

use base64::Engine;
use s3s::dto::{Metadata, Timestamp, TimestampFormat};
use s3s::{S3Result, s3_error};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Layout {
    root: PathBuf,
    temp_files: AtomicU64,
}

/// s3s-fs's `ObjectAttributes`, field for field (its JSON is the metadata file). A multipart
/// upload keeps them from its creation to its completion.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Attributes {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_metadata: Option<Metadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website_redirect_location: Option<String>,
}

impl Attributes {
    /// `Expires` as s3s-fs stores it.
    pub fn expires_from(expires: Option<Timestamp>) -> Option<String> {
        let mut buf = Vec::new();
        expires?.format(TimestampFormat::DateTime, &mut buf).ok()?;
        String::from_utf8(buf).ok()
    }
}

/// What s3s-fs keeps in the internal file: the ETag (an MD5 in hex) and the SHA-256 checksum.
#[derive(Debug, serde::Serialize)]
pub struct InternalInfo<'a> {
    pub e_tag: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_sha256: Option<&'a str>,
}

fn encoded(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name)
}

impl Layout {
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            temp_files: AtomicU64::new(0),
        }
    }

    /// The directory that holds the buckets.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn bucket_exists(&self, bucket: &str) -> bool {
        Self::contained(Path::new(bucket)) && self.root.join(bucket).is_dir()
    }

    /// The object's file; refused when the key would leave its bucket's directory.
    pub fn object(&self, bucket: &str, key: &str) -> S3Result<PathBuf> {
        let relative = Path::new(bucket).join(key);
        if !Self::contained(&relative) || key.ends_with('/') {
            return Err(s3_error!(InvalidArgument, "this server cannot store the key {key:?}"));
        }
        Ok(self.root.join(relative))
    }

    pub fn metadata(&self, bucket: &str, key: &str) -> PathBuf {
        let name = format!(".bucket-{}.object-{}.metadata.json", encoded(bucket), encoded(key));
        self.root.join(name)
    }

    pub fn internal_info(&self, bucket: &str, key: &str) -> PathBuf {
        let name = format!(".bucket-{}.object-{}.internal.json", encoded(bucket), encoded(key));
        self.root.join(name)
    }

    /// A fresh temporary file's path, on the objects' file system (so renames are atomic).
    pub fn temp_file(&self) -> TempFile {
        let n = self.temp_files.fetch_add(1, Ordering::Relaxed);
        TempFile(
            self.root
                .join(format!(".tmp.local-s3-{}-{n}.internal.part", std::process::id())),
        )
    }

    /// Writes `value` as JSON to `dest` through a temporary file.
    pub fn write_json(&self, dest: &Path, value: &impl serde::Serialize) -> S3Result<()> {
        let json = serde_json::to_vec(value).map_err(|e| s3_error!(InternalError, "{e}"))?;
        let temp = self.temp_file();
        std::fs::write(temp.path(), json).map_err(io_failure)?;
        temp.install(dest)
    }

    fn contained(relative: &Path) -> bool {
        relative.components().all(|c| matches!(c, Component::Normal(_)))
    }
}

/// A temporary file, removed unless it was installed.
pub struct TempFile(PathBuf);

impl TempFile {
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Moves the file to `dest`, creating the directories the key names.
    pub fn install(self, dest: &Path) -> S3Result<()> {
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(io_failure)?;
        }
        std::fs::rename(&self.0, dest).map_err(io_failure)
    }

    /// Moves the file to `dest` in a directory that must exist (and is not created again
    /// should it have been removed meanwhile).
    pub fn move_to(self, dest: &Path) -> S3Result<()> {
        std::fs::rename(&self.0, dest).map_err(io_failure)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // After `install` the path names nothing, and this does nothing.
        let _ = std::fs::remove_file(&self.0);
    }
}

pub fn io_failure(err: std::io::Error) -> s3s::S3Error {
    s3_error!(InternalError, "file system: {err}")
}
