//! Multipart uploads (the API's extension), as `put` and `resume` send them: part URLs asked
//! for in pages of 1000, each signing its part's SHA-256 (S3 refuses other bytes); the parts
//! PUT `--parallel` at a time, each streamed from its offset in the file (never more than a
//! read buffer of it in memory) and retried on its own, with a fresh URL when S3 says its
//! URL expired; then confirmation listing every part's ETag, which the API checks against
//! what S3 holds.

use crate::parts::Plan;
use crate::put::{
    Outcome, Parted, Prepared, PutOptions, backoff, chunks_of, confirm, nothing_transferred, progress_bar,
};
use futures::{StreamExt, TryStreamExt};
use indicatif::{MultiProgress, ProgressBar};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use uploads_client::{Api, CallError};

/// The most part numbers one request of the parts endpoint takes.
const URLS_PER_REQUEST: usize = 1000;

/// Where one part goes, and the headers its PUT carries (the signature covers them).
#[derive(Debug, Clone, Deserialize)]
pub struct PartUrl {
    pub part_number: u32,
    pub size_bytes: u64,
    pub url: String,
    pub headers: BTreeMap<String, String>,
}

/// A part S3 holds: what confirmation lists.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HeldPart {
    pub part_number: u32,
    #[serde(default)]
    pub size_bytes: u64,
    pub etag: String,
}

/// One upload's parts, as this file cuts them.
pub struct Parts<'a> {
    pub api: &'a Api,
    pub upload_id: &'a str,
    pub path: &'a Path,
    pub plan: Plan,
    /// Part `n`'s SHA-256 (hex) at `n - 1`.
    pub checksums: &'a [String],
    pub parallel: usize,
}

impl Parts<'_> {
    /// PUTs the parts `numbers`, advancing `bar` by their bytes: their ETags, in no order.
    /// Stops at the first part that fails for good (the others in flight are dropped).
    pub async fn send(&self, numbers: &[u32], bar: &ProgressBar) -> Result<Vec<HeldPart>, String> {
        // Pages are asked for as the PUTs reach them, not all up front.
        let urls = futures::stream::iter(numbers.chunks(URLS_PER_REQUEST))
            .then(|page| self.urls(page))
            .flat_map(|page| {
                let items: Vec<Result<PartUrl, String>> = match page {
                    Ok(urls) => urls.into_iter().map(Ok).collect(),
                    Err(message) => vec![Err(message)],
                };
                futures::stream::iter(items)
            });
        urls.map(|url| async move { self.put(url?, bar).await })
            .buffer_unordered(self.parallel.max(1))
            .try_collect()
            .await
    }

    /// URLs for `numbers` (at most 1000), each signing its part's length and SHA-256.
    async fn urls(&self, numbers: &[u32]) -> Result<Vec<PartUrl>, String> {
        let checksums = numbers
            .iter()
            .map(|n| {
                let i = usize::try_from(n.saturating_sub(1)).unwrap_or(usize::MAX);
                self.checksums.get(i).ok_or_else(|| format!("part {n}: not hashed"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let body = json!({"part_numbers": numbers, "checksums_sha256": checksums});
        let mut answer = retried(|| self.api.parts(self.upload_id, &body))
            .await
            .map_err(|e| format!("part URLs: {e}"))?;
        let urls: Vec<PartUrl> = serde_json::from_value(answer["parts"].take())
            .map_err(|e| format!("part URLs: an answer not understood: {e}"))?;
        let as_asked = urls.len() == numbers.len()
            && urls.iter().zip(numbers).all(|(url, n)| {
                let length = self.plan.range(*n).map(|(_, length)| length);
                url.part_number == *n
                    && Some(url.size_bytes) == length
                    && url
                        .headers
                        .get("Content-Length")
                        .is_none_or(|v| v.parse::<u64>().ok() == length)
            });
        if !as_asked {
            return Err(format!(
                "part URLs: the API's parts are not this file's {} parts of {} bytes",
                self.plan.part_count, self.plan.part_size
            ));
        }
        Ok(urls)
    }

    /// One part, retried with backoff on a dropped connection or a 5xx/429, and sent to a
    /// fresh URL (once) when S3 says its URL expired.
    async fn put(&self, mut url: PartUrl, bar: &ProgressBar) -> Result<HeldPart, String> {
        let number = url.part_number;
        let (offset, length) = self
            .plan
            .range(number)
            .ok_or_else(|| format!("part {number}: not a part of this file"))?;
        let mut attempt = 0;
        let mut renewed = false;
        loop {
            let counted = Arc::new(AtomicU64::new(0));
            let err = match self.send_part(&url, offset, length, bar, &counted).await {
                Ok(etag) => {
                    return Ok(HeldPart {
                        part_number: number,
                        size_bytes: length,
                        etag,
                    });
                }
                Err(err) => err,
            };
            // This attempt's bytes are sent again.
            bar.dec(counted.load(Ordering::Relaxed));
            if expired(&err) && !renewed {
                renewed = true;
                url = self
                    .urls(&[number])
                    .await?
                    .into_iter()
                    .next()
                    .ok_or_else(|| format!("part {number}: no fresh URL"))?;
            } else if err.is_transient() && attempt + 1 < crate::put::PUT_ATTEMPTS {
                attempt += 1;
                tokio::time::sleep(backoff(attempt)).await;
            } else {
                return Err(format!("part {number}: {err}"));
            }
        }
    }

    /// PUTs the part's bytes, read from its offset as they are sent: S3's ETag for them.
    async fn send_part(
        &self,
        url: &PartUrl,
        offset: u64,
        length: u64,
        bar: &ProgressBar,
        counted: &Arc<AtomicU64>,
    ) -> Result<String, CallError> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let io = |e: std::io::Error| CallError::Transport(format!("{}: {e}", self.path.display()));
        let mut file = tokio::fs::File::open(self.path).await.map_err(io)?;
        file.seek(std::io::SeekFrom::Start(offset)).await.map_err(io)?;
        let (bar, counter) = (bar.clone(), counted.clone());
        let stream = chunks_of(file.take(length)).map(move |chunk| {
            if let Ok(bytes) = &chunk {
                bar.inc(bytes.len() as u64);
                counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            chunk
        });
        // Exactly the headers listed: Content-Length (the part's size) and the SHA-256.
        let mut request = self.api.http().put(&url.url);
        for (name, value) in &url.headers {
            request = request.header(name, value);
        }
        let response = request
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let status = response.status();
        let etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if status.is_success() {
            return etag.ok_or_else(|| CallError::Transport("S3 answered without an ETag".to_owned()));
        }
        let text = response.text().await.unwrap_or_default();
        Err(CallError::Refused {
            status,
            message: format!("S3 refused the part: {text}"),
            body: Value::String(text),
        })
    }
}

/// S3's answer to a URL past its time (or signed by credentials that since expired).
fn expired(err: &CallError) -> bool {
    matches!(err, CallError::Refused { status, body: Value::String(text), .. }
        if status.as_u16() == 403 && text.to_ascii_lowercase().contains("expired"))
}

/// An API call tried again with backoff while the service throttles or is unavailable.
async fn retried<F, Fut>(mut call: F) -> Result<Value, CallError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Value, CallError>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(err) if err.is_transient() && attempt + 1 < crate::put::PUT_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(backoff(attempt)).await;
            }
            result => return result,
        }
    }
}

