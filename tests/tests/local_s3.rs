//! The development S3 server (`tools/local-s3`) behaves like S3 where the API and its tests
//! lean on it: a read racing a write of the same key sees the object before or after the
//! write, never an error (S3's reads are atomic; s3s-fs writes an object's file and its
//! metadata one after the other). Objects it streams to disk itself (PUT, CopyObject) are
//! what s3s-fs's own HEAD, GET and list report, with S3's ETag and checksum, and a refused
//! PUT leaves neither bytes nor temporary files behind. Multipart uploads answer, check and
//! name their objects as S3 does, whoever signs the parts.

use api_tests::{Tenant, put, sha256_base64, sha256_hex};
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, MetadataDirective};
use bucket_uploads::objects::PutRequirements;
use rand::{RngCore, SeedableRng};
use std::time::Duration;

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}

fn unique_key(prefix: &str) -> String {
    format!(
        "{prefix}/{}/a key+with spaces.bin",
        bucket_uploads::ids::TaskId::generate()
    )
}

async fn get_range(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, range: Option<&str>) -> Vec<u8> {
    let got = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_range(range.map(str::to_owned))
        .send()
        .await
        .unwrap_or_else(|err| panic!("GET {key} {range:?}: {err:?}"));
    got.body.collect().await.expect("the body").into_bytes().to_vec()
}

/// Temporary files the server's own writes leave in its root (`LOCAL_S3_ROOT`), once the
/// writes under way (other tests') are done.
async fn leftover_temporary_files() -> Vec<String> {
    let root = std::env::var("LOCAL_S3_ROOT").expect("LOCAL_S3_ROOT (make test sets it)");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let names: Vec<String> = std::fs::read_dir(&root)
            .expect("the server's root")
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.starts_with(".tmp.local-s3-"))
            .collect();
        if names.is_empty() || tokio::time::Instant::now() > deadline {
            return names;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// PUTs `bytes` to `key` through a presigned URL that signs `content_type`, the length and
/// the SHA-256 `claimed` (of `bytes`, or of other bytes); returns the status.
async fn put_presigned(tenant: &Tenant, key: &str, content_type: &str, bytes: Vec<u8>, claimed: &[u8]) -> u16 {
    let sha256 = sha256_hex(claimed);
    let needs = PutRequirements {
        content_type,
        content_length: Some(bytes.len() as u64),
        sha256_hex: Some(&sha256),
    };
    let url = tenant
        .app
        .objects
        .presign_put(key, &needs, Duration::from_secs(60))
        .await
        .expect("a URL")
        .url;
    let headers = [
        ("content-type", content_type),
        ("x-amz-checksum-sha256", &sha256_base64(claimed)),
    ];
    put(&url, &headers, bytes).await
}

#[tokio::test]
async fn a_streamed_put_is_what_head_get_and_list_report() {
    let tenant = Tenant::new().await;
    let (s3, bucket) = (tenant.app.objects.client(), tenant.app.objects.bucket());
    let key = unique_key("streamed");
    // Several of the server's 1 MiB chunks, and a partial one.
    let bytes = random_bytes((5 << 20) + 12_345, 1);
    assert_eq!(
        put_presigned(&tenant, &key, "video/mp4", bytes.clone(), &bytes).await,
        200
    );

    let head = s3
        .head_object()
        .bucket(bucket)
        .key(&key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.content_length(), Some(bytes.len() as i64));
    assert_eq!(head.e_tag(), Some(format!("\"{}\"", md5_hex(&bytes)).as_str()));
    assert_eq!(head.checksum_sha256(), Some(sha256_base64(&bytes).as_str()));
    assert_eq!(head.content_type(), Some("video/mp4"));

    assert!(get_range(s3, bucket, &key, None).await == bytes, "GET gave other bytes");
    let slice = get_range(s3, bucket, &key, Some("bytes=1048570-3145740")).await;
    assert!(slice == bytes[1_048_570..=3_145_740], "a ranged GET gave other bytes");
    let tail = get_range(s3, bucket, &key, Some("bytes=-100")).await;
    assert!(tail == bytes[bytes.len() - 100..], "a suffix range gave other bytes");

    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&key)
        .send()
        .await
        .expect("list");
    let sizes: Vec<(Option<&str>, Option<i64>)> = listed.contents().iter().map(|o| (o.key(), o.size())).collect();
    assert_eq!(sizes, [(Some(key.as_str()), Some(bytes.len() as i64))]);
}

