//! The `uploads` CLI against the local stack: a file put, hashed, confirmed and readable;
//! bytes the bucket already holds not sent again; a large file followed through the worker;
//! list, get, delete and usage; and its exit codes.

use api_tests::{Tenant, api_url, expect_json, http, sha256_hex};
use rand::{RngCore, SeedableRng};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;

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
    // The API hands objects of 100 MiB or more to the worker.
    let (path, bytes) = file("big.bin", (100 << 20) + 1, 3);
    let put = json_of(&uploads(&tenant, &["put", path_arg(&path), "--wait", "--json"]));
    assert_eq!(put[0]["status"], "COMPLETED", "{put}");
    assert_eq!(put[0]["file_hash"], sha256_hex(&bytes).as_str());
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
