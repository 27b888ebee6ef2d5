//! `make load`: a bounded load test on loopback. `--clients` concurrent clients (50) for
//! `--seconds` (60) run a mix through the API: upload (create, PUT, confirm, get), cancel
//! (create, delete) and browse (list, get). Then it checks the end state against what the
//! clients saw: no API 5xx; every confirmed upload COMPLETED exactly once, with one object
//! record and its bytes at the final key, none left staged; every cancelled upload gone; no
//! upload the clients do not know of; the bucket's counters equal a full recount. It prints
//! throughput and p50/p99 per endpoint, and exits non-zero when any check fails.
//!
//! It sends traffic to 127.0.0.1 only (it refuses any other API URL) and stops by itself.
//! scripts/load.sh starts the stack it runs against.

use api_tests::{Tenant, objects_of, sha256_hex, stored_sha256};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The body `cargo lambda watch` answers with when it loses a function's response.
const WATCH_OWN_500: &str = "https://httpstatuses.com/500";

#[derive(Default)]
struct Record {
    /// Endpoint → latencies.
    latencies: BTreeMap<&'static str, Vec<Duration>>,
    /// Endpoint and status → count.
    statuses: BTreeMap<(&'static str, u16), u64>,
    /// 5xx answers: the API's own, and the emulator's (a lost response).
    api_5xx: Vec<String>,
    emulator_5xx: Vec<String>,
    /// Uploads confirmed (id → SHA-256 of the bytes), cancelled, and left as created.
    completed: BTreeMap<String, String>,
    cancelled: BTreeSet<String>,
    unexpected: Vec<String>,
}

struct Shared {
    tenant: Tenant,
    record: Mutex<Record>,
    deadline: Instant,
}

impl Shared {
    fn record(&self) -> std::sync::MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `request` as `endpoint`, recording its latency and status; the body as JSON.
    async fn call(&self, endpoint: &'static str, request: reqwest::RequestBuilder) -> Option<(u16, Value)> {
        let started = Instant::now();
        let response: Response = match request.send().await {
            Ok(response) => response,
            Err(err) => {
                self.record().unexpected.push(format!("{endpoint}: {err}"));
                return None;
            }
        };
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let elapsed = started.elapsed();
        let mut record = self.record();
        record.latencies.entry(endpoint).or_default().push(elapsed);
        *record.statuses.entry((endpoint, status)).or_default() += 1;
        if status >= 500 {
            let entry = format!("{endpoint} {status}: {}", text.chars().take(200).collect::<String>());
            if text.contains(WATCH_OWN_500) {
                record.emulator_5xx.push(entry);
            } else {
                record.api_5xx.push(entry);
            }
        }
        Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// Creates an upload; `None` (recorded) when that failed.
    async fn create(&self, body: &Value) -> Option<Value> {
        let tenant = &self.tenant;
        let created = self
            .call(
                "create",
                tenant.request(Method::POST, &tenant.uploads_path()).json(body),
            )
            .await;
        if self.expect("create", created.as_ref(), 200) {
            created.map(|(_, upload)| upload)
        } else {
            None
        }
    }

    fn expect(&self, what: &str, got: Option<&(u16, Value)>, status: u16) -> bool {
        match got {
            Some((s, _)) if *s == status => true,
            Some((s, body)) => {
                self.record().unexpected.push(format!("{what}: {s} {body}"));
                false
            }
            None => false,
        }
    }
}

/// create → PUT → confirm → get.
async fn upload(shared: &Shared, n: u64) {
    let size = 1 + (n * 7919) % 65_536;
    let bytes: Vec<u8> = (0..size).map(|i| (i as u8) ^ (n as u8) ^ ((n >> 8) as u8)).collect();
    let mut bytes = bytes;
    bytes.extend_from_slice(format!("{n}:{:?}", Instant::now()).as_bytes());
    let body = json!({"filename": format!("load-{n}.bin"), "content_type": "application/octet-stream",
                      "file_size_bytes": bytes.len(), "metadata": {"client": n % 50}});
    let tenant = &shared.tenant;
    let Some(upload) = shared.create(&body).await else {
        return;
    };
    let id = upload["upload_id"].as_str().unwrap_or_default().to_owned();
    let url = upload["presigned_url"].as_str().unwrap_or_default().to_owned();
    let started = Instant::now();
    let put = api_tests::http()
        .put(&url)
        .header("content-type", "application/octet-stream")
        .body(bytes.clone())
        .send()
        .await
        .map(|r| r.status().as_u16());
    {
        let mut record = shared.record();
        record.latencies.entry("put").or_default().push(started.elapsed());
        let status = put.as_ref().copied().unwrap_or(0);
        *record.statuses.entry(("put", status)).or_default() += 1;
        if status != 200 {
            record.unexpected.push(format!("PUT {id}: {put:?}"));
            return;
        }
    }
    let path = format!("{}/{id}", tenant.uploads_path());
    let confirmed = shared
        .call(
            "confirm",
            tenant
                .request(Method::POST, &format!("{path}/confirm"))
                .json(&json!({"file_size_bytes": bytes.len()})),
        )
        .await;
    if !shared.expect("confirm", confirmed.as_ref(), 200) {
        return;
    }
    shared.record().completed.insert(id.clone(), sha256_hex(&bytes));
    let got = shared.call("get", tenant.request(Method::GET, &path)).await;
    if shared.expect("get", got.as_ref(), 200) {
        let status = got.map(|(_, u)| u["status"].clone()).unwrap_or_default();
        if status != "COMPLETED" {
            shared
                .record()
                .unexpected
                .push(format!("get {id}: {status} after confirm"));
        }
    }
}

/// create → delete.
async fn cancel(shared: &Shared, n: u64) {
    let tenant = &shared.tenant;
    let body = json!({"filename": format!("cancel-{n}.txt"), "content_type": "text/plain"});
    let created = shared
        .call(
            "create",
            tenant.request(Method::POST, &tenant.uploads_path()).json(&body),
        )
        .await;
    if !shared.expect("create", created.as_ref(), 200) {
        return;
    }
    let Some((_, upload)) = created else { return };
    let id = upload["upload_id"].as_str().unwrap_or_default().to_owned();
    let deleted = shared
        .call(
            "delete",
            tenant.request(Method::DELETE, &format!("{}/{id}", tenant.uploads_path())),
        )
        .await;
    if shared.expect("delete", deleted.as_ref(), 204) {
        shared.record().cancelled.insert(id);
    }
}

/// list (a status filter) → get of the first result.
async fn browse(shared: &Shared) {
    let tenant = &shared.tenant;
    let listed = shared
        .call(
            "list",
            tenant
                .request(Method::POST, &format!("{}/list", tenant.uploads_path()))
                .json(&json!({"filters": {"status": "COMPLETED"}, "limit": 10})),
        )
        .await;
    if !shared.expect("list", listed.as_ref(), 200) {
        return;
    }
    let first = listed.and_then(|(_, l)| l["results"][0]["upload_id"].as_str().map(str::to_owned));
    if let Some(id) = first {
        let got = shared
            .call(
                "get",
                tenant.request(Method::GET, &format!("{}/{id}", tenant.uploads_path())),
            )
            .await;
        shared.expect("get", got.as_ref(), 200);
    }
}

async fn client(shared: Arc<Shared>, index: u64, clients: u64) {
    let mut round = 0u64;
    while Instant::now() < shared.deadline {
        let n = round * clients + index;
        match n % 5 {
            0..=2 => upload(&shared, n).await,
            3 => cancel(&shared, n).await,
            _ => browse(&shared).await,
        }
        round += 1;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(default)
}

/// Compares the table and the bucket with what the clients saw; the problems found.
async fn verify(tenant: &Tenant, record: &Record) -> Vec<String> {
    let mut problems = Vec::new();
    let counted = tenant.counted().await;
    let recounted = tenant.recount().await;
    if counted != recounted {
        problems.push(format!("counters {counted:?} != recount {recounted:?}"));
    }
    let listed = tenant
        .request(Method::POST, &format!("{}/list", tenant.uploads_path()))
        .json(&json!({"filters": {"status": "PENDING"}, "limit": 100}))
        .send()
        .await
        .expect("list uploads");
    let pending: Value = listed.json().await.unwrap_or_default();
    if pending["pagination"]["total"] != 0 {
        problems.push(format!("{} uploads left PENDING", pending["pagination"]["total"]));
    }
    let known: usize = record.completed.len();
    if recounted.total_uploads != known as u64 {
        problems.push(format!(
            "the bucket holds {} uploads; the clients confirmed {known} and deleted the rest",
            recounted.total_uploads
        ));
    }
    let ids: BTreeSet<String> = record.completed.keys().cloned().collect();
    let objects = objects_of(&tenant.app, &ids).await;
    if objects.len() != ids.len() || objects.iter().collect::<BTreeSet<_>>().len() != objects.len() {
        problems.push(format!(
            "{} object records for {} completed uploads",
            objects.len(),
            ids.len()
        ));
    }
    let prefix = format!("{}/{}", tenant.namespace.namespace_id, tenant.bucket.bucket_id);
    for (id, sha) in &record.completed {
        let Some(upload_id) = bucket_uploads::ids::UploadId::parse(id) else {
            problems.push(format!("{id}: not an upload id"));
            continue;
        };
        let Ok(Some(upload)) = tenant.app.store.upload(&upload_id).await else {
            problems.push(format!("{id}: confirmed but not in the table"));
            continue;
        };
        if upload.status != bucket_uploads::model::UploadStatus::Completed {
            problems.push(format!("{id}: {} after a 200 confirm", upload.status.as_str()));
        }
        if stored_sha256(&tenant.app, upload.final_key()).await.as_deref() != Some(sha.as_str()) {
            problems.push(format!("{id}: the bytes at its final key are not the bytes sent"));
        }
        if stored_sha256(&tenant.app, &upload.staging_key()).await.is_some() {
            problems.push(format!("{id}: its staged bytes are still there"));
        }
        if !upload.final_key().starts_with(&prefix) {
            problems.push(format!("{id}: key {} outside {prefix}", upload.final_key()));
        }
    }
    problems
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let clients = arg(&args, "--clients", 50);
    let seconds = arg(&args, "--seconds", 60);
    let api = api_tests::api_url();
    let host = reqwest::Url::parse(&api)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    assert_eq!(
        host.as_deref(),
        Some("127.0.0.1"),
        "load goes to 127.0.0.1 only, not {api}"
    );

    let tenant = Tenant::new().await;
    let shared = Arc::new(Shared {
        tenant,
        record: Mutex::new(Record::default()),
        deadline: Instant::now() + Duration::from_secs(seconds),
    });
    println!("{clients} clients for {seconds} s against {api}");
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|i| tokio::spawn(client(shared.clone(), i, clients)))
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    let elapsed = started.elapsed().as_secs_f64();

    let record = std::mem::take(&mut *shared.record());
    println!("\n| endpoint | requests | per second | p50 ms | p99 ms | statuses |");
    println!("|---|---|---|---|---|---|");
    for (endpoint, latencies) in &record.latencies {
        let mut sorted = latencies.clone();
        sorted.sort();
        let statuses: Vec<String> = record
            .statuses
            .iter()
            .filter(|((e, _), _)| e == endpoint)
            .map(|((_, s), n)| format!("{s}×{n}"))
            .collect();
        println!(
            "| {endpoint} | {} | {:.1} | {:.0} | {:.0} | {} |",
            sorted.len(),
            sorted.len() as f64 / elapsed,
            percentile(&sorted, 0.5).as_secs_f64() * 1000.0,
            percentile(&sorted, 0.99).as_secs_f64() * 1000.0,
            statuses.join(" ")
        );
    }
    println!(
        "\nuploads confirmed {}, cancelled {}; API 5xx {}; responses lost by the emulator {}",
        record.completed.len(),
        record.cancelled.len(),
        record.api_5xx.len(),
        record.emulator_5xx.len()
    );

    let mut problems = verify(&shared.tenant, &record).await;
    problems.extend(record.api_5xx.iter().map(|e| format!("API 5xx: {e}")));
    problems.extend(
        record
            .emulator_5xx
            .iter()
            .map(|e| format!("emulator lost a response: {e}")),
    );
    problems.extend(record.unexpected.iter().cloned());
    if problems.is_empty() {
        println!(
            "end state: consistent (counters = recount, one object per confirmed upload, no upload unaccounted for)"
        );
    } else {
        for problem in problems.iter().take(40) {
            println!("PROBLEM: {problem}");
        }
        std::process::exit(1);
    }
}
