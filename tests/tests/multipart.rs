//! Multipart uploads (our extension) against the local stack: parts PUT in parallel to their
//! presigned URLs, confirmation joining them, the worker moving and hashing objects larger
//! than one copy across several runs (make test lowers the part floor to 1 MiB, one copy to
//! 16 MiB and a worker run to 16 MiB, see scripts/test.sh), wrong parts refused by the S3
//! server itself, and delete and expiry aborting the S3 multipart upload.

use api_tests::{Tenant, expect_error, expect_json, expect_validation, http, sha256_hex};
use bucket_uploads::ids::{TaskId, UploadId};
use bucket_uploads::model::{Upload, UploadStatus};
use futures::StreamExt;
use md5::{Digest, Md5};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const MIB: usize = 1024 * 1024;

fn file(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + usize::from(seed) * 7) % 253) as u8)
        .collect()
}

/// S3's multipart ETag: the MD5 of the parts' MD5s, then `-` and the number of parts.
fn multipart_etag(bytes: &[u8], part_size: usize) -> String {
    let mut digests = Vec::new();
    let chunks: Vec<&[u8]> = bytes.chunks(part_size).collect();
    for chunk in &chunks {
        digests.extend_from_slice(&Md5::digest(chunk));
    }
    format!("{}-{}", hex::encode(Md5::digest(&digests)), chunks.len())
}

async fn create(tenant: &Tenant, body: Value) -> Value {
    let response = tenant
        .request(Method::POST, &tenant.uploads_path())
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_json(response, 200).await
}

fn multipart_body(name: &str, len: usize) -> Value {
    json!({
        "filename": name,
        "content_type": "application/octet-stream",
        "file_size_bytes": len,
        "multipart": true,
    })
}

/// PUTs one part to its URL with the headers the answer lists; the status and the ETag.
async fn put_part(part: &Value, bytes: Vec<u8>) -> (u16, Option<String>) {
    let mut request = http().put(part["url"].as_str().unwrap()).body(bytes);
    for (name, value) in part["headers"].as_object().unwrap() {
        if name != "Content-Length" {
            request = request.header(name, value.as_str().unwrap());
        }
    }
    let response = request.send().await.expect("PUT a part");
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (response.status().as_u16(), etag)
}

/// The slice of `bytes` that part `part` (an answer's entry) covers.
fn slice_of<'a>(bytes: &'a [u8], part: &Value, part_size: usize) -> &'a [u8] {
    let number = part["part_number"].as_u64().unwrap() as usize;
    let start = (number - 1) * part_size;
    let end = (start + part_size).min(bytes.len());
    assert_eq!(part["size_bytes"].as_u64().unwrap() as usize, end - start);
    &bytes[start..end]
}

/// PUTs every part listed, six at once.
async fn put_parts(parts: &[Value], bytes: &[u8], part_size: usize) {
    let statuses: Vec<(u16, Option<String>)> = futures::stream::iter(parts.iter())
        .map(|part| put_part(part, slice_of(bytes, part, part_size).to_vec()))
        .buffer_unordered(6)
        .collect()
        .await;
    assert!(statuses.iter().all(|(s, e)| *s == 200 && e.is_some()), "{statuses:?}");
}

