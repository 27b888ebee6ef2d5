//! The signing identity (issue 15): URLs are signed with the signing user's key from Secrets
//! Manager (moto locally), carry no session token, and work for upload and download; the
//! rotation function's steps against moto's IAM and Secrets Manager, in order and retried;
//! a URL signed with the old key works until its expiry, and the old key is deleted only by
//! a later rotation, once the current key has been current for the longest URL's lifetime.
//! local-s3 accepts the keys listed in `LOCAL_S3_KEYS_FILE`, standing in for IAM's.

use api_tests::{Tenant, put_directly, sha256_hex};
use bucket_uploads::app::{App, Settings};
use bucket_uploads::signing::{Rotation, RotationError, RotationEvent, install};
use std::collections::BTreeMap;
use std::time::Duration;

fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = url.split_once('?')?;
    query.split('&').find_map(|pair| pair.strip_prefix(&format!("{name}=")))
}

fn credential_key_id(url: &str) -> String {
    let credential = query_param(url, "X-Amz-Credential").unwrap_or_else(|| panic!("unsigned: {url}"));
    credential.split("%2F").next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn urls_are_signed_by_the_signing_identity_and_work_both_ways() {
    let secret = std::env::var("UPLOADS_SIGNING_SECRET_ARN").expect("make test installs the signing identity");
    let tenant = Tenant::new().await;
    let identity = tenant
        .app
        .objects
        .presign_get("probe")
        .await
        .map(|url| credential_key_id(&url))
        .expect("a URL");
    let role = std::env::var("AWS_ACCESS_KEY_ID").expect("the functions' own key");
    assert_ne!(identity, role, "signed by the identity in {secret}, not the role");

    let bytes = b"signed by the identity".to_vec();
    let upload = tenant.uploaded(&bytes, serde_json::json!({})).await;
    let url = upload["presigned_url"].as_str().expect("an upload URL");
    assert_eq!(credential_key_id(url), identity);
    assert_eq!(query_param(url, "X-Amz-Security-Token"), None);
    let confirmed =
        api_tests::expect_json(tenant.confirm(upload["upload_id"].as_str().unwrap(), None).await, 200).await;
    assert_eq!(confirmed["status"], "COMPLETED");
    let downloaded = tenant.downloaded(upload["upload_id"].as_str().unwrap()).await;
    assert_eq!(sha256_hex(&downloaded), sha256_hex(&bytes));
}

/// IAM's keys, as local-s3 is told them (the secrets this test saw, for the ids IAM lists).
async fn sync_keys(rotation: &Rotation, secrets: &BTreeMap<String, String>) {
    let listed = rotation
        .iam
        .list_access_keys()
        .user_name(&rotation.user)
        .send()
        .await
        .expect("list keys");
    let path = std::env::var("LOCAL_S3_KEYS_FILE").expect("make test sets LOCAL_S3_KEYS_FILE");
    let others: String = std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .filter(|line| !secrets.keys().any(|id| line.starts_with(id.as_str())))
        .map(|line| format!("{line}\n"))
        .collect();
    let ours: String = listed
        .access_key_metadata()
        .iter()
        .filter_map(|k| k.access_key_id())
        .filter_map(|id| secrets.get(id).map(|secret| format!("{id} {secret}\n")))
        .collect();
    std::fs::write(&path, others + &ours).expect("write the keys file");
}

async fn current_key(rotation: &Rotation, secret: &str) -> bucket_uploads::objects::signing_identity::SigningKey {
    let value = rotation
        .secrets
        .get_secret_value()
        .secret_id(secret)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .expect("read the secret");
    bucket_uploads::objects::signing_identity::SigningKey::parse(value.secret_string().unwrap_or_default())
        .expect("a key")
}

async fn rotate(rotation: &Rotation, secret: &str, token: &str) -> Result<(), RotationError> {
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let event = RotationEvent {
            step: step.to_owned(),
            secret_id: secret.to_owned(),
            token: token.to_owned(),
        };
        rotation.run(&event).await?;
        // Secrets Manager retries a step whose invocation failed: the same step again is harmless.
        rotation.run(&event).await?;
    }
    Ok(())
}

