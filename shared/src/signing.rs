//! Rotation of the signing identity's access key, as Secrets Manager drives it
//! (`createSecret`, `setSecret`, `testSecret`, `finishSecret`; each step may be retried).
//!
//! Keys overlap: a rotation makes a new key current and leaves the old one working; the old
//! one is deleted by the *next* rotation, and only when the current key has been current for
//! longer than the longest URL can live (`min_key_age`: the URL maximum plus the functions'
//! refresh interval). A URL signed by a key therefore always outlives neither its
//! `X-Amz-Expires` nor its key. A rotation that comes too soon fails instead of deleting
//! (the alarm on the rotation function's errors says so), and the next scheduled one
//! succeeds.
//!
//! The user may hold two keys (IAM's limit): the current one and the previous one.

use crate::aws::sdk_failure;
use crate::errors::Failure;
use crate::objects::signing_identity::SigningKey;
use aws_sdk_iam::types::StatusType;
use serde::Deserialize;
use std::time::{Duration, SystemTime};

const CURRENT: &str = "AWSCURRENT";
const PENDING: &str = "AWSPENDING";

/// What Secrets Manager sends the rotation function.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RotationEvent {
    #[serde(rename = "Step")]
    pub step: String,
    #[serde(rename = "SecretId")]
    pub secret_id: String,
    #[serde(rename = "ClientRequestToken")]
    pub token: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RotationError {
    /// Deleting the previous key now could break URLs it signed.
    #[error(
        "rotation refused: the current key {key} is {age:?} old; the previous key may sign URLs valid until it is {needed:?} old"
    )]
    TooSoon {
        key: String,
        age: Duration,
        needed: Duration,
    },
    #[error("rotation failed: {0}")]
    Failed(String),
    #[error(transparent)]
    Failure(#[from] Failure),
}

impl RotationError {
    /// The `errorType` a failed step reports (Lambda's logs and Secrets Manager's history
    /// show it).
    pub fn error_type(&self) -> &'static str {
        match self {
            RotationError::TooSoon { .. } => "RotationTooSoon",
            RotationError::Failed(_) => "RotationFailed",
            RotationError::Failure(Failure::Unavailable) => "DependencyUnavailable",
            RotationError::Failure(_) => "RotationBug",
        }
    }
}

/// The signing user's keys (IAM) and the secret holding the current one (Secrets Manager).
#[derive(Clone, Debug)]
pub struct Rotation {
    pub iam: aws_sdk_iam::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub user: String,
    pub min_key_age: Duration,
}

impl Rotation {
    pub fn new(sdk: &aws_types::SdkConfig, user: String, min_key_age: Duration) -> Self {
        Self {
            iam: aws_sdk_iam::Client::new(sdk),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
            user,
            min_key_age,
        }
    }

    pub async fn run(&self, event: &RotationEvent) -> Result<(), RotationError> {
        tracing::info!(step = %event.step, token = %event.token, "rotation step");
        match event.step.as_str() {
            "createSecret" => self.create(&event.secret_id, &event.token).await,
            // The key is active from its creation: nothing to set.
            "setSecret" => Ok(()),
            "testSecret" => self.test(&event.secret_id, &event.token).await,
            "finishSecret" => self.finish(&event.secret_id, &event.token).await,
            other => Err(RotationError::Failed(format!("unknown step {other}"))),
        }
    }

