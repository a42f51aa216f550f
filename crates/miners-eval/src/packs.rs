//! Records of record: a result directory whose folders of result files are
//! each folded into one JSON Lines file, `<folder>.jsonl`, one compact line
//! per file in file-name order. The top-level fields that every line of a
//! pack has alike (task, dataset, model, setting…) are written once, in a
//! first line `{"shared": {…}}`, and left out of the lines below it; a line
//! reads as itself with the shared fields added, and may not give one of
//! them again. `git diff` then shows a changed score as one changed line,
//! and a pack reads as the folder it stands for: each line must belong in
//! that folder by its content, as a file must belong at its path. [`pack`]
//! writes them; [`read_packs`] reads them back, and the report and the
//! sweep's merge read a pack directory as a result directory.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
};

use serde_json::{Map, Value};

use crate::{
    EvalError, ResultRecord,
    mining::{MINING_DIR, MiningResult},
};

/// The extension of a pack file.
pub const PACK_EXTENSION: &str = "jsonl";

/// The file beside the packs that says which run made them (written by
/// `cargo xtask records`); it is not a result, and readers of a pack
/// directory leave it out.
pub const RUN_FILE: &str = "RUN.json";

/// The key of a pack's first line when it holds the fields its lines share.
const SHARED: &str = "shared";

/// A result's fields, as a pack line holds them.
type Fields = Map<String, Value>;

/// One result of a result directory: a record, or a mined pair.
#[derive(Debug, Clone, PartialEq)]
pub enum Packed {
    /// A cell's record for one k.
    Record(Box<ResultRecord>),
    /// The result of mining one pair.
    Mining(MiningResult),
}

impl Packed {
    /// Where the result's file lives under the result directory `root`.
    pub fn path(&self, root: &Path) -> PathBuf {
        match self {
            Self::Record(record) => record.path(root),
            Self::Mining(mined) => mined.path(root),
        }
    }

    /// The bytes of its file, as a run writes them.
    pub fn file_bytes(&self) -> Vec<u8> {
        match self {
            Self::Record(record) => record.file_bytes(),
            Self::Mining(mined) => mined.file_bytes(),
        }
    }

    /// The result of the file at `relative` (to its result directory) with
    /// `bytes`: a mining result under `mining/`, else a checked record.
    fn parse(relative: &Path, bytes: &[u8]) -> Result<Self, String> {
        if relative.starts_with(MINING_DIR) {
            let mined: MiningResult = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            return mined.check().map(|()| Self::Mining(mined));
        }
        ResultRecord::parse(bytes).map(|record| Self::Record(Box::new(record)))
    }

    /// Its fields, as its file holds them.
    fn fields(&self) -> Fields {
        let value = match self {
            Self::Record(record) => serde_json::to_value(record),
            Self::Mining(mined) => serde_json::to_value(mined),
        };
        match value.expect("results serialise") {
            Value::Object(fields) => fields,
            _ => unreachable!("results serialise as objects"),
        }
    }
}

/// What [`pack`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PackSummary {
    /// Result files packed.
    pub files: usize,
    /// Pack files written.
    pub packs: usize,
    /// Stale pack files removed (folders no longer in the result directory).
    pub removed: usize,
}

/// Packs every result file under `results` (records and mining results,
/// each read back and checked, at the path its content names) into `out`:
/// `out/<folder>.jsonl` for each folder of result files. Each pack is
/// written atomically; packs in `out` of folders `results` no longer has are
/// removed, so that `out` holds exactly what `results` does.
pub fn pack(results: &Path, out: &Path) -> Result<PackSummary, EvalError> {
    let mut folders: BTreeMap<PathBuf, Vec<(String, Fields)>> = BTreeMap::new();
    let mut summary = PackSummary::default();
    for file in result_files(results)? {
        let bytes = std::fs::read(&file).map_err(|source| io(&file, source))?;
        let relative = file.strip_prefix(results).expect("walked from results");
        let packed = Packed::parse(relative, &bytes)
            .and_then(|packed| agree(results, &file, &packed).map(|()| packed))
            .map_err(|message| invalid(&file, None, message))?;
        let name = relative
            .file_name()
            .expect("a file")
            .to_string_lossy()
            .into_owned();
        let folder = relative.parent().expect("a file").to_owned();
        folders
            .entry(folder)
            .or_default()
            .push((name, packed.fields()));
        summary.files += 1;
    }
    let mut written = Vec::new();
    for (folder, mut lines) in folders {
        lines.sort_by(|a, b| a.0.cmp(&b.0));
        let path = pack_of(&out.join(folder));
        let text = pack_text(lines.into_iter().map(|(_, fields)| fields).collect());
        let dir = path.parent().expect("packs have a parent");
        std::fs::create_dir_all(dir).map_err(|source| io(dir, source))?;
        miners_core::atomic_write(&path, text.as_bytes()).map_err(|source| io(&path, source))?;
        written.push(path);
        summary.packs += 1;
    }
    for stale in pack_files(out)?
        .into_iter()
        .filter(|p| !written.contains(p))
    {
        std::fs::remove_file(&stale).map_err(|source| io(&stale, source))?;
        summary.removed += 1;
    }
    Ok(summary)
}