async fn status(url: &str) -> u16 {
    api_tests::http().get(url).send().await.expect("GET").status().as_u16()
}

#[tokio::test]
async fn rotation_keeps_old_urls_valid_until_they_expire_and_deletes_old_keys_only_when_safe() {
    let sdk = bucket_uploads::aws::function_sdk_config();
    let suffix = bucket_uploads::ids::TaskId::generate().to_string();
    let min_key_age = Duration::from_secs(6);
    let rotation = Rotation::new(&sdk, format!("signer-{suffix}"), min_key_age);
    let (secret, first) = install(&rotation, &format!("signing-{suffix}"))
        .await
        .expect("installed");
    let mut secrets = BTreeMap::from([(first.access_key_id.clone(), first.secret_access_key.clone())]);
    sync_keys(&rotation, &secrets).await;

    // Signing straight from the secret, read again on every URL.
    let settings = Settings {
        signing_secret: Some(secret.clone()),
        signing_refresh: Duration::ZERO,
        ..Settings::from_env().expect("make test sets the environment")
    };
    let app = App::new(&sdk, &settings);
    let key = format!("ns_rotation/{suffix}.bin");
    put_directly(&app, &key, b"rotated".to_vec()).await;
    let long_lived = app.objects.presign_get(&key).await.expect("a URL");
    let short_lived = app
        .objects
        .presign_get_for(&key, Duration::from_secs(3))
        .await
        .expect("a URL");
    assert_eq!(credential_key_id(&long_lived), first.access_key_id);
    assert_eq!(status(&long_lived).await, 200);

    rotate(&rotation, &secret, "00000000-0000-4000-8000-000000000001")
        .await
        .expect("the first rotation");
    let second = current_key(&rotation, &secret).await;
    assert_ne!(second.access_key_id, first.access_key_id);
    secrets.insert(second.access_key_id.clone(), second.secret_access_key.clone());
    let keys = rotation
        .iam
        .list_access_keys()
        .user_name(&rotation.user)
        .send()
        .await
        .expect("keys");
    assert_eq!(keys.access_key_metadata().len(), 2, "the old key overlaps the new one");
    sync_keys(&rotation, &secrets).await;

    let fresh = app.objects.presign_get(&key).await.expect("a URL");
    assert_eq!(
        credential_key_id(&fresh),
        second.access_key_id,
        "new URLs use the new key"
    );
    assert_eq!(status(&fresh).await, 200);
    assert_eq!(status(&long_lived).await, 200, "URLs of the old key still work");
    assert_eq!(status(&short_lived).await, 200);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(status(&short_lived).await, 403, "until they expire");

    // Too soon: the old key may still sign URLs that are valid.
    let early = rotate(&rotation, &secret, "00000000-0000-4000-8000-000000000002").await;
    assert!(matches!(early, Err(RotationError::TooSoon { .. })), "{early:?}");
    assert_eq!(current_key(&rotation, &secret).await, second);

    tokio::time::sleep(min_key_age).await;
    rotate(&rotation, &secret, "00000000-0000-4000-8000-000000000002")
        .await
        .expect("the second rotation");
    let third = current_key(&rotation, &secret).await;
    secrets.insert(third.access_key_id.clone(), third.secret_access_key.clone());
    let ids: Vec<String> = rotation
        .iam
        .list_access_keys()
        .user_name(&rotation.user)
        .send()
        .await
        .expect("keys")
        .access_key_metadata()
        .iter()
        .filter_map(|k| k.access_key_id().map(str::to_owned))
        .collect();
    assert!(!ids.contains(&first.access_key_id), "the first key is deleted: {ids:?}");
    assert!(ids.contains(&second.access_key_id) && ids.contains(&third.access_key_id));
    sync_keys(&rotation, &secrets).await;
    assert_eq!(status(&long_lived).await, 403, "a deleted key's URLs stop working");
    assert_eq!(status(&fresh).await, 200, "the previous key's still work");
}
