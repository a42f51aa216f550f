//! Reading original files the way the reference (and its data loaders) read
//! them: Python's `csv` module, plain lines, JSON lines, and numpy-printed
//! string lists.

use std::path::{Path, PathBuf};

use crate::DatasetError;

/// A delimited file as Python's `csv.reader` yields it: quoted fields may span
/// lines, `""` is a quote, rows may differ in length.
pub(super) struct Table {
    path: PathBuf,
    rows: Vec<Row>,
}

/// One record and the line it starts on.
pub(super) struct Row {
    /// 1-based line of the record's first byte.
    pub line: usize,
    /// Its fields.
    pub fields: Vec<String>,
}

impl Table {
    /// Reads `path` with `delimiter` (`b','` or `b'\t'`).
    pub fn read(path: &Path, delimiter: u8) -> Result<Self, DatasetError> {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_path(path)
            .map_err(|e| csv_error(path, e))?;
        let mut rows = Vec::new();
        for record in reader.byte_records() {
            let record = record.map_err(|e| csv_error(path, e))?;
            let line = record.position().map_or(0, |p| p.line() as usize);
            let fields = record
                .iter()
                .map(|field| String::from_utf8(field.to_vec()))
                .collect::<Result<_, _>>()
                .map_err(|_| parse_error(path, line, "not UTF-8"))?;
            rows.push(Row { line, fields });
        }
        Ok(Self {
            path: path.to_owned(),
            rows,
        })
    }

    /// The rows after the header.
    pub fn body(&self) -> &[Row] {
        self.rows.get(1..).unwrap_or_default()
    }

    /// The index of header column `name`.
    pub fn column(&self, name: &str) -> Result<usize, DatasetError> {
        let header = self.rows.first().map(|r| r.fields.as_slice());
        header
            .and_then(|h| h.iter().position(|f| f == name))
            .ok_or_else(|| {
                let found = header.unwrap_or_default().join(", ");
                self.error(1, &format!("no column `{name}` (header: {found})"))
            })
    }

    /// Field `index` of `row`, or an error naming the line.
    pub fn field<'a>(&self, row: &'a Row, index: usize) -> Result<&'a str, DatasetError> {
        row.fields.get(index).map(String::as_str).ok_or_else(|| {
            let count = row.fields.len();
            self.error(
                row.line,
                &format!("{count} field(s), expected more than {index}"),
            )
        })
    }

    /// The fields of `row`, which must number exactly `N`.
    pub fn exactly<'a, const N: usize>(&self, row: &'a Row) -> Result<[&'a str; N], DatasetError> {
        let fields: Vec<&str> = row.fields.iter().map(String::as_str).collect();
        fields.try_into().map_err(|fields: Vec<&str>| {
            let count = fields.len();
            self.error(row.line, &format!("{count} field(s), expected {N}"))
        })
    }

    /// An error at `line` of this file.
    pub fn error(&self, line: usize, message: &str) -> DatasetError {
        parse_error(&self.path, line, message)
    }
}

/// The lines of a text file, without their `\n` (and a `\r` before it, as
/// Python's text mode drops it); no final empty line.
pub(super) fn lines(path: &Path) -> Result<Vec<String>, DatasetError> {
    let text = utf8(path)?;
    let body = text.strip_suffix('\n').unwrap_or(&text);
    if body.is_empty() {
        return Ok(Vec::new());
    }
    Ok(body
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line).to_owned())
        .collect())
}

/// A JSON value per line.
pub(super) fn json_lines(path: &Path) -> Result<Vec<serde_json::Value>, DatasetError> {
    lines(path)?
        .iter()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| parse_error(path, i + 1, &e.to_string()))
        })
        .collect()
}

/// The strings of a list printed by numpy (`['a' 'b'\n 'c']`), as Python
/// string literals: single- or double-quoted, with backslash escapes.
pub(super) fn numpy_strings(text: &str) -> Result<Vec<String>, String> {
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| format!("not a bracketed list: {text:?}"))?;
    let mut strings = Vec::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => strings.push(python_literal(&mut chars, c)?),
            c if c.is_whitespace() => {}
            other => return Err(format!("unexpected `{other}` in list {text:?}")),
        }
    }
    Ok(strings)
}

/// The rest of a Python string literal opened by `quote`.
fn python_literal(chars: &mut std::str::Chars<'_>, quote: char) -> Result<String, String> {
    let mut out = String::new();
    loop {
        match chars.next() {
            None => return Err("unterminated string".into()),
            Some(c) if c == quote => return Ok(out),
            Some('\\') => out.push(escape(chars)?),
            Some(c) => out.push(c),
        }
    }
}

/// The character a backslash escape stands for.
fn escape(chars: &mut std::str::Chars<'_>) -> Result<char, String> {
    let hex = |chars: &mut std::str::Chars<'_>, n: usize| {
        let digits: String = chars.take(n).collect();
        u32::from_str_radix(&digits, 16)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| format!("bad escape digits `{digits}`"))
    };
    match chars.next() {
        Some('n') => Ok('\n'),
        Some('t') => Ok('\t'),
        Some('r') => Ok('\r'),
        Some('x') => hex(chars, 2),
        Some('u') => hex(chars, 4),
        Some('U') => hex(chars, 8),
        Some(c @ ('\\' | '\'' | '"')) => Ok(c),
        other => Err(format!("unsupported escape `\\{}`", other.unwrap_or(' '))),
    }
}

/// A whole file as UTF-8.
fn utf8(path: &Path) -> Result<String, DatasetError> {
    let bytes = std::fs::read(path).map_err(|source| DatasetError::Io {
        path: path.to_owned(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        parse_error(path, line, "not UTF-8")
    })
}

fn csv_error(path: &Path, error: csv::Error) -> DatasetError {
    let line = error.position().map_or(0, |p| p.line() as usize);
    match error.into_kind() {
        csv::ErrorKind::Io(source) => DatasetError::Io {
            path: path.to_owned(),
            source,
        },
        kind => parse_error(path, line, &format!("{kind:?}")),
    }
}

fn parse_error(path: &Path, line: usize, message: &str) -> DatasetError {
    DatasetError::Parse {
        path: path.to_owned(),
        line,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_lists_read_as_python_literals() {
        let text = "['After' 'this' \"'m\"\n 'a\\'b' '\\\\' 'caf\\xe9']";
        assert_eq!(
            numpy_strings(text).unwrap(),
            ["After", "this", "'m", "a'b", "\\", "café"]
        );
        assert!(numpy_strings("['open").is_err());
        assert!(numpy_strings("'no brackets'").is_err());
    }
}
