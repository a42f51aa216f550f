use std::{
    fmt,
    path::{Path, PathBuf},
};

use miners_core::{Label, Lang};
use serde::Deserialize;

use crate::{Candidates, DatasetError, DatasetSpec, LabelOption, Split, tsv::read_two_columns};

/// The root of the normalized data layout (`<root>/<dataset>/manifest.json`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir(PathBuf);

impl DataDir {
    /// Environment variable that names the data directory.
    pub const ENV: &'static str = "MINERS_DATA_DIR";

    /// Uses `explicit`, else `$MINERS_DATA_DIR`, else the first of
    /// `shared/data/miners` and `../shared/data/miners` that exists.
    pub fn resolve(explicit: Option<&Path>) -> Result<Self, DatasetError> {
        let from_env = std::env::var_os(Self::ENV).map(PathBuf::from);
        let candidates: Vec<PathBuf> = match explicit.map(Path::to_owned).or(from_env) {
            Some(path) => vec![path],
            None => vec!["shared/data/miners".into(), "../shared/data/miners".into()],
        };
        candidates
            .iter()
            .find(|p| p.is_dir())
            .map(|p| Self(p.clone()))
            .ok_or_else(|| DatasetError::NoDataDir {
                tried: candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Wraps a path without checking it.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self(path.into())
    }

    /// The root path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// The parts of a dataset's `manifest.json` that miners uses.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct Manifest {
    /// What the dataset stands in for, as the data provider words it.
    #[serde(default)]
    pub substitute_for: Option<String>,
    /// Licence statement.
    #[serde(default)]
    pub licence: Option<String>,
    /// How the reference uses the data.
    #[serde(default)]
    pub reference_usage: Option<String>,
    /// Classification label names in the reference's order.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Every data file (`<task>/<stem>.<split>.tsv`) and its row count.
    #[serde(default)]
    pub files: std::collections::BTreeMap<String, usize>,
}

/// Whether a manifest's `files` entry names a data file inside its dataset's
/// folder: `bitext/` or `classification/`, then one file name that is not
/// hidden, `..` or empty, without separators or NUL, ending in `.tsv`.
fn is_data_file_name(entry: &str) -> bool {
    let Some((task, name)) = entry.split_once('/') else {
        return false;
    };
    matches!(task, "bitext" | "classification")
        && name.len() > ".tsv".len()
        && name.ends_with(".tsv")
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
}

/// A bitext language pair: source sentences are the queries.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pair {
    /// Language of the queries.
    pub source: Lang,
    /// Language of the retrieved candidates.
    pub target: Lang,
}

impl fmt::Display for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.source, self.target)
    }
}

/// Aligned sentences: `source[i]` translates to `target[i]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bitext {
    /// Query-side sentences.
    pub source: Vec<String>,
    /// Candidate-side sentences.
    pub target: Vec<String>,
}

impl Bitext {
    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.source.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.source.is_empty()
    }
}

/// Texts with one label each.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelledTexts {
    /// The texts.
    pub texts: Vec<String>,
    /// One label per text.
    pub labels: Vec<Label>,
}

impl LabelledTexts {
    /// `limit` examples at evenly spaced positions, in order (all when `None`
    /// or larger): how ICL spreads a limit over a test split.
    pub fn spread(self, limit: Option<usize>) -> Self {
        let len = self.texts.len();
        let Some(n) = limit.filter(|&n| n < len) else {
            return self;
        };
        let picked: Vec<usize> = (0..n).map(|i| i * len / n).collect();
        Self {
            texts: picked.iter().map(|&i| self.texts[i].clone()).collect(),
            labels: picked.iter().map(|&i| self.labels[i].clone()).collect(),
        }
    }
}

/// One dataset in a data directory.
#[derive(Debug, Clone)]
pub struct Dataset {
    spec: &'static DatasetSpec,
    root: PathBuf,
    manifest: Manifest,
    label_option: Option<&'static LabelOption>,
}

