//! The development S3 server (`tools/local-s3`) behaves like S3 where the API and its tests
//! lean on it: a read racing a write of the same key sees the object before or after the
//! write, never an error (S3's reads are atomic; s3s-fs writes an object's file and its
//! metadata one after the other). Objects it streams to disk itself (PUT, CopyObject) are
//! what s3s-fs's own HEAD, GET and list report, with S3's ETag and checksum, and a refused
//! PUT leaves neither bytes nor temporary files behind.

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
