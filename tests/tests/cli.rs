//! The `uploads` CLI against the local stack: a file put, hashed, confirmed and readable;
//! bytes the bucket already holds not sent again; a large file followed through the worker;
//! multipart files sent in parts and resumed (the part PUTs counted at a forward proxy);
//! list, get, delete and usage; and its exit codes.

use api_tests::{Tenant, api_url, expect_json, http, sha256_hex};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rand::{RngCore, SeedableRng};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex, PoisonError};

const MIB: usize = 1 << 20;

fn uploads(tenant: &Tenant, args: &[&str]) -> Output {
    uploads_via(&api_url(), tenant, args)
}

fn uploads_via(api: &str, tenant: &Tenant, args: &[&str]) -> Output {
    let cli = std::env::var("UPLOADS_CLI").expect("UPLOADS_CLI is not set: run these tests through `make test`");
    std::process::Command::new(cli)
        .args(args)
        .env("UPLOADS_API_URL", api)
        .env("UPLOADS_API_KEY", &tenant.api_key)
        .env("UPLOADS_NAMESPACE", &tenant.namespace.name)
        .env("UPLOADS_BUCKET", &tenant.bucket.name)
        .output()
        .expect("uploads runs")
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "uploads failed ({:?}): {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json_of(output: &Output) -> Value {
    serde_json::from_str(&succeeded(output)).expect("JSON on stdout")
}

