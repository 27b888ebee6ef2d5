//! Moving an object's bytes at the speed of the disk: large buffers, and each hash on its own
//! thread fed the same chunks as the file, so nothing is read twice and the slowest hash
//! (MD5, for the ETag) sets the pace rather than the sum of all of them.

use base64::Engine;
use bytes::{Bytes, BytesMut};
use futures::{Stream, TryStreamExt};
use md5::Md5;
use s3s::checksum::ChecksumHasher;
use s3s::dto::{Checksum, StreamingBlob};
use s3s::{S3Result, s3_error};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

use crate::object_files::io_failure;

/// The size of the chunks written, hashed and sent.
const CHUNK: usize = 1 << 20;
/// Chunks buffered ahead of the slowest consumer.
const AHEAD: usize = 8;

/// A received body's MD5 (hex: S3's ETag of a single-part object), SHA-256 (base64) and
/// the other checksums asked for (base64).
pub struct Received {
    pub md5_hex: String,
    pub sha256_base64: Option<String>,
    pub others: Checksum,
}

/// Runs `each` on every chunk sent to `chunks`, on a blocking thread; gives `state` back.
fn consume<S: Send + 'static>(
    mut chunks: mpsc::Receiver<Bytes>,
    mut state: S,
    each: fn(&mut S, &[u8]) -> std::io::Result<()>,
) -> tokio::task::JoinHandle<std::io::Result<S>> {
    tokio::task::spawn_blocking(move || {
        while let Some(chunk) = chunks.blocking_recv() {
            each(&mut state, &chunk)?;
        }
        Ok(state)
    })
}

fn hash<D: Digest>(digest: &mut D, chunk: &[u8]) -> std::io::Result<()> {
    digest.update(chunk);
    Ok(())
}

/// Streams `body` into the file at `path`, computing its MD5 and, when asked, its SHA-256
/// on the way.
pub async fn receive(body: StreamingBlob, path: &Path, with_sha256: bool) -> S3Result<Received> {
    receive_checked(body, path, with_sha256, None).await
}

/// [`receive`], with the checksums `others` is set up for computed too (on one more thread).
pub async fn receive_checked(
    body: StreamingBlob,
    path: &Path,
    with_sha256: bool,
    others: Option<ChecksumHasher>,
) -> S3Result<Received> {
    let file = std::fs::File::create(path).map_err(io_failure)?;
    let mut senders = Vec::new();
    let mut channel = || {
        let (tx, rx) = mpsc::channel::<Bytes>(AHEAD);
        senders.push(tx);
        rx
    };
    let writer = consume(channel(), file, |file, chunk| file.write_all(chunk));
    let md5 = consume(channel(), Md5::new(), hash);
    let sha256 = with_sha256.then(|| consume(channel(), Sha256::new(), hash));
    let others = others.map(|hasher| {
        consume(channel(), hasher, |hasher, chunk| {
            hasher.update(chunk);
            Ok(())
        })
    });

    let fed = feed(body, &senders).await;
    drop(senders);
    let written = join(writer).await;
    let md5 = join(md5).await;
    let sha256 = match sha256 {
        Some(consumer) => Some(join(consumer).await?),
        None => None,
    };
    let others = match others {
        Some(consumer) => join(consumer).await?.finalize(),
        None => Checksum::default(),
    };
    fed?;
    written?;
    Ok(Received {
        md5_hex: hex::encode(md5?.finalize()),
        sha256_base64: sha256.map(|d| base64::engine::general_purpose::STANDARD.encode(d.finalize())),
        others,
    })
}

/// Sends the body to every consumer in chunks of `CHUNK` bytes.
async fn feed(mut body: StreamingBlob, consumers: &[mpsc::Sender<Bytes>]) -> S3Result<()> {
    let mut pending = BytesMut::with_capacity(CHUNK);
    loop {
        let next = body
            .try_next()
            .await
            .map_err(|e| s3_error!(IncompleteBody, "failed to read the request body: {e}"))?;
        let done = next.is_none();
        if let Some(bytes) = next {
            pending.extend_from_slice(&bytes);
        }
        if pending.len() >= CHUNK || (done && !pending.is_empty()) {
            let chunk = std::mem::replace(&mut pending, BytesMut::with_capacity(CHUNK)).freeze();
            for consumer in consumers {
                // A consumer that stopped failed; its error is reported when it is joined.
                if consumer.send(chunk.clone()).await.is_err() {
                    return Ok(());
                }
            }
        }
        if done {
            return Ok(());
        }
    }
}

async fn join<S>(consumer: tokio::task::JoinHandle<std::io::Result<S>>) -> S3Result<S> {
    consumer
        .await
        .map_err(|e| s3_error!(InternalError, "a consumer failed: {e}"))?
        .map_err(io_failure)
}

/// Copies the file `from` to `to` (the kernel copies), computing the SHA-256 of `from`
/// at the same time on another thread when asked.
pub async fn copy(from: PathBuf, to: PathBuf, with_sha256: bool) -> S3Result<Option<String>> {
    let hashing = with_sha256.then(|| {
        let from = from.clone();
        tokio::task::spawn_blocking(move || sha256_of_file(&from))
    });
    let copying = tokio::task::spawn_blocking(move || std::fs::copy(from, to));
    let copied = copying
        .await
        .map_err(|e| s3_error!(InternalError, "copy failed: {e}"))?;
    let sha256 = match hashing {
        Some(hashing) => Some(
            hashing
                .await
                .map_err(|e| s3_error!(InternalError, "hashing failed: {e}"))?
                .map_err(io_failure)?,
        ),
        None => None,
    };
    copied.map_err(io_failure)?;
    Ok(sha256.map(|d| base64::engine::general_purpose::STANDARD.encode(d)))
}

/// Writes the files `parts` one after the other to `to` (the kernel copies).
pub async fn concatenate(parts: Vec<PathBuf>, to: PathBuf) -> S3Result<()> {
    let writing = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut whole = std::fs::File::create(to)?;
        for part in parts {
            std::io::copy(&mut std::fs::File::open(part)?, &mut whole)?;
        }
        Ok(())
    });
    writing
        .await
        .map_err(|e| s3_error!(InternalError, "concatenation failed: {e}"))?
        .map_err(io_failure)
}

fn sha256_of_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0; 4 * CHUNK];
    let mut hasher = Sha256::new();
    loop {
        match file.read(&mut buf)? {
            0 => return Ok(hasher.finalize().to_vec()),
            n => hasher.update(&buf[..n]),
        }
    }
}

/// `len` bytes of the file at `path` from `start`, in chunks of `CHUNK` bytes.
pub fn stream_file(
    path: &Path,
    start: u64,
    len: u64,
) -> std::io::Result<impl Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static> {
    let mut file = std::fs::File::open(path)?;
    file.seek(std::io::SeekFrom::Start(start))?;
    let file = tokio::fs::File::from_std(file);
    Ok(tokio_util::io::ReaderStream::with_capacity(
        tokio::io::AsyncReadExt::take(file, len),
        CHUNK,
    ))
}
