//! Where a bucket's objects are addressed, decided as the S3 client's endpoint rules decide
//! it, so that a presigned URL names the bucket exactly as the SDK's own calls do.
//!
//! The presigning functions sign URLs without the S3 client (issue 13: binary size), so the
//! part of the rules that applies to them is restated here: a custom endpoint (S3-compatible
//! servers, emulators) or the regional endpoint, path-style or virtual-hosted. Access points,
//! S3 Express, FIPS, dual-stack and acceleration are not used by this service. The tests
//! compare every case with the SDK's own resolver.

use http::Uri;

/// Everything before an object's encoded key, ending in `/`: the bucket at `endpoint`
/// (`AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`, when set) or at the regional endpoint.
pub(super) fn bucket_base(endpoint: Option<&str>, region: &str, bucket: &str, force_path_style: bool) -> String {
    let base = match endpoint {
        Some(endpoint) => at_custom_endpoint(endpoint, bucket, force_path_style),
        None => at_regional_endpoint(region, bucket, force_path_style),
    };
    if base.ends_with('/') { base } else { base + "/" }
}

fn at_custom_endpoint(endpoint: &str, bucket: &str, force_path_style: bool) -> String {
    let Some(url) = EndpointUrl::parse(endpoint) else {
        // The SDK refuses such an endpoint outright; path style keeps the URL readable.
        return format!("{}/{}", endpoint.trim_end_matches('/'), encode_bucket(bucket));
    };
    if !force_path_style {
        // A single-label bucket: virtual-hosted, except on an IP address, which no
        // resolver turns into `<bucket>.<ip>`.
        if is_virtual_hostable(bucket, false) {
            return if url.is_ip {
                url.path_style(bucket)
            } else {
                format!("{}://{bucket}.{}{}", url.scheme, url.authority, url.path)
            };
        }
        // Dotted buckets are virtual-hosted only without TLS (no certificate matches them);
        // the rules ask nothing of the host here.
        if url.scheme == "http" && is_virtual_hostable(bucket, true) {
            return format!("http://{bucket}.{}{}", url.authority, url.path);
        }
    }
    url.path_style(bucket)
}

fn at_regional_endpoint(region: &str, bucket: &str, force_path_style: bool) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    if !force_path_style && is_virtual_hostable(bucket, false) {
        format!("https://{bucket}.s3.{region}.{suffix}")
    } else {
        format!("https://s3.{region}.{suffix}/{}", encode_bucket(bucket))
    }
}

/// The parts of an endpoint URL the rules use.
struct EndpointUrl {
    scheme: String,
    authority: String,
    /// As given ("" when the URL names no path, not even `/`).
    path: String,
    /// The path, `/` when empty.
    normalized_path: String,
    is_ip: bool,
}

impl EndpointUrl {
    fn parse(raw: &str) -> Option<Self> {
        let uri: Uri = raw.parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        if (scheme != "http" && scheme != "https") || uri.query().is_some() {
            return None;
        }
        let authority = uri.authority()?;
        let host = authority.host();
        let is_ip = host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok();
        let path = if uri.path() == "/" && !raw.ends_with('/') {
            ""
        } else {
            uri.path()
        };
        let normalized_path = if uri.path().is_empty() { "/" } else { uri.path() };
        Some(Self {
            scheme,
            authority: authority.as_str().to_owned(),
            path: path.to_owned(),
            normalized_path: normalized_path.to_owned(),
            is_ip,
        })
    }

    fn path_style(&self, bucket: &str) -> String {
        format!(
            "{}://{}{}{}",
            self.scheme,
            self.authority,
            self.normalized_path,
            encode_bucket(bucket)
        )
    }
}

/// A bucket name that can be a DNS label (`allow_dots`: several labels).
fn is_virtual_hostable(bucket: &str, allow_dots: bool) -> bool {
    if allow_dots {
        bucket.split('.').all(is_virtual_hostable_label)
    } else {
        is_virtual_hostable_label(bucket)
    }
}

fn is_virtual_hostable_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let inner = |b: &u8| edge(b) || *b == b'-';
    (3..=63).contains(&bytes.len())
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes.iter().all(inner)
}

/// A bucket name in a path, as the rules' `uriEncode` writes it.
fn encode_bucket(bucket: &str) -> String {
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(bucket, UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};

    async fn sdk_base(endpoint: Option<&str>, region: &str, bucket: &str, force_path_style: bool) -> String {
        let params = Params::builder()
            .region(region)
            .bucket(bucket)
            .set_endpoint(endpoint.map(str::to_owned))
            .force_path_style(force_path_style)
            .build()
            .expect("endpoint parameters");
        let resolved = DefaultResolver::new()
            .resolve_endpoint(&params)
            .await
            .unwrap_or_else(|err| panic!("{endpoint:?} {bucket}: {err}"));
        let url = resolved.url().to_owned();
        if url.ends_with('/') { url } else { url + "/" }
    }

    #[tokio::test]
    async fn buckets_are_addressed_as_the_sdks_endpoint_rules_address_them() {
        let endpoints = [
            None,
            Some("http://127.0.0.1:4566"),
            Some("http://127.0.0.1:4566/"),
            Some("http://[::1]:9001"),
            Some("http://localhost:9001"),
            Some("https://s3.example.test"),
            Some("https://s3.example.test/"),
            Some("http://minio.internal:9000"),
        ];
        let buckets = ["uploads", "my.media", "a-b-c", "uploads-test-1234", "192.168.1.1", "ab"];
        let mut compared = 0;
        for endpoint in endpoints {
            for region in ["us-east-1", "eu-west-1", "cn-north-1"] {
                if endpoint.is_some() && region != "us-east-1" {
                    continue;
                }
                for bucket in buckets {
                    for force_path_style in [false, true] {
                        let ours = bucket_base(endpoint, region, bucket, force_path_style);
                        let sdk = sdk_base(endpoint, region, bucket, force_path_style).await;
                        assert_eq!(
                            ours, sdk,
                            "{endpoint:?} {region} {bucket} path style {force_path_style}"
                        );
                        compared += 1;
                    }
                }
            }
        }
        assert_eq!(compared, 2 * buckets.len() * (3 + endpoints.len() - 1));
    }

    #[test]
    fn an_ip_endpoint_is_addressed_path_style() {
        assert_eq!(
            bucket_base(Some("http://127.0.0.1:4566"), "us-east-1", "uploads", false),
            "http://127.0.0.1:4566/uploads/"
        );
        assert_eq!(
            bucket_base(Some("http://localhost:4566"), "us-east-1", "uploads", false),
            "http://uploads.localhost:4566/"
        );
    }
}
