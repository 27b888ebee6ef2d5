//! `uploads`: the API from a shell. Reads `UPLOADS_API_URL`, `UPLOADS_API_KEY`,
//! `UPLOADS_NAMESPACE` and `UPLOADS_BUCKET` (what `.local/dev.env` holds); flags override.
//! Exit codes: 0 done, 1 an API or transfer failure (its message on stderr), 2 a usage error.

mod batch;
mod multipart;
mod parts;
mod put;
mod resume;

use clap::{Parser, Subcommand};
use put::{Outcome, PutOptions};
use serde_json::{Map, Value, json};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use uploads_client::{Api, CallError, Target};

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
    /// files go through batch create and batch confirm, `--parallel` PUTs at a time. Files
    /// above `--multipart-threshold` go in parts, `--parallel` parts at a time, each checked
    /// by S3 against its SHA-256.
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
        /// How many files are sent at once when there are several, and how many parts of a
        /// multipart file.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
        parallel: u16,
        /// Files larger than this many bytes go multipart (`64MiB`, `1G`, … are understood
        /// too); files over 5 GiB always do.
        #[arg(long, value_name = "BYTES", default_value = "64MiB", value_parser = byte_count)]
        multipart_threshold: u64,
        /// The size of a multipart file's parts (by default 8 MiB), raised when the file
        /// would need more than 10 000 parts.
        #[arg(long, value_name = "BYTES", value_parser = byte_count)]
        part_size: Option<u64>,
    },
    /// Finishes a multipart upload a put left half sent: checks that FILE is the upload's file
    /// (its size, and its SHA-256 if declared), sends only the parts S3 does not hold, and
    /// confirms.
    Resume {
        /// The upload's id (upl_…).
        upload_id: String,
        /// The file the upload was created for.
        file: PathBuf,
        /// Follows an asynchronous confirmation to its end.
        #[arg(long)]
        wait: bool,
        /// How many parts are sent at once.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
        parallel: u16,
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

/// A number of bytes: `1048576`, or with a binary unit, `8MiB`, `8M`, `1GiB`, `1G`, `512K`.
fn byte_count(raw: &str) -> Result<u64, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("expected a number of bytes such as 1048576 or 8MiB, got {raw:?}"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        "t" | "tib" => 40,
        other => return Err(format!("unknown unit {other:?}: use K, M, G or T (binary: 1K is 1024)")),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{raw} is too many bytes"))
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
            multipart_threshold,
            part_size,
        } => {
            let options = PutOptions {
                metadata: object(metadata),
                object_metadata: object(object_metadata),
                wait,
                multipart_threshold,
                part_size,
                parallel: usize::from(parallel),
            };
            let bars = put::bars(!cli.json && std::io::stdout().is_terminal());
            let outcomes = match files.as_slice() {
                [one] => vec![put::put_file(&api, one, &options, &bars).await],
                many => batch::put_many(&api, many, &options, &bars).await,
            };
            return print_outcomes(outcomes, cli.json);
        }
        Command::Resume {
            upload_id,
            file,
            wait,
            parallel,
        } => {
            let bars = put::bars(!cli.json && std::io::stdout().is_terminal());
            let outcome = resume::resume(&api, &upload_id, &file, wait, usize::from(parallel), &bars)
                .await
                .unwrap_or_else(Outcome::Failed);
            return print_outcomes(vec![outcome], cli.json);
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
        Command::Confirm { upload_id } => api.confirm(&upload_id, None).await?,
        Command::Delete { upload_id } => {
            api.delete_upload(&upload_id).await?;
            return Ok(Printed::Line(format!("deleted {upload_id}")));
        }
        Command::Wait { task_id } => put::wait_for_task(&api, &task_id).await?,
        Command::Usage => api.usage().await?,
    };
    Ok(Printed::Record(record))
}

/// Prints each file's line (or, with `--json`, the records as one array); failures become
/// the error, one line each.
fn print_outcomes(outcomes: Vec<Outcome>, json: bool) -> Result<Printed, CallError> {
    let mut records = Vec::new();
    let mut failed = Vec::new();
    for outcome in outcomes {
        match outcome {
            Outcome::Done { name, upload, note } => {
                if !json {
                    let note = note.map(|n| format!(" ({n})")).unwrap_or_default();
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

#[cfg(test)]
mod tests {
    use super::byte_count;

    #[test]
    fn byte_counts_take_binary_units() {
        assert_eq!(byte_count("1048576"), Ok(1 << 20));
        assert_eq!(byte_count("64MiB"), Ok(64 << 20));
        assert_eq!(byte_count("8M"), Ok(8 << 20));
        assert_eq!(byte_count("1g"), Ok(1 << 30));
        assert_eq!(byte_count("512K"), Ok(512 << 10));
        assert!(byte_count("").is_err());
        assert!(byte_count("8MB").is_err());
        assert!(byte_count("-1").is_err());
        assert!(byte_count("99999999999T").is_err());
    }
}