/// The plan an upload's record states (`multipart.part_size_bytes`, `part_count`).
pub fn stated_plan(upload: &Value, size: u64) -> Option<Result<Plan, String>> {
    let multipart = upload.get("multipart").filter(|m| m.is_object())?;
    Some(
        match (multipart["part_size_bytes"].as_u64(), multipart["part_count"].as_u64()) {
            (Some(part_size), Some(part_count)) => Plan::of(size, part_size, part_count),
            _ => Err(format!("a multipart record not understood: {multipart}")),
        },
    )
}

/// Confirmation's body: every part's number and ETag, in order.
pub fn confirm_body(mut parts: Vec<HeldPart>) -> Value {
    parts.sort_by_key(|p| p.part_number);
    let listed: Vec<Value> = parts
        .iter()
        .map(|p| json!({"part_number": p.part_number, "etag": p.etag}))
        .collect();
    json!({ "parts": listed })
}

/// `uploads put` of a file above the threshold: created multipart (with the part size the
/// CLI chose), every part sent, then confirmed with their ETags.
pub async fn put(
    api: &Api,
    file: &Prepared,
    parted: &Parted,
    options: &PutOptions,
    bars: &MultiProgress,
) -> Result<Outcome, String> {
    let name = &file.name;
    let created = api
        .create_upload(&file.body)
        .await
        .map_err(|e| format!("{name}: create: {e}"))?;
    if created["status"] == "COMPLETED" {
        return Ok(Outcome::Done {
            name: name.clone(),
            upload: created,
            note: nothing_transferred(),
        });
    }
    let upload_id = created["upload_id"]
        .as_str()
        .ok_or_else(|| format!("{name}: create: an answer without upload_id: {created}"))?;
    match stated_plan(&created, file.size) {
        Some(Ok(plan)) if plan == parted.plan => {}
        Some(Err(message)) => return Err(format!("{name}: create: {message}")),
        _ => {
            return Err(format!(
                "{name}: create: the API did not start a multipart upload of {} parts of {} bytes: {}",
                parted.plan.part_count, parted.plan.part_size, created["multipart"]
            ));
        }
    }
    let parts = Parts {
        api,
        upload_id,
        path: &file.path,
        plan: parted.plan,
        checksums: &parted.checksums,
        parallel: options.parallel,
    };
    let bar = bars.add(progress_bar(&file.filename, file.size));
    let numbers: Vec<u32> = parted.plan.numbers().collect();
    let sent = parts.send(&numbers, &bar).await;
    bar.finish_and_clear();
    let sent = sent.map_err(|e| {
        format!(
            "{name}: upload {upload_id}: {e} (`uploads resume {upload_id} {name}` sends the parts S3 does not hold)"
        )
    })?;
    confirm(api, name, upload_id, Some(&confirm_body(sent)), options.wait).await
}