impl Dataset {
    /// Opens dataset `name`. Where the data directory lacks it but has a
    /// registry substitute for it (BUCC, MASSIVE), the substitute opens in its
    /// place, under its own name, so results say which one ran. Otherwise a
    /// missing directory or manifest is an error that says where to put it.
    pub fn open(data: &DataDir, name: &str) -> Result<Self, DatasetError> {
        let spec = DatasetSpec::find(name)?;
        let root = data.path().join(name);
        let manifest_path = root.join("manifest.json");
        let substitute = crate::registry()
            .iter()
            .filter(|s| s.substitute_for == Some(name))
            .find(|s| data.path().join(s.name).join("manifest.json").is_file());
        if let (false, Some(substitute)) = (manifest_path.is_file(), substitute) {
            return Self::open(data, substitute.name);
        }
        if !manifest_path.is_file() {
            return Err(DatasetError::Missing {
                name: name.to_owned(),
                why: format!("{} does not exist", manifest_path.display()),
                expected: root,
            });
        }
        let text = std::fs::read_to_string(&manifest_path).map_err(|source| DatasetError::Io {
            path: manifest_path.clone(),
            source,
        })?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| DatasetError::Parse {
            path: manifest_path.clone(),
            line: e.line(),
            message: e.to_string(),
        })?;
        if let Some(entry) = manifest.files.keys().find(|f| !is_data_file_name(f)) {
            return Err(DatasetError::Parse {
                path: manifest_path,
                line: 0,
                message: format!(
                    "`files` entry `{entry}` is not `<task>/<stem>.<split>.tsv` inside the \
                     dataset's folder (task bitext or classification; no `/`, `\\` or \
                     leading `.` in the stem)"
                ),
            });
        }
        Ok(Self {
            spec,
            root,
            manifest,
            label_option: None,
        })
    }

    /// The registry entry.
    pub fn spec(&self) -> &'static DatasetSpec {
        self.spec
    }

    /// The same data with one of the registry's label options applied (a
    /// deviation from the reference, named in [`Dataset::name`]).
    pub fn with_label_option(mut self, name: &str) -> Result<Self, DatasetError> {
        self.label_option = Some(self.spec.label_option(name)?);
        Ok(self)
    }

    /// The label option in force, if any.
    pub fn label_option(&self) -> Option<&'static LabelOption> {
        self.label_option
    }

    /// The name results carry: the registry name, plus `+<option>` when a
    /// label option is in force (`fire+fold-not-tamil`).
    pub fn name(&self) -> String {
        match self.label_option {
            Some(option) => format!("{}+{}", self.spec.name, option.name),
            None => self.spec.name.to_owned(),
        }
    }

    /// The parsed manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The language pairs with bitext in the scored split, sorted.
    pub fn bitext_pairs(&self) -> Result<Vec<Pair>, DatasetError> {
        let plan = self.spec.bitext.ok_or_else(|| self.no_task("bitext"))?;
        let split = plan.splits[0].name();
        let mut pairs: Vec<Pair> = self
            .stems("bitext", split)?
            .into_iter()
            .filter_map(|stem| {
                let (source, target) = stem.split_once('-')?;
                Some(Pair {
                    source: source.into(),
                    target: target.into(),
                })
            })
            .collect();
        pairs.sort();
        Ok(pairs)
    }

    /// Loads a pair's scored splits, concatenated, keeping the first `limit` pairs.
    pub fn load_bitext(&self, pair: &Pair, limit: Option<usize>) -> Result<Bitext, DatasetError> {
        let plan = self.spec.bitext.ok_or_else(|| self.no_task("bitext"))?;
        let available = self.bitext_pairs()?;
        if !available.contains(pair) {
            return Err(self.unknown(&pair.to_string(), available.iter().map(Pair::to_string)));
        }
        let mut bitext = Bitext::default();
        for split in plan.splits {
            let path = self.file("bitext", &pair.to_string(), *split);
            let remaining = limit.map(|l| l.saturating_sub(bitext.len()));
            if remaining == Some(0) {
                break;
            }
            for (source, target) in self.read(&path, ["src", "tgt"], remaining)? {
                bitext.source.push(source);
                bitext.target.push(target);
            }
        }
        Ok(bitext)
    }

    /// The languages with a labelled pool, sorted.
    pub fn classification_langs(&self) -> Result<Vec<Lang>, DatasetError> {
        let plan = self
            .spec
            .classification
            .ok_or_else(|| self.no_task("classification"))?;
        let mut langs: Vec<Lang> = self
            .stems("classification", plan.test.name())?
            .into_iter()
            .map(Lang)
            .collect();
        langs.sort();
        Ok(langs)
    }

    /// Whether `lang` has a classification file for `split`.
    pub fn has_classification_split(&self, lang: &Lang, split: Split) -> bool {
        self.file("classification", lang.as_str(), split).is_file()
    }

    /// The classification label set in the reference's order, with the
    /// registry's label map applied (merged labels appear once).
    pub fn label_set(&self) -> Result<Vec<String>, DatasetError> {
        self.spec
            .classification
            .ok_or_else(|| self.no_task("classification"))?;
        let mut labels: Vec<String> = Vec::new();
        for raw in &self.manifest.labels {
            let label = self.spec.map_label(raw, self.label_option);
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        if labels.is_empty() {
            return Err(DatasetError::Missing {
                name: self.spec.name.to_owned(),
                why: "manifest.json lists no `labels`".into(),
                expected: self.root.join("manifest.json"),
            });
        }
        Ok(labels)
    }

    /// The labels an ICL generator chooses from, in the reference's order
    /// ([`Candidates`]); label maps and options apply to them too.
    pub fn candidate_labels(&self) -> Result<Vec<String>, DatasetError> {
        let plan = self
            .spec
            .classification
            .ok_or_else(|| self.no_task("classification"))?;
        let raw: Vec<String> = match plan.candidates {
            Candidates::Manifest => return self.label_set(),
            Candidates::Listed(labels) => labels.iter().map(|&l| l.to_owned()).collect(),
            Candidates::FirstSeen => self.first_seen_labels()?,
        };
        let mut labels: Vec<String> = Vec::new();
        for label in raw
            .iter()
            .map(|l| self.spec.map_label(l, self.label_option))
        {
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        Ok(labels)
    }

    /// Raw labels in order of first appearance in the train, validation and
    /// test files of the first language (the reference's datasets are parallel
    /// across languages, so any language gives the same order).
    fn first_seen_labels(&self) -> Result<Vec<String>, DatasetError> {
        let langs = self.classification_langs()?;
        let first = langs.first().ok_or_else(|| DatasetError::Missing {
            name: self.spec.name.to_owned(),
            why: "no classification files".into(),
            expected: self.root.join("classification"),
        })?;
        let mut labels: Vec<String> = Vec::new();
        for split in [Split::Train, Split::Validation, Split::Test] {
            let path = self.file("classification", first.as_str(), split);
            if !path.is_file() {
                continue;
            }
            for (_, label) in self.read(&path, ["text", "label"], None)? {
                if !labels.contains(&label) {
                    labels.push(label);
                }
            }
        }
        Ok(labels)
    }

    /// Loads one language's split, with the registry's label map applied.
    pub fn load_classification(
        &self,
        lang: &Lang,
        split: Split,
        limit: Option<usize>,
    ) -> Result<LabelledTexts, DatasetError> {
        let available = self.classification_langs()?;
        if !available.contains(lang) {
            return Err(self.unknown(lang.as_str(), available.iter().map(Lang::to_string)));
        }
        let path = self.file("classification", lang.as_str(), split);
        let rows = self.read(&path, ["text", "label"], limit)?;
        let mut labelled = LabelledTexts::default();
        for (index, (text, label)) in rows.into_iter().enumerate() {
            if !self.manifest.labels.contains(&label) {
                return Err(DatasetError::Parse {
                    path,
                    line: index + 2,
                    message: format!(
                        "label `{}` is not one of manifest.json's labels ({})",
                        label.escape_debug(),
                        self.manifest.labels.join(", ")
                    ),
                });
            }
            labelled.texts.push(text);
            let label = self.spec.map_label(&label, self.label_option);
            labelled.labels.push(Label(label));
        }
        Ok(labelled)
    }

    /// Reads a data file the manifest lists, checking that it exists and has
    /// the manifest's row count (the first `limit` rows of it).
    fn read(
        &self,
        path: &Path,
        header: [&str; 2],
        limit: Option<usize>,
    ) -> Result<Vec<(String, String)>, DatasetError> {
        let relative = path.strip_prefix(&self.root).unwrap_or(path);
        let listed = self
            .manifest
            .files
            .get(&relative.to_string_lossy().replace('\\', "/"));
        if listed.is_some() && !path.is_file() {
            return Err(DatasetError::MissingFile {
                name: self.spec.name.to_owned(),
                path: path.to_owned(),
            });
        }
        let rows = read_two_columns(path, header, limit)?;
        if let Some(&count) = listed {
            let expected = limit.map_or(count, |l| l.min(count));
            if rows.len() != expected {
                return Err(DatasetError::Parse {
                    path: path.to_owned(),
                    line: 0,
                    message: format!("{} rows where manifest.json lists {count}", rows.len()),
                });
            }
        }
        Ok(rows)
    }

    fn file(&self, task: &str, stem: &str, split: Split) -> PathBuf {
        self.root
            .join(task)
            .join(format!("{stem}.{}.tsv", split.name()))
    }

    /// File stems `<stem>.<split>.tsv` under `<root>/<task>/`: those the
    /// manifest lists, so a missing file is an error and not a missing
    /// language; the directory's files for manifests without a `files` list.
    fn stems(&self, task: &str, split: &str) -> Result<Vec<String>, DatasetError> {
        let suffix = format!(".{split}.tsv");
        if !self.manifest.files.is_empty() {
            let prefix = format!("{task}/");
            return Ok(self
                .manifest
                .files
                .keys()
                .filter_map(|file| file.strip_prefix(&prefix)?.strip_suffix(&suffix))
                .map(str::to_owned)
                .collect());
        }
        let dir = self.root.join(task);
        let entries = std::fs::read_dir(&dir).map_err(|_| DatasetError::Missing {
            name: self.spec.name.to_owned(),
            why: format!("{} does not exist", dir.display()),
            expected: dir.clone(),
        })?;
        Ok(entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(&suffix)
                    .map(str::to_owned)
            })
            .collect())
    }

    fn no_task(&self, task: &'static str) -> DatasetError {
        DatasetError::NoSuchTask {
            name: self.spec.name.to_owned(),
            task,
        }
    }

    fn unknown(&self, lang: &str, available: impl Iterator<Item = String>) -> DatasetError {
        DatasetError::UnknownLanguage {
            dataset: self.spec.name.to_owned(),
            lang: lang.to_owned(),
            available: available.collect::<Vec<_>>().join(", "),
        }
    }
}
