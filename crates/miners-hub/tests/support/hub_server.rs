//! A Hugging Face Hub on 127.0.0.1 for tests, speaking the Hub's file
//! protocol as its clients (the `hf-hub` crate, Python's `huggingface_hub`)
//! use it: `GET /api/{models,datasets}/<repo>/revision/<rev>` (the commit and
//! file list), `HEAD`/`GET /[datasets/]<repo>/resolve/<rev>/<file>` with
//! `X-Repo-Commit`, `ETag` and byte ranges, `X-Error-Code` on errors, and
//! gated repositories that need a bearer token. It stops by itself after
//! 120 s (or the lifetime given) or when dropped. (The `miners` CLI tests
//! and `cargo xtask paper-check --test-hub` include this file too.)

#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};

/// One repository at one commit.
#[derive(Clone)]
pub struct FixtureRepo {
    /// `org/name`.
    pub id: String,
    /// `true` for a dataset repository.
    pub dataset: bool,
    /// Path → bytes.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Branches (and tags) that point at the commit, besides the commit itself.
    pub branches: Vec<String>,
    /// A token that must be sent as `Authorization: Bearer …`, if gated.
    pub token: Option<String>,
}

impl FixtureRepo {
    /// A model repository of every file under `dir`, on branch `main`.
    pub fn model_from_dir(id: &str, dir: &Path) -> Self {
        let mut files = BTreeMap::new();
        let mut pending = vec![dir.to_owned()];
        while let Some(folder) = pending.pop() {
            for entry in std::fs::read_dir(&folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    let name = path
                        .strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/");
                    files.insert(name, std::fs::read(&path).unwrap());
                }
            }
        }
        Self {
            id: id.to_owned(),
            dataset: false,
            files,
            branches: vec!["main".into()],
            token: None,
        }
    }

    /// The commit: a hash of every path and its bytes (40 hex digits, like git's).
    pub fn commit(&self) -> String {
        let mut hash = Sha256::new();
        for (path, bytes) in &self.files {
            hash.update(path.as_bytes());
            hash.update([0]);
            hash.update(Sha256::digest(bytes));
        }
        hex(&hash.finalize())[..40].to_owned()
    }
}

/// A running test Hub.
pub struct HubServer {
    /// `http://127.0.0.1:<port>` — the `HF_ENDPOINT`.
    pub url: String,
    /// Every request: `METHOD path [range]`.
    pub log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for HubServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl HubServer {
    /// Requests logged so far that contain `needle`.
    pub fn requests(&self, needle: &str) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.contains(needle))
            .cloned()
            .collect()
    }
}

/// Serves `repos`; the first full `GET` of a file named `cut` (if any) sends
/// half its bytes and drops the connection, as a network failure would.
pub fn serve(repos: Vec<FixtureRepo>, cut: Option<&str>) -> HubServer {
    serve_for(repos, cut, Duration::from_secs(120))
}

/// [`serve`] that stops by itself after `lifetime`.
pub fn serve_for(repos: Vec<FixtureRepo>, cut: Option<&str>, lifetime: Duration) -> HubServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let state = Arc::new(State {
        repos: repos.into_iter().map(Served::new).collect(),
        cut: Mutex::new(cut.map(str::to_owned)),
        log: log.clone(),
    });
    let stopping = stop.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + lifetime;
        while Instant::now() < deadline && !stopping.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let state = state.clone();
                    std::thread::spawn(move || state.connection(stream));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    HubServer { url, log, stop }
}

/// A repository with its commit and file ETags, hashed once.
struct Served {
    repo: FixtureRepo,
    commit: String,
    etags: BTreeMap<String, String>,
}

impl Served {
    fn new(repo: FixtureRepo) -> Self {
        let etags = repo
            .files
            .iter()
            .map(|(file, bytes)| (file.clone(), format!("\"{}\"", hex(&Sha256::digest(bytes)))))
            .collect();
        Self {
            commit: repo.commit(),
            etags,
            repo,
        }
    }
}