#[tokio::test]
async fn a_put_refused_for_its_checksum_keeps_the_object_and_leaves_no_temporary_file() {
    let tenant = Tenant::new().await;
    let (s3, bucket) = (tenant.app.objects.client(), tenant.app.objects.bucket());
    let key = unique_key("refused");
    let first = random_bytes(3 << 20, 2);
    api_tests::put_directly(&tenant.app, &key, first.clone()).await;

    let other = random_bytes(first.len(), 3);
    assert_eq!(
        put_presigned(&tenant, &key, "application/octet-stream", other, &first).await,
        400,
        "other bytes than the checksum's"
    );

    assert!(
        get_range(s3, bucket, &key, None).await == first,
        "the refused PUT replaced the object"
    );
    assert_eq!(leftover_temporary_files().await, Vec::<String>::new());
}

#[tokio::test]
async fn a_copy_keeps_the_etag_and_attributes_and_reports_the_sha256() {
    let tenant = Tenant::new().await;
    let (s3, bucket) = (tenant.app.objects.client(), tenant.app.objects.bucket());
    let (from, to) = (unique_key("copy-from"), unique_key("copy-to"));
    let bytes = random_bytes((3 << 20) + 7, 4);
    s3.put_object()
        .bucket(bucket)
        .key(&from)
        .content_type("image/png")
        .metadata("origin", "test")
        .body(ByteStream::from(bytes.clone()))
        .send()
        .await
        .expect("the source");
    let source_etag = format!("\"{}\"", md5_hex(&bytes));
    let copy = |to: String, condition: Option<&'static str>| {
        s3.copy_object()
            .bucket(bucket)
            .key(to)
            .copy_source(format!("{bucket}/{}", from.replace(' ', "%20").replace('+', "%2B")))
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .set_copy_source_if_match(condition.map(str::to_owned))
            .customize()
            .mutate_request(|req| {
                req.headers_mut()
                    .insert("if-none-match", http::HeaderValue::from_static("*"));
            })
            .send()
    };

    let copied = copy(to.clone(), None).await.expect("the copy");
    let result = copied.copy_object_result().expect("a result");
    assert_eq!(result.e_tag(), Some(source_etag.as_str()));
    assert_eq!(result.checksum_sha256(), Some(sha256_base64(&bytes).as_str()));
    let head = s3
        .head_object()
        .bucket(bucket)
        .key(&to)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("HEAD of the copy");
    assert_eq!(head.e_tag(), Some(source_etag.as_str()));
    assert_eq!(head.checksum_sha256(), Some(sha256_base64(&bytes).as_str()));
    assert_eq!(head.content_type(), Some("image/png"));
    assert_eq!(
        head.metadata().and_then(|m| m.get("origin")).map(String::as_str),
        Some("test")
    );
    assert!(
        get_range(s3, bucket, &to, None).await == bytes,
        "the copy holds other bytes"
    );

    let again = copy(to.clone(), None).await.expect_err("the destination exists");
    assert_eq!(
        again.as_service_error().and_then(|e| e.meta().code()),
        Some("PreconditionFailed")
    );
    let stale = copy(unique_key("copy-stale"), Some("\"0123\""))
        .await
        .expect_err("another ETag");
    assert_eq!(
        stale.as_service_error().and_then(|e| e.meta().code()),
        Some("PreconditionFailed")
    );

    let replaced = unique_key("copy-replaced");
    s3.copy_object()
        .bucket(bucket)
        .key(&replaced)
        .copy_source(format!("{bucket}/{}", from.replace(' ', "%20").replace('+', "%2B")))
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/plain")
        .send()
        .await
        .expect("a copy with new attributes");
    let head = s3
        .head_object()
        .bucket(bucket)
        .key(&replaced)
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(head.metadata().and_then(|m| m.get("origin")), None);
    assert_eq!(head.e_tag(), Some(source_etag.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_racing_writes_of_one_key_never_fail() {
    let tenant = Tenant::new().await;
    // Retries would hide a failed read: every answer counts.
    let config = tenant
        .app
        .objects
        .client()
        .config()
        .to_builder()
        .retry_config(RetryConfig::disabled())
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(config);
    let bucket = tenant.app.objects.bucket().to_owned();
    let key = format!("race/{}", bucket_uploads::ids::TaskId::generate());
    let versions: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 64 * 1024 + usize::from(i)]).collect();
    let put = |bytes: Vec<u8>| {
        s3.put_object()
            .bucket(&bucket)
            .key(&key)
            .body(ByteStream::from(bytes))
            .send()
    };
    put(versions[0].clone()).await.expect("the first version");

    let writer = {
        let versions = versions.clone();
        async move {
            for bytes in versions {
                put(bytes).await.expect("a write");
            }
        }
    };
    let reader = |reader: usize| {
        let (s3, bucket, key, versions) = (s3.clone(), bucket.clone(), key.clone(), versions.clone());
        async move {
            let mut failures = Vec::new();
            for _ in 0..60 {
                match s3.head_object().bucket(&bucket).key(&key).send().await {
                    Ok(head) => {
                        let length = head.content_length().unwrap_or(-1);
                        if !versions.iter().any(|v| i64::try_from(v.len()) == Ok(length)) {
                            failures.push(format!("reader {reader}: HEAD length {length}"));
                        }
                    }
                    Err(err) => failures.push(format!("reader {reader}: HEAD {err:?}")),
                }
                match s3.get_object().bucket(&bucket).key(&key).send().await {
                    Ok(got) => match got.body.collect().await.map(|b| b.into_bytes()) {
                        Ok(bytes) if versions.iter().any(|v| v.as_slice() == bytes.as_ref()) => {}
                        Ok(_) => failures.push(format!("reader {reader}: GET mixed two versions")),
                        Err(err) => failures.push(format!("reader {reader}: GET body {err:?}")),
                    },
                    Err(err) => failures.push(format!("reader {reader}: GET {err:?}")),
                }
            }
            failures
        }
    };
    let (_, a, b, c) = tokio::join!(writer, reader(1), reader(2), reader(3));
    let failures: Vec<String> = [a, b, c].concat();
    assert!(
        failures.is_empty(),
        "{} failed reads, first: {:?}",
        failures.len(),
        failures.first()
    );
}

