//! Models and dataset files from the Hugging Face Hub, by id.
//!
//! A [`HubRef`] (`org/name[@revision]`) is resolved to the commit the
//! revision points at before anything is downloaded, so results can say
//! exactly what ran. Downloads go through the `hf-hub` crate into the Python
//! client's cache (`HF_HOME`, default `~/.cache/huggingface`), so files
//! already fetched with Python are reused; `HF_ENDPOINT` names another Hub
//! (a mirror, a test server), `HF_TOKEN` (or the token file the Python client
//! writes) authenticates gated repositories, and `HF_HUB_OFFLINE=1` uses the
//! cache only.
//!
//! ```no_run
//! use miners_hub::{Hub, HubRef};
//!
//! let hub = Hub::from_env().unwrap();
//! let model = HubRef::parse("sentence-transformers/LaBSE@main").unwrap();
//! let snapshot = hub.model(&model).unwrap();
//! println!("{} at {} in {}", model.repo, snapshot.commit, snapshot.dir.display());
//! ```

mod files;

use std::path::{Path, PathBuf};

use hf_hub::{Cache, Repo, RepoType, api::sync::Api};
use miners_checkpoint::Layout;

pub use files::model_files;

/// Errors of reaching the Hub or its cache.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// A reference that is not `org/name[@revision]`.
    #[error("`{0}`: not a Hub id (`org/name` or `org/name@revision`)")]
    BadReference(String),
    /// The repository does not exist (or is private and no token was given).
    #[error("{repo}: no such repository on {endpoint} (a private one needs HF_TOKEN)")]
    UnknownRepo {
        /// The repository.
        repo: String,
        /// The Hub asked.
        endpoint: String,
    },
    /// The repository has no such branch, tag or commit.
    #[error("{repo}: no revision `{revision}` on {endpoint}")]
    UnknownRevision {
        /// The repository.
        repo: String,
        /// The revision asked for.
        revision: String,
        /// The Hub asked.
        endpoint: String,
    },
    /// A gated repository asked for without a token, or with one that lacks access.
    #[error(
        "{repo} is gated: accept its terms on the Hub, then set HF_TOKEN (or log in with `huggingface-cli login`) — {detail}"
    )]
    Gated {
        /// The repository.
        repo: String,
        /// What the Hub said.
        detail: String,
    },
    /// Offline mode and the cache lacks what is needed.
    #[error("HF_HUB_OFFLINE is set and the cache ({cache}) has no {what}")]
    NotCached {
        /// The cache directory.
        cache: PathBuf,
        /// What is missing.
        what: String,
    },
    /// A repository without the files a model needs.
    #[error("{repo}@{commit}: {what}")]
    NotAModel {
        /// The repository.
        repo: String,
        /// The commit.
        commit: String,
        /// What is missing.
        what: String,
    },
    /// Any other failure of a request or of the cache.
    #[error("{what}: {detail}")]
    Request {
        /// What was asked (URL or file).
        what: String,
        /// What failed.
        detail: String,
    },
}

/// A Hub repository and the revision asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubRef {
    /// `org/name`.
    pub repo: String,
    /// A branch, tag or commit (`main` when none is given).
    pub revision: String,
}

impl HubRef {
    /// Parses `org/name` or `org/name@revision` (a bare `name` for older datasets).
    pub fn parse(text: &str) -> Result<Self, HubError> {
        let (repo, revision) = text.split_once('@').unwrap_or((text, "main"));
        // `org/name`, or a bare `name` (older datasets such as `lince`).
        let well_formed = repo.split('/').count() <= 2
            && repo
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..")
            && !revision.is_empty();
        match well_formed {
            true => Ok(Self {
                repo: repo.to_owned(),
                revision: revision.to_owned(),
            }),
            false => Err(HubError::BadReference(text.to_owned())),
        }
    }
}

/// A repository's files at one commit, on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The commit the revision resolved to.
    pub commit: String,
    /// `<cache>/models--org--name/snapshots/<commit>`.
    pub dir: PathBuf,
}

/// A Hub and the local cache.
pub struct Hub {
    api: Api,
    cache: Cache,
    endpoint: String,
    offline: bool,
}

/// Where the Hub and the cache are, and how to reach them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// The Hub's URL (`https://huggingface.co`).
    pub endpoint: String,
    /// The cache's `hub` directory (`$HF_HOME/hub`).
    pub cache: PathBuf,
    /// A bearer token for gated and private repositories.
    pub token: Option<String>,
    /// Use the cache only.
    pub offline: bool,
}

