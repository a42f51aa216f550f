//! Tables as Markdown, CSV and JSON.

use serde_json::Value;

use crate::Table;

fn text(value: &Value) -> String {
    match value {
        Value::Null => "–".into(),
        Value::Number(n) => match n.as_f64() {
            Some(x) if n.is_f64() => format!("{x:.2}"),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A GitHub-flavoured Markdown table with its title and notes.
pub fn markdown(table: &Table) -> String {
    let escape = |s: &str| s.replace('|', "\\|");
    let mut out = format!("### {}\n\n", table.title);
    let header: Vec<String> = table.header.iter().map(|h| escape(h)).collect();
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    let align: Vec<&str> = (0..header.len())
        .map(|i| if i == 0 { "---" } else { "---:" })
        .collect();
    out.push_str(&format!("| {} |\n", align.join(" | ")));
    for row in &table.rows {
        let cells: Vec<String> = row.iter().map(|v| escape(&text(v))).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    for note in &table.notes {
        out.push_str(&format!("\n- {note}"));
    }
    if !table.notes.is_empty() {
        out.push('\n');
    }
    out
}

/// RFC 4180 CSV: header row, then rows; empty fields for missing scores.
pub fn csv(table: &Table) -> String {
    let field = |s: String| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    };
    let mut out = String::new();
    let header: Vec<String> = table.header.iter().cloned().map(field).collect();
    out.push_str(&header.join(","));
    out.push('\n');
    for row in &table.rows {
        let cells: Vec<String> = row
            .iter()
            .map(|v| match v {
                Value::Null => String::new(),
                Value::String(s) => field(s.clone()),
                other => other.to_string(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// Pretty JSON of the table.
pub fn json(table: &Table) -> String {
    serde_json::to_string_pretty(table).expect("tables serialize") + "\n"
}
