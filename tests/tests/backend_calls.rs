//! Backend calls per request in a warm container, counted by the SDK interceptor: the
//! targets hold (`make bench` prints the whole table).

use api_tests::app;
use api_tests::calls::{Counted, count_every_endpoint};

#[tokio::test]
async fn warm_requests_make_the_fewest_backend_calls() {
    let counted = count_every_endpoint(&app().await).await;
    let of = |request: &str| -> &Counted {
        counted
            .iter()
            .find(|c| c.request == request)
            .unwrap_or_else(|| panic!("{request} was not counted"))
    };
    let expect = |request: &str, dynamodb: u64, s3: u64| {
        let c = of(request);
        assert_eq!((c.dynamodb, c.s3), (dynamodb, s3), "{request}: {}", c.operations);
    };
    expect("get", 1, 0);
    // Presigning is local: no HeadObject, no call at all.
    expect("get with return_presigned_urls", 1, 0);
    expect("create", 1, 0);
    // GetItem, HeadObject, CopyObject, TransactWriteItems, DeleteObject.
    expect("confirm (sync, small)", 2, 3);
    // The optimistic marker claim loses to the original's, which is then read, and the
    // upload completes as its duplicate: two calls more than an original.
    expect("confirm (sync, duplicate bytes)", 4, 3);
    // The page (a GSI query) and the counters, issued at once.
    expect("list, first page", 2, 0);
    // One page of the status's partition (whole records) and the counters, issued at once.
    expect("list, status filter", 2, 0);
    expect("list, metadata filter", 3, 0);
    // Whether a retry already made them (one read), then two transactions of 50 uploads.
    expect("create batch of 100", 3, 0);
    expect("confirm batch", 1, 0);
    expect("get task (no X-Namespace)", 1, 0);
    // The record in one transaction, then both places its bytes may be, at once.
    expect("delete (PENDING)", 2, 2);
}
