//! A journal of finished requests, so that a rerun after a crash does not
//! pay for them twice.
//!
//! Each process appends to its own file, `<dir>/<pid>-<nanos>.jsonl`, one
//! line per answer: `{"key": <hex sha256 of the request>, "sum": <hex
//! sha256 of the answer's JSON, 16 digits>, "answer": ...}`, written whole
//! and flushed as the answer arrives. Opening reads every file of the
//! directory; a line that does not parse or whose `sum` does not match (a
//! torn write) is skipped and counted, and its request is sent again.

use std::{
    collections::HashMap,
    fs::File,
    io::{BufRead, Write},
    path::{Path, PathBuf},
    sync::Mutex,
};

use miners_core::hex;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::ApiError;

/// Answers by request key, backed by append-only files.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    answers: Mutex<HashMap<String, Value>>,
    file: Mutex<Option<File>>,
    skipped: usize,
}

impl Journal {
    /// The journal in `dir` (created on the first answer), with every
    /// verified answer already there.
    pub fn open(dir: &Path) -> Result<Self, ApiError> {
        let mut answers = HashMap::new();
        let mut skipped = 0;
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut paths: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
                .collect();
            paths.sort();
            for path in paths {
                let file = File::open(&path).map_err(|source| io(&path, source))?;
                for line in std::io::BufReader::new(file).split(b'\n') {
                    let line = line.map_err(|source| io(&path, source))?;
                    match verified(&line) {
                        Some((key, answer)) => {
                            answers.insert(key, answer);
                        }
                        None => skipped += 1,
                    }
                }
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            answers: Mutex::new(answers),
            file: Mutex::new(None),
            skipped,
        })
    }

    /// Lines set aside on opening (torn or altered).
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Answers held.
    pub fn len(&self) -> usize {
        self.answers.lock().map_or(0, |a| a.len())
    }

    /// Whether no answer is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key of a request: SHA-256 of its endpoint and body.
    pub fn key(endpoint: &str, body: &Value) -> String {
        let mut hasher = Sha256::new();
        hasher.update(endpoint.as_bytes());
        hasher.update([0]);
        hasher.update(body.to_string().as_bytes());
        hex(&hasher.finalize())
    }

    /// The answer recorded for `key`, if any.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.answers.lock().ok()?.get(key).cloned()
    }

    /// Records an answer: one whole line, flushed before this returns.
    pub fn put(&self, key: &str, answer: Value) -> Result<(), ApiError> {
        let line = format!(
            "{}\n",
            json!({"key": key, "sum": sum(&answer), "answer": answer})
        );
        let mut file = self.file.lock().map_err(|_| poisoned())?;
        if file.is_none() {
            *file = Some(self.create()?);
        }
        let writer = file.as_mut().expect("created above");
        writer
            .write_all(line.as_bytes())
            .and_then(|()| writer.flush())
            .map_err(|source| io(&self.dir, source))?;
        self.answers
            .lock()
            .map_err(|_| poisoned())?
            .insert(key.to_owned(), answer);
        Ok(())
    }

    /// This process's own file.
    fn create(&self) -> Result<File, ApiError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| io(&self.dir, source))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = self
            .dir
            .join(format!("{}-{nanos}.jsonl", std::process::id()));
        File::options()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|source| io(&path, source))
    }
}

/// A line's key and answer, if it parses and its sum matches.
fn verified(line: &[u8]) -> Option<(String, Value)> {
    let mut entry: Value = serde_json::from_slice(line).ok()?;
    let key = entry.get("key")?.as_str()?.to_owned();
    let recorded = entry.get("sum")?.as_str()?.to_owned();
    let answer = entry.get_mut("answer")?.take();
    (sum(&answer) == recorded).then_some((key, answer))
}

fn sum(answer: &Value) -> String {
    hex(&Sha256::digest(answer.to_string().as_bytes())[..8])
}

fn io(path: &Path, source: std::io::Error) -> ApiError {
    ApiError::Io {
        path: path.to_owned(),
        source,
    }
}

fn poisoned() -> ApiError {
    ApiError::Config("journal lock poisoned".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_survive_a_reopen_and_torn_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        let key = Journal::key("/completions", &json!({"prompt": "a"}));
        journal.put(&key, json!({"logprob": -1.5})).unwrap();
        journal.put("other", json!("x")).unwrap();
        drop(journal);
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str("{\"key\":\"torn\",\"sum\":\"00\",\"ans");
        std::fs::write(&file, text.replace("\"x\"", "\"y\"")).unwrap();
        let reopened = Journal::open(dir.path()).unwrap();
        assert_eq!(reopened.get(&key), Some(json!({"logprob": -1.5})));
        assert_eq!(
            reopened.get("other"),
            None,
            "an altered answer is not trusted"
        );
        assert_eq!(reopened.skipped(), 2);
        assert_eq!(reopened.len(), 1);
    }

    #[test]
    fn keys_tell_endpoints_and_bodies_apart() {
        let body = json!({"prompt": "a"});
        assert_ne!(Journal::key("/a", &body), Journal::key("/b", &body));
        assert_ne!(
            Journal::key("/a", &body),
            Journal::key("/a", &json!({"prompt": "b"}))
        );
    }
}
