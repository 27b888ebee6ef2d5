//! P1: presigning one upload URL, measured by criterion (signing is local: no call).

use bucket_uploads::App;
use bucket_uploads::objects::PutRequirements;
use criterion::Criterion;
use std::path::Path;
use std::time::Duration;

/// The median time to presign one PUT URL, in microseconds.
pub fn run(app: &App, runtime: &tokio::runtime::Runtime, out: &Path) -> f64 {
    let mut criterion = Criterion::default()
        .output_directory(out)
        .without_plots()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let needs = PutRequirements {
        content_type: "video/mp4",
        content_length: Some(1_048_576),
        sha256_hex: None,
    };
    criterion.bench_function("presign_put", |b| {
        b.to_async(runtime).iter(|| async {
            app.objects
                .presign_put("incoming/bkt_x/upl_x/file.mp4", &needs, Duration::from_secs(3600))
                .await
                .expect("presign")
        })
    });
    let estimates = std::fs::read_to_string(out.join("presign_put/new/estimates.json")).expect("criterion's estimates");
    let estimates: serde_json::Value = serde_json::from_str(&estimates).expect("estimates JSON");
    estimates["median"]["point_estimate"].as_f64().expect("a median") / 1e3
}