/// The template's CORS rule for the bucket, as AWS would apply it.
fn template_cors_rule() -> serde_norway::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let template: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(path).expect("template.yaml")).expect("YAML");
    let buckets: Vec<&serde_norway::Value> = template["Resources"]
        .as_mapping()
        .expect("Resources")
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::S3::Bucket"))
        .collect();
    assert_eq!(buckets.len(), 1, "one bucket in the template");
    buckets[0]["Properties"]["CorsConfiguration"]["CorsRules"][0].clone()
}

fn joined(list: &serde_norway::Value) -> String {
    let items: Vec<&str> = list
        .as_sequence()
        .expect("a list")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    items.join(", ")
}

/// A browser's preflight and PUT to a presigned URL get the answers the template's CORS rule
/// gives in AWS: the server reads that rule, and this test compares against it.
#[tokio::test]
async fn browsers_meet_the_templates_cors_rule() {
    let tenant = Tenant::new().await;
    let rule = template_cors_rule();
    let key = unique_key("cors");
    let bytes = random_bytes(1000, 7);
    let sha256 = sha256_hex(&bytes);
    let needs = PutRequirements {
        content_type: "text/plain",
        content_length: Some(bytes.len() as u64),
        sha256_hex: Some(&sha256),
    };
    let url = tenant
        .app
        .objects
        .presign_put(&key, &needs, Duration::from_secs(60))
        .await
        .expect("a URL")
        .url;
    let origin = "http://localhost:5173";
    let preflight = |method: &'static str| {
        api_tests::http()
            .request(reqwest::Method::OPTIONS, &url)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", method)
            .header("Access-Control-Request-Headers", "content-type, x-amz-checksum-sha256")
            .send()
    };
    let allowed = preflight("PUT").await.expect("a preflight");
    assert_eq!(allowed.status(), 200);
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header(&allowed, "access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(
        header(&allowed, "access-control-allow-methods"),
        Some(joined(&rule["AllowedMethods"]))
    );
    assert_eq!(
        header(&allowed, "access-control-allow-headers").as_deref(),
        Some("content-type, x-amz-checksum-sha256")
    );
    assert_eq!(
        header(&allowed, "access-control-max-age"),
        rule["MaxAge"].as_u64().map(|n| n.to_string())
    );
    let refused = preflight("DELETE").await.expect("a preflight");
    assert_eq!(refused.status(), 403, "the rule allows no DELETE");

    let put = api_tests::http()
        .put(&url)
        .header("Origin", origin)
        .header("content-type", "text/plain")
        .header("x-amz-checksum-sha256", sha256_base64(&bytes))
        .body(bytes)
        .send()
        .await
        .expect("a PUT");
    assert_eq!(put.status(), 200);
    assert_eq!(header(&put, "access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(
        header(&put, "access-control-expose-headers"),
        Some(joined(&rule["ExposedHeaders"])),
        "a browser reads the ETag only when it is exposed"
    );
}

