//! The application's dependencies, built once per Lambda cold start.

use crate::calls::CallCounter;
use crate::directory::{DEFAULT_TTL, Directory};
use crate::dispatch::Dispatcher;
use crate::event_bus::EventBus;
use crate::objects::{DEFAULT_COPY_TIMEOUT, ObjectStore, SigningIdentity, SizeLimits, signing_identity};
use crate::quota::Quota;
use crate::rate_limit::RateLimit;
use crate::store::Store;
use std::time::Duration;

/// Where the service keeps its state, read from the environment:
/// `UPLOADS_TABLE`, `UPLOADS_S3_BUCKET`, and `UPLOADS_S3_FORCE_PATH_STYLE=true` for S3
/// servers without virtual-hosted buckets (the local one).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub table: String,
    pub s3_bucket: String,
    pub s3_force_path_style: bool,
    /// `UPLOADS_STATE_MACHINE_ARN`: the confirmation state machine (in AWS).
    pub state_machine_arn: Option<String>,
    /// `UPLOADS_DIRECTORY_TTL_SECS`: how long a warm container trusts a key, namespace or
    /// bucket it read (default 60; 0 reads every time).
    pub directory_ttl: Duration,
    /// `UPLOADS_COPY_TIMEOUT_SECS`: how long one S3 copy may take (default 25 s, within an
    /// API function's 29; the worker, which copies up to 5 GB, is given more).
    pub copy_timeout: Duration,
    /// `UPLOADS_SIGNING_SECRET_ARN`: the secret holding the signing user's access key; URLs
    /// are signed with the function's own credentials without it.
    pub signing_secret: Option<String>,
    /// `UPLOADS_SIGNING_KEY_REFRESH_SECS`: how often the secret is read again (default 300).
    pub signing_refresh: Duration,
    /// `UPLOADS_KEY_RATE_PER_SEC` and `UPLOADS_KEY_RATE_BURST`: what an API key may send
    /// (default 50 a second, bursts of 100), unless its record says otherwise.
    pub key_rate_limit: RateLimit,
    /// `UPLOADS_QUOTA_MAX_BYTES`, `UPLOADS_QUOTA_MAX_PENDING_UPLOADS` and
    /// `UPLOADS_QUOTA_MAX_FILE_SIZE_BYTES`: a tenant's storage limits (default 100 GiB,
    /// 10 000, 5 GiB), unless its record says otherwise.
    pub quota: Quota,
    /// How large objects are handled (S3's limits unless a test lowers them; see
    /// [`SizeLimits`]).
    pub size_limits: SizeLimits,
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("environment variable {name} is not set"));
        Ok(Self {
            table: var("UPLOADS_TABLE")?,
            s3_bucket: var("UPLOADS_S3_BUCKET")?,
            s3_force_path_style: std::env::var("UPLOADS_S3_FORCE_PATH_STYLE").is_ok_and(|v| v == "true" || v == "1"),
            state_machine_arn: std::env::var("UPLOADS_STATE_MACHINE_ARN")
                .ok()
                .filter(|v| !v.is_empty()),
            directory_ttl: match std::env::var("UPLOADS_DIRECTORY_TTL_SECS") {
                Ok(secs) => Duration::from_secs(
                    secs.parse()
                        .map_err(|_| format!("UPLOADS_DIRECTORY_TTL_SECS is not a number of seconds: {secs}"))?,
                ),
                Err(_) => DEFAULT_TTL,
            },
            copy_timeout: match std::env::var("UPLOADS_COPY_TIMEOUT_SECS") {
                Ok(secs) => Duration::from_secs(
                    secs.parse()
                        .map_err(|_| format!("UPLOADS_COPY_TIMEOUT_SECS is not a number of seconds: {secs}"))?,
                ),
                Err(_) => DEFAULT_COPY_TIMEOUT,
            },
            signing_secret: std::env::var("UPLOADS_SIGNING_SECRET_ARN")
                .ok()
                .filter(|v| !v.is_empty()),
            signing_refresh: match std::env::var("UPLOADS_SIGNING_KEY_REFRESH_SECS") {
                Ok(secs) => Duration::from_secs(
                    secs.parse()
                        .map_err(|_| format!("UPLOADS_SIGNING_KEY_REFRESH_SECS is not a number of seconds: {secs}"))?,
                ),
                Err(_) => signing_identity::DEFAULT_REFRESH,
            },
            key_rate_limit: RateLimit {
                per_second: number("UPLOADS_KEY_RATE_PER_SEC", RateLimit::DEFAULT.per_second)?,
                burst: number("UPLOADS_KEY_RATE_BURST", RateLimit::DEFAULT.burst)?,
            },
            quota: Quota {
                max_bytes: number("UPLOADS_QUOTA_MAX_BYTES", Quota::DEFAULT.max_bytes)?,
                max_pending_uploads: number("UPLOADS_QUOTA_MAX_PENDING_UPLOADS", Quota::DEFAULT.max_pending_uploads)?,
                max_file_size_bytes: number("UPLOADS_QUOTA_MAX_FILE_SIZE_BYTES", Quota::DEFAULT.max_file_size_bytes)?,
            },
            size_limits: SizeLimits {
                min_part_size_bytes: number("UPLOADS_MIN_PART_SIZE_BYTES", SizeLimits::S3.min_part_size_bytes)?,
                single_copy_max_bytes: number("UPLOADS_SINGLE_COPY_MAX_BYTES", SizeLimits::S3.single_copy_max_bytes)?,
                worker_bytes_per_run: match std::env::var("UPLOADS_WORKER_BYTES_PER_RUN") {
                    Ok(_) => Some(number("UPLOADS_WORKER_BYTES_PER_RUN", 0u64)?),
                    Err(_) => None,
                },
            },
        })
    }
}