struct State {
    repos: Vec<Served>,
    cut: Mutex<Option<String>>,
    log: Arc<Mutex<Vec<String>>>,
}

struct Request {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
}

impl State {
    /// Answers requests on one connection until the client closes it.
    fn connection(&self, stream: TcpStream) {
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut stream = stream;
        while let Some(request) = read_request(&mut reader) {
            let range = request.headers.get("range").cloned().unwrap_or_default();
            self.log.lock().unwrap().push(
                format!("{} {} {range}", request.method, request.path)
                    .trim()
                    .to_owned(),
            );
            if self.answer(&request, &mut stream).is_err() {
                return;
            }
        }
    }

    fn answer(&self, request: &Request, stream: &mut TcpStream) -> std::io::Result<()> {
        let path = percent_decode(request.path.split('?').next().unwrap_or_default());
        if let Some(rest) = path.strip_prefix("/api/models/") {
            return self.revision_info(rest, false, request, stream);
        }
        if let Some(rest) = path.strip_prefix("/api/datasets/") {
            return self.revision_info(rest, true, request, stream);
        }
        let (dataset, rest) = match path.strip_prefix("/datasets/") {
            Some(rest) => (true, rest.to_owned()),
            None => (false, path.trim_start_matches('/').to_owned()),
        };
        self.resolve(&rest, dataset, request, stream)
    }

    /// `<org>/<name>/revision/<rev>`
    fn revision_info(
        &self,
        rest: &str,
        dataset: bool,
        request: &Request,
        stream: &mut TcpStream,
    ) -> std::io::Result<()> {
        let Some((repo_id, revision)) = rest.split_once("/revision/") else {
            return respond(
                stream,
                404,
                &[("X-Error-Code", "EntryNotFound")],
                b"not found",
                true,
            );
        };
        let repo = match self.find(repo_id, dataset, revision, request) {
            Ok(repo) => repo,
            Err((status, code)) => {
                return respond(
                    stream,
                    status,
                    &[("X-Error-Code", code)],
                    code.as_bytes(),
                    true,
                );
            }
        };
        let siblings: Vec<_> = repo
            .repo
            .files
            .keys()
            .map(|f| serde_json::json!({ "rfilename": f }))
            .collect();
        let body =
            serde_json::json!({ "id": repo.repo.id, "sha": repo.commit, "siblings": siblings })
                .to_string();
        respond(
            stream,
            200,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
            true,
        )
    }

    /// `<org>/<name>/resolve/<rev>/<file>`
    fn resolve(
        &self,
        rest: &str,
        dataset: bool,
        request: &Request,
        stream: &mut TcpStream,
    ) -> std::io::Result<()> {
        let mut parts = rest.splitn(4, '/');
        let (org, name, verb) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let tail = parts.next().unwrap_or("");
        if verb != "resolve" {
            return respond(
                stream,
                404,
                &[("X-Error-Code", "EntryNotFound")],
                b"not found",
                true,
            );
        }
        let repo_id = format!("{org}/{name}");
        // The revision may itself contain `/` (refs/convert/parquet): try the longest match.
        let repo_and_file = (1..=tail.matches('/').count()).find_map(|slashes| {
            let cut = tail.match_indices('/').nth(slashes - 1)?.0;
            let (revision, file) = (&tail[..cut], &tail[cut + 1..]);
            self.find(&repo_id, dataset, revision, request)
                .ok()
                .map(|repo| (repo, file.to_owned()))
        });
        let Some((repo, file)) = repo_and_file else {
            let revision = tail.split('/').next().unwrap_or_default();
            let (status, code) = self
                .find(&repo_id, dataset, revision, request)
                .err()
                .unwrap_or((404, "EntryNotFound"));
            return respond(
                stream,
                status,
                &[("X-Error-Code", code)],
                code.as_bytes(),
                true,
            );
        };
        let Some(bytes) = repo.repo.files.get(&file) else {
            return respond(
                stream,
                404,
                &[("X-Error-Code", "EntryNotFound")],
                b"EntryNotFound",
                true,
            );
        };
        let headers = [
            ("X-Repo-Commit", repo.commit.as_str()),
            ("ETag", repo.etags[&file].as_str()),
            ("Accept-Ranges", "bytes"),
        ];
        let head = request.method == "HEAD";
        let range = request
            .headers
            .get("range")
            .and_then(|r| parse_range(r, bytes.len()));
        let (start, end) = range.unwrap_or((0, bytes.len().saturating_sub(1)));
        let whole_body = !head && start == 0 && end + 1 == bytes.len() && bytes.len() > 1;
        let (status, body) = match range {
            Some(_) => (206, &bytes[start..=end]),
            None => (200, &bytes[..]),
        };
        let content_range = format!("bytes {start}-{end}/{}", bytes.len());
        let mut all = headers.to_vec();
        if range.is_some() {
            all.push(("Content-Range", &content_range));
        }
        if whole_body && self.take_cut(&file) {
            // Announce every byte, send half, hang up.
            let half = &body[..body.len() / 2];
            let _ = respond_cut(stream, status, &all, body.len(), half);
            return Err(std::io::Error::other("cut"));
        }
        respond(stream, status, &all, body, !head)
    }

