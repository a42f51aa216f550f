//! What `miners datasets` lists: the registry and whether the data directory has each.

use crate::{DataDir, Dataset};

/// One line per registry dataset for people: its name, its tasks, and
/// whether the data directory has it (or what it stands in for).
pub fn registry_status(data: Option<&DataDir>) -> Vec<String> {
    crate::registry()
        .iter()
        .map(|spec| {
            let tasks: Vec<&str> = [
                spec.bitext.map(|_| "bitext"),
                spec.classification.map(|_| "classification"),
            ]
            .into_iter()
            .flatten()
            .collect();
            let status = match data {
                Some(data) => match Dataset::open(data, spec.name) {
                    Ok(_) => "present".to_owned(),
                    Err(e) => format!("missing ({e})"),
                },
                None => "no data directory".to_owned(),
            };
            let substitute = spec
                .substitute_for
                .map(|s| format!(" [substitute for {s}]"))
                .unwrap_or_default();
            format!(
                "{:<28} {:<22} {status}{substitute}",
                spec.name,
                tasks.join(",")
            )
        })
        .collect()
}
