//! Datasets the reference loads from the Hugging Face Hub, read from the
//! Hub's parquet export (the `refs/convert/parquet` revision) into the same
//! layout: BUCC, MASSIVE, MTOP and LinCE SA.
//!
//! Expected columns: bitext `sentence1` (source), `sentence2` (target) and
//! `lang` (`de-en`); intent `text`, `label_text` (else a string `label`) and,
//! where all languages share one table, `lang`; LinCE SA `words` (a list of
//! strings, joined by spaces as the reference joins them) and `sa`.

use std::path::{Path, PathBuf};

use parquet::{
    file::reader::{FileReader, SerializedFileReader},
    record::Field,
};
use serde_json::{Map, Value};

use super::{Converted, Output, TsvFile, write_dataset};
use crate::DatasetError;

/// The Hub revision that holds a dataset's parquet export.
pub const PARQUET_REVISION: &str = "refs/convert/parquet";

/// A dataset of the Hub and how its tables map to the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubDataset {
    /// Directory and registry name.
    pub name: &'static str,
    /// The Hub dataset repository.
    pub repo: &'static str,
    /// Export folders (configs) read; languages come from the `lang` column
    /// when there is one folder, `default`, else from the folder names.
    pub configs: &'static [&'static str],
    /// Splits converted.
    pub splits: &'static [&'static str],
    /// What the rows are.
    pub shape: Shape,
    /// How the reference uses it.
    pub reference_usage: &'static str,
}

/// How a table's rows become TSV rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `sentence1` → `sentence2`, one file per `lang` pair.
    Bitext,
    /// `text` and its label, one file per language.
    Intent,
    /// LinCE SA: `words` joined by spaces, label `sa`.
    WordsAndSentiment,
}

/// Every dataset that comes from the Hub's parquet export.
pub static HUB_DATASETS: &[HubDataset] = &[
    HubDataset {
        name: "bucc",
        repo: "mteb/bucc-bitext-mining",
        configs: &["default"],
        splits: &["test"],
        shape: Shape::Bitext,
        reference_usage: "bitext: key <src>_<tgt> per lang (de-en, fr-en, ru-en, zh-en), source = sentence1, target = sentence2; test split.",
    },
    HubDataset {
        name: "massive_intent",
        repo: "mteb/amazon_massive_intent",
        configs: &["default"],
        splits: &["train", "validation", "test"],
        shape: Shape::Intent,
        reference_usage: "classification per lang; label strings with `_` shown as spaces; label ids by first appearance.",
    },
    HubDataset {
        name: "mtop_intent",
        repo: "mteb/mtop_intent",
        configs: &["de", "en", "es", "fr", "hi", "th"],
        splits: &["train", "validation", "test"],
        shape: Shape::Intent,
        reference_usage: "classification per language config (de, en, es, fr, hi, th).",
    },
    HubDataset {
        name: "lince_sa",
        repo: "lince",
        configs: &["sa_spaeng"],
        splits: &["train", "validation"],
        shape: Shape::WordsAndSentiment,
        reference_usage: "text = ' '.join(words). The reference uses train as the retrieval pool and VALIDATION as the test set (HF test has no labels).",
    },
];

/// The Hub dataset named `name`.
pub fn hub_dataset(name: &str) -> Option<&'static HubDataset> {
    HUB_DATASETS.iter().find(|d| d.name == name)
}

/// One downloaded file of the parquet export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetFile {
    /// The export folder (config) it is in.
    pub config: String,
    /// The split it holds.
    pub split: String,
    /// Its path in the export (`default/test/0000.parquet`).
    pub name: String,
    /// Where it is on disk.
    pub path: PathBuf,
}

/// Where a converted Hub dataset came from, recorded in its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSource {
    /// The revision asked for (normally [`PARQUET_REVISION`]).
    pub revision: String,
    /// The commit it resolved to.
    pub commit: String,
}

impl HubDataset {
    /// The parquet files of `listing` (the export's file names) this dataset
    /// reads, as `(config, split, file)`, sorted; a name that would leave the
    /// download folder (`..`, an absolute path) is never picked.
    pub fn parquet_files(&self, listing: &[String]) -> Vec<(String, String, String)> {
        let mut files: Vec<(String, String, String)> = listing
            .iter()
            .filter(|f| f.ends_with(".parquet") && miners_core::is_inside_path(f))
            .filter_map(|file| {
                let (config, rest) = file.split_once('/')?;
                let split = self.splits.iter().find(|split| {
                    rest.starts_with(&format!("{split}/"))
                        || rest
                            .rsplit('/')
                            .next()
                            .is_some_and(|n| n.contains(&format!("-{split}")))
                })?;
                self.configs
                    .contains(&config)
                    .then(|| (config.to_owned(), (*split).to_owned(), file.clone()))
            })
            .collect();
        files.sort();
        files
    }