/// An optional whole number from the environment.
fn number<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .map_err(|_| format!("{name} is not a whole number: {value}")),
        Err(_) => Ok(default),
    }
}

#[derive(Clone, Debug)]
pub struct App {
    pub store: Store,
    pub directory: Directory,
    pub objects: ObjectStore,
    pub dispatcher: Dispatcher,
    /// Where upload and batch events are published (the stream's publisher only).
    pub events: EventBus,
    /// The DynamoDB and S3 calls made through `store` and `objects`.
    pub calls: CallCounter,
}

impl App {
    /// Everything: URLs signed by the signing identity when one is configured, and the
    /// worker started as configured (tests and tools; functions take only what they use,
    /// see [`Wiring`]).
    pub fn new(sdk: &aws_types::SdkConfig, settings: &Settings) -> Self {
        Wiring::new(sdk, settings)
            .signing_urls()
            .starting_workers()
            .reading_objects()
            .publishing_events()
            .build()
    }

    /// [`App::new`] from the environment (see `aws::function_sdk_config`).
    pub fn from_env() -> Result<Self, String> {
        Ok(Wiring::from_env()?
            .signing_urls()
            .starting_workers()
            .reading_objects()
            .publishing_events()
            .build())
    }
}

/// An app being put together for one function. The adapters every function shares come
/// first; what only some functions use is added by name, so that a function's binary links
/// only the SDK clients it calls (issue 13: the Secrets Manager client, and the Step Functions,
/// EventBridge and Lambda clients, are linked into no function that does not ask for them). Nothing here
/// waits on the network: every SDK client is built on its first call.
pub struct Wiring {
    sdk: aws_types::SdkConfig,
    settings: Settings,
    app: App,
}

impl Wiring {
    /// The store, the directory and the object store. Unless [`Wiring::signing_urls`] is
    /// added, URLs cannot be signed while a signing identity is configured (a function
    /// that signs without asking for it fails loudly rather than signing with its role's
    /// short-lived session); no worker is started unless [`Wiring::starting_workers`] is,
    /// and no object is read whole unless [`Wiring::reading_objects`] is.
    pub fn new(sdk: &aws_types::SdkConfig, settings: &Settings) -> Self {
        let calls = CallCounter::default();
        let store = Store::new(sdk, &calls, &settings.table);
        let mut objects = ObjectStore::new(sdk, settings.s3_force_path_style, &calls, &settings.s3_bucket)
            .with_copy_timeout(settings.copy_timeout)
            .with_limits(settings.size_limits);
        if settings.signing_secret.is_some() {
            objects = objects.awaiting_signing_identity();
        }
        let app = App {
            directory: Directory::new(store.clone(), settings.directory_ttl)
                .with_default_rate_limit(settings.key_rate_limit)
                .with_default_quota(settings.quota),
            store,
            objects,
            dispatcher: Dispatcher::unconfigured(),
            events: EventBus::unconfigured(),
            calls,
        };
        Self {
            sdk: sdk.clone(),
            settings: settings.clone(),
            app,
        }
    }

    /// Settings and AWS configuration from the function's environment.
    pub fn from_env() -> Result<Self, String> {
        let settings = Settings::from_env()?;
        Ok(Self::new(&crate::aws::function_sdk_config(), &settings))
    }

    /// Nothing more than the adapters every function shares.
    pub fn shared_only(self) -> Self {
        self
    }

    /// URLs signed by the signing identity (`UPLOADS_SIGNING_SECRET_ARN`), when configured.
    pub fn signing_urls(mut self) -> Self {
        if let Some(secret) = &self.settings.signing_secret {
            let identity = SigningIdentity::new(
                &self.sdk,
                &self.app.calls,
                secret.clone(),
                self.settings.signing_refresh,
            );
            self.app.objects = self.app.objects.signing_with(identity);
        }
        self
    }

    /// Asynchronous confirmations start the worker (a Step Functions execution).
    pub fn starting_workers(mut self) -> Self {
        self.app.dispatcher = Dispatcher::new(&self.sdk, self.settings.state_machine_arn.clone());
        self
    }

    /// Objects may be read whole, to hash bytes S3 kept no SHA-256 of (the worker).
    pub fn reading_objects(mut self) -> Self {
        self.app.objects = self.app.objects.reading_objects();
        self
    }

    /// Events are published on the default EventBridge bus (the stream's publisher).
    pub fn publishing_events(mut self) -> Self {
        self.app.events = EventBus::new(&self.sdk);
        self
    }

    pub fn build(self) -> App {
        self.app
    }
}
