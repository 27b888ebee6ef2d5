//! The signing identity: the access key of an IAM user that may only write uploads and read
//! verified objects, kept in Secrets Manager (`UPLOADS_SIGNING_SECRET_ARN`). URLs signed with
//! it carry no session token and live as long as `X-Amz-Expires` says, unlike URLs signed with
//! a function role's session credentials, which S3 refuses once the session ends.
//!
//! The secret's current version (`AWSCURRENT`) is read on first use and again every
//! `refresh` (rotation makes a new version current; the old key keeps working until the next
//! rotation, so URLs it signed meanwhile stay valid). Should a refresh fail, the key read
//! before keeps signing: it is still valid for at least a rotation interval.

use crate::aws::{LazyClient, sdk_failure};
use crate::calls::CallCounter;
use crate::errors::Failure;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials};
use aws_types::SdkConfig;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often a container reads the secret again by default.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);

/// What the secret holds: one access key of the signing user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKey {
    #[serde(rename = "AccessKeyId")]
    pub access_key_id: String,
    #[serde(rename = "SecretAccessKey")]
    pub secret_access_key: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn parse(secret_string: &str) -> Result<Self, Failure> {
        serde_json::from_str(secret_string)
            .map_err(|_| Failure::bug("the signing secret is not {AccessKeyId, SecretAccessKey}"))
    }

    fn credentials(&self) -> Credentials {
        Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            None,
            None,
            "signing-identity",
        )
    }
}

/// Credentials read from the signing secret, for the presigner.
#[derive(Clone, Debug)]
pub struct SigningIdentity {
    secret_id: String,
    client: LazyClient<aws_sdk_secretsmanager::Client>,
    refresh: Duration,
    cached: Arc<Mutex<Option<(Credentials, Instant)>>>,
}

impl SigningIdentity {
    pub fn new(sdk: &SdkConfig, calls: &CallCounter, secret_id: String, refresh: Duration) -> Self {
        Self {
            secret_id,
            client: LazyClient::new(sdk, calls),
            refresh,
            cached: Arc::default(),
        }
    }

    fn secrets(&self) -> &aws_sdk_secretsmanager::Client {
        self.client.get(|sdk, calls| {
            let config = aws_sdk_secretsmanager::config::Builder::from(sdk)
                .interceptor(calls.clone())
                .build();
            aws_sdk_secretsmanager::Client::from_conf(config)
        })
    }

    async fn read(&self) -> Result<Credentials, Failure> {
        let output = self
            .secrets()
            .get_secret_value()
            .secret_id(&self.secret_id)
            // Named, not left to the default: moto (the local stand-in) answers the default
            // with the first version even after a rotation moved AWSCURRENT.
            .version_stage("AWSCURRENT")
            .send()
            .await
            .map_err(|err| sdk_failure("read the signing secret", err))?;
        let text = output
            .secret_string()
            .ok_or_else(|| Failure::bug("the signing secret has no string"))?;
        Ok(SigningKey::parse(text)?.credentials())
    }

    async fn current(&self) -> Result<Credentials, Failure> {
        let cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some((credentials, read_at)) = &cached
            && read_at.elapsed() < self.refresh
        {
            return Ok(credentials.clone());
        }
        match self.read().await {
            Ok(fresh) => {
                *self.cached.lock().unwrap_or_else(PoisonError::into_inner) = Some((fresh.clone(), Instant::now()));
                Ok(fresh)
            }
            Err(err) => match cached {
                Some((stale, _)) => {
                    tracing::warn!(error = %err, "signing secret not refreshed; the key read before keeps signing");
                    Ok(stale)
                }
                None => Err(err),
            },
        }
    }
}

impl ProvideCredentials for SigningIdentity {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            self.current().await.map_err(CredentialsError::provider_error)
        })
    }
}
