//! `uploads`: the API from a shell. Reads `UPLOADS_API_URL`, `UPLOADS_API_KEY`,
//! `UPLOADS_NAMESPACE` and `UPLOADS_BUCKET` (what `.local/dev.env` holds); flags override.
//! Exit codes: 0 done, 1 an API or transfer failure (its message on stderr), 2 a usage error.

mod batch;
mod client;
mod put;

use clap::{Parser, Subcommand};
use client::{Api, CallError, Target};
use put::{Outcome, PutOptions};
use serde_json::{Map, Value, json};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    version,
    about = "Upload files to the uploads API, and read, list, confirm and delete uploads."
)]
struct Cli {
    #[command(flatten)]
    target: Target,
    /// Prints the API's records as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Uploads files: hashes each, creates its upload (bytes the bucket already holds are not
    /// sent again), PUTs it to the presigned URL with a progress bar, and confirms it. Several
    /// files go through batch create and batch confirm, `--parallel` PUTs at a time.
    Put {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Upload metadata, `key=value` (repeatable; searchable and filterable in list).
        #[arg(long = "metadata", value_parser = key_value)]
        metadata: Vec<(String, String)>,
        /// Metadata of the bucket object a confirmation creates, `key=value` (repeatable).
        #[arg(long = "object-metadata", value_parser = key_value)]
        object_metadata: Vec<(String, String)>,
        /// Follows an asynchronous confirmation (files of 100 MiB or more) to its end;
        /// without it such a file is printed PROCESSING, with the task to `wait` for.
        #[arg(long)]
        wait: bool,
        /// How many files are sent at once when there are several.
        #[arg(long, default_value_t = 4)]
        parallel: usize,
    },
    /// Prints one upload (with a download URL when it is COMPLETED).
    Get {
        /// The upload's id (upl_…).
        upload_id: String,
    },
    /// Lists the bucket's uploads, newest first.
    List {
        /// A filter in the API's query language, as JSON, e.g. '{"status": "FAILED"}'.
        #[arg(long)]
        filter: Option<String>,
        /// `field:asc` or `field:desc`, e.g. `created_at:asc`.
        #[arg(long)]
        sort: Option<String>,
        /// How many uploads (1-100).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Confirms an upload whose bytes were PUT another way.
    Confirm {
        /// The upload's id (upl_…).
        upload_id: String,
    },
    /// Cancels a PENDING or FAILED upload and deletes its bytes.
    Delete {
        /// The upload's id (upl_…).
        upload_id: String,
    },
    /// Waits for an asynchronous task (a confirmation) to end and prints it.
    Wait {
        /// The task's id (task_…).
        task_id: String,
    },
    /// Prints the tenant's storage quota and its use.
    Usage,
}

fn key_value(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected key=value, got {raw:?}"))
}

fn object(pairs: Vec<(String, String)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect()
}

/// What a command leaves to print: records, or a line for people.
enum Printed {
    Record(Value),
    Line(String),
}

async fn run(cli: Cli) -> Result<Printed, CallError> {
    let api = Api::new(cli.target)?;
    let record = match cli.command {
        Command::Put {
            files,
            metadata,
            object_metadata,
            wait,
            parallel,
        } => {
            let options = PutOptions {
                metadata: object(metadata),
                object_metadata: object(object_metadata),
                wait,
            };
            return put_files(&api, &files, &options, parallel, cli.json).await;
        }
        Command::Get { upload_id } => api.get_upload(&upload_id).await?,
        Command::List { filter, sort, limit } => {
            let mut body = json!({});
            if let Some(filter) = filter {
                let filter: Value = serde_json::from_str(&filter)
                    .map_err(|e| CallError::Transport(format!("--filter is not JSON: {e}")))?;
                body["filters"] = filter;
            }
            if let Some(sort) = sort {
                let (field, direction) = sort.split_once(':').unwrap_or((&sort, "desc"));
                body["sort"] = json!({"field": field, "direction": direction});
            }
            api.list(&format!("?limit={limit}"), &body).await?
        }
        Command::Confirm { upload_id } => api.confirm(&upload_id).await?,
        Command::Delete { upload_id } => {
            api.delete_upload(&upload_id).await?;
            return Ok(Printed::Line(format!("deleted {upload_id}")));
        }
        Command::Wait { task_id } => put::wait_for_task(&api, &task_id).await?,
        Command::Usage => api.usage().await?,
    };
    Ok(Printed::Record(record))
}

async fn put_files(
    api: &Api,
    files: &[PathBuf],
    options: &PutOptions,
    parallel: usize,
    json: bool,
) -> Result<Printed, CallError> {
    let bars = put::bars(!json && std::io::stdout().is_terminal());
    let outcomes = match files {
        [one] => vec![put::put_file(api, one, options, &bars).await],
        many => batch::put_many(api, many, options, &bars, parallel).await,
    };
    let mut records = Vec::new();
    let mut failed = Vec::new();
    for outcome in outcomes {
        match outcome {
            Outcome::Done {
                name,
                upload,
                transferred,
            } => {
                if !json {
                    let note = if transferred {
                        ""
                    } else {
                        " (the bucket already holds these bytes: nothing transferred)"
                    };
                    println!(
                        "{} {} {} sha256:{}{note}",
                        name,
                        upload["upload_id"].as_str().unwrap_or_default(),
                        upload["status"].as_str().unwrap_or_default(),
                        upload["file_hash"].as_str().unwrap_or_default(),
                    );
                }
                records.push(upload);
            }
            Outcome::Failed(message) => failed.push(message),
        }
    }
    if json {
        println!("{:#}", Value::Array(records));
    }
    if failed.is_empty() {
        Ok(Printed::Line(String::new()))
    } else {
        Err(CallError::Transport(failed.join("\n")))
    }
}

/// A list's page for people: one line per upload.
fn upload_table(uploads: &[Value]) -> String {
    let mut out = String::new();
    for u in uploads {
        let field = |name: &str| match &u[name] {
            Value::String(s) => s.clone(),
            Value::Null => "-".to_owned(),
            other => other.to_string(),
        };
        out.push_str(&format!(
            "{}  {:<10}  {:>12}  {}  {}\n",
            field("upload_id"),
            field("status"),
            field("file_size_bytes"),
            field("created_at"),
            field("filename"),
        ));
    }
    out
}

#[tokio::main]
async fn main() -> ExitCode {
    // clap exits with 2 on a usage error.
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli).await {
        Ok(Printed::Record(record)) => {
            match (json, record.get("results")) {
                (false, Some(Value::Array(uploads))) => print!("{}", upload_table(uploads)),
                _ => println!("{record:#}"),
            }
            ExitCode::SUCCESS
        }
        Ok(Printed::Line(line)) => {
            if !line.is_empty() {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("uploads: {err}");
            ExitCode::FAILURE
        }
    }
}