    /// The stages of each version of the secret.
    async fn versions(&self, secret_id: &str) -> Result<Vec<(String, Vec<String>)>, Failure> {
        let described = self
            .secrets
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|err| sdk_failure("describe the signing secret", err))?;
        Ok(described
            .version_ids_to_stages()
            .map(|m| m.iter().map(|(v, s)| (v.clone(), s.clone())).collect())
            .unwrap_or_default())
    }

    async fn key(&self, secret_id: &str, version: Option<&str>, stage: &str) -> Result<SigningKey, Failure> {
        let value = self
            .secrets
            .get_secret_value()
            .secret_id(secret_id)
            .set_version_id(version.map(str::to_owned))
            .version_stage(stage)
            .send()
            .await
            .map_err(|err| sdk_failure("read the signing secret", err))?;
        SigningKey::parse(value.secret_string().unwrap_or_default())
    }

    /// The user's keys: id, active, created.
    async fn user_keys(&self) -> Result<Vec<(String, bool, SystemTime)>, Failure> {
        let listed = self
            .iam
            .list_access_keys()
            .user_name(&self.user)
            .send()
            .await
            .map_err(|err| sdk_failure("list the signing user's keys", err))?;
        Ok(listed
            .access_key_metadata()
            .iter()
            .filter_map(|k| {
                let created = k
                    .create_date()
                    .and_then(|d| SystemTime::try_from(*d).ok())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                Some((
                    k.access_key_id()?.to_owned(),
                    k.status() == Some(&StatusType::Active),
                    created,
                ))
            })
            .collect())
    }

    /// A new key as the pending version `token`, after deleting every key but the current
    /// one (the previous key, retired by the last rotation, or a key a failed attempt made).
    async fn create(&self, secret_id: &str, token: &str) -> Result<(), RotationError> {
        let versions = self.versions(secret_id).await?;
        if versions
            .iter()
            .any(|(v, stages)| v == token && stages.iter().any(|s| s == PENDING))
        {
            return Ok(());
        }
        let current = self.key(secret_id, None, CURRENT).await?;
        let keys = self.user_keys().await?;
        let created = keys
            .iter()
            .find(|(id, ..)| *id == current.access_key_id)
            .map(|(_, _, created)| *created)
            .ok_or_else(|| {
                RotationError::Failed(format!(
                    "the current key {} is not a key of {}",
                    current.access_key_id, self.user
                ))
            })?;
        let others: Vec<&String> = keys
            .iter()
            .map(|(id, ..)| id)
            .filter(|id| **id != current.access_key_id)
            .collect();
        let age = SystemTime::now().duration_since(created).unwrap_or_default();
        if !others.is_empty() && age < self.min_key_age {
            return Err(RotationError::TooSoon {
                key: current.access_key_id,
                age,
                needed: self.min_key_age,
            });
        }
        for id in others {
            self.iam
                .delete_access_key()
                .user_name(&self.user)
                .access_key_id(id)
                .send()
                .await
                .map_err(|err| sdk_failure("delete the previous signing key", err))?;
            tracing::info!(access_key_id = %id, "previous signing key deleted");
        }
        let key = self.new_key().await?;
        self.secrets
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(token)
            .secret_string(secret_json(&key)?)
            .version_stages(PENDING)
            .send()
            .await
            .map_err(|err| sdk_failure("store the new signing key", err))?;
        tracing::info!(access_key_id = %key.access_key_id, "signing key created (pending)");
        Ok(())
    }

    /// A new access key of the user.
    async fn new_key(&self) -> Result<SigningKey, RotationError> {
        let made = self
            .iam
            .create_access_key()
            .user_name(&self.user)
            .send()
            .await
            .map_err(|err| sdk_failure("create a signing key", err))?;
        made.access_key()
            .map(|k| SigningKey {
                access_key_id: k.access_key_id().to_owned(),
                secret_access_key: k.secret_access_key().to_owned(),
            })
            .ok_or_else(|| RotationError::Failed("IAM returned no key".into()))
    }

    /// The pending key is an active key of the user.
    async fn test(&self, secret_id: &str, token: &str) -> Result<(), RotationError> {
        let pending = self.key(secret_id, Some(token), PENDING).await?;
        let active = self
            .user_keys()
            .await?
            .iter()
            .any(|(id, active, _)| *id == pending.access_key_id && *active);
        if active {
            Ok(())
        } else {
            Err(RotationError::Failed(format!(
                "the pending key {} is not an active key of {}",
                pending.access_key_id, self.user
            )))
        }
    }

    /// The pending version becomes current; the one it replaces keeps AWSPREVIOUS.
    async fn finish(&self, secret_id: &str, token: &str) -> Result<(), RotationError> {
        let versions = self.versions(secret_id).await?;
        let current = versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == CURRENT))
            .map(|(v, _)| v.clone());
        if current.as_deref() == Some(token) {
            return Ok(());
        }
        self.secrets
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(CURRENT)
            .move_to_version_id(token)
            .set_remove_from_version_id(current)
            .send()
            .await
            .map_err(|err| sdk_failure("make the new signing key current", err))?;
        tracing::info!(token, "signing key rotated");
        Ok(())
    }
}

fn secret_json(key: &SigningKey) -> Result<String, Failure> {
    serde_json::to_string(key).map_err(|_| Failure::bug("signing key does not serialize"))
}

/// The first key of a new signing user and the secret holding it (the template does this
/// in AWS; the local stack and tests call it). Returns the secret's ARN and the key.
pub async fn install(rotation: &Rotation, secret_name: &str) -> Result<(String, SigningKey), RotationError> {
    rotation
        .iam
        .create_user()
        .user_name(&rotation.user)
        .send()
        .await
        .map_err(|err| sdk_failure("create the signing user", err))?;
    let key = rotation.new_key().await?;
    let secret = rotation
        .secrets
        .create_secret()
        .name(secret_name)
        .secret_string(secret_json(&key)?)
        .send()
        .await
        .map_err(|err| sdk_failure("create the signing secret", err))?;
    let arn = secret
        .arn()
        .ok_or_else(|| RotationError::Failed("Secrets Manager returned no ARN".into()))?
        .to_owned();
    Ok((arn, key))
}
