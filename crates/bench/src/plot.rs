//! SVG line plots drawn from the CSV files a run wrote (no plotting dependency: a few
//! dozen lines of SVG). `idle-rss.svg`: server RSS against idle connections;
//! `churn-rss.svg`: relay RSS against churned sessions; `throughput.svg`: frames/s against
//! concurrent chats.

use std::fmt::Write as _;
use std::path::Path;

use crate::Result;

const W: f64 = 640.0;
const H: f64 = 360.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
const COLOURS: [&str; 4] = ["#c0392b", "#2c3e50", "#e67e22", "#7f8c8d"];

/// One named line.
struct Series {
    name: String,
    points: Vec<(f64, f64)>,
}

/// Reads `dir/name.csv` into rows of cells (header dropped).
fn read_csv(dir: &Path, name: &str) -> Result<Vec<Vec<String>>> {
    let text = std::fs::read_to_string(dir.join(format!("{name}.csv")))?;
    Ok(text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect())
}

fn cell(row: &[String], i: usize) -> f64 {
    row.get(i)
        .and_then(|c| c.parse::<f64>().ok())
        .unwrap_or(f64::NAN)
}

/// Writes every plot whose CSV exists.
pub(crate) fn render(csv_dir: &Path, plot_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(plot_dir)?;
    let mib = 1024.0 * 1024.0;
    if let Ok(rows) = read_csv(csv_dir, "idle_rss") {
        let line = |col: usize, name: &str| Series {
            name: name.into(),
            points: rows
                .iter()
                .map(|r| (cell(r, 0), cell(r, col) / mib))
                .filter(|p| p.1.is_finite())
                .collect(),
        };
        let svg = line_plot(
            "Server RSS with idle connections (¾ in chats, ¼ queued)",
            "idle connections",
            "RSS (MiB)",
            &[line(1, "relay"), line(2, "baseline forwarder")],
        );
        std::fs::write(plot_dir.join("idle-rss.svg"), svg)?;
    }
    if let Ok(rows) = read_csv(csv_dir, "churn_rss") {
        let series = Series {
            name: "relay".into(),
            points: rows
                .iter()
                .map(|r| (cell(r, 1), cell(r, 2) / mib))
                .collect(),
        };
        let svg = line_plot(
            "Relay RSS while churning sessions",
            "sessions completed",
            "RSS (MiB)",
            &[series],
        );
        std::fs::write(plot_dir.join("churn-rss.svg"), svg)?;
    }
    if let Ok(rows) = read_csv(csv_dir, "throughput") {
        let mut series = Vec::new();
        let mut records: Vec<f64> = rows.iter().map(|r| cell(r, 1)).collect();
        records.sort_by(f64::total_cmp);
        records.dedup();
        for record in records {
            for (col, who) in [(3, "relay"), (4, "baseline")] {
                series.push(Series {
                    name: format!("{who}, {record} B records"),
                    points: rows
                        .iter()
                        .filter(|r| cell(r, 1) == record)
                        .map(|r| (cell(r, 0), cell(r, col)))
                        .collect(),
                });
            }
        }
        let svg = line_plot(
            "Forwarded frames/s against concurrent chats",
            "concurrent chats",
            "frames/s",
            &series,
        );
        std::fs::write(plot_dir.join("throughput.svg"), svg)?;
    }
    Ok(())
}

/// A round step for about five ticks.
fn tick_step(max: f64) -> f64 {
    let raw = (max / 5.0).max(f64::MIN_POSITIVE);
    let magnitude = 10_f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

fn line_plot(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
    let x_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| finite(p.0)))
        .fold(0.0, f64::max)
        .max(1.0);
    let y_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| finite(p.1)))
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.1;
    let (x_step, y_step) = (tick_step(x_max), tick_step(y_max));
    let x_max = (x_max / x_step).ceil() * x_step;
    let y_max = (y_max / y_step).ceil() * y_step;
    let px = |x: f64| LEFT + x / x_max * (W - LEFT - RIGHT);
    let py = |y: f64| H - BOTTOM - y / y_max * (H - TOP - BOTTOM);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{title}</text>"#,
        W / 2.0
    );
    let mut x = 0.0;
    while x <= x_max + x_step / 2.0 {
        let _ = writeln!(
            svg,
            r##"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#ddd"/><text x="{0}" y="{3}" text-anchor="middle">{4}</text>"##,
            px(x),
            TOP,
            H - BOTTOM,
            H - BOTTOM + 16.0,
            label(x)
        );
        x += x_step;
    }
    let mut y = 0.0;
    while y <= y_max + y_step / 2.0 {
        let _ = writeln!(
            svg,
            r##"<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="#ddd"/><text x="{3}" y="{4}" text-anchor="end">{5}</text>"##,
            LEFT,
            py(y),
            W - RIGHT,
            LEFT - 6.0,
            py(y) + 4.0,
            label(y)
        );
        y += y_step;
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">{x_label}</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 12.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="16" y="{0}" text-anchor="middle" transform="rotate(-90 16 {0})">{y_label}</text>"#,
        (TOP + H - BOTTOM) / 2.0
    );
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS.get(i % COLOURS.len()).copied().unwrap_or("black");
        let dash = if i % 2 == 1 {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let points: Vec<String> = s
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .map(|p| format!("{:.1},{:.1}", px(p.0), py(p.1)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{}"/>"#,
            points.join(" ")
        );
        for p in &points {
            if let Some((cx, cy)) = p.split_once(',') {
                let _ = writeln!(
                    svg,
                    r#"<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>"#
                );
            }
        }
        let ly = TOP + 14.0 + 16.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="{colour}" stroke-width="2"{dash}/><text x="{3}" y="{4}">{5}</text>"#,
            LEFT + 10.0,
            ly,
            LEFT + 34.0,
            LEFT + 40.0,
            ly + 4.0,
            s.name
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn label(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.1}M", v / 1_000_000.0)
    } else if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}
