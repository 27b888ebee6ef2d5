//! `uploads-admin`: operator CLI for the uploads table (local or in AWS).
//!
//! Reads `UPLOADS_TABLE` and the standard AWS environment (region, credentials,
//! `AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local). Prints JSON on stdout, except the `list-…`
//! commands, which print a table unless given `--json`. An API key's plaintext is printed
//! once, by `create-api-key` or `seed-dev`, and is not recoverable; nothing prints its hash.

mod lists;
mod seed;

use bucket_uploads::ids::{BucketId, KeyId, NamespaceId, TenantId};
use bucket_uploads::signing::{self, Rotation};
use bucket_uploads::store::Store;
use bucket_uploads::{ApiError, tenancy};
use clap::{Parser, Subcommand};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    version,
    about = "Operates the uploads table: tenants, namespaces, buckets, API keys, limits."
)]
struct Cli {
    /// The DynamoDB table.
    #[arg(long, env = "UPLOADS_TABLE")]
    table: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates the table with its GSIs unless it exists (local setups; AWS uses template.yaml).
    CreateTable,
    /// Creates a tenant, which owns API keys and namespaces.
    CreateTenant {
        /// Any name; not unique.
        #[arg(long)]
        name: String,
    },
    /// Creates a namespace for a tenant.
    CreateNamespace {
        /// The tenant's id (tnt_…).
        #[arg(long, value_parser = tenant_id)]
        tenant: TenantId,
        /// Unique within the tenant: 1-64 letters, digits, '.', '_' or '-'.
        #[arg(long)]
        name: String,
    },
    /// Creates a bucket in a namespace.
    CreateBucket {
        /// The namespace's id (ns_…).
        #[arg(long, value_parser = namespace_id)]
        namespace: NamespaceId,
        /// Unique within the namespace: 1-64 letters, digits, '.', '_' or '-'.
        #[arg(long)]
        name: String,
        /// The largest file one upload may declare (default 5 GiB).
        #[arg(long)]
        max_file_size_bytes: Option<u64>,
    },
    /// Creates an API key for a tenant and prints it (once).
    CreateApiKey {
        /// The tenant's id (tnt_…).
        #[arg(long, value_parser = tenant_id)]
        tenant: TenantId,
        /// A note for operators (shown by list-api-keys).
        #[arg(long)]
        label: Option<String>,
    },
    /// Deletes an API key. Warm API containers may accept it for up to
    /// `UPLOADS_DIRECTORY_TTL_SECS` (60 s by default) more.
    RevokeApiKey {
        /// The key's id (key_…), the part of the key before its secret.
        #[arg(long, value_parser = key_id)]
        key_id: KeyId,
    },
    /// Gives an API key its own requests-per-second allowance (others get the deployment's
    /// default, UPLOADS_KEY_RATE_PER_SEC / UPLOADS_KEY_RATE_BURST).
    SetRateLimit {
        /// The key's id (key_…).
        #[arg(long, value_parser = key_id)]
        key_id: KeyId,
        /// Requests per second, sustained.
        #[arg(long)]
        per_second: u32,
        /// Requests allowed at once above the sustained rate.
        #[arg(long)]
        burst: u32,
    },
    /// Lists the tenants, oldest first (scans the table).
    ListTenants {
        #[command(flatten)]
        output: lists::Output,
    },
    /// Lists namespaces, all or one tenant's (scans the table).
    ListNamespaces {
        /// Only this tenant's (tnt_…).
        #[arg(long, value_parser = tenant_id)]
        tenant: Option<TenantId>,
        #[command(flatten)]
        output: lists::Output,
    },
    /// Lists buckets, all or one namespace's (scans the table).
    ListBuckets {
        /// Only this namespace's (ns_…).
        #[arg(long, value_parser = namespace_id)]
        namespace: Option<NamespaceId>,
        #[command(flatten)]
        output: lists::Output,
    },
    /// Lists API keys by id and label, all or one tenant's; never a key or its hash (scans the
    /// table).
    ListApiKeys {
        /// Only this tenant's (tnt_…).
        #[arg(long, value_parser = tenant_id)]
        tenant: Option<TenantId>,
        #[command(flatten)]
        output: lists::Output,
    },
    /// Deletes a bucket that holds no upload in any status and frees its name; refused, with
    /// what it holds, otherwise.
    DeleteBucket {
        /// The bucket's id (bkt_…).
        #[arg(long, value_parser = bucket_id)]
        bucket: BucketId,
    },
    /// Deletes a namespace that holds no bucket and frees its name; refused, with its
    /// buckets, otherwise.
    DeleteNamespace {
        /// The namespace's id (ns_…).
        #[arg(long, value_parser = namespace_id)]
        namespace: NamespaceId,
    },
    /// Sets a tenant's own storage limits (those not given stay as they were; without any,
    /// the deployment's defaults apply). Warm containers apply them within the directory
    /// TTL. Prints the tenant's limits and usage.
    SetQuota {
        /// The tenant's id (tnt_…).
        #[arg(long, value_parser = tenant_id)]
        tenant: TenantId,
        /// Bytes stored by completed uploads plus bytes reserved by pending ones.
        #[arg(long)]
        max_bytes: Option<u64>,
        /// Uploads waiting for confirmation.
        #[arg(long)]
        max_pending_uploads: Option<u64>,
        /// The largest file one upload may have.
        #[arg(long)]
        max_file_size: Option<u64>,
    },
    /// Prints a tenant's storage usage and its own limits.
    Usage {
        /// The tenant's id (tnt_…).
        #[arg(long, value_parser = tenant_id)]
        tenant: TenantId,
    },
    /// Creates the URL-signing user, its first key and the secret holding it (local stacks:
    /// IAM and Secrets Manager are emulated; in AWS, template.yaml makes them), and appends
    /// the key to `--keys-file`, local-s3's list of accepted keys.
    InstallSigningIdentity {
        /// The IAM user's name.
        #[arg(long)]
        user: String,
        /// The Secrets Manager secret's name.
        #[arg(long)]
        secret: String,
        /// Where local-s3 reads the keys it accepts.
        #[arg(long)]
        keys_file: Option<PathBuf>,
    },
    /// Ensures a dev tenant, namespace, bucket and key, reusing those recorded in
    /// `--env-file` when they still work, and writes the file.
    SeedDev {
        /// The file to read and write (`.local/dev.env`).
        #[arg(long)]
        env_file: PathBuf,
        /// The API's address, written to the file.
        #[arg(long)]
        api_url: String,
    },
}

