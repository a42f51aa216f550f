//! Strict two-column TSV reading with file- and line-exact errors.

use std::path::Path;

use crate::DatasetError;

/// Reads a TSV file whose first line is exactly `header`, returning its rows.
///
/// Every row must have exactly two tab-separated fields and be valid UTF-8;
/// an empty file or a header-only file is an error. A leading UTF-8 byte-order
/// mark and a `\r` at the end of each line (CRLF files) are dropped. `limit`
/// keeps the first rows.
pub fn read_two_columns(
    path: &Path,
    header: [&str; 2],
    limit: Option<usize>,
) -> Result<Vec<(String, String)>, DatasetError> {
    let bytes = std::fs::read(path).map_err(|source| DatasetError::Io {
        path: path.to_owned(),
        source,
    })?;
    let parse_error = |line: usize, message: String| DatasetError::Parse {
        path: path.to_owned(),
        line,
        message,
    };
    if bytes.is_empty() {
        return Err(parse_error(0, "file is empty".into()));
    }
    let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    let mut lines = body
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .enumerate();
    let expected = header.join("\t");
    let (_, first) = lines.next().expect("split yields at least one item");
    if first != expected.as_bytes() {
        let found = String::from_utf8_lossy(first);
        return Err(parse_error(
            1,
            format!(
                "expected header `{}`, found `{}`",
                expected.escape_debug(),
                found.escape_debug()
            ),
        ));
    }
    let mut rows = Vec::new();
    for (index, raw) in lines.take(limit.unwrap_or(usize::MAX)) {
        let line = index + 1;
        let text = std::str::from_utf8(raw)
            .map_err(|e| parse_error(line, format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
        let mut fields = text.split('\t');
        match (fields.next(), fields.next(), fields.next()) {
            (Some(a), Some(b), None) => rows.push((a.to_owned(), b.to_owned())),
            _ => {
                let count = text.split('\t').count();
                return Err(parse_error(
                    line,
                    format!("expected 2 tab-separated fields, found {count}"),
                ));
            }
        }
    }
    if rows.is_empty() {
        return Err(parse_error(1, "no rows after the header".into()));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(content: &[u8]) -> Result<Vec<(String, String)>, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tsv");
        std::fs::write(&path, content).unwrap();
        read_two_columns(&path, ["text", "label"], None)
            .map_err(|e| e.to_string().replace(&path.display().to_string(), "F"))
    }

    #[test]
    fn reads_rows_and_keeps_spaces_and_empty_fields() {
        let rows = read(b"text\tlabel\n a\tpos\n\tneg\n").unwrap();
        assert_eq!(
            rows,
            vec![(" a".into(), "pos".into()), (String::new(), "neg".into())]
        );
    }

    #[test]
    fn crlf_line_ends_and_a_byte_order_mark_are_dropped() {
        let rows = read(b"\xef\xbb\xbftext\tlabel\r\n a\tpositive\r\nb\tnegative\r\n").unwrap();
        assert_eq!(
            rows,
            vec![
                (" a".into(), "positive".into()),
                ("b".into(), "negative".into())
            ]
        );
        let rows = read(b"text\tlabel\na\tpositive\r\nb\tnegative").unwrap();
        assert_eq!(rows[0].1, "positive");
    }

    #[test]
    fn errors_name_file_and_line() {
        assert_eq!(read(b"").unwrap_err(), "F:0: file is empty");
        assert_eq!(
            read(b"text\tlabel\n").unwrap_err(),
            "F:1: no rows after the header"
        );
        assert_eq!(
            read(b"src\ttgt\na\tb\n").unwrap_err(),
            "F:1: expected header `text\\tlabel`, found `src\\ttgt`"
        );
        assert_eq!(
            read(b"text\tlabel\na\tb\nc\n").unwrap_err(),
            "F:3: expected 2 tab-separated fields, found 1"
        );
        assert_eq!(
            read(b"text\tlabel\na\tb\tc\n").unwrap_err(),
            "F:2: expected 2 tab-separated fields, found 3"
        );
        assert_eq!(
            read(b"text\tlabel\na\xff\tb\n").unwrap_err(),
            "F:2: invalid UTF-8 at byte 1"
        );
    }
}
