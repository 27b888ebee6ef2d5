//! The directory (keys, namespaces and buckets cached in a warm container) changes what a
//! request costs, never what it answers; and a revoked key stops working within its TTL.

use api_tests::{Tenant, expect_error, expect_json};
use bucket_uploads::App;
use bucket_uploads::auth::{self, Scope};
use bucket_uploads::directory::Directory;
use bucket_uploads::ids::{BucketRef, IdKind, UploadId};
use bucket_uploads::query::PageParams;
use bucket_uploads::{listing, uploads};
use serde_json::json;
use std::time::{Duration, Instant};

/// Everything a request learns from the directory, for one key and `X-Namespace`, and the
/// buckets and uploads it then reads.
async fn answers(
    app: &App,
    authorization: &str,
    namespace: &str,
    buckets: &[BucketRef],
    uploads: &[UploadId],
) -> Vec<String> {
    let mut seen = vec![];
    let scope = auth::authenticate(&app.directory, Some(authorization), Some(namespace)).await;
    seen.push(format!(
        "{:?}",
        scope.as_ref().map(|s| (&s.tenant_id, &s.key_id, &s.namespace))
    ));
    let caller = auth::identify(&app.directory, Some(authorization), None).await;
    seen.push(format!("{:?}", caller.map(|c| (c.tenant_id, c.key_id, c.namespace))));
    let Ok(scope) = scope else { return seen };
    for bucket in buckets {
        seen.push(format!("{:?}", uploads::resolve_bucket(app, &scope, bucket).await));
        for upload_id in uploads {
            seen.push(format!(
                "{:?}",
                uploads::get_upload(app, &scope, bucket, upload_id, false).await
            ));
        }
        seen.push(listed(app, &scope, bucket).await);
    }
    seen
}

async fn listed(app: &App, scope: &Scope, bucket: &BucketRef) -> String {
    let body = json!({"sort": {"field": "created_at", "direction": "asc"}});
    match listing::list_uploads(app, scope, bucket, Some(&body), PageParams::default()).await {
        Ok(listed) => format!("{:?} {:?}", listed.results, listed.stats),
        Err(err) => format!("{err:?}"),
    }
}

#[tokio::test]
async fn cached_and_uncached_directories_answer_alike() {
    let owner = Tenant::new().await;
    let other = Tenant::new().await;
    let first = owner.uploaded(b"cached or not", json!({})).await;
    let upload_id = |v: &serde_json::Value| UploadId::parse(v["upload_id"].as_str().unwrap()).unwrap();
    let uploads = [
        upload_id(&first),
        upload_id(&other.uploaded(b"elsewhere", json!({})).await),
    ];
    let buckets = [
        owner.bucket.bucket_id.as_str(),
        &owner.bucket.name,
        other.bucket.bucket_id.as_str(),
        "no-such-bucket",
    ]
    .map(|b| BucketRef::parse(b).expect("a bucket identifier"));
    let unknown_key = format!("sk_{}_{}", IdKind::ApiKey.generate(), "x".repeat(40));
    let keys = [owner.api_key.clone(), other.api_key.clone(), unknown_key];
    let namespaces = [
        owner.namespace.name.clone(),
        owner.namespace.namespace_id.to_string(),
        other.namespace.namespace_id.to_string(),
        "no-such-namespace".to_owned(),
    ];

    let store = owner.app.store.clone();
    let cached = App {
        directory: Directory::new(store.clone(), Duration::from_secs(60)),
        ..owner.app.clone()
    };
    let uncached = App {
        directory: Directory::uncached(store),
        ..owner.app.clone()
    };
    let mut all = vec![];
    for key in &keys {
        let authorization = format!("Bearer {key}");
        for namespace in &namespaces {
            let truth = answers(&uncached, &authorization, namespace, &buckets, &uploads).await;
            let miss = answers(&cached, &authorization, namespace, &buckets, &uploads).await;
            let hit = answers(&cached, &authorization, namespace, &buckets, &uploads).await;
            assert_eq!(miss, truth, "first (uncached) read through the cache, {namespace}");
            assert_eq!(hit, truth, "answered from the cache, {namespace}");
            all.extend(truth);
        }
    }
    // The matrix reached the data and the refusals, so the comparison compared something.
    for expected in [
        "Ok(Upload {",
        "Err(NotFound(",
        "Err(Unauthorized)",
        "Err(NamespaceNotFound(",
    ] {
        assert!(
            all.iter().any(|answer| answer.starts_with(expected)),
            "no answer {expected}…"
        );
    }
}

fn directory_ttl() -> Duration {
    let secs = std::env::var("UPLOADS_DIRECTORY_TTL_SECS")
        .expect("UPLOADS_DIRECTORY_TTL_SECS is not set: run these tests through `make test`");
    Duration::from_secs(secs.parse().expect("a number of seconds"))
}

#[tokio::test]
async fn a_key_revoked_with_the_admin_cli_stops_working_within_the_ttl() {
    let tenant = Tenant::new().await;
    let ttl = directory_ttl();
    expect_json(tenant.list("", json!({})).await, 200).await;

    let admin = std::env::var("UPLOADS_ADMIN").expect("UPLOADS_ADMIN is not set: run these tests through `make test`");
    let output = std::process::Command::new(admin)
        .args(["revoke-api-key", "--key-id", tenant.key_id.as_str()])
        .output()
        .expect("uploads-admin runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let revoked_at = Instant::now();
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(printed["revoked"], tenant.key_id.as_str());

    // Within the TTL (and a margin for a request in flight), every request is refused.
    loop {
        let response = tenant.list("", json!({})).await;
        if response.status() == 401 {
            expect_error(response, 401, "UnauthorizedError").await;
            break;
        }
        assert_eq!(response.status(), 200);
        assert!(
            revoked_at.elapsed() < ttl + Duration::from_secs(1),
            "the revoked key still works after {:?} (TTL {ttl:?})",
            revoked_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    expect_error(tenant.list("", json!({})).await, 401, "UnauthorizedError").await;

    // Revoking it again names what is missing.
    let again = std::process::Command::new(std::env::var("UPLOADS_ADMIN").unwrap())
        .args(["revoke-api-key", "--key-id", tenant.key_id.as_str()])
        .output()
        .expect("uploads-admin runs");
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not found"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
