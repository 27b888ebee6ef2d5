//! Who may sign requests: the service's own key pair, and the key pairs listed in
//! `--keys-file` (one `ACCESS_KEY_ID SECRET_ACCESS_KEY` per line), read again on every
//! request. The file stands in for IAM: the signing identity's keys, and during a rotation
//! test the keys the stubbed IAM has issued and not yet deleted.

use s3s::S3Result;
use s3s::auth::{S3Auth, SecretKey};
use std::path::PathBuf;

pub struct Keys {
    pub access_key: String,
    pub secret_key: String,
    pub file: Option<PathBuf>,
}

impl Keys {
    fn listed(&self, access_key: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.file.as_ref()?).ok()?;
        text.lines().find_map(|line| {
            let mut parts = line.split_whitespace();
            (parts.next() == Some(access_key)).then(|| parts.next().map(str::to_owned))?
        })
    }
}

#[async_trait::async_trait]
impl S3Auth for Keys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if access_key == self.access_key {
            return Ok(SecretKey::from(self.secret_key.clone()));
        }
        self.listed(access_key)
            .map(SecretKey::from)
            .ok_or_else(|| s3s::s3_error!(InvalidAccessKeyId))
    }
}