// Multipart uploads (`tools/local-s3/src/multipart.rs`): S3's answers, checks and ETags, with
// the parts as small as the running server's `--min-part-size` allows.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

/// The smallest part but the last the running server accepts: `LOCAL_S3_MIN_PART_SIZE`
/// when the harness sets it, otherwise S3's own.
fn min_part_size() -> usize {
    std::env::var("LOCAL_S3_MIN_PART_SIZE")
        .ok()
        .map(|n| n.parse().expect("LOCAL_S3_MIN_PART_SIZE is a number of bytes"))
        .unwrap_or(5 << 20)
}

fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<String> {
    err.as_service_error().and_then(|e| e.code()).map(str::to_owned)
}

/// S3's ETag of a multipart object: the MD5 of the parts' binary MD5s, `-`, the part count.
fn multipart_etag(parts: &[&[u8]]) -> String {
    use md5::Digest;
    let md5s: Vec<u8> = parts.iter().flat_map(|part| md5::Md5::digest(part).to_vec()).collect();
    format!("\"{}-{}\"", md5_hex(&md5s), parts.len())
}

fn quoted_md5(bytes: &[u8]) -> String {
    format!("\"{}\"", md5_hex(bytes))
}

/// Where the server keeps an upload in progress.
fn upload_dir(upload_id: &str) -> std::path::PathBuf {
    let root = std::env::var("LOCAL_S3_ROOT").expect("LOCAL_S3_ROOT (make test sets it)");
    std::path::Path::new(&root).join(".multipart").join(upload_id)
}

async fn create_multipart(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    let created = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type("video/mp4")
        .metadata("origin", "multipart")
        .send()
        .await
        .expect("CreateMultipartUpload");
    assert_eq!(created.bucket(), Some(bucket));
    assert_eq!(created.key(), Some(key));
    created.upload_id().expect("an upload id").to_owned()
}

/// Uploads a part with the SDK (which adds its CRC32) and returns its ETag.
async fn upload_part(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    number: i32,
    bytes: &[u8],
) -> String {
    s3.upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(number)
        .body(ByteStream::from(bytes.to_vec()))
        .send()
        .await
        .unwrap_or_else(|err| panic!("UploadPart {number}: {err:?}"))
        .e_tag()
        .expect("an ETag")
        .to_owned()
}

fn completed(parts: &[(i32, &str)]) -> CompletedMultipartUpload {
    let parts = parts
        .iter()
        .map(|(number, etag)| CompletedPart::builder().part_number(*number).e_tag(*etag).build())
        .collect();
    CompletedMultipartUpload::builder().set_parts(Some(parts)).build()
}

