//! Presigned S3 URLs, signed with SigV4 directly (aws-sigv4) instead of through the S3
//! client. A URL is a string computed locally; the client's presigning path (its operation
//! serializers, checksum interceptors and endpoint rules) cost each function that presigns
//! over a megabyte of binary, and the functions that only presign never call S3 at all.
//!
//! What is signed is what S3 checks: the method, the key (encoded as S3 encodes it), the
//! host, the headers the caller names, and no payload hash (`UNSIGNED-PAYLOAD`).
//!
//! A URL never outlives the credentials that signed it: S3 refuses a URL whose session
//! token has expired, whatever its `X-Amz-Expires` says, so a URL asked for longer than the
//! credentials have left is signed for what they have left.

use super::addressing::bucket_base;
use crate::errors::Failure;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings, UriPathNormalizationMode,
    sign,
};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_types::SdkConfig;
use aws_types::service_config::ServiceConfigKey;
use std::time::{Duration, SystemTime};

/// A signed URL and the instant it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub url: String,
    pub valid_until: SystemTime,
}

/// Signs URLs for one bucket with the function's credentials.
#[derive(Clone, Debug)]
pub struct Presigner {
    /// Or why there are none to sign with.
    credentials: Result<SharedCredentialsProvider, &'static str>,
    region: Option<String>,
    /// Everything before the encoded key, ending in `/`.
    base: String,
}

impl Presigner {
    /// Addresses the bucket as the S3 client's endpoint rules do (`addressing.rs`): at
    /// `AWS_ENDPOINT_URL_S3` (or `AWS_ENDPOINT_URL`) when set, otherwise at the regional
    /// endpoint; path style when asked.
    pub fn new(sdk: &SdkConfig, force_path_style: bool, bucket: &str) -> Self {
        let region = sdk.region().map(|r| r.as_ref().to_owned());
        let base = bucket_base(
            endpoint_override(sdk).as_deref(),
            region.as_deref().unwrap_or("us-east-1"),
            bucket,
            force_path_style,
        );
        Self {
            credentials: sdk.credentials_provider().ok_or("no AWS credentials configured"),
            region,
            base,
        }
    }

    /// Signs with `credentials` (the signing identity) instead of the function's own.
    pub fn with_credentials(mut self, credentials: SharedCredentialsProvider) -> Self {
        self.credentials = Ok(credentials);
        self
    }

    /// Signs nothing until [`Presigner::with_credentials`] gives it the signing identity: a
    /// function built without the identity it is configured with must not sign with its
    /// own credentials instead.
    pub fn awaiting_identity(mut self) -> Self {
        self.credentials = Err("URLs are signed by the signing identity, which this function was not built with");
        self
    }

    /// When the credentials that sign URLs expire (`None`: keys that do not).
    pub async fn deadline(&self) -> Result<Option<SystemTime>, Failure> {
        Ok(self.credentials().await?.expiry())
    }

    /// A URL for `method` on `key`, valid for `expires_in` (or until the signing
    /// credentials expire, when that is sooner), whose signature also covers `headers`
    /// (lowercase names): a request must send them with exactly these values.
    pub async fn url(
        &self,
        method: &str,
        key: &str,
        headers: &[(&str, &str)],
        expires_in: Duration,
    ) -> Result<Presigned, Failure> {
        self.url_with_query(method, key, &[], headers, expires_in).await
    }

    /// [`Presigner::url`] for a request that carries `query` parameters of its own (an
    /// UploadPart's `partNumber` and `uploadId`), which the signature covers too.
    pub async fn url_with_query(
        &self,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        expires_in: Duration,
    ) -> Result<Presigned, Failure> {
        let region = self
            .region
            .as_deref()
            .ok_or_else(|| Failure::bug("no AWS region configured"))?;
        let credentials = self.credentials().await?;
        let now = SystemTime::now();
        let lifetime = lifetime(expires_in, now, credentials.expiry())?;
        let identity: Identity = credentials.into();
        let mut url = format!("{}{}", self.base, encode_key(key));
        if !query.is_empty() {
            let mut own = form_urlencoded::Serializer::new(String::new());
            own.extend_pairs(query.iter().copied());
            url = format!("{url}?{}", own.finish());
        }
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(lifetime);
        // S3 compares the key as sent: no second encoding, no path normalization.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .map_err(|err| Failure::bug(format!("presigning parameters: {err}")))?
            .into();
        let signable = SignableRequest::new(
            method,
            url.as_str(),
            headers.iter().copied(),
            SignableBody::UnsignedPayload,
        )
        .map_err(|err| Failure::bug(format!("an unsignable URL: {err}")))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|err| Failure::bug(format!("presigning: {err}")))?
            .into_parts();
        let mut signing = form_urlencoded::Serializer::new(String::new());
        for (name, value) in instructions.params() {
            signing.append_pair(name, value);
        }
        let separator = if url.contains('?') { '&' } else { '?' };
        Ok(Presigned {
            url: format!("{url}{separator}{}", signing.finish()),
            valid_until: now + lifetime,
        })
    }

    async fn credentials(&self) -> Result<Credentials, Failure> {
        let provider = self.credentials.as_ref().map_err(|reason| Failure::bug(*reason))?;
        match provider.provide_credentials().await {
            Ok(credentials) => Ok(credentials),
            Err(err) => {
                tracing::error!(error = %aws_smithy_types::error::display::DisplayErrorContext(&err), "no credentials to presign with");
                Err(Failure::Unavailable)
            }
        }
    }
}