impl HubConfig {
    /// As the Python client reads it: `HF_ENDPOINT`, `HF_HOME` (default
    /// `~/.cache/huggingface`), `HF_TOKEN` (else the token file the client's
    /// login writes) and `HF_HUB_OFFLINE`.
    pub fn from_env() -> Self {
        let cache = Cache::from_env();
        let endpoint = std::env::var("HF_ENDPOINT")
            .map(|e| e.trim_end_matches('/').to_owned())
            .unwrap_or_else(|_| "https://huggingface.co".to_owned());
        let token = std::env::var("HF_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .or_else(|| cache.token());
        let offline = std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1" || v == "true");
        Self {
            endpoint,
            cache: cache.path().clone(),
            token,
            offline,
        }
    }
}

impl Hub {
    /// A Hub configured from the environment ([`HubConfig::from_env`]).
    pub fn from_env() -> Result<Self, HubError> {
        Self::new(HubConfig::from_env())
    }

    /// A Hub as `config` says.
    pub fn new(config: HubConfig) -> Result<Self, HubError> {
        let cache = Cache::new(config.cache);
        let api = hf_hub::api::sync::ApiBuilder::from_cache(cache.clone())
            .with_endpoint(config.endpoint.clone())
            .with_token(config.token)
            .with_progress(false)
            .with_retries(3)
            .build()
            .map_err(|e| request_error("the Hub client", &e.to_string()))?;
        Ok(Self {
            api,
            cache,
            endpoint: config.endpoint,
            offline: config.offline,
        })
    }

    /// The files a model needs ([`model_files`]) at `reference`'s commit, downloaded
    /// into the cache where they are not there yet: for sharded weights the
    /// index first, then the shards it names.
    pub fn model(&self, reference: &HubRef) -> Result<Snapshot, HubError> {
        let (commit, listing) = self.resolve(reference, RepoType::Model)?;
        let wanted = model_files(&listing);
        let dir = self.snapshot_dir(&reference.repo, RepoType::Model, &commit);
        let not_a_model = |what: &str| HubError::NotAModel {
            repo: reference.repo.clone(),
            commit: commit.clone(),
            what: what.to_owned(),
        };
        if !wanted.iter().any(|f| f == "config.json") {
            return Err(not_a_model("no config.json at the top"));
        }
        let top: Vec<&str> = wanted
            .iter()
            .map(String::as_str)
            .filter(|f| !f.contains('/'))
            .collect();
        let layout = Layout::choose(&top).ok_or_else(|| {
            not_a_model(
                "no weights at the top (model.safetensors, pytorch_model.bin or a shard index)",
            )
        })?;
        for file in &wanted {
            let path = self.file(&reference.repo, RepoType::Model, &commit, file)?;
            if file.as_str() == layout.file_name() && layout.is_sharded() {
                self.shards(reference, &commit, &listing, &path)?;
            }
        }
        Ok(Snapshot { commit, dir })
    }

    /// Downloads the shards the index at `index` names, each of which the listing must hold.
    fn shards(
        &self,
        reference: &HubRef,
        commit: &str,
        listing: &[String],
        index: &Path,
    ) -> Result<(), HubError> {
        let shards = miners_checkpoint::shard_names(index)
            .map_err(|e| request_error(&index.display().to_string(), &e.to_string()))?;
        for shard in shards {
            if !listing.contains(&shard) {
                return Err(HubError::NotAModel {
                    repo: reference.repo.clone(),
                    commit: commit.to_owned(),
                    what: format!("its shard index names `{shard}`, which the repository lacks"),
                });
            }
            self.file(&reference.repo, RepoType::Model, commit, &shard)?;
        }
        Ok(())
    }

    /// The commit a dataset repository's revision points at, and its files there.
    pub fn dataset(&self, reference: &HubRef) -> Result<(String, Vec<String>), HubError> {
        self.resolve(reference, RepoType::Dataset)
    }

    /// `file` of a dataset repository at `commit` (from [`Hub::dataset`]), downloaded
    /// into the cache where it is not there yet.
    pub fn dataset_file(&self, repo: &str, commit: &str, file: &str) -> Result<PathBuf, HubError> {
        self.file(repo, RepoType::Dataset, commit, file)
    }

