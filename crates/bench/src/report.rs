//! Tables on stdout and CSV files under `--out`.

use std::io::Write as _;
use std::path::Path;

use crate::Result;

/// One printed table: a title, column names, rows of cells.
pub(crate) struct Table {
    title: String,
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(title: &str, columns: &[&str]) -> Self {
        Self {
            title: title.to_owned(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Prints as a Markdown table (pasteable into docs/performance.md).
    pub(crate) fn print(&self) {
        let mut widths: Vec<usize> = self.columns.iter().map(String::len).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let w = widths.get(i).copied().unwrap_or(0);
                    format!("{c:<w$}")
                })
                .collect();
            format!("| {} |", padded.join(" | "))
        };
        println!("\n### {}\n", self.title);
        println!("{}", line(&self.columns));
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        println!("{}", line(&rule));
        for row in &self.rows {
            println!("{}", line(row));
        }
        println!();
    }

    /// Writes `dir/name.csv` (header + rows).
    pub(crate) fn write_csv(&self, dir: &Path, name: &str) -> Result<()> {
        write_csv(dir, name, &self.columns, &self.rows)
    }
}

/// Writes `dir/name.csv`.
pub(crate) fn write_csv(
    dir: &Path,
    name: &str,
    columns: &[String],
    rows: &[Vec<String>],
) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut file = std::fs::File::create(dir.join(format!("{name}.csv")))?;
    writeln!(file, "{}", columns.join(","))?;
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| c.replace(',', "")).collect();
        writeln!(file, "{}", cells.join(","))?;
    }
    Ok(())
}

/// Median of the values (mean of the middle two for an even count); 0 when empty.
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    let mid = n / 2;
    if n % 2 == 1 {
        sorted.get(mid).copied().unwrap_or(0.0)
    } else {
        let a = sorted.get(mid - 1).copied().unwrap_or(0.0);
        let b = sorted.get(mid).copied().unwrap_or(0.0);
        (a + b) / 2.0
    }
}

/// Smallest and largest, for the spread column.
pub(crate) fn spread(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if values.is_empty() {
        (0.0, 0.0)
    } else {
        (min, max)
    }
}

/// `a / b` as a ratio cell, or `-` when `b` is zero.
pub(crate) fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 {
        "-".into()
    } else {
        format!("{:.2}", a / b)
    }
}

/// A number with thousands separators and no decimals.
pub(crate) fn int(value: f64) -> String {
    let n = value.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Bytes as MiB with one decimal.
pub(crate) fn mib(bytes: f64) -> String {
    format!("{:.1}", bytes / (1024.0 * 1024.0))
}