/// Part numbers, sizes and ETags as ListParts reports them.
async fn listed_parts(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Vec<(Option<i32>, Option<i64>, Option<String>)> {
    let listed = s3
        .list_parts()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .send()
        .await
        .expect("ListParts");
    listed
        .parts()
        .iter()
        .map(|p| (p.part_number(), p.size(), p.e_tag().map(str::to_owned)))
        .collect()
}

#[tokio::test]
async fn a_multipart_upload_completes_with_s3s_etag_and_the_parts_bytes() {
    let app = api_tests::app().await;
    let (s3, bucket) = (app.objects.client(), app.objects.bucket());
    let key = unique_key("multipart");
    let size = min_part_size();
    let parts = [random_bytes(size, 10), random_bytes(size, 11), random_bytes(12_345, 12)];
    let upload_id = create_multipart(s3, bucket, &key).await;

    // Out of order, as parallel clients send them.
    let mut etags = Vec::new();
    for number in [3, 1, 2] {
        let bytes = &parts[number as usize - 1];
        let etag = upload_part(s3, bucket, &key, &upload_id, number, bytes).await;
        assert_eq!(etag, quoted_md5(bytes), "part {number}'s ETag is its MD5");
        etags.push((number, etag));
    }
    etags.sort();

    let expected: Vec<_> = parts
        .iter()
        .zip(1..)
        .map(|(bytes, number)| (Some(number), Some(bytes.len() as i64), Some(quoted_md5(bytes))))
        .collect();
    assert_eq!(listed_parts(s3, bucket, &key, &upload_id).await, expected);
    let page = s3
        .list_parts()
        .bucket(bucket)
        .key(&key)
        .upload_id(&upload_id)
        .max_parts(2)
        .send()
        .await
        .expect("a page of parts");
    assert_eq!(page.parts().len(), 2);
    assert_eq!(page.is_truncated(), Some(true));
    assert_eq!(page.next_part_number_marker(), Some("2"));
    let rest = s3
        .list_parts()
        .bucket(bucket)
        .key(&key)
        .upload_id(&upload_id)
        .part_number_marker("2")
        .send()
        .await
        .expect("the next page");
    let numbers: Vec<Option<i32>> = rest.parts().iter().map(|p| p.part_number()).collect();
    assert_eq!(numbers, [Some(3)]);
    assert_eq!(rest.is_truncated(), Some(false));

    let listed = s3
        .list_multipart_uploads()
        .bucket(bucket)
        .prefix(&key)
        .send()
        .await
        .expect("ListMultipartUploads");
    let uploads: Vec<(Option<&str>, Option<&str>)> =
        listed.uploads().iter().map(|u| (u.key(), u.upload_id())).collect();
    assert_eq!(uploads, [(Some(key.as_str()), Some(upload_id.as_str()))]);

    let etag_refs: Vec<(i32, &str)> = etags.iter().map(|(n, e)| (*n, e.as_str())).collect();
    let done = s3
        .complete_multipart_upload()
        .bucket(bucket)
        .key(&key)
        .upload_id(&upload_id)
        .multipart_upload(completed(&etag_refs))
        .send()
        .await
        .expect("CompleteMultipartUpload");
    let whole_etag = multipart_etag(&[&parts[0], &parts[1], &parts[2]]);
    assert_eq!(done.e_tag(), Some(whole_etag.as_str()));
    assert_eq!(done.key(), Some(key.as_str()));

    let head = s3
        .head_object()
        .bucket(bucket)
        .key(&key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("HEAD");
    let whole = parts.concat();
    assert_eq!(head.e_tag(), Some(whole_etag.as_str()));
    assert_eq!(head.content_length(), Some(whole.len() as i64));
    assert_eq!(
        head.checksum_sha256(),
        None,
        "S3 keeps no whole-object SHA-256 for multipart"
    );
    assert_eq!(head.content_type(), Some("video/mp4"));
    assert_eq!(
        head.metadata().and_then(|m| m.get("origin")).map(String::as_str),
        Some("multipart")
    );
    assert!(get_range(s3, bucket, &key, None).await == whole, "GET gave other bytes");

    let gone = s3
        .list_parts()
        .bucket(bucket)
        .key(&key)
        .upload_id(&upload_id)
        .send()
        .await
        .expect_err("a completed upload is gone");
    assert_eq!(error_code(&gone).as_deref(), Some("NoSuchUpload"));
    let again = s3
        .complete_multipart_upload()
        .bucket(bucket)
        .key(&key)
        .upload_id(&upload_id)
        .multipart_upload(completed(&etag_refs))
        .send()
        .await
        .expect_err("a completed upload completes once");
    assert_eq!(error_code(&again).as_deref(), Some("NoSuchUpload"));
    assert!(!upload_dir(&upload_id).exists(), "the upload's files were left behind");
}

#[tokio::test]
async fn a_part_refused_for_its_checksum_keeps_the_earlier_part() {
    let app = api_tests::app().await;
    let (s3, bucket) = (app.objects.client(), app.objects.bucket());
    let key = unique_key("multipart-checksum");
    let upload_id = create_multipart(s3, bucket, &key).await;
    let good = random_bytes(100_000, 20);
    let good_etag = upload_part(s3, bucket, &key, &upload_id, 1, &good).await;
    let before = listed_parts(s3, bucket, &key, &upload_id).await;

    let other = random_bytes(good.len(), 21);
    let refused = s3
        .upload_part()
        .bucket(bucket)
        .key(&key)
        .upload_id(&upload_id)
        .part_number(1)
        .checksum_sha256(sha256_base64(&good))
        .body(ByteStream::from(other))
        .send()
        .await
        .expect_err("other bytes than the checksum's");
    assert_eq!(error_code(&refused).as_deref(), Some("BadDigest"));
    assert_eq!(listed_parts(s3, bucket, &key, &upload_id).await, before);
    assert_eq!(before[0].2.as_deref(), Some(good_etag.as_str()));
    assert_eq!(leftover_temporary_files().await, Vec::<String>::new());

    let checked = random_bytes(50_000, 22);
    let accepted = s3
        .upload_part()
        .bucket(bucket)
        .key(&key)
        .upload_id(&upload_id)
        .part_number(2)
        .checksum_sha256(sha256_base64(&checked))
        .body(ByteStream::from(checked.clone()))
        .send()
        .await
        .expect("a part with its checksum");
    assert_eq!(accepted.checksum_sha256(), Some(sha256_base64(&checked).as_str()));
    let listed = s3
        .list_parts()
        .bucket(bucket)
        .key(&key)
        .upload_id(&upload_id)
        .send()
        .await
        .expect("ListParts");
    let checksums: Vec<(Option<i32>, Option<&str>)> = listed
        .parts()
        .iter()
        .map(|p| (p.part_number(), p.checksum_sha256()))
        .collect();
    assert_eq!(
        checksums,
        [(Some(1), None), (Some(2), Some(sha256_base64(&checked).as_str()))]
    );
    s3.abort_multipart_upload()
        .bucket(bucket)
        .key(&key)
        .upload_id(&upload_id)
        .send()
        .await
        .expect("abort");
}

#[tokio::test]
async fn completion_refuses_wrong_etags_small_parts_and_an_existing_object_when_asked() {
    let app = api_tests::app().await;
    let (s3, bucket) = (app.objects.client(), app.objects.bucket());
    let key = unique_key("multipart-refusals");
    let upload_id = create_multipart(s3, bucket, &key).await;
    let small = random_bytes(1000, 30);
    let last = random_bytes(2000, 31);
    let small_etag = upload_part(s3, bucket, &key, &upload_id, 1, &small).await;
    let last_etag = upload_part(s3, bucket, &key, &upload_id, 2, &last).await;
    let complete = |parts: CompletedMultipartUpload, if_none_match: Option<&'static str>| {
        s3.complete_multipart_upload()
            .bucket(bucket)
            .key(&key)
            .upload_id(&upload_id)
            .multipart_upload(parts)
            .set_if_none_match(if_none_match.map(str::to_owned))
            .send()
    };

    let wrong = complete(
        completed(&[(1, small_etag.as_str()), (2, "\"0123456789abcdef0123456789abcdef\"")]),
        None,
    )
    .await
    .expect_err("another part's ETag");
    assert_eq!(error_code(&wrong).as_deref(), Some("InvalidPart"));
    let missing = complete(completed(&[(1, small_etag.as_str()), (3, last_etag.as_str())]), None)
        .await
        .expect_err("a part never uploaded");
    assert_eq!(error_code(&missing).as_deref(), Some("InvalidPart"));
    let unordered = complete(completed(&[(2, last_etag.as_str()), (1, small_etag.as_str())]), None)
        .await
        .expect_err("parts out of order");
    assert_eq!(error_code(&unordered).as_deref(), Some("InvalidPartOrder"));
    let too_small = complete(completed(&[(1, small_etag.as_str()), (2, last_etag.as_str())]), None)
        .await
        .expect_err("a part but the last below the minimum");
    assert_eq!(error_code(&too_small).as_deref(), Some("EntityTooSmall"));

    // A full-sized first part replaces the small one.
    let first = random_bytes(min_part_size(), 32);
    let first_etag = upload_part(s3, bucket, &key, &upload_id, 1, &first).await;
    api_tests::put_directly(&app, &key, b"already there".to_vec()).await;
    let parts = completed(&[(1, first_etag.as_str()), (2, last_etag.as_str())]);
    let exists = complete(parts.clone(), Some("*"))
        .await
        .expect_err("If-None-Match: * and an object at the key");
    assert_eq!(error_code(&exists).as_deref(), Some("PreconditionFailed"));
    assert_eq!(exists.raw_response().map(|r| r.status().as_u16()), Some(412));
    assert!(
        get_range(s3, bucket, &key, None).await == b"already there",
        "a refused completion replaced the object"
    );

    let done = complete(parts, None)
        .await
        .expect("the upload, completed after refusals");
    let whole_etag = multipart_etag(&[&first, &last]);
    assert_eq!(done.e_tag(), Some(whole_etag.as_str()));
    assert!(get_range(s3, bucket, &key, None).await == [first, last].concat());
}

#[tokio::test]
async fn an_aborted_upload_takes_no_more_parts_and_leaves_no_files() {
    let app = api_tests::app().await;
    let (s3, bucket) = (app.objects.client(), app.objects.bucket());
    let key = unique_key("multipart-abort");
    let upload_id = create_multipart(s3, bucket, &key).await;
    upload_part(s3, bucket, &key, &upload_id, 1, &random_bytes(10_000, 40)).await;
    assert!(upload_dir(&upload_id).is_dir(), "the server keeps uploads elsewhere");

    s3.abort_multipart_upload()
        .bucket(bucket)
        .key(&key)
        .upload_id(&upload_id)
        .send()
        .await
        .expect("abort");
    let late = s3
        .upload_part()
        .bucket(bucket)
        .key(&key)
        .upload_id(&upload_id)
        .part_number(2)
        .body(ByteStream::from(random_bytes(10_000, 41)))
        .send()
        .await
        .expect_err("a part of an aborted upload");
    assert_eq!(error_code(&late).as_deref(), Some("NoSuchUpload"));
    let again = s3
        .abort_multipart_upload()
        .bucket(bucket)
        .key(&key)
        .upload_id(&upload_id)
        .send()
        .await
        .expect_err("an upload aborts once");
    assert_eq!(error_code(&again).as_deref(), Some("NoSuchUpload"));
    assert!(
        !upload_dir(&upload_id).exists(),
        "the aborted upload's files were left behind"
    );
    assert_eq!(leftover_temporary_files().await, Vec::<String>::new());
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&key)
        .send()
        .await
        .expect("list");
    assert_eq!(listed.key_count(), Some(0), "an aborted upload made an object");
}