fn tenant_id(value: &str) -> Result<TenantId, String> {
    TenantId::parse(value).ok_or_else(|| format!("not a tenant id (tnt_…): {value}"))
}

fn key_id(value: &str) -> Result<KeyId, String> {
    KeyId::parse(value).ok_or_else(|| format!("not a key id (key_…): {value}"))
}

fn namespace_id(value: &str) -> Result<NamespaceId, String> {
    NamespaceId::parse(value).ok_or_else(|| format!("not a namespace id (ns_…): {value}"))
}

fn bucket_id(value: &str) -> Result<BucketId, String> {
    BucketId::parse(value).ok_or_else(|| format!("not a bucket id (bkt_…): {value}"))
}

async fn run(cli: Cli) -> Result<lists::Printed, ApiError> {
    let sdk = bucket_uploads::aws::sdk_config().await;
    let store = Store::from_sdk(&sdk, &cli.table);
    Ok(lists::Printed::Json(match cli.command {
        Command::ListTenants { output } => return Ok(output.tenants(tenancy::list_tenants(&store).await?)),
        Command::ListNamespaces { tenant, output } => {
            return Ok(output.namespaces(tenancy::list_namespaces(&store, tenant.as_ref()).await?));
        }
        Command::ListBuckets { namespace, output } => {
            return Ok(output.buckets(tenancy::list_buckets(&store, namespace.as_ref()).await?));
        }
        Command::ListApiKeys { tenant, output } => {
            return Ok(output.api_keys(tenancy::list_api_keys(&store, tenant.as_ref()).await?));
        }
        Command::DeleteBucket { bucket } => json!({ "deleted": tenancy::delete_bucket(&store, &bucket).await? }),
        Command::DeleteNamespace { namespace } => {
            json!({ "deleted": tenancy::delete_namespace(&store, &namespace).await? })
        }
        Command::CreateTable => json!({ "table": cli.table, "created": store.ensure_table().await? }),
        Command::CreateTenant { name } => json!(tenancy::create_tenant(&store, &name).await?),
        Command::CreateNamespace { tenant, name } => json!(tenancy::create_namespace(&store, &tenant, &name).await?),
        Command::CreateBucket {
            namespace,
            name,
            max_file_size_bytes,
        } => {
            json!(tenancy::create_bucket(&store, &namespace, &name, max_file_size_bytes).await?)
        }
        Command::CreateApiKey { tenant, label } => {
            let key = tenancy::create_api_key(&store, &tenant, label).await?;
            json!({ "api_key": key.plaintext, "key_id": key.record.key_id, "tenant_id": key.record.tenant_id })
        }
        Command::RevokeApiKey { key_id } => {
            let revoked = tenancy::revoke_api_key(&store, &key_id).await?;
            json!({ "revoked": revoked.key_id, "tenant_id": revoked.tenant_id, "label": revoked.label })
        }
        Command::SetRateLimit {
            key_id,
            per_second,
            burst,
        } => {
            let limit = bucket_uploads::rate_limit::RateLimit { per_second, burst };
            let record = tenancy::set_rate_limit(&store, &key_id, limit).await?;
            json!({ "key_id": record.key_id, "rate_limit": record.rate_limit })
        }
        Command::SetQuota {
            tenant,
            max_bytes,
            max_pending_uploads,
            max_file_size,
        } => {
            let own = bucket_uploads::quota::QuotaOverride {
                max_bytes,
                max_pending_uploads,
                max_file_size_bytes: max_file_size,
            };
            let record = tenancy::set_quota(&store, &tenant, &own).await?;
            let usage = store.usage(&tenant).await?;
            json!({ "tenant_id": record.tenant_id, "quota": record.quota, "usage": usage })
        }
        Command::Usage { tenant } => {
            let record = store
                .tenant(&tenant)
                .await?
                .ok_or_else(|| ApiError::not_found("tenant", tenant.to_string()))?;
            let usage = store.usage(&tenant).await?;
            json!({ "tenant_id": record.tenant_id, "quota": record.quota, "usage": usage })
        }
        Command::SeedDev { env_file, api_url } => seed::seed_dev(&store, &env_file, &api_url).await?,
        Command::InstallSigningIdentity {
            user,
            secret,
            keys_file,
        } => {
            let rotation = Rotation::new(&sdk, user, std::time::Duration::ZERO);
            let (arn, key) = signing::install(&rotation, &secret).await.map_err(|err| {
                eprintln!("{err}");
                ApiError::Internal
            })?;
            if let Some(path) = keys_file {
                let line = format!("{} {}\n", key.access_key_id, key.secret_access_key);
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|_| ApiError::Internal)?;
                std::io::Write::write_all(&mut file, line.as_bytes()).map_err(|_| ApiError::Internal)?;
            }
            json!({ "secret_arn": arn, "access_key_id": key.access_key_id })
        }
    }))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Causes of failures are logged through `tracing`; show them on stderr.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    match run(cli).await {
        Ok(printed) => {
            printed.print();
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{:#}", err.body());
            ExitCode::FAILURE
        }
    }
}
