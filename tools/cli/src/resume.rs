//! `uploads resume UPLOAD_ID FILE`: finishes a multipart upload that a `put` (or another
//! client) left half sent. The file must be the one the upload was created for (its size,
//! and its SHA-256 when the upload declared one); only the parts S3 does not hold (or holds
//! at another size) are sent, then every part's ETag is confirmed.

use crate::multipart::{HeldPart, Parts, confirm_body, stated_plan};
use crate::parts::hash_file;
use crate::put::{Outcome, confirm, progress_bar};
use indicatif::MultiProgress;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use uploads_client::Api;

pub async fn resume(
    api: &Api,
    upload_id: &str,
    path: &Path,
    wait: bool,
    parallel: usize,
    bars: &MultiProgress,
) -> Result<Outcome, String> {
    let name = path.display().to_string();
    let upload = api.get_upload(upload_id).await.map_err(|e| e.to_string())?;
    let status = upload["status"].as_str().unwrap_or_default();
    if status != "PENDING" {
        return Err(format!("upload {upload_id} is {status}: there is nothing to resume"));
    }
    let size = std::fs::metadata(path).map_err(|e| format!("{name}: {e}"))?.len();
    let declared = upload["file_size_bytes"].as_u64();
    let plan = match stated_plan(&upload, size) {
        None => {
            return Err(format!(
                "upload {upload_id} is not multipart: it has no parts to resume (`uploads put` sends the file again)"
            ));
        }
        _ if declared != Some(size) => {
            return Err(format!(
                "{name} has {size} bytes, but upload {upload_id} was created for {}: not the same file",
                declared.map_or_else(|| "an undeclared size".to_owned(), |n| format!("{n} bytes"))
            ));
        }
        Some(plan) => plan.map_err(|e| format!("upload {upload_id}: {e}"))?,
    };
    let digests = hash_file(path, Some(plan.part_size)).map_err(|e| format!("{name}: {e}"))?;
    if digests.size != size {
        return Err(format!("{name}: changed while it was read"));
    }
    if let Some(declared) = upload["file_hash"].as_str()
        && !declared.eq_ignore_ascii_case(&digests.sha256)
    {
        return Err(format!(
            "{name}'s SHA-256 is {}, but upload {upload_id} was created for {declared}: not the same file",
            digests.sha256
        ));
    }

    let listed = api
        .parts(upload_id, &json!({"part_numbers": []}))
        .await
        .map_err(|e| format!("upload {upload_id}: the parts S3 holds: {e}"))?;
    let uploaded: Vec<HeldPart> = serde_json::from_value(listed["uploaded_parts"].clone())
        .map_err(|e| format!("upload {upload_id}: the parts S3 holds: an answer not understood: {e}"))?;
    // Parts held at the plan's size are kept; a part at another size is sent again.
    let held: BTreeMap<u32, HeldPart> = uploaded
        .into_iter()
        .filter(|p| plan.range(p.part_number).map(|(_, length)| length) == Some(p.size_bytes))
        .map(|p| (p.part_number, p))
        .collect();
    let missing: Vec<u32> = plan.numbers().filter(|n| !held.contains_key(n)).collect();

    let parts = Parts {
        api,
        upload_id,
        path,
        plan,
        checksums: &digests.parts,
        parallel,
    };
    let filename = path
        .file_name()
        .map_or_else(|| name.clone(), |n| n.to_string_lossy().into_owned());
    let bar = bars.add(progress_bar(&filename, size));
    bar.set_position(held.values().map(|p| p.size_bytes).sum());
    let sent = parts.send(&missing, &bar).await;
    bar.finish_and_clear();
    let sent = sent.map_err(|e| format!("{name}: upload {upload_id}: {e}"))?;
    let all: Vec<HeldPart> = held.into_values().chain(sent).collect();
    let outcome = confirm(api, &name, upload_id, Some(&confirm_body(all)), wait).await?;
    let Outcome::Done { name, upload, .. } = outcome else {
        return Ok(outcome);
    };
    // Bytes S3 held from before are this file's only if the whole object hashes the same
    // (an upload created without file_hash declares nothing the API could check).
    if upload["status"] == "COMPLETED" && upload["file_hash"] != Value::String(digests.sha256.clone()) {
        return Err(format!(
            "{name}: upload {upload_id} completed with SHA-256 {}, not the file's {}: the parts S3 held were other bytes",
            upload["file_hash"], digests.sha256
        ));
    }
    Ok(Outcome::Done {
        name,
        upload,
        note: Some(format!("resumed: sent {} of {} parts", missing.len(), plan.part_count)),
    })
}