#[tokio::test]
async fn parts_copied_from_ranges_of_an_object_honour_the_source_etag() {
    let app = api_tests::app().await;
    let (s3, bucket) = (app.objects.client(), app.objects.bucket());
    let source_key = unique_key("multipart-source");
    let size = min_part_size();
    let source = random_bytes(size + 1000, 50);
    api_tests::put_directly(&app, &source_key, source.clone()).await;
    let copy_source = format!("{bucket}/{}", source_key.replace(' ', "%20").replace('+', "%2B"));
    let key = unique_key("multipart-copied");
    let upload_id = create_multipart(s3, bucket, &key).await;
    let copy = |number: i32, range: Option<String>, if_match: Option<String>| {
        s3.upload_part_copy()
            .bucket(bucket)
            .key(&key)
            .upload_id(&upload_id)
            .part_number(number)
            .copy_source(&copy_source)
            .set_copy_source_range(range)
            .set_copy_source_if_match(if_match)
            .send()
    };

    let stale = copy(1, None, Some("\"0123456789abcdef0123456789abcdef\"".to_owned()))
        .await
        .expect_err("another source ETag");
    assert_eq!(error_code(&stale).as_deref(), Some("PreconditionFailed"));
    assert_eq!(stale.raw_response().map(|r| r.status().as_u16()), Some(412));
    assert!(listed_parts(s3, bucket, &key, &upload_id).await.is_empty());

    let copied_etag = |copied: aws_sdk_s3::operation::upload_part_copy::UploadPartCopyOutput| {
        copied
            .copy_part_result()
            .and_then(|r| r.e_tag())
            .expect("an ETag")
            .to_owned()
    };
    let first = &source[..size];
    let last = &source[size - 10..size + 100];
    let copied = copy(1, Some(format!("bytes=0-{}", size - 1)), Some(quoted_md5(&source)))
        .await
        .expect("the first range");
    let first_etag = copied_etag(copied);
    assert_eq!(first_etag, quoted_md5(first));
    let whole = copy(2, None, None).await.expect("the whole object");
    let whole_etag = copied_etag(whole);
    assert_eq!(whole_etag, quoted_md5(&source));
    let copied = copy(3, Some(format!("bytes={}-{}", size - 10, size + 99)), None)
        .await
        .expect("the last range");
    let last_etag = copied_etag(copied);
    assert_eq!(last_etag, quoted_md5(last));
    let beyond = copy(4, Some(format!("bytes=0-{}", source.len())), None)
        .await
        .expect_err("a range past the end");
    assert_eq!(error_code(&beyond).as_deref(), Some("InvalidArgument"));
    let missing = s3
        .upload_part_copy()
        .bucket(bucket)
        .key(&key)
        .upload_id(&upload_id)
        .part_number(4)
        .copy_source(format!(
            "{bucket}/no-such-key-{}",
            bucket_uploads::ids::TaskId::generate()
        ))
        .send()
        .await
        .expect_err("no source");
    assert_eq!(error_code(&missing).as_deref(), Some("NoSuchKey"));

    let parts = [
        (1, first_etag.as_str()),
        (2, whole_etag.as_str()),
        (3, last_etag.as_str()),
    ];
    let done = s3
        .complete_multipart_upload()
        .bucket(bucket)
        .key(&key)
        .upload_id(&upload_id)
        .multipart_upload(completed(&parts))
        .send()
        .await
        .expect("CompleteMultipartUpload");
    assert_eq!(done.e_tag(), Some(multipart_etag(&[first, &source, last]).as_str()));
    assert!(get_range(s3, bucket, &key, None).await == [first, &source[..], last].concat());
}

