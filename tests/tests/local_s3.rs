//! The development S3 server (`tools/local-s3`) behaves like S3 where the API and its tests
//! lean on it: a read racing a write of the same key sees the object before or after the
//! write, never an error (S3's reads are atomic; s3s-fs writes an object's file and its
//! metadata one after the other).

use api_tests::Tenant;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::primitives::ByteStream;

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
