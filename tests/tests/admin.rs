//! `uploads-admin` as an operator uses it: every command and option explained, lists that
//! show ids, names and labels but never a secret, and deletes of buckets and namespaces that
//! happen only when they are empty, exactly once against concurrent creates.

use api_tests::{Tenant, expect_error, expect_json};
use bucket_uploads::ids::{BucketRef, UploadId};
use bucket_uploads::quota::Quota;
use bucket_uploads::store::{Conflict, StoreError};
use bucket_uploads::tenancy::{self, TenancyError};
use bucket_uploads::time::Timestamp;
use bucket_uploads::uploads::NewUpload;
use reqwest::Method;
use serde_json::{Value, json};
use std::process::Output;
use std::time::Duration;

fn admin(args: &[&str]) -> Output {
    let admin = std::env::var("UPLOADS_ADMIN").expect("UPLOADS_ADMIN is not set: run these tests through `make test`");
    std::process::Command::new(admin)
        .args(args)
        .output()
        .expect("uploads-admin runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "uploads-admin failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json_of(output: &Output) -> Value {
    serde_json::from_str(&stdout(output)).expect("JSON on stdout")
}

/// The error envelope `uploads-admin` printed on stderr, after exiting with 1.
fn refusal(output: &Output) -> Value {
    assert_eq!(output.status.code(), Some(1), "uploads-admin should have refused");
    serde_json::from_slice(&output.stderr).expect("the error envelope on stderr")
}

/// Entries of a `--help` section (`Commands:`, `Options:`) that do not say what they are for.
/// clap puts an entry's help after it on its line, or (when some help is long) on the lines
/// below it, indented further.
fn unexplained(help: &str, section: &str) -> Vec<String> {
    let lines: Vec<&str> = help
        .split(section)
        .nth(1)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .collect();
    let indent = |line: &str| line.len() - line.trim_start().len();
    let entry_indent = lines.iter().map(|l| indent(l)).min().unwrap_or(0);
    lines
        .iter()
        .enumerate()
        .filter(|(_, line)| indent(line) == entry_indent)
        .filter(|(i, line)| {
            let same_line = line.trim().contains("  ");
            let next_line = lines.get(i + 1).is_some_and(|next| indent(next) > entry_indent);
            !same_line && !next_line && !line.trim().starts_with("help")
        })
        .map(|(_, line)| (*line).to_owned())
        .collect()
}

#[test]
fn every_command_and_option_has_its_help_line() {
    let help = stdout(&admin(&["--help"]));
    assert_eq!(unexplained(&help, "Commands:"), Vec::<String>::new());
    let commands: Vec<String> = help
        .split("Commands:")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .filter(|command| command != "help")
        .collect();
    for expected in [
        "list-tenants",
        "list-namespaces",
        "list-buckets",
        "list-api-keys",
        "delete-bucket",
    ] {
        assert!(commands.iter().any(|c| c == expected), "no {expected} in {commands:?}");
    }
    for command in &commands {
        let help = stdout(&admin(&[command, "--help"]));
        assert_eq!(unexplained(&help, "Options:"), Vec::<String>::new(), "{command}");
    }
}

#[tokio::test]
async fn lists_show_ids_names_and_labels_but_never_a_secret() {
    let tenant = Tenant::new().await;
    let labelled = tenancy::create_api_key(&tenant.app.store, &tenant.tenant_id, Some("ci robot".to_owned()))
        .await
        .expect("a key");
    let secret = labelled
        .plaintext
        .rsplit('_')
        .next()
        .expect("the key's secret")
        .to_owned();

    let keys = json_of(&admin(&[
        "list-api-keys",
        "--tenant",
        tenant.tenant_id.as_str(),
        "--json",
    ]));
    let listed: Vec<(&str, &Value)> = keys
        .as_array()
        .expect("an array")
        .iter()
        .map(|k| (k["key_id"].as_str().unwrap_or_default(), &k["label"]))
        .collect();
    assert_eq!(
        listed,
        [
            (tenant.key_id.as_str(), &Value::Null),
            (labelled.record.key_id.as_str(), &json!("ci robot"))
        ]
    );
    let table = stdout(&admin(&["list-api-keys", "--tenant", tenant.tenant_id.as_str()]));
    assert!(table.starts_with("KEY"), "a table with headers: {table}");
    assert!(table.contains(labelled.record.key_id.as_str()) && table.contains("ci robot"));
    for printed in [keys.to_string(), table] {
        assert!(!printed.contains(&secret), "a key's secret was printed");
        assert!(
            !printed.contains(&labelled.record.key_sha256),
            "a key's hash was printed"
        );
        assert!(!printed.contains(&tenant.api_key), "a key was printed");
    }

    let tenants = json_of(&admin(&["list-tenants", "--json"]));
    assert!(
        tenants
            .as_array()
            .expect("an array")
            .iter()
            .any(|t| t["tenant_id"] == tenant.tenant_id.as_str()),
        "the tenant is listed"
    );
    let namespaces = json_of(&admin(&[
        "list-namespaces",
        "--tenant",
        tenant.tenant_id.as_str(),
        "--json",
    ]));
    assert_eq!(namespaces, json!([tenant.namespace]));
    let buckets = json_of(&admin(&[
        "list-buckets",
        "--namespace",
        tenant.namespace.namespace_id.as_str(),
        "--json",
    ]));
    assert_eq!(buckets, json!([tenant.bucket]));
    let table = stdout(&admin(&[
        "list-buckets",
        "--namespace",
        tenant.namespace.namespace_id.as_str(),
    ]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one bucket: {table}");
    assert!(lines[1].starts_with(tenant.bucket.bucket_id.as_str()) && lines[1].contains("photos"));
}

#[tokio::test]
async fn a_bucket_is_deleted_only_when_empty_and_then_takes_no_upload() {
    let tenant = Tenant::new().await;
    let bucket_id = tenant.bucket.bucket_id.to_string();
    let created = tenant
        .create_upload(json!({"filename": "a.txt", "content_type": "text/plain"}))
        .await;

    let refused = refusal(&admin(&["delete-bucket", "--bucket", &bucket_id]));
    assert_eq!(refused["error"]["code"], "bucket_not_empty");
    assert_eq!(refused["error"]["details"]["holds"], "1 uploads (1 PENDING)");

    let path = format!(
        "{}/{}",
        tenant.uploads_path(),
        created["upload_id"].as_str().unwrap_or_default()
    );
    let deleted = tenant.request(Method::DELETE, &path).send().await.expect("delete");
    assert_eq!(deleted.status(), 204);
    let printed = json_of(&admin(&["delete-bucket", "--bucket", &bucket_id]));
    assert_eq!(printed["deleted"]["bucket_id"], bucket_id.as_str());

    // The API stops resolving it once its directory cache forgets it; until then a create
    // finds it deleted all the same.
    let create = || {
        tenant
            .request(Method::POST, &tenant.uploads_path())
            .json(&json!({"filename": "b.txt", "content_type": "text/plain"}))
            .send()
    };
    let response = create().await.expect("create");
    expect_error(response, 404, "NotFoundError").await;
    tokio::time::sleep(directory_ttl() + Duration::from_millis(500)).await;
    expect_error(create().await.expect("create"), 404, "NotFoundError").await;

    let again = refusal(&admin(&["delete-bucket", "--bucket", &bucket_id]));
    assert_eq!(again["error"]["type"], "NotFoundError");
    // Its name is free again, for a new bucket that takes uploads.
    let recreated = json_of(&admin(&[
        "create-bucket",
        "--namespace",
        tenant.namespace.namespace_id.as_str(),
        "--name",
        "photos",
    ]));
    assert_ne!(recreated["bucket_id"], bucket_id.as_str());
    let new_bucket = BucketRef::parse(recreated["bucket_id"].as_str().unwrap_or_default()).expect("a bucket id");
    let body = json!({"filename": "c.txt", "content_type": "text/plain"});
    bucket_uploads::uploads::create_upload(&tenant.app, &tenant.scope(), &new_bucket, Some(&body))
        .await
        .expect("an upload in the new bucket");
}

fn directory_ttl() -> Duration {
    let secs = std::env::var("UPLOADS_DIRECTORY_TTL_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// A create through the API racing the bucket's deletion: either the upload exists and the
/// delete was refused, or the bucket is gone and the create was refused; never both done.
#[tokio::test]
async fn deleting_a_bucket_and_creating_in_it_at_once_do_not_both_happen() {
    let mut outcomes = std::collections::BTreeMap::new();
    for trial in 0..12 {
        let tenant = Tenant::new().await;
        // Warm the API's directory cache, so that the create resolves the bucket from it.
        expect_json(tenant.list("", json!({})).await, 200).await;
        let create = tenant
            .request(Method::POST, &tenant.uploads_path())
            .json(&json!({"filename": "race.txt", "content_type": "text/plain"}))
            .send();
        let delete = async {
            // Staggered across trials so that each order is tried.
            tokio::time::sleep(Duration::from_millis(trial % 4 * 3)).await;
            tenancy::delete_bucket(&tenant.app.store, &tenant.bucket.bucket_id).await
        };
        let (created, deleted) = tokio::join!(create, delete);
        let status = created.expect("create answered").status().as_u16();
        let counts = tenant
            .app
            .store
            .bucket_counts(&tenant.bucket.bucket_id)
            .await
            .expect("counts");
        let held: u64 = counts.by_status.values().map(|c| c.uploads).sum();
        let outcome = match (&deleted, status) {
            (Ok(_), 404) => {
                assert_eq!(held, 0, "trial {trial}: an upload in a deleted bucket");
                "deleted, create refused"
            }
            (Err(TenancyError::NotEmpty { .. }), 200) => {
                assert_eq!(held, 1, "trial {trial}");
                "created, delete refused"
            }
            other => panic!("trial {trial}: {other:?}"),
        };
        *outcomes.entry(outcome).or_insert(0) += 1;
    }
    println!("outcomes: {outcomes:?}");
}

#[tokio::test]
async fn a_namespace_is_deleted_only_without_buckets_and_then_takes_none() {
    let tenant = Tenant::new().await;
    let namespace_id = tenant.namespace.namespace_id.to_string();
    let refused = refusal(&admin(&["delete-namespace", "--namespace", &namespace_id]));
    assert_eq!(refused["error"]["code"], "namespace_not_empty");
    assert_eq!(refused["error"]["details"]["holds"], "1 buckets (photos)");

    stdout(&admin(&["delete-bucket", "--bucket", tenant.bucket.bucket_id.as_str()]));
    let printed = json_of(&admin(&["delete-namespace", "--namespace", &namespace_id]));
    assert_eq!(printed["deleted"]["namespace_id"], namespace_id.as_str());

    let late = refusal(&admin(&[
        "create-bucket",
        "--namespace",
        &namespace_id,
        "--name",
        "late",
    ]));
    assert_eq!(late["error"]["type"], "NotFoundError");
    let recreated = json_of(&admin(&[
        "create-namespace",
        "--tenant",
        tenant.tenant_id.as_str(),
        "--name",
        &tenant.namespace.name,
    ]));
    assert_ne!(recreated["namespace_id"], namespace_id.as_str());
}

/// A bucket created while its namespace is deleted: exactly one of the two happens.
#[tokio::test]
async fn deleting_a_namespace_and_creating_a_bucket_in_it_at_once_do_not_both_happen() {
    for trial in 0..12 {
        let tenant = Tenant::new().await;
        let store = &tenant.app.store;
        let namespace_id = &tenant.namespace.namespace_id;
        tenancy::delete_bucket(store, &tenant.bucket.bucket_id)
            .await
            .expect("an empty bucket");
        let (created, deleted) = tokio::join!(
            tenancy::create_bucket(store, namespace_id, "racing", None),
            tenancy::delete_namespace(store, namespace_id)
        );
        match (&created, &deleted) {
            (Ok(_), Err(TenancyError::NotEmpty { .. })) => {}
            (Err(TenancyError::NotFound(_)), Ok(_)) => {
                let left = tenancy::list_buckets(store, Some(namespace_id)).await.expect("list");
                assert!(left.is_empty(), "trial {trial}: a bucket in a deleted namespace");
            }
            other => panic!("trial {trial}: {other:?}"),
        }
    }
}

/// What a warm container whose directory cache still holds a deleted bucket would write is
/// refused by the create's own transaction (the counters' deletion mark), single or batch.
#[tokio::test]
async fn uploads_for_a_deleted_bucket_are_refused_in_their_own_transaction() {
    let tenant = Tenant::new().await;
    let store = &tenant.app.store;
    tenancy::delete_bucket(store, &tenant.bucket.bucket_id)
        .await
        .expect("an empty bucket");
    let new = |name: &str| {
        let body = json!({"filename": name, "content_type": "text/plain"});
        NewUpload::parse(Some(&body), u64::MAX)
            .expect("a valid upload")
            .into_pending(UploadId::generate(), &tenant.bucket, Timestamp::now())
    };
    let one = store.insert_upload(&new("one.txt"), &Quota::DEFAULT).await;
    assert_eq!(one, Err(StoreError::Conflict(Conflict::Gone)));
    let batch = store
        .insert_uploads(&[new("a.txt"), new("b.txt")], &Quota::DEFAULT)
        .await;
    assert!(matches!(batch, Err(StoreError::Conflict(Conflict::Gone))), "{batch:?}");
    let counts = store.bucket_counts(&tenant.bucket.bucket_id).await.expect("counts");
    assert!(counts.by_status.is_empty(), "{counts:?}");
}
