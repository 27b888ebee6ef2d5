//! What the `list-…` commands print: an aligned table for people, or `--json` for scripts.

use bucket_uploads::model::{Bucket, Namespace, Tenant};
use bucket_uploads::tenancy::ApiKeySummary;
use serde::Serialize;
use serde_json::Value;

#[derive(clap::Args)]
pub struct Output {
    /// Prints the records as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub enum Printed {
    Json(Value),
    Table(String),
}

impl Printed {
    pub fn print(&self) {
        match self {
            Printed::Json(value) => println!("{value:#}"),
            Printed::Table(table) => print!("{table}"),
        }
    }
}

impl Output {
    pub fn tenants(&self, tenants: Vec<Tenant>) -> Printed {
        self.print(&tenants, &["TENANT", "NAME", "CREATED"], |t| {
            vec![t.tenant_id.to_string(), t.name.clone(), t.created_at.to_string()]
        })
    }

    pub fn namespaces(&self, namespaces: Vec<Namespace>) -> Printed {
        self.print(&namespaces, &["NAMESPACE", "NAME", "TENANT", "CREATED"], |n| {
            vec![
                n.namespace_id.to_string(),
                n.name.clone(),
                n.tenant_id.to_string(),
                n.created_at.to_string(),
            ]
        })
    }

    pub fn buckets(&self, buckets: Vec<Bucket>) -> Printed {
        self.print(
            &buckets,
            &["BUCKET", "NAME", "NAMESPACE", "MAX FILE BYTES", "CREATED"],
            |b| {
                vec![
                    b.bucket_id.to_string(),
                    b.name.clone(),
                    b.namespace_id.to_string(),
                    b.max_file_size_bytes.to_string(),
                    b.created_at.to_string(),
                ]
            },
        )
    }

    pub fn api_keys(&self, keys: Vec<ApiKeySummary>) -> Printed {
        self.print(&keys, &["KEY", "LABEL", "TENANT", "CREATED"], |k| {
            vec![
                k.key_id.to_string(),
                k.label.clone().unwrap_or_default(),
                k.tenant_id.to_string(),
                k.created_at.to_string(),
            ]
        })
    }

    fn print<T: Serialize>(&self, records: &[T], headers: &[&str], row: impl Fn(&T) -> Vec<String>) -> Printed {
        if self.json {
            return Printed::Json(serde_json::to_value(records).unwrap_or(Value::Null));
        }
        let mut rows = vec![headers.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>()];
        rows.extend(records.iter().map(row));
        Printed::Table(aligned(&rows))
    }
}

/// Columns padded to their widest cell, two spaces apart.
fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |cell| cell.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::aligned;

    #[test]
    fn columns_line_up_whatever_the_cells_widths() {
        let rows = vec![
            vec!["KEY".to_owned(), "LABEL".to_owned(), "X".to_owned()],
            vec!["key_1".to_owned(), "ünïcode".to_owned(), String::new()],
        ];
        assert_eq!(aligned(&rows), "KEY    LABEL    X\nkey_1  ünïcode\n");
    }
}
