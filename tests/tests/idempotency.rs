//! `Idempotency-Key` on the writes, against the local stack: a repeat replays the first
//! answer, another request with the key is refused, a key still in use answers 409, an
//! expired record frees the key, errors are not kept, keys are per API key, and 20 racing
//! creates with one key make one upload.

use api_tests::{Tenant, expect_json, expect_validation};
use bucket_uploads::idempotency::{IdempotencyKey, IdempotencyRecord, fingerprint};
use bucket_uploads::time::Timestamp;
use reqwest::{Method, Response};
use serde_json::{Value, json};

fn body(name: &str) -> Value {
    json!({"filename": name, "content_type": "text/plain", "file_size_bytes": 5})
}

async fn create(tenant: &Tenant, key: &str, body: &Value) -> Response {
    tenant
        .request(Method::POST, &tenant.uploads_path())
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn replayed(response: &Response) -> bool {
    response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

async fn uploads_named(tenant: &Tenant, name: &str) -> usize {
    let list = expect_json(tenant.list("", json!({"filters": {"filename": name}})).await, 200).await;
    list["results"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn a_repeat_replays_the_first_answer_and_another_request_is_refused() {
    let tenant = Tenant::new().await;
    let key = format!("k-{}", Timestamp::now().epoch_millis());
    let first = create(&tenant, &key, &body("once.txt")).await;
    assert!(!replayed(&first));
    let first = expect_json(first, 200).await;

    let again = create(&tenant, &key, &body("once.txt")).await;
    assert!(replayed(&again), "a repeat says it is a replay");
    assert_eq!(expect_json(again, 200).await, first, "the very same answer");
    assert_eq!(uploads_named(&tenant, "once.txt").await, 1, "one upload");

    let other = create(&tenant, &key, &body("other.txt")).await;
    let errors = expect_validation(other).await;
    assert_eq!(errors, vec![json!(["header", "Idempotency-Key"])]);
    assert_eq!(uploads_named(&tenant, "other.txt").await, 0);

    // Confirm and delete take keys too; a delete replayed answers its 204 again.
    let upload_id = first["upload_id"].as_str().unwrap();
    let path = format!("{}/{upload_id}", tenant.uploads_path());
    for _ in 0..2 {
        let deleted = tenant
            .request(Method::DELETE, &path)
            .header("Idempotency-Key", format!("{key}-delete"))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
    }
    let gone = tenant.request(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(gone.status(), 404, "without the key, the delete runs and finds nothing");
}

#[tokio::test]
async fn keys_are_per_api_key_and_bad_keys_are_refused() {
    let (one, two) = (Tenant::new().await, Tenant::new().await);
    let key = format!("shared-{}", Timestamp::now().epoch_millis());
    let a = expect_json(create(&one, &key, &body("a.txt")).await, 200).await;
    let b = create(&two, &key, &body("a.txt")).await;
    assert!(!replayed(&b), "another API key's request runs");
    assert_ne!(expect_json(b, 200).await["upload_id"], a["upload_id"]);

    for bad in ["with space", "naïve", &"x".repeat(256)] {
        let errors = expect_validation(create(&one, bad, &body("bad.txt")).await).await;
        assert_eq!(errors, vec![json!(["header", "Idempotency-Key"])], "{bad:?}");
    }
}

#[tokio::test]
async fn a_key_in_use_answers_409_and_an_expired_one_runs_again() {
    let tenant = Tenant::new().await;
    let request = body("held.txt");
    let path = tenant.uploads_path();
    let bytes = serde_json::to_vec(&request).unwrap();
    let print = fingerprint("POST", &path, &bytes);
    let held = IdempotencyKey::parse("held").unwrap().record_key(&tenant.key_id);
    let now = Timestamp::now();
    // A request with the key is running (its claim, without an answer).
    let claim = IdempotencyRecord::claim(print.clone(), now);
    tenant
        .app
        .store
        .claim_idempotency_key(&held, &claim, now)
        .await
        .unwrap();
    let busy = tenant
        .request(Method::POST, &path)
        .header("Idempotency-Key", "held")
        .header("content-type", "application/json")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(busy.status(), 409);
    assert_eq!(busy.headers()["retry-after"], "1");
    let body_409: Value = busy.json().await.unwrap();
    assert_eq!(body_409["error"]["code"], "request_in_progress");

    // The same record expired (its day passed): the key is free, the request runs.
    let expired = IdempotencyRecord {
        expires_at: now.plus_seconds(-1),
        ..claim
    };
    assert!(tenant.app.store.settle_idempotency_key(&held, &expired).await.unwrap());
    let ran = tenant
        .request(Method::POST, &path)
        .header("Idempotency-Key", "held")
        .header("content-type", "application/json")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert!(!replayed(&ran));
    assert_eq!(expect_json(ran, 200).await["filename"], "held.txt");
}

#[tokio::test]
async fn an_error_is_not_kept_so_the_fixed_request_runs() {
    let tenant = Tenant::new().await;
    let created = tenant.create_upload(body("late.txt")).await;
    let upload_id = created["upload_id"].as_str().unwrap();
    let confirm = |key: &'static str| {
        tenant
            .request(Method::POST, &format!("{}/{upload_id}/confirm", tenant.uploads_path()))
            .header("Idempotency-Key", key)
            .send()
    };
    let early = confirm("confirm-1").await.unwrap();
    assert_eq!(early.status(), 400, "nothing uploaded yet");
    let url = created["presigned_url"].as_str().unwrap();
    assert_eq!(
        api_tests::put(url, &[("content-type", "text/plain")], b"hello".to_vec()).await,
        200
    );
    let done = confirm("confirm-1").await.unwrap();
    assert!(!replayed(&done), "the refusal was not kept");
    assert_eq!(expect_json(done, 200).await["status"], "COMPLETED");
    let replay = confirm("confirm-1").await.unwrap();
    assert!(replayed(&replay));
    assert_eq!(expect_json(replay, 200).await["status"], "COMPLETED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_racing_creates_with_one_key_make_one_upload() {
    let tenant = Tenant::new().await;
    let key = format!("race-{}", Timestamp::now().epoch_millis());
    let request = body("race.txt");
    let answers = futures::future::join_all((0..20).map(|_| create(&tenant, &key, &request))).await;
    let mut bodies = Vec::new();
    let (mut ran, mut replays, mut busy) = (0, 0, 0);
    for response in answers {
        match response.status().as_u16() {
            200 if replayed(&response) => {
                replays += 1;
                bodies.push(response.json::<Value>().await.unwrap());
            }
            200 => {
                ran += 1;
                bodies.push(response.json::<Value>().await.unwrap());
            }
            409 => busy += 1,
            other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
        }
    }
    assert_eq!(ran, 1, "one request executed ({replays} replays, {busy} busy)");
    assert_eq!(ran + replays + busy, 20);
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "every 200 carries the same body"
    );
    assert_eq!(uploads_named(&tenant, "race.txt").await, 1);
}