async fn confirm(tenant: &Tenant, upload_id: &str, body: Value) -> reqwest::Response {
    tenant
        .request(Method::POST, &format!("{}/{upload_id}/confirm", tenant.uploads_path()))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn parts(tenant: &Tenant, upload_id: &str, body: Value) -> reqwest::Response {
    tenant
        .request(Method::POST, &format!("{}/{upload_id}/parts", tenant.uploads_path()))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn stored(tenant: &Tenant, upload_id: &str) -> Upload {
    let id = UploadId::parse(upload_id).unwrap();
    tenant.app.store.upload(&id).await.unwrap().expect("the upload")
}

/// Whether S3 still knows the upload's multipart upload.
async fn parts_held(tenant: &Tenant, upload: &Upload) -> Option<usize> {
    let multipart = upload.multipart.as_ref().expect("a multipart upload");
    tenant
        .app
        .objects
        .list_parts(&upload.staging_key(), &multipart.s3_upload_id)
        .await
        .unwrap()
        .map(|p| p.len())
}

/// Confirms and follows the task, when there is one, to the upload as it ends.
async fn confirmed(tenant: &Tenant, upload_id: &str, body: Value) -> (Value, Option<String>) {
    let answer = expect_json(confirm(tenant, upload_id, body).await, 200).await;
    let task_id = answer["task_id"].as_str().map(str::to_owned);
    if answer["status"] == "PROCESSING" {
        let task = tenant
            .wait_for_task(task_id.as_deref().unwrap(), Duration::from_secs(240))
            .await;
        assert_eq!(task["status"], "COMPLETED", "{task}");
    }
    let upload = expect_json(tenant.get_upload(upload_id, "").await, 200).await;
    (upload, task_id)
}

#[tokio::test]
async fn parallel_parts_confirm_to_the_whole_files_sha256_across_worker_runs() {
    let tenant = Tenant::new().await;
    // 23 MiB and a bit: 24 parts of 1 MiB; above one copy (16 MiB), so the worker moves it
    // in parts and hashes it, 16 MiB a run.
    let bytes = file(23 * MIB + 4321, 1);
    let created = create(&tenant, multipart_body("movie.bin", bytes.len())).await;
    assert_eq!(created["status"], "PENDING");
    assert_eq!(created["presigned_url"], Value::Null, "no single PUT URL");
    let multipart = &created["multipart"];
    assert_eq!(multipart["part_size_bytes"], MIB);
    assert_eq!(multipart["part_count"], 24);
    let urls = multipart["parts"].as_array().unwrap();
    assert_eq!(urls.len(), 24);
    assert_eq!(urls[23]["headers"]["Content-Length"], "4321");
    let upload_id = created["upload_id"].as_str().unwrap();
    put_parts(urls, &bytes, MIB).await;

    let (upload, task_id) = confirmed(&tenant, upload_id, Value::Null).await;
    assert_eq!(upload["status"], "COMPLETED", "{upload}");
    assert_eq!(upload["file_hash"], sha256_hex(&bytes));
    assert_eq!(upload["file_size_bytes"], bytes.len());
    assert_eq!(upload["etag"], multipart_etag(&bytes, MIB));
    assert_eq!(tenant.downloaded(upload_id).await, bytes);
    let task = tenant
        .app
        .store
        .task(&TaskId::parse(task_id.as_deref().expect("went to the worker")).unwrap())
        .await
        .unwrap()
        .unwrap();
    let runs = task.progress.map_or(0, |p| p.runs);
    assert!(
        runs >= 2,
        "copying and hashing 23 MiB at 16 MiB a run left work {runs} times"
    );
    // Nothing left behind: the staged object and the parts are gone.
    let record = stored(&tenant, upload_id).await;
    assert!(!tenant.app.objects.exists(&record.staging_key()).await.unwrap());

    // The same bytes again, without a declared hash: a duplicate once confirmed.
    let again = create(&tenant, multipart_body("copy.bin", bytes.len())).await;
    let again_id = again["upload_id"].as_str().unwrap();
    put_parts(again["multipart"]["parts"].as_array().unwrap(), &bytes, MIB).await;
    let (duplicate, _) = confirmed(&tenant, again_id, Value::Null).await;
    assert_eq!(duplicate["is_duplicate"], true, "{duplicate}");
    assert_eq!(duplicate["duplicate_of_upload_id"], upload_id);
    assert_eq!(duplicate["file_hash"], sha256_hex(&bytes));
}

#[tokio::test]
async fn a_small_multipart_upload_confirms_at_once_with_the_parts_the_client_sent() {
    let tenant = Tenant::new().await;
    let bytes = file(3 * MIB + 10, 2);
    let created = create(&tenant, multipart_body("small.bin", bytes.len())).await;
    let upload_id = created["upload_id"].as_str().unwrap();
    let urls = created["multipart"]["parts"].as_array().unwrap().clone();
    assert_eq!(urls.len(), 4);

    // Three of four parts: confirmation names the missing one and changes nothing.
    let mut sent = Vec::new();
    for part in &urls[..3] {
        let (status, etag) = put_part(part, slice_of(&bytes, part, MIB).to_vec()).await;
        assert_eq!(status, 200);
        sent.push(json!({"part_number": part["part_number"], "etag": etag.unwrap()}));
    }
    let missing = expect_error(confirm(&tenant, upload_id, Value::Null).await, 400, "BadRequestError").await;
    assert_eq!(missing["error"]["code"], "parts_not_uploaded", "{missing}");
    assert_eq!(missing["error"]["details"]["missing_parts"], json!([4]), "{missing}");
    assert_eq!(stored(&tenant, upload_id).await.status, UploadStatus::Pending);

    // Resuming: what S3 holds, then the last part.
    let listed = expect_json(parts(&tenant, upload_id, json!({"part_numbers": [4]})).await, 200).await;
    let held = listed["uploaded_parts"].as_array().unwrap();
    assert_eq!(held.len(), 3);
    for (part, sent) in held.iter().zip(&sent) {
        assert_eq!(part["size_bytes"], MIB);
        assert_eq!(
            part["etag"].as_str().unwrap(),
            sent["etag"].as_str().unwrap().trim_matches('"')
        );
    }
    let last = &listed["parts"][0];
    let (status, etag) = put_part(last, slice_of(&bytes, last, MIB).to_vec()).await;
    assert_eq!(status, 200);
    sent.push(json!({"part_number": 4, "etag": etag.unwrap()}));

    // A wrong ETag for a part is refused; the right ones complete it synchronously.
    let mut wrong = sent.clone();
    wrong[1]["etag"] = json!("\"00000000000000000000000000000000\"");
    let refused = expect_error(
        confirm(&tenant, upload_id, json!({"parts": wrong})).await,
        400,
        "BadRequestError",
    )
    .await;
    assert_eq!(refused["error"]["code"], "invalid_parts", "{refused}");
    let answer = expect_json(confirm(&tenant, upload_id, json!({"parts": sent})).await, 200).await;
    assert_eq!(answer["status"], "COMPLETED", "{answer}");
    assert_eq!(answer["file_hash"], sha256_hex(&bytes));
    assert_eq!(answer["etag"], multipart_etag(&bytes, MIB));
    assert_eq!(tenant.downloaded(upload_id).await, bytes);
}

#[tokio::test]
async fn the_s3_server_refuses_a_part_with_other_bytes() {
    let tenant = Tenant::new().await;
    let bytes = file(2 * MIB, 3);
    let created = create(&tenant, multipart_body("checked.bin", bytes.len())).await;
    let upload_id = created["upload_id"].as_str().unwrap();
    let first = &bytes[..MIB];
    let asked = json!({"part_numbers": [1], "checksums_sha256": [sha256_hex(first)]});
    let answer = expect_json(parts(&tenant, upload_id, asked).await, 200).await;
    let part = &answer["parts"][0];
    assert!(part["headers"]["x-amz-checksum-sha256"].is_string(), "{part}");

    let mut other = first.to_vec();
    other[1000] ^= 1;
    assert_eq!(put_part(part, other).await.0, 400, "other bytes of the same length");
    assert_eq!(put_part(part, first[..MIB - 1].to_vec()).await.0, 403, "another length");
    let held = expect_json(parts(&tenant, upload_id, json!({})).await, 200).await;
    assert_eq!(held["uploaded_parts"], json!([]), "nothing refused was kept");
    assert_eq!(put_part(part, first.to_vec()).await.0, 200);
    // A part URL without the digest signs only the length: S3 refuses other lengths.
    let plain = &created["multipart"]["parts"][1];
    assert_eq!(put_part(plain, bytes[MIB..].to_vec()).await.0, 200);
    let (upload, _) = confirmed(&tenant, upload_id, Value::Null).await;
    assert_eq!(upload["file_hash"], sha256_hex(&bytes));
}

#[tokio::test]
async fn delete_and_expiry_abort_the_multipart_upload() {
    let tenant = Tenant::new().await;
    let bytes = file(2 * MIB, 4);
    for how in ["delete", "expiry"] {
        let created = create(&tenant, multipart_body("gone.bin", bytes.len())).await;
        let upload_id = created["upload_id"].as_str().unwrap();
        let part = &created["multipart"]["parts"][0];
        assert_eq!(put_part(part, bytes[..MIB].to_vec()).await.0, 200);
        let upload = stored(&tenant, upload_id).await;
        assert_eq!(parts_held(&tenant, &upload).await, Some(1));
        match how {
            "delete" => {
                let path = format!("{}/{upload_id}", tenant.uploads_path());
                let response = tenant.request(Method::DELETE, &path).send().await.unwrap();
                assert!(response.status().is_success(), "{}", response.status());
            }
            _ => bucket_uploads::expiry::forget(&tenant.app, &upload).await.unwrap(),
        }
        assert_eq!(
            parts_held(&tenant, &upload).await,
            None,
            "{how} aborts the multipart upload"
        );
        assert_eq!(
            put_part(part, bytes[..MIB].to_vec()).await.0,
            404,
            "{how}: no more parts"
        );
    }
}

#[tokio::test]
async fn urls_beyond_the_first_hundred_come_from_the_parts_endpoint() {
    let tenant = Tenant::new().await;
    let size = 150 * MIB + 1;
    let created = create(&tenant, multipart_body("long.bin", size)).await;
    let upload_id = created["upload_id"].as_str().unwrap();
    assert_eq!(created["multipart"]["part_count"], 151);
    assert_eq!(created["multipart"]["parts"].as_array().unwrap().len(), 100);
    assert!(created["message"].as_str().unwrap().contains("/parts"));
    // The quota holds the declared size while it is pending.
    assert_eq!(tenant.usage().await.bytes_reserved, size as u64);
    // As the CLI asks for them, through the client the CLI and these tests share.
    let client = uploads_client::Api::new(uploads_client::Target {
        api_url: api_tests::api_url(),
        api_key: tenant.api_key.clone(),
        namespace: tenant.namespace.name.clone(),
        bucket: tenant.bucket.name.clone(),
    })
    .unwrap();
    let numbers: Vec<u32> = (101..=151).collect();
    let answer = client
        .parts(upload_id, &json!({"part_numbers": numbers}))
        .await
        .unwrap();
    let urls = answer["parts"].as_array().unwrap();
    assert_eq!(urls.len(), 51);
    assert_eq!(urls[50]["part_number"], 151);
    assert_eq!(urls[50]["size_bytes"], 1);
    assert_eq!(answer["uploaded_parts"], json!([]));
}

#[tokio::test]
async fn multipart_requests_are_validated() {
    let tenant = Tenant::with_max_file_size(Some(10 << 30)).await;
    tenant
        .set_quota(bucket_uploads::quota::QuotaOverride {
            max_file_size_bytes: Some(10 << 30),
            ..Default::default()
        })
        .await;
    let base = json!({"filename": "a.bin", "content_type": "application/octet-stream"});
    let with = |extra: Value| {
        let mut body = base.clone();
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    for (body, field) in [
        (with(json!({"multipart": true})), "file_size_bytes"),
        (with(json!({"file_size_bytes": 6u64 << 30})), "multipart"),
        (
            with(json!({"file_size_bytes": 10, "part_size_bytes": MIB})),
            "part_size_bytes",
        ),
        (
            with(json!({"file_size_bytes": 10 * MIB, "multipart": true, "part_size_bytes": 1000})),
            "part_size_bytes",
        ),
    ] {
        let response = tenant
            .request(Method::POST, &tenant.uploads_path())
            .json(&body)
            .send()
            .await
            .unwrap();
        let locs = expect_validation(response).await;
        assert!(locs.contains(&json!(["body", field])), "{body}: {locs:?}");
    }
    // Above 5 GiB, multipart works.
    let big = create(&tenant, multipart_body("big.bin", 6 << 30)).await;
    // make test's 1 MiB floor: 6 GiB in 6 144 parts of 1 MiB.
    assert_eq!(big["multipart"]["part_count"], 6144, "{}", big["multipart"]);

    let batch = json!({"uploads": [multipart_body("b.bin", 10)]});
    let response = tenant
        .request(Method::POST, &format!("{}/batch", tenant.uploads_path()))
        .json(&batch)
        .send()
        .await
        .unwrap();
    let locs = expect_validation(response).await;
    assert!(locs.contains(&json!(["body", "uploads", 0, "multipart"])), "{locs:?}");

    let single = create(&tenant, with(json!({"file_size_bytes": 10}))).await;
    let single_id = single["upload_id"].as_str().unwrap();
    let locs = expect_validation(parts(&tenant, single_id, json!({"part_numbers": [1]})).await).await;
    assert!(locs.contains(&json!(["path", "upload_id"])), "{locs:?}");
    let multi = create(&tenant, multipart_body("m.bin", 3 * MIB)).await;
    let multi_id = multi["upload_id"].as_str().unwrap();
    let locs = expect_validation(parts(&tenant, multi_id, json!({"part_numbers": [4]})).await).await;
    assert!(locs.contains(&json!(["body", "part_numbers", 0])), "{locs:?}");
}
