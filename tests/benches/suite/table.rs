//! The one table `make bench` prints: each figure a ratio or a count measured in this run.

pub struct Table {
    rows: Vec<[String; 4]>,
}

impl Table {
    pub fn new() -> Self {
        Self { rows: vec![] }
    }

    /// A row: which measurement (`P1`…), what was measured, the figure, how it was made.
    pub fn row(&mut self, id: &str, what: impl Into<String>, figure: impl Into<String>, detail: impl Into<String>) {
        let row = [id.to_owned(), what.into(), figure.into(), detail.into()];
        println!("  {} | {} | {} | {}", row[0], row[1], row[2], row[3]);
        self.rows.push(row);
    }

    /// Markdown, for the README.
    pub fn print(&self, title: &str) {
        println!("\n{title}\n");
        println!("| # | measurement | result | how |");
        println!("|---|---|---|---|");
        for [id, what, figure, detail] in &self.rows {
            println!("| {id} | {what} | {figure} | {detail} |");
        }
    }
}

pub fn ms(d: std::time::Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

pub fn median(mut samples: Vec<std::time::Duration>) -> std::time::Duration {
    samples.sort();
    samples[samples.len() / 2]
}