    /// Converts the downloaded parquet files into `out/<name>/`.
    pub fn convert(
        &self,
        files: &[ParquetFile],
        source: &HubSource,
        out: &Path,
    ) -> Result<Converted, DatasetError> {
        let mut groups: Vec<(String, String, Vec<[String; 2]>)> = Vec::new();
        for file in files {
            for (lang, row) in self.rows(&file.path, &file.config)? {
                match groups
                    .iter_mut()
                    .find(|(l, s, _)| *l == lang && *s == file.split)
                {
                    Some((_, _, rows)) => rows.push(row),
                    None => groups.push((lang, file.split.clone(), vec![row])),
                }
            }
        }
        let order = |split: &str| self.splits.iter().position(|s| *s == split);
        groups.sort_by(|a, b| (&a.0, order(&a.1)).cmp(&(&b.0, order(&b.1))));
        let mut languages: Vec<String> = Vec::new();
        let mut tsv_files = Vec::new();
        for (lang, split, rows) in groups {
            let sides: Vec<&str> = match self.shape {
                Shape::Bitext => lang.split('-').collect(),
                _ => vec![lang.as_str()],
            };
            for side in sides {
                if !languages.iter().any(|l| l == side) {
                    languages.push(side.to_owned());
                }
            }
            tsv_files.push(match self.shape {
                Shape::Bitext => TsvFile::bitext(&lang, &split, rows),
                _ => TsvFile::labelled(&lang, &split, rows),
            });
        }
        let paths = files.iter().map(|f| f.name.clone()).collect();
        let output = Output {
            languages,
            files: tsv_files,
        };
        write_dataset(
            self.name,
            self.facts(source, paths),
            output,
            &out.join(self.name),
        )
    }

    /// `(language, [text, label-or-target])` of every row of a parquet file.
    fn rows(&self, path: &Path, config: &str) -> Result<Vec<(String, [String; 2])>, DatasetError> {
        let table = Table::read(path)?;
        let lang = |i: usize| -> Result<String, DatasetError> {
            match self.configs {
                ["default"] => table.string(i, "lang"),
                _ => Ok(config.to_owned()),
            }
        };
        (0..table.rows.len())
            .map(|i| {
                let row = match self.shape {
                    Shape::Bitext => [table.string(i, "sentence1")?, table.string(i, "sentence2")?],
                    Shape::Intent => [table.string(i, "text")?, table.label(i)?],
                    Shape::WordsAndSentiment => [table.words(i, "words")?, table.string(i, "sa")?],
                };
                Ok((lang(i)?, row))
            })
            .collect()
    }

    fn facts(&self, source: &HubSource, paths: Vec<String>) -> Map<String, Value> {
        let mut facts = Map::new();
        facts.insert(
            "source".into(),
            serde_json::json!({
                "repo": self.repo,
                "revision": source.revision,
                "commit": source.commit,
                "paths": paths,
            }),
        );
        facts.insert(
            "licence".into(),
            "see the dataset card of the Hub repository".into(),
        );
        facts.insert("reference_usage".into(), self.reference_usage.into());
        facts
    }
}

/// A parquet file's rows as named fields.
struct Table {
    path: PathBuf,
    columns: Vec<String>,
    rows: Vec<Vec<Field>>,
}

impl Table {
    fn read(path: &Path) -> Result<Self, DatasetError> {
        let error = |message: String| DatasetError::Parse {
            path: path.to_owned(),
            line: 0,
            message,
        };
        let file = std::fs::File::open(path).map_err(|source| DatasetError::Io {
            path: path.to_owned(),
            source,
        })?;
        let reader = SerializedFileReader::new(file).map_err(|e| error(e.to_string()))?;
        let schema = reader.metadata().file_metadata().schema_descr();
        let columns = schema
            .root_schema()
            .get_fields()
            .iter()
            .map(|f| f.name().to_owned())
            .collect();
        let mut rows = Vec::new();
        for row in reader
            .get_row_iter(None)
            .map_err(|e| error(e.to_string()))?
        {
            let row = row.map_err(|e| error(e.to_string()))?;
            rows.push(
                row.into_columns()
                    .into_iter()
                    .map(|(_, field)| field)
                    .collect(),
            );
        }
        Ok(Self {
            path: path.to_owned(),
            columns,
            rows,
        })
    }

    fn column(&self, name: &str) -> Result<usize, DatasetError> {
        self.columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| DatasetError::Parse {
                path: self.path.clone(),
                line: 0,
                message: format!("no column `{name}` (columns: {})", self.columns.join(", ")),
            })
    }

    fn field(&self, row: usize, name: &str) -> Result<&Field, DatasetError> {
        Ok(&self.rows[row][self.column(name)?])
    }

    fn string(&self, row: usize, name: &str) -> Result<String, DatasetError> {
        match self.field(row, name)? {
            Field::Str(text) => Ok(text.clone()),
            other => Err(self.bad(row, name, "a string", other)),
        }
    }

    /// `label_text` where the table has it, else a string `label`.
    fn label(&self, row: usize) -> Result<String, DatasetError> {
        match self.column("label_text") {
            Ok(_) => self.string(row, "label_text"),
            Err(_) => self.string(row, "label").map_err(|_| {
                let err = self.column("label_text").err();
                err.unwrap_or_else(|| self.bad(row, "label", "a string", &Field::Null))
            }),
        }
    }

    fn words(&self, row: usize, name: &str) -> Result<String, DatasetError> {
        let Field::ListInternal(list) = self.field(row, name)? else {
            return Err(self.bad(row, name, "a list of strings", self.field(row, name)?));
        };
        let words: Option<Vec<&str>> = list
            .elements()
            .iter()
            .map(|w| match w {
                Field::Str(word) => Some(word.as_str()),
                _ => None,
            })
            .collect();
        words
            .map(|w| w.join(" "))
            .ok_or_else(|| self.bad(row, name, "a list of strings", &Field::Null))
    }

    fn bad(&self, row: usize, name: &str, expected: &str, found: &Field) -> DatasetError {
        DatasetError::Parse {
            path: self.path.clone(),
            line: row + 1,
            message: format!(
                "column `{name}` of row {}: expected {expected}, found {found}",
                row + 1
            ),
        }
    }
}