/// A file of `len` pseudo-random bytes in a fresh directory.
fn file(name: &str, len: usize, seed: u64) -> (PathBuf, Vec<u8>) {
    let dir = std::env::temp_dir().join(format!("uploads-cli-{}", bucket_uploads::ids::TaskId::generate()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let mut bytes = vec![0; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    let path = dir.join(name);
    std::fs::write(&path, &bytes).expect("the file");
    (path, bytes)
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

#[tokio::test]
async fn put_uploads_confirms_and_the_bytes_read_back() {
    let tenant = Tenant::new().await;
    let (path, bytes) = file("clip.mp4", (3 << 20) + 5, 1);
    let put = json_of(&uploads(
        &tenant,
        &["put", path_arg(&path), "--metadata", "team=video", "--json"],
    ));
    let record = &put[0];
    assert_eq!(record["status"], "COMPLETED");
    assert_eq!(record["file_hash"], sha256_hex(&bytes).as_str());
    assert_eq!(record["file_size_bytes"], bytes.len());
    // The type guessed from the extension.
    assert_eq!(record["blob_type"], "VIDEO");
    assert_eq!(record["metadata"], json!({"team": "video"}));

    let upload_id = record["upload_id"].as_str().expect("an upload id");
    let got = json_of(&uploads(&tenant, &["get", upload_id, "--json"]));
    let url = got["presigned_url"].as_str().expect("a download URL");
    let downloaded = http()
        .get(url)
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("bytes");
    assert!(downloaded.as_ref() == bytes.as_slice(), "other bytes came back");

    let human = succeeded(&uploads(&tenant, &["put", path_arg(&path)]));
    assert!(
        human.contains("nothing transferred") && human.contains("COMPLETED"),
        "the same bytes again: {human}"
    );
}

#[tokio::test]
async fn bytes_the_bucket_holds_are_not_sent_again() {
    let tenant = Tenant::new().await;
    let (first, bytes) = file("a.bin", 1 << 20, 2);
    let original = json_of(&uploads(&tenant, &["put", path_arg(&first), "--json"]));
    let copy = first.with_file_name("b.bin");
    std::fs::write(&copy, &bytes).expect("a copy");
    let again = json_of(&uploads(&tenant, &["put", path_arg(&copy), "--json"]));
    assert_eq!(again[0]["is_duplicate"], true);
    assert_eq!(again[0]["duplicate_of_upload_id"], original[0]["upload_id"]);
    // Created COMPLETED: no URL was given, so nothing could have been sent.
    assert_eq!(again[0]["presigned_url"], Value::Null);
}

#[tokio::test]
async fn a_large_file_is_followed_through_the_worker_with_wait() {
    let tenant = Tenant::new().await;
    // The API hands objects of 100 MiB or more to the worker (multipart ones above one copy,
    // 16 MiB in make test). Above the 64 MiB threshold, the CLI sends it in 8 MiB parts.
    let (path, bytes) = file("big.bin", (100 << 20) + 1, 3);
    let put = json_of(&uploads(&tenant, &["put", path_arg(&path), "--wait", "--json"]));
    assert_eq!(put[0]["status"], "COMPLETED", "{put}");
    assert_eq!(put[0]["file_hash"], sha256_hex(&bytes).as_str());
    assert_eq!(put[0]["multipart"]["part_size_bytes"], 8 * MIB, "{put}");
    assert!(put[0]["etag"].as_str().is_some_and(|e| e.ends_with("-13")), "{put}");
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn list_get_delete_and_usage() {
    let tenant = Tenant::new().await;
    let (path, _) = file("listed.txt", 100, 4);
    let put = json_of(&uploads(&tenant, &["put", path_arg(&path), "--json"]));
    let done = put[0]["upload_id"].as_str().expect("an id").to_owned();
    let pending = tenant
        .create_upload(json!({"filename": "later.txt", "content_type": "text/plain"}))
        .await;
    let pending = pending["upload_id"].as_str().expect("an id").to_owned();

    let listed = json_of(&uploads(
        &tenant,
        &["list", "--filter", r#"{"status": "COMPLETED"}"#, "--json"],
    ));
    let ids: Vec<&str> = listed["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|u| u["upload_id"].as_str())
        .collect();
    assert_eq!(ids, [done.as_str()]);
    let table = succeeded(&uploads(&tenant, &["list", "--sort", "created_at:asc"]));
    let first_column: Vec<&str> = table.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(first_column, [done.as_str(), pending.as_str()]);

    let deleted = succeeded(&uploads(&tenant, &["delete", &pending]));
    assert!(deleted.contains(&pending));
    let gone = uploads(&tenant, &["get", &pending]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("404"));

    let usage = json_of(&uploads(&tenant, &["usage", "--json"]));
    let from_api = expect_json(
        tenant
            .request(reqwest::Method::GET, "/v1/usage")
            .send()
            .await
            .expect("usage"),
        200,
    )
    .await;
    assert_eq!(usage, from_api);
}

/// Several files: one batch create, the PUTs, one batch confirm (counted at a proxy in front
/// of the API); a file whose bytes the bucket holds is not sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_files_go_through_one_batch_create_and_one_batch_confirm() {
    let tenant = Tenant::new().await;
    let (held, held_bytes) = file("held.bin", 1000, 10);
    let original = json_of(&uploads(&tenant, &["put", path_arg(&held), "--json"]));
    let dir = held.parent().expect("a directory").to_owned();
    let mut files = vec![];
    let mut expected = vec![];
    for i in 0..11u64 {
        let (path, bytes) = file(&format!("f{i}.txt"), 2000 + i as usize, 20 + i);
        expected.push(sha256_hex(&bytes));
        files.push(path);
    }
    let again = dir.join("held-again.bin");
    std::fs::write(&again, &held_bytes).expect("a copy");
    files.push(again);
    expected.push(sha256_hex(&held_bytes));

    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let proxy = api_tests::fault_proxy::FaultProxy::start(&api_url()).await;
    let seen = calls.clone();
    proxy.fail(
        move |call| {
            if let Ok(mut seen) = seen.lock() {
                seen.push(format!("{} {}", call.method, call.path));
            }
            false
        },
        api_tests::fault_proxy::throttled(),
    );
    let mut args = vec!["put", "--parallel", "3", "--json"];
    args.extend(files.iter().map(|p| path_arg(p)));
    let put = json_of(&uploads_via(proxy.url(), &tenant, &args));
    let records = put.as_array().expect("records");
    let hashes: Vec<&str> = records.iter().filter_map(|r| r["file_hash"].as_str()).collect();
    assert_eq!(hashes, expected.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(records.iter().all(|r| r["status"] == "COMPLETED"), "{put}");
    assert_eq!(records[11]["duplicate_of_upload_id"], original[0]["upload_id"]);

    let calls = calls.lock().expect("the calls").clone();
    let uploads = format!("/v1/buckets/{}/uploads", tenant.bucket.name);
    let count = |call: &str| calls.iter().filter(|c| c.as_str() == call).count();
    assert_eq!(count(&format!("POST {uploads}/batch")), 1, "{calls:?}");
    assert_eq!(count(&format!("POST {uploads}/confirm/batch")), 1, "{calls:?}");
    assert_eq!(count(&format!("POST {uploads}")), 0, "no single create: {calls:?}");
    assert!(
        !calls.iter().any(|c| c.ends_with("/confirm")),
        "no single confirm: {calls:?}"
    );
}

#[tokio::test]
async fn exit_codes_say_what_went_wrong() {
    let tenant = Tenant::new().await;
    for usage_error in [
        &["put"][..],
        &["frobnicate"],
        &["put", "x", "--metadata", "no-equals-sign"],
    ] {
        let output = uploads(&tenant, usage_error);
        assert_eq!(output.status.code(), Some(2), "{usage_error:?}");
    }
    let missing = uploads(&tenant, &["put", "/nonexistent/file.bin"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/file.bin"));

    let (path, _) = file("refused.txt", 10, 5);
    let cli = std::env::var("UPLOADS_CLI").expect("UPLOADS_CLI");
    let refused = std::process::Command::new(cli)
        .args(["put", path_arg(&path)])
        .env("UPLOADS_API_URL", api_url())
        .env("UPLOADS_API_KEY", "sk_key_00000000000000000000000000_wrong")
        .env("UPLOADS_NAMESPACE", &tenant.namespace.name)
        .env("UPLOADS_BUCKET", &tenant.bucket.name)
        .output()
        .expect("uploads runs");
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("401"), "the API's refusal: {stderr}");
}

/// One request as a forward proxy sees it: `PUT http://127.0.0.1:…/key?partNumber=4&…`,
/// whether it carried a SHA-256 for S3 to check, and whether it was forwarded (or answered
/// with a fault).
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    url: String,
    sha256_header: bool,
    forwarded: bool,
}

impl Seen {
    /// The part number of a part PUT.
    fn part_number(&self) -> Option<u32> {
        if self.method != "PUT" {
            return None;
        }
        let query = self.url.split_once('?')?.1;
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("partNumber="))
            .and_then(|n| n.parse().ok())
    }
}

/// A forward HTTP proxy (what `HTTP_PROXY` names; the CLI's client honours it) recording every
/// request and forwarding it unchanged, Host header and all, so presigned URLs still verify;
/// except that the first PUT of a part given a fault gets that answer instead.
struct Recorder {
    url: String,
    state: Arc<Recording>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Recording {
    seen: Mutex<Vec<Seen>>,
    /// Part number, status and body: answered once each.
    faults: Mutex<Vec<(u32, u16, &'static str)>>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Recorder {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(Recording::default());
        let client = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");
        let log = state.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, client) = (log.clone(), client.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let (log, client) = (log.clone(), client.clone());
                        async move { Ok::<_, std::convert::Infallible>(forward(&log, &client, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, state, server }
    }

    /// The first PUT of part `number` is answered `status` with `body`, not forwarded.
    fn fault_once(&self, number: u32, status: u16, body: &'static str) {
        lock(&self.state.faults).push((number, status, body));
    }

    fn seen(&self) -> Vec<Seen> {
        lock(&self.state.seen).clone()
    }

    /// The part numbers PUT to S3 (faults not counted), in order.
    fn parts_put(&self) -> Vec<u32> {
        let mut parts: Vec<u32> = self
            .seen()
            .iter()
            .filter(|s| s.forwarded)
            .filter_map(Seen::part_number)
            .collect();
        parts.sort_unstable();
        parts
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn forward(state: &Recording, client: &reqwest::Client, request: Request<Incoming>) -> Response<Full<Bytes>> {
    // A forward proxy is sent the absolute URL.
    let url = request.uri().to_string();
    let mut seen = Seen {
        method: request.method().to_string(),
        url: url.clone(),
        sha256_header: request.headers().contains_key("x-amz-checksum-sha256"),
        forwarded: true,
    };
    let fault = seen.part_number().and_then(|number| {
        let mut faults = lock(&state.faults);
        let at = faults.iter().position(|(n, _, _)| *n == number)?;
        Some(faults.remove(at))
    });
    seen.forwarded = fault.is_none();
    lock(&state.seen).push(seen);
    let (parts, body) = request.into_parts();
    // Read whole before any answer, so that the client sees the answer, not a broken pipe.
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    if let Some((_, status, answer)) = fault {
        return Response::builder()
            .status(status)
            .header("content-type", "application/xml")
            .body(Full::new(Bytes::from(answer)))
            .expect("a response");
    }
    let mut upstream = client.request(parts.method, url).body(body);
    for (name, value) in &parts.headers {
        if name != "proxy-connection" {
            upstream = upstream.header(name, value);
        }
    }
    match upstream.send().await {
        Ok(answer) => {
            let mut response = Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                if name != "transfer-encoding" {
                    response = response.header(name, value);
                }
            }
            let bytes = answer.bytes().await.unwrap_or_default();
            response.body(Full::new(bytes)).expect("a response")
        }
        Err(err) => Response::builder()
            .status(502)
            .body(Full::new(Bytes::from(err.to_string())))
            .expect("a response"),
    }
}

/// The CLI with every request it makes going through `proxy`.
async fn uploads_through(proxy: &Recorder, tenant: &Tenant, args: &[&str]) -> Output {
    let cli = std::env::var("UPLOADS_CLI").expect("UPLOADS_CLI is not set: run these tests through `make test`");
    tokio::process::Command::new(cli)
        .args(args)
        .env("UPLOADS_API_URL", api_url())
        .env("UPLOADS_API_KEY", &tenant.api_key)
        .env("UPLOADS_NAMESPACE", &tenant.namespace.name)
        .env("UPLOADS_BUCKET", &tenant.bucket.name)
        .env("HTTP_PROXY", &proxy.url)
        .env_remove("http_proxy")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .await
        .expect("uploads runs")
}

/// S3's multipart ETag: the MD5 of the parts' MD5s, then `-` and the number of parts.
fn multipart_etag(bytes: &[u8], part_size: usize) -> String {
    use md5::{Digest, Md5};
    let chunks: Vec<&[u8]> = bytes.chunks(part_size).collect();
    let digests: Vec<u8> = chunks.iter().flat_map(|c| Md5::digest(c).to_vec()).collect();
    format!("{}-{}", hex::encode(Md5::digest(&digests)), chunks.len())
}

/// Above `--multipart-threshold`: created multipart with the CLI's part size, every part PUT
/// once with its SHA-256 for S3 to check (a part S3 answered 503 retried, a part whose URL
/// S3 said expired sent to a fresh one), confirmed with the parts' ETags.
#[tokio::test]
async fn a_file_above_the_threshold_goes_in_parts_each_checked_by_s3() {
    let tenant = Tenant::new().await;
    let (path, bytes) = file("parts.bin", 7 * MIB + 5, 40);
    let proxy = Recorder::start().await;
    proxy.fault_once(
        2,
        403,
        "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
    );
    proxy.fault_once(
        3,
        503,
        "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
    );
    let args = [
        "put",
        "--part-size",
        "1048576",
        "--multipart-threshold",
        "1",
        "--parallel",
        "3",
        "--json",
        path_arg(&path),
    ];
    let put = json_of(&uploads_through(&proxy, &tenant, &args).await);
    let record = &put[0];
    assert_eq!(record["status"], "COMPLETED", "{put}");
    assert_eq!(record["file_hash"], sha256_hex(&bytes).as_str());
    assert_eq!(record["file_size_bytes"], bytes.len());
    assert_eq!(record["multipart"]["part_count"], 8, "{record}");
    let etag = record["etag"].as_str().expect("an etag");
    assert!(etag.ends_with("-8"), "eight parts joined: {etag}");
    assert_eq!(etag, multipart_etag(&bytes, MIB));
    let upload_id = record["upload_id"].as_str().expect("an upload id");
    assert!(tenant.downloaded(upload_id).await == bytes, "other bytes came back");

    assert_eq!(proxy.parts_put(), (1..=8).collect::<Vec<u32>>(), "each part to S3 once");
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .filter(|s| s.part_number().is_some())
            .all(|s| s.sha256_header),
        "every part carries its SHA-256: {seen:?}"
    );
    let tried = |n: u32| seen.iter().filter(|s| s.part_number() == Some(n)).count();
    assert_eq!((tried(2), tried(3)), (2, 2), "the faulted parts tried again");
    // One request of part URLs for all eight, one for part 2's fresh URL.
    let url_requests = seen
        .iter()
        .filter(|s| s.method == "POST" && s.url.ends_with("/parts"))
        .count();
    assert_eq!(url_requests, 2, "{seen:?}");
    // The same bytes again: the bucket holds them, nothing is sent.
    let again = succeeded(&uploads(
        &tenant,
        &[
            "put",
            "--part-size",
            "1048576",
            "--multipart-threshold",
            "1",
            path_arg(&path),
        ],
    ));
    assert!(again.contains("nothing transferred"), "{again}");
}

/// A multipart upload left with parts 1-3 of 8: resume sends 4-8, each once, and confirms.
#[tokio::test]
async fn resume_sends_only_the_parts_s3_does_not_hold() {
    let tenant = Tenant::new().await;
    let (path, bytes) = file("half.bin", 7 * MIB + 5, 41);
    let created = tenant
        .create_upload(json!({
            "filename": "half.bin",
            "content_type": "application/octet-stream",
            "file_size_bytes": bytes.len(),
            "file_hash": sha256_hex(&bytes),
            "multipart": true,
            "part_size_bytes": MIB,
        }))
        .await;
    let upload_id = created["upload_id"].as_str().expect("an upload id");
    let urls = created["multipart"]["parts"].as_array().expect("part URLs");
    assert_eq!(urls.len(), 8);
    for (i, part) in urls[..3].iter().enumerate() {
        let url = part["url"].as_str().expect("a URL");
        let status = api_tests::put(url, &[], bytes[i * MIB..(i + 1) * MIB].to_vec()).await;
        assert_eq!(status, 200, "part {}", i + 1);
    }

    let proxy = Recorder::start().await;
    let resumed = json_of(&uploads_through(&proxy, &tenant, &["resume", upload_id, path_arg(&path), "--json"]).await);
    let record = &resumed[0];
    assert_eq!(record["status"], "COMPLETED", "{resumed}");
    assert_eq!(record["upload_id"], upload_id);
    assert_eq!(record["file_hash"], sha256_hex(&bytes).as_str());
    assert_eq!(record["etag"], multipart_etag(&bytes, MIB));
    assert!(tenant.downloaded(upload_id).await == bytes, "other bytes came back");
    assert_eq!(
        proxy.parts_put(),
        [4, 5, 6, 7, 8],
        "only the parts S3 did not hold, each once"
    );
}

/// Resume refuses, with exit code 1 and why, an upload that is not multipart, one created
/// for a file of another size, and one created for other bytes.
#[tokio::test]
async fn resume_refuses_an_upload_that_is_not_this_files_multipart_upload() {
    let tenant = Tenant::new().await;
    let (path, bytes) = file("mine.bin", 2 * MIB + 1, 42);
    let refused = |output: Output, why: &str| {
        assert_eq!(output.status.code(), Some(1), "{why}");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(stderr.contains(why), "{why}: {stderr}");
    };
    let multipart = |len: usize, hash: String| {
        json!({
            "filename": "mine.bin",
            "content_type": "application/octet-stream",
            "file_size_bytes": len,
            "file_hash": hash,
            "multipart": true,
            "part_size_bytes": MIB,
        })
    };

    let single = tenant
        .create_upload(
            json!({"filename": "one.bin", "content_type": "application/octet-stream", "file_size_bytes": bytes.len()}),
        )
        .await;
    let single = single["upload_id"].as_str().expect("an id");
    refused(
        uploads(&tenant, &["resume", single, path_arg(&path)]),
        "is not multipart",
    );

    let other_size = tenant
        .create_upload(multipart(bytes.len() + 1, sha256_hex(&bytes)))
        .await;
    let other_size = other_size["upload_id"].as_str().expect("an id");
    refused(
        uploads(&tenant, &["resume", other_size, path_arg(&path)]),
        "bytes, but upload",
    );

    let other_bytes = tenant.create_upload(multipart(bytes.len(), sha256_hex(b"other"))).await;
    let other_bytes = other_bytes["upload_id"].as_str().expect("an id");
    refused(uploads(&tenant, &["resume", other_bytes, path_arg(&path)]), "SHA-256");
    // Nothing was sent: S3 holds no part of it.
    let listed = expect_json(
        tenant
            .request(
                reqwest::Method::POST,
                &format!("{}/{other_bytes}/parts", tenant.uploads_path()),
            )
            .json(&json!({"part_numbers": []}))
            .send()
            .await
            .expect("parts"),
        200,
    )
    .await;
    assert_eq!(listed["uploaded_parts"], json!([]));

    let done = json_of(&uploads(&tenant, &["put", path_arg(&path), "--json"]));
    let done = done[0]["upload_id"].as_str().expect("an id");
    refused(uploads(&tenant, &["resume", done, path_arg(&path)]), "COMPLETED");
}