/// How long a URL signed at `now` may live: what was asked, but not past the signing
/// credentials' `expiry` (whole seconds: `X-Amz-Expires` counts seconds).
fn lifetime(asked: Duration, now: SystemTime, expiry: Option<SystemTime>) -> Result<Duration, Failure> {
    let Some(expiry) = expiry else {
        return Ok(asked);
    };
    let left = Duration::from_secs(expiry.duration_since(now).unwrap_or_default().as_secs());
    if left.is_zero() {
        tracing::error!("the credentials that sign URLs have expired");
        return Err(Failure::Unavailable);
    }
    Ok(asked.min(left))
}

/// The S3 endpoint the configuration overrides the default with, if any.
fn endpoint_override(sdk: &SdkConfig) -> Option<String> {
    let key = ServiceConfigKey::builder()
        .service_id("S3")
        .profile("endpoint_url")
        .env("AWS_ENDPOINT_URL")
        .build()
        .ok()?;
    sdk.service_config()
        .and_then(|config| config.load_config(key))
        .or_else(|| sdk.endpoint_url().map(str::to_owned))
}

/// A key as S3 expects it in a path (and `x-amz-copy-source`): every byte but the
/// unreserved ones percent-encoded; `/` separates its segments.
pub(super) fn encode_key(key: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(key, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use aws_types::region::Region;

    fn config(endpoint: Option<&str>) -> SdkConfig {
        let mut builder = SdkConfig::builder()
            .region(Region::new("eu-west-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                Some("token".to_owned()),
                None,
                "test",
            )));
        if let Some(endpoint) = endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        builder.build()
    }

    #[test]
    fn keys_are_encoded_as_s3_expects_keeping_their_slashes() {
        assert_eq!(
            encode_key("incoming/ns_1/bkt_1/upl_1/summer clip (final)+ü.mp4"),
            "incoming/ns_1/bkt_1/upl_1/summer%20clip%20%28final%29%2B%C3%BC.mp4"
        );
    }

    #[tokio::test]
    async fn urls_address_the_bucket_as_the_s3_client_does() {
        let cases = [
            (
                None,
                false,
                "media",
                "https://media.s3.eu-west-1.amazonaws.com/a/b.txt?",
            ),
            (
                None,
                false,
                "my.media",
                "https://s3.eu-west-1.amazonaws.com/my.media/a/b.txt?",
            ),
            (
                Some("http://127.0.0.1:9001/"),
                true,
                "media",
                "http://127.0.0.1:9001/media/a/b.txt?",
            ),
            // An IP address: path style without being asked, as the S3 client does.
            (
                Some("http://127.0.0.1:4566"),
                false,
                "media",
                "http://127.0.0.1:4566/media/a/b.txt?",
            ),
            (
                Some("https://s3.example.test"),
                false,
                "media",
                "https://media.s3.example.test/a/b.txt?",
            ),
        ];
        for (endpoint, path_style, bucket, prefix) in cases {
            let presigner = Presigner::new(&config(endpoint), path_style, bucket);
            let url = presigner
                .url("GET", "a/b.txt", &[], Duration::from_secs(60))
                .await
                .unwrap()
                .url;
            assert!(url.starts_with(prefix), "{url} does not start with {prefix}");
        }
    }

    #[tokio::test]
    async fn a_presigner_awaiting_the_identity_signs_nothing_until_given_it() {
        let waiting = Presigner::new(&config(None), false, "media").awaiting_identity();
        let refused = waiting.url("GET", "k", &[], Duration::from_secs(60)).await;
        assert!(
            matches!(&refused, Err(Failure::Bug(why)) if why.contains("signing identity")),
            "{refused:?}"
        );
        assert!(waiting.deadline().await.is_err());

        let identity = Credentials::new("AKIDIDENTITY", "secret", None, None, "identity");
        let given = waiting.with_credentials(SharedCredentialsProvider::new(identity));
        let url = given.url("GET", "k", &[], Duration::from_secs(60)).await.unwrap().url;
        assert!(url.contains("X-Amz-Credential=AKIDIDENTITY%2F"), "{url}");
        assert_eq!(given.deadline().await.unwrap(), None);
    }

    #[tokio::test]
    async fn the_signature_covers_the_named_headers_and_the_session_token() {
        let presigner = Presigner::new(&config(None), false, "media");
        let headers = [("content-type", "image/png"), ("content-length", "12")];
        let url = presigner
            .url("PUT", "k", &headers, Duration::from_secs(900))
            .await
            .unwrap()
            .url;
        let (_, query) = url.split_once('?').unwrap();
        let query: std::collections::HashMap<String, String> =
            form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        assert_eq!(query["X-Amz-SignedHeaders"], "content-length;content-type;host");
        assert_eq!(query["X-Amz-Expires"], "900");
        assert_eq!(query["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
        assert!(query["X-Amz-Credential"].ends_with("/eu-west-1/s3/aws4_request"));
        assert!(query.contains_key("X-Amz-Security-Token"));
        assert_eq!(query["X-Amz-Signature"].len(), 64);
    }

    #[test]
    fn a_url_lives_as_asked_but_never_past_its_credentials() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let hour = Duration::from_secs(3600);
        assert_eq!(lifetime(hour, now, None).unwrap(), hour);
        assert_eq!(lifetime(hour, now, Some(now + 2 * hour)).unwrap(), hour);
        let ten_minutes = Duration::from_secs(600);
        assert_eq!(
            lifetime(hour, now, Some(now + ten_minutes + Duration::from_millis(900))).unwrap(),
            ten_minutes
        );
        assert_eq!(
            lifetime(hour, now, Some(now + Duration::from_millis(999))),
            Err(Failure::Unavailable)
        );
        assert_eq!(lifetime(hour, now, Some(now - hour)), Err(Failure::Unavailable));
    }
}