/// A key pair from `LOCAL_S3_KEYS_FILE` other than the functions' own.
fn another_key_pair() -> (String, String) {
    let path = std::env::var("LOCAL_S3_KEYS_FILE").expect("make test sets LOCAL_S3_KEYS_FILE");
    let own = std::env::var("AWS_ACCESS_KEY_ID").expect("the functions' own key");
    let keys = std::fs::read_to_string(&path).expect("the keys file");
    keys.lines()
        .find_map(|line| {
            let mut fields = line.split_whitespace();
            match (fields.next(), fields.next()) {
                (Some(id), Some(secret)) if id != own => Some((id.to_owned(), secret.to_owned())),
                _ => None,
            }
        })
        .unwrap_or_else(|| panic!("no key pair but the functions' own in {path}"))
}

#[tokio::test]
async fn a_part_presigned_by_another_key_joins_the_upload() {
    let app = api_tests::app().await;
    let (s3, bucket) = (app.objects.client(), app.objects.bucket());
    let key = unique_key("multipart-presigned");
    let upload_id = create_multipart(s3, bucket, &key).await;
    let (id, secret) = another_key_pair();
    let signer = aws_sdk_s3::Client::from_conf(
        s3.config()
            .to_builder()
            .credentials_provider(aws_credential_types::Credentials::new(
                &id,
                secret,
                None,
                None,
                "keys-file",
            ))
            .build(),
    );
    let bytes = random_bytes(123_456, 60);
    let presigned = signer
        .upload_part()
        .bucket(bucket)
        .key(&key)
        .upload_id(&upload_id)
        .part_number(1)
        .content_length(bytes.len() as i64)
        .presigned(aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(60)).expect("a lifetime"))
        .await
        .expect("a presigned UploadPart");
    assert!(
        presigned.uri().contains(&format!("X-Amz-Credential={id}%2F")),
        "signed by {id}: {}",
        presigned.uri()
    );
    let mut request = api_tests::http().put(presigned.uri()).body(bytes.clone());
    for (name, value) in presigned
        .headers()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length"))
    {
        request = request.header(name, value);
    }
    let answer = request.send().await.expect("a PUT");
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
    let etag = answer
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("an ETag")
        .to_owned();
    assert_eq!(etag, quoted_md5(&bytes));

    let done = s3
        .complete_multipart_upload()
        .bucket(bucket)
        .key(&key)
        .upload_id(&upload_id)
        .multipart_upload(completed(&[(1, etag.as_str())]))
        .send()
        .await
        .expect("CompleteMultipartUpload with the functions' key");
    assert_eq!(done.e_tag(), Some(multipart_etag(&[&bytes]).as_str()));
    assert!(get_range(s3, bucket, &key, None).await == bytes);
}