    /// The commit a revision points at and the files there: asked of the Hub,
    /// or, offline, read from the cache's refs and snapshot.
    fn resolve(
        &self,
        reference: &HubRef,
        kind: RepoType,
    ) -> Result<(String, Vec<String>), HubError> {
        if self.offline {
            return self.resolve_cached(reference, kind);
        }
        let repo = Repo::with_revision(reference.repo.clone(), kind, reference.revision.clone());
        let url = format!("{}/api/{}", self.endpoint, repo.api_url());
        let info: RevisionInfo = match self.api.repo(repo).info_request().call() {
            Ok(response) => response
                .into_json()
                .map_err(|e| request_error(&url, &e.to_string()))?,
            Err(ureq::Error::Status(status, response)) => {
                return Err(self.status_error(reference, status, response));
            }
            Err(e) => return Err(request_error(&url, &e.to_string())),
        };
        self.remember(reference, kind, &info.sha);
        let files = info.siblings.into_iter().map(|s| s.rfilename).collect();
        Ok((info.sha, files))
    }

    fn status_error(&self, reference: &HubRef, status: u16, response: ureq::Response) -> HubError {
        let code = response
            .header("x-error-code")
            .unwrap_or_default()
            .to_owned();
        let message = response.into_string().unwrap_or_default();
        let (repo, endpoint) = (reference.repo.clone(), self.endpoint.clone());
        match (status, code.as_str()) {
            (_, "GatedRepo") | (403, _) => HubError::Gated {
                repo,
                detail: format!("HTTP {status}: {}", message.trim()),
            },
            (_, "RevisionNotFound") => HubError::UnknownRevision {
                repo,
                revision: reference.revision.clone(),
                endpoint,
            },
            (401 | 404, _) => HubError::UnknownRepo { repo, endpoint },
            _ => request_error(
                &format!("{endpoint} {repo}"),
                &format!("HTTP {status}: {}", message.trim()),
            ),
        }
    }

    /// Records `revision → commit` in the cache as the Python client does
    /// (`refs/<revision>`), so offline runs resolve the branch too. Best
    /// effort: a read-only cache only costs offline resolution.
    fn remember(&self, reference: &HubRef, kind: RepoType, commit: &str) {
        if reference.revision == commit {
            return;
        }
        let path = self
            .cache
            .path()
            .join(repo_folder(&reference.repo, kind))
            .join("refs")
            .join(&reference.revision);
        let _ = path.parent().map(std::fs::create_dir_all);
        let _ = std::fs::write(path, commit);
    }

    fn resolve_cached(
        &self,
        reference: &HubRef,
        kind: RepoType,
    ) -> Result<(String, Vec<String>), HubError> {
        let repo_dir = self.cache.path().join(repo_folder(&reference.repo, kind));
        let from_ref = std::fs::read_to_string(repo_dir.join("refs").join(&reference.revision));
        let commit = match from_ref {
            Ok(commit) => commit.trim().to_owned(),
            Err(_) => reference.revision.clone(),
        };
        let dir = repo_dir.join("snapshots").join(&commit);
        if !dir.is_dir() {
            return Err(HubError::NotCached {
                cache: self.cache.path().clone(),
                what: format!("{}@{}", reference.repo, reference.revision),
            });
        }
        Ok((commit, files::listing(&dir)))
    }

    /// `file` of a repository at `commit`: from the cache when there, else downloaded.
    fn file(
        &self,
        repo: &str,
        kind: RepoType,
        commit: &str,
        file: &str,
    ) -> Result<PathBuf, HubError> {
        let cached = self.snapshot_dir(repo, kind, commit).join(file);
        if cached.is_file() {
            return Ok(cached);
        }
        if self.offline {
            return Err(HubError::NotCached {
                cache: self.cache.path().clone(),
                what: format!("{repo}@{commit}/{file}"),
            });
        }
        let api = self.api.repo(Repo::with_revision(
            repo.to_owned(),
            kind,
            commit.to_owned(),
        ));
        api.download(file)
            .map_err(|e| request_error(&format!("{repo}@{commit}/{file}"), &e.to_string()))
    }

    fn snapshot_dir(&self, repo: &str, kind: RepoType, commit: &str) -> PathBuf {
        self.cache
            .path()
            .join(repo_folder(repo, kind))
            .join("snapshots")
            .join(commit)
    }
}

/// What `/api/{kind}s/{repo}/revision/{revision}` answers (the fields used).
#[derive(serde::Deserialize)]
struct RevisionInfo {
    sha: String,
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(serde::Deserialize)]
struct Sibling {
    rfilename: String,
}

fn kind_name(kind: RepoType) -> &'static str {
    match kind {
        RepoType::Model => "model",
        RepoType::Dataset => "dataset",
        RepoType::Space => "space",
    }
}

/// `models--org--name` (the Python client's cache folder).
fn repo_folder(repo: &str, kind: RepoType) -> String {
    format!("{}s--{}", kind_name(kind), repo.replace('/', "--"))
}

fn request_error(what: &str, detail: &str) -> HubError {
    HubError::Request {
        what: what.to_owned(),
        detail: detail.to_owned(),
    }
}