    fn take_cut(&self, file: &str) -> bool {
        let mut cut = self.cut.lock().unwrap();
        let hit = cut.as_deref() == Some(file);
        if hit {
            *cut = None;
        }
        hit
    }

    /// The repository `id` at `revision`, or the status and `X-Error-Code` the Hub answers.
    fn find(
        &self,
        id: &str,
        dataset: bool,
        revision: &str,
        request: &Request,
    ) -> Result<&Served, (u16, &'static str)> {
        let served = self
            .repos
            .iter()
            .find(|r| r.repo.id == id && r.repo.dataset == dataset)
            .ok_or((404, "RepoNotFound"))?;
        let repo = &served.repo;
        if let Some(token) = &repo.token {
            match request.headers.get("authorization") {
                None => return Err((401, "GatedRepo")),
                Some(sent) if *sent != format!("Bearer {token}") => return Err((403, "GatedRepo")),
                Some(_) => {}
            }
        }
        if revision == served.commit || repo.branches.iter().any(|b| b == revision) {
            Ok(served)
        } else {
            Err((404, "RevisionNotFound"))
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|&n| n > 0)?;
    let mut words = line.split_whitespace();
    let (method, path) = (words.next()?.to_owned(), words.next()?.to_owned());
    let mut headers = BTreeMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
    })
}

/// `bytes=a-b` / `bytes=a-` → inclusive `(a, b)` within `len`.
fn parse_range(range: &str, len: usize) -> Option<(usize, usize)> {
    let (start, end) = range.strip_prefix("bytes=")?.split_once('-')?;
    let start: usize = start.parse().ok()?;
    let end = if end.is_empty() {
        len.checked_sub(1)?
    } else {
        end.parse::<usize>().ok()?.min(len.checked_sub(1)?)
    };
    (start <= end).then_some((start, end))
}

fn respond(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    send_body: bool,
) -> std::io::Result<()> {
    write_head(stream, status, headers, body.len())?;
    if send_body {
        stream.write_all(body)?;
    }
    stream.flush()
}

/// Headers announcing `length` bytes, then only `sent`, then the connection closed.
fn respond_cut(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    length: usize,
    sent: &[u8],
) -> std::io::Result<()> {
    write_head(stream, status, headers, length)?;
    stream.write_all(sent)?;
    stream.flush()?;
    stream.shutdown(std::net::Shutdown::Both)
}

/// The status line, `Content-Length: length` and `headers`.
fn write_head(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    length: usize,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        401 => "Unauthorized",
        403 => "Forbidden",
        _ => "Not Found",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\nContent-Length: {length}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%').then(|| text.get(i + 1..i + 3)).flatten();
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
