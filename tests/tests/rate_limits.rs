//! Requests per second per API key (issue 16): a burst over a key's allowance is answered
//! 429 in the envelope with `Retry-After`, while another tenant's key at the same moment is
//! unaffected; after waiting as told, the key is admitted again.

use api_tests::{Tenant, expect_error};
use bucket_uploads::rate_limit::RateLimit;
use reqwest::Method;
use std::time::{Duration, Instant};

const MISSING: &str = "upl_00000000000000000000000000";

async fn burst(tenant: &Tenant, n: usize) -> Vec<reqwest::Response> {
    let path = format!("{}/{MISSING}", tenant.uploads_path());
    let sends = (0..n).map(|_| tenant.request(Method::GET, &path).send());
    futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.expect("GET"))
        .collect()
}

#[tokio::test]
async fn a_burst_over_a_keys_allowance_is_429_and_other_keys_are_unaffected() {
    let limited = Tenant::new().await;
    let limit = RateLimit {
        per_second: 2,
        burst: 3,
    };
    bucket_uploads::tenancy::set_rate_limit(&limited.app.store, &limited.key_id, limit)
        .await
        .expect("set the key's allowance");
    let other = Tenant::new().await;

    let started = Instant::now();
    let (limited_answers, other_answers) = tokio::join!(burst(&limited, 12), burst(&other, 12));
    let elapsed = started.elapsed().as_secs_f64();

    let other_statuses: Vec<u16> = other_answers.iter().map(|r| r.status().as_u16()).collect();
    assert!(other_statuses.iter().all(|s| *s == 404), "{other_statuses:?}");

    let mut admitted = 0;
    let mut refused = Vec::new();
    for response in limited_answers {
        match response.status().as_u16() {
            404 => admitted += 1,
            429 => refused.push(response),
            other => panic!("unexpected {other}"),
        }
    }
    // The burst, plus what refilled while the requests were served.
    let allowed = 3 + (2.0 * elapsed).ceil() as usize;
    assert!(
        admitted >= 3 && admitted <= allowed,
        "{admitted} admitted in {elapsed:.2} s"
    );
    assert_eq!(admitted + refused.len(), 12);

    let first = refused.remove(0);
    let retry_after: u64 = first
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    let body = expect_error(first, 429, "TooManyRequestsError").await;
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(body["error"]["details"]["limit_per_second"], 2);
    assert_eq!(body["error"]["details"]["burst"], 3);

    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let again = burst(&limited, 1).await.remove(0);
    assert_eq!(again.status().as_u16(), 404, "admitted again after Retry-After");
}