/// Every result of the packs under `dir`, in pack and line order, each
/// checked and in the folder its pack stands for; a result given twice (in
/// two lines, or in a pack and a pack of the same folder) is refused.
pub fn read_packs(dir: &Path) -> Result<Vec<Packed>, EvalError> {
    let mut results = Vec::new();
    let mut seen: HashMap<PathBuf, (PathBuf, usize)> = HashMap::new();
    for pack in pack_files(dir)? {
        let text = std::fs::read_to_string(&pack).map_err(|source| io(&pack, source))?;
        let folder = folder_of(&pack);
        let relative = folder
            .strip_prefix(dir)
            .expect("walked from dir")
            .to_owned();
        let shared = text.lines().next().and_then(shared_fields);
        let skip = usize::from(shared.is_some());
        for (index, line) in text.lines().enumerate().skip(skip) {
            let number = index + 1;
            let packed = with_shared(line, shared.as_ref())
                .and_then(|bytes| Packed::parse(&relative.join("line"), &bytes))
                .map_err(|message| invalid(&pack, Some(number), message))?;
            let path = packed.path(dir);
            if path.parent() != Some(folder.as_path()) {
                let message = format!(
                    "this result belongs in {}, not in this pack",
                    path.strip_prefix(dir).unwrap_or(&path).display()
                );
                return Err(invalid(&pack, Some(number), message));
            }
            if let Some((first, at)) = seen.insert(path, (pack.clone(), number)) {
                let message = format!("the same result as {}:{at}", first.display());
                return Err(invalid(&pack, Some(number), message));
            }
            results.push(packed);
        }
    }
    Ok(results)
}

/// A pack's text: each result's fields on a line, those that every line
/// has alike moved into a first `{"shared": {…}}` line when there are two
/// lines or more.
fn pack_text(mut lines: Vec<Fields>) -> String {
    let shared: Fields = match &lines[..] {
        [first, _, ..] => first
            .iter()
            .filter(|(key, value)| lines[1..].iter().all(|l| l.get(*key) == Some(value)))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
        _ => Fields::new(),
    };
    if !shared.is_empty() {
        for line in &mut lines {
            line.retain(|key, _| !shared.contains_key(key));
        }
        lines.insert(
            0,
            Fields::from_iter([(SHARED.to_owned(), Value::Object(shared))]),
        );
    }
    let mut text = String::new();
    for line in lines {
        text.push_str(&Value::Object(line).to_string());
        text.push('\n');
    }
    text
}

/// The shared fields, if `line` is a pack's `{"shared": {…}}` line.
fn shared_fields(line: &str) -> Option<Fields> {
    match serde_json::from_str(line).ok()? {
        Value::Object(mut outer) if outer.len() == 1 => match outer.remove(SHARED)? {
            Value::Object(shared) => Some(shared),
            _ => None,
        },
        _ => None,
    }
}

/// The bytes of the result a pack line stands for: the line with the pack's
/// shared fields added (none given twice).
fn with_shared(line: &str, shared: Option<&Fields>) -> Result<Vec<u8>, String> {
    let Some(shared) = shared else {
        return Ok(line.as_bytes().to_vec());
    };
    let mut fields: Fields = serde_json::from_str(line).map_err(|e| e.to_string())?;
    for (key, value) in shared {
        if fields.insert(key.clone(), value.clone()).is_some() {
            return Err(format!("gives `{key}`, which the pack's first line shares"));
        }
    }
    Ok(Value::Object(fields).to_string().into_bytes())
}

/// The pack that stands for `folder`: its path with `.jsonl` appended (not
/// swapped for an extension: a folder may be named `…0.5_`).
fn pack_of(folder: &Path) -> PathBuf {
    let mut path = folder.as_os_str().to_owned();
    path.push(format!(".{PACK_EXTENSION}"));
    PathBuf::from(path)
}

/// The folder a pack stands for: its path without the `.jsonl`.
fn folder_of(pack: &Path) -> PathBuf {
    let text = pack.as_os_str().to_string_lossy();
    let stem = text
        .strip_suffix(&format!(".{PACK_EXTENSION}"))
        .unwrap_or(&text);
    PathBuf::from(stem.to_owned())
}

/// Every pack file under `dir`, recursively, sorted; none when `dir` is absent.
pub fn pack_files(dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let mut found = every_file(dir)?;
    found.retain(|p| p.extension().is_some_and(|e| e == PACK_EXTENSION));
    Ok(found)
}

/// Every result file under `dir`: records (`<cell>.k<k>.json`) and mining
/// results, leaving out the report's folder, the sweep's markers and
/// temporary files.
fn result_files(dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let mut found = every_file(dir)?;
    found.retain(|path| {
        let relative = path.strip_prefix(dir).expect("walked from dir");
        let name = relative.to_string_lossy();
        let hidden = relative
            .components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
        !hidden
            && !relative.starts_with("report")
            && !name.ends_with(miners_core::TEMPORARY_SUFFIX)
            && path.extension().is_some_and(|e| e == "json")
            && (relative.starts_with(MINING_DIR) || name.contains(".k"))
    });
    Ok(found)
}

/// Every file under `dir`, sorted; none when `dir` is absent.
fn every_file(dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    match dir.exists() {
        true => miners_core::files_under(dir).map_err(|source| io(dir, source)),
        false => Ok(Vec::new()),
    }
}

/// That `file`'s content belongs at `file` under `root`.
fn agree(root: &Path, file: &Path, packed: &Packed) -> Result<(), String> {
    crate::record::agree(root, file, &packed.path(root))
}

fn io(path: &Path, source: std::io::Error) -> EvalError {
    EvalError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A result that cannot be packed or read back, named by file and line.
fn invalid(file: &Path, line: Option<usize>, message: String) -> EvalError {
    let line = line.map(|n| format!(":{n}")).unwrap_or_default();
    EvalError::Config(format!("{}{line}: {message}", file.display()))
}
